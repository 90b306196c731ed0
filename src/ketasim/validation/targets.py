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
    note="mor.Ki_naltrexone, the slow-pool rates and biophase.naltrexol_brain_fraction were fitted to this, "
         "Rabiner's 2/5/15 mg and Lee 1988 (tools/calibrate_naltrexone.py)"))
for _t, _v in ((48, 0.91), (72, 0.80), (120, 0.46), (168, 0.30)):
    register(Target(
        f"lee1988_relative_{_t}h", f"Naltrexone 50 mg: MOR blockade at {_t} h relative to the 1-h scan",
        "Lee1988", "calibration", f"{_v:.0%}", _v - 0.1, _v + 0.1, "fraction",
        (lambda tt=_t: _ntx_relative(tt)), layer="receptors"))
for _d, _lo, _hi, _pub in ((2, 0.17, 0.37, "27 %"), (5, 0.43, 0.58, "43-58 %"), (15, 0.51, 0.71, "61 %")):
    register(Target(
        f"rabiner2011_occupancy_{_d}mg", f"Naltrexone {_d} mg oral: brain MOR occupancy (<8 h)",
        "Rabiner2011", "calibration", _pub, _lo, _hi, "fraction",
        (lambda dd=_d: _ntx_dose_occupancy(dd)), layer="receptors",
        note="fitted with the 50 mg scan and Lee 1988 (tools/calibrate_naltrexone.py); one-site binding cannot "
             "give 27 % at 2 mg, 61 % at 15 mg and 95 % at 50 mg at once"))
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
    "kishimoto2016_onset", "Typical subject: separation from a placebo session at 230 min (ketamine minus placebo)",
    "Kishimoto2016", "validation", "significant from 40 min", -20, -1.0, "MADRS points",
    lambda: _at(_pd_k(), "madrs", 230 / 60) - _at(_pd_pl(), "madrs", 230 / 60), layer="mood",
    note="under opioid[hnk_mor] the effect builds with HNK, later than under glutamate"))
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


# ------------------------------------------- virtual trials (default hypothesis, 20 replicates unless named below)
TRIALS = ("williams2018", "zarate2006", "murrough2013", "transform2", "daly2018", "singh2016", "abdallah2022",
          "fava2018", "phillips2019")
ONSET_VARIANTS = (("opioid", "hnk_mor"), ("opioid", "ketamine_mor"), ("opioid", "endogenous"), ("glutamate", None),
                  ("hnk_ampa", None), ("mixed", "hnk_mor"))


# more replicates where a target is a share of small numbers: murrough2013's response rates, and zarate2006's day-7
# and day-12 differences as shares of the day-1 difference (20 trials of 17 leave them a Monte Carlo error of
# about 5 percentage points, as large as the margin they are read against)
REPLICATES = {"murrough2013": 40, "zarate2006": 100}


def _replicates(name):
    return REPLICATES.get(name, 20)


def _trial(name, hypothesis="opioid", source=None):
    from ketasim.trials import load_trial, run_trial

    return run_trial(load_trial(name), hypothesis, source, replicates=_replicates(name), seed=1,
                     keep_timecourses=True)


_trials = {n: _cached(lambda n=n: _trial(n)) for n in TRIALS}
_zarate_variants = {v: _cached(lambda v=v: _trial("zarate2006", *v)) for v in ONSET_VARIANTS}


def trial_results() -> dict:
    """The virtual trials validate ran (default hypothesis), by name: for the report's figures."""
    return {n: _trials[n]() for n in TRIALS}


def _arm_ep(trial, arm, ep, key, res=None):
    return (res or _trials[trial]()).arm_summary()[arm]["endpoints"][ep][key]


def _cmp(trial, ep, arms=None, res=None):
    return next(c for c in (res or _trials[trial]()).comparison_summary()
                if c["endpoint"] == ep and (arms is None or tuple(c["arms"]) == tuple(arms)))


def _zarate_ratio(ep, variant=None):
    res = _zarate_variants[variant]() if variant else None
    return _cmp("zarate2006", ep, res=res)["difference"] / _cmp("zarate2006", "hamd17_day1", res=res)["difference"]


def _label(variant):
    h, src = variant
    return h if src is None else f"{h}[{src}]"


def _note(key):
    return f"{_replicates(key.split('_')[0])} replicate trials, default hypothesis (opioid[hnk_mor])"
_TRIAL_TARGETS = [
    # Williams 2018
    ("williams2018_responders_placebo", "Williams 2018 virtual trial: day-1 HAM-D17 responders, ketamine + placebo",
     "Williams2018", "validation", "7/12", 5.0, 9.0, "of 12",
     lambda: _arm_ep("williams2018", "ketamine_placebo", "hamd17_day1", "responders")),
    ("williams2018_responders_naltrexone", "Same: responders, ketamine + naltrexone (opioid hypothesis)",
     "Williams2018", "validation", "about 1/12 (unverified); significantly fewer", 0.0, 2.0, "of 12",
     lambda: _arm_ep("williams2018", "ketamine_naltrexone", "hamd17_day1", "responders")),
    # Murrough 2013: the anchor and the response distribution are calibrated here
    ("murrough2013_change_ketamine", "Murrough 2013 virtual trial: MADRS change at 24 h, ketamine arm",
     "Murrough2013", "calibration", "-16.5 (±3)", -19.5, -13.5, "points",
     lambda: _arm_ep("murrough2013", "ketamine", "madrs_24h", "mean_change")),
    ("murrough2013_change_midazolam", "Same: MADRS change at 24 h, midazolam arm",
     "Murrough2013", "calibration", "-8.8 (±3)", -11.8, -5.8, "points",
     lambda: _arm_ep("murrough2013", "midazolam", "madrs_24h", "mean_change")),
    ("murrough2013_response_ketamine", "Same: day-1 response rate, ketamine arm",
     "Wilkinson2019", "calibration", "45 % pooled (Wilkinson 2019); 64 % in the trial's abstract (V2)", 0.40, 0.55,
     "fraction", lambda: _arm_ep("murrough2013", "ketamine", "madrs_24h", "response_rate")),
    ("murrough2013_response_midazolam", "Same: day-1 response rate, midazolam arm",
     "Wilkinson2019", "calibration", "18 % (Wilkinson 2019) to 25.9 % (Cochrane 2021); 28 % in the abstract (V2)",
     0.15, 0.32, "fraction", lambda: _arm_ep("murrough2013", "midazolam", "madrs_24h", "response_rate")),
    # Zarate 2006: the layered time course
    ("zarate2006_response_day1", "Zarate 2006 virtual trial: day-1 response rate after ketamine",
     "Zarate2006", "validation", "71 % of 17 (secondary transcription)", 0.55, 0.87, "fraction",
     lambda: _arm_ep("zarate2006", "ketamine", "hamd17_day1", "response_rate")),
    ("zarate2006_day7_fraction", "Same: ketamine - saline HAM-D17 difference at day 7, share of the day-1 difference",
     "Kishimoto2016", "validation", "at most 50 % (separation fades, lost by days 10-12)", -1.0, 0.5, "fraction",
     lambda: _zarate_ratio("hamd17_day7")),
    # day 12 bounds the long-term layer in its fit (one infusion must not build a lasting store); day 7 is left over
    ("zarate2006_day12_fraction", "Same: difference at day 12, share of the day-1 difference",
     "Kishimoto2016", "calibration", "at most 20 % (lost by days 10-12)", -1.0, 0.2, "fraction",
     lambda: _zarate_ratio("hamd17_day12")),
    ("zarate2006_saline_day12", "Same: saline arm, HAM-D17 change at day 12 (expectation wanes)",
     "Zarate2006", "validation", "back to within 3 points of day 0", -3.0, 3.0, "points",
     lambda: _arm_ep("zarate2006", "saline", "hamd17_day12", "mean_change")),
    # Daly 2018: onset and the placebo-spray arm
    ("daly2018_placebo_2h", "Daly 2018 virtual trial: placebo spray, MADRS change at 2 h",
     "Daly2018", "calibration", "-9.7 (±3)", -12.7, -6.7, "points",
     lambda: _arm_ep("daly2018", "placebo", "madrs_2h", "mean_change")),
    ("daly2018_placebo_24h", "Same: placebo spray, MADRS change at 24 h",
     "Daly2018", "calibration", "-5.7 (±3)", -8.7, -2.7, "points",
     lambda: _arm_ep("daly2018", "placebo", "madrs_24h", "mean_change")),
    *[(f"daly2018_change_2h_{arm}", f"Same: MADRS change at 2 h, {arm.replace('_', ' ')} (the immediate layer's "
       f"weight)", "Daly2018", "calibration", f"{pub:+.1f} (±3)", pub - 3, pub + 3, "points",
       (lambda a=arm: _arm_ep("daly2018", a, "madrs_2h", "mean_change")))
      for arm, pub in (("esketamine_28mg", -16.4), ("esketamine_56mg", -14.3), ("esketamine_84mg", -17.6))],
    *[(f"daly2018_responders_2h_{arm}", f"Same: responders at 2 h, {arm.replace('_', ' ')}", "Daly2018", "validation",
       f"{pub:.0%} (±10 points)", pub - 0.10, pub + 0.10, "fraction",
       (lambda a=arm: _arm_ep("daly2018", a, "madrs_2h", "response_rate")))
      for arm, pub in (("placebo", 0.18), ("esketamine_28mg", 0.55), ("esketamine_56mg", 0.36),
                       ("esketamine_84mg", 0.58))],
    *[(f"daly2018_change_24h_{arm}", f"Same: MADRS change at 24 h, {arm.replace('_', ' ')}", "Daly2018",
       "validation", f"{pub:+.1f} (±3)", pub - 3, pub + 3, "points",
       (lambda a=arm: _arm_ep("daly2018", a, "madrs_24h", "mean_change")))
      for arm, pub in (("esketamine_28mg", -14.8), ("esketamine_56mg", -15.7), ("esketamine_84mg", -16.4))],
    # Singh 2016: repeated dosing with a ceiling
    *[(f"singh2016_{arm}", f"Singh 2016 virtual trial: MADRS change at day 15, {arm.replace('_', ' ')}",
       "Singh2016", "calibration", f"{pub:+.1f} (±4)", pub - 4, pub + 4, "points",
       (lambda a=arm: _arm_ep("singh2016", a, "madrs_day15", "mean_change")))
      for arm, pub in (("ketamine_twice_weekly", -18.4), ("ketamine_thrice_weekly", -17.7),
                       ("placebo_twice_weekly", -5.7), ("placebo_thrice_weekly", -3.1))],
    ("singh2016_frequency", "Same: thrice minus twice weekly ketamine at day 15 (no gain from the third dose)",
     "Singh2016", "calibration", "+0.7 (-17.7 vs -18.4); within ±2.5", -2.5, 2.5, "points",
     lambda: _cmp("singh2016", "madrs_day15", ("ketamine_thrice_weekly", "ketamine_twice_weekly"))["difference"]),
    # TRANSFORM-2
    ("transform2_trial_difference", "TRANSFORM-2 virtual trial: day-28 MADRS difference, esketamine - placebo spray",
     "Popova2019", "validation", "-4.0 (95 % CI -7.31 to -0.64)", -7.31, -0.64, "points",
     lambda: _cmp("transform2", "madrs_day28")["difference"]),
    ("transform2_change_placebo", "Same: day-28 MADRS change, oral antidepressant + placebo spray",
     "Popova2019", "calibration", "-15.8 to -16.0 (pooled TRANSFORM, baseline ~37)", -18.9, -12.9, "points",
     lambda: _arm_ep("transform2", "placebo_spray", "madrs_day28", "mean_change")),
    ("transform2_response_esketamine", "Same: day-28 response rate, esketamine arm",
     "Popova2019", "validation", "69.3 %", 0.60, 0.78, "fraction",
     lambda: _arm_ep("transform2", "esketamine", "madrs_day28", "response_rate")),
    ("transform2_response_placebo", "Same: day-28 response rate, placebo-spray arm",
     "Popova2019", "validation", "52.0 %", 0.43, 0.61, "fraction",
     lambda: _arm_ep("transform2", "placebo_spray", "madrs_day28", "response_rate")),
    ("transform2_remission_esketamine", "Same: day-28 remission rate (MADRS <= 12), esketamine arm",
     "Popova2019", "validation", "52.5 %", 0.43, 0.62, "fraction",
     lambda: _arm_ep("transform2", "esketamine", "madrs_day28", "remission_rate")),
    # Abdallah 2022 and Fava 2018: the dose threshold and the dose-response
    ("abdallah2022_0p5_significant", "Abdallah 2022 virtual trial: 0.5 mg/kg x 8 vs placebo, share of replicate "
     "trials significant", "Abdallah2022", "calibration", "significant (MADRS)", 0.6, 1.0, "fraction of trials",
     lambda: _cmp("abdallah2022", "madrs_end", ("ketamine_0p5", "placebo"))["share_significant_negative"]),
    ("abdallah2022_0p2_significant", "Same: 0.2 mg/kg x 8 vs placebo, share of replicate trials significant",
     "Abdallah2022", "calibration", "not significant", 0.0, 0.4, "fraction of trials",
     lambda: _cmp("abdallah2022", "madrs_end", ("ketamine_0p2", "placebo"))["share_significant_negative"]),
    *[(f"fava2018_{arm}_significant", f"Fava 2018 virtual trial: {arm[-3:].replace('p', '.')} mg/kg vs midazolam at "
       f"day 1, share of replicate trials significant", "Fava2018", "validation", verdict, lo, hi, "fraction of trials",
       (lambda a=arm: _cmp("fava2018", "hamd17_day1", (a, "midazolam"))["share_significant_negative"]))
      for arm, verdict, lo, hi in (("ketamine_0p2", "not significant", 0.0, 0.5),
                                   ("ketamine_0p5", "significant (after adjustment)", 0.5, 1.0),
                                   ("ketamine_1p0", "significant (after adjustment)", 0.5, 1.0))],
    # Phillips 2019: a series and weekly maintenance
    ("phillips2019_response_after_series", "Phillips 2019 virtual trial: response during six infusions in two weeks "
     "(at any rating 24 h after an infusion)",
     "Phillips2019", "calibration", "59 % (double the single-infusion rate)", 0.45, 0.75, "fraction",
     lambda: _arm_ep("phillips2019", "series_and_maintenance", "madrs_series_response", "share_responded")),
    ("phillips2019_infusions_to_response", "Same: median time to response during the series (Kaplan-Meier)",
     "Phillips2019", "validation", "median 3 infusions (the rating after the third: day 5)", 3.0, 8.0, "days",
     lambda: _arm_ep("phillips2019", "series_and_maintenance", "madrs_series_response", "median_days")
     or float("nan")),   # None: fewer than half responded, the median is not reached
    ("phillips2019_maintenance_change", "Same: MADRS change during four weekly maintenance infusions",
     "Phillips2019", "calibration", "no further change (within ±3)", -3.0, 3.0, "points",
     lambda: _arm_ep("phillips2019", "series_and_maintenance", "madrs_maintenance", "mean_change")),
    ("phillips2019_series_vs_single", "Same: response after the series relative to one infusion at day 1",
     "Phillips2019", "validation", "doubled (x2)", 1.4, 3.0, "ratio",
     lambda: _arm_ep("phillips2019", "series_and_maintenance", "madrs_series_response", "share_responded")
     / max(_arm_ep("phillips2019", "single_infusion", "madrs_day1", "response_rate"), 1e-9)),
]
for _key, _desc, _src, _kind, _pub, _lo, _hi, _unit, _fn in _TRIAL_TARGETS:
    register(Target(_key, _desc, _src, _kind, _pub, _lo, _hi, _unit, _fn, layer="trials", note=_note(_key)))
for _v in ONSET_VARIANTS:
    register(Target(
        f"zarate2006_onset_{_label(_v)}", f"Zarate 2006 virtual trial under {_label(_v)}: ketamine - saline HAM-D17 "
        f"difference at 4 h, share of the day-1 difference", "Kishimoto2016", "validation",
        "separation within hours: at least 40 % of the day-1 difference (needed under at least one hypothesis)",
        0.4, 10.0, "fraction", (lambda v=_v: _zarate_ratio("hamd17_4h", v)), layer="trials",
        note="each hypothesis's own pathway sets its onset; one that cannot reach it is left unable to"))


# ---------------------------------------------------------------- relapse after a stopped series (population)
_SERIES = ["ketamine 0.5 mg/kg iv over 40 min at 0 d every 7 d for 2 doses",
           "ketamine 0.5 mg/kg iv over 40 min at 2 d every 7 d for 2 doses",
           "ketamine 0.5 mg/kg iv over 40 min at 4 d every 7 d for 2 doses"]


def series_relapse(params, n: int, seed: int, hypothesis: str = "opioid"):
    """Relapse after the open-label series above, stopped: the Kaplan-Meier summary over n subjects' responders at
    day 13 (the calibration of the long-term layer reads the same)."""
    from ketasim.mechanisms import get_mechanism
    from ketasim.population import PopulationSpec, population_grid, relapse_summary, sample_subjects
    from ketasim.population import simulate_population
    from ketasim.regimens import Regimen

    reg = Regimen.from_text(*_SERIES)
    t = population_grid(reg, 200 * 24.0, step_h=6.0)
    subj = sample_subjects(PopulationSpec(), n, seed, params)
    pop = simulate_population(reg, subj, params, get_mechanism(hypothesis), t, expectation="open_label",
                              columns=("madrs",))
    return relapse_summary(t, pop.outputs["madrs"], subj["id"].to_numpy(), response_time_h=13 * 24.0)


def _relapse():
    return series_relapse(default_parameters(), 500, 7)


relapse_after_series = _cached(_relapse)
register(Target(
    "sustain3_relapse_6_months", "Six open-label infusions in two weeks, then none: share of responders relapsed "
    "by 180 days (Kaplan-Meier, 500 subjects)", "SUSTAIN3", "calibration",
    "about 70 % of TRD responders relapse within 6 months", 0.55, 0.85, "fraction",
    lambda: relapse_after_series().relapsed_by.get("180 d", float("nan")), layer="trials",
    note="loss of response after the series; every subject drifts back to baseline once the effect has gone"))
register(Target(
    "relapse_median_after_series", "Same: median time from response to relapse", "SUSTAIN3", "validation",
    "relapse over weeks after stopping", 7.0, 180.0, "days",
    lambda: relapse_after_series().median_days or float("nan"), layer="trials"))


# ---------------------------------------------------------------- exposure-response within one arm (population)
def _exposure_response(variant):
    """Spearman correlation, across the subjects of one 0.5 mg/kg arm, of plasma HNK at 230 min with the 24-h
    HAM-D17 change (rating error included): positive where more HNK goes with less improvement."""
    from scipy.stats import spearmanr

    from ketasim.mechanisms import get_mechanism
    from ketasim.population import PopulationSpec, sample_subjects, simulate_population
    from ketasim.regimens import Regimen

    p = default_parameters()
    reg = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min")
    t = np.array([0.0, 230 / 60, 24.0])
    subj = sample_subjects(PopulationSpec(), 400, 11, p)
    pop = simulate_population(reg, subj, p, get_mechanism(*variant), t, expectation="active",
                              columns=("hnk_ng_ml", "hamd17"))
    rng = np.random.default_rng(11)
    sd = p.value("residual.madrs_sd") * p.value("mood.hamd_per_madrs")
    change = pop.outputs["hamd17"][2] - pop.outputs["hamd17"][0] + rng.normal(0.0, sd * math.sqrt(2), len(subj))
    return float(spearmanr(pop.outputs["hnk_ng_ml"][1], change).statistic)


for _v in ONSET_VARIANTS:
    register(Target(
        f"grunebaum2019_hnk_response_{_label(_v)}", f"Single 0.5 mg/kg infusion under {_label(_v)}: Spearman "
        f"correlation of plasma HNK (230 min) with the 24-h HAM-D change across 400 subjects", "Grunebaum2019",
        "validation", "r = 0.37 (n = 53; 95 % CI about 0.11 to 0.58): more HNK, less improvement (Farmer 2020: "
        "same direction)", 0.11, 0.58, "Spearman r", (lambda v=_v: _exposure_response(v)), layer="trials",
        note="a pathway that HNK drives predicts the opposite sign; in the model a subject's HNK level also tracks "
             "their overall exposure (volume and clearance vary together for parent and metabolites), which pulls "
             "every hypothesis towards a negative r; the sampling time (230 min) is assumed"))


# ---------------------------------------------------------------- compounds: each library file's published PK numbers
def _compound_targets():
    from ketasim.compounds import get_compound, library_names
    from ketasim.compounds.checks import _UNIT, evaluate_check

    for name in library_names():
        c = get_compound(name)
        for i, chk in enumerate(c.spec.checks):
            unit = _UNIT[chk.quantity]
            obs = float(chk.observed.quantity().to(unit).magnitude)
            lo, hi = obs * (1 - chk.tolerance), obs * (1 + chk.tolerance)
            published = f"{chk.observed.value:g} {chk.observed.unit}"
            if chk.observed.range is not None:
                f = obs / chk.observed.value if chk.observed.value else 1.0
                lo, hi = min(lo, chk.observed.range[0] * f), max(hi, chk.observed.range[1] * f)
                published += f" (published range {chk.observed.range[0]:g}-{chk.observed.range[1]:g})"
            published += f", ±{100 * chk.tolerance:.0f} %"
            calibration = (chk.observed.evidence == "fitted_here" or "calibration" in (chk.observed.note or "")
                           or "implementation check" in (chk.observed.note or ""))
            what = {"cmax": "Cmax", "tmax": "Tmax", "half_life": "terminal half-life", "auc": "AUC",
                    "concentration": f"concentration at {chk.at}"}[chk.quantity]
            register(Target(
                f"compound_{name}_{i}_{chk.quantity}", f"{c.title}: {what} of {chk.species} after "
                f"{'; '.join(chk.regimen)}", chk.observed.source, "calibration" if calibration else "validation",
                published, lo, hi, unit.replace("*", "·"),
                (lambda c=c, chk=chk: evaluate_check(c, chk)["model"]), layer="compounds",
                note=chk.note or chk.observed.note))


_compound_targets()

# extended-release naltrexone (380 mg IM): the label's shape and the MOR occupancy over the dosing interval
_xr = _cached(lambda: simulate("naltrexone 380 mg im", duration="35 d", output_step="15 min", hypothesis="null"))
_oral_daily = _cached(lambda: simulate("naltrexone 50 mg oral every 1 d for 28 doses", duration="28 d",
                                       output_step="15 min", hypothesis="null"))


def _xr_peak_h(t_from, t_to):
    r = _xr()
    m = (r.time_h >= t_from) & (r.time_h <= t_to)
    return float(r.time_h[m][np.argmax(r.outputs["naltrexone_ng_ml"][m])])


register(Target(
    "vivitrol_first_peak", "Naltrexone 380 mg IM (extended release): time of the first (transient) plasma peak",
    "VivitrolLabel", "calibration", "about 2 h after the injection", 1.0, 3.0, "h",
    lambda: _xr_peak_h(0.0, 12.0), layer="compounds", note="naltrexone_xr.burst_ka set to it"))
register(Target(
    "vivitrol_second_peak", "Same: time of the second plasma peak",
    "VivitrolLabel", "calibration", "2-3 days after the injection", 48.0, 72.0, "h",
    lambda: _xr_peak_h(24.0, 14 * 24.0), layer="compounds", note="naltrexone_xr.hydration_t_half set to it"))
register(Target(
    "vivitrol_mor_occupancy_4_weeks", "Same: lowest brain MOR occupancy from 1 to 28 days after the injection",
    "VivitrolLabel", "validation", "blockade over the monthly dosing interval (at least 80 %)", 0.80, 1.0, "fraction",
    lambda: float(np.min(_xr().outputs["mor_occupancy"][(_xr().time_h >= 24.0) & (_xr().time_h <= 28 * 24.0)])),
    layer="compounds", note="not fitted: the brain model (apparent Ki, two pools, 6beta-naltrexol's brain access) "
                            "is fitted to oral naltrexone PET only"))
register(Target(
    "vivitrol_exposure_vs_oral", "Same: naltrexone AUC over 28 days, relative to 50 mg oral daily for 28 days",
    "VivitrolLabel", "calibration", "3- to 4-fold", 3.0, 4.0, "ratio",
    lambda: float(np.trapezoid(_xr().outputs["naltrexone_ng_ml"][_xr().time_h <= 28 * 24.0],
                               _xr().time_h[_xr().time_h <= 28 * 24.0])
                  / np.trapezoid(_oral_daily().outputs["naltrexone_ng_ml"], _oral_daily().time_h)),
    layer="compounds", note="oral availability (naltrexone.F 0.075) is set from this ratio, and clearance with it "
                            "(60 L/h, below Meyer 1984's 94) so that the oral Cmax of 50 mg still holds"))
