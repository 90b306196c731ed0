"""Non-compartmental analysis (NCA), per subject and per dose, with times after the dose.

Concentrations (ng/mL): Cmax, Tmax, Clast, Tlast, AUC0-t (linear-up / log-down trapezoids), lambda_z by
log-linear regression on the terminal points (the best adjusted R² over the last 3 or more points after Cmax;
within 1e-4 of the best, the most points win, as PKNCA and Phoenix WinNonlin do), half-life, AUCinf (AUClast +
Clast / lambda_z) and its extrapolated share (an interval ends just before the next dose: where a table's value
at that time already holds a bolus, the pre-dose value is extrapolated log-linearly from the two points before), CL/F = dose / AUCinf (single dose; dose / AUCtau for a dose that is
followed by another, i.e. at steady state where the intervals repeat), Vz/F = CL/F / lambda_z, Ctrough (at the
end of the interval) and the accumulation ratio AUCtau(dose k) / AUCtau(dose 1).
Effect outputs (points, fractions): baseline (value at the dose), Emax, Emin (nadir) with their times after the
dose, and the baseline-corrected AUEC over the interval (signed, and split below/above baseline).

Units: time h, dose mg, AUC ng·h/mL, CL L/h, V L (1000 x mg / (ng·h/mL) = L/h).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .metrics import KETAMINE_DRUGS, is_concentration, relevant_dose_times

LAMBDA_Z_MIN_POINTS = 3
ADJ_R2_TOLERANCE = 1e-4


def auc_linear_up_log_down(t: np.ndarray, c: np.ndarray) -> float:
    """AUC by linear trapezoids where the curve rises (or touches 0), log trapezoids where it falls."""
    t = np.asarray(t, float)
    c = np.asarray(c, float)
    if len(t) < 2:
        return 0.0
    dt = np.diff(t)
    c1, c2 = c[:-1], c[1:]
    lin = 0.5 * (c1 + c2) * dt
    down = (c2 < c1) & (c2 > 0) & (c1 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = (c1 - c2) * dt / np.log(c1 / c2)
    return float(np.sum(np.where(down, log, lin)))


def lambda_z(t: np.ndarray, c: np.ndarray, tmax: float) -> dict:
    """Terminal slope: log-linear fits on the last n points after Tmax (n >= 3, c > 0); best adjusted R²."""
    m = (t > tmax) & (c > 0)
    tt, lc = t[m], np.log(c[m])
    best = None
    for n in range(LAMBDA_Z_MIN_POINTS, len(tt) + 1):
        x, y = tt[-n:], lc[-n:]
        slope, icpt = np.polyfit(x, y, 1)
        if slope >= 0:
            continue
        resid = y - (slope * x + icpt)
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else 1.0
        adj = 1.0 - (1.0 - r2) * (n - 1) / (n - 2)
        if best is None or adj > best["adj_r2"] - ADJ_R2_TOLERANCE:
            if best is None or adj >= best["adj_r2"] - ADJ_R2_TOLERANCE:
                best = {"lambda_z_per_h": -slope, "adj_r2": adj, "n_points": n, "first_h": float(x[0]),
                        "last_h": float(x[-1])}
    return best or {"lambda_z_per_h": math.nan, "adj_r2": math.nan, "n_points": 0, "first_h": math.nan,
                    "last_h": math.nan}


def nca_interval(t_after: np.ndarray, y: np.ndarray, column: str, dose_mg: float | None,
                 followed: bool) -> dict:
    """NCA of one dosing interval: times after the dose (>= 0), values of `column`."""
    if len(t_after) == 0:
        return {}
    if is_concentration(column):
        i = int(np.argmax(y))
        pos = np.flatnonzero(y > 0)
        last = int(pos[-1]) if len(pos) else len(y) - 1
        auc = auc_linear_up_log_down(t_after[:last + 1], y[:last + 1])
        lz = lambda_z(t_after, y, t_after[i])
        lam = lz["lambda_z_per_h"]
        auc_inf = auc + y[last] / lam if np.isfinite(lam) else math.nan
        row = {"cmax": float(y[i]), "tmax_h": float(t_after[i]), "clast": float(y[last]),
               "tlast_h": float(t_after[last]), "auc_0_t": auc, "auc_0_t_all": auc_linear_up_log_down(t_after, y),
               "lambda_z_per_h": lam, "half_life_h": math.log(2) / lam if np.isfinite(lam) else math.nan,
               "lambda_z_points": lz["n_points"], "lambda_z_first_h": lz["first_h"], "lambda_z_last_h": lz["last_h"],
               "lambda_z_adj_r2": lz["adj_r2"], "auc_inf": auc_inf,
               "auc_extrapolated_pct": 100 * (1 - auc / auc_inf) if np.isfinite(auc_inf) and auc_inf > 0 else math.nan,
               "ctrough": float(y[-1]) if followed else math.nan, "auc_tau": auc if followed else math.nan}
        if dose_mg:
            area = auc if followed else auc_inf
            cl = 1000.0 * dose_mg / area if area and np.isfinite(area) and area > 0 else math.nan
            row["cl_f_l_h"] = cl
            row["vz_f_l"] = cl / lam if np.isfinite(lam) and np.isfinite(cl) else math.nan
        row["auc_unit"] = "ng·h/mL"
        return row
    base = float(y[0])
    dev = y - base
    imax, imin = int(np.argmax(y)), int(np.argmin(y))
    area = lambda v: float(np.sum(0.5 * (v[1:] + v[:-1]) * np.diff(t_after))) if len(v) > 1 else 0.0  # noqa: E731
    return {"baseline": base, "emax": float(y[imax]), "tmax_h": float(t_after[imax]), "emin": float(y[imin]),
            "tmin_h": float(t_after[imin]), "nadir_change": float(y[imin] - base),
            "peak_change": float(y[imax] - base), "auec": area(dev), "auec_below": area(np.clip(dev, None, 0)),
            "auec_above": area(np.clip(dev, 0, None)), "auc_unit": "output unit·h (baseline-corrected)"}


def _parent_dose(column: str, dose) -> float | None:
    """mg of the parent drug for CL/F and Vz/F (plasma ketamine or naltrexone only; none for metabolites)."""
    if column == "ketamine_ng_ml" and dose.drug in KETAMINE_DRUGS:
        return dose.amount
    if column == "naltrexone_ng_ml" and dose.drug == "naltrexone":
        return dose.amount
    return None


def nca_subject(t: np.ndarray, values: dict[str, np.ndarray], doses, weight_kg: float = 70.0,
                subject_id=0) -> list[dict]:
    """Rows (one per output and dose) for one subject: `values` column -> (T,), `doses` realised Dose objects."""
    from dataclasses import replace

    rows = []
    t = np.asarray(t, float)
    doses = [replace(d, amount=d.amount_mg(weight_kg), amount_unit="mg") if d.drug != "placebo" else d
             for d in doses]
    for col, y in values.items():
        y = np.asarray(y, float)
        times = relevant_dose_times(col, doses)
        if len(times) == 0:
            continue
        first_tau_auc = None
        for k, t0 in enumerate(times):
            t1 = times[k + 1] if k + 1 < len(times) else t[-1]
            m = (t >= t0 - 1e-9) & (t <= t1 + 1e-9)
            if m.sum() < 2:
                continue
            tt, yy = t[m] - t0, y[m].copy()
            if (is_concentration(col) and k + 1 < len(times) and len(yy) >= 3 and abs(tt[-1] - (t1 - t0)) < 1e-9
                    and yy[-1] > yy[-2]):
                # the table's value at the next dose already holds that dose (a bolus is applied at its time):
                # the pre-dose value is extrapolated log-linearly from the two points before it
                a, b = yy[-3], yy[-2]
                if a > 0 and b > 0:
                    yy[-1] = b * (b / a) ** ((tt[-1] - tt[-2]) / (tt[-2] - tt[-3]))
                else:
                    yy[-1] = b
            drugs = [d for d in doses if abs(d.time_h - t0) < 1e-9 and (d.drug != "placebo" or not is_concentration(col))]
            mg = None
            for d in drugs:
                p = _parent_dose(col, d)
                if p is not None:
                    mg = (mg or 0.0) + p
            row = {"id": subject_id, "output": col, "dose_index": k + 1, "dose_time_h": float(t0),
                   "dose": "; ".join(d.to_text() for d in drugs), "dose_mg": mg, "interval_h": float(t1 - t0),
                   **nca_interval(tt, yy, col, mg, k + 1 < len(times))}
            if is_concentration(col) and k + 1 < len(times):
                if first_tau_auc is None:
                    first_tau_auc = row["auc_tau"]
                row["accumulation_ratio"] = row["auc_tau"] / first_tau_auc if first_tau_auc else math.nan
            rows.append(row)
    return rows


NCA_DEFAULT = ("ketamine_ng_ml", "norketamine_ng_ml", "hnk_ng_ml", "dhnk_ng_ml", "naltrexone_ng_ml",
               "naltrexol_ng_ml", "cadss", "euphoria", "madrs")


def nca_result(result, outputs=None) -> pd.DataFrame:
    """NCA of a Result (typical subject) or PopulationResult (per subject)."""
    outputs = [c for c in (outputs or NCA_DEFAULT) if c in result.outputs]
    doses = result.regimen.realize()
    if getattr(result, "subjects", None) is None:
        w = result.covariates.weight_kg if result.covariates is not None else 70.0
        return pd.DataFrame(nca_subject(result.time_h, {c: result.outputs[c] for c in outputs}, doses, w))
    rows = []
    for s, r in enumerate(result.subjects.itertuples(index=False)):
        rows += nca_subject(result.time_h, {c: result.outputs[c][:, s] for c in outputs}, doses,
                            float(r.weight_kg), int(r.id))
    return pd.DataFrame(rows)


def nca_table(table: pd.DataFrame, doses_by_id: dict, weights: dict | None = None, outputs=None) -> pd.DataFrame:
    """NCA of a long table (id, time_h, output columns), each id with its realised doses."""
    outputs = [c for c in (outputs or NCA_DEFAULT) if c in table.columns]
    rows = []
    for sid, g in table.groupby("id", sort=True):
        g = g.sort_values("time_h")
        rows += nca_subject(g["time_h"].to_numpy(float), {c: g[c].to_numpy(float) for c in outputs},
                            doses_by_id.get(sid, ()), (weights or {}).get(sid, 70.0), int(sid))
    return pd.DataFrame(rows)


def nca_dataset(ds, outputs=None) -> pd.DataFrame:
    """NCA of a NONMEM-style data set's observations, each subject with its own doses (first segment's clock;
    a reset starts a new series)."""
    obs = ds.observations()
    rows = []
    for sd in ds.subjects:
        o = obs[obs["id"] == sd.id]
        for k, seg in enumerate(sd.segments):
            times = ds.records.loc[seg.rows, "TIME"] if seg.rows else pd.Series(dtype=float)
            if not len(times):
                continue
            oo = o[o["time_h"].isin(times.to_numpy())]
            wide = oo.pivot_table(index="time_h", columns="output", values="value", aggfunc="mean").reset_index()
            cols = [c for c in (outputs or wide.columns) if c in wide.columns and c != "time_h"]
            doses = seg.regimen().realize()
            w = float(sd.covariates.get("weight_kg", 70.0))
            for col in cols:
                sub = wide[["time_h", col]].dropna()
                r = nca_subject(sub["time_h"].to_numpy(float), {col: sub[col].to_numpy(float)}, doses, w, sd.id)
                for x in r:
                    x["segment"] = k
                rows += r
    return pd.DataFrame(rows)
