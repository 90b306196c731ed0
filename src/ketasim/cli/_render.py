"""Tables printed by the commands (rich). Nothing here computes a result."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from ._app import console, warn


def range_text(low: float, high: float, digits: str = "g") -> str:
    """'-7.31 to -0.64', never '-7.31--0.64'."""
    return f"{low:{digits}} to {high:{digits}}"


def fmt(x: float) -> str:
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
        table.title = f"Summary ({len(result.subjects)} subjects: mean [5th to 95th percentile])"
    for k, s in summary.items():
        if s["cmax"] <= 0 or k in ("madrs", "hamd17"):
            continue
        cmax = fmt(s["cmax"])
        if "cmax_percentiles" in s:
            pc = s["cmax_percentiles"]
            cmax += f" [{fmt(pc['p5'])} to {fmt(pc['p95'])}]"
        table.add_row(k, cmax, f"{s['tmax_h']:.2f}", fmt(s["auc"]), s["unit"])
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
        warn(w)


def print_streamed_summary(doc: dict, subjects: int, out):
    m = doc["summary"].get("madrs", {})
    console.print(f"{subjects} subjects streamed; MADRS change at 24 h {m.get('change_24h', float('nan')):+.1f} "
                  f"(mean), responders {100 * m.get('responders_24h', float('nan')):.0f} %", highlight=False)
    for w in doc["warnings"]:
        warn(w)
    console.print(f"wrote {out}/timecourse.parquet, summary.json, timecourse.png", highlight=False)


def print_hypothesis_list(rows: list[dict]):
    for h in rows:
        console.rule(f"[bold]{escape(h['key'])}[/] — {escape(h['title'])}")
        console.print(escape(h["description"]), highlight=False)
        console.print(f"naltrexone pretreatment predicts: {h['naltrexone_prediction']}", highlight=False)
        if h["options"]:
            console.print(f"options: --opioid-source {' | '.join(h['options']['opioid_source'])}", highlight=False)
        if h["sources"]:
            console.print(f"sources: {', '.join(h['sources'])}", highlight=False)


def print_ranking(doc: dict):
    """Two tables, so that every header and number fits in full: the ranking, then each trial's part."""
    has_ref = doc.get("reference") is not None
    table = Table(title="Mechanism hypotheses vs " + ", ".join(doc["trials"]) + " (log-likelihood of the "
                  "published results; higher is better)", title_justify="left")
    cols = ["rank", "hypothesis", "log-likelihood", "95 % (bootstrap)", "vs best"] + (["vs null"] if has_ref else [])
    for col in cols:
        table.add_column(col, justify="left" if col == "hypothesis" else "right", no_wrap=True, overflow="fold")
    for r in doc["ranking"]:
        row = [str(r["rank"]), escape(r["hypothesis"]), f"{r['loglik']:.2f}",
               f"{r['loglik_interval95'][0]:.2f} to {r['loglik_interval95'][1]:.2f}", f"{r['delta_loglik']:+.2f}"]
        if has_ref:
            row.append(f"{r['delta_loglik_vs_null']:+.2f}")
        table.add_row(*row)
    console.print(table)
    per_trial = Table(title="Log-likelihood per trial", title_justify="left")
    per_trial.add_column("hypothesis", no_wrap=True, overflow="fold")
    for t in doc["trials"]:
        per_trial.add_column(escape(t), justify="right", no_wrap=True, overflow="fold")
    for r in doc["ranking"]:
        per_trial.add_row(escape(r["hypothesis"]), *[f"{r['per_trial'][t]['loglik']:.2f}" for t in doc["trials"]])
    console.print(per_trial)
    if has_ref:
        console.print("vs null: log-likelihood minus that of 'null' (expectation and background treatment alone); "
                      "> 0 means the hypothesis explains the published results better than placebo response "
                      "alone.", highlight=False)


def print_power(rows: list[dict], labels: tuple[str, str], trial: str):
    table = Table(title=f"Power: {trial}, {labels[0]} vs {labels[1]}", title_justify="left")
    for col in ("n per arm", f"P(sig | {labels[0]})", f"P(sig | {labels[1]})", "P(tells apart)"):
        table.add_column(escape(col), justify="right")
    for r in rows:
        table.add_row(str(r["n"]), f"{r['power_a']:.2f}", f"{r['power_b']:.2f}", f"{r['p_correct']:.2f}")
    console.print(table)


def print_trial_results(results, trial: str, replicates: int):
    for res in results:
        table = Table(title=f"{trial} under {res.hypothesis} ({replicates} replicate trials)", title_justify="left")
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


def print_parameters(df):
    table = Table(title=f"ketasim parameters ({len(df)})", title_justify="left")
    for col in ("key", "value", "unit", "source", "evidence", "range"):
        table.add_column(col)
    for r in df.itertuples():
        table.add_row(r.key, f"{r.value:g}", r.unit, r.source, r.evidence, range_text(r.low, r.high))
    console.print(table)


def print_validation(rows: list[dict], out):
    from ketasim.validation.report import with_texts

    table = Table(title="ketasim validate", title_justify="left", expand=True)
    for col, ratio in (("", None), ("kind", None), ("target", 4), ("model", 2), ("published", 2), ("accepted", 2),
                       ("source", 1)):
        table.add_column(col, ratio=ratio, overflow="fold", no_wrap=col in ("", "kind"))
    for r in with_texts(rows):
        mark = "[green]pass[/]" if r["pass"] else "[red]FAIL[/]"
        table.add_row(mark, r["kind"], escape(r["description"]), escape(r["model_text"]), escape(r["published"]),
                      escape(r["accepted_text"]), escape(r["source"]))
    console.print(table)
    n_pass = sum(r["pass"] for r in rows)
    console.print(f"{n_pass} of {len(rows)} targets within their accepted range; "
                  f"failures are disagreements to read, not hidden. Wrote {out}/validation.json, validation.html",
                  highlight=False)
