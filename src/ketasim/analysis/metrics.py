"""Summary metrics of one time course, shared by `Result.summary`, the population summary and NCA.

Times are reported after the dose that precedes the extreme (not from regimen time zero); outputs that fall
under treatment (MADRS, HAM-D17, signals pushed below baseline by naltrexone) report their nadir; effect
outputs report the area between the curve and their baseline (AUEC) rather than an area that includes the
baseline; areas of concentrations are in ng·h/mL. Pure NumPy: no model knowledge beyond column names.
"""

from __future__ import annotations

import numpy as np

KETAMINE_DRUGS = ("ketamine", "esketamine", "arketamine")
# which doses a plasma column is measured from
_PK_PREFIX_DRUGS = {"ketamine": KETAMINE_DRUGS, "norketamine": KETAMINE_DRUGS, "hnk": KETAMINE_DRUGS + ("hnk",),
                    "dhnk": KETAMINE_DRUGS, "naltrexone": ("naltrexone",), "naltrexol": ("naltrexone",)}


def is_concentration(column: str) -> bool:
    return column.endswith("_ng_ml")


def area_unit(column: str, unit: str) -> str:
    """ng·h/mL for concentrations; 'UNIT·h' for effect outputs (baseline-corrected)."""
    if unit == "ng/mL":
        return "ng·h/mL"
    return f"{unit}·h" if unit else "h"


def relevant_dose_times(column: str, doses) -> np.ndarray:
    """Start times (h) of the administrations a column responds to: the parent drug's doses for plasma
    columns, every session (placebo included) for effect outputs. `doses` are realised Dose objects."""
    if is_concentration(column):
        drugs = _PK_PREFIX_DRUGS.get(column.split("_")[0])
        # a compound's species: measured from every dose (its compound's doses are among them)
        times = [d.time_h for d in doses if drugs is None or d.drug in drugs]
    else:
        times = [d.time_h for d in doses]
    return np.array(sorted(times), float)


def time_after_dose(t_event: np.ndarray | float, dose_times: np.ndarray) -> np.ndarray:
    """Time since the last dose at or before each event time (time since 0 where no dose precedes it)."""
    t_event = np.asarray(t_event, float)
    if len(dose_times) == 0:
        return t_event.copy()
    k = np.searchsorted(dose_times, t_event + 1e-9, side="right") - 1
    ref = np.where(k >= 0, dose_times[np.clip(k, 0, None)], 0.0)
    return t_event - ref


def trapezoid(y: np.ndarray, t: np.ndarray, axis: int = 0) -> np.ndarray:
    """Linear trapezoidal area along `axis` (time)."""
    y = np.moveaxis(np.asarray(y, float), axis, 0)
    if len(t) < 2:
        return np.zeros(y.shape[1:])
    dt = np.diff(t).reshape((-1,) + (1,) * (y.ndim - 1))
    return np.sum(0.5 * (y[1:] + y[:-1]) * dt, axis=0)


def series_metrics(t: np.ndarray, y: np.ndarray, column: str, unit: str, dose_times: np.ndarray) -> dict:
    """Metrics of y (T,) or (T, N) over t: arrays over subjects when y is 2-D, floats when 1-D.

    Keys (every output): cmax, tmax_h (after the preceding dose), time_of_cmax_h (regimen clock), auc, unit,
    auc_unit. Effect outputs add: baseline (first time point, before any dose), nadir, tnadir_h (after dose),
    time_of_nadir_h, direction ('rises' or 'falls': which extreme is further from baseline), peak_change (the
    signed change at that extreme), and `auc` is the baseline-corrected AUEC (signed; auec_below / auec_above
    split it)."""
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    one = y.ndim == 1
    Y = y[:, None] if one else y
    imax = np.argmax(Y, axis=0)
    imin = np.argmin(Y, axis=0)
    cols = np.arange(Y.shape[1])
    cmax = Y[imax, cols]
    out: dict = {"cmax": cmax, "tmax_h": time_after_dose(t[imax], dose_times), "time_of_cmax_h": t[imax]}
    if is_concentration(column):
        out["auc"] = trapezoid(Y, t)
    else:
        base = Y[0]
        nadir = Y[imin, cols]
        rise, fall = cmax - base, base - nadir
        falls = fall > rise
        dev = Y - base
        out.update(baseline=base, nadir=nadir, tnadir_h=time_after_dose(t[imin], dose_times),
                   time_of_nadir_h=t[imin], peak_change=np.where(falls, nadir - base, cmax - base),
                   auc=trapezoid(dev, t), auec_above=trapezoid(np.clip(dev, 0, None), t),
                   auec_below=trapezoid(np.clip(dev, None, 0), t))
        out["direction"] = np.where(falls, "falls", "rises")
    if one:
        out = {k: (str(v[0]) if k == "direction" else float(v[0])) for k, v in out.items()}
    out["unit"] = unit
    out["auc_unit"] = area_unit(column, unit) + ("" if is_concentration(column) else " (baseline-corrected)")
    return out


def mood_time_points(first_session_h: float, end_h: float) -> list[tuple[str, float]]:
    """(label, time h) at which mood change from baseline is reported: each day through the first week, then
    weekly, then the end of the run; `24h` and `day7` kept as the names of days 1 and 7."""
    pts: list[tuple[str, float]] = []
    for d in range(1, 8):
        pts.append((f"day{d}", first_session_h + 24.0 * d))
    w = 2
    while first_session_h + 168.0 * w <= end_h + 1e-9:
        pts.append((f"week{w}", first_session_h + 168.0 * w))
        w += 1
    pts = [(k, tt) for k, tt in pts if tt <= end_h + 1e-9]
    pts.append(("end", end_h))
    return pts
