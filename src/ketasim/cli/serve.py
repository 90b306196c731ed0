"""`ketasim serve`."""

from __future__ import annotations

import typer

from ._app import app, user_errors


@app.command()
@user_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port"),
):
    """The web dashboard and JSON API (OpenAPI schema at /openapi.json)."""
    from ketasim.web.app import serve as run_server

    run_server(host, port)
