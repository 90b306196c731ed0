"""`ketasim serve`."""

from __future__ import annotations

import typer

from ._app import app, user_errors


@app.command()
@user_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port"),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="allow a --host other machines can reach (a token is then required)"),
    no_token: bool = typer.Option(False, "--no-token", help="loopback only: serve without a token"),
):
    """The web dashboard and JSON API (OpenAPI schema at /openapi.json). Open the printed URL: it carries the
    server's token (every API call needs it, as the page's own calls do)."""
    from ketasim.web.app import serve as run_server

    run_server(host, port, allow_remote=allow_remote, token=None if no_token else "auto")
