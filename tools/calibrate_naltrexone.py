"""Re-fit the brain side of oral naltrexone to PET: mor.Ki_naltrexone, the slow brain pool's rates and the
brain-access fraction of 6beta-naltrexol, by least squares within their ranges.

Data (calibration targets of `ketasim validate`):
- Rabiner 2011: brain MOR occupancy 3 h after single oral doses; 50 mg 92-98 %, 2 mg 27 %, 5 mg 43-58 %,
  15 mg 61 % (as tabulated by Trostheim 2022);
- Lee 1988: blockade after 50 mg relative to the 1-h scan, 91/80/46/30 % at 48/72/120/168 h.
Each residual is (model - published) / its accepted half-width (the tolerance of the validate target).

The extended-release 380 mg depot's lowest occupancy over days 1-28 (label: blockade for the monthly interval,
at least 80 %) is NOT a residual: it is printed as the out-of-sample check.

Typical 70-kg subject, default parameters otherwise. Run:
    .venv/bin/python tools/calibrate_naltrexone.py          (prints progress, then the values for the TOML)
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.optimize import least_squares

import ketasim as ks

FITTED = ("mor.Ki_naltrexone", "biophase.naltrexone_slow_k_in", "biophase.naltrexone_slow_k_out",
          "biophase.naltrexol_brain_fraction")
# (dose mg, published occupancy at 3 h, half-width of the accepted range)
RABINER = ((50, 0.95, 0.03), (2, 0.27, 0.10), (5, 0.505, 0.075), (15, 0.61, 0.10))
# (hours after 50 mg, blockade relative to the 1-h scan, accepted half-width)
LEE = ((48, 0.91, 0.10), (72, 0.80, 0.10), (120, 0.46, 0.10), (168, 0.30, 0.10))


def _at(r, col, t):
    return float(np.interp(t, r.time_h, r.outputs[col]))


def predictions(params) -> dict[str, float]:
    """The model's value for every fitted datum (same read-outs as the validate targets)."""
    out = {}
    for dose, _, _ in RABINER:
        if dose == 50:
            continue
        r = ks.simulate(f"naltrexone {dose} mg oral", duration="8 h", parameters=params, hypothesis="null")
        out[f"rabiner_{dose}mg"] = _at(r, "mor_occupancy", 3.0)
    r = ks.simulate("naltrexone 50 mg oral", duration="8 d", output_step="15 min", parameters=params,
                    hypothesis="null")
    out["rabiner_50mg"] = _at(r, "mor_occupancy", 3.0)
    ref = _at(r, "mor_occupancy", 1.0)
    for t, _, _ in LEE:
        out[f"lee_{t}h"] = _at(r, "mor_occupancy", t) / ref
    return out


def residuals_of(pred: dict[str, float]) -> np.ndarray:
    res = [(pred[f"rabiner_{d}mg"] - v) / hw for d, v, hw in RABINER]
    res += [(pred[f"lee_{t}h"] - v) / hw for t, v, hw in LEE]
    return np.array(res)


def xr_minimum_occupancy(params) -> float:
    """Lowest MOR occupancy from day 1 to day 28 after 380 mg extended-release IM (the validation check)."""
    r = ks.simulate("naltrexone 380 mg im", duration="35 d", output_step="15 min", parameters=params,
                    hypothesis="null")
    m = (r.time_h >= 24.0) & (r.time_h <= 28 * 24.0)
    return float(np.min(r.outputs["mor_occupancy"][m]))


def calibrate(params=None, verbose=True, fitted=FITTED):
    params = params or ks.default_parameters()
    lo = np.log([params[k].low for k in fitted])
    hi = np.log([params[k].high for k in fitted])
    x0 = np.clip(np.log([params.value(k) for k in fitted]), lo + 1e-9, hi - 1e-9)
    calls = {"n": 0}
    t0 = time.perf_counter()

    def fun(x):
        p = params.replace(**{k: float(math.exp(v)) for k, v in zip(fitted, x)})
        res = residuals_of(predictions(p))
        calls["n"] += 1
        if verbose:
            vals = ", ".join(f"{k.split('.')[-1]}={math.exp(v):.4g}" for k, v in zip(fitted, x))
            print(f"[{calls['n']:3d} {time.perf_counter() - t0:6.0f} s] SSR {float(res @ res):8.4f}  {vals}",
                  flush=True)
        return res

    fit = least_squares(fun, x0, bounds=(lo, hi), diff_step=1e-3, xtol=1e-6, ftol=1e-6)
    found = {k: float(math.exp(v)) for k, v in zip(fitted, fit.x)}
    return found, fit


def _report(title, params):
    pred = predictions(params)
    res = residuals_of(pred)
    print(f"\n{title}: SSR {float(res @ res):.4f}")
    for d, v, hw in RABINER:
        print(f"  Rabiner 2011 {d:>2} mg at 3 h: model {pred[f'rabiner_{d}mg']:.3f}  published {v:.3f} +/- {hw}")
    for t, v, hw in LEE:
        print(f"  Lee 1988 {t:>3} h relative:  model {pred[f'lee_{t}h']:.3f}  published {v:.2f} +/- {hw}")
    print(f"  (validation) XR 380 mg IM lowest occupancy days 1-28: {xr_minimum_occupancy(params):.3f} "
          "(label: >= 0.80)")


if __name__ == "__main__":
    base = ks.default_parameters()
    print("Research software, not a dosing tool.")
    _report("before", base)
    found, fit = calibrate(base)
    print(f"\nleast_squares: {fit.message} ({fit.nfev} evaluations)")
    after = base.replace(**found)
    _report("after", after)
    print("\nvalues for receptors_binding.toml:")
    for k in FITTED:
        print(f"  {k} = {found[k]:.4g}   (was {base.value(k):.4g}; range [{base[k].low}, {base[k].high}])")
