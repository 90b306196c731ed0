"""Recompute the calibrated gains of mechanisms_calibrated.toml.

Every hypothesis is calibrated to one anchor: 0.5 mg/kg racemic ketamine over 40 min, typical 70-kg subject,
baseline MADRS 32, active-placebo expectation -> MADRS change at 24 h of -16.5 (Murrough 2013).
Run:  .venv/bin/python tools/calibrate_mechanisms.py   (prints the values to paste into the TOML file)
"""

import math

import numpy as np
from scipy.optimize import brentq

import ketasim as ks

ANCHOR_CHANGE_24H = -16.5
REGIMEN = "ketamine 0.5 mg/kg iv over 40 min"


def change_24h(params, hypothesis, source=None):
    r = ks.simulate(REGIMEN, duration="2 d", hypothesis=hypothesis, opioid_source=source, parameters=params,
                    output_step="15 min")
    m = np.interp(24.0, r.time_h, r.outputs["madrs"])
    return m - r.meta["baseline_madrs"]


CASES = [
    ("glutamate.X50", "glutamate", None, True),        # larger X50 -> smaller effect
    ("hnk_ampa.X50", "hnk_ampa", None, True),
    ("opioid.hnk_Ki_mor", "opioid", "hnk_mor", True),  # weaker affinity -> smaller effect
    ("opioid.ketamine_tau", "opioid", "ketamine_mor", False),
    ("opioid.endogenous_gain", "opioid", "endogenous", False),
]


def calibrate(params=None):
    params = params or ks.default_parameters()
    found = {}
    for key, hyp, src, _ in CASES:
        lo, hi = params[key].low, params[key].high

        def f(logv):
            return change_24h(params.replace(**{key: math.exp(logv)}), hyp, src) - ANCHOR_CHANGE_24H

        a, b = math.log(lo), math.log(hi)
        fa, fb = f(a), f(b)
        if fa * fb > 0:
            raise RuntimeError(f"{key}: anchor not reachable inside its range [{lo}, {hi}] ({fa:.2f}, {fb:.2f})")
        found[key] = math.exp(brentq(f, a, b, xtol=1e-6))
        params = params.replace(**{key: found[key]})
    return found


if __name__ == "__main__":
    for k, v in calibrate().items():
        print(f"{k} = {v:.4g}")
