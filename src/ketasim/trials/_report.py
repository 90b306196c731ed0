"""Writers for trial outputs: trial.json, subjects.parquet, a self-contained report.html, and figures for
hypothesis scores and power curves."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from ketasim.io.export import atomic_output_dir


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _mpl():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def trial_figures(results) -> dict[str, str]:
    """Base64 PNGs: mood time courses per arm (mean and 5-95 % band), responder bars with observed points, CADSS."""
    plt = _mpl()
    first = results[0]
    cfg = first.config
    figs = {}
    figs["mood"] = _png(mood_figure(results))

    if any(r.withdrawal is not None for r in results):
        figs["relapse"] = relapse_figure(results)
    change_eps = [name for name, ep in cfg.endpoints.items() if ep.kind in ("change", "window")]
    if not change_eps:
        return figs
    figs["responders"] = _png(responder_figure(results, change_eps))

    if any(ep.scale == "cadss" for ep in cfg.endpoints.values()):
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for h, res in enumerate(results):  # colour: arm, line style: hypothesis (as in the mood figure)
            for k, (arm, tc) in enumerate(res.timecourses.items()):
                t = np.array(tc["time_h"])
                m = (t >= -1) & (t <= 6)
                ax.plot(t[m], np.array(tc["cadss"]["mean"])[m], color=f"C{k % 10}", ls=("-", "--", ":", "-.")[h % 4],
                        label=f"{arm} — {res.hypothesis}")
        ax.set_xlabel("hours after the first session")
        ax.set_ylabel("CADSS (points)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        figs["cadss"] = _png(fig)
    return figs


def _response_rate_range(res, arm: str, endpoint: str, n) -> tuple[float, float]:
    """2.5-97.5 % range of one arm's response rate over the replicate trials (what one trial of this size shows)."""
    d = res.per_replicate
    d = d[(d.arm == arm) & (d.endpoint == endpoint)]["responders"].to_numpy(float) / max(float(n), 1.0)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return (np.nan, np.nan)
    return tuple(float(x) for x in np.percentile(d, [2.5, 97.5]))


def _published_points(ax, cfg, arm, scale, t, mean, color) -> bool:
    """The published mean changes of one arm on `scale`, drawn as scores (model baseline + published change)."""
    oa = cfg.observed.arms.get(arm) if cfg.observed else None
    drawn = False
    for ep_name, oe in (oa.endpoints.items() if oa else ()):
        ep = cfg.endpoints.get(ep_name)
        if ep is None or ep.scale != scale or getattr(oe, "mean_change", None) is None:
            continue
        base = mean[0]
        at = (ep.hours() + (t[0] if t[0] > 0 else 0.0)) / 24
        y = base + oe.mean_change if ep.since is None else float(np.interp(ep.since_hours(), t, mean)) + oe.mean_change
        ax.plot(at, y, marker="o" if oe.verified else "x", ms=7, color=color, mec="k", ls="none")
        drawn = True
    return drawn


def mood_figure(results):
    """One panel per depression scale; every hypothesis's arms overlaid on it (colour: arm, line style:
    hypothesis), with the published mean changes as points where the trial reports them."""
    plt = _mpl()
    cfg = results[0].config
    scales = sorted({ep.scale for ep in cfg.endpoints.values() if ep.scale != "cadss"}) or ["madrs"]
    styles = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(1, len(scales), figsize=(6.4 * len(scales), 4.0), squeeze=False)
    for ax, scale in zip(axes[0], scales):
        published = False
        for h, res in enumerate(results):  # hypotheses overlaid: colour = arm, line style = hypothesis
            for k, (arm, tc) in enumerate(res.timecourses.items()):
                color = f"C{k % 10}"
                t = np.array(tc["time_h"], float)
                mean = np.array(tc[scale]["mean"], float)
                ax.plot(t / 24, mean, color=color, ls=styles[h % len(styles)], lw=1.4,
                        label=f"{arm} — {res.hypothesis}")
                ax.fill_between(t / 24, tc[scale]["p5"], tc[scale]["p95"], color=color, alpha=0.08, lw=0)
                if h == 0:
                    published |= _published_points(ax, cfg, arm, scale, t, mean, color)
        ax.set_title(f"{scale.upper()}: mean of subjects (band 5-95 %)"
                     + ("; points: published means (x: unverified)" if published else ""), fontsize=9, loc="left")
        ax.set_xlabel("days after the first session")
        ax.set_ylabel(f"{scale.upper()} (points)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0)
    fig.tight_layout()
    return fig


def responder_figure(results, change_eps):
    """Response rates per arm and hypothesis, with the 95 % range over replicate trials and published shares."""
    plt = _mpl()
    cfg = results[0].config
    fig, axes = plt.subplots(1, max(1, len(change_eps)), figsize=(4.5 * max(1, len(change_eps)), 3.4), squeeze=False)
    arms = list(cfg.arms)
    width = 0.8 / len(results)
    for k, ep in enumerate(change_eps):
        ax = axes[0, k]
        for i, res in enumerate(results):
            summ = res.arm_summary()
            rates = [summ[a]["endpoints"][ep]["response_rate"] for a in arms]
            lo, hi = zip(*(_response_rate_range(res, a, ep, summ[a]["n"]) for a in arms))
            ax.bar(np.arange(len(arms)) + i * width, rates, width, label=res.hypothesis,
                   yerr=[np.clip(np.subtract(rates, lo), 0, None), np.clip(np.subtract(hi, rates), 0, None)],
                   capsize=3, error_kw={"elinewidth": 0.9})
        if cfg.observed:
            for a_i, a in enumerate(arms):
                oa = cfg.observed.arms.get(a)
                if oa and ep in oa.endpoints and oa.endpoints[ep].responders is not None:
                    oe = oa.endpoints[ep]
                    ax.plot(a_i + 0.4 - width / 2, oe.responders / oa.n, "k*" if oe.verified else "kx", ms=10,
                            label="published" if a_i == 0 else None)
        ax.set_xticks(np.arange(len(arms)) + 0.4 - width / 2)
        ax.set_xticklabels(arms, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("response rate")
        ax.set_title(f"{ep} (bars: 95 % range over replicate trials)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def relapse_figure(results) -> str:
    """Kaplan-Meier curves of time to relapse per arm (pooled replicate trials, 95 % band), one panel per
    hypothesis, with the published median where given."""
    plt = _mpl()
    fig, axes = plt.subplots(1, len(results), figsize=(6.2 * len(results), 3.6), squeeze=False)
    for ax, res in zip(axes[0], results):
        w = res.withdrawal
        for k, (arm, a) in enumerate(w["arms"].items()):
            km = a.get("km")
            if not km:
                continue
            color = f"C{k % 10}"
            ax.step(km["time_d"], km["no_relapse"], where="post", color=color, lw=1.5,
                    label=f"{arm} ({a['share_relapsed']:.0%} relapsed)")
            ax.fill_between(km["time_d"], km["ci_lower"], km["ci_upper"], step="post", color=color, alpha=0.15,
                            lw=0)
            oa = res.config.observed.arms.get(arm) if res.config.observed else None
            oe = oa.endpoints.get("relapse") if oa else None
            if oe is not None and oe.median_days is not None:
                ax.plot(oe.median_days, 0.5, "*", color=color, mec="k", ms=10)
        hr = w["hazard_ratios"][0] if w["hazard_ratios"] else None
        text = "" if not hr or hr["hazard_ratio"] is None else f"; HR {hr['hazard_ratio']:.2f}"
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("days since randomisation")
        ax.set_ylabel("share without relapse")
        ax.set_title(f"{res.config.name}: {res.hypothesis}{text} (stars: published medians)", fontsize=8,
                     loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.text(0.01, 0.01, "Research software, not a dosing tool.", fontsize=6, color="0.4")
    fig.tight_layout()
    return _png(fig)


def validation_figure(res) -> str:
    """Base64 PNG for the validation report: each arm's mean change from baseline over time (with the 5-95 %
    band of subjects) and the published mean changes as points on it."""
    plt = _mpl()
    cfg = res.config
    scales = [s for s in ("madrs", "hamd17") if any(ep.scale == s and ep.kind == "change"
                                                    for ep in cfg.endpoints.values())]
    fig, axes = plt.subplots(1, len(scales), figsize=(6.2 * len(scales), 3.4), squeeze=False)
    for ax, scale in zip(axes[0], scales):
        for k, (arm, tc) in enumerate(res.timecourses.items()):
            color = f"C{k % 10}"
            t = np.array(tc["time_h"], float)
            mean = np.array(tc[scale]["mean"], float)
            base = mean[0]
            days = t / 24
            ax.plot(days, mean - base, color=color, lw=1.4, label=arm)
            ax.fill_between(days, np.array(tc[scale]["p5"]) - base, np.array(tc[scale]["p95"]) - base, color=color,
                            alpha=0.12, lw=0)
            oa = cfg.observed.arms.get(arm) if cfg.observed else None
            for ep_name, oe in (oa.endpoints.items() if oa else ()):
                ep = cfg.endpoints[ep_name]
                if ep.scale != scale or oe.mean_change is None:
                    continue
                at = (ep.hours() + (t[0] if t[0] > 0 else 0.0)) / 24
                y = oe.mean_change if ep.since is None else \
                    float(np.interp(ep.since_hours(), t, mean)) - base + oe.mean_change
                ax.plot(at, y, marker="o" if oe.verified else "x", ms=7, color=color, mec="k", ls="none")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel("days after the first session")
        ax.set_ylabel(f"{scale.upper()} change from baseline")
        ax.set_title(f"{cfg.name}: model (line: mean, band: 5-95 % of subjects) and published means (points), "
                     f"{res.hypothesis}", fontsize=8, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def write_trial_outputs(results, out_dir) -> Path:
    """One or more TrialResults of the same design (one per hypothesis) -> trial.json, subjects.parquet,
    report.html. Everything is written to a temporary folder first: nothing half-written reaches out_dir."""
    import pandas as pd

    with atomic_output_dir(out_dir) as tmp:
        docs = [r.to_json_dict() for r in results]
        doc = trial_file_document(results, docs)
        (tmp / "trial.json").write_text(json.dumps(doc, indent=2, sort_keys=False))
        pd.concat([r.subjects.assign(hypothesis=r.hypothesis) for r in results], ignore_index=True) \
            .to_parquet(tmp / "subjects.parquet", index=False)
        (tmp / "report.html").write_text(trial_html(results, docs))
    return Path(out_dir)


def trial_file_document(results, docs=None) -> dict:
    """trial.json: the same shape whether one hypothesis or several ran: the trial, then one list of
    per-hypothesis results (each as TrialResult.to_json_dict gives it)."""
    docs = docs if docs is not None else [r.to_json_dict() for r in results]
    cfg = results[0].config
    return {"trial": cfg.name, "title": cfg.title, "design": cfg.design, "seed": results[0].seed,
            "replicates": results[0].replicates, "hypotheses": docs,
            "note": "Virtual trial: research software, not a dosing tool. One entry per hypothesis run."}


def _table(rows: list[list], header: list[str]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e('' if c is None else str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def trial_html(results, docs) -> str:
    e = html.escape
    cfg = results[0].config
    figs = trial_figures(results)
    sections = []
    for res, doc in zip(results, docs):
        rows = []
        for arm, a in doc["arms"].items():
            for ep, v in a["endpoints"].items():
                if ep == "relapse" and doc.get("withdrawal"):
                    continue
                rows.append([arm, a["n"], ep, v.get("mean_change", v.get("mean_peak")), v["ci95"],
                             v.get("responders"), v.get("response_rate"), v.get("remission_rate")])
        comp_rows = [[c["endpoint"], " − ".join(c["arms"]), c["difference"], c["ci95"], c["p_value"],
                      c["share_significant"]] for c in doc["comparisons"]]
        ovm = [[o["arm"], o["endpoint"], o["quantity"], o["observed"],
                o.get("model_mean", o.get("model_share")), [o.get("model_p5"), o.get("model_p95")]
                if "model_p5" in o else "", "yes" if o["verified"] else "NO (unverified)", o.get("note", "")]
               for o in doc["observed_vs_model"]]
        wd = ""
        if doc.get("withdrawal"):
            w = doc["withdrawal"]
            wrows = [[arm, a["randomised"], a["relapses"], a["share_relapsed"], a["share_relapsed_range95"],
                      a["median_days"] if a["median_days"] is not None else "not reached", a["median_ci95_days"]]
                     for arm, a in w["arms"].items()]
            hrows = [[" vs ".join(h["arms"]), h["hazard_ratio"], h["range95"], h["typical_ci95"],
                      h["share_significant"]] for h in w["hazard_ratios"]]
            wd = (f"<h3>Randomised withdrawal</h3><p>{e(str(w['enrolled']))} enrolled; randomised at "
                  f"{e(w['randomised_at'])} ({w['eligible']} per trial eligible: "
                  f"{e('; '.join(str(x) for x in w['eligibility']))}); follow-up {e(w['follow_up'])}. Relapse: "
                  f"{e(w['relapse_definition'])}.</p>"
                  + _table(wrows, ["arm", "randomised (mean)", "relapses (mean)", "share relapsed",
                                   "95 % range", "median days (Kaplan-Meier)", "median 95 %"])
                  + _table(hrows, ["arms", "hazard ratio (median)", "95 % range over replicates",
                                   "typical within-trial 95 % CI (Cox)", "share HR<1 with p<0.05"]))
        sections.append(
            f"<h2>Hypothesis: {e(res.hypothesis)}</h2>" + wd
            + _table(rows, ["arm", "n", "endpoint", "mean change / peak", "95 % range over replicates",
                            "responders (mean)", "response rate", "remission rate"])
            + "<h3>Between-arm comparison</h3>"
            + _table(comp_rows, ["endpoint", "arms", "difference", "95 % range", "median p", "share p<0.05"])
            + ("<h3>Published vs model</h3>" + _table(ovm, ["arm", "endpoint", "quantity", "published", "model",
                                                            "model 5-95 %", "verified", "note"]) if ovm else ""))
    imgs = "".join(f"<h3>{e(k)}</h3><img alt='{e(k)}' src='data:image/png;base64,{v}'/>" for k, v in figs.items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>ketasim trial {e(cfg.name)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;margin:0.5em 0}}
td,th{{border:1px solid #ccc;padding:3px 7px;font-size:13px}}.banner{{background:#fee;border:1px solid #c00;
padding:6px 10px}}img{{max-width:100%}}</style></head><body>
<p class="banner">Research software, not dosing advice: a virtual trial under stated assumptions.</p>
<h1>{e(cfg.title or cfg.name)}</h1><p>{e(cfg.description)}</p>
<p>Design: {e(cfg.design)}; {results[0].replicates} replicate trials; seed {results[0].seed}.
Stars: published values (crosses: unverified).</p>
{''.join(sections)}{imgs}</body></html>"""


def hypothesis_figure(doc: dict):
    """Left: each hypothesis's contrast log-likelihood minus the best (points with bootstrap intervals, not bars
    from zero). Middle: the same per trial and endpoint (contrast rows). Right: level rows (the shared layers'
    check). Returns the matplotlib figure."""
    plt = _mpl()
    ranking = doc["ranking"]
    labels = [r["hypothesis"] for r in ranking]
    best = ranking[0]["loglik"]
    rows = doc.get("breakdown") or []
    contrast = [b for b in rows if b["kind"] == "contrast"]
    level = [b for b in rows if b["kind"] == "level"]
    panels = 1 + bool(contrast) + bool(level)
    widths = [1.2] + [max(1.0, 0.35 * len(x)) for x in (contrast, level) if x]
    fig, axes = plt.subplots(1, panels, figsize=(4.2 + 2.2 * sum(widths[1:]), 0.45 * len(labels) + 2.6),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    ax = axes[0, 0]
    y = np.arange(len(labels))[::-1]
    d = np.array([r["loglik"] - best for r in ranking])
    lo = np.array([r["loglik_interval95"][0] - best for r in ranking])
    hi = np.array([r["loglik_interval95"][1] - best for r in ranking])
    ax.errorbar(d, y, xerr=[d - lo, hi - d], fmt="o", color="#4c78a8", capsize=3)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{lab}  (p={r['posterior']:.2f})" for lab, r in zip(labels, ranking)], fontsize=8)
    ax.set_xlabel("Δ contrast log-likelihood vs best")
    ax.grid(alpha=0.3, axis="x")
    for k, part in enumerate([x for x in (contrast, level) if x], start=1):
        ax = axes[0, k]
        m = np.array([[b["delta_vs_best"].get(lab, np.nan) for b in part] for lab in labels])
        floor = min(-0.5, float(np.nanmin(m)))
        im = ax.imshow(m, aspect="auto", cmap="viridis", vmin=max(floor, -20.0), vmax=0.0)
        ax.set_yticks(np.arange(len(labels)))
        ax.set_yticklabels(labels if k == 1 else [""] * len(labels), fontsize=8)
        ax.set_xticks(np.arange(len(part)))
        ax.set_xticklabels([f"{b['trial']}\n{b['endpoint']}" for b in part], rotation=60, ha="right", fontsize=7)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, f"{m[i, j]:.1f}", ha="center", va="center", fontsize=6,
                            color="w" if m[i, j] < 0.5 * max(floor, -20.0) else "k")
        ax.set_title("contrasts (rank)" if part is contrast else "levels (shared-layer check)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="Δ log-likelihood vs best")
    share = doc.get("opioid_share")
    title = "Mechanism hypotheses vs " + ", ".join(doc["trials"])
    if share and share.get("estimate") is not None:
        title += (f"; opioid share {share['estimate']:.2f} "
                  f"(95 % {share['interval95'][0]:.2f}-{share['interval95'][1]:.2f})")
    fig.suptitle(title + " — research software, not dosing advice", fontsize=9)
    fig.tight_layout()
    return fig


def write_hypothesis_outputs(doc: dict, out_dir) -> Path:
    plt = _mpl()
    with atomic_output_dir(out_dir) as tmp:
        (tmp / "hypotheses.json").write_text(json.dumps(doc, indent=2))
        fig = hypothesis_figure(doc)
        fig.savefig(tmp / "hypotheses.png", dpi=110)
        plt.close(fig)
    return Path(out_dir)


def power_figure(rows: list[dict], labels: tuple[str, str], trial: str):
    """Power curves over n on a log axis, each point with its 95 % Monte-Carlo interval (Wilson, from the replicate
    trials); the title names the endpoint, the arms compared and the replicates per point. The x label says
    'subjects per arm' only for parallel designs (in a crossover every subject takes every arm)."""
    plt = _mpl()
    from matplotlib.ticker import FuncFormatter, NullFormatter

    n = np.array([r["n"] for r in rows], float)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    for key, style, text in (("p_correct", "o-", "P(trial tells them apart)"),
                             ("power_a", "s--", f"P(significant | {labels[0]})"),
                             ("power_b", "^--", f"P(significant | {labels[1]})")):
        y = np.array([r[key] for r in rows], float)
        iv = [r.get(f"{key}_interval95") for r in rows]
        line, = ax.plot(n, y, style, label=text, ms=5)
        if all(i is not None for i in iv):
            lo, hi = np.array([i[0] for i in iv]), np.array([i[1] for i in iv])
            ax.errorbar(n, y, yerr=[np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)], fmt="none",
                        ecolor=line.get_color(), capsize=3, lw=0.9)
    ax.axhline(0.8, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xticks(n)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, 1.02)
    first = rows[0] if rows else {}
    design = first.get("design")
    ax.set_xlabel("subjects per arm (log scale)" if design in (None, "parallel") else
                  f"subjects ({design}: each takes every arm; log scale)")
    ax.set_ylabel("probability")
    what = f"endpoint {first['endpoint']}" if first.get("endpoint") else ""
    if first.get("arms"):
        what += f" ({' vs '.join(first['arms'])})"
    reps = f"{first['replicates']} replicate trials per point" if first.get("replicates") else ""
    ax.set_title(f"{trial}: {labels[0]} vs {labels[1]}\n" + "; ".join(x for x in (what, reps) if x)
                 + "; bars: 95 % Monte-Carlo intervals", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.text(0.01, 0.01, "Research software, not a dosing tool.", fontsize=6, color="0.4")
    fig.tight_layout()
    return fig


def write_power_outputs(rows: list[dict], labels: tuple[str, str], trial: str, out_dir) -> Path:
    import pandas as pd

    plt = _mpl()
    with atomic_output_dir(out_dir) as tmp:
        df = pd.DataFrame(rows)
        for key in [c for c in df.columns if c.endswith("_interval95")]:  # flat columns for the CSV
            df[key.replace("_interval95", "_lo95")] = [v[0] for v in df[key]]
            df[key.replace("_interval95", "_hi95")] = [v[1] for v in df[key]]
            df = df.drop(columns=key)
        if "arms" in df:
            df["arms"] = [" vs ".join(a) for a in df["arms"]]
        df.to_csv(tmp / "power.csv", index=False)
        (tmp / "power.json").write_text(json.dumps({"trial": trial, "hypothesis_a": labels[0],
                                                    "hypothesis_b": labels[1], "rows": rows}, indent=2))
        fig = power_figure(rows, labels, trial)
        fig.savefig(tmp / "power.png", dpi=110)
        plt.close(fig)
    return Path(out_dir)
