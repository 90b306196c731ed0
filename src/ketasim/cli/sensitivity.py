"""`ketasim sensitivity`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, progress, say, user_errors
from ._render import print_sensitivity


@app.command()
@user_errors
def sensitivity(
    dose: list[str] = typer.Option(None, "--dose", help="regimen text, repeatable (default: "
                                   "'ketamine 0.5 mg/kg iv over 40 min')"),
    outcome: str = typer.Option("madrs_change_day1", "--outcome", help="madrs_change_day1, madrs_change_day7, "
                                "cadss_peak, euphoria_peak, ketamine_cmax, hnk_auc, days_in_response"),
    method: str = typer.Option("sobol", "--method", help="local (elasticities, tornado), sobol (S1, ST with "
                               "intervals) or both"),
    samples: int = typer.Option(1024, "--samples", min=2, help="Sobol base samples N (a power of 2); "
                                "N x (parameters + 2) runs"),
    parameters: Optional[str] = typer.Option(None, "--parameters", help="parameter keys or prefixes, e.g. "
                                             "'ketamine.,opioid.' (default: those the regimen and hypothesis use)"),
    hypothesis: str = typer.Option("opioid", "--hypothesis", help="mechanism hypothesis"),
    opioid_source: Optional[str] = typer.Option(None, "--opioid-source", help="opioid/mixed only"),
    duration: Optional[str] = typer.Option(None, "--duration", help="simulated time (default: what the outcome "
                                           "needs; 7 d for whole-run outcomes)"),
    seed: int = typer.Option(1, "--seed", min=0, help="seed of the scrambled Sobol sequence and bootstrap"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, or local:N"),
    out: Path = typer.Option(Path("out/sensitivity"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Which parameters matter for an outcome: local elasticities (tornado) and Sobol indices over the ranges
    of `ketasim params`. Writes sensitivity.csv, sensitivity.json, tornado.png / sobol.png."""
    from ketasim import services
    from ketasim.parallel import get_executor

    with get_executor(scheduler, quiet=quiet) as ex, progress(f"sensitivity of {outcome}", quiet) as cb:
        doc = services.run_sensitivity(dose, outcome, method, samples, hypothesis, opioid_source, parameters,
                                       duration, seed, executor=ex, progress=cb)
    services.write_sensitivity(doc, out)
    if not quiet:
        print_sensitivity(doc)
    say(f"wrote {out}/sensitivity.csv, sensitivity.json"
        + (", tornado.png" if "local" in doc else "") + (", sobol.png" if "sobol" in doc else ""), quiet)
