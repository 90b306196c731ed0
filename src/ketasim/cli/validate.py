"""`ketasim validate`."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, user_errors
from ._render import print_validation


@app.command()
@user_errors
def validate(
    out: Path = typer.Option(Path("out/validate"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet"),
):
    """Compare the model with every published target: validation.json and validation.html."""
    from ketasim import services

    services.check_output_dir(out)  # before any work
    rows = services.run_validation(out)
    if not quiet:
        print_validation(rows, out)
