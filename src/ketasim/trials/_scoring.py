"""Hypothesis scoring and power analysis.

Scoring: for each hypothesis (and opioid source), replicate trials are simulated at each trial's own sample
size, and the log-likelihood of the published outcomes is summed:
- responder / remitter counts: binomial, with the model's response rate;
- an arm's mean change: normal, with the spread of replicate-trial means at that n;
- a between-arm difference with a published 95 % CI: normal around the model's mean difference, with the
  published standard error plus the Monte-Carlo error of the model's mean;
- a difference without a CI: normal with the spread of replicate-trial differences;
- "significant / not significant" (when no difference is published): the share of replicate trials that
  reach the same verdict in the same direction.
Unverified published numbers are left out unless asked for. The model's own uncertainty is shown by
bootstrapping the replicate trials.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ._design import TrialConfig, arm_size
from ._run import TrialResult, _share_matching, run_trial

# The built-in hypotheses as scored by default: every opioid source, and `null` (expectation and background
# treatment alone), the reference that tells how much a drug hypothesis adds to what placebo predicts.
DEFAULT_VARIANTS = (("opioid", "hnk_mor"), ("opioid", "ketamine_mor"), ("opioid", "endogenous"),
                    ("glutamate", None), ("hnk_ampa", None), ("mixed", "hnk_mor"), ("null", None))
REFERENCE = "null"


def default_variants() -> tuple[tuple[str, str | None], ...]:
    """DEFAULT_VARIANTS plus every other registered hypothesis (plug-ins), each with its default options."""
    from ketasim.mechanisms import available

    known = {h for h, _ in DEFAULT_VARIANTS}
    return DEFAULT_VARIANTS + tuple((key, None) for key in available() if key not in known)


def _loglik_terms(res: TrialResult, include_unverified: bool, idx: np.ndarray | None = None) -> list[dict]:
    """Log-likelihood terms of the published outcomes; `idx` resamples replicates (bootstrap)."""
    cfg = res.config
    obs = cfg.observed
    if obs is None:
        return []
    per = res.per_replicate
    comps = res.comparisons_per_replicate
    reps = np.arange(res.replicates) if idx is None else idx
    terms = []
    for arm, oa in obs.arms.items():
        n_model = arm_size(cfg, arm)
        for ep_name, oe in oa.endpoints.items():
            if not oe.verified and not include_unverified:
                continue
            d = per[(per.arm == arm) & (per.endpoint == ep_name)].set_index("replicate").loc[reps]
            for key in ("responders", "remitters"):
                k = getattr(oe, key)
                if k is None:
                    continue
                rate = float(d[key].sum()) / (n_model * len(d))
                eps = 0.5 / (n_model * len(d) + 1)
                rate = min(max(rate, eps), 1 - eps)
                ll = float(stats.binom.logpmf(k, oa.n, rate))
                terms.append({"what": f"{arm} {ep_name} {key} {k}/{oa.n}", "loglik": ll,
                              "model": f"rate {rate:.3f}"})
            if oe.mean_change is not None:
                m, s = float(d["mean"].mean()), float(d["mean"].std(ddof=1))
                s = max(s, 1e-3)
                ll = float(stats.norm.logpdf(oe.mean_change, m, s))
                terms.append({"what": f"{arm} {ep_name} mean change {oe.mean_change}", "loglik": ll,
                              "model": f"{m:.2f} ± {s:.2f}"})
    for oc in obs.comparisons:
        if not oc.verified and not include_unverified:
            continue
        d = comps[(comps.endpoint == oc.endpoint) & (comps.arm_a == oc.arms[0]) & (comps.arm_b == oc.arms[1])]
        d = d.set_index("replicate").loc[reps]
        if oc.difference is not None:
            m, s_rep = float(d.difference.mean()), float(d.difference.std(ddof=1))
            if oc.ci95 is not None:
                se = (oc.ci95[1] - oc.ci95[0]) / (2 * 1.959964)
                s = math.sqrt(se ** 2 + s_rep ** 2 / len(d))
            else:
                s = s_rep
            s = max(s, 1e-3)
            ll = float(stats.norm.logpdf(oc.difference, m, s))
            terms.append({"what": f"{oc.endpoint} {oc.arms[0]} - {oc.arms[1]} difference {oc.difference}",
                          "loglik": ll, "model": f"{m:.2f} ± {s:.2f}"})
        elif oc.significant is not None:
            share = _share_matching(d, oc)
            share = min(max(share, 0.5 / (len(d) + 1)), 1 - 0.5 / (len(d) + 1))
            verdict = "significant" if oc.significant else "not significant"
            terms.append({"what": f"{oc.endpoint} {oc.arms[0]} vs {oc.arms[1]}: {verdict}",
                          "loglik": math.log(share), "model": f"share {share:.2f}"})
    ex = res.exposure_per_replicate
    for ox in obs.exposure_response:
        if (not ox.verified and not include_unverified) or ex is None:
            continue
        d = ex[ex.name == ox.name].set_index("replicate").loc[reps]
        z = np.arctanh(np.clip(d.r.to_numpy(float), -0.999999, 0.999999))
        z = z[np.isfinite(z)]
        if ox.r is not None and len(z) > 1:
            # Fisher z: the published r against the model's replicate-trial distribution at the trial's n (the
            # replicates carry the sampling error), plus the Monte-Carlo error of its mean
            m, s_rep = float(z.mean()), float(z.std(ddof=1))
            s = max(math.sqrt(s_rep ** 2 + s_rep ** 2 / len(z)), 1e-3)
            ll = float(stats.norm.logpdf(math.atanh(ox.r), m, s))
            terms.append({"what": f"{ox.name}: r {ox.r:+.2f}", "loglik": ll,
                          "model": f"r {math.tanh(m):+.2f} (z sd {s:.2f})"})
        elif ox.significant is not None:
            sig = d.p_value.to_numpy(float) < 0.05
            signed = sig & ((d.r.to_numpy(float) < 0) if ox.direction == "negative" else (d.r.to_numpy(float) > 0))
            # "not associated": not significant in either direction
            share = float(signed.mean()) if ox.significant else float((~sig).mean())
            share = min(max(share, 0.5 / (len(d) + 1)), 1 - 0.5 / (len(d) + 1))
            verdict = f"significant {ox.direction}" if ox.significant else "not significant"
            terms.append({"what": f"{ox.name}: {verdict}", "loglik": math.log(share), "model": f"share {share:.2f}"})
    return terms


@dataclass
class HypothesisScore:
    label: str
    hypothesis: str
    opioid_source: str | None
    per_trial: dict          # trial -> {"loglik": float, "terms": [...]}
    total: float
    interval: tuple[float, float]


def score_hypotheses(trials: Sequence[TrialConfig], variants=None, replicates: int = 40, seed: int = 1,
                     include_unverified: bool = False, bootstrap: int = 200,
                     progress: Callable[[int, int], None] | None = None, executor=None,
                     uncertainty: bool = False) -> list[HypothesisScore]:
    if not trials:
        raise ValueError("no trials to score against")
    variants = default_variants() if variants is None else tuple(variants)
    usable = [t for t in trials if t.observed is not None]
    if not usable:
        raise ValueError("none of the trials has observed (published) results to score against")
    rng = np.random.default_rng(seed)
    boot_idx = [rng.integers(0, replicates, replicates) for _ in range(bootstrap)]
    scores = []
    step, steps = 0, len(variants) * len(usable)
    if progress:
        progress(0, steps)
    for hyp, src in variants:
        per_trial, total, boot = {}, 0.0, np.zeros(bootstrap)
        for cfg in usable:
            # progress moves per trial run here, so work units stay large (fewest per-unit costs)
            res = run_trial(cfg, hyp, src, replicates=replicates, seed=seed, keep_timecourses=False,
                            executor=executor, uncertainty=uncertainty, chunk_size=256)
            terms = _loglik_terms(res, include_unverified)
            ll = float(sum(t["loglik"] for t in terms))
            per_trial[cfg.name] = {"loglik": ll, "terms": terms, "evidence": cfg.evidence}
            total += ll
            for b, idx in enumerate(boot_idx):
                boot[b] += sum(t["loglik"] for t in _loglik_terms(res, include_unverified, idx))
            step += 1
            if progress:
                progress(step, steps)
        label = hyp if src is None else f"{hyp}[{src}]"
        lo, hi = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))) if bootstrap else (total, total)
        scores.append(HypothesisScore(label, hyp, src, per_trial, total, (lo, hi)))
    return sorted(scores, key=lambda s: -s.total)


EVIDENCE_GROUPS = ("ketamine", "compound", "exposure")


def by_evidence(score: HypothesisScore) -> dict[str, float]:
    """A hypothesis's log-likelihood by body of evidence: the ketamine trials, the other compounds' trials and the
    exposure-response analyses (their sum is the total)."""
    out = {g: 0.0 for g in EVIDENCE_GROUPS}
    for v in score.per_trial.values():
        g = v.get("evidence", "ketamine")
        out[g] = out.get(g, 0.0) + v["loglik"]
    return {g: round(x, 4) for g, x in out.items()}


def scores_to_json(scores: list[HypothesisScore], trials: Sequence[TrialConfig], replicates: int, seed: int) -> dict:
    best = scores[0].total
    reference = next((s.total for s in scores if s.label == REFERENCE), None)
    return {
        "trials": [t.name for t in trials if t.observed is not None],
        "replicates": replicates, "seed": seed,
        "method": __doc__.strip().split("\n\n")[1] if __doc__ else "",
        "ranking": [{"rank": i + 1, "hypothesis": s.label, "loglik": round(s.total, 4),
                     "loglik_interval95": [round(s.interval[0], 4), round(s.interval[1], 4)],
                     "delta_loglik": round(s.total - best, 4),
                     "delta_loglik_vs_null": None if reference is None else round(s.total - reference, 4),
                     "relative_likelihood": float(f"{math.exp(s.total - best):.6g}"),
                     "by_evidence": by_evidence(s),
                     "per_trial": {k: {"loglik": round(v["loglik"], 4), "evidence": v.get("evidence", "ketamine"),
                                       "terms": [{**t, "loglik": round(t["loglik"], 4)} for t in v["terms"]]}
                                   for k, v in s.per_trial.items()}}
                    for i, s in enumerate(scores)],
        "reference": REFERENCE if reference is not None else None,
        "evidence_groups": {g: [t.name for t in trials if t.observed is not None and t.evidence == g]
                            for g in EVIDENCE_GROUPS},
        "ranking_without_compound_trials": [
            {"hypothesis": s.label, "loglik": round(sum(v["loglik"] for v in s.per_trial.values()
                                                        if v.get("evidence", "ketamine") == "ketamine"), 4)}
            for s in sorted(scores, key=lambda s: -sum(v["loglik"] for v in s.per_trial.values()
                                                       if v.get("evidence", "ketamine") == "ketamine"))],
        "note": "Higher log-likelihood = the published results are more probable under that hypothesis. "
                "Every hypothesis is calibrated to the same single-infusion anchor, so the ranking comes from "
                "the trials that discriminate (naltrexone, dose, route, timing). 'null' (expectation and "
                "background treatment alone) is the reference: delta_loglik_vs_null is how much better (> 0) or "
                "worse a hypothesis explains the published results than placebo response alone.",
    }


def power_analysis(cfg: TrialConfig, sizes: Sequence[int], hypothesis_a, hypothesis_b, comparison: int = 0,
                   replicates: int = 40, seed: int = 1, progress=None) -> list[dict]:
    """Probability that the trial's analysis tells hypothesis A from B, as a function of n.

    Decision rule: the comparison is significant (p < 0.05, in the direction A predicts) -> favour A;
    otherwise favour B. P(correct) = (P(sig | A) + P(not sig | B)) / 2."""
    if not cfg.comparisons:
        raise ValueError(f"trial {cfg.name} has no comparison to power")
    if not (0 <= comparison < len(cfg.comparisons)):
        raise ValueError(f"comparison index {comparison} out of range (trial has {len(cfg.comparisons)})")
    comp = cfg.comparisons[comparison]
    rows = []
    step, steps = 0, 2 * len(sizes)
    if progress:
        progress(0, steps)
    for n in sizes:
        scaled = with_size(cfg, n)
        shares = {}
        for label, (hyp, src) in (("a", hypothesis_a), ("b", hypothesis_b)):
            res = run_trial(scaled, hyp, src, replicates=replicates, seed=seed, keep_timecourses=False,
                            chunk_size=256)
            d = res.comparisons_per_replicate
            d = d[(d.endpoint == comp.endpoint) & (d.arm_a == comp.arms[0]) & (d.arm_b == comp.arms[1])]
            shares[label] = d
            step += 1
            if progress:
                progress(step, steps)
        direction = "negative" if shares["a"].difference.mean() < 0 else "positive"

        def sig(d):
            s = d.p_value < 0.05
            return float((s & ((d.difference < 0) if direction == "negative" else (d.difference > 0))).mean())

        pa, pb = sig(shares["a"]), sig(shares["b"])
        rows.append({"n": n, "power_a": pa, "power_b": pb, "p_correct": 0.5 * (pa + 1 - pb),
                     "difference_a": float(shares["a"].difference.mean()),
                     "difference_b": float(shares["b"].difference.mean())})
    return rows


def with_size(cfg: TrialConfig, n: int) -> TrialConfig:
    """The same design with n subjects per arm (parallel arms keep their allocation ratio)."""
    if n < 2:
        raise ValueError("power analysis needs at least 2 subjects per arm")
    arms = {}
    base = cfg.n_per_arm
    for name, arm in cfg.arms.items():
        if cfg.design == "parallel" and arm.n is not None:
            arms[name] = arm.model_copy(update={"n": max(2, round(n * arm.n / base))})
        else:
            arms[name] = arm
    return cfg.model_copy(update={"n_per_arm": n, "arms": arms, "observed": None})
