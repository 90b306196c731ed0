"""Calibrate the mood layer's shared parameters and every hypothesis's gain to the calibration trials.

Which numbers calibrate which parameters (docs/model.md lists the same):
- placebo (expectation) and background treatment, fitted on control arms only (no drug):
  Daly 2018 placebo spray (-9.7 MADRS at 2 h, -5.7 at 24 h) -> placebo.spray, placebo.waning_t_half,
  mood.response_t_half; Murrough 2013 midazolam (-8.8 at 24 h) and its day-1 response (18 % Wilkinson 2019,
  25.9 % Cochrane 2021: 22 %) -> placebo.active and the placebo-responder mixture; saline day-1 response 1 % (Wilkinson 2019,
  read on the saline arm of zarate2006) -> placebo.saline; Singh 2016 placebo arms (-5.7 and -3.1 at day 15,
  checked: placebo.renewal_half is an assumption, as the two arms disagree in order); TRANSFORM-2 placebo spray + oral antidepressant (-15.9 at day 28, pooled TRANSFORM)
  -> placebo.oral_ad;
- the drug side, by least squares with the default hypothesis's gain re-solved for the anchor at every point:
  Murrough 2013 ketamine (-16.5 at 24 h; the anchor) -> each hypothesis's gain; day-1 response and remission of
  ketamine (46.5 % and 32.7 %, Cochrane 2021; the pooled 45 % of Wilkinson 2019) and the Singh 2016 ketamine arms
  (-18.4 and -17.7 at day 15) -> mood.Rmax and the within-group spread bsv.drive_scale
  (bsv.drive_nonresponder_ratio is an assumption); Daly 2018's esketamine arms at 2 h (-16.4, -14.3, -17.6) ->
  mood.immediate_weight;
- the repeated-session layers (--long-term): Abdallah 2022's dose threshold (0.2 mg/kg x 8 not better than placebo,
  0.5 mg/kg better: as the power of its 53-per-arm test) -> mood.induction_hill and consolidation.threshold;
  Phillips 2019's series (59 % met response at a rating 24 h after one of six infusions) and weekly maintenance
  (no further change) and the Singh 2016 ketamine arms, and relapse after a stopped series (about 70 % of
  responders within 6 months, SUSTAIN-3's introduction), with one infusion's separation lost by day 12 (Kishimoto
  2016, read on zarate2006: at most 20 % of the day-1 difference) -> consolidation.ceiling,
  consolidation.formation_rate, consolidation.t_half and consolidation.sustain_t_half; with them the responder
  share bsv.drive_responder_share against the ketamine day-1 response and remission (a series raises response only
  in subjects sensitive to the drug, so Phillips and Murrough pull the share in opposite directions).
Everything else (zarate2006's onset and day 7, daly2018's 24-h changes, transform2, fava2018, phillips2019's
series-to-single ratio and median time to response, williams2018, the median time to relapse) is validation.

Run:  .venv/bin/python tools/calibrate_mood.py [--n 800] [--rounds 2]
The values in the parameter files: the placebo side and the drug side from `--drug-only` rounds, then the
induction step, the long-term layer and the responder share, and after them the within-group spread of
sensitivity (bsv.drive_scale), from `--long-term --responders --n 1000` (the last steps, the others held).
Prints the values to write into the parameter files (src/ketasim/parameters/sets/*.toml).
"""

from __future__ import annotations

import argparse
import math
import time
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq, least_squares

import ketasim as ks
from ketasim.trials import load_trial, run_trial

SEED = 20261201
PLACEBO_TARGETS = [  # (trial, arm, endpoint, quantity, published, weight)
    ("daly2018", "placebo", "madrs_2h", "mean_change", -9.7, 1.0),
    ("daly2018", "placebo", "madrs_24h", "mean_change", -5.7, 1.0),
    ("murrough2013", "midazolam", "madrs_24h", "mean_change", -8.8, 1.0),
    ("murrough2013", "midazolam", "madrs_24h", "response_rate", 0.22, 20.0),
    ("zarate2006", "saline", "hamd17_day1", "response_rate", 0.01, 20.0),
    ("singh2016", "placebo_twice_weekly", "madrs_day15", "mean_change", -5.7, 0.5),
    ("singh2016", "placebo_thrice_weekly", "madrs_day15", "mean_change", -3.1, 0.5),
    ("transform2", "placebo_spray", "madrs_day28", "mean_change", -15.9, 1.0),
]
PLACEBO_PARAMETERS = ["placebo.spray", "placebo.active", "placebo.saline", "placebo.waning_t_half",
                      "mood.response_t_half", "placebo.oral_ad",
                      "bsv.placebo_responder_share", "bsv.placebo_nonresponder_ratio"]
DRUG_TARGETS = [
    # day-1 response between the pooled 45 % (Wilkinson 2019) and Murrough's own 64 %: Cochrane's 46.5 % / 32.7 %
    ("murrough2013", "ketamine", "madrs_24h", "response_rate", 0.465, 40.0),
    ("murrough2013", "ketamine", "madrs_24h", "remission_rate", 0.327, 20.0),
    # the long-term layer: response after a six-infusion series (59 %) and weekly maintenance holds it (Phillips 2019)
    # (met at any rating 24 h after an infusion of the series, as the trial counted it)
    ("phillips2019", "series_and_maintenance", "madrs_series_response", "share_responded", 0.59, 20.0),
    ("phillips2019", "series_and_maintenance", "madrs_maintenance", "mean_change", 0.0, 1.0),
    ("singh2016", "ketamine_twice_weekly", "madrs_day15", "mean_change", -18.4, 1.0),
    ("singh2016", "ketamine_thrice_weekly", "madrs_day15", "mean_change", -17.7, 1.0),
    # the immediate layer: 2-h changes of the esketamine arms (their responders at 2 h stay for validation)
    ("daly2018", "esketamine_28mg", "madrs_2h", "mean_change", -16.4, 0.5),
    ("daly2018", "esketamine_56mg", "madrs_2h", "mean_change", -14.3, 0.5),
    ("daly2018", "esketamine_84mg", "madrs_2h", "mean_change", -17.6, 0.5),
]
# the induction threshold: Abdallah 2022 found 0.5 mg/kg x 8 better than placebo and 0.2 mg/kg x 8 not; as the
# power of a 53-per-arm Welch test (normal approximation), one-sided: (trial, arm, control, endpoint, n per arm,
# bound, "at_most" | "at_least", weight)
POWER_TARGETS = [
    ("abdallah2022", "ketamine_0p2", "placebo", "madrs_end", 53, 0.25, "at_most", 10.0),
    ("abdallah2022", "ketamine_0p5", "placebo", "madrs_end", 53, 0.80, "at_least", 10.0),
]
DRUG_PARAMETERS = ["bsv.drive_responder_share", "mood.Rmax", "mood.immediate_weight", "mood.induction_hill",
                   "consolidation.formation_rate", "consolidation.t_half"]
# the repeated-dosing layers alone (--long-term): the induction step and the long-term layer, fitted to the trials
# of repeated sessions, with the responders, the ceiling and the immediate layer held
LONG_TERM_PARAMETERS = ["mood.induction_hill", "consolidation.threshold", "consolidation.ceiling",
                        "consolidation.sustain_t_half", "consolidation.formation_rate", "consolidation.t_half",
                        "bsv.drive_responder_share"]
# the responder share is fitted with them: a series can raise response only in subjects sensitive to the drug, so
# Phillips 2019's response after a series and Murrough 2013's day-1 response pull the share in opposite directions
LONG_TERM_TRIALS = ("phillips2019", "singh2016", "murrough2013")
# the responders (--responders): the within-group spread of sensitivity, fitted to the ketamine arm's day-1 response
# and remission with the default hypothesis's gain re-solved (the responder share is fitted with the long-term layer)
RESPONDER_PARAMETERS = ["bsv.drive_scale"]
ANCHOR = ("murrough2013", "ketamine", "madrs_24h", "mean_change", -16.5)
GAINS = [  # parameter, hypothesis, opioid source, larger value -> smaller effect
    ("opioid.hnk_Ki_mor", "opioid", "hnk_mor", True),
    ("glutamate.X50", "glutamate", None, True),
    ("hnk_ampa.X50", "hnk_ampa", None, True),
    ("opioid.ketamine_tau", "opioid", "ketamine_mor", False),
    ("opioid.endogenous_gain", "opioid", "endogenous", False),
]


@lru_cache(maxsize=None)
def _trial(name):
    return load_trial(name)


_ARMS: dict = {}


def arm_value(params, trial, arm, endpoint, quantity, n, hypothesis="opioid", source=None):
    """One arm of a built-in trial with n subjects (one replicate, a fixed seed: common random numbers)."""
    key = (params.content_hash(), trial, arm, n, hypothesis, source)
    if key not in _ARMS:
        cfg = _trial(trial)
        a = cfg.arms[arm].model_copy(update={"n": None})
        sub = cfg.model_copy(update={"arms": {arm: a}, "comparisons": [], "observed": None, "n_per_arm": n,
                                     "design": "parallel", "washout": None})
        res = run_trial(sub, hypothesis, source, replicates=1, seed=SEED, parameters=params,
                        keep_timecourses=False)
        _ARMS[key] = res.arm_summary()[arm]["endpoints"]
    return _ARMS[key][endpoint][quantity]


def _to_x(params, keys):
    return np.array([math.log(max(params[k].value, 1e-9)) for k in keys])


def _from_x(base, keys, x):
    return base.replace_many({k: math.exp(v) for k, v in zip(keys, x)})


def _bounds(params, keys):
    return (np.array([math.log(max(params[k].low, 1e-6)) for k in keys]),
            np.array([math.log(params[k].high) for k in keys]))


def fit(params, keys, targets, n, label):
    t0 = time.time()

    def residuals(x):
        p = _from_x(params, keys, x)
        r = [w * (arm_value(p, *t[:4], n) - t[4]) for t in targets for w in (t[5],)]
        return np.array(r)

    lo, hi = _bounds(params, keys)
    x0 = np.clip(_to_x(params, keys), lo + 1e-9, hi - 1e-9)
    sol = least_squares(residuals, x0, bounds=(lo, hi), diff_step=0.03, max_nfev=80, xtol=1e-8, ftol=1e-6,
                        x_scale="jac")
    p = _from_x(params, keys, sol.x)
    print(f"[{label}] {sol.nfev} evaluations, {time.time() - t0:.0f} s, cost {sol.cost:.3f}")
    for t in targets:
        print(f"    {t[0]}.{t[1]}.{t[2]}.{t[3]}: model {arm_value(p, *t[:4], n):+.3f}, published {t[4]:+.3f}")
    return p


def power_value(params, trial, arm, control, endpoint, n_analysis, n, hypothesis="opioid", source=None):
    """Power of a two-sided 5 % test of arm vs control with n_analysis per arm (normal approximation)."""
    from scipy.stats import norm

    d = arm_value(params, trial, arm, endpoint, "mean_change", n, hypothesis, source) \
        - arm_value(params, trial, control, endpoint, "mean_change", n, hypothesis, source)
    sd = math.sqrt((arm_value(params, trial, arm, endpoint, "sd", n, hypothesis, source) ** 2
                    + arm_value(params, trial, control, endpoint, "sd", n, hypothesis, source) ** 2) / 2)
    return float(norm.cdf(abs(d) / (sd * math.sqrt(2 / n_analysis)) - 1.96))


def _power_residual(params, t, n):
    v = power_value(params, *t[:5], n)
    miss = v - t[5] if t[6] == "at_most" else t[5] - v
    return t[7] * max(miss, 0.0)


# one infusion's separation from placebo is lost by days 10-12 (Kishimoto 2016; the mediator's half-life is set to
# it): the long-term layer must not carry a single infusion's effect past day 12. As the between-arm difference of
# zarate2006 at day 12, a share of the day-1 difference, one-sided: (trial, arm, control, endpoint, reference
# endpoint, at most, weight)
FADING_TARGET = ("zarate2006", "ketamine", "saline", "hamd17_day12", "hamd17_day1", 0.20, 40.0)


def fading_share(params, n, hypothesis="opioid", source=None):
    """The day-12 between-arm difference as a share of the day-1 difference, read as `validate` reads it: the whole
    trial in its own (crossover) design with n subjects, one replicate."""
    trial, arm, control, end, ref = FADING_TARGET[:5]
    key = (params.content_hash(), "fading", n, hypothesis, source)
    if key not in _ARMS:
        cfg = _trial(trial).model_copy(update={"n_per_arm": n, "observed": None})
        for a in cfg.arms.values():
            a.n = None
        res = run_trial(cfg, hypothesis, source, replicates=1, seed=SEED, parameters=params, keep_timecourses=False)
        diff = {c["endpoint"]: c["difference"] for c in res.comparison_summary()
                if tuple(c["arms"]) == (arm, control)}
        _ARMS[key] = diff[end] / diff[ref]
    return _ARMS[key]


# relapse after a stopped series: about 70 % of TRD responders relapse within 6 months (SUSTAIN-3's introduction),
# read on the open-label six-infusion series that `ketasim validate` uses, as (quantity, published, weight)
RELAPSE_TARGET = ("share relapsed by 180 d", 0.70, 10.0)


def relapse_share(params, n, hypothesis="opioid", source=None):
    key = (params.content_hash(), "relapse", n, hypothesis, source)
    if key not in _ARMS:
        from ketasim.validation.targets import series_relapse

        _ARMS[key] = series_relapse(params, n, SEED, hypothesis).relapsed_by.get("180 d", 1.0)
    return _ARMS[key]


def fit_long_term(params, n, label):
    """The induction step and the long-term layer by least squares on the repeated-session trials (Phillips 2019,
    Singh 2016, Abdallah 2022's power), the default hypothesis's gain re-solved for the anchor at every point."""
    return fit_drug(params, n, label, LONG_TERM_PARAMETERS,
                    [t for t in DRUG_TARGETS if t[0] in LONG_TERM_TRIALS], relapse=True,
                    max_nfev=10, ftol=1e-3)


def fit_drug(params, n, label, keys=None, targets=None, relapse=False, max_nfev=60, ftol=1e-5):
    """The drug side's shared parameters by least squares, the default hypothesis's gain re-solved for the anchor
    at every point (so the anchor holds exactly and the search cannot trade it away)."""
    keys, targets = keys or DRUG_PARAMETERS, targets or DRUG_TARGETS
    key0, hyp0, src0, dec0 = GAINS[0]
    t0 = time.time()
    solved = {}

    def with_gain(x):
        k = tuple(np.round(x, 6))
        if k not in solved:
            solved[k] = fit_gain(_from_x(params, keys, x), key0, hyp0, src0, dec0, n, quiet=True)
        return solved[k]

    def residuals(x):
        p = with_gain(x)
        r = [t[5] * (arm_value(p, *t[:4], n) - t[4]) for t in targets]
        r += [_power_residual(p, t, n) for t in POWER_TARGETS]
        if relapse:
            r.append(RELAPSE_TARGET[2] * (relapse_share(p, n) - RELAPSE_TARGET[1]))
            r.append(FADING_TARGET[6] * max(fading_share(p, n) - FADING_TARGET[5], 0.0))
        at = ", ".join(f"{k} {math.exp(v):.4g}" for k, v in zip(keys, x))
        cost = 0.5 * sum(v * v for v in r)
        print(f"    evaluation {len(solved)} ({time.time() - t0:.0f} s): cost {cost:.3f} at {at}", flush=True)
        return np.array(r)

    lo, hi = _bounds(params, keys)
    x0 = np.clip(_to_x(params, keys), lo + 1e-9, hi - 1e-9)
    sol = least_squares(residuals, x0, bounds=(lo, hi), diff_step=0.05, max_nfev=max_nfev, xtol=1e-6, ftol=ftol,
                        x_scale="jac")
    p = with_gain(sol.x)
    print(f"[{label}] {sol.nfev} evaluations, {time.time() - t0:.0f} s, cost {sol.cost:.3f}; "
          f"{key0} {p[key0].value:.4g}")
    for t in DRUG_TARGETS + [ANCHOR + (1.0,)]:
        print(f"    {t[0]}.{t[1]}.{t[2]}.{t[3]}: model {arm_value(p, *t[:4], n):+.3f}, published {t[4]:+.3f}")
    for t in POWER_TARGETS:
        print(f"    {t[0]}.{t[1]} vs {t[2]}: power {power_value(p, *t[:5], n):.3f}, {t[6].replace('_', ' ')} {t[5]}")
    if relapse:
        print(f"    {RELAPSE_TARGET[0]}: model {relapse_share(p, n):.3f}, published {RELAPSE_TARGET[1]}")
        print(f"    {FADING_TARGET[0]} day-12 difference / day-1 difference: model {fading_share(p, n):.3f}, "
              f"at most {FADING_TARGET[5]}")
    return p


def fit_gain(params, key, hypothesis, source, decreasing, n, quiet=False):
    lo, hi = params[key].low, params[key].high

    def f(logv):
        p = params.replace(**{key: math.exp(logv)})
        return arm_value(p, *ANCHOR[:4], n, hypothesis, source) - ANCHOR[4]

    a, b = math.log(lo), math.log(hi)
    fa, fb = f(a), f(b)
    if fa * fb > 0:
        if not quiet:
            print(f"    {key}: the anchor {ANCHOR[4]} is not reachable in [{lo}, {hi}] ({fa:+.2f}, {fb:+.2f}); kept")
        return params
    v = math.exp(brentq(f, a, b, xtol=1e-3))
    if not quiet:
        print(f"    {key} ({hypothesis}{'[' + source + ']' if source else ''}) = {v:.4g}")
    return params.replace(**{key: v})


JOINT_PARAMETERS = PLACEBO_PARAMETERS + DRUG_PARAMETERS + [GAINS[0][0]]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=800, help="subjects per arm in each evaluation")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--joint", action="store_true", help="fit the placebo side, the responder share, the ceiling "
                    "and the default hypothesis's gain together (from the values in the parameter files)")
    ap.add_argument("--drug-only", action="store_true", help="keep the placebo side as it is in the parameter files")
    ap.add_argument("--long-term", action="store_true", help="fit only the induction step and the long-term layer "
                    "to the repeated-session trials (the rest as it is in the parameter files)")
    ap.add_argument("--responders", action="store_true", help="then fit the within-group "
                    "spread of sensitivity to the ketamine arm's day-1 response and remission (the rest as it is)")
    args = ap.parse_args(argv)
    p = ks.default_parameters()
    if args.long_term:
        p = fit_long_term(p, args.n, "induction and long-term layer")
        args.rounds = 0
    if args.responders:
        p = fit_drug(p, args.n, "responders", RESPONDER_PARAMETERS,
                     [t for t in DRUG_TARGETS if t[:2] == ("murrough2013", "ketamine")], max_nfev=8, ftol=1e-3)
        args.rounds = 0
    if args.joint:
        p = fit(p, JOINT_PARAMETERS, PLACEBO_TARGETS + DRUG_TARGETS + [ANCHOR + (1.0,)], args.n, "joint")
        args.rounds = 0
    for r in range(args.rounds):
        if not args.drug_only:
            p = fit(p, PLACEBO_PARAMETERS, PLACEBO_TARGETS, args.n, f"round {r + 1}: placebo and background")
        p = fit_drug(p, args.n, f"round {r + 1}: responders and ceiling")
    print("[final] the other hypotheses' gains")
    for key, hyp, src, dec in GAINS[1:]:
        p = fit_gain(p, key, hyp, src, dec, args.n)
    print("\nValues for the parameter files:")
    for k in dict.fromkeys(PLACEBO_PARAMETERS + DRUG_PARAMETERS + LONG_TERM_PARAMETERS + RESPONDER_PARAMETERS
                           + [g[0] for g in GAINS]):
        print(f"  {k} = {p[k].value:.4g}")


if __name__ == "__main__":
    main()
