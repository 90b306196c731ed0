"""Published numbers the model is compared with. Each target says whether it is *validation* (the model
was not tuned to it) or *calibration* (a parameter was fitted to it, so agreement is by construction).

Later layers add their targets to TARGETS with `register`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ketasim.models.pk import Covariates, individual_pk
from ketasim.parameters import default_parameters
from ketasim.simulation import simulate


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    source: str
    kind: str                      # "validation" or "calibration"
    published: str                 # the published value, as text with unit
    low: float
    high: float
    unit: str
    compute: Callable[[], float]
    layer: str = "PK"
    note: str = ""

    def evaluate(self) -> dict:
        value = float(self.compute())
        ok = self.low <= value <= self.high and math.isfinite(value)
        return {"key": self.key, "layer": self.layer, "description": self.description, "source": self.source,
                "kind": self.kind, "published": self.published, "accepted_range": [self.low, self.high],
                "unit": self.unit, "model": value, "pass": bool(ok), "note": self.note}


TARGETS: list[Target] = []


def register(t: Target) -> Target:
    TARGETS.append(t)
    return t


def _auc(r, col):
    return float(np.trapezoid(r.outputs[col], r.time_h))


def _terminal_half_life(r, col, t_from, t_to):
    t, y = r.time_h, r.outputs[col]
    m = (t >= t_from) & (t <= t_to) & (y > 0)
    slope = np.polyfit(t[m], np.log(y[m]), 1)[0]
    return math.log(2) / -slope


def _typical_ind():
    return individual_pk(default_parameters(), Covariates())


def _cached(fn):
    cache = {}

    def wrapper():
        if "v" not in cache:
            cache["v"] = fn()
        return cache["v"]
    return wrapper


_zarate = _cached(lambda: simulate("ketamine 0.5 mg/kg iv over 40 min", duration="1 d"))
_hasan_iv = _cached(lambda: simulate("ketamine 5 mg iv over 30 min", duration="10 d", output_step="15 min"))
_esk56 = _cached(lambda: simulate("esketamine 56 mg intranasal", duration="3 d"))
_esk84 = _cached(lambda: simulate("esketamine 84 mg intranasal", duration="3 d"))
_esk56_iv = _cached(lambda: simulate("esketamine 56 mg iv over 1 min", duration="3 d"))
_ntx50 = _cached(lambda: simulate("naltrexone 50 mg oral", duration="4 d"))
_oral40 = _cached(lambda: simulate("ketamine 40 mg oral", duration="10 d", output_step="15 min"))
_iv40 = _cached(lambda: simulate("ketamine 40 mg iv over 1 min", duration="10 d", output_step="15 min"))
_sl25 = _cached(lambda: simulate("ketamine 25 mg sublingual", duration="3 d"))
_iv25 = _cached(lambda: simulate("ketamine 25 mg iv over 1 min", duration="3 d"))
_icu = _cached(lambda: simulate("ketamine 86.4 mg/kg iv over 72 h", duration="72 h", output_step="1 h"))


def _hasan_curve_fold_error() -> float:
    """Median absolute log2 fold error of S- and R-ketamine against the digitised Hasan 2021 curve,
    0.5-8 h (the README says the tail from 12 h on is unreliable)."""
    import pandas as pd

    path = resources.files("ketasim.validation") / "data" / "hasan2021_iv5mg_racemic.csv"
    df = pd.read_csv(str(path))
    df = df[(df.time_h >= 0.5) & (df.time_h <= 8.0)]
    r = _hasan_iv()
    errs = []
    for analyte, col in (("S-ketamine", "ketamine_S_ng_ml"), ("R-ketamine", "ketamine_R_ng_ml")):
        sub = df[df.analyte == analyte]
        pred = np.interp(sub.time_h.to_numpy(), r.time_h, r.outputs[col])
        errs += list(np.abs(np.log2(pred / sub.value.to_numpy())))
    return float(np.median(errs))


register(Target(
    "zarate2006_cmax", "Racemic ketamine 0.5 mg/kg IV over 40 min, 70 kg: venous Cmax at end of infusion",
    "Zanos2018 (Zarate2006)", "validation", "185 ng/mL (±25 %)", 185 * 0.75, 185 * 1.25, "ng/mL",
    lambda: _zarate().summary()["ketamine_ng_ml"]["cmax"]))
register(Target(
    "zarate2006_tmax", "Same infusion: time of ketamine Cmax (end of infusion, 40 min)",
    "Zanos2018 (Zarate2006)", "validation", "40 min", 38, 45, "min",
    lambda: _zarate().summary()["ketamine_ng_ml"]["tmax_h"] * 60))
register(Target(
    "kamp2020_cl", "Racemic ketamine effective clearance at 70 kg (mean of S and R)",
    "Kamp2020", "validation", "79 L/h (95 % CI 69-90)", 69, 90, "L/h",
    lambda: 0.5 * (_typical_ind()["S.CL"] + _typical_ind()["R.CL"])))
register(Target(
    "kamp2020_vss", "Racemic ketamine volume of distribution at steady state, 70 kg (V1 + V2, mean of S and R)",
    "Kamp2020", "validation", "252 L (95 % CI 200-304)", 200, 304, "L",
    lambda: 0.5 * sum(_typical_ind()[f"{e}.{v}"] for e in "SR" for v in ("V1", "V2"))))
register(Target(
    "hasan2021_hnk_ratio_S", "2,6-HNK/ketamine AUC ratio, S, 5 mg racemate IV over 30 min",
    "Hasan2021", "calibration", "1.7 ± 0.8", 0.9, 2.5, "ratio",
    lambda: _auc(_hasan_iv(), "hnk_S_ng_ml") / _auc(_hasan_iv(), "ketamine_S_ng_ml"),
    note="hnk.S_CL was fitted to this ratio"))
register(Target(
    "hasan2021_hnk_ratio_R", "2,6-HNK/ketamine AUC ratio, R, 5 mg racemate IV over 30 min",
    "Hasan2021", "calibration", "3.1 ± 1.4", 1.7, 4.5, "ratio",
    lambda: _auc(_hasan_iv(), "hnk_R_ng_ml") / _auc(_hasan_iv(), "ketamine_R_ng_ml"),
    note="hnk.R_CL was fitted to this ratio"))
register(Target(
    "hasan2021_S_cmax", "S-ketamine Cmax, 5 mg racemate IV over 30 min",
    "Hasan2021", "validation", "15.6 ± 4.5 ng/mL", 11.1, 20.1, "ng/mL",
    lambda: float(np.max(_hasan_iv().outputs["ketamine_S_ng_ml"]))))
register(Target(
    "hasan2021_R_cmax", "R-ketamine Cmax, 5 mg racemate IV over 30 min",
    "Hasan2021", "validation", "16.5 ± 4.9 ng/mL", 11.6, 21.4, "ng/mL",
    lambda: float(np.max(_hasan_iv().outputs["ketamine_R_ng_ml"]))))
register(Target(
    "hasan2021_S_terminal_half_life", "S-ketamine terminal half-life after IV (log-linear fit 8-24 h)",
    "Hasan2021", "validation", "5.2 ± 3.4 h", 1.8, 8.6, "h",
    lambda: _terminal_half_life(_hasan_iv(), "ketamine_S_ng_ml", 8, 24),
    note="two-compartment disposition has no slow third phase; long-sampling studies see one"))
register(Target(
    "hasan2021_curve", "S/R-ketamine time course 0.5-8 h vs digitised Hasan 2021 Fig 1: median |log2 fold error|",
    "Hasan2021", "validation", "digitised means (shape check, ±20 %)", 0.0, math.log2(1.5), "log2 fold",
    _hasan_curve_fold_error))
register(Target(
    "hasan2021_oral_F_S", "Oral availability of S-ketamine from a 40 mg racemic dose (AUC oral / AUC IV)",
    "Hasan2021", "validation", "15 ± 8 % (prolonged-release tablet)", 0.07, 0.23, "fraction",
    lambda: _auc(_oral40(), "ketamine_S_ng_ml") / _auc(_iv40(), "ketamine_S_ng_ml")))
register(Target(
    "hasan2021_oral_hnk_ratio_S", "2,6-HNK/ketamine AUC ratio after 40 mg oral, S",
    "Hasan2021", "validation", "18 ± 11", 7, 29, "ratio",
    lambda: _auc(_oral40(), "hnk_S_ng_ml") / _auc(_oral40(), "ketamine_S_ng_ml")))
register(Target(
    "fanta2015_oral_nk_ratio", "Norketamine/ketamine AUC ratio after oral S-ketamine (single dose ≈ steady state)",
    "Fanta2015", "validation", "≈16.5", 16.5 / 1.5, 16.5 * 1.5, "ratio",
    lambda: _auc(_oral40(), "norketamine_S_ng_ml") / _auc(_oral40(), "ketamine_S_ng_ml")))
register(Target(
    "perezruixo2021_esk56_cmax", "Esketamine 56 mg intranasal: esketamine Cmax (typical subject)",
    "PerezRuixo2021", "validation", "72.5 ng/mL (model-predicted, Table 4)", 72.5 * 0.7, 72.5 * 1.35, "ng/mL",
    lambda: _esk56().summary()["ketamine_ng_ml"]["cmax"],
    note="model-vs-model: Perez-Ruixo's central volume is 192 L against 133 L here, so ketasim peaks higher"))
register(Target(
    "perezruixo2021_esk84_cmax", "Esketamine 84 mg intranasal: esketamine Cmax (typical subject)",
    "PerezRuixo2021", "validation", "101 ng/mL (model-predicted, Table 4)", 101 * 0.7, 101 * 1.35, "ng/mL",
    lambda: _esk84().summary()["ketamine_ng_ml"]["cmax"]))
register(Target(
    "label_esk56_tmax", "Esketamine 56 mg intranasal: Tmax after the last device",
    "SpravatoLabel", "validation", "20-40 min", 20, 40, "min",
    lambda: _esk56().summary()["ketamine_ng_ml"]["tmax_h"] * 60 - 5.0))
register(Target(
    "perezruixo2021_esk56_F", "Esketamine 56 mg intranasal: absolute bioavailability (AUC IN / AUC IV)",
    "PerezRuixo2021", "validation", "54 % (pop-PK); label 48 %", 0.48, 0.54 * 1.05, "fraction",
    lambda: _auc(_esk56(), "ketamine_ng_ml") / _auc(_esk56_iv(), "ketamine_ng_ml")))
register(Target(
    "perezruixo2021_noresk56_cmax", "Esketamine 56 mg intranasal: noresketamine Cmax",
    "PerezRuixo2021", "validation", "119.7 ng/mL (model-predicted)", 119.7 * 0.7, 119.7 * 1.35, "ng/mL",
    lambda: _esk56().summary()["norketamine_ng_ml"]["cmax"]))
register(Target(
    "label_esk_terminal_half_life", "Esketamine intranasal terminal half-life (log-linear 12-48 h)",
    "SpravatoLabel", "validation", "7-12 h", 7, 12, "h",
    lambda: _terminal_half_life(_esk56(), "ketamine_ng_ml", 12, 48),
    note="two-compartment disposition has no slow third phase; see Hasan terminal half-life"))
register(Target(
    "rolan2014_sl_F", "Sublingual racemic ketamine 25 mg: absolute bioavailability",
    "Rolan2014", "calibration", "29 % (90 % CI 27-31)", 0.27, 0.31, "fraction",
    lambda: _auc(_sl25(), "ketamine_ng_ml") / _auc(_iv25(), "ketamine_ng_ml"),
    note="route.sublingual_mucosal_fraction was fitted to this value"))
register(Target(
    "rolan2014_sl_tmax", "Sublingual racemic ketamine 25 mg: Tmax",
    "Rolan2014", "validation", "0.75 h (0.25-1.0)", 0.25, 1.0, "h",
    lambda: _sl25().summary()["ketamine_ng_ml"]["tmax_h"]))
register(Target(
    "icu_steady_state_ketamine", "Ketamine 1.2 mg/kg/h IV for 3 days (86.4 mg/kg over 72 h): plasma ketamine at 72 h",
    "ICUAnalgosedation", "validation", "1.2 ± 0.3 µg/mL", 900, 1500, "ng/mL",
    lambda: float(_icu().outputs["ketamine_ng_ml"][-1])))
register(Target(
    "icu_steady_state_norketamine", "Same infusion: plasma norketamine at 72 h",
    "ICUAnalgosedation", "validation", "1.0 ± 0.6 µg/mL", 400, 1600, "ng/mL",
    lambda: float(_icu().outputs["norketamine_ng_ml"][-1])))
register(Target(
    "icu_steady_state_dhnk", "Same infusion: plasma DHNK at 72 h",
    "ICUAnalgosedation", "calibration", "2.6 ± 1.0 µg/mL", 1600, 3600, "ng/mL",
    lambda: float(_icu().outputs["dhnk_ng_ml"][-1]),
    note="dhnk.CL was fitted to the steady-state DHNK/ketamine ratio"))
register(Target(
    "fachinfo_ntx_cmax", "Naltrexone 50 mg oral: naltrexone Cmax",
    "NaltrexoneFachinfo", "calibration", "13.3 ng/mL", 13.3 * 0.8, 13.3 * 1.2, "ng/mL",
    lambda: _ntx50().summary()["naltrexone_ng_ml"]["cmax"], note="naltrexone.F fitted"))
register(Target(
    "fachinfo_ntx_tmax", "Naltrexone 50 mg oral: naltrexone Tmax",
    "NaltrexoneFachinfo", "calibration", "≈1 h", 0.5, 1.5, "h",
    lambda: _ntx50().summary()["naltrexone_ng_ml"]["tmax_h"], note="naltrexone.ka fitted"))
register(Target(
    "fachinfo_nxl_cmax", "Naltrexone 50 mg oral: 6β-naltrexol Cmax",
    "NaltrexoneFachinfo", "calibration", "108 ng/mL", 108 * 0.8, 108 * 1.2, "ng/mL",
    lambda: _ntx50().summary()["naltrexol_ng_ml"]["cmax"], note="naltrexol.fm fitted"))
register(Target(
    "verebey1976_nxl_tmax", "Naltrexone oral: 6β-naltrexol Tmax",
    "NaltrexoneFachinfo", "validation", "1 h (Fachinfo) - 2 h (Verebey 1976)", 0.75, 2.5, "h",
    lambda: _ntx50().summary()["naltrexol_ng_ml"]["tmax_h"]))
register(Target(
    "label_ntx_half_life", "Naltrexone terminal half-life (log-linear 6-24 h)",
    "ReViaLabel", "validation", "≈4 h (2.7-10)", 2.7, 10, "h",
    lambda: _terminal_half_life(_ntx50(), "naltrexone_ng_ml", 6, 24)))
register(Target(
    "label_nxl_half_life", "6β-naltrexol terminal half-life (log-linear 24-72 h)",
    "ReViaLabel", "validation", "≈13 h (12-18)", 12, 18, "h",
    lambda: _terminal_half_life(_ntx50(), "naltrexol_ng_ml", 24, 72)))


def run_validation(layers: set[str] | None = None) -> list[dict]:
    return [t.evaluate() for t in TARGETS if layers is None or t.layer in layers]


# ---------------------------------------------------------------- layers L2-L5 (receptors, effects, mood)
_K = "ketamine 0.5 mg/kg iv over 40 min"
_NTX = "naltrexone 50 mg oral at -45 min"
_PLACEBO = "placebo 0 mg iv over 40 min"
_pd_k = _cached(lambda: simulate(_K, duration="14 d", output_step="15 min"))
_pd_kn = _cached(lambda: simulate([_K, _NTX], duration="14 d", output_step="15 min"))
_pd_pl = _cached(lambda: simulate(_PLACEBO, duration="14 d", output_step="15 min"))
_pd_glu = _cached(lambda: simulate(_K, duration="3 d", hypothesis="glutamate"))
_pd_glu_n = _cached(lambda: simulate([_K, _NTX], duration="3 d", hypothesis="glutamate"))
_ntx_only = _cached(lambda: simulate("naltrexone 50 mg oral", duration="8 d", output_step="15 min"))


def _at(r, col, t):
    return float(np.interp(t, r.time_h, r.outputs[col]))


def _ntx_relative(t):
    r = _ntx_only()
    return _at(r, "mor_occupancy", t) / _at(r, "mor_occupancy", 1.0)


def _ntx_dose_occupancy(dose_mg):
    r = simulate(f"naltrexone {dose_mg} mg oral", duration="8 h")
    return _at(r, "mor_occupancy", 3.0)


register(Target(
    "rabiner2011_occupancy_50mg", "Naltrexone 50 mg oral: brain MOR occupancy 3 h after the dose",
    "Rabiner2011", "calibration", "92-98 %", 0.90, 0.99, "fraction",
    lambda: _at(_ntx_only(), "mor_occupancy", 3.0), layer="receptors",
    note="mor.Ki_naltrexone and the slow-pool rates were fitted to this and Lee 1988"))
for _t, _v in ((48, 0.91), (72, 0.80), (120, 0.46), (168, 0.30)):
    register(Target(
        f"lee1988_relative_{_t}h", f"Naltrexone 50 mg: MOR blockade at {_t} h relative to the 1-h scan",
        "Lee1988", "calibration", f"{_v:.0%}", _v - 0.1, _v + 0.1, "fraction",
        (lambda tt=_t: _ntx_relative(tt)), layer="receptors"))
for _d, _lo, _hi, _pub in ((2, 0.17, 0.37, "27 %"), (5, 0.43, 0.58, "43-58 %"), (15, 0.51, 0.71, "61 %")):
    register(Target(
        f"rabiner2011_occupancy_{_d}mg", f"Naltrexone {_d} mg oral: brain MOR occupancy (<8 h)",
        "Rabiner2011", "validation", _pub, _lo, _hi, "fraction",
        (lambda dd=_d: _ntx_dose_occupancy(dd)), layer="receptors",
        note="the two-pool model is flatter in dose than PET: it overpredicts occupancy at low doses"))
register(Target(
    "bowdle_cadss_peak_time", "0.5 mg/kg/40 min: CADSS peak within 20 min of the infusion's end",
    "Zarate2006", "validation", "peak at ~40 min (end of infusion)", 40, 60, "min",
    lambda: float(_pd_k().time_h[np.argmax(_pd_k().outputs["cadss"])] * 60), layer="effects"))
register(Target(
    "popova2019_cadss_resolution", "Same: CADSS 2 h after the infusion's end, relative to its peak",
    "Popova2019", "validation", "resolved by ~1.5-2 h", 0.0, 0.25, "fraction of peak",
    lambda: _at(_pd_k(), "cadss", 2 + 40 / 60) / float(np.max(_pd_k().outputs["cadss"])), layer="effects"))
register(Target(
    "vanschalkwyk2018_cadss_peak", "Same: typical peak CADSS increase",
    "vanSchalkwyk2018", "calibration", "mean 7.7 (SD 9.2) across infusions; peaks 5-20", 5, 20, "points",
    lambda: float(np.max(_pd_k().outputs["cadss"])), layer="effects", note="dissociation.Emax fitted"))
register(Target(
    "murrough2013_madrs_24h", "Same, baseline MADRS 32 with active-placebo expectation: MADRS change at 24 h",
    "Murrough2013", "calibration", "-16.5 (midazolam -8.8)", -20, -12, "points",
    lambda: _at(_pd_k(), "madrs", 24) - _at(_pd_k(), "madrs", 0), layer="mood",
    note="every hypothesis's gain is calibrated to this anchor (tools/calibrate_mechanisms.py)"))
register(Target(
    "murrough2013_midazolam_24h", "Active-placebo session alone: MADRS change at 24 h",
    "Murrough2013", "calibration", "-8.8", -10.5, -7.0, "points",
    lambda: _at(_pd_pl(), "madrs", 24) - _at(_pd_pl(), "madrs", 0), layer="mood", note="placebo.active derived"))
register(Target(
    "kishimoto2016_onset", "Separation from placebo at 230 min (ketamine minus placebo run)",
    "Kishimoto2016", "validation", "significant from 40 min", -20, -1.0, "MADRS points",
    lambda: _at(_pd_k(), "madrs", 230 / 60) - _at(_pd_pl(), "madrs", 230 / 60), layer="mood",
    note="under opioid[hnk_mor] the effect builds with HNK, later than under glutamate"))
register(Target(
    "kishimoto2016_offset", "Separation from placebo at day 12 relative to day 1",
    "Kishimoto2016", "validation", "lost by days 10-12", 0.0, 0.25, "fraction of day-1 separation",
    lambda: (_at(_pd_k(), "madrs", 288) - _at(_pd_pl(), "madrs", 288))
    / (_at(_pd_k(), "madrs", 24) - _at(_pd_pl(), "madrs", 24)), layer="mood"))
register(Target(
    "williams2018_cadss_unchanged", "Naltrexone 50 mg 45 min before: peak CADSS relative to ketamine alone",
    "Williams2018", "validation", "no difference in dissociation", 0.9, 1.1, "ratio",
    lambda: float(np.max(_pd_kn().outputs["cadss"]) / np.max(_pd_k().outputs["cadss"])), layer="mood"))
register(Target(
    "williams2018_blockade_opioid", "Naltrexone pretreatment, opioid hypothesis: 24-h effect beyond placebo kept",
    "Williams2018", "validation", "effect largely blocked (responders 7/12 -> fewer)", -1.0, 0.3, "fraction kept",
    lambda: (_at(_pd_kn(), "madrs", 24) - _at(_pd_pl(), "madrs", 24))
    / (_at(_pd_k(), "madrs", 24) - _at(_pd_pl(), "madrs", 24)), layer="mood",
    note="the criterion is 'reduced by >= 70 %': at most 30 % kept; 0 (or rounding noise below it) is a full block"))


def _transform2_difference():
    esk = [f"esketamine {56 if i < 1 else 84} mg intranasal at {3.5 * i} d" for i in range(8)]
    pbo = [f"placebo 0 mg intranasal at {3.5 * i} d" for i in range(8)]
    common = dict(duration="29 d", baseline_madrs=37.0, oral_antidepressant_start="0 d", output_step="1 h")
    a, b = simulate(esk, **common), simulate(pbo, **common)
    return _at(a, "madrs", 28 * 24) - _at(b, "madrs", 28 * 24)


register(Target(
    "transform2_day28_difference", "Esketamine 56/84 mg twice weekly + new oral AD vs AD + placebo spray: "
    "day-28 MADRS difference (typical subject, baseline 37)", "Popova2019", "validation",
    "-4.0 (95 % CI -7.31 to -0.64)", -7.31, -0.64, "MADRS points", _transform2_difference, layer="mood",
    note="repeated dosing accumulates the mediator (t1/2 3 d) more than the trial saw"))


# ---------------------------------------------------------------- virtual trials (default hypothesis, 20 replicates)
def _trial(name):
    from ketasim.trials import load_trial, run_trial

    return run_trial(load_trial(name), "opioid", replicates=20, seed=1, keep_timecourses=False)


_trials = {n: _cached(lambda n=n: _trial(n)) for n in ("williams2018", "zarate2006", "murrough2013", "transform2")}


def _arm_ep(trial, arm, ep, key):
    return _trials[trial]().arm_summary()[arm]["endpoints"][ep][key]


def _cmp(trial, ep):
    return next(c for c in _trials[trial]().comparison_summary() if c["endpoint"] == ep)


for _key, _desc, _src, _kind, _pub, _lo, _hi, _unit, _fn in (
    ("williams2018_responders_placebo", "Williams 2018 virtual trial: day-1 HAM-D17 responders, ketamine + placebo",
     "Williams2018", "validation", "7/12", 5.0, 9.0, "of 12",
     lambda: _arm_ep("williams2018", "ketamine_placebo", "hamd17_day1", "responders")),
    ("williams2018_responders_naltrexone", "Same: responders, ketamine + naltrexone (opioid hypothesis)",
     "Williams2018", "validation", "about 1/12 (unverified); significantly fewer", 0.0, 2.0, "of 12",
     lambda: _arm_ep("williams2018", "ketamine_naltrexone", "hamd17_day1", "responders")),
    ("zarate2006_response_day1", "Zarate 2006 virtual trial: day-1 response rate after ketamine",
     "Zarate2006", "validation", "71 % of 17 (secondary transcription)", 0.55, 0.87, "fraction",
     lambda: _arm_ep("zarate2006", "ketamine", "hamd17_day1", "response_rate")),
    ("murrough2013_change_ketamine", "Murrough 2013 virtual trial: MADRS change at 24 h, ketamine arm",
     "Murrough2013", "calibration", "-16.5", -19.5, -13.5, "points",
     lambda: _arm_ep("murrough2013", "ketamine", "madrs_24h", "mean_change")),
    ("murrough2013_response_ketamine", "Same: response rate at 24 h, ketamine arm",
     "Murrough2013", "validation", "64 % (secondary transcription)", 0.50, 0.78, "fraction",
     lambda: _arm_ep("murrough2013", "ketamine", "madrs_24h", "response_rate")),
    ("murrough2013_response_midazolam", "Same: response rate at 24 h, midazolam arm",
     "Murrough2013", "validation", "28 % (secondary transcription)", 0.14, 0.42, "fraction",
     lambda: _arm_ep("murrough2013", "midazolam", "madrs_24h", "response_rate")),
    ("transform2_trial_difference", "TRANSFORM-2 virtual trial: day-28 MADRS difference, esketamine - placebo spray",
     "Popova2019", "validation", "-4.0 (95 % CI -7.31 to -0.64)", -7.31, -0.64, "points",
     lambda: _cmp("transform2", "madrs_day28")["difference"]),
    ("transform2_response_esketamine", "Same: day-28 response rate, esketamine arm",
     "Popova2019", "validation", "69.3 %", 0.60, 0.78, "fraction",
     lambda: _arm_ep("transform2", "esketamine", "madrs_day28", "response_rate")),
    ("transform2_response_placebo", "Same: day-28 response rate, placebo-spray arm",
     "Popova2019", "validation", "52.0 %", 0.43, 0.61, "fraction",
     lambda: _arm_ep("transform2", "placebo_spray", "madrs_day28", "response_rate")),
    ("transform2_remission_esketamine", "Same: day-28 remission rate (MADRS <= 12), esketamine arm",
     "Popova2019", "validation", "52.5 %", 0.43, 0.62, "fraction",
     lambda: _arm_ep("transform2", "esketamine", "madrs_day28", "remission_rate")),
):
    register(Target(_key, _desc, _src, _kind, _pub, _lo, _hi, _unit, _fn, layer="trials",
                    note="20 replicate trials, default hypothesis; ranges are the published value ± about "
                         "its binomial or reported uncertainty"))
