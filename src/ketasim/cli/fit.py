"""`ketasim fit`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, progress, say, user_errors
from ._render import print_estimates


@app.command()
@user_errors
def fit(
    data: Path = typer.Argument(..., help="NONMEM-style data set: IV ketamine doses (CMT 1, AMT mg, RATE mg/h), "
                                "plasma ketamine observations (DVID 1, ng/mL), TIME h"),
    compartments: int = typer.Option(3, "--compartments", help="PK model: 1, 2 or 3 compartments"),
    bsv: Optional[str] = typer.Option(None, "--bsv", help="parameters with between-subject variability, e.g. "
                                      "'CL,V1,V2,V3' (default: CL, V1 and the peripheral volumes)"),
    init: Optional[str] = typer.Option(None, "--init", help="initial estimates, e.g. 'CL=80,V1=30' "
                                       "(L/h, L; default from each subject's NCA)"),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="also fit one PD endpoint: cadss, euphoria "
                                           "or nmda_occupancy (effect compartment + Emax, sequential)"),
    time_unit: Optional[str] = typer.Option(None, "--time-unit", help="data set TIME unit: h (default), min, d"),
    out: Path = typer.Option(Path("out/fit"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Estimate population PK (and one PD endpoint) parameters by FOCE-I: estimates.csv with standard errors and
    95 % intervals, individual estimates, residuals, goodness-of-fit figures, report.html."""
    from ketasim import services

    with progress("fitting (FOCE-I)", quiet) as cb:
        result = services.fit_dataset(data, compartments, bsv, init, endpoint, time_unit, progress=cb)
    services.write_fit(result, data.name, out)
    if not quiet:
        print_estimates(result)
    say(f"wrote {out}/estimates.csv, report.html, gof_pk.png, individual_pk.csv, residuals_pk.csv", quiet)
