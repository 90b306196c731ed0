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
    scales = sorted({ep.scale for ep in cfg.endpoints.values() if ep.scale != "cadss"}) or ["madrs"]
    fig, axes = plt.subplots(len(results), len(scales), figsize=(5 * len(scales), 3.2 * len(results)),
                             squeeze=False)
    for i, res in enumerate(results):
        for j, scale in enumerate(scales):
            ax = axes[i, j]
            for arm, tc in res.timecourses.items():
                t = np.array(tc["time_h"]) / 24
                m = np.array(tc[scale]["mean"])
                ax.plot(t, m, label=arm)
                ax.fill_between(t, tc[scale]["p5"], tc[scale]["p95"], alpha=0.15)
            ax.set_title(f"{scale.upper()} — hypothesis {res.hypothesis}", fontsize=9)
            ax.set_xlabel("days after the first session")
            ax.set_ylabel(f"{scale} (points)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.tight_layout()
    figs["mood"] = _png(fig)

    change_eps = [name for name, ep in cfg.endpoints.items() if ep.kind == "change"]
    fig, axes = plt.subplots(1, max(1, len(change_eps)), figsize=(4.5 * max(1, len(change_eps)), 3.4), squeeze=False)
    arms = list(cfg.arms)
    width = 0.8 / len(results)
    for k, ep in enumerate(change_eps):
        ax = axes[0, k]
        for i, res in enumerate(results):
            summ = res.arm_summary()
            rates = [summ[a]["endpoints"][ep]["response_rate"] for a in arms]
            ax.bar(np.arange(len(arms)) + i * width, rates, width, label=res.hypothesis)
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
        ax.set_title(ep, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    figs["responders"] = _png(fig)

    if any(ep.scale == "cadss" for ep in cfg.endpoints.values()):
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for res in results:
            for arm, tc in res.timecourses.items():
                t = np.array(tc["time_h"])
                m = (t >= -1) & (t <= 6)
                ax.plot(t[m], np.array(tc["cadss"]["mean"])[m], label=f"{arm} ({res.hypothesis})")
        ax.set_xlabel("hours after the first session")
        ax.set_ylabel("CADSS (points)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        figs["cadss"] = _png(fig)
    return figs


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
        doc = docs[0] if len(docs) == 1 else {"trial": docs[0]["trial"], "hypotheses": docs}
        (tmp / "trial.json").write_text(json.dumps(doc, indent=2, sort_keys=False))
        pd.concat([r.subjects.assign(hypothesis=r.hypothesis) for r in results], ignore_index=True) \
            .to_parquet(tmp / "subjects.parquet", index=False)
        (tmp / "report.html").write_text(trial_html(results, docs))
    return Path(out_dir)


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
                rows.append([arm, a["n"], ep, v.get("mean_change", v.get("mean_peak")), v["ci95"],
                             v.get("responders"), v.get("response_rate"), v.get("remission_rate")])
        comp_rows = [[c["endpoint"], " − ".join(c["arms"]), c["difference"], c["ci95"], c["p_value"],
                      c["share_significant"]] for c in doc["comparisons"]]
        ovm = [[o["arm"], o["endpoint"], o["quantity"], o["observed"],
                o.get("model_mean", o.get("model_share")), [o.get("model_p5"), o.get("model_p95")]
                if "model_p5" in o else "", "yes" if o["verified"] else "NO (unverified)", o.get("note", "")]
               for o in doc["observed_vs_model"]]
        sections.append(
            f"<h2>Hypothesis: {e(res.hypothesis)}</h2>"
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


def write_hypothesis_outputs(doc: dict, out_dir) -> Path:
    plt = _mpl()
    with atomic_output_dir(out_dir) as tmp:
        (tmp / "hypotheses.json").write_text(json.dumps(doc, indent=2))
        ranking = doc["ranking"]
        fig, ax = plt.subplots(figsize=(7, 0.5 * len(ranking) + 1.5))
        labels = [r["hypothesis"] for r in ranking][::-1]
        vals = [r["loglik"] for r in ranking][::-1]
        lo = [r["loglik"] - r["loglik_interval95"][0] for r in ranking][::-1]
        hi = [r["loglik_interval95"][1] - r["loglik"] for r in ranking][::-1]
        ax.barh(labels, vals, xerr=[lo, hi], color="#4c78a8")
        ax.set_xlabel("log-likelihood of the published results (higher is better)")
        ax.set_title("Mechanism hypotheses vs " + ", ".join(doc["trials"]), fontsize=9)
        ax.grid(alpha=0.3, axis="x")
        fig.tight_layout()
        fig.savefig(tmp / "hypotheses.png", dpi=110)
        plt.close(fig)
    return Path(out_dir)


def write_power_outputs(rows: list[dict], labels: tuple[str, str], trial: str, out_dir) -> Path:
    import pandas as pd

    plt = _mpl()
    with atomic_output_dir(out_dir) as tmp:
        df = pd.DataFrame(rows)
        df.to_csv(tmp / "power.csv", index=False)
        (tmp / "power.json").write_text(json.dumps({"trial": trial, "hypothesis_a": labels[0],
                                                    "hypothesis_b": labels[1], "rows": rows}, indent=2))
        fig, ax = plt.subplots(figsize=(6.5, 3.8))
        ax.plot(df.n, df.p_correct, "o-", label="P(trial tells them apart)")
        ax.plot(df.n, df.power_a, "s--", label=f"P(significant | {labels[0]})")
        ax.plot(df.n, df.power_b, "^--", label=f"P(significant | {labels[1]})")
        ax.axhline(0.8, color="0.6", lw=0.8, ls=":")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("subjects per arm")
        ax.set_ylabel("probability")
        ax.set_title(f"{trial}: {labels[0]} vs {labels[1]}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(tmp / "power.png", dpi=110)
        plt.close(fig)
    return Path(out_dir)
