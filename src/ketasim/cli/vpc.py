"""`ketasim vpc`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, progress, say, user_errors


@app.command()
@user_errors
def vpc(
    data: Path = typer.Argument(..., help="NONMEM-style data set with observations (DV per DVID/CMT)"),
    replicates: int = typer.Option(50, "--replicates", help="simulated copies of the data set"),
    seed: int = typer.Option(1, "--seed", min=0, help="random seed of the simulated replicates"),
    hypothesis: str = typer.Option("opioid", "--hypothesis", help="mechanism hypothesis"),
    opioid_source: Optional[str] = typer.Option(None, "--opioid-source", help="opioid/mixed only"),
    expectation: str = typer.Option("active", "--expectation", help="none, saline, active"),
    time_unit: Optional[str] = typer.Option(None, "--time-unit", help="data set TIME unit: h (default), min, d"),
    out: Path = typer.Option(Path("out/vpc"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Visual predictive check of a virtual population against a data set: vpc.csv, vpc.png, vpc.json."""
    from ketasim import services

    with progress("visual predictive check", quiet) as cb:
        doc = services.run_vpc(data, replicates, seed, hypothesis, opioid_source, expectation, time_unit, progress=cb)
    services.write_vpc(doc, out)
    say(f"wrote {out}/vpc.csv, vpc.png, vpc.json", quiet)
