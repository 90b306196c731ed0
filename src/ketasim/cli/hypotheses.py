"""`ketasim hypotheses`: list the mechanism hypotheses, or score them against published trials."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, progress, say, user_errors
from ._render import print_hypothesis_list, print_ranking


@app.command()
@user_errors
def hypotheses(
    trial: list[str] = typer.Option(None, "--trial", help="built-in trial name or YAML file; repeatable "
                                    "(default: every built-in trial)"),
    replicates: int = typer.Option(20, "--replicates", min=2, max=2000, help="replicate trials per hypothesis"),
    seed: int = typer.Option(1, "--seed", min=0, help="random seed of the replicate trials and the bootstrap"),
    include_unverified: bool = typer.Option(False, "--include-unverified",
                                            help="also score published numbers marked unverified"),
    uncertainty: bool = typer.Option(False, "--uncertainty", help="outer loop over parameter uncertainty"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, or local:N"),
    out: Path = typer.Option(Path("out/hypotheses"), "--out", help="output folder"),
    list_: bool = typer.Option(False, "--list", help="print every hypothesis with its description and sources"),
    required_affinity: bool = typer.Option(False, "--required-affinity",
                                           help="the MOR affinity HNK would need under opioid[hnk_mor]"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Score every mechanism hypothesis against published trials (or --list them)."""
    from ketasim import services
    from ketasim.parallel import get_executor

    if required_affinity:
        say(services.required_affinity_text())
        return
    if list_:
        print_hypothesis_list(services.list_hypotheses())
        return
    services.check_output_dir(out)  # before any work
    with get_executor(scheduler, quiet=True) as ex, progress("scoring hypotheses", quiet) as cb:
        doc = services.score_hypotheses(trial, replicates=replicates, seed=seed,
                                        include_unverified=include_unverified, progress=cb, executor=ex,
                                        uncertainty=uncertainty)
    services.write_hypotheses(doc, out)
    if not quiet:
        print_ranking(doc)
    say(f"wrote {out}/hypotheses.json, hypotheses.png", quiet)
