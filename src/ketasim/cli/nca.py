"""`ketasim nca`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, say, user_errors
from ._render import print_nca


@app.command()
@user_errors
def nca(
    source: Path = typer.Argument(..., help="a NONMEM-style data set (observations and doses), or a "
                                  "`ketasim simulate` output folder"),
    outputs: Optional[str] = typer.Option(None, "--outputs", help="outputs to analyse, e.g. "
                                          "'ketamine_ng_ml,madrs' (default: concentrations, CADSS, drug liking, MADRS)"),
    time_unit: Optional[str] = typer.Option(None, "--time-unit", help="data set TIME unit: h (default), min, d"),
    out: Path = typer.Option(Path("out/nca"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Non-compartmental analysis per subject and dose (times after dose): Cmax, Tmax, AUC0-t, AUCinf, lambda_z
    and half-life (with the points used), CL/F, Vz/F, Ctrough, accumulation; Emin/nadir and baseline-corrected
    AUEC for effects. Writes nca.csv and nca_summary.csv."""
    from ketasim import services

    df = services.run_nca(source, outputs, time_unit)
    services.write_nca(df, out)
    if not quiet:
        print_nca(df)
    say(f"wrote {out}/nca.csv, nca_summary.csv", quiet)
