"""A compound file's `checks`: the published PK numbers its parameters must reproduce (typical subject), each
within its tolerance. `ketasim validate` lists them with the other published-data comparisons."""

from __future__ import annotations

import math

import numpy as np

from ketasim.units import ureg

from ._compound import Compound

_UNIT = {"cmax": "ng/mL", "concentration": "ng/mL", "tmax": "h", "half_life": "h", "auc": "ng*h/mL"}


def _duration_h(check, observed_h: float | None) -> float:
    from ketasim.regimens import Regimen
    from ketasim.units import to_hours

    reg = Regimen.from_text(*check.regimen)
    last = reg.last_time_h()
    if check.quantity == "half_life":
        return last + max(6.0 * observed_h, 24.0)
    if check.quantity == "concentration":
        return max(to_hours(check.at, "check time") + reg.first_time_h() + 1.0, last + 1.0)
    if check.quantity == "auc":
        return last + 24.0 * 14
    return last + 72.0


def evaluate_check(compound: Compound, check) -> dict:
    """Simulate the check's regimen for the typical subject and compare the quantity with the published value."""
    import ketasim as ks
    from ketasim.units import to_hours, to_unit

    unit = _UNIT[check.quantity]
    observed = float(check.observed.quantity().to(ureg(unit).units).magnitude)
    lo_obs = hi_obs = None
    if check.observed.range is not None:
        f = observed / check.observed.value if check.observed.value else 1.0
        lo_obs, hi_obs = (x * f for x in check.observed.range)
    duration = _duration_h(check, observed if check.quantity == "half_life" else None)
    step = "5 min" if duration <= 48 else ("15 min" if duration <= 24 * 14 else "1 h")
    res = ks.simulate(check.regimen, duration=f"{duration} h", weight=to_unit(check.weight, "kg", "check weight"),
                      output_step=step, hypothesis="null")
    col = f"{check.species}_ng_ml"
    t, y = res.time_h, res.outputs[col]
    first = min(d.time_h for d in res.regimen.realize())
    if check.quantity == "cmax":
        model = float(np.max(y))
    elif check.quantity == "tmax":
        model = float(t[int(np.argmax(y))] - first)
    elif check.quantity == "concentration":
        model = float(np.interp(first + to_hours(check.at, "check time"), t, y))
    elif check.quantity == "auc":
        model = float(np.trapezoid(y, t))
    else:  # terminal half-life: log-linear fit over the second half of the run after the last dose
        last = res.regimen.last_time_h()
        start = last + 0.5 * (t[-1] - last)
        m = (t >= start) & (y > 0)
        slope = np.polyfit(t[m], np.log(y[m]), 1)[0] if m.sum() >= 3 else 0.0
        model = math.log(2) / -slope if slope < 0 else float("inf")
    rel = (model - observed) / observed if observed else float("nan")
    ok = math.isfinite(model) and abs(rel) <= check.tolerance + 1e-12
    if lo_obs is not None:   # a published range: inside it passes too
        ok = ok or (lo_obs <= model <= hi_obs)
    return {"compound": compound.name, "species": check.species, "regimen": list(check.regimen),
            "quantity": check.quantity, "unit": unit, "observed": observed,
            "observed_range": [lo_obs, hi_obs] if lo_obs is not None else None, "model": model,
            "relative_difference": rel, "tolerance": check.tolerance, "pass": bool(ok),
            "source": check.observed.source, "note": check.note or check.observed.note}


def run_checks(compound: Compound) -> list[dict]:
    return [evaluate_check(compound, c) for c in compound.spec.checks]
