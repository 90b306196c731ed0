"""`ketasim trial` (a virtual trial, or its power analysis)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, progress, say, user_errors
from ._render import print_power, print_trial_results


@app.command("trial")
@user_errors
def trial_cmd(
    name: str = typer.Argument(..., help="built-in trial (williams2018, zarate2006, murrough2013, transform2) or a "
                                         "YAML file"),
    hypothesis: str = typer.Option("opioid", "--hypothesis", help="a hypothesis, a comma list, or 'all'"),
    opioid_source: Optional[str] = typer.Option(None, "--opioid-source",
                                                help="opioid/mixed only: hnk_mor (default), ketamine_mor, endogenous"),
    subjects: Optional[str] = typer.Option(None, "--subjects", help="subjects per arm (default: the file's), or "
                                           "with --power a range 'MIN:MAX'"),
    replicates: int = typer.Option(20, "--replicates", min=1, max=2000,
                                   help="replicate virtual trials per hypothesis (each at the trial's own size)"),
    seed: int = typer.Option(1, "--seed", min=0, help="random seed: the same seed gives the same subjects and "
                             "results, however the work is split"),
    chunk_size: Optional[int] = typer.Option(None, "--chunk-size", min=1, max=100_000,
                                             help="subjects per work unit (default: sized so that progress moves "
                                                  "in about ten steps); results do not depend on it"),
    power: bool = typer.Option(False, "--power", help="power analysis over --subjects MIN:MAX"),
    compare: str = typer.Option("opioid,glutamate", "--compare", help="with --power: the two hypotheses"),
    uncertainty: bool = typer.Option(False, "--uncertainty", help="outer loop over parameter uncertainty: each "
                                     "replicate trial draws uncertain parameters from their ranges"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, or local:N"),
    out: Path = typer.Option(Path("out/trial"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Run a virtual clinical trial: trial.json, subjects.parquet, report.html (or a power analysis)."""
    from ketasim import services
    from ketasim.parallel import get_executor

    cfg = services.load_trial(name)
    services.check_output_dir(out)  # before any work
    if power:
        with progress("power analysis", quiet) as cb:
            rows, labels = services.run_power(cfg, subjects, compare, replicates=replicates, seed=seed, progress=cb)
        services.write_power(rows, labels, cfg.name, out)
        if not quiet:
            print_power(rows, labels, cfg.name)
        say(f"wrote {out}/power.csv, power.json, power.png", quiet)
        return
    cfg = services.resize_trial(cfg, subjects)
    services.check_trial_size(cfg, replicates)
    results = []
    with get_executor(scheduler, quiet=True) as ex:
        for hyp, src in services.parse_hypotheses(hypothesis, opioid_source):
            with progress(f"{cfg.name}: {hyp}", quiet) as cb:
                results.append(services.run_trial(cfg, hyp, src, replicates=replicates, seed=seed,
                                                  chunk_size=chunk_size, progress=cb, executor=ex,
                                                  uncertainty=uncertainty))
    services.write_trials(results, out)
    if not quiet:
        print_trial_results(results, cfg.name, replicates)
    say(f"wrote {out}/trial.json, subjects.parquet, report.html", quiet)
