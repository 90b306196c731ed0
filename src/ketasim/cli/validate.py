"""`ketasim validate`."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, err_console, user_errors
from ._render import print_validation


@app.command()
@user_errors
def validate(
    out: Path = typer.Option(Path("out/validate"), "--out", help="output folder"),
    strict: bool = typer.Option(False, "--strict", help="exit with status 1 when any target is outside its "
                                "accepted range (for scripts and CI); the files are written either way"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors (and, with --strict, failures)"),
):
    """Compare the model with every published target: validation.json and validation.html."""
    from ketasim import services

    services.check_output_dir(out)  # before any work
    rows = services.run_validation(out)
    if not quiet:
        print_validation(rows, out)
    failed = [r for r in rows if not r["pass"]]
    if strict and failed:
        err_console.print(f"--strict: {len(rows) - len(failed)} of {len(rows)} targets within their accepted "
                          f"range; {len(failed)} outside it ({', '.join(r['key'] for r in failed)})",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(1)
