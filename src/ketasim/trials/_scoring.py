"""Hypothesis scoring and power analysis.

Scoring separates what bears on mechanism from what tests the layers every hypothesis shares. For each
hypothesis (and opioid source), replicate trials are simulated at each trial's own sample size (the same
subjects and rating errors under every hypothesis), and each published number becomes one term:
- contrast terms (they rank the hypotheses): a between-arm difference (normal around the model's mean
  difference, with the published standard error, or the spread of replicate-trial differences, plus the
  model-discrepancy SD for contrasts); a "significant / not significant" verdict (the share of replicate trials
  reaching it, mixed with an even chance at the discrepancy weight); responder or remitter counts in two arms
  of one endpoint (the counts given their total: Fisher's noncentral hypergeometric distribution at the model's
  odds ratio, the log odds ratio widened by its discrepancy SD); mean changes in two arms without a published
  difference (their difference, as above); a ratio endpoint (normal on the published ratio);
- level terms (a check of the shared layers, reported apart): each arm's counts (beta-binomial around the
  model's rate, intra-class correlation stated), mean changes and peaks (normal, the spread of replicate-trial
  means plus the level discrepancy SD).
Arms are compared with the first arm of the file (in file order) that has the same kind of number.
Posterior probabilities use the contrast log-likelihood with equal priors unless priors are given; their
Monte-Carlo interval comes from bootstrapping the replicate trials. Unverified published numbers are left out
unless asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats
from scipy.interpolate import PchipInterpolator

from ._design import TrialConfig
from ._cache import cached_run_trial
from ._run import TrialResult, run_trial

# The built-in hypotheses as scored by default: every opioid source, and `null` (expectation and background
# treatment alone), the reference that tells how much a drug hypothesis adds to what placebo predicts.
DEFAULT_VARIANTS = (("opioid", "hnk_mor"), ("opioid", "ketamine_mor"), ("opioid", "endogenous"),
                    ("glutamate", None), ("hnk_ampa", None), ("mixed", "hnk_mor"), ("null", None))
REFERENCE = "null"
SHARE_TEXT = "share of the antidepressant effect carried by the opioid pathway"
_CHI2_95 = float(stats.chi2.ppf(0.95, 1))


def default_variants() -> tuple[tuple[str, str | None], ...]:
    """DEFAULT_VARIANTS plus every other registered hypothesis (plug-ins), each with its default options."""
    from ketasim.mechanisms import available

    known = {h for h, _ in DEFAULT_VARIANTS}
    return DEFAULT_VARIANTS + tuple((key, None) for key in available() if key not in known)


@dataclass(frozen=True)
class Discrepancy:
    """How far a published number may lie from the model for reasons no hypothesis is about (trial populations,
    raters, sites): stated, not estimated. Sizes in MADRS points (HAM-D17 scaled by 0.75 HAM-D17 points per
    MADRS point) and CADSS points.

    level_sd: an arm's mean (between-trial spread of arm-level changes, e.g. placebo responses, of this order);
    contrast_sd: a between-arm difference (trial-level shifts cancel in a contrast, so it is smaller);
    count_icc: intra-class correlation of the beta-binomial for an arm's counts (0.05: a rate of 0.5 varies by
    about 0.11 between trials beyond binomial error);
    log_odds_ratio_sd: the same for a between-arm odds ratio of counts;
    verdict_weight: a published significance verdict is taken as the model's share of replicate trials reaching
    it, mixed with an even chance at this weight (the verdict of one trial is never certain under any model);
    ratio_sd: a ratio of two arms' mean changes (a share of an effect kept);
    log_hazard_ratio_sd: the log of a hazard ratio of relapse;
    fisher_z_sd: an exposure-response rank correlation on Fisher's z scale."""

    level_sd_madrs: float = 4.0
    contrast_sd_madrs: float = 1.5
    level_sd_cadss: float = 3.0
    contrast_sd_cadss: float = 1.0
    count_icc: float = 0.05
    log_odds_ratio_sd: float = 0.5
    verdict_weight: float = 0.1
    ratio_sd: float = 0.1
    log_hazard_ratio_sd: float = 0.2
    fisher_z_sd: float = 0.1
    hamd_per_madrs: float = 0.75

    def sd(self, scale: str, kind: str) -> float:
        if scale == "cadss":
            return self.level_sd_cadss if kind == "level" else self.contrast_sd_cadss
        base = self.level_sd_madrs if kind == "level" else self.contrast_sd_madrs
        return base * (self.hamd_per_madrs if scale == "hamd17" else 1.0)


DEFAULT_DISCREPANCY = Discrepancy()
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(24)
_GH_W = _GH_W / math.sqrt(2 * math.pi)


class _Replicates:
    """A trial result's per-replicate numbers as arrays (fast to resample for the bootstrap)."""

    def __init__(self, res: TrialResult):
        self.cfg = res.config
        self.replicates = res.replicates
        per = res.per_replicate.sort_values(["arm", "endpoint", "replicate"])
        self.arm_ep = {}
        for (arm, ep), d in per.groupby(["arm", "endpoint"], sort=False):
            self.arm_ep[(arm, ep)] = {c: d[c].to_numpy(float) for c in ("mean", "responders", "remitters", "n")}
            self.arm_ep[(arm, ep)]["relapses"] = (d["events"].to_numpy(float) if "events" in d
                                                  else np.zeros(len(d)))
        comps = res.comparisons_per_replicate.sort_values(["endpoint", "arm_a", "arm_b", "replicate"])
        self.comp = {}
        for (ep, a, b), d in comps.groupby(["endpoint", "arm_a", "arm_b"], sort=False):
            self.comp[(ep, a, b)] = {"difference": d.difference.to_numpy(float), "p": d.p_value.to_numpy(float),
                                     "ratio": d.ratio.to_numpy(float),
                                     "hazard_ratio": (d.hazard_ratio.to_numpy(float) if "hazard_ratio" in d
                                                      else np.full(len(d), np.nan))}
        self.exposure = {}
        ex = getattr(res, "exposure_per_replicate", None)
        if ex is not None and len(ex):
            for name, d in ex.sort_values(["name", "replicate"]).groupby("name", sort=False):
                self.exposure[name] = {"r": d.r.to_numpy(float), "p": d.p_value.to_numpy(float)}

    def rate(self, arm: str, ep: str, key: str, idx) -> float:
        """The model's rate pooled over the replicate trials `idx` (their own sizes: randomised-withdrawal arms
        are formed at randomisation)."""
        d = self.arm_ep[(arm, ep)]
        k, n = float(d[key][idx].sum()), float(d["n"][idx].sum())
        if n <= 0:
            return 0.5
        eps = 0.5 / (n + 1)
        return min(max(k / n, eps), 1 - eps)


def _bounded(share: float, n: int) -> float:
    return min(max(share, 0.5 / (n + 1)), 1 - 0.5 / (n + 1))


def _normal(x, m, s):
    return float(stats.norm.logpdf(x, m, max(s, 1e-3)))


def _term(cfg, endpoint, kind, what, ll, model):
    return {"trial": cfg.name, "endpoint": endpoint, "kind": kind, "what": what, "loglik": ll, "model": model}


def _fisher_conditional(k_a, n_a, k_b, n_b, log_or, tau) -> float:
    """log P(k_a | k_a + k_b) of two binomial counts at odds ratio exp(log_or), log OR ~ N(log_or, tau^2)."""
    total = k_a + k_b
    if total == 0 or total == n_a + n_b:
        return 0.0
    grid = log_or + tau * _GH_X if tau > 0 else np.array([log_or])
    w = _GH_W if tau > 0 else np.array([1.0])
    pmf = stats.nchypergeom_fisher.pmf(k_a, n_a + n_b, n_a, total, np.exp(np.clip(grid, -30, 30)))
    return float(math.log(max(float(np.dot(w, pmf)), 1e-300)))


def _share_matching_arrays(diff, p, significant: bool, direction: str) -> float:
    sig = p < 0.05
    signed = sig & ((diff < 0) if direction == "negative" else (diff > 0))
    return float(signed.mean()) if significant else float((~signed).mean())


def _loglik_terms(res: TrialResult | _Replicates, include_unverified: bool, idx: np.ndarray | None = None,
                  discrepancy: Discrepancy = DEFAULT_DISCREPANCY) -> list[dict]:
    """Contrast and level log-likelihood terms of the published outcomes; `idx` resamples replicates."""
    rep = res if isinstance(res, _Replicates) else _Replicates(res)
    cfg = rep.cfg
    obs = cfg.observed
    if obs is None:
        return []
    idx = np.arange(rep.replicates) if idx is None else idx
    disc = discrepancy
    terms: list[dict] = []
    use = (lambda o: o.verified or include_unverified)
    # ---- levels: every arm's own numbers
    for arm, oa in obs.arms.items():
        for ep_name, oe in oa.endpoints.items():
            if not use(oe):
                continue
            scale = cfg.endpoints[ep_name].scale if ep_name in cfg.endpoints else "madrs"
            for key in ("responders", "remitters", "relapses"):
                k = getattr(oe, key)
                if k is None:
                    continue
                rate = rep.rate(arm, ep_name, key, idx)
                phi = (1 - disc.count_icc) / disc.count_icc
                ll = float(stats.betabinom.logpmf(k, oa.n, rate * phi, (1 - rate) * phi))
                terms.append(_term(cfg, ep_name, "level", f"{arm} {key} {k}/{oa.n}", ll, f"rate {rate:.3f}"))
            for key in ("mean_change", "mean_peak"):
                v = getattr(oe, key)
                if v is None:
                    continue
                means = rep.arm_ep[(arm, ep_name)]["mean"][idx]
                m, s_rep = float(means.mean()), float(means.std(ddof=1)) if len(means) > 1 else 0.0
                s = math.hypot(s_rep, disc.sd(scale, "level"))
                terms.append(_term(cfg, ep_name, "level", f"{arm} {key.replace('_', ' ')} {v}",
                                   _normal(v, m, s), f"{m:.2f} ± {s:.2f}"))
    # ---- contrasts: published comparisons
    published_diff = set()
    for oc in obs.comparisons:
        if not use(oc):
            continue
        d = rep.comp.get((oc.endpoint, *oc.arms))
        if d is None:
            continue
        scale = cfg.endpoints[oc.endpoint].scale if oc.endpoint in cfg.endpoints else "madrs"
        diff, p = d["difference"][idx], d["p"][idx]
        label = f"{oc.arms[0]} - {oc.arms[1]}"
        if oc.difference is not None:
            published_diff.add((oc.endpoint, frozenset(oc.arms)))
            m, s_rep = float(diff.mean()), float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
            if oc.ci95 is not None:
                se = (oc.ci95[1] - oc.ci95[0]) / (2 * 1.959964)
                s = math.sqrt(se ** 2 + s_rep ** 2 / len(diff) + disc.sd(scale, "contrast") ** 2)
            else:
                s = math.hypot(s_rep, disc.sd(scale, "contrast"))
            terms.append(_term(cfg, oc.endpoint, "contrast", f"{label} difference {oc.difference}",
                               _normal(oc.difference, m, s), f"{m:.2f} ± {s:.2f}"))
        elif oc.hazard_ratio is not None:
            log_hr = np.log(d["hazard_ratio"][idx])
            log_hr = log_hr[np.isfinite(log_hr)]
            # no replicate trial with an estimable hazard ratio (no relapses): the model gives no difference
            m, s_rep = ((float(log_hr.mean()), float(log_hr.std(ddof=1)) if len(log_hr) > 1 else 0.0)
                        if len(log_hr) else (0.0, 0.0))
            if oc.ci95 is not None:
                se = (math.log(oc.ci95[1]) - math.log(oc.ci95[0])) / (2 * 1.959964)
                s = math.sqrt(se ** 2 + s_rep ** 2 / max(len(log_hr), 1) + disc.log_hazard_ratio_sd ** 2)
            else:
                s = math.hypot(s_rep, disc.log_hazard_ratio_sd)
            terms.append(_term(cfg, oc.endpoint, "contrast", f"{oc.arms[0]} vs {oc.arms[1]} hazard ratio "
                               f"{oc.hazard_ratio}", _normal(math.log(oc.hazard_ratio), m, s),
                               f"HR {math.exp(m):.2f}" + ("" if len(log_hr) else " (no relapses: not estimable)")))
        elif oc.ratio is not None:
            ratio = d["ratio"][idx]
            ratio = ratio[np.isfinite(ratio)]
            if len(ratio) == 0:
                continue
            m, s_rep = float(ratio.mean()), float(ratio.std(ddof=1)) if len(ratio) > 1 else 0.0
            if oc.ci95 is not None:
                se = (oc.ci95[1] - oc.ci95[0]) / (2 * 1.959964)
                s = math.sqrt(se ** 2 + s_rep ** 2 / len(ratio) + disc.ratio_sd ** 2)
            else:
                s = math.hypot(s_rep, disc.ratio_sd)
            terms.append(_term(cfg, oc.endpoint, "contrast", f"{oc.arms[0]} / {oc.arms[1]} ratio {oc.ratio}",
                               _normal(oc.ratio, m, s), f"{m:.2f} ± {s:.2f}"))
        if oc.difference is None and oc.ratio is None and oc.hazard_ratio is None and oc.significant is not None:
            share = _bounded(_share_matching_arrays(diff, p, oc.significant, oc.direction), len(diff))
            prob = (1 - disc.verdict_weight) * share + disc.verdict_weight * 0.5
            verdict = "significant" if oc.significant else "not significant"
            terms.append(_term(cfg, oc.endpoint, "contrast", f"{label}: {verdict}", math.log(prob),
                               f"share {share:.2f}"))
    # ---- contrasts: exposure-response analyses (how the effect goes with a level, within an arm)
    for ox in obs.exposure_response:
        if not use(ox) or ox.name not in rep.exposure:
            continue
        r_rep, p_rep = rep.exposure[ox.name]["r"][idx], rep.exposure[ox.name]["p"][idx]
        z = np.arctanh(np.clip(r_rep, -0.999999, 0.999999))
        z = z[np.isfinite(z)]
        if ox.r is not None and len(z) > 1:
            # Fisher z: the published r against the model's replicate-trial distribution at the trial's n (the
            # replicates carry the sampling error), plus the Monte-Carlo error of its mean and the discrepancy
            m, s_rep = float(z.mean()), float(z.std(ddof=1))
            s = math.sqrt(s_rep ** 2 + s_rep ** 2 / len(z) + disc.fisher_z_sd ** 2)
            terms.append(_term(cfg, ox.name, "contrast", f"{ox.name}: r {ox.r:+.2f}",
                               _normal(math.atanh(ox.r), m, s), f"r {math.tanh(m):+.2f} (z sd {s:.2f})"))
        elif ox.significant is not None:
            sig = p_rep < 0.05
            signed = sig & ((r_rep < 0) if ox.direction == "negative" else (r_rep > 0))
            # "not associated": not significant in either direction
            share = _bounded(float(signed.mean()) if ox.significant else float((~sig).mean()), len(r_rep))
            prob = (1 - disc.verdict_weight) * share + disc.verdict_weight * 0.5
            verdict = f"significant {ox.direction}" if ox.significant else "not significant"
            terms.append(_term(cfg, ox.name, "contrast", f"{ox.name}: {verdict}", math.log(prob),
                               f"share {share:.2f}"))
    # ---- contrasts: per-arm numbers of one endpoint in two arms, against the first arm that has them
    for ep_name in [*cfg.endpoints, *(["relapse"] if cfg.design == "randomised_withdrawal" else [])]:
        scale = cfg.endpoints[ep_name].scale if ep_name in cfg.endpoints else "madrs"
        for key in ("responders", "remitters", "relapses", "mean_change", "mean_peak"):
            arms = [a for a, oa in obs.arms.items() if ep_name in oa.endpoints
                    and getattr(oa.endpoints[ep_name], key) is not None and use(oa.endpoints[ep_name])]
            if len(arms) < 2:
                continue
            ref = arms[0]
            for arm in arms[1:]:
                oa, ob = obs.arms[arm], obs.arms[ref]
                va, vb = getattr(oa.endpoints[ep_name], key), getattr(ob.endpoints[ep_name], key)
                if key in ("responders", "remitters", "relapses"):
                    pa, pb = rep.rate(arm, ep_name, key, idx), rep.rate(ref, ep_name, key, idx)
                    log_or = math.log(pa / (1 - pa)) - math.log(pb / (1 - pb))
                    ll = _fisher_conditional(int(va), oa.n, int(vb), ob.n, log_or, disc.log_odds_ratio_sd)
                    if key == "relapses" and any(o.hazard_ratio is not None and use(o) and o.endpoint == ep_name
                                                 for o in obs.comparisons):
                        continue   # the published hazard ratio carries this contrast
                    terms.append(_term(cfg, ep_name, "contrast", f"{arm} vs {ref} {key} {va}/{oa.n} vs {vb}/{ob.n}",
                                       ll, f"odds ratio {math.exp(log_or):.2f}"))
                else:
                    if (ep_name, frozenset((arm, ref))) in published_diff:
                        continue   # the published difference already carries this contrast
                    diff = rep.arm_ep[(arm, ep_name)]["mean"][idx] - rep.arm_ep[(ref, ep_name)]["mean"][idx]
                    m, s_rep = float(diff.mean()), float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
                    s = math.hypot(s_rep, disc.sd(scale, "contrast"))
                    terms.append(_term(cfg, ep_name, "contrast", f"{arm} - {ref} {key.replace('_', ' ')} "
                                       f"{va - vb:+.2f}", _normal(va - vb, m, s), f"{m:.2f} ± {s:.2f}"))
    return terms


def _sum(terms, kind):
    return float(sum(t["loglik"] for t in terms if t["kind"] == kind))


@dataclass
class HypothesisScore:
    label: str
    hypothesis: str
    opioid_source: str | None
    per_trial: dict          # trial -> {"contrast", "level", "terms": [...]}
    total: float             # contrast log-likelihood: the ranking score
    interval: tuple[float, float]
    level: float = 0.0       # level log-likelihood: the check of the shared layers
    level_interval: tuple[float, float] = (0.0, 0.0)
    boot: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)   # contrast totals per bootstrap


@dataclass
class ShareProfile:
    """Profile log-likelihood of the `mixed` hypothesis's opioid weight (the rest glutamate)."""

    source: str
    weights: list[float]
    loglik: list[float]
    estimate: float | None
    interval: tuple[float, float] | None
    mc_interval: tuple[float, float] | None
    trials: list[str]

    def to_json(self) -> dict:
        r = (lambda x: None if x is None else round(float(x), 4))
        return {"what": SHARE_TEXT, "hypothesis": f"mixed[{self.source}]",
                "parameter": "mixed.w_opioid (mixed.w_glutamate = 1 - it, mixed.w_hnk_ampa = 0)",
                "estimate": r(self.estimate),
                "interval95": None if self.interval is None else [r(x) for x in self.interval],
                "interval_method": "profile likelihood: weights within 3.84/2 log-likelihood units of the best "
                                   "(chi-square, 1 degree of freedom), on a smooth interpolation of the grid",
                "monte_carlo_interval95": None if self.mc_interval is None else [r(x) for x in self.mc_interval],
                "grid": [{"w_opioid": r(w), "loglik": r(ll)} for w, ll in zip(self.weights, self.loglik)],
                "trials": self.trials,
                "note": None if self.estimate is not None else "no trial given has a contrast that bears on "
                        "the opioid weight"}


def _variant_label(hyp, src):
    return hyp if src is None else f"{hyp}[{src}]"


def _interval(values) -> tuple[float, float]:
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))


def score_hypotheses(trials: Sequence[TrialConfig], variants=None, replicates: int = 40, seed: int = 1,
                     include_unverified: bool = False, bootstrap: int = 200,
                     progress: Callable[[int, int], None] | None = None, executor=None,
                     uncertainty: bool = False, discrepancy: Discrepancy = DEFAULT_DISCREPANCY
                     ) -> list[HypothesisScore]:
    """Every hypothesis scored against the trials' published results, best contrast log-likelihood first."""
    if not trials:
        raise ValueError("no trials to score against")
    variants = default_variants() if variants is None else tuple(variants)
    usable = [t for t in trials if t.observed is not None]
    if not usable:
        raise ValueError("none of the trials has observed (published) results to score against")
    boot_idx = _bootstrap_indices(seed, replicates, bootstrap)
    scores = []
    step, steps = 0, len(variants) * len(usable)
    if progress:
        progress(0, steps)
    for hyp, src in variants:
        per_trial = {}
        boot_c, boot_l = np.zeros(len(boot_idx)), np.zeros(len(boot_idx))
        for cfg in usable:
            # progress moves per trial run here, so work units stay large (fewest per-unit costs)
            # answered from the trial cache when this exact run was stored before (a repeated call with one
            # trial more reruns only that trial)
            res = cached_run_trial(cfg, hyp, src, replicates=replicates, seed=seed, keep_timecourses=False,
                                   executor=executor, uncertainty=uncertainty, chunk_size=256)
            rep = _Replicates(res)
            terms = _loglik_terms(rep, include_unverified, discrepancy=discrepancy)
            per_trial[cfg.name] = {"contrast": _sum(terms, "contrast"), "level": _sum(terms, "level"),
                                   "terms": terms, "evidence": cfg.evidence}
            for b, idx in enumerate(boot_idx):
                bt = _loglik_terms(rep, include_unverified, idx, discrepancy)
                boot_c[b] += _sum(bt, "contrast")
                boot_l[b] += _sum(bt, "level")
            step += 1
            if progress:
                progress(step, steps)
        total = sum(v["contrast"] for v in per_trial.values())
        level = sum(v["level"] for v in per_trial.values())
        scores.append(HypothesisScore(_variant_label(hyp, src), hyp, src, per_trial, total,
                                      _interval(boot_c) if len(boot_idx) else (total, total), level,
                                      _interval(boot_l) if len(boot_idx) else (level, level), boot_c))
    return sorted(scores, key=lambda s: -s.total)


def _bootstrap_indices(seed: int, replicates: int, bootstrap: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, replicates, replicates) for _ in range(bootstrap)]


def posteriors(scores: Sequence[HypothesisScore], priors: Mapping[str, float] | None = None) -> dict:
    """label -> (posterior probability, 95 % Monte-Carlo interval) from the contrast log-likelihoods."""
    priors = dict(priors or {})
    unknown = [k for k in priors if k not in {s.label for s in scores}]
    if unknown:
        raise ValueError(f"prior given for {unknown[0]!r}, which is not among the hypotheses scored "
                         f"({', '.join(s.label for s in scores)})")
    w = np.array([priors.get(s.label, 1.0) for s in scores], float)
    if np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError("priors must be non-negative numbers with a positive sum")
    w = w / w.sum()

    def post(ll):
        ll = np.asarray(ll, float)
        with np.errstate(divide="ignore"):
            z = ll + np.log(w)
        z = z - z.max()
        e = np.exp(z)
        return e / e.sum()

    point = post([s.total for s in scores])
    out = {s.label: {"posterior": float(point[i]), "prior": float(w[i]), "interval95": None}
           for i, s in enumerate(scores)}
    nboot = min((len(s.boot) for s in scores), default=0)
    if nboot:
        boots = np.array([post([s.boot[b] for s in scores]) for b in range(nboot)])
        for i, s in enumerate(scores):
            out[s.label]["interval95"] = _interval(boots[:, i])
    return out


def _has_contrast(cfg: TrialConfig, include_unverified: bool) -> bool:
    """Whether the trial's published results include a between-arm contrast (only those inform the share)."""
    obs = cfg.observed
    if obs is None:
        return False
    use = (lambda o: o.verified or include_unverified)
    if any(use(c) and (c.difference is not None or c.ratio is not None or c.hazard_ratio is not None
                       or c.significant is not None) for c in obs.comparisons):
        return True
    if any(use(x) and (x.r is not None or x.significant is not None) for x in obs.exposure_response):
        return True
    for ep in [*cfg.endpoints, "relapse"]:
        for key in ("responders", "remitters", "relapses", "mean_change", "mean_peak"):
            if sum(1 for oa in obs.arms.values() if ep in oa.endpoints and use(oa.endpoints[ep])
                   and getattr(oa.endpoints[ep], key) is not None) >= 2:
                return True
    return False


def opioid_share_profile(trials: Sequence[TrialConfig], points: int = 11, source: str = "hnk_mor",
                         replicates: int = 40, seed: int = 1, include_unverified: bool = False,
                         bootstrap: int = 200, progress: Callable[[int, int], None] | None = None, executor=None,
                         discrepancy: Discrepancy = DEFAULT_DISCREPANCY, parameters=None) -> ShareProfile:
    """The opioid weight of `mixed` (glutamate the rest) that best explains the trials' contrasts, with its 95 %
    profile-likelihood interval and the Monte-Carlo interval of the estimate (bootstrap of replicate trials).

    Every pathway of `mixed` is calibrated to the same single-infusion anchor and the weights are normalised, so
    the weight is the share of that anchor effect carried by the opioid pathway."""
    from ketasim.parameters import default_parameters

    if points < 3:
        raise ValueError(f"the opioid share needs at least 3 grid points, got {points}")
    informative = [t for t in trials if _has_contrast(t, include_unverified)]
    weights = [float(w) for w in np.linspace(0.0, 1.0, points)]
    if not informative:
        return ShareProfile(source, weights, [], None, None, None, [])
    base = parameters or default_parameters()
    boot_idx = _bootstrap_indices(seed, replicates, bootstrap)
    ll = np.zeros(points)
    boot = np.zeros((len(boot_idx), points))
    steps = points * len(informative)
    if progress:
        progress(0, steps)
    for i, w in enumerate(weights):
        p = base.replace_many({"mixed.w_opioid": w, "mixed.w_glutamate": 1.0 - w, "mixed.w_hnk_ampa": 0.0})
        for j, cfg in enumerate(informative):
            res = cached_run_trial(cfg, "mixed", source, replicates=replicates, seed=seed, parameters=p,
                                   keep_timecourses=False, executor=executor, chunk_size=256)
            rep = _Replicates(res)
            ll[i] += _sum(_loglik_terms(rep, include_unverified, discrepancy=discrepancy), "contrast")
            for b, idx in enumerate(boot_idx):
                boot[b, i] += _sum(_loglik_terms(rep, include_unverified, idx, discrepancy), "contrast")
            if progress:
                progress(i * len(informative) + j + 1, steps)
    est, interval = _profile_estimate(weights, ll, with_interval=True)
    mc = _interval([_profile_estimate(weights, row)[0] for row in boot]) if len(boot_idx) else None
    return ShareProfile(source, weights, [float(x) for x in ll], est, interval, mc, [t.name for t in informative])


def _profile_estimate(weights, ll, with_interval: bool = False):
    """Maximum of a smooth (monotone-piecewise cubic) interpolation of the profile, and the 95 % interval."""
    fine = np.linspace(0.0, 1.0, 1001)
    curve = PchipInterpolator(weights, ll)(fine)
    best = int(np.argmax(curve))
    if not with_interval:
        return float(fine[best]), None
    inside = curve >= curve[best] - _CHI2_95 / 2
    lo = best
    while lo > 0 and inside[lo - 1]:
        lo -= 1
    hi = best
    while hi < len(fine) - 1 and inside[hi + 1]:
        hi += 1
    return float(fine[best]), (float(fine[lo]), float(fine[hi]))


EVIDENCE_GROUPS = ("ketamine", "compound", "exposure")


def by_evidence(score: HypothesisScore) -> dict[str, float]:
    """A hypothesis's contrast log-likelihood by body of evidence: the ketamine trials, the other compounds' trials
    and the exposure-response analyses (their sum is the ranking score)."""
    out = {g: 0.0 for g in EVIDENCE_GROUPS}
    for v in score.per_trial.values():
        g = v.get("evidence", "ketamine")
        out[g] = out.get(g, 0.0) + v["contrast"]
    return {g: round(x, 4) for g, x in out.items()}


def _r4(x):
    return None if x is None else round(float(x), 4)


def breakdown(scores: Sequence[HypothesisScore]) -> list[dict]:
    """Per trial and endpoint, each hypothesis's contrast and level log-likelihood and its distance from the best
    hypothesis there (0 for the best, negative for the others)."""
    rows = {}
    for s in scores:
        for trial, v in s.per_trial.items():
            for t in v["terms"]:
                key = (trial, t["endpoint"], t["kind"])
                rows.setdefault(key, {}).setdefault(s.label, 0.0)
                rows[key][s.label] += t["loglik"]
    out = []
    for (trial, ep, kind), by in rows.items():
        best = max(by.values())
        out.append({"trial": trial, "endpoint": ep, "kind": kind,
                    "loglik": {k: _r4(v) for k, v in by.items()},
                    "delta_vs_best": {k: _r4(v - best) for k, v in by.items()}})
    order = {"contrast": 0, "level": 1}
    return sorted(out, key=lambda r: (order[r["kind"]], r["trial"], r["endpoint"]))


def scores_to_json(scores: list[HypothesisScore], trials: Sequence[TrialConfig], replicates: int, seed: int,
                   priors: Mapping[str, float] | None = None, share: ShareProfile | None = None,
                   discrepancy: Discrepancy = DEFAULT_DISCREPANCY) -> dict:
    best = scores[0].total
    best_level = max(s.level for s in scores)
    reference = next((s for s in scores if s.label == REFERENCE), None)
    post = posteriors(scores, priors)
    ranking = []
    for i, s in enumerate(scores):
        ref_b = reference.boot if reference is not None else None
        ranking.append({
            "rank": i + 1, "hypothesis": s.label,
            "loglik": _r4(s.total), "loglik_interval95": [_r4(x) for x in s.interval],
            "delta_loglik": _r4(s.total - best),
            "delta_loglik_vs_null": None if reference is None else _r4(s.total - reference.total),
            "delta_loglik_vs_null_interval95": None if ref_b is None or not len(ref_b) else
            [_r4(x) for x in _interval(s.boot - ref_b)],
            "posterior": float(f"{post[s.label]['posterior']:.6g}"),
            "posterior_interval95": None if post[s.label]["interval95"] is None else
            [float(f"{x:.6g}") for x in post[s.label]["interval95"]],
            "prior": float(f"{post[s.label]['prior']:.6g}"),
            "relative_likelihood": float(f"{math.exp(s.total - best):.6g}"),
            "level_loglik": _r4(s.level), "level_loglik_interval95": [_r4(x) for x in s.level_interval],
            "level_delta_loglik": _r4(s.level - best_level),
            "by_evidence": by_evidence(s),
            "per_trial": {k: {"contrast": _r4(v["contrast"]), "level": _r4(v["level"]),
                              "evidence": v.get("evidence", "ketamine"),
                              "terms": [{**t, "loglik": _r4(t["loglik"])} for t in v["terms"]]}
                          for k, v in s.per_trial.items()},
        })
    return {
        "trials": [t.name for t in trials if t.observed is not None],
        "replicates": replicates, "seed": seed,
        "method": __doc__.strip().split("\n\n")[1] if __doc__ else "",
        "score": "contrast log-likelihood (between-arm differences, odds ratios, ratios, significance verdicts); "
                 "level log-likelihood is reported apart as a check of the layers every hypothesis shares",
        "discrepancy": asdict(discrepancy),
        "ranking": ranking,
        "breakdown": breakdown(scores),
        "opioid_share": None if share is None else share.to_json(),
        "reference": REFERENCE if reference is not None else None,
        "evidence_groups": {g: [t.name for t in trials if t.observed is not None and t.evidence == g]
                            for g in EVIDENCE_GROUPS},
        "ranking_without_compound_trials": [
            {"hypothesis": s.label, "loglik": _r4(sum(v["contrast"] for v in s.per_trial.values()
                                                      if v.get("evidence", "ketamine") == "ketamine"))}
            for s in sorted(scores, key=lambda s: -sum(v["contrast"] for v in s.per_trial.values()
                                                       if v.get("evidence", "ketamine") == "ketamine"))],
        "note": "Research software, not dosing advice. Higher log-likelihood = the published contrasts are more "
                "probable under that hypothesis. Every hypothesis is calibrated to the same single-infusion "
                "anchor, so absolute levels mostly test the layers they share (level_loglik) and the ranking comes "
                "from the contrasts the trials were designed to test (naltrexone, dose, route, timing). 'null' "
                "(expectation and background treatment alone) is the reference: delta_loglik_vs_null is how much "
                "better (> 0) or worse a hypothesis explains the published contrasts than placebo response alone. "
                "Posterior probabilities assume the hypotheses listed are the only ones (equal priors unless "
                "given); their interval is Monte-Carlo error of the replicate trials, not model uncertainty.",
    }


def wilson_interval(share: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a share observed in n replicate trials (Monte-Carlo error)."""
    if n <= 0:
        return (0.0, 1.0)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


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
        ra, rb = len(shares["a"]), len(shares["b"])
        ia, ib = wilson_interval(pa, ra), wilson_interval(pb, rb)
        # P(correct) is the mean of two independent shares: its Monte-Carlo SE from theirs
        se = 0.5 * math.sqrt(pa * (1 - pa) / max(ra, 1) + pb * (1 - pb) / max(rb, 1))
        pc = 0.5 * (pa + 1 - pb)
        rows.append({"n": n, "power_a": pa, "power_b": pb, "p_correct": pc,
                     "difference_a": float(shares["a"].difference.mean()),
                     "difference_b": float(shares["b"].difference.mean()),
                     "power_a_interval95": list(ia), "power_b_interval95": list(ib),
                     "p_correct_interval95": [max(0.0, pc - 1.96 * se), min(1.0, pc + 1.96 * se)],
                     "replicates": replicates, "endpoint": comp.endpoint, "arms": list(comp.arms),
                     "design": cfg.design})
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
