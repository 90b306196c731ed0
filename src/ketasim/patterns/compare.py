"""The use-pattern comparison: for each pattern, how much of the antidepressant pathway it engages under each
mechanism hypothesis, against its immediate effects and its liability.

Every pattern runs on the same virtual population (the same subjects, drawn once: differences between patterns
are not sampling noise), with the depression layer of a treatment-resistant patient and no expectation effect, so
that the benefit shown is the drug's alone: "what would this pattern of use do to the antidepressant pathway of a
person with depression". The figure puts one point per pattern, x the liability or dissociation burden, y the
days of lasting benefit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .library import UsePattern, load_pattern
from .metrics import NOTE, benefit_values, liability_values

COLUMNS = ("drug_liking", "euphoria", "cadss", "mor_agonist_signal", "chronic_tolerance", "madrs")
DEFAULT_HORIZON_DAYS = 120.0


def compare_patterns(names: Sequence[str], variants: Sequence[tuple[str, str | None]], subjects: int = 50,
                     seed: int = 1, horizon_days: float = DEFAULT_HORIZON_DAYS,
                     progress: Callable[[int, int], None] | None = None, executor=None) -> list[dict]:
    """One row per pattern and hypothesis: mean (and 5th-95th percentile) liability and benefit metrics."""
    from ketasim.mechanisms import get_mechanism
    from ketasim.parameters import default_parameters
    from ketasim.population import PopulationSpec, population_grid, sample_subjects, simulate_population

    patterns: list[UsePattern] = [load_pattern(n) for n in names]
    base = default_parameters()
    people = sample_subjects(PopulationSpec(), subjects, seed, base)
    horizon_h = horizon_days * 24.0
    rows: list[dict] = []
    total, done = len(patterns) * len(variants), 0
    for pat in patterns:
        params = pat.parameters(base)
        regimen = pat.regimen()
        if regimen.last_time_h() > horizon_h:
            raise ValueError(f"pattern {pat.name} lasts longer than the {horizon_days:g}-day comparison horizon")
        t = population_grid(regimen, horizon_h, step_h=1.0)
        for hyp, src in variants:
            mech = get_mechanism(hyp, src)
            res = simulate_population(regimen, people, params, mech, t, expectation="none", columns=COLUMNS,
                                      executor=executor)
            lia = liability_values(t, res.outputs, regimen, params, people["weight_kg"].to_numpy())
            ben = benefit_values(t, res.outputs["madrs"], regimen)
            row = {"pattern": pat.name, "title": pat.title, "kind": pat.kind, "hypothesis": mech.label(),
                   "subjects": subjects}
            for k, v in {**lia, **ben}.items():
                row[k] = float(np.mean(v))
            for k in ("benefit_days", "days_in_response", "liking_auec", "cadss_auc"):
                v = {**lia, **ben}[k]
                row[f"{k}_p5"], row[f"{k}_p95"] = (float(np.percentile(v, p)) for p in (5, 95))
            rows.append(row)
            done += 1
            if progress:
                progress(done, total)
    return rows


def plot_comparison(rows: list[dict], path=None):
    """One row of panels per hypothesis; x: liability (liking AUEC) and dissociation burden (CADSS AUC), y: days of
    lasting benefit (the drug's own MADRS reduction, in days of a 50 % reduction); one point per pattern, clinical and
    recreational marked apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hyps = list(dict.fromkeys(r["hypothesis"] for r in rows))
    pats = list(dict.fromkeys(r["pattern"] for r in rows))
    cmap = plt.get_cmap("tab10")
    colour = {p: cmap(i % 10) for i, p in enumerate(pats)}
    xs = (("liking_auec", "liability: drug liking above neutral, AUEC (VAS points x h)"),
          ("cadss_auc", "dissociation burden: CADSS AUC (points x h)"))
    fig, axes = plt.subplots(len(hyps), 2, figsize=(11, 2.9 * len(hyps) + 1.6), squeeze=False, sharey="row")
    for i, h in enumerate(hyps):
        sub = [r for r in rows if r["hypothesis"] == h]
        for j, (key, label) in enumerate(xs):
            ax = axes[i, j]
            for r in sub:
                marker = "o" if r["kind"] == "clinical" else "^"
                ax.errorbar(r[key], r["benefit_days"],
                            yerr=[[r["benefit_days"] - r["benefit_days_p5"]],
                                  [r["benefit_days_p95"] - r["benefit_days"]]],
                            fmt=marker, color=colour[r["pattern"]], ms=7, capsize=2, lw=0.8,
                            mfc="white" if r["kind"] == "recreational" else colour[r["pattern"]],
                            label=r["pattern"] if (i == 0 and j == 0) else None)
            ax.set_xscale("symlog", linthresh=10.0)
            ax.grid(alpha=0.3)
            ax.set_title(f"hypothesis: {h}", fontsize=9, loc="left")
            if i == len(hyps) - 1:
                ax.set_xlabel(label, fontsize=8)
            if j == 0:
                ax.set_ylabel("days of lasting benefit\n(drug effect, in days of a 50 % reduction)", fontsize=8)
    fig.legend(loc="lower center", ncol=5, fontsize=7, frameon=False,
               title="filled circles: clinical patterns; open triangles: recreational (bars: 5-95 % of subjects)",
               title_fontsize=7)
    n = rows[0]["subjects"] if rows else 0
    fig.suptitle(f"Do recreational patterns reach the clinical antidepressant mechanism? ({n} virtual patients with "
                 f"treatment-resistant depression, {DEFAULT_HORIZON_DAYS:g} days)\n" + NOTE, fontsize=8.5)
    fig.tight_layout(rect=(0, 0.1, 1, 0.95))
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
