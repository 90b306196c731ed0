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


def _mood_label(key: str) -> str:
    if key.startswith("day"):
        return f"day {key[3:]}"
    if key.startswith("week"):
        return f"week {key[4:]}"
    return key


def print_summary(result, quiet: bool = False, summary: dict | None = None):
    """The summary table: peak (or nadir, for outputs that fall) with the time after the dose, area (ng·h/mL
    for concentrations, baseline-corrected for effects), and mood changes across the run."""
    if quiet:
        return
    table = Table(title="Summary (typical subject)", title_justify="left")
    for col in ("output", "peak / nadir", "unit", "after dose (h)", "AUC / AUEC*", "AUC unit"):
        table.add_column(col, justify="right" if col not in ("output", "unit", "AUC unit") else "left")
    table.caption = "* effect outputs: area between the curve and its baseline (AUEC); times after the dose"
    summary = summary if summary is not None else result.summary()
    if getattr(result, "subjects", None) is not None:
        table.title = f"Summary ({len(result.subjects)} subjects: mean [5th to 95th percentile])"
    for k, s in summary.items():
        if s.get("direction") == "falls":
            value, when, label = s["nadir"], s["tnadir_h"], f"{k} (nadir)"
            pkey = "nadir_percentiles"
        else:
            value, when, label = s["cmax"], s["tmax_h"], k
            pkey = "cmax_percentiles"
        if s.get("direction") is None and s["cmax"] <= 0:
            continue
        if s.get("direction") is not None and abs(s.get("peak_change", 0.0)) < 1e-9:
            continue
        text = fmt(value)
        if pkey in s:
            pc = s[pkey]
            text += f" [{fmt(pc['p5'])} to {fmt(pc['p95'])}]"
        table.add_row(label, text, s["unit"], f"{when:.2f}", fmt(s["auc"]),
                      s.get("auc_unit", "").replace(" (baseline-corrected)", ""))
    console.print(table)
    if "madrs" in summary:
        m = summary["madrs"]
        parts = [f"hypothesis {result.meta.get('hypothesis')}", f"baseline MADRS {m['baseline']:.1f}"]
        changes = [f"{_mood_label(label)} {m['change_' + label]:+.1f}" for label in m.get("change_times_h", {})
                   if f"change_{label}" in m]
        if changes:
            parts.append("change " + ", ".join(changes))
        if "responders_24h" in m:
            parts.append(f"responders at 24 h {100 * m['responders_24h']:.0f} %")
        elif "responder_24h" in m:
            parts.append(f"responder at 24 h: {'yes' if m['responder_24h'] else 'no'}")
        console.print(escape("Mood: " + "; ".join(parts) + f"; peak CADSS {summary['cadss']['cmax']:.1f}"),
                      highlight=False)
    for w in result.warnings:
        warn(w)


def print_streamed_summary(doc: dict, subjects: int, out):
    m = doc["summary"].get("madrs")
    if m:
        console.print(f"{subjects} subjects streamed; MADRS change at 24 h {m.get('change_24h', float('nan')):+.1f} "
                      f"(mean), responders {100 * m.get('responders_24h', float('nan')):.0f} %", highlight=False)
    else:
        console.print(f"{subjects} subjects streamed", highlight=False)
    for w in doc["warnings"]:
        warn(w)
    course = doc.get("provenance", {}).get("time_course", "timecourse.parquet")
    files = ("" if course.startswith("none") else "timecourse.parquet, ") + "endpoints.parquet, summary.json, " \
        "timecourse.png"
    console.print(f"wrote {out}/{files}", highlight=False)


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
    """The ranking (contrast log-likelihood), posteriors with the levels check, the per-trial, per-endpoint
    breakdown as distance from the best hypothesis there, and the implied opioid share; every header and number in
    full (narrow tables rather than one wide one)."""
    has_ref = doc.get("reference") is not None
    table = Table(title="Mechanism hypotheses vs " + ", ".join(doc["trials"]) + " (contrast log-likelihood of the "
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
    if "posterior" in doc["ranking"][0]:
        post = Table(title="Posterior probability (from the contrasts) and the check of the shared layers (levels)",
                     title_justify="left")
        for col in ("rank", "hypothesis", "prior", "posterior", "95 % (Monte Carlo)", "levels log-lik",
                    "levels vs best"):
            post.add_column(col, justify="left" if col == "hypothesis" else "right", no_wrap=True, overflow="fold")
        for r in doc["ranking"]:
            pi = r.get("posterior_interval95")
            post.add_row(str(r["rank"]), escape(r["hypothesis"]), f"{r['prior']:.3f}", f"{r['posterior']:.3f}",
                         "" if pi is None else f"{pi[0]:.3f} to {pi[1]:.3f}", f"{r['level_loglik']:.2f}",
                         f"{r['level_delta_loglik']:+.2f}")
        console.print(post)
    rows = doc.get("breakdown") or []
    if rows:
        n = len(doc["ranking"])
        per = Table(title="Per trial and endpoint: log-likelihood minus that of the best hypothesis there (0 = best); "
                    "columns are the hypotheses by rank (#1 = " + escape(doc["ranking"][0]["hypothesis"]) + ")",
                    title_justify="left")
        for col in ("trial", "endpoint", "kind"):
            per.add_column(col, no_wrap=True, overflow="fold")
        for i in range(n):
            per.add_column(f"#{i + 1}", justify="right", no_wrap=True, overflow="fold")
        labels = [r["hypothesis"] for r in doc["ranking"]]
        for b in rows:
            per.add_row(escape(b["trial"]), escape(b["endpoint"]), b["kind"],
                        *[f"{b['delta_vs_best'][lab]:+.2f}" if lab in b["delta_vs_best"] else "" for lab in labels])
        console.print(per)
    share = doc.get("opioid_share")
    if share is not None:
        if share["estimate"] is None:
            console.print(escape(f"{share['what']}: not estimated ({share['note']})"), highlight=False, soft_wrap=True)
        else:
            lo, hi = share["interval95"]
            mc = share.get("monte_carlo_interval95")
            console.print(escape(f"{share['what']} ({share['hypothesis']}, profile likelihood): "
                                 f"{share['estimate']:.2f} (95 % interval {lo:.2f} to {hi:.2f}"
                                 + ("" if mc is None else f"; Monte-Carlo 95 % of the estimate {mc[0]:.2f} to "
                                    f"{mc[1]:.2f}") + ")"), highlight=False, soft_wrap=True)
    groups = [g for g, names in doc.get("evidence_groups", {}).items() if names]
    if len(groups) > 1:
        by = Table(title="Contrast log-likelihood by body of evidence (ketamine trials, other compounds' trials, "
                         "exposure-response analyses)", title_justify="left")
        by.add_column("hypothesis", no_wrap=True)
        for g in groups:
            by.add_column(f"{g} ({len(doc['evidence_groups'][g])})", justify="right", no_wrap=True)
        for r in doc["ranking"]:
            by.add_row(escape(r["hypothesis"]), *[f"{r['by_evidence'].get(g, 0.0):.2f}" for g in groups])
        console.print(by)
    if has_ref:
        console.print("vs null: log-likelihood minus that of 'null' (expectation and background treatment alone); "
                      "> 0 means the hypothesis explains the published contrasts better than placebo response "
                      "alone. Posteriors: equal priors unless --prior; the hypotheses listed taken as the only "
                      "ones. Research software, not dosing advice.", highlight=False)


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
        later = []
        for arm, a in res.arm_summary().items():
            for ep, v in a["endpoints"].items():
                if ep == "relapse" and res.withdrawal is not None:
                    continue
                if v.get("kind") == "time_to_response":
                    med = "not reached" if v["median_days"] is None else f"{v['median_days']:.1f} d"
                    later.append(f"  {arm} {ep}: median time to response {med}; "
                                 f"{100 * v['share_responded']:.0f} % responded by the last visit")
                    continue
                mean = v.get("mean_change", v.get("mean_peak"))
                table.add_row(escape(arm), escape(ep), f"{mean:.2f}", f"{v['ci95'][0]:.2f} to {v['ci95'][1]:.2f}",
                              "" if v.get("responders") is None else f"{v['responders']:.1f}/{a['n']}",
                              "" if v.get("response_rate") is None else f"{v['response_rate']:.2f}")
        if table.row_count:
            console.print(table)
        else:
            console.print(f"{escape(trial)} under {escape(res.hypothesis)} ({replicates} replicate trials)",
                          highlight=False)
        for line in later:
            console.print(escape(line), highlight=False)
        if res.withdrawal is not None:
            w = res.withdrawal
            console.print(f"  randomised at {escape(w['randomised_at'])}: {w['eligible']:.1f} of {w['enrolled']} "
                          f"per trial eligible; relapse: {escape(w['relapse_definition'])}", highlight=False)
            for arm, a in w["arms"].items():
                med = "not reached" if a["median_days"] is None else f"{a['median_days']:.0f} d"
                console.print(f"  {escape(arm)}: {a['relapses']:.1f} of {a['randomised']:.1f} relapsed "
                              f"({100 * (a['share_relapsed'] or 0):.0f} %); median time to relapse {med}",
                              highlight=False)
            for h in w["hazard_ratios"]:
                hr = "not estimable (no relapses)" if h["hazard_ratio"] is None else \
                    (f"{h['hazard_ratio']:.2f} (95 % range over replicates {h['range95'][0]:.2f} to "
                     f"{h['range95'][1]:.2f}; typical Cox 95 % CI {h['typical_ci95'][0]:.2f} to "
                     f"{h['typical_ci95'][1]:.2f})")
                console.print(f"  hazard ratio of relapse, {escape(' vs '.join(h['arms']))}: {hr}", highlight=False)
            continue
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


def print_nca(df):
    table = Table(title=f"NCA ({df['id'].nunique()} subjects; times after dose; first subject shown)",
                  title_justify="left")
    cols = ("output", "dose", "Cmax / Emin", "Tmax (h)", "AUC0-t / AUEC", "AUCinf (ng·h/mL)", "t½ (h) [points]",
            "CL/F (L/h)", "Vz/F (L)")
    for c in cols:
        table.add_column(c, justify="left" if c in ("output",) else "right")
    first = df[df["id"] == df["id"].iloc[0]]
    num = lambda v: "" if v is None or v != v else fmt(float(v))  # noqa: E731
    for r in first.to_dict("records"):
        if r.get("auc_unit") == "ng·h/mL":
            table.add_row(r["output"], str(r["dose_index"]), f"{num(r['cmax'])} {r['unit']}", f"{r['tmax_h']:.2f}",
                          num(r["auc_0_t"]), num(r.get("auc_inf")),
                          f"{num(r.get('half_life_h'))} [{r.get('lambda_z_points', 0):.0f}]",
                          num(r.get("cl_f_l_h")), num(r.get("vz_f_l")))
        else:
            falls = abs(r["nadir_change"]) > abs(r["peak_change"])
            table.add_row(r["output"], str(r["dose_index"]), f"{'min' if falls else 'max'} "
                          f"{num(r['emin'] if falls else r['emax'])}", f"{r['tmin_h' if falls else 'tmax_h']:.2f}",
                          num(r["auec"]), "", "", "", "")
    console.print(table)


def print_estimates(fit: dict):
    from ketasim.estimation.run import estimates_table, summary_lines

    est = estimates_table(fit)
    table = Table(title="Population estimates (FOCE-I)", title_justify="left")
    for c in ("layer", "parameter", "estimate", "unit", "RSE %", "95 % interval", "shrinkage %"):
        table.add_column(c, justify="left" if c in ("layer", "parameter", "unit") else "right")
    num = lambda v: "" if v != v else fmt(float(v))  # noqa: E731
    for r in est.to_dict("records"):
        table.add_row(r["layer"], r["parameter"], num(r["estimate"]), r["unit"], num(r["rse_pct"]),
                      f"{num(r['ci95_low'])}-{num(r['ci95_high'])}", num(r.get("shrinkage_pct", float("nan"))))
    console.print(table)
    for line in summary_lines(fit):
        console.print(line, highlight=False)


def print_sensitivity(doc: dict):
    if "sobol" in doc:
        d = doc["sobol"].sort_values("ST", ascending=False).head(15)
        info = doc["sobol_info"]
        table = Table(title=f"Sobol indices of {doc['outcome']} ({info['runs']} runs, {doc['wall_s']:.0f} s; "
                            f"sum S1 {info['sum_S1']:.2f}, sum ST {info['sum_ST']:.2f})", title_justify="left")
        for c in ("parameter", "S1", "95 %", "ST", "95 % "):
            table.add_column(c, justify="left" if c == "parameter" else "right")
        for r in d.itertuples():
            table.add_row(r.parameter, f"{r.S1:.3f}", f"±{r.S1_conf:.3f}", f"{r.ST:.3f}", f"±{r.ST_conf:.3f}")
        console.print(table)
        inert = info.get("parameters_screened_out") or []
        if inert:
            console.print(escape(f"{len(inert)} of {len(inert) + info['parameters_varied']} parameters screened out "
                                 f"(S1 = ST = 0): each moved {doc['outcome']} at neither end of its range, the others "
                                 f"at their values: {', '.join(inert)}"), highlight=False)
    if "local" in doc:
        d = doc["local"].assign(a=doc["local"]["elasticity"].abs()).sort_values("a", ascending=False).head(15)
        table = Table(title=f"Elasticities of {doc['outcome']} (value at defaults {doc['outcome_at_default']:.3g} "
                            f"{doc['unit']})", title_justify="left")
        for c in ("parameter", "elasticity", "at range low", "at range high"):
            table.add_column(c, justify="left" if c == "parameter" else "right")
        for r in d.itertuples():
            table.add_row(r.parameter, f"{r.elasticity:.3g}", f"{r.outcome_at_low:.3g}", f"{r.outcome_at_high:.3g}")
        console.print(table)


def print_compound_list(rows: list[dict]):
    table = Table(title="Compound library", title_justify="left")
    for col in ("name", "title", "kind", "routes", "receptors"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], escape(r["title"]), "built-in drug" if r["native"] else "compound",
                      ", ".join(r["routes"]), ", ".join(r["receptors"]))
    console.print(table)


def print_compound_checks(rows: list[dict]):
    table = Table(title="PK checks against published numbers (typical subject)", title_justify="left")
    for col in ("compound", "species", "regimen", "quantity", "published", "model", "difference", "result"):
        table.add_column(col, justify="right" if col in ("published", "model", "difference") else "left")
    for r in rows:
        table.add_row(r["compound"], r["species"], escape("; ".join(r["regimen"])), r["quantity"],
                      f"{fmt(r['observed'])} {r['unit']}", fmt(r["model"]), f"{100 * r['relative_difference']:+.0f} %",
                      "pass" if r["pass"] else "[red]fail[/]")
    console.print(table)


def print_compound_profile(doc: dict):
    table = Table(title=f"{escape(doc['title'])}: {escape('; '.join(doc['regimen']))} (typical subject) vs "
                        f"{escape('; '.join(doc['reference']))}", title_justify="left")
    for col in ("hypothesis", "CADSS peak", "liking peak", "opioid load (h)", "MADRS vs placebo day 1",
                "at the end"):
        table.add_column(col, justify="left" if col == "hypothesis" else "right")
    for h, v in doc["hypotheses"].items():
        c, k = v["compound"], v["ketamine"]
        table.add_row(escape(h), f"{c['cadss_peak']:.1f} ({k['cadss_peak']:.1f})", f"{c['liking_peak']:.0f} ({k['liking_peak']:.0f})",
                      f"{c['opioid_load_h']:.1f} ({k['opioid_load_h']:.1f})",
                      f"{c['madrs_vs_placebo_day1']:+.1f} ({k['madrs_vs_placebo_day1']:+.1f})",
                      f"{c['madrs_vs_placebo_end']:+.1f} ({k['madrs_vs_placebo_end']:+.1f})")
    table.caption = "compound (ketamine 0.5 mg/kg IV in brackets). " + doc["note"]
    console.print(table)
    eq = doc.get("equal_nmda_occupancy")
    if eq:
        console.print(f"At ketamine's peak NMDA occupancy ({eq['reference_nmda_occupancy_peak']:.2f}) the CADSS peak "
                      f"is {100 * eq['cadss_ratio']:.1f} % of ketamine's"
                      + (f"; {escape(eq['needed'])}" if "needed" in eq else
                         f" (below {100 * eq['limit']:.0f} %: trapping {eq['trapping']:.2f})"), highlight=False)
    for w in doc.get("warnings", []):
        warn(w)


def print_design(doc: dict):
    table = Table(title=f"Inverse design: {escape(doc['problem']['regimen'])} ({doc['problem']['template']} PK), "
                        f"CADSS <= {doc['problem']['cadss_max']:g}, liking <= {doc['problem']['liking_max']:g}",
                  title_justify="left")
    for col in ("hypothesis", "best benefit (MADRS vs placebo)", "what the best profiles have in common"):
        table.add_column(col, justify="right" if col.startswith("best") else "left")
    for h, v in doc["hypotheses"].items():
        s = v["summary"]
        table.add_row(escape(h), f"{s.get('best_benefit_madrs', float('nan')):+.1f}", escape(s["text"]))
    table.caption = doc["note"]
    console.print(table)
