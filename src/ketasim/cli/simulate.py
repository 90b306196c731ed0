"""`ketasim simulate`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, progress, say, user_errors
from ._render import print_streamed_summary, print_summary


@app.command()
@user_errors
def simulate(
    dose: list[str] = typer.Option(None, "--dose", help="regimen text, repeatable: "
                                   "'ketamine 0.5 mg/kg iv over 40 min', 'naltrexone 50 mg oral at -45 min'"),
    scenario: Optional[Path] = typer.Option(None, "--scenario", help="scenario YAML file"),
    weight: str = typer.Option("70 kg", "--weight", help="body weight with unit"),
    age: str = typer.Option("40 yr", "--age", help="age with unit"),
    sex: str = typer.Option("unspecified", "--sex", help="female, male or unspecified"),
    cyp2b6: str = typer.Option("*1/*1", "--cyp2b6", help="CYP2B6 genotype: *1/*1, *1/*6, *6/*6"),
    duration: str = typer.Option("7 d", "--duration", help="simulated time with unit, e.g. '7 d'"),
    output_step: Optional[str] = typer.Option(None, "--output-step", help="output grid step, e.g. '15 min'"),
    subjects: int = typer.Option(1, "--subjects", min=1, max=100_000, help="1: typical subject; more: a population"),
    seed: int = typer.Option(1, "--seed", min=0, help="random seed for the population"),
    hypothesis: str = typer.Option("opioid", "--hypothesis", help="mechanism hypothesis (ketasim hypotheses --list)"),
    opioid_source: Optional[str] = typer.Option(None, "--opioid-source",
                                                help="opioid/mixed only: hnk_mor (default), ketamine_mor, endogenous"),
    expectation: str = typer.Option("active", "--expectation", help="expectation context: none, saline, active"),
    baseline_madrs: Optional[float] = typer.Option(None, "--baseline-madrs", help="baseline MADRS (points)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, or local:N "
                                            "(default: in-process)"),
    out: Path = typer.Option(Path("out/simulate"), "--out", help="output folder"),
    log: bool = typer.Option(False, "--log", help="log-scale concentration axis in the figure"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Simulate one subject (or a population, --subjects N): timecourse.parquet, summary.json, timecourse.png."""
    from ketasim import services
    from ketasim.parallel import get_executor

    cfg = services.scenario_config(dose, scenario, weight=weight, age=age, sex=sex, cyp2b6=cyp2b6,
                                   duration=duration, output_step=output_step, hypothesis=hypothesis,
                                   opioid_source=opioid_source, expectation=expectation,
                                   baseline_madrs=baseline_madrs, subjects=subjects, seed=seed)
    services.check_output_dir(out)  # before any work: an unwritable --out fails now, not after the run
    if services.streams(cfg):
        # large populations stream to Parquet: memory bounded by a few chunks, summary computed on the fly; on a
        # cluster the chunks are computed there and written here, in order, as they arrive
        with get_executor(scheduler, quiet=True) as ex, progress("simulating population (streamed)", quiet) as cb:
            doc = services.write_population_scenario_streamed(cfg, out, progress=cb, executor=ex)
        if not quiet:
            print_streamed_summary(doc, cfg.subjects, out)
        return
    with get_executor(scheduler if cfg.subjects > 1 else None, quiet=True) as ex, \
            progress("simulating population", quiet or cfg.subjects == 1) as cb:
        result = services.run_scenario(cfg, progress=cb, executor=ex)
    services.write_scenario(result, out, log_plot=log)
    print_summary(result, quiet)
    say(f"wrote {out}/timecourse.parquet, summary.json, timecourse.png", quiet)
