"""`ketasim scenarios`: the built-in library of use patterns (clinical and recreational), runs and comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, progress, say, user_errors
from ._render import print_summary
from ._render_patterns import print_comparison, print_liability, print_pattern, print_pattern_list


@app.command()
@user_errors
def scenarios(
    list_: bool = typer.Option(False, "--list", help="list the built-in use patterns with their sources"),
    show: Optional[str] = typer.Option(None, "--show", help="describe one pattern (name or YAML file)"),
    run: Optional[str] = typer.Option(None, "--run", help="simulate patterns: a name, a YAML file, a comma list "
                                                          "or 'all'; writes OUT/NAME/ with abuse.json"),
    compare: bool = typer.Option(False, "--compare", help="every pattern under each hypothesis: pathway engaged "
                                                          "vs liability (patterns.csv, patterns.png)"),
    subjects: int = typer.Option(1, "--subjects", min=1, max=10_000,
                                 help="1: typical subject (--run); population size (--compare: default 50)"),
    seed: int = typer.Option(1, "--seed", min=0, help="random seed for the population"),
    hypothesis: str = typer.Option("opioid", "--hypothesis", help="hypothesis, a comma list, or 'all' "
                                   "(--compare default: opioid,glutamate)"),
    opioid_source: Optional[str] = typer.Option(None, "--opioid-source", help="hnk_mor, ketamine_mor or endogenous"),
    duration: Optional[str] = typer.Option(None, "--duration", help="override the pattern's duration, e.g. '14 d'"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, or local:N"),
    out: Path = typer.Option(Path("out/scenarios"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Use patterns: clinical infusions and sprays, low-dose sublingual, street insufflation (bumps, binges, weekly
    and daily use) and IM injection, with abuse-liability tables. Research software, not a dosing tool."""
    from ketasim import services
    from ketasim.parallel import get_executor

    chosen = sum(bool(x) for x in (list_, show, run, compare))
    if chosen != 1:
        raise ValueError("give one of --list, --show NAME, --run NAME|all or --compare")
    if list_:
        print_pattern_list(services.list_patterns())
        return
    if show:
        print_pattern(services.pattern_info(show))
        return
    if compare:
        hyp = "opioid,glutamate" if hypothesis == "opioid" and opioid_source is None else hypothesis
        n = 50 if subjects == 1 else subjects
        with get_executor(scheduler, quiet=quiet) as ex, progress("comparing use patterns", quiet) as cb:
            rows = services.compare_patterns(None, hyp, subjects=n, seed=seed, progress=cb, executor=ex)
        services.write_pattern_comparison(rows, out)
        if not quiet:
            print_comparison(rows)
        say(f"wrote {out}/patterns.csv, patterns.json, patterns.png", quiet)
        return
    names = [p["name"] for p in services.list_patterns()] if run == "all" else [x.strip() for x in run.split(",")]
    for name in names:
        services.pattern_info(name)   # every name checked before any work
    with get_executor(scheduler if subjects > 1 else None, quiet=quiet) as ex:
        for name in names:
            with progress(f"simulating {name}", quiet or subjects == 1) as cb:
                result, liability = services.run_pattern(name, subjects=subjects, seed=seed, hypothesis=hypothesis,
                                                         opioid_source=opioid_source, duration=duration,
                                                         progress=cb, executor=ex)
            folder = out / Path(name).stem
            services.write_scenario(result, folder, liability=liability)
            if not quiet:
                say(f"[bold]{Path(name).stem}[/]")
                print_summary(result, quiet)
                print_liability(liability, quiet)
            say(f"wrote {folder}/timecourse.parquet, summary.json, timecourse.png, abuse.json", quiet)
