"""A compound's predicted effect profile under every hypothesis, beside ketamine's: dissociation (CADSS), drug
liking and the opioid-pathway load (MOR agonist signal above baseline), the MADRS change against placebo sessions
at the same times, receptor occupancy, and the dissociation it would cause at ketamine's NMDA occupancy.

Typical subject, no between-subject variability. Research software, not a dosing tool: every prediction is only as
good as the hypothesis (and the compound's numbers) it rests on.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

from ._compound import Compound
from ._schema import CompoundError

KETAMINE_REFERENCE = ("ketamine 0.5 mg/kg iv over 40 min",)
DEFAULT_DURATION = "14 d"
CADSS_RATIO_LIMIT = 0.30   # "below 30 % of ketamine's at equal NMDA occupancy"
NOTE = ("Predictions for a typical subject under each mechanism hypothesis: each is only as good as the hypothesis "
        "and the compound's numbers (many of them assumed, with ranges; ketasim params --compound NAME). Research "
        "software, not a dosing tool.")

# the regimen a profile uses when none is given: one session for infused compounds, two weeks of daily doses for
# oral and sublingual ones
_NATIVE_REGIMENS = {"ketamine": KETAMINE_REFERENCE, "esketamine": ("esketamine 56 mg intranasal",),
                    "arketamine": ("arketamine 0.5 mg/kg iv over 40 min",), "hnk": ("hnk 1 mg/kg iv over 40 min",),
                    "naltrexone": ("naltrexone 50 mg oral at -45 min", "ketamine 0.5 mg/kg iv over 40 min")}


def default_regimen(compound: Compound) -> list[str]:
    if compound.spec.regimen:
        return list(compound.spec.regimen)
    if compound.native:
        return list(_NATIVE_REGIMENS[compound.name])
    (lo, hi), _ = compound.dose_limits()
    mg = f"{math.sqrt(lo * hi):.3g}"
    routes = compound.routes()
    if "iv" in routes:
        return [f"{compound.name} {mg} mg iv over 40 min"]
    route = routes[0]
    return [f"{compound.name} {mg} mg {route} every 1 d for 14 doses"]


def placebo_of(regimen):
    """The same sessions with an inert drug (same times, routes and infusion lengths; the expectation of the
    sessions is the same, the pharmacology is gone). Doses that are no session (a pretreatment) are dropped."""
    from ketasim.regimens import Regimen

    doses = [replace(d, drug="placebo", amount=0.0, amount_unit="mg") for d in regimen.doses if d.is_session]
    return Regimen(tuple(doses))


def _variants():
    from ketasim.mechanisms import get_mechanism
    from ketasim.trials import default_variants

    out = []
    for hyp, src in default_variants():
        out.append((hyp if src is None else f"{hyp}[{src}]", get_mechanism(hyp, src)))
    return out


def _liking(res) -> np.ndarray:
    y = res.outputs.get("euphoria", 0.0) + res.outputs.get("compound_liking", 0.0)
    return np.minimum(np.asarray(y, float), 100.0)


def metrics(res, placebo, first_h: float, end_h: float) -> dict:
    """The profile numbers of one run (its placebo run: the same sessions without pharmacology)."""
    t = res.time_h
    o = res.outputs
    excess = np.maximum(o["mor_agonist_signal"] - 1.0, 0.0)
    diff = o["madrs"] - np.interp(t, placebo.time_h, placebo.outputs["madrs"])

    def at(h):
        return float(np.interp(first_h + h, t, diff))

    out = {
        "cadss_peak": float(np.max(o["cadss"])),
        "liking_peak": float(np.max(_liking(res))),
        "opioid_load_h": float(np.trapezoid(excess, t)),
        "mor_signal_peak_excess": float(np.max(excess)),
        "nmda_occupancy_peak": float(np.max(o["nmda_occupancy"])),
        "mor_occupancy_peak": float(np.max(o["mor_occupancy"])),
        "kor_occupancy_peak": float(np.max(o["kor_occupancy"])),
        "madrs_vs_placebo_day1": at(24.0),
        "madrs_vs_placebo_day7": at(24.0 * 7) if end_h - first_h >= 24 * 7 else None,
        "madrs_vs_placebo_end": float(diff[-1]),
        "madrs_change_end": float(o["madrs"][-1] - o["madrs"][0]),
    }
    if "sedation" in o:
        out["sedation_peak"] = float(np.max(o["sedation"]))
    return out


def _run(regimen, duration, mechanisms, parameters=None, expectation="active"):
    import ketasim.solvers._numba_kernels  # noqa: F401  (the slow states' compiled integrator: many runs follow)
    from ketasim.parameters import default_parameters
    from ketasim.regimens import ValidatedRangeWarning
    from ketasim.simulation import Simulation

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ValidatedRangeWarning)
        sim = Simulation(regimen, parameters or default_parameters(), expectation=expectation)
        results = sim.solve_many(mechanisms, duration)
    found = [str(w.message) for w in caught if issubclass(w.category, ValidatedRangeWarning)]
    return results, found


def _nmda_keys(compound: Compound) -> list[str]:
    return [s.keys["nmda.Ki"] for s in compound.receptor_species() if "nmda.Ki" in s.keys]


def equal_exposure(compound: Compound, regimen, reference=KETAMINE_REFERENCE) -> dict | None:
    """The compound's dissociation at the NMDA occupancy ketamine reaches: its NMDA potency (every NMDA-blocking
    species at once) scaled so that its peak NMDA occupancy equals the reference's; equivalent to scaling its dose
    for NMDA occupancy and dissociation (both depend on concentration / Ki). Where the CADSS ratio is not below
    30 %, the trapping that would bring it there."""
    from ketasim.mechanisms import get_mechanism
    from ketasim.parameters import default_parameters
    from ketasim.regimens import Regimen

    keys = _nmda_keys(compound)
    if compound.native or not keys:
        return None
    from ketasim.simulation import Simulation

    null = get_mechanism("null")
    ref, _ = _run(Regimen.from_text(*reference), "1 d", [null])
    ref = ref[0]
    target = float(np.max(ref.outputs["nmda_occupancy"]))
    ref_cadss = float(np.max(ref.outputs["cadss"]))
    base = default_parameters() | compound.parameters()
    first = min(d.time_h for d in regimen.realize())
    # one session's exposure is what matters for the acute effects: the regimen's first day. The PK is solved
    # once; only the PD nodes are evaluated again for each potency and trapping
    sim = Simulation(regimen, base)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pk = sim.pk_solution(f"{max(1.0, first + 24.0)} h", mechanism=null)
    trap_keys = [s.keys["nmda.trapping"] for s in compound.receptor_species() if "nmda.trapping" in s.keys]

    def peaks(scale: float, trapping: float | None = None):
        p = base.replace_many({k: base[k].value / scale for k in keys})
        if trapping is not None:
            p = p.replace_many({k: trapping for k in trap_keys})
        out = sim.pd_outputs(pk, null, p, wanted=["nmda_occupancy", "cadss"])
        return float(np.max(out["nmda_occupancy"])), float(np.max(out["cadss"]))

    occ0, _ = peaks(1.0)
    if occ0 <= 0:
        return None
    lo, hi = math.log(1e-4), math.log(1e4)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        occ, _ = peaks(math.exp(mid))
        lo, hi = (mid, hi) if occ < target else (lo, mid)
    scale = math.exp(0.5 * (lo + hi))
    occ, cadss = peaks(scale)
    ratio = cadss / ref_cadss if ref_cadss > 0 else float("nan")
    out = {"reference": list(reference), "reference_nmda_occupancy_peak": target, "reference_cadss_peak": ref_cadss,
           "potency_scale": scale, "nmda_occupancy_peak": occ, "cadss_peak": cadss, "cadss_ratio": ratio,
           "limit": CADSS_RATIO_LIMIT, "below_limit": bool(ratio < CADSS_RATIO_LIMIT),
           "method": "NMDA potency of every blocking species scaled until the compound's peak NMDA occupancy "
                     "equals the reference's (same as scaling the dose, for occupancy and dissociation)"}
    current = base[trap_keys[0]].value
    out["trapping"] = current
    if not out["below_limit"]:
        lo_t, hi_t = 0.0, current
        for _ in range(30):
            mid = 0.5 * (lo_t + hi_t)
            _, c = peaks(scale, mid)
            lo_t, hi_t = (mid, hi_t) if c / ref_cadss < CADSS_RATIO_LIMIT else (lo_t, mid)
        out["trapping_needed"] = lo_t
        out["needed"] = (f"at ketamine's NMDA occupancy the CADSS peak is {100 * ratio:.0f} % of ketamine's; below "
                         f"{100 * CADSS_RATIO_LIMIT:.0f} % needs trapping <= {lo_t:.2f} (now {current:.2f}) "
                         f"with dissociation.block_per_opening {base.value('dissociation.block_per_opening'):g}")
    return out


def compound_profile(compound: Compound, regimen_lines=None, duration: str = DEFAULT_DURATION,
                     reference=KETAMINE_REFERENCE, expectation: str = "active", progress=None,
                     variants=None) -> tuple[dict, dict]:
    """(profile.json document, time courses for the figure). `variants`: (label, mechanism) pairs to profile
    under (default: every hypothesis)."""
    from ketasim.regimens import Regimen
    from ketasim.simulation import parse_duration

    lines = list(regimen_lines or default_regimen(compound))
    regimen = Regimen.from_text(*lines)
    if not compound.native and compound.name not in regimen.drugs():
        raise CompoundError(f"the regimen gives no {compound.name}: {'; '.join(lines)}")
    end_h = parse_duration(duration)
    variants = list(variants) if variants else _variants()
    mechs = [m for _, m in variants]
    steps = 5
    if progress:
        progress(0, steps)
    runs, found = _run(regimen, duration, mechs, expectation=expectation)
    if progress:
        progress(1, steps)
    ref_regimen = Regimen.from_text(*reference)
    ref_runs, _ = _run(ref_regimen, duration, mechs, expectation=expectation)
    if progress:
        progress(2, steps)
    (placebo,), _ = _run(placebo_of(regimen), duration, mechs[-1:], expectation=expectation)
    (ref_placebo,), _ = _run(placebo_of(ref_regimen), duration, mechs[-1:], expectation=expectation)
    if progress:
        progress(3, steps)
    first = min(d.time_h for d in regimen.realize() if d.is_session) if any(
        d.is_session for d in regimen.realize()) else 0.0
    ref_first = min(d.time_h for d in ref_regimen.realize())
    hyps = {}
    for (label, _), r, rr in zip(variants, runs, ref_runs):
        hyps[label] = {"compound": metrics(r, placebo, first, end_h), "ketamine": metrics(rr, ref_placebo,
                                                                                          ref_first, end_h)}
    eq = equal_exposure(compound, regimen, reference)
    if progress:
        progress(4, steps)
    info = runs[0].output_info
    cmax = {c: float(np.max(v)) for c, v in runs[0].outputs.items()
            if c.endswith("_ng_ml") and not (c in info and info[c].detail) and np.max(v) > 0}
    doc = {
        "compound": compound.name, "title": compound.title, "description": compound.spec.description.strip(),
        "regimen": lines, "reference": list(reference), "duration": duration, "expectation": expectation,
        "receptor_profile": compound.profile_table, "plasma_cmax_ng_ml": cmax,
        "hypotheses": hyps, "equal_nmda_occupancy": eq,
        "best_hypothesis_for_benefit": min(hyps, key=lambda h: hyps[h]["compound"]["madrs_vs_placebo_end"]),
        "warnings": found,
        "definitions": {
            "cadss_peak": "peak dissociation (CADSS points)",
            "liking_peak": "peak drug liking (VAS 0-100): ketamine's own liking plus the compounds'",
            "opioid_load_h": "area of the MOR agonist signal above its baseline of 1 (signal x h): the opioid-pathway "
                             "load",
            "madrs_vs_placebo_*": "MADRS of the regimen minus MADRS of placebo sessions at the same times (negative: "
                                  "better than placebo); day 1 and 7 after the first session, and at the end",
        },
        "note": NOTE,
    }
    courses = {"time_h": runs[0].time_h, "ref_time_h": ref_runs[0].time_h, "placebo": placebo, "ref_placebo":
               ref_placebo, "runs": dict(zip([lab for lab, _ in variants], runs)),
               "ref_runs": dict(zip([lab for lab, _ in variants], ref_runs))}
    if progress:
        progress(5, steps)
    return doc, courses


# the time courses a comparison shows: (key, unit, label)
SERIES = (
    ("nmda_occupancy", "fraction", "NMDA occupancy"),
    ("mor_occupancy", "fraction", "MOR occupancy (exogenous ligands)"),
    ("cadss", "CADSS point", "dissociation (CADSS)"),
    ("liking", "VAS point (0-100)", "drug liking"),
    ("opioid_signal_excess", "signal above baseline", "opioid-pathway load: MOR agonist signal above its baseline "
                                                      "of 1 (its area is opioid_load_h)"),
    ("madrs_vs_placebo", "MADRS point", "MADRS minus placebo sessions at the same times (negative: better)"),
)


def profile_series(res, placebo) -> dict[str, np.ndarray]:
    """One run's comparison time courses (SERIES), on its own output times; `placebo` is its placebo run."""
    o = res.outputs
    t = res.time_h
    return {"nmda_occupancy": np.asarray(o["nmda_occupancy"], float),
            "mor_occupancy": np.asarray(o["mor_occupancy"], float),
            "cadss": np.asarray(o["cadss"], float), "liking": _liking(res),
            "opioid_signal_excess": np.maximum(np.asarray(o["mor_agonist_signal"], float) - 1.0, 0.0),
            "madrs_vs_placebo": np.asarray(o["madrs"], float) - np.interp(t, placebo.time_h, placebo.outputs["madrs"])}


def plot_profile(doc: dict, courses: dict, path=None):
    """Six panels: NMDA and MOR occupancy, CADSS, liking, MADRS against placebo under each hypothesis, and the
    end-of-run benefit per hypothesis, the compound beside ketamine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs, ref_runs = courses["runs"], courses["ref_runs"]
    # the acute panels under the null hypothesis: no hypothetical binding (HNK at MOR) in the occupancies
    first = runs.get("null", next(iter(runs.values())))
    ref_first = ref_runs.get("null", next(iter(ref_runs.values())))
    t, tr = first.time_h, ref_first.time_h
    name = doc["title"]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    days = lambda x: x / 24.0  # noqa: E731
    acute = 24.0 if t[-1] > 24 else t[-1]

    def acute_panel(ax, col, title, ylabel, fn=None):
        for res, lab, ls in ((first, name, "-"), (ref_first, "ketamine 0.5 mg/kg", "--")):
            y = fn(res) if fn else res.outputs[col]
            m = res.time_h <= acute + res.time_h[0] + 24
            ax.plot(res.time_h[m], y[m], ls, label=lab, lw=1.4)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xlabel("time (h)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)

    acute_panel(axes[0, 0], "nmda_occupancy", "NMDA occupancy", "fraction")
    acute_panel(axes[0, 1], "mor_occupancy", "MOR occupancy (exogenous ligands)", "fraction")
    acute_panel(axes[0, 2], "cadss", "Dissociation", "CADSS points")
    acute_panel(axes[1, 0], None, "Drug liking", "VAS 0-100", _liking)
    ax = axes[1, 1]
    pl, rpl = courses["placebo"], courses["ref_placebo"]
    for i, (lab, res) in enumerate(runs.items()):
        color = f"C{i}"
        ax.plot(days(t), res.outputs["madrs"] - np.interp(t, pl.time_h, pl.outputs["madrs"]), "-", color=color,
                lw=1.3, label=lab)
        rr = ref_runs[lab]
        ax.plot(days(tr), rr.outputs["madrs"] - np.interp(tr, rpl.time_h, rpl.outputs["madrs"]), "--",
                color=color, lw=0.9)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_title("MADRS vs placebo sessions (solid: compound; dashed: ketamine)", fontsize=9, loc="left")
    ax.set_xlabel("time (d)", fontsize=8)
    ax.set_ylabel("MADRS points (negative = better)", fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    ax = axes[1, 2]
    labs = list(doc["hypotheses"])
    x = np.arange(len(labs))
    c = [doc["hypotheses"][h]["compound"]["madrs_vs_placebo_end"] for h in labs]
    k = [doc["hypotheses"][h]["ketamine"]["madrs_vs_placebo_end"] for h in labs]
    ax.bar(x - 0.2, c, 0.4, label=name)
    ax.bar(x + 0.2, k, 0.4, label="ketamine 0.5 mg/kg")
    ax.set_xticks(x, labs, rotation=35, ha="right", fontsize=7)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_title(f"MADRS vs placebo at the end ({doc['duration']})", fontsize=9, loc="left")
    ax.set_ylabel("MADRS points", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    eq = doc.get("equal_nmda_occupancy")
    extra = ""
    if eq:
        extra = (f"; at ketamine's peak NMDA occupancy ({eq['reference_nmda_occupancy_peak']:.2f}) its CADSS peak is "
                 f"{100 * eq['cadss_ratio']:.0f} % of ketamine's")
    fig.suptitle(f"{name}: {'; '.join(doc['regimen'])} vs ketamine 0.5 mg/kg IV (typical subject){extra}\n"
                 "Each prediction is only as good as the hypothesis it assumes. Research software, not dosing advice.",
                 fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
