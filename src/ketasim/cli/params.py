"""`ketasim params`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ._app import app, user_errors
from ._render import print_parameters


@app.command()
@user_errors
def params(
    format: str = typer.Option("table", "--format", help="table or csv"),
    out: Optional[Path] = typer.Option(None, "--out", help="write to this file instead of stdout"),
    filter: Optional[str] = typer.Option(None, "--filter", help="only keys starting with this prefix"),
):
    """Every parameter with value, unit, source, evidence and uncertainty range."""
    from ketasim import services

    if format not in ("table", "csv"):
        raise ValueError(f"--format must be table or csv, not {format!r}")
    if out:
        services.check_output_file(out, "--out", "params.csv")  # before any work: not a folder, its folder writable
    df = services.parameter_table(filter)
    if format == "csv":
        if out:
            services.write_parameter_table(df, out)
        else:
            sys.stdout.write(df.to_csv(index=False))
        return
    print_parameters(df)
    if out:
        services.write_parameter_table(df, out)
