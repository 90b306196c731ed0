"""`ketasim params`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from ._app import app, user_errors
from ._render import print_parameters

FORMATS = ("table", "csv", "json")


@app.command()
@user_errors
def params(
    format: str = typer.Option("table", "--format", help="table (on screen), csv or json"),
    out: Optional[Path] = typer.Option(None, "--out", help="write to this file instead of stdout (with table: "
                                       "also print the table, write CSV)"),
    filter: Optional[str] = typer.Option(None, "--filter", help="only keys starting with this prefix, e.g. "
                                         "'naltrexone.' or 'mood.'"),
    compound: Optional[str] = typer.Option(None, "--compound", help="a compound's parameters (a library name or a "
                                           "compound file): its file's numbers, or the model's keys of a built-in "
                                           "drug"),
):
    """Every parameter with value, unit, source, evidence and uncertainty range."""
    from ketasim import services

    if format not in FORMATS:
        raise ValueError(f"--format must be table, csv or json, not {format!r}")
    if compound and filter:
        raise ValueError("give --compound or --filter, not both")
    if out:
        services.check_output_file(out, "--out", f"params.{'json' if format == 'json' else 'csv'}")  # before work
    df = services.compound_parameter_table(compound) if compound else services.parameter_table(filter)
    if format in ("csv", "json"):
        text = df.to_csv(index=False) if format == "csv" else \
            json.dumps(df.to_dict(orient="records"), indent=2, ensure_ascii=False) + "\n"
        if out:
            services.write_text_file(out, text)
        else:
            sys.stdout.write(text)
        return
    print_parameters(df)
    if out:
        services.write_parameter_table(df, out)
