"""`ketasim compound`: a compound's predicted effect profile under every hypothesis beside ketamine, the
library, its PK checks, or the inverse design of a receptor profile (--design)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, progress, say, user_errors
from ._render import print_compound_checks, print_compound_list, print_compound_profile, print_design


@app.command("compound")
@user_errors
def compound_cmd(
    name: Optional[str] = typer.Argument(None, help="a library compound (ketasim compound --list) or a compound "
                                                    "file (.yaml)"),
    dose: list[str] = typer.Option(None, "--dose", help="regimen line(s) of the profile, repeatable (default: the "
                                   "compound's own, e.g. one infusion or two weeks of daily doses)"),
    duration: str = typer.Option("14 d", "--duration", help="length of the profile's runs, e.g. '14 d'"),
    design: bool = typer.Option(False, "--design", help="inverse design: search receptor profiles and dose for the "
                                "most lasting benefit with dissociation and liking below thresholds"),
    template: str = typer.Option("lanicemine", "--template", help="with --design: the compound whose PK the "
                                 "designed compound has"),
    max_cadss: float = typer.Option(4.0, "--max-cadss", help="with --design: CADSS peak threshold (points)"),
    max_liking: float = typer.Option(20.0, "--max-liking", help="with --design: drug-liking peak threshold (VAS "
                                     "0-100)"),
    population: int = typer.Option(40, "--population", help="with --design: profiles per generation"),
    generations: int = typer.Option(25, "--generations", help="with --design: generations of the search"),
    hypothesis: Optional[str] = typer.Option(None, "--hypothesis", help="with --design: hypotheses to design for "
                                             "(comma list; default: every one, and robust mode)"),
    seed: int = typer.Option(1, "--seed", min=0, help="with --design: random seed of the search"),
    checks: bool = typer.Option(False, "--checks", help="the compound's PK against its published numbers"),
    list_: bool = typer.Option(False, "--list", help="list the compound library"),
    out: Optional[Path] = typer.Option(None, "--out", help="output folder (default out/compound/NAME, or "
                                       "out/compound_design)"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """A compound's predicted profile under every hypothesis beside ketamine (profile.json, profile.png), or
    --design, --checks, --list. Research software, not a dosing tool."""
    from ketasim import services

    if list_:
        print_compound_list(services.list_compounds())
        return
    if design:
        if name:
            raise ValueError("--design searches receptor profiles; give no compound name (use --template for the PK)")
        with progress("designing compounds", quiet) as cb:
            doc = services.compound_design(template, max_cadss, max_liking, population, generations, seed,
                                           hypothesis, progress=cb)
        out = out or Path("out/compound_design")
        services.write_compound_design(doc, out)
        if not quiet:
            print_design(doc)
        say(f"wrote {out}/front.csv, design.json, design.png", quiet)
        return
    if not name:
        raise ValueError("give a compound (a library name or a .yaml file), or --design or --list")
    c = services.load_compound(name)
    if checks:
        rows = services.compound_checks([c.name])
        if not quiet:
            print_compound_checks(rows)
        return
    with progress(f"profiling {c.name}", quiet) as cb:
        doc, courses = services.compound_profile(name, dose, duration, progress=cb, compound=c)
    out = out or Path("out/compound") / c.name
    services.write_compound_profile(doc, courses, out)
    if not quiet:
        print_compound_profile(doc)
    say(f"wrote {out}/profile.json, profile.png", quiet)
