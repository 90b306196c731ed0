"""Run a virtual trial: replicate trials of the file's design, analysed as the trial was, with the published
results beside the model's."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ketasim.mechanisms import Mechanism, get_mechanism
from ketasim.models.pk import Covariates, individual_pk
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.population import population_grid, sample_subjects, simulate_population
from ketasim.population._population import PD_SCALES, PK_RANDOM_EFFECTS, subject_etas

from ketasim.units import to_hours

from ._design import TrialConfig, arm_size

SCALE_MAX = {"madrs": 60.0, "hamd17": 52.0, "cadss": 92.0}
TIMECOURSE_COLUMNS = ("madrs", "hamd17", "cadss")
# subjects.parquet: each subject's individual PK parameters (column, its unit in the name -> individual_pk key;
# internal units L, L/h, 1/h, fractions), the ones covariates and random effects move
INDIVIDUAL_PARAMETER_COLUMNS = {
    "ketamine_S_CL_L_h": "S.CL", "ketamine_R_CL_L_h": "R.CL", "ketamine_S_V1_L": "S.V1", "ketamine_R_V1_L": "R.V1",
    "norketamine_S_CL_L_h": "S.NK_CL", "norketamine_R_CL_L_h": "R.NK_CL", "hnk_S_CL_L_h": "S.HNK_CL",
    "hnk_R_CL_L_h": "R.HNK_CL", "oral_Fgut_fraction": "Fgut", "nasal_ka_1_h": "nasal_ka",
    "esketamine_nasal_FRn_fraction": "FRn", "naltrexone_CL_L_h": "NTX_CL",
}
RANDOM_EFFECT_COLUMNS = (*PK_RANDOM_EFFECTS, *PD_SCALES)


@dataclass
class TrialResult:
    config: TrialConfig
    hypothesis: str
    seed: int
    replicates: int
    per_replicate: pd.DataFrame          # replicate x arm x endpoint statistics
    comparisons_per_replicate: pd.DataFrame
    subjects: pd.DataFrame               # one row per replicate x arm x subject
    timecourses: dict = field(default_factory=dict)  # arm -> {time_h, column -> mean, p5, p95}
    exposure_per_replicate: pd.DataFrame | None = None  # replicate x analysis: Spearman r, p

    # ------------------------------------------------------------------ summaries
    def arm_summary(self) -> dict:
        out = {}
        cfg = self.config
        for arm in cfg.arms:
            n = arm_size(cfg, arm)
            eps = {}
            cadss_peak = None
            for ep_name, ep in cfg.endpoints.items():
                d = self.per_replicate[(self.per_replicate.arm == arm) & (self.per_replicate.endpoint == ep_name)]
                if ep.kind == "peak":
                    eps[ep_name] = {"mean_peak": _r(d["mean"].mean()), "ci95": _ci(d["mean"])}
                    if cadss_peak is None:
                        cadss_peak = _r(d["mean"].mean())
                    continue
                eps[ep_name] = {
                    "mean_change": _r(d["mean"].mean()), "ci95": _ci(d["mean"]),
                    "sd": _r(d["sd"].mean()),
                    "responders": _r(d["responders"].mean()), "response_rate": _r(d["responders"].mean() / n),
                    "remitters": _r(d["remitters"].mean()), "remission_rate": _r(d["remitters"].mean() / n),
                }
            out[arm] = {"n": n, "endpoints": eps, "cadss_peak": cadss_peak}
        return out

    def comparison_summary(self) -> list[dict]:
        out = []
        for comp in self.config.comparisons:
            d = self.comparisons_per_replicate[(self.comparisons_per_replicate.endpoint == comp.endpoint)
                                               & (self.comparisons_per_replicate.arm_a == comp.arms[0])
                                               & (self.comparisons_per_replicate.arm_b == comp.arms[1])]
            sig = d.p_value < 0.05
            out.append({
                "endpoint": comp.endpoint, "arms": list(comp.arms), "difference": _r(d.difference.mean()),
                "ci95": _ci(d.difference), "p_value": _r(d.p_value.median()),
                "share_significant": _r(sig.mean()),
                "share_significant_negative": _r((sig & (d.difference < 0)).mean()),
                "share_significant_positive": _r((sig & (d.difference > 0)).mean()),
                "analysis": "paired t-test (within subject)" if self.config.design == "crossover"
                else "Welch t-test",
            })
        return out

    def observed_vs_model(self) -> list[dict]:
        """Each published number beside the model's distribution over replicate trials."""
        obs = self.config.observed
        if obs is None:
            return []
        rows = []
        arms = self.arm_summary()
        for arm, oa in obs.arms.items():
            for ep_name, oe in oa.endpoints.items():
                d = self.per_replicate[(self.per_replicate.arm == arm) & (self.per_replicate.endpoint == ep_name)]
                for key, col in (("responders", "responders"), ("remitters", "remitters"),
                                 ("mean_change", "mean"), ("mean_peak", "mean")):
                    v = getattr(oe, key)
                    if v is None:
                        continue
                    model = d[col]
                    rows.append({"arm": arm, "endpoint": ep_name, "quantity": key, "observed": v,
                                 "observed_n": oa.n, "model_mean": _r(model.mean()),
                                 "model_p5": _r(np.percentile(model, 5)), "model_p95": _r(np.percentile(model, 95)),
                                 "verified": oe.verified, "note": oe.note})
        for oc in obs.comparisons:
            d = self.comparisons_per_replicate[(self.comparisons_per_replicate.endpoint == oc.endpoint)
                                               & (self.comparisons_per_replicate.arm_a == oc.arms[0])
                                               & (self.comparisons_per_replicate.arm_b == oc.arms[1])]
            if len(d) == 0:
                continue
            if oc.difference is not None:
                rows.append({"arm": " - ".join(oc.arms), "endpoint": oc.endpoint, "quantity": "difference",
                             "observed": oc.difference, "observed_ci95": list(oc.ci95) if oc.ci95 else None,
                             "model_mean": _r(d.difference.mean()), "model_p5": _r(np.percentile(d.difference, 5)),
                             "model_p95": _r(np.percentile(d.difference, 95)), "verified": oc.verified,
                             "note": oc.note})
            if oc.significant is not None:
                rows.append({"arm": " - ".join(oc.arms), "endpoint": oc.endpoint, "quantity": "significant",
                             "observed": oc.significant, "direction": oc.direction,
                             "model_share": _r(_share_matching(d, oc)), "verified": oc.verified, "note": oc.note})
        del arms
        return rows

    def exposure_summary(self) -> list[dict]:
        """Each exposure-response analysis: the model's rank correlation over replicate trials."""
        d = self.exposure_per_replicate
        if d is None or not len(d):
            return []
        out = []
        for x in self.config.exposure_response:
            e = d[d.name == x.name]
            sig = e.p_value < 0.05
            out.append({"name": x.name, "arm": x.arm, "exposure": x.exposure, "at": x.at, "endpoint": x.endpoint,
                        "r": _r(e.r.mean()), "r_ci95": _ci(e.r),
                        "share_significant_positive": _r((sig & (e.r > 0)).mean()),
                        "share_significant_negative": _r((sig & (e.r < 0)).mean()),
                        "method": "Spearman rank correlation across the arm's subjects, per replicate trial"})
        return out

    def to_json_dict(self) -> dict:
        return {
            "trial": self.config.name, "title": self.config.title, "hypothesis": self.hypothesis,
            "seed": self.seed, "replicates": self.replicates, "design": self.config.design,
            "arms": self.arm_summary(), "comparisons": self.comparison_summary(),
            "observed": self.config.observed.model_dump(mode="json") if self.config.observed else None,
            "observed_vs_model": self.observed_vs_model(),
            **({"exposure_response": self.exposure_summary()} if self.config.exposure_response else {}),
            "note": "Virtual trial: research software, not a dosing tool. Means over replicate trials; ci95 are "
                    "the 2.5-97.5 % range of replicate-trial results.",
        }


def _share_matching(d: pd.DataFrame, oc) -> float:
    sig = d.p_value < 0.05
    signed = sig & ((d.difference < 0) if oc.direction == "negative" else (d.difference > 0))
    return float(signed.mean()) if oc.significant else float((~signed).mean())


def _r(x, digits: int = 6):
    """Round for reports: fixed digits make trial.json byte-identical however the work was chunked."""
    x = float(x)
    return None if math.isnan(x) else float(f"{x:.{digits}g}")


def _ci(series) -> list:
    return [_r(np.percentile(series, 2.5)), _r(np.percentile(series, 97.5))]


def _first_session(regimen) -> float:
    times = [d.time_h for d in regimen.realize() if d.is_session]
    return min(times) if times else 0.0


def run_trial(cfg: TrialConfig, hypothesis: str | Mechanism = "opioid", opioid_source: str | None = None,
              replicates: int = 20, seed: int = 1, parameters: ParameterSet | None = None,
              chunk_size: int | None = None, progress: Callable[[int, int], None] | None = None,
              keep_timecourses: bool = True, executor=None, uncertainty: bool = False) -> TrialResult:
    """Replicate trials of `cfg` under one hypothesis.

    uncertainty: an outer loop over parameter uncertainty: each replicate trial draws the parameters listed by
    `uncertain_parameter_keys` from their ranges (calibrated values stay fixed, so this shows how far the
    assumptions move the result, not a re-fit).
    chunk_size: subjects per work unit (None: sized so that progress moves in about ten steps); results do not
    depend on it."""
    if not (1 <= replicates <= 10_000):
        raise ValueError(f"replicates must be 1-10000, got {replicates}")
    p = parameters or default_parameters()
    mech = get_mechanism(hypothesis, opioid_source)
    spec = cfg.population.spec()
    arm_spec = {a: (cfg.arms[a].population.spec() if cfg.arms[a].population is not None else spec) for a in cfg.arms}
    arms = list(cfg.arms)
    rep_seqs = np.random.SeedSequence(seed).spawn(replicates)
    # draw every subject and every rating error before any simulation (chunking cannot change them)
    subject_tables: dict[str, list[pd.DataFrame]] = {a: [] for a in arms}
    rating_rngs = []
    rep_params = [p] * replicates
    for r, rs in enumerate(rep_seqs):
        kids = rs.spawn(len(arms) + 2)
        if uncertainty:
            rep_params[r] = p.sample(np.random.default_rng(kids[-2]), keys=uncertain_parameter_keys(p))
        if cfg.design == "crossover":
            shared = sample_subjects(spec, cfg.n_per_arm, kids[0], p, first_id=r * 1_000_000)
            for a in arms:
                subject_tables[a].append(shared.assign(replicate=r))
        else:
            for i, a in enumerate(arms):
                subject_tables[a].append(sample_subjects(arm_spec[a], arm_size(cfg, a), kids[i], p,
                                                         first_id=r * 1_000_000 + i * 100_000).assign(replicate=r))
        rating_rngs.append(np.random.default_rng(kids[-1]))
    errors = _draw_rating_errors(cfg, p, rating_rngs)

    stats_rows, subject_rows, baseline_rows, timecourses = [], [], [], {}
    if chunk_size is None:
        total_subjects = sum(len(tb) for a in arms for tb in subject_tables[a])
        chunk_size = int(min(256, max(128, -(-total_subjects // 10))))
    if chunk_size < 1:
        raise ValueError(f"chunk size must be at least 1, got {chunk_size}")
    # progress in units of chunks of subjects, over all arms
    n_chunks = {a: sum(-(-len(tb) // chunk_size) for tb in subject_tables[a]) if uncertainty
                else -(-sum(len(tb) for tb in subject_tables[a]) // chunk_size) for a in arms}
    total_units, done_before = sum(n_chunks.values()), 0
    if progress:
        progress(0, total_units)

    def arm_progress(done, _total):
        if progress:
            progress(min(done_before + done, total_units), total_units)

    exposure_rows = []
    fine = {} if cfg.fine_window is None else {"fine_window_h": to_hours(cfg.fine_window)}
    for ai, arm in enumerate(arms):
        regimen = cfg.arms[arm].regimen()
        t_first = _first_session(regimen)
        ep_times = {name: t_first + ep.hours() for name, ep in cfg.endpoints.items()}
        analyses = [x for x in cfg.exposure_response if x.arm == arm]
        x_times = [t_first + to_hours(x.at) for x in analyses]
        t = population_grid(regimen, t_first + cfg.duration_h(), extra_times=list(ep_times.values()) + x_times,
                            **fine)
        subjects = pd.concat(subject_tables[arm], ignore_index=True)
        columns = TIMECOURSE_COLUMNS + tuple(dict.fromkeys(x.exposure for x in analyses))
        common = dict(expectation=cfg.arms[arm].expectation or cfg.expectation,
                      oral_ad_start_h=0.0 if cfg.oral_antidepressant else None, columns=columns,
                      chunk_size=chunk_size, executor=executor)
        if uncertainty:  # one parameter draw per replicate trial
            parts = []
            for r in range(replicates):
                parts.append(simulate_population(regimen, subject_tables[arm][r], rep_params[r], mech, t, **common))
                arm_progress(sum(-(-len(tb) // chunk_size) for tb in subject_tables[arm][:r + 1]), None)
            pop = parts[0]
            pop.outputs = {c: np.concatenate([q.outputs[c] for q in parts], axis=1) for c in columns}
            pop.subjects = subjects
        else:
            pop = simulate_population(regimen, subjects, p, mech, t, progress=arm_progress, **common)
        done_before += n_chunks[arm]
        if keep_timecourses:
            timecourses[arm] = {"time_h": [_r(x) for x in t]}
            for c in TIMECOURSE_COLUMNS:
                y = pop.outputs[c]
                timecourses[arm][c] = {"mean": [_r(v) for v in y.mean(axis=1)],
                                       "p5": [_r(v) for v in np.percentile(y, 5, axis=1)],
                                       "p95": [_r(v) for v in np.percentile(y, 95, axis=1)]}
        baselines = {"replicate": subjects.replicate, "arm": arm, "id": subjects.id,
                     "baseline_hamd17": pop.outputs["hamd17"][0]}
        for scale in sorted({ep.scale for ep in cfg.endpoints.values() if ep.kind == "change"}):
            baselines[f"{scale}_baseline_rated"] = _rated_baseline(pop, scale, arm, errors, subjects)
        baseline_rows.append(pd.DataFrame(baselines))
        for ep_name, ep in cfg.endpoints.items():
            values, resp, remit = _endpoint_values(cfg, ep, ep_name, arm, pop, t, ep_times[ep_name], t_first,
                                                   errors, subjects)
            for r in range(replicates):
                m = (subjects.replicate == r).to_numpy()
                v = values[m]
                stats_rows.append({"replicate": r, "arm": arm, "endpoint": ep_name, "n": int(m.sum()),
                                   "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if m.sum() > 1 else 0.0,
                                   "responders": int(resp[m].sum()), "remitters": int(remit[m].sum())})
            subject_rows.append(pd.DataFrame({"replicate": subjects.replicate, "arm": arm, "id": subjects.id,
                                              "endpoint": ep_name, "value": values, "responder": resp,
                                              "remitter": remit}))
            for x, tx in zip(analyses, x_times):
                if x.endpoint != ep_name:
                    continue
                exposure = pop.outputs[x.exposure][int(np.argmin(np.abs(t - tx)))]
                for r in range(replicates):
                    m = (subjects.replicate == r).to_numpy()
                    rho, pval = stats.spearmanr(exposure[m], values[m])
                    exposure_rows.append({"replicate": r, "name": x.name, "r": float(rho), "p_value": float(pval)})
    per_rep = pd.DataFrame(stats_rows)
    subj = pd.concat(subject_rows, ignore_index=True)
    drawn = pd.concat([pd.concat(subject_tables[a], ignore_index=True).assign(arm=a) for a in arms],
                      ignore_index=True)
    covs = drawn[["replicate", "arm", "id", "weight_kg", "age_y", "sex", "cyp2b6", "baseline_madrs"]]
    covs = covs.merge(pd.concat(baseline_rows, ignore_index=True), on=["replicate", "arm", "id"])
    individual = _individual_parameters(drawn, rep_params)
    wide = subj.pivot_table(index=["replicate", "arm", "id"], columns="endpoint",
                            values=["value", "responder", "remitter"], aggfunc="first")
    wide.columns = [f"{ep}_{what}" for what, ep in wide.columns]
    # a peak endpoint (CADSS) has no responders or remitters: no always-False columns
    wide = wide.drop(columns=[f"{name}_{what}" for name, ep in cfg.endpoints.items() if ep.kind == "peak"
                              for what in ("responder", "remitter")])
    order = [f"{name}_{what}" for name, ep in cfg.endpoints.items()
             for what in (("value",) if ep.kind == "peak" else ("value", "responder", "remitter"))]
    subjects_out = covs.merge(wide[order].reset_index(), on=["replicate", "arm", "id"]) \
        .merge(individual, on=["replicate", "arm", "id"])
    comps = _comparisons(cfg, subj, replicates)
    exposure = pd.DataFrame(exposure_rows, columns=["replicate", "name", "r", "p_value"]) if cfg.exposure_response \
        else None
    return TrialResult(cfg, mech.label(), seed, replicates, per_rep, comps, subjects_out, timecourses,
                       exposure_per_replicate=exposure)


def _individual_parameters(drawn: pd.DataFrame, rep_params: list[ParameterSet]) -> pd.DataFrame:
    """Random effects and the individual PK parameters they give (with the covariates), per drawn subject;
    with --uncertainty each replicate trial has its own parameter draw."""
    rows = []
    for row in drawn.itertuples(index=False):
        rec = row._asdict()
        cov = Covariates(weight_kg=float(rec["weight_kg"]), age_y=float(rec["age_y"]), sex=str(rec["sex"]),
                         cyp2b6=str(rec["cyp2b6"]))
        ind = individual_pk(rep_params[int(rec["replicate"])], cov, subject_etas(rec))
        rows.append({col: ind[key] for col, key in INDIVIDUAL_PARAMETER_COLUMNS.items()})
    out = pd.concat([drawn[["replicate", "arm", "id", *RANDOM_EFFECT_COLUMNS]].reset_index(drop=True),
                     pd.DataFrame(rows, columns=list(INDIVIDUAL_PARAMETER_COLUMNS))], axis=1)
    return out


def _rated_baseline(pop, scale: str, arm: str, errors: dict, subjects: pd.DataFrame) -> np.ndarray:
    """The baseline rating of `scale` in this arm's period (with its rating error), as the analysis used it."""
    reps = subjects.replicate.to_numpy()
    err = np.empty(len(subjects))
    for r in np.unique(reps):
        err[reps == r] = errors[(int(r), arm, "baseline", scale)]
    return np.clip(pop.outputs[scale][0] + err, 0.0, SCALE_MAX[scale])


def _draw_rating_errors(cfg: TrialConfig, p: ParameterSet, rngs) -> dict:
    """Rating errors per replicate, arm, endpoint and subject, drawn in a fixed order."""
    sd_m = p.value("residual.madrs_sd")
    sd = {"madrs": sd_m, "hamd17": sd_m * p.value("mood.hamd_per_madrs"), "cadss": p.value("residual.cadss_sd")}
    out = {}
    for r, rng in enumerate(rngs):
        for arm in cfg.arms:
            n = arm_size(cfg, arm)
            scales = sorted({ep.scale for ep in cfg.endpoints.values() if ep.kind == "change"})
            for scale in scales:  # one baseline rating per scale per period
                out[(r, arm, "baseline", scale)] = rng.normal(0.0, sd[scale], n)
            for ep_name, ep in cfg.endpoints.items():
                out[(r, arm, ep_name)] = rng.normal(0.0, sd[ep.scale], n)
            for ep_name, ep in cfg.endpoints.items():   # drawn after the others: older trials keep their draws
                if ep.since is not None:
                    out[(r, arm, ep_name, "since")] = rng.normal(0.0, sd[ep.scale], n)
    return out


def _endpoint_values(cfg, ep, ep_name, arm, pop, t, t_abs, t_first, errors, subjects):
    reps = subjects.replicate.to_numpy()
    n_total = len(subjects)
    err = np.empty(n_total)
    base_err = np.empty(n_total)
    for r in np.unique(reps):
        m = reps == r
        err[m] = errors[(int(r), arm, ep_name)]
        if ep.kind == "change":
            base_err[m] = errors[(int(r), arm, "baseline", ep.scale)]
    y = pop.outputs[ep.scale]
    cap = SCALE_MAX[ep.scale]
    if ep.kind == "peak":
        window = (t >= t_first) & (t <= t_abs)
        peak = y[window].max(axis=0)
        values = np.clip(peak + err, 0.0, cap)
        return values, np.zeros(n_total, bool), np.zeros(n_total, bool)
    i = int(np.argmin(np.abs(t - t_abs)))
    base = np.clip(y[0] + base_err, 0.0, cap)
    now = np.clip(y[i] + err, 0.0, cap)
    if ep.since is None:
        change = now - base
    else:  # change from a later rating (e.g. the end of an induction series), rated with its own error
        j = int(np.argmin(np.abs(t - (t_first + ep.since_hours()))))
        since_err = np.empty(n_total)
        for r in np.unique(reps):
            since_err[reps == r] = errors[(int(r), arm, ep_name, "since")]
        change = now - np.clip(y[j] + since_err, 0.0, cap)
    responder = now <= (1.0 - cfg.response_reduction) * base
    remitter = now <= cfg.remission.get(ep.scale, -1.0)
    return change, responder, remitter


def _comparisons(cfg: TrialConfig, subj: pd.DataFrame, replicates: int) -> pd.DataFrame:
    rows = []
    for comp in cfg.comparisons:
        a, b = comp.arms
        for r in range(replicates):
            va = subj[(subj.replicate == r) & (subj.arm == a) & (subj.endpoint == comp.endpoint)].value.to_numpy()
            vb = subj[(subj.replicate == r) & (subj.arm == b) & (subj.endpoint == comp.endpoint)].value.to_numpy()
            diff = float(va.mean() - vb.mean())
            if cfg.design == "crossover":
                d = va - vb
                se = d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
                dof = len(d) - 1
            else:
                sa, sb = va.var(ddof=1) / len(va), vb.var(ddof=1) / len(vb)
                se = math.sqrt(sa + sb)
                dof = (sa + sb) ** 2 / ((sa ** 2 / (len(va) - 1)) + (sb ** 2 / (len(vb) - 1))) if sa + sb > 0 else 1
            if se > 0 and math.isfinite(se):
                tval = diff / se
                pval = float(2 * stats.t.sf(abs(tval), dof))
                half = float(stats.t.ppf(0.975, dof) * se)
            else:
                pval, half = (1.0 if diff == 0 else 0.0), 0.0
            rows.append({"replicate": r, "endpoint": comp.endpoint, "arm_a": a, "arm_b": b, "difference": diff,
                         "ci_low": diff - half, "ci_high": diff + half, "p_value": pval})
    return pd.DataFrame(rows, columns=["replicate", "endpoint", "arm_a", "arm_b", "difference", "ci_low", "ci_high",
                                       "p_value"])


# Parameters an --uncertainty run draws from their ranges. Calibrated (fitted_here) values stay fixed; so do
# fractions whose sum is constrained, population settings and label facts.
_NOT_SAMPLED_PREFIXES = ("bsv.", "residual.", "population.", "mixed.", "route.esketamine_device")
_NOT_SAMPLED = {"norketamine.fm", "hnk.fm", "dhnk.fm", "mood.baseline_madrs"}


def uncertain_parameter_keys(p: ParameterSet) -> list[str]:
    return [k for k, par in p.items()
            if par.evidence != "fitted_here" and k not in _NOT_SAMPLED and not k.startswith(_NOT_SAMPLED_PREFIXES)
            and par.low < par.high]
