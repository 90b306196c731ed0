"""`ketasim optimize`: multi-objective regimen search for a virtual population under one or several hypotheses."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from ._app import app, err_console, progress, say, user_errors
from ._render_patterns import print_front


@app.command()
@user_errors
def optimize(
    problem: Optional[Path] = typer.Option(None, "--problem", help="problem YAML file (search space, objectives, "
                                           "constraints); options below override it"),
    objective: list[str] = typer.Option(None, "--objective", help="repeatable: 'max days_in_response', "
                                        "'min cadss_peak', 'min opioid_load_auc', 'min liking_auec', ..."),
    constraint: list[str] = typer.Option(None, "--constraint", help="repeatable: 'cadss_peak <= 15', "
                                         "'visits_per_week <= 2'"),
    hypothesis: Optional[str] = typer.Option(None, "--hypothesis", help="hypothesis or comma list (several: "
                                             "a robust front), or 'all'"),
    robust: Optional[str] = typer.Option(None, "--robust", help="several hypotheses: worst (default) or weighted"),
    horizon: Optional[str] = typer.Option(None, "--horizon", help="time over which benefit counts, e.g. '8 weeks'"),
    subjects: Optional[int] = typer.Option(None, "--subjects", min=1, help="virtual patients per regimen "
                                           "(default 200)"),
    population_size: Optional[int] = typer.Option(None, "--population-size", help="regimens per generation "
                                                  "(default 24)"),
    generations: Optional[int] = typer.Option(None, "--generations", help="generations (default 10)"),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="seed of the virtual population and search"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, or local:N"),
    out: Path = typer.Option(Path("out/optimize"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Search regimens (dose, infusion length, interval, number of doses, maintenance) for the best trade-off of
    lasting benefit against dissociation, opioid-pathway load and liability: pareto.csv, pareto.png, report.md,
    evaluations.parquet. Research software, not a dosing tool."""
    from ketasim import services
    from ketasim.optimize import Interrupted
    from ketasim.parallel import get_executor

    hyps = [h for h in hypothesis.split(",")] if hypothesis else None
    prob = services.optimization_problem(problem, objectives=list(objective) if objective else None,
                                         constraints=list(constraint) if constraint else None, hypotheses=hyps,
                                         robust=robust, horizon=horizon, subjects=subjects,
                                         population_size=population_size, generations=generations, seed=seed)
    say(escape(f"{prob.name}: up to {prob.population_size * prob.generations} regimens x {prob.subjects} virtual patients "
        f"x {len(prob.variants)} hypotheses ({', '.join(prob.hypothesis_labels)})"), quiet)
    try:
        with get_executor(scheduler, quiet=quiet) as ex, progress("evaluating regimens", quiet) as cb:
            res = services.run_optimization(prob, out, progress=cb, executor=ex)
    except Interrupted as exc:
        err_console.print(f"[yellow]interrupted:[/] kept {exc.evaluations} evaluations in {out}/evaluations.parquet",
                          highlight=False)
        raise typer.Exit(130) from None
    if not quiet:
        print_front(res)
    say(f"wrote {out}/pareto.csv, pareto.png, report.md, evaluations.parquet ({res.seconds:.0f} s)", quiet)
