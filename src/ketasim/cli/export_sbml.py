"""`ketasim export-sbml`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, say, user_errors, warn


@app.command("export-sbml")
@user_errors
def export_sbml(
    file: Path = typer.Argument(..., help="SBML file to write (.xml)"),
    dose: list[str] = typer.Option(None, "--dose", help="regimen text, repeatable (as for simulate)"),
    scenario: Optional[Path] = typer.Option(None, "--scenario", help="scenario YAML file (regimen and subject)"),
    hypothesis: Optional[str] = typer.Option(None, "--hypothesis", help="mechanism hypothesis (default opioid)"),
    opioid_source: Optional[str] = typer.Option(None, "--opioid-source",
                                                help="opioid/mixed only: hnk_mor, ketamine_mor, endogenous"),
    weight: str = typer.Option("70 kg", "--weight", help="body weight with unit (with --dose)"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """The typical-subject model with its regimen as SBML Level 3 Version 2 (units, sources, dosing events)."""
    from ketasim import services

    services.check_output_file(file, "SBML file", "model.xml")  # before any work: not a folder, its folder writable
    info = services.export_sbml_file(file, dose, scenario, hypothesis, opioid_source, weight)
    for w in info.warnings:
        warn(w)
    say(f"wrote {info.path}: {info.species} species, {info.reactions} reactions, "
        f"{info.events} dosing events, {info.parameters} parameters", quiet)
