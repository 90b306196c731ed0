"""Outputs of a search: pareto.csv (every non-dominated regimen with its objective values and regimen text),
pareto.png (the front, with the standard clinical regimens placed on it), report.md and problem.json; the record
of every evaluation (evaluations.parquet) is written while the search runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ketasim.io.export import atomic_output_dir

from .search import SearchResult

WARNING = ("Research software, not a dosing tool: these regimens are the optimum of a model under stated "
           "assumptions, not recommendations for any patient.")
NOTE_COLUMN = "research software, not a dosing recommendation"


def pareto_table(res: SearchResult) -> pd.DataFrame:
    p = res.problem
    keep = ["regimen"] + [o.label for o in p.objectives] + [f"constraint: {c.text}" for c in p.constraints]
    per = [c for c in res.front.columns if any(c.startswith(f"{o.metric} [") for o in p.objectives)]
    design = ["drug", "route", "dose", "dose_unit", "infusion_min", "interval_d", "doses", "maintenance_interval_d",
              "maintenance_doses", "maintenance_fraction", "visits", "visits_per_week"]
    df = res.front[[c for c in keep + per + design if c in res.front.columns]].copy()
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df["note"] = NOTE_COLUMN
    return df


def plot_front(res: SearchResult, path=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = res.problem
    objs = p.objectives
    pairs = [(0, k) for k in range(1, len(objs))] or [(0, 0)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.2 * len(pairs), 4.6), squeeze=False)
    ev = res.evaluations
    feasible = ev[ev["feasible"]] if len(ev) else ev
    for ax, (i, k) in zip(axes[0], pairs):
        xo, yo = objs[k], objs[i]
        if len(ev):
            ax.scatter(ev[xo.label], ev[yo.label], s=9, c="0.8", label="evaluated (infeasible: x)" if
                       len(feasible) < len(ev) else "evaluated", zorder=1)
            bad = ev[~ev["feasible"]]
            if len(bad):
                ax.scatter(bad[xo.label], bad[yo.label], s=12, c="0.6", marker="x", zorder=1)
        if len(res.front):
            f = res.front.sort_values(xo.label)
            ax.scatter(f[xo.label], f[yo.label], s=28, c="tab:red", edgecolor="k", lw=0.4,
                       label=f"Pareto front ({len(f)} regimens)", zorder=3)
        for j, r in res.standards.iterrows():
            ax.scatter(r[xo.label], r[yo.label], marker="*", s=150, c="tab:blue", edgecolor="k", lw=0.5, zorder=4,
                       label="standard clinical regimens" if j == 0 else None)
            ax.annotate(r["standard"], (r[xo.label], r[yo.label]), fontsize=6.5, xytext=(4, 4),
                        textcoords="offset points")
        ax.set_xlabel(f"{xo.label}", fontsize=8)
        ax.set_ylabel(f"{yo.label}", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    hyp = ", ".join(p.hypothesis_labels)
    mode = "" if len(p.variants) == 1 else (" (robust: worst case over hypotheses)" if p.robust == "worst"
                                            else " (robust: weighted over hypotheses)")
    note = "\n(the front is non-dominated in all objectives together: in one 2-D view some of its points look dominated)" \
        if len(objs) > 2 else ""
    fig.suptitle(f"{p.name}: {len(res.evaluations)} regimens, {p.subjects} virtual patients, "
                 f"{p.horizon_h / 24:g} days; hypotheses: {hyp}{mode}\n{WARNING}{note}", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def report_text(res: SearchResult) -> str:
    p = res.problem
    lines = [f"# ketasim optimize: {p.name}", "", f"**{WARNING}**", "",
             f"- hypotheses: {', '.join(p.hypothesis_labels)}"
             + ("" if len(p.variants) == 1 else f"; robust mode: {p.robust}"
                + (f" (weights {', '.join(f'{h} {w:.2f}' for h, w in zip(p.hypothesis_labels, p.weights))})"
                   if p.robust == "weighted" else " (each regimen scored by its worst hypothesis)")),
             f"- virtual patients: {p.subjects} (seed {p.seed}), horizon {p.horizon_h / 24:g} days, "
             f"expectation: {p.expectation}",
             f"- objectives: {'; '.join(o.label for o in p.objectives)}",
             f"- constraints: {'; '.join(c.text for c in p.constraints) or 'none'} (judged under every hypothesis)",
             f"- search: NSGA-II, population {p.population_size}, {res.generations_run} generations; "
             f"{len(res.evaluations)} regimens evaluated in {res.seconds:.0f} s; "
             f"{int(res.evaluations['feasible'].sum()) if len(res.evaluations) else 0} feasible; "
             f"{len(res.front)} on the front", ""]
    lines += [f"- note: {n}" for n in res.notes]
    if len(res.front):
        lines += ["## Front (first objective best first)", "", "| # | regimen | " +
                  " | ".join(o.label for o in p.objectives) + " |", "|---|---|" + "---|" * len(p.objectives)]
        for i, r in res.front.head(15).iterrows():
            lines.append(f"| {i + 1} | {r['regimen']} | " + " | ".join(f"{r[o.label]:.3g}" for o in p.objectives)
                         + " |")
        if len(res.front) > 15:
            lines.append(f"\n({len(res.front) - 15} more in pareto.csv)")
    else:
        lines += ["No evaluated regimen met every constraint."]
    if len(res.standards):
        lines += ["", "## Standard clinical regimens on the same virtual patients", "",
                  "| regimen | " + " | ".join(o.label for o in p.objectives) + " | feasible | dominated by the front |",
                  "|---|" + "---|" * (len(p.objectives) + 2)]
        for _, r in res.standards.iterrows():
            lines.append(f"| {r['standard']}: {r['regimen']} | " + " | ".join(f"{r[o.label]:.3g}" for o in p.objectives)
                         + f" | {'yes' if r['feasible'] else 'no'} | {'yes' if r['dominated_by_front'] else 'no'} |")
    lines += ["", "Files: pareto.csv (the front), pareto.png, evaluations.parquet (every regimen evaluated, with "
              "every metric under every hypothesis), problem.json.", ""]
    return "\n".join(lines)


def write_outputs(res: SearchResult, out_dir) -> Path:
    out = Path(out_dir)
    with atomic_output_dir(out) as tmp:
        pareto_table(res).to_csv(tmp / "pareto.csv", index=False)
        plot_front(res, tmp / "pareto.png")
        (tmp / "report.md").write_text(report_text(res), encoding="utf-8")
        doc = {"problem": p_describe(res), "evaluations": int(len(res.evaluations)), "front": int(len(res.front)),
               "seconds": res.seconds, "note": WARNING,
               "standards": res.standards.to_dict(orient="records") if len(res.standards) else []}
        (tmp / "problem.json").write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    return out


def p_describe(res: SearchResult) -> dict:
    return res.problem.describe()
