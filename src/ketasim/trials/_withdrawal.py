"""Randomised withdrawal: every subject takes the open-label phases; at randomisation the subjects in the state
the trial requires (e.g. stable remission) are randomised to the arms; relapse, by the trial's own definition,
is the endpoint: per-arm shares, Kaplan-Meier curves and medians, and the Cox hazard ratio (lifelines).

Each enrolled subject is simulated under every arm's regimen (identical before randomisation, so the state that
decides eligibility is the same whichever arm is simulated); the subject's outcome is taken from the arm the
randomisation gives. Subjects, rating errors and the randomisation are drawn before any simulation, so the
result does not depend on how the work is split.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ketasim.mechanisms import get_mechanism
from ketasim.parameters import default_parameters
from ketasim.population import population_grid, sample_subjects, simulate_population

from ._design import TrialConfig

SCALE_MAX = {"madrs": 60.0, "hamd17": 52.0}


def _rating_sd(p, scale: str) -> float:
    sd = p.value("residual.madrs_sd")
    return sd * p.value("mood.hamd_per_madrs") if scale == "hamd17" else sd


def relapse_visit_hours(cfg: TrialConfig) -> np.ndarray:
    """Visits after randomisation (hours after the first session) at which relapse is rated."""
    w = cfg.withdrawal
    from ketasim.units import to_hours

    step = to_hours(w.relapse.every, "relapse visits 'every'")
    n = int(math.floor(w.follow_up_h() / step + 1e-9))
    return w.at_h() + step * np.arange(1, n + 1)


def first_relapse(rated: np.ndarray, threshold: float, consecutive: int) -> tuple[np.ndarray, np.ndarray]:
    """(relapsed, index of the first visit of the first run of `consecutive` visits at or above threshold) per
    subject; rated is (visits, subjects)."""
    hit = rated >= threshold
    v = hit.shape[0]
    if consecutive > 1:
        runs = np.ones((max(v - consecutive + 1, 0), hit.shape[1]), bool)
        for k in range(consecutive):
            runs &= hit[k:v - consecutive + 1 + k]
        hit = runs
    relapsed = hit.any(axis=0)
    return relapsed, np.where(relapsed, hit.argmax(axis=0), -1)


def _cox(days, event, in_a) -> tuple[float, float, float, float]:
    """Hazard ratio (a vs b) with its 95 % interval and p-value, by lifelines' Cox model; NaN where it cannot be
    estimated (an arm empty, or without relapses: the estimate would run off to 0 or infinity)."""
    from lifelines import CoxPHFitter

    if in_a.all() or (~in_a).all() or event[in_a].sum() == 0 or event[~in_a].sum() == 0:
        return (math.nan,) * 4
    df = pd.DataFrame({"days": days, "event": event.astype(int), "arm_a": in_a.astype(float)})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = CoxPHFitter().fit(df, duration_col="days", event_col="event")
    except Exception:   # lifelines raises its own convergence errors for separated data
        return (math.nan,) * 4
    s = fit.summary.loc["arm_a"]
    return (float(s["exp(coef)"]), float(s["exp(coef) lower 95%"]), float(s["exp(coef) upper 95%"]), float(s["p"]))


def _km(days, event):
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter().fit(days, event_observed=event)


def run_withdrawal(cfg: TrialConfig, hypothesis="opioid", opioid_source=None, replicates: int = 20, seed: int = 1,
                   parameters=None, chunk_size: int | None = None, progress=None, keep_timecourses: bool = True,
                   executor=None, uncertainty: bool = False):
    from ._run import TrialResult, _r, uncertain_parameter_keys

    if not (1 <= replicates <= 10_000):
        raise ValueError(f"replicates must be 1-10000, got {replicates}")
    p = parameters or default_parameters()
    mech = get_mechanism(hypothesis, opioid_source)
    w = cfg.withdrawal
    arms = list(cfg.arms)
    spec = cfg.population.spec()
    visits = relapse_visit_hours(cfg)
    rel = w.relapse
    weights = np.array([(w.allocation or {}).get(a, 1.0) for a in arms], float)
    weights = weights / weights.sum()
    rep_seqs = np.random.SeedSequence(seed).spawn(replicates)
    tables, rngs, rep_params = [], [], []
    for r, rs in enumerate(rep_seqs):
        kids = rs.spawn(4)
        rep_params.append(p.sample(np.random.default_rng(kids[2]), keys=uncertain_parameter_keys(p))
                          if uncertainty else p)
        tables.append(sample_subjects(spec, cfg.n_per_arm, kids[0], p, first_id=r * 1_000_000).assign(replicate=r))
        rngs.append(np.random.default_rng(kids[1]))
    subjects = pd.concat(tables, ignore_index=True)
    n_all = len(subjects)
    # rating errors (baseline, eligibility visits, relapse visits) and the randomisation, drawn in a fixed order
    scales = sorted({c.scale for c in w.eligible} | {rel.scale})
    err = {}
    for r, rng in enumerate(rngs):
        n = cfg.n_per_arm
        for scale in scales:
            err[(r, "baseline", scale)] = rng.normal(0.0, _rating_sd(p, scale), n)
        for i, c in enumerate(w.eligible):
            err[(r, "eligible", i)] = rng.normal(0.0, _rating_sd(p, c.scale), (len(c.visits), n))
        err[(r, "relapse")] = rng.normal(0.0, _rating_sd(p, rel.scale), (len(visits), n))
        err[(r, "assign")] = rng.choice(len(arms), size=n, p=weights)

    def stack(key_fn):
        return np.concatenate([key_fn(r) for r in range(replicates)], axis=-1)

    # simulate replicate by replicate and keep only the rated times: long trials stay small in memory
    needed_h = sorted({0.0, *visits, *(h for c in w.eligible for h in c.visit_hours())})
    outputs, timecourses = {}, {}
    total_units, done = len(arms) * replicates, 0
    if progress:
        progress(0, total_units)
    for ai, arm in enumerate(arms):
        regimen = cfg.arms[arm].regimen()
        t = population_grid(regimen, cfg.duration_h(), step_h=6.0, extra_times=needed_h)
        rows = [int(np.argmin(np.abs(t - h))) for h in needed_h]
        common = dict(expectation=cfg.arms[arm].expectation or cfg.expectation,
                      oral_ad_start_h=0.0 if cfg.oral_antidepressant else None, columns=tuple(scales),
                      chunk_size=chunk_size or 256, executor=executor)
        kept = {c: [] for c in scales}
        for r in range(replicates):
            out = simulate_population(regimen, tables[r], rep_params[r], mech, t, **common).outputs
            for c in scales:
                kept[c].append(out[c][rows])
            if keep_timecourses and r == 0:   # the first replicate trial's subjects, as the figure shows them
                timecourses[arm] = {"time_h": [_r(x) for x in t]}
                for c in scales:
                    y = out[c]
                    timecourses[arm][c] = {"mean": [_r(v) for v in y.mean(axis=1)],
                                           "p5": [_r(v) for v in np.percentile(y, 5, axis=1)],
                                           "p95": [_r(v) for v in np.percentile(y, 95, axis=1)]}
            done += 1
            if progress:
                progress(done, total_units)
        outputs[arm] = (np.asarray(needed_h), {c: np.concatenate(kept[c], axis=1) for c in scales})
    # eligibility from the first arm (the regimens are identical before randomisation)
    t0, out0 = outputs[arms[0]]
    base = {s: np.clip(out0[s][0] + stack(lambda r, s=s: err[(r, "baseline", s)]), 0, SCALE_MAX[s]) for s in scales}
    eligible = np.ones(n_all, bool)
    for i, c in enumerate(w.eligible):
        idx = [int(np.argmin(np.abs(t0 - h))) for h in c.visit_hours()]
        rated = np.clip(out0[c.scale][idx] + stack(lambda r, i=i: err[(r, "eligible", i)]), 0, SCALE_MAX[c.scale])
        limit = (c.max if c.max is not None else c.max_fraction_of_baseline * base[c.scale][None, :])
        ok = (rated <= limit).sum(axis=0) >= (c.at_least or len(idx))
        eligible &= ok
    assigned = stack(lambda r: err[(r, "assign")])
    arm_of = np.where(eligible, assigned, -1)
    # relapse under the assigned arm's regimen
    relapsed = np.zeros(n_all, bool)
    days = np.full(n_all, np.nan)
    rel_err = stack(lambda r: err[(r, "relapse")])
    for ai, arm in enumerate(arms):
        t, out = outputs[arm]
        idx = [int(np.argmin(np.abs(t - h))) for h in visits]
        rated = np.clip(out[rel.scale][idx] + rel_err, 0, SCALE_MAX[rel.scale])
        ev, first = first_relapse(rated, rel.min, rel.consecutive)
        m = arm_of == ai
        relapsed[m] = ev[m]
        days[m] = np.where(ev[m], (visits[np.maximum(first[m], 0)] - w.at_h()) / 24.0,
                           (visits[-1] - w.at_h()) / 24.0)
    reps = subjects.replicate.to_numpy()
    stats_rows, comp_rows = [], []
    for r in range(replicates):
        in_r = reps == r
        for ai, arm in enumerate(arms):
            m = in_r & (arm_of == ai)
            med = math.nan
            if m.sum() and relapsed[m].any():
                med = float(_km(days[m], relapsed[m]).median_survival_time_)
            stats_rows.append({"replicate": r, "arm": arm, "endpoint": "relapse", "n": int(m.sum()),
                               "mean": med if math.isfinite(med) else math.nan, "sd": 0.0, "responders": 0,
                               "remitters": 0, "events": int(relapsed[m].sum())})
        for comp in cfg.comparisons:
            a, b = (arms.index(x) for x in comp.arms)
            m = in_r & ((arm_of == a) | (arm_of == b))
            hr, lo, hi, pval = _cox(days[m], relapsed[m], arm_of[m] == a)
            share = [relapsed[in_r & (arm_of == k)].mean() if (in_r & (arm_of == k)).any() else math.nan
                     for k in (a, b)]
            comp_rows.append({"replicate": r, "endpoint": "relapse", "arm_a": comp.arms[0], "arm_b": comp.arms[1],
                              "difference": float(share[0] - share[1]), "ci_low": math.nan, "ci_high": math.nan,
                              "p_value": pval if math.isfinite(pval) else 1.0, "ratio": math.nan,
                              "hazard_ratio": hr, "hr_ci_low": lo, "hr_ci_high": hi})
    per_rep = pd.DataFrame(stats_rows)
    comps = pd.DataFrame(comp_rows, columns=["replicate", "endpoint", "arm_a", "arm_b", "difference", "ci_low",
                                             "ci_high", "p_value", "ratio", "hazard_ratio", "hr_ci_low",
                                             "hr_ci_high"])
    subj = subjects[["replicate", "id", "weight_kg", "age_y", "sex", "cyp2b6", "baseline_madrs"]].copy()
    subj["eligible"] = eligible
    subj["arm"] = [arms[k] if k >= 0 else None for k in arm_of]
    subj["relapsed"] = relapsed
    subj["time_to_relapse_d"] = days
    res = TrialResult(cfg, mech.label(), seed, replicates, per_rep, comps, subj, timecourses)
    res.withdrawal = _summary(cfg, arms, arm_of, relapsed, days, eligible, reps, replicates, comps)
    return res


def _summary(cfg, arms, arm_of, relapsed, days, eligible, reps, replicates, comps) -> dict:
    """Per arm: randomised, relapsed and their share, the Kaplan-Meier curve and median of the pooled replicate
    trials; per comparison: the hazard ratio (median over replicate trials, their 95 % range, and the typical
    within-trial Cox interval)."""
    from ._run import _r

    w = cfg.withdrawal
    per_arm = {}
    for ai, arm in enumerate(arms):
        m = arm_of == ai
        n_rep = np.array([(m & (reps == r)).sum() for r in range(replicates)])
        k_rep = np.array([(m & relapsed & (reps == r)).sum() for r in range(replicates)])
        share = np.where(n_rep > 0, k_rep / np.maximum(n_rep, 1), np.nan)
        entry = {"randomised": _r(n_rep.mean()), "relapses": _r(k_rep.mean()),
                 "share_relapsed": _r(np.nanmean(share)) if np.isfinite(share).any() else None,
                 "share_relapsed_range95": [_r(np.nanpercentile(share, 2.5)), _r(np.nanpercentile(share, 97.5))]
                 if np.isfinite(share).any() else [None, None],
                 "median_days": None, "median_ci95_days": [None, None], "km": None}
        if m.any():
            km = _km(days[m], relapsed[m])
            med = float(km.median_survival_time_)
            from lifelines.utils import median_survival_times

            ci = median_survival_times(km.confidence_interval_)
            fin = (lambda x: _r(x) if math.isfinite(x) else None)
            entry["median_days"] = fin(med)
            entry["median_ci95_days"] = [fin(float(ci.iloc[0, 0])), fin(float(ci.iloc[0, 1]))]
            sf = km.survival_function_.iloc[:, 0]
            band = km.confidence_interval_survival_function_
            entry["km"] = {"time_d": [_r(x) for x in sf.index], "no_relapse": [_r(x) for x in sf.to_numpy()],
                           "ci_lower": [_r(x) for x in band.iloc[:, 0]], "ci_upper": [_r(x) for x in band.iloc[:, 1]]}
        per_arm[arm] = entry
    hr = []
    for comp in cfg.comparisons:
        d = comps[(comps.arm_a == comp.arms[0]) & (comps.arm_b == comp.arms[1])]
        v = d.hazard_ratio.dropna()
        hr.append({"arms": list(comp.arms), "hazard_ratio": _r(v.median()) if len(v) else None,
                   "range95": [_r(np.percentile(v, 2.5)), _r(np.percentile(v, 97.5))] if len(v) else [None, None],
                   "typical_ci95": [_r(d.hr_ci_low.dropna().median()), _r(d.hr_ci_high.dropna().median())]
                   if len(v) else [None, None],
                   "share_significant": _r(((d.p_value < 0.05) & (d.hazard_ratio < 1)).mean()),
                   "analysis": "Cox proportional hazards (lifelines), first arm vs second"})
    return {"randomised_at": w.at, "follow_up": w.follow_up, "enrolled": cfg.n_per_arm,
            "eligible": _r(eligible.sum() / replicates), "eligible_share": _r(eligible.mean()),
            "eligibility": [c.description or c.model_dump(mode="json") for c in w.eligible],
            "relapse_definition": w.relapse.definition or
            (f"{w.relapse.scale.upper()} >= {w.relapse.min:g} at {w.relapse.consecutive} consecutive visit(s) "
             f"every {w.relapse.every}"),
            "arms": per_arm, "hazard_ratios": hr}
