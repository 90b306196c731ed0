"""Metrics of a simulated pattern of use, computed from the model's output columns by name: abuse liability
(drug liking, 'take drug again', rate of rise, opioid-pathway load, dissociation burden, tolerance, a bladder-harm
index) and lasting benefit (days in response, MADRS reduction). Every metric comes with its unit, a one-line
meaning and its source.

Each function takes the output grid `t` (h) and columns as (T,) arrays for one subject or (T, N) arrays for N
subjects, and returns one value per subject; `liability_table` and `benefit_table` collect them with units and,
for populations, the mean and 5th/50th/95th percentiles. The numbers of the mood layer are not copied here: the
benefit metrics read `madrs` as the model computes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HAP_TIMES_H = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)   # sampling times of HAP studies after dosing
NOTE = "Research software, not a dosing tool: these numbers describe a model, not advice about any use of ketamine."
KETAMINE_DRUGS = ("ketamine", "esketamine", "arketamine")


@dataclass(frozen=True)
class Metric:
    key: str
    unit: str
    description: str
    source: str          # a CITATIONS.bib key, or 'ketasim' for a definition of this software


LIABILITY_METRICS = (
    Metric("liking_emax", "VAS points (0-100, 50 neutral)", "peak drug liking at the moment", "EsmethadoneHAP2023"),
    Metric("liking_emax_over_placebo", "VAS points", "peak liking minus placebo (the neutral 50: the model's "
           "placebo has no drug effect), as HAP studies report it", "EsmethadoneHAP2023"),
    Metric("liking_tmax", "h", "time of peak liking after the first administration", "ketasim"),
    Metric("liking_auec", "VAS points x h", "area of liking above neutral over the whole run", "EsmethadoneHAP2023"),
    Metric("liking_time_above_threshold", "h", "time with liking above the HAP positive-control margin "
           "(neutral + 15)", "EsmethadoneHAP2023"),
    Metric("liking_rate_of_rise", "VAS points/min", "steepest rise of liking (speed of onset, which drives "
           "reinforcement)", "ketasim"),
    Metric("time_to_liking_peak", "min", "from the administration before the highest liking to that peak",
           "ketasim"),
    Metric("take_drug_again", "VAS points (0-100, 50 neutral)", "'take drug again' rating, from peak liking "
           "(no published values: an assumption)", "assumption"),
    Metric("euphoria_emax", "VAS points (0-100)", "peak euphoria / drug high (unipolar)", "SimonsPD2022"),
    Metric("cadss_peak", "CADSS points", "peak dissociation", "vanSchalkwyk2018"),
    Metric("cadss_auc", "CADSS points x h", "dissociation burden: area under the CADSS curve", "ketasim"),
    Metric("cadss_time_above_threshold", "h", "time with CADSS above the marked-dissociation threshold (10)",
           "Singh2016"),
    Metric("opioid_load_auc", "relative x h", "opioid-pathway load: area of the MOR agonist signal above its "
           "baseline of 1", "ketasim"),
    Metric("opioid_time_above_threshold", "h", "time with the MOR agonist signal above its threshold (1.1)",
           "ketasim"),
    Metric("chronic_tolerance_fold", "fold", "largest chronic (heavy-use) potency shift: the fold dose needed "
           "for the first day's immediate effects", "Muetzelfeldt2008"),
    Metric("use_days_180", "days", "days with any administration in the busiest 180 days", "UrinarySymptomsDAD2013"),
    Metric("bladder_odds_ratio_frequency", "odds ratio", "odds of urinary frequency against never-use, "
           "(1 + 1.6 %) per day of use in 180 days", "UrinarySymptomsDAD2013"),
    Metric("bladder_odds_ratio_haematuria", "odds ratio", "odds of haematuria against never-use, (1 + 1.9 %) per "
           "day of use in 180 days", "UrinarySymptomsDAD2013"),
    Metric("bladder_frequency_probability", "fraction", "probability of urinary frequency, from the never-users' "
           "24 % and the odds ratio", "UrinarySymptomsDAD2013"),
    Metric("total_dose", "mg", "ketamine, esketamine and arketamine given (per subject)", "ketasim"),
    Metric("administrations", "count", "administrations of ketamine, esketamine or arketamine", "ketasim"),
)
BENEFIT_METRICS = (
    Metric("days_in_response", "days", "days with MADRS at or below half its baseline (response)", "ketasim"),
    Metric("days_in_remission", "days", "days with MADRS at or below 10 (remission)", "ketasim"),
    Metric("madrs_reduction_auc", "MADRS points x days", "area of the MADRS reduction below baseline", "ketasim"),
    Metric("benefit_days", "days", "lasting benefit: the area of the MADRS reduction in days of a response-sized "
           "(50 %) reduction", "ketasim"),
    Metric("madrs_change_end", "MADRS points", "MADRS change from baseline at the end of the run", "ketasim"),
    Metric("response_days_after_last_dose", "days", "from the last administration until response is lost "
           "(0 if not in response then; censored at the end of the run)", "ketasim"),
)
METRICS = {m.key: m for m in LIABILITY_METRICS + BENEFIT_METRICS}


# ---------------------------------------------------------------------------------------------------------
# array helpers: columns are (T,) or (T, N); results are (N,) (a 1-vector for one subject)

def _2d(y) -> np.ndarray:
    y = np.asarray(y, float)
    return y[:, None] if y.ndim == 1 else y


def auc(t: np.ndarray, y) -> np.ndarray:
    """Trapezoidal area of each column."""
    y = _2d(y)
    dt = np.diff(t)[:, None]
    return np.sum(0.5 * (y[1:] + y[:-1]) * dt, axis=0)


def time_above(t: np.ndarray, y, threshold: float) -> np.ndarray:
    """Time each column spends above `threshold`, with linear interpolation of the crossings within a step."""
    y = _2d(y) - threshold
    a, b = y[:-1], y[1:]
    dt = np.diff(t)[:, None]
    both = (a > 0) & (b > 0)
    up = (a <= 0) & (b > 0)
    down = (a > 0) & (b <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac_up = np.where(up, b / (b - a), 0.0)
        frac_down = np.where(down, a / (a - b), 0.0)
    return np.sum(dt * (both + frac_up + frac_down), axis=0)


def max_slope_per_min(t: np.ndarray, y) -> np.ndarray:
    y = _2d(y)
    dt = np.diff(t)[:, None] * 60.0
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(dt > 0, np.diff(y, axis=0) / dt, 0.0)
    return np.max(s, axis=0, initial=0.0)


def use_days_in_window(times_h, window_days: float = 180.0) -> int:
    """Distinct calendar days (day k = [24k, 24k + 24) h) with an administration, in the busiest window of
    `window_days` consecutive days."""
    days = np.unique(np.floor(np.asarray(times_h, float) / 24.0).astype(np.int64))
    if len(days) == 0:
        return 0
    ends = np.searchsorted(days, days + int(window_days), side="left")
    return int(np.max(ends - np.arange(len(days))))


def _administrations(regimen) -> list:
    return [d for d in regimen.realize() if d.drug in KETAMINE_DRUGS] if regimen is not None else []


# ---------------------------------------------------------------------------------------------------------
def liability_values(t, outputs: dict, regimen, parameters, weight_kg=None) -> dict[str, np.ndarray]:
    """Every liability metric per subject (arrays of length N). Needs the columns drug_liking, euphoria, cadss,
    mor_agonist_signal and chronic_tolerance; `weight_kg` (scalar or (N,)) converts per-weight doses."""
    t = np.asarray(t, float)
    g = parameters.value
    neutral = g("liking.neutral")
    liking = _2d(outputs["drug_liking"])
    N = liking.shape[1]
    doses = _administrations(regimen)
    first = min((d.time_h for d in doses), default=float(t[0]))
    out: dict[str, np.ndarray] = {}
    peak_i = np.argmax(liking, axis=0)
    out["liking_emax"] = liking.max(axis=0)
    out["liking_emax_over_placebo"] = out["liking_emax"] - neutral
    out["liking_tmax"] = t[peak_i] - first
    out["liking_auec"] = auc(t, np.maximum(liking - neutral, 0.0))
    out["liking_time_above_threshold"] = time_above(t, liking, g("abuse.liking_threshold"))
    out["liking_rate_of_rise"] = max_slope_per_min(t, liking)
    starts = np.array(sorted({d.time_h for d in doses})) if doses else np.array([first])
    t_peak = t[peak_i]
    session_start = starts[np.clip(np.searchsorted(starts, t_peak, side="right") - 1, 0, len(starts) - 1)]
    out["time_to_liking_peak"] = (t_peak - session_start) * 60.0
    out["take_drug_again"] = neutral + g("liking.take_again_gain") * np.maximum(out["liking_emax"] - neutral, 0.0)
    out["euphoria_emax"] = _2d(outputs["euphoria"]).max(axis=0)
    cadss = _2d(outputs["cadss"])
    out["cadss_peak"] = cadss.max(axis=0)
    out["cadss_auc"] = auc(t, cadss)
    out["cadss_time_above_threshold"] = time_above(t, cadss, g("abuse.cadss_threshold"))
    mor = _2d(outputs["mor_agonist_signal"])
    out["opioid_load_auc"] = auc(t, np.maximum(mor - 1.0, 0.0))
    out["opioid_time_above_threshold"] = time_above(t, mor, 1.0 + g("abuse.mor_signal_excess"))
    out["chronic_tolerance_fold"] = 1.0 + _2d(outputs["chronic_tolerance"]).max(axis=0)
    days = use_days_in_window([d.time_h for d in doses], g("harm.bladder_window") / 24.0)
    out["use_days_180"] = np.full(N, float(days))
    for symptom in ("frequency", "haematuria"):
        out[f"bladder_odds_ratio_{symptom}"] = np.full(N, (1.0 + g(f"harm.bladder_odds_per_day_{symptom}")) ** days)
    p0 = g("harm.bladder_baseline_prevalence")
    odds = p0 / (1.0 - p0) * out["bladder_odds_ratio_frequency"]
    out["bladder_frequency_probability"] = odds / (1.0 + odds)
    w = np.broadcast_to(np.asarray(70.0 if weight_kg is None else weight_kg, float), (N,))
    out["total_dose"] = np.sum([d.amount * w if d.amount_unit == "mg/kg" else np.full(N, d.amount) for d in doses],
                               axis=0) if doses else np.zeros(N)
    out["administrations"] = np.full(N, float(len(doses)))
    return out


def bladder_uncertainty(days: int, parameters) -> dict:
    """The odds ratios over each slope's uncertainty range (the survey's intervals were not read)."""
    out = {}
    for symptom in ("frequency", "urgency", "dysuria", "haematuria"):
        p = parameters[f"harm.bladder_odds_per_day_{symptom}"]
        out[symptom] = {"odds_ratio": (1.0 + p.value) ** days, "range": [(1.0 + p.low) ** days,
                                                                          (1.0 + p.high) ** days],
                        "per_day": p.value, "unit": "odds ratio"}
    return out


def liking_time_course(t, liking, regimen) -> dict:
    """Liking at the HAP sampling times after the first administration (median over subjects)."""
    t = np.asarray(t, float)
    y = np.median(_2d(liking), axis=1)
    doses = _administrations(regimen)
    first = min((d.time_h for d in doses), default=float(t[0]))
    times = [h for h in HAP_TIMES_H if first + h <= t[-1]]
    return {"time_after_first_dose_h": list(times),
            "drug_liking": [float(np.interp(first + h, t, y)) for h in times], "unit": "VAS points (50 neutral)"}


def benefit_values(t, madrs, regimen, baseline=None, first_session_h: float | None = None) -> dict[str, np.ndarray]:
    """Lasting-benefit metrics per subject from the model's `madrs` column (baseline: the first value)."""
    t = np.asarray(t, float)
    m = _2d(madrs)
    base = m[0] if baseline is None else np.broadcast_to(np.asarray(baseline, float), (m.shape[1],))
    start = float(t[0]) if first_session_h is None else first_session_h
    keep = t >= start
    tt, mm = t[keep], m[keep]
    out = {"days_in_response": time_above(tt, 0.5 * base - mm, -1e-12) / 24.0}
    out["days_in_remission"] = time_above(tt, 10.0 - mm, -1e-12) / 24.0
    out["madrs_reduction_auc"] = auc(tt, np.maximum(base - mm, 0.0)) / 24.0
    out["benefit_days"] = out["madrs_reduction_auc"] / (0.5 * base)
    out["madrs_change_end"] = m[-1] - base
    doses = _administrations(regimen)
    last = max((d.time_h + d.duration_h for d in doses), default=start)
    after = t >= last
    if after.sum() >= 2:
        ta, ma = t[after], m[after]
        responding = ma <= 0.5 * base
        # first time after the last dose that the subject is not in response (censored at the end)
        lost = np.where(responding.all(axis=0), len(ta) - 1, np.argmin(responding, axis=0))
        out["response_days_after_last_dose"] = np.where(responding[0], (ta[lost] - ta[0]) / 24.0, 0.0)
    else:
        out["response_days_after_last_dose"] = np.zeros(m.shape[1])
    return out


def summarise(values: dict[str, np.ndarray]) -> dict:
    """Metric -> {value (mean), unit, description, source[, p5, p50, p95 for more than one subject]}."""
    doc = {}
    for key, arr in values.items():
        m = METRICS[key]
        arr = np.asarray(arr, float)
        row = {"value": _num(np.mean(arr)), "unit": m.unit, "description": m.description, "source": m.source}
        if arr.size > 1:
            row.update({f"p{p}": _num(np.percentile(arr, p)) for p in (5, 50, 95)})
        doc[key] = row
    return doc


def _num(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def liability_table(t, outputs: dict, regimen, parameters, weight_kg=None, hypothesis: str | None = None,
                    scenario: str | None = None) -> dict:
    """The abuse-liability table of one run (abuse.json): every metric with unit, meaning and source; the liking
    time course; the bladder index with its uncertainty."""
    values = liability_values(t, outputs, regimen, parameters, weight_kg)
    days = int(values["use_days_180"][0]) if len(values["use_days_180"]) else 0
    return {"scenario": scenario, "hypothesis": hypothesis, "subjects": int(_2d(outputs["drug_liking"]).shape[1]),
            "metrics": summarise(values),
            "liking_time_course": liking_time_course(t, outputs["drug_liking"], regimen),
            "bladder": {"use_days_180": days, "symptoms": bladder_uncertainty(days, parameters),
                        "note": "odds ratios against never-use from one survey's per-day slopes (1.4-1.9 % per "
                                "day of use in 180 days); severe long-term damage is largely irreversible and "
                                "is not in this index"},
            "placebo": "the model's placebo is no drug: liking stays at the neutral 50",
            "note": NOTE}


REQUIRED_COLUMNS = ("drug_liking", "euphoria", "cadss", "mor_agonist_signal", "chronic_tolerance")


def has_liability_columns(outputs) -> bool:
    return all(c in outputs for c in REQUIRED_COLUMNS)
