"""`ketasim` command line (typer). Thin: parse, call ketasim.services, print. Errors are one line."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ketasim: research simulator of ketamine's NMDA and opioid actions. "
                       "Research software, not a dosing tool.")
console = Console()
err_console = Console(stderr=True)

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError)


def user_errors(fn):
    """Turn every expected user error into one line on stderr and exit status 2; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except USER_ERRORS as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def print_summary(result, quiet: bool = False):
    if quiet:
        return
    table = Table(title="Summary (typical subject)", title_justify="left")
    for col in ("output", "Cmax", "Tmax (h)", "AUC", "unit"):
        table.add_column(col, justify="right" if col not in ("output", "unit") else "left")
    summary = result.summary()
    for k, s in summary.items():
        if s["cmax"] <= 0 or k in ("madrs", "hamd17"):
            continue
        table.add_row(k, _fmt(s["cmax"]), f"{s['tmax_h']:.2f}", _fmt(s["auc"]), s["unit"])
    console.print(table)
    if "madrs" in summary:
        m = summary["madrs"]
        parts = [f"hypothesis {result.meta.get('hypothesis')}", f"baseline MADRS {m['baseline']:.1f}"]
        for key, label in (("change_24h", "change at 24 h"), ("change_day7", "change at day 7")):
            if key in m:
                parts.append(f"{label} {m[key]:+.1f}")
        console.print(escape("Mood: " + "; ".join(parts) + f"; peak CADSS {summary['cadss']['cmax']:.1f}"),
                      highlight=False)
    for w in result.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)


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
    hypothesis: str = typer.Option("opioid", "--hypothesis", help="mechanism hypothesis (ketasim hypotheses --list)"),
    opioid_source: Optional[str] = typer.Option(None, "--opioid-source",
                                                help="opioid/mixed only: hnk_mor (default), ketamine_mor, endogenous"),
    expectation: str = typer.Option("active", "--expectation", help="expectation context: none, saline, active"),
    baseline_madrs: Optional[float] = typer.Option(None, "--baseline-madrs", help="baseline MADRS (points)"),
    out: Path = typer.Option(Path("out/simulate"), "--out", help="output folder"),
    log: bool = typer.Option(False, "--log", help="log-scale concentration axis in the figure"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Simulate one subject through a regimen: timecourse.parquet, summary.json, timecourse.png."""
    from ketasim.io.schemas import ScenarioConfig, ScenarioError, SubjectConfig, format_validation_error
    from ketasim.services import run_scenario
    from pydantic import ValidationError

    if scenario and dose:
        raise ScenarioError("give either --dose or --scenario, not both")
    if scenario:
        cfg = ScenarioConfig.from_yaml(scenario)
    else:
        if not dose:
            raise ScenarioError("nothing to simulate: give at least one --dose or a --scenario file")
        try:
            cfg = ScenarioConfig(doses=list(dose), duration=duration, output_step=output_step,
                                 subject=SubjectConfig(weight=weight, age=age, sex=sex, cyp2b6=cyp2b6),
                                 hypothesis=hypothesis, opioid_source=opioid_source, expectation=expectation,
                                 baseline_madrs=baseline_madrs)
        except ValidationError as exc:
            raise ScenarioError(format_validation_error(exc)) from None
    result = run_scenario(cfg)
    result.write(out, log_plot=log)
    print_summary(result, quiet)
    if not quiet:
        console.print(f"wrote {out}/timecourse.parquet, summary.json, timecourse.png", highlight=False)


@app.command()
@user_errors
def hypotheses(
    list_: bool = typer.Option(False, "--list", help="print every hypothesis with its description and sources"),
    required_affinity: bool = typer.Option(False, "--required-affinity",
                                           help="the MOR affinity HNK would need under opioid[hnk_mor]"),
):
    """Mechanism hypotheses (scoring against trials comes with the trials layer)."""
    from ketasim.services import list_hypotheses

    if required_affinity:
        from ketasim.parameters import default_parameters

        p = default_parameters()["opioid.hnk_Ki_mor"]
        console.print(f"Under the opioid hypothesis with --opioid-source hnk_mor and efficacy tau = {default_parameters().value('opioid.hnk_tau'):g}, "
                      f"HNK would need a MOR affinity of Ki = {p.value:.3g} {p.unit} to produce the -16.5-point "
                      f"24-h MADRS change of Murrough 2013 (recompute: tools/calibrate_mechanisms.py). Measured "
                      f"binding found no opioid-receptor affinity for (2R,6R)-HNK (Bonaventura 2022).",
                      highlight=False)
        return
    if not list_:
        raise ValueError("say what to do: --list or --required-affinity")
    for h in list_hypotheses():
        console.rule(f"[bold]{h['key']}[/] — {h['title']}")
        console.print(h["description"], highlight=False)
        console.print(f"naltrexone pretreatment predicts: {h['naltrexone_prediction']}", highlight=False)
        if h["options"]:
            console.print(f"options: --opioid-source {' | '.join(h['options']['opioid_source'])}", highlight=False)
        if h["sources"]:
            console.print(f"sources: {', '.join(h['sources'])}", highlight=False)


@app.command()
@user_errors
def params(
    format: str = typer.Option("table", "--format", help="table or csv"),
    out: Optional[Path] = typer.Option(None, "--out", help="write to this file instead of stdout"),
    filter: Optional[str] = typer.Option(None, "--filter", help="only keys starting with this prefix"),
):
    """Every parameter with value, unit, source, evidence and uncertainty range."""
    from ketasim.parameters import default_parameters

    df = default_parameters().to_frame()
    if filter:
        df = df[df.key.str.startswith(filter)]
    if format == "csv":
        text = df.to_csv(index=False)
        if out:
            out.write_text(text)
        else:
            sys.stdout.write(text)
        return
    if format != "table":
        raise ValueError(f"--format must be table or csv, not {format!r}")
    table = Table(title=f"ketasim parameters ({len(df)})", title_justify="left")
    for col in ("key", "value", "unit", "source", "evidence", "range"):
        table.add_column(col)
    for r in df.itertuples():
        table.add_row(r.key, f"{r.value:g}", r.unit, r.source, r.evidence, f"{r.low:g}-{r.high:g}")
    console.print(table)
    if out:
        df.to_csv(out, index=False)


@app.command()
@user_errors
def validate(
    out: Path = typer.Option(Path("out/validate"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet"),
):
    """Compare the model with every published target: validation.json and validation.html."""
    from ketasim.validation.report import write_report
    from ketasim.validation.targets import run_validation

    rows = run_validation()
    write_report(rows, out)
    if not quiet:
        table = Table(title="ketasim validate", title_justify="left")
        for col in ("", "kind", "target", "model", "published", "accepted", "source"):
            table.add_column(col)
        for r in rows:
            mark = "[green]pass[/]" if r["pass"] else "[red]FAIL[/]"
            table.add_row(mark, r["kind"], r["description"], f"{r['model']:.3g} {r['unit']}", r["published"],
                          f"{r['accepted_range'][0]:.3g}-{r['accepted_range'][1]:.3g}", r["source"])
        console.print(table)
        n_pass = sum(r["pass"] for r in rows)
        console.print(f"{n_pass}/{len(rows)} targets within their accepted range; "
                      f"failures are disagreements to read, not hidden. Wrote {out}/validation.json, validation.html",
                      highlight=False)


@app.command()
@user_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (loopback by default)"),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port"),
):
    """The web dashboard and JSON API (OpenAPI schema at /openapi.json)."""
    from ketasim.web.app import serve as run_server

    run_server(host, port)


def main():  # entry point
    app()


if __name__ == "__main__":
    main()
