"""`ketasim` command line (typer). Thin: parse, call ketasim.services, print. Errors are one line."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ketasim: research simulator of ketamine's NMDA and opioid actions. "
                       "Research software, not a dosing tool.")
console = Console(width=None if sys.stdout.isatty() else 110)
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
    if getattr(result, "subjects", None) is not None:
        table.title = f"Summary ({len(result.subjects)} subjects: mean [5th-95th percentile])"
    for k, s in summary.items():
        if s["cmax"] <= 0 or k in ("madrs", "hamd17"):
            continue
        cmax = _fmt(s["cmax"])
        if "cmax_percentiles" in s:
            pc = s["cmax_percentiles"]
            cmax += f" [{_fmt(pc['p5'])}-{_fmt(pc['p95'])}]"
        table.add_row(k, cmax, f"{s['tmax_h']:.2f}", _fmt(s["auc"]), s["unit"])
    console.print(table)
    if "madrs" in summary:
        m = summary["madrs"]
        parts = [f"hypothesis {result.meta.get('hypothesis')}", f"baseline MADRS {m['baseline']:.1f}"]
        for key, label in (("change_24h", "change at 24 h"), ("change_day7", "change at day 7")):
            if key in m:
                parts.append(f"{label} {m[key]:+.1f}")
        if "responders_24h" in m:
            parts.append(f"responders at 24 h {100 * m['responders_24h']:.0f} %")
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
                                 baseline_madrs=baseline_madrs, subjects=subjects, seed=seed)
        except ValidationError as exc:
            raise ScenarioError(format_validation_error(exc)) from None
    from ketasim.parallel import get_executor
    from ketasim.services import STREAM_ABOVE_SUBJECTS, write_population_scenario_streamed

    if cfg.subjects > STREAM_ABOVE_SUBJECTS and not scheduler:
        # large populations stream to Parquet: memory bounded by one chunk, summary computed on the fly
        with _progress("simulating population (streamed)", quiet) as cb:
            doc = write_population_scenario_streamed(cfg, out, progress=cb)
        if not quiet:
            m = doc["summary"].get("madrs", {})
            console.print(f"{cfg.subjects} subjects streamed; MADRS change at 24 h {m.get('change_24h', float('nan')):+.1f} "
                          f"(mean), responders {100 * m.get('responders_24h', float('nan')):.0f} %", highlight=False)
            for w in doc["warnings"]:
                err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
            console.print(f"wrote {out}/timecourse.parquet, summary.json, timecourse.png", highlight=False)
        return
    with get_executor(scheduler if cfg.subjects > 1 else None) as ex, \
            _progress("simulating population", quiet or cfg.subjects == 1) as cb:
        result = run_scenario(cfg, progress=cb, executor=ex)
    result.write(out, log_plot=log)
    print_summary(result, quiet)
    if not quiet:
        console.print(f"wrote {out}/timecourse.parquet, summary.json, timecourse.png", highlight=False)


def _variant(text: str) -> tuple[str, str | None]:
    """'opioid', 'opioid[endogenous]' or 'glutamate' -> (hypothesis, opioid source)."""
    from ketasim.mechanisms import get_mechanism

    text = text.strip()
    if "[" in text:
        if not text.endswith("]"):
            raise ValueError(f"cannot read hypothesis {text!r}; write e.g. 'opioid[endogenous]'")
        h, src = text[:-1].split("[", 1)
        get_mechanism(h, src)
        return h, src
    get_mechanism(text)
    return text, None


def _variants(hypothesis: str, opioid_source: str | None):
    from ketasim.trials._scoring import DEFAULT_VARIANTS

    if hypothesis == "all":
        if opioid_source:
            raise ValueError("--opioid-source goes with one hypothesis, not 'all'")
        return list(DEFAULT_VARIANTS)
    out = []
    for h in hypothesis.split(","):
        hyp, src = _variant(h)
        out.append((hyp, src or opioid_source))
    return out


def _progress(description: str, quiet: bool):
    """A rich progress bar as a callback(done, total); silent with --quiet."""
    from rich.progress import Progress

    if quiet:
        class _Null:
            def __enter__(self):
                return lambda done, total: None

            def __exit__(self, *a):
                return False
        return _Null()

    class _Bar:
        def __enter__(self):
            self.p = Progress(console=err_console, transient=True)
            self.p.__enter__()
            self.task = self.p.add_task(description, total=None)
            return lambda done, total: self.p.update(self.task, completed=done, total=total)

        def __exit__(self, *a):
            return self.p.__exit__(*a)
    return _Bar()


@app.command()
@user_errors
def hypotheses(
    trial: list[str] = typer.Option(None, "--trial", help="built-in trial name or YAML file; repeatable "
                                    "(default: every built-in trial)"),
    replicates: int = typer.Option(20, "--replicates", min=2, max=2000, help="replicate trials per hypothesis"),
    seed: int = typer.Option(1, "--seed", min=0),
    include_unverified: bool = typer.Option(False, "--include-unverified",
                                            help="also score published numbers marked unverified"),
    uncertainty: bool = typer.Option(False, "--uncertainty", help="outer loop over parameter uncertainty"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, or local:N"),
    out: Path = typer.Option(Path("out/hypotheses"), "--out", help="output folder"),
    list_: bool = typer.Option(False, "--list", help="print every hypothesis with its description and sources"),
    required_affinity: bool = typer.Option(False, "--required-affinity",
                                           help="the MOR affinity HNK would need under opioid[hnk_mor]"),
    quiet: bool = typer.Option(False, "--quiet"),
):
    """Score every mechanism hypothesis against published trials (or --list them)."""
    from ketasim.services import list_hypotheses

    if required_affinity:
        from ketasim.parameters import default_parameters

        p = default_parameters()["opioid.hnk_Ki_mor"]
        console.print(f"Under the opioid hypothesis with --opioid-source hnk_mor and efficacy tau = "
                      f"{default_parameters().value('opioid.hnk_tau'):g}, HNK would need a MOR affinity of "
                      f"Ki = {p.value:.3g} {p.unit} to produce the -16.5-point 24-h MADRS change of Murrough 2013 "
                      f"(recompute: tools/calibrate_mechanisms.py). Measured binding found no opioid-receptor "
                      f"affinity for (2R,6R)-HNK (Bonaventura 2022).", highlight=False)
        return
    if list_:
        for h in list_hypotheses():
            console.rule(f"[bold]{escape(h['key'])}[/] — {escape(h['title'])}")
            console.print(escape(h["description"]), highlight=False)
            console.print(f"naltrexone pretreatment predicts: {h['naltrexone_prediction']}", highlight=False)
            if h["options"]:
                console.print(f"options: --opioid-source {' | '.join(h['options']['opioid_source'])}",
                              highlight=False)
            if h["sources"]:
                console.print(f"sources: {', '.join(h['sources'])}", highlight=False)
        return
    from ketasim.trials import builtin_trials, load_trial
    from ketasim.trials._report import write_hypothesis_outputs
    from ketasim.trials._scoring import score_hypotheses, scores_to_json

    cfgs = [load_trial(t) for t in (trial or builtin_trials())]
    from ketasim.parallel import get_executor

    with get_executor(scheduler) as ex, _progress("scoring hypotheses", quiet) as cb:
        scores = score_hypotheses(cfgs, replicates=replicates, seed=seed, include_unverified=include_unverified,
                                  progress=cb, executor=ex, uncertainty=uncertainty)
    doc = scores_to_json(scores, cfgs, replicates, seed)
    write_hypothesis_outputs(doc, out)
    if quiet:
        return
    table = Table(title="Mechanism hypotheses vs " + ", ".join(doc["trials"]), title_justify="left")
    for col in ("rank", "hypothesis", "log-likelihood", "95 % (bootstrap)", "Δ vs best", *doc["trials"]):
        table.add_column(col, justify="right" if col not in ("hypothesis",) else "left",
                         no_wrap=col in ("hypothesis", "95 % (bootstrap)"))
    for r in doc["ranking"]:
        table.add_row(str(r["rank"]), escape(r["hypothesis"]), f"{r['loglik']:.2f}",
                      f"{r['loglik_interval95'][0]:.2f} to {r['loglik_interval95'][1]:.2f}",
                      f"{r['delta_loglik']:.2f}", *[f"{r['per_trial'][t]['loglik']:.2f}" for t in doc["trials"]])
    console.print(table)
    console.print(f"wrote {out}/hypotheses.json, hypotheses.png", highlight=False)


@app.command("trial")
@user_errors
def trial_cmd(
    name: str = typer.Argument(..., help="built-in trial (williams2018, zarate2006, murrough2013, transform2) or a "
                                         "YAML file"),
    hypothesis: str = typer.Option("opioid", "--hypothesis", help="a hypothesis, a comma list, or 'all'"),
    opioid_source: Optional[str] = typer.Option(None, "--opioid-source"),
    subjects: Optional[str] = typer.Option(None, "--subjects", help="subjects per arm (default: the file's), or "
                                           "with --power a range 'MIN:MAX'"),
    replicates: int = typer.Option(20, "--replicates", min=1, max=2000),
    seed: int = typer.Option(1, "--seed", min=0),
    chunk_size: int = typer.Option(256, "--chunk-size", min=1, max=100_000, help="subjects per work unit"),
    power: bool = typer.Option(False, "--power", help="power analysis over --subjects MIN:MAX"),
    compare: str = typer.Option("opioid,glutamate", "--compare", help="with --power: the two hypotheses"),
    uncertainty: bool = typer.Option(False, "--uncertainty", help="outer loop over parameter uncertainty: each "
                                     "replicate trial draws uncertain parameters from their ranges"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, or local:N"),
    out: Path = typer.Option(Path("out/trial"), "--out", help="output folder"),
    quiet: bool = typer.Option(False, "--quiet"),
):
    """Run a virtual clinical trial: trial.json, subjects.parquet, report.html (or a power analysis)."""
    from ketasim.trials import load_trial, run_trial
    from ketasim.trials._report import write_power_outputs, write_trial_outputs
    from ketasim.trials._scoring import _with_size, power_analysis

    cfg = load_trial(name)
    if power:
        if not subjects or ":" not in subjects:
            raise ValueError("--power needs --subjects MIN:MAX, e.g. 10:200")
        lo, hi = (int(x) for x in subjects.split(":", 1))
        if not (2 <= lo < hi <= 5000):
            raise ValueError("--subjects MIN:MAX must satisfy 2 <= MIN < MAX <= 5000")
        sizes = sorted({int(round(x)) for x in np.geomspace(lo, hi, 6)})
        pair = _variants(compare, None)
        if len(pair) != 2:
            raise ValueError("--compare takes exactly two hypotheses, e.g. 'opioid,glutamate'")
        with _progress("power analysis", quiet) as cb:
            rows = power_analysis(cfg, sizes, pair[0], pair[1], replicates=replicates, seed=seed, progress=cb)
        labels = tuple(h if s is None else f"{h}[{s}]" for h, s in pair)
        write_power_outputs(rows, labels, cfg.name, out)
        if not quiet:
            table = Table(title=f"Power: {cfg.name}, {labels[0]} vs {labels[1]}", title_justify="left")
            for col in ("n per arm", f"P(sig | {labels[0]})", f"P(sig | {labels[1]})", "P(tells apart)"):
                table.add_column(escape(col), justify="right")
            for r in rows:
                table.add_row(str(r["n"]), f"{r['power_a']:.2f}", f"{r['power_b']:.2f}", f"{r['p_correct']:.2f}")
            console.print(table)
            console.print(f"wrote {out}/power.csv, power.json, power.png", highlight=False)
        return
    if subjects:
        try:
            n = int(subjects)
        except ValueError:
            raise ValueError(f"--subjects must be a whole number (or MIN:MAX with --power), got {subjects!r}") from None
        cfg = _with_size(cfg, n).model_copy(update={"observed": cfg.observed})
    from ketasim.parallel import get_executor

    results = []
    with get_executor(scheduler) as ex:
        for hyp, src in _variants(hypothesis, opioid_source):
            with _progress(f"{cfg.name}: {hyp}", quiet) as cb:
                results.append(run_trial(cfg, hyp, src, replicates=replicates, seed=seed, chunk_size=chunk_size,
                                         progress=cb, executor=ex, uncertainty=uncertainty))
    write_trial_outputs(results, out)
    if quiet:
        return
    for res in results:
        table = Table(title=f"{cfg.name} under {res.hypothesis} ({replicates} replicate trials)",
                      title_justify="left")
        for col in ("arm", "endpoint", "mean", "95 % range", "responders", "response rate"):
            table.add_column(col)
        for arm, a in res.arm_summary().items():
            for ep, v in a["endpoints"].items():
                mean = v.get("mean_change", v.get("mean_peak"))
                table.add_row(arm, ep, f"{mean:.2f}", f"{v['ci95'][0]:.2f} to {v['ci95'][1]:.2f}",
                              "" if v.get("responders") is None else f"{v['responders']:.1f}/{a['n']}",
                              "" if v.get("response_rate") is None else f"{v['response_rate']:.2f}")
        console.print(table)
        for c in res.comparison_summary():
            console.print(f"  {c['endpoint']}: {' − '.join(c['arms'])} = {c['difference']:.2f} "
                          f"(95 % range {c['ci95'][0]:.2f} to {c['ci95'][1]:.2f}; median p {c['p_value']:.3g}; "
                          f"significant in {100 * c['share_significant']:.0f} % of trials)", highlight=False)
    console.print(f"wrote {out}/trial.json, subjects.parquet, report.html", highlight=False)


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
    from ketasim.sbml import export_sbml_file

    info = export_sbml_file(file, dose, scenario, hypothesis, opioid_source, weight)
    for w in info.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    if not quiet:
        console.print(f"wrote {info.path}: {info.species} species, {info.reactions} reactions, "
                      f"{info.events} dosing events, {info.parameters} parameters", highlight=False)


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
