"""Virtual populations: covariates and between-subject random effects, drawn once, before work is split."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ketasim.parameters import ParameterSet, default_parameters

# random effect column -> (PK eta key used by individual_pk, CV parameter)
PK_RANDOM_EFFECTS = {
    "eta_ketamine_CL": ("ketamine.CL", "bsv.ketamine_CL"),
    "eta_ketamine_V1": ("ketamine.V1", "bsv.ketamine_V1"),
    "eta_norketamine_CL": ("norketamine.CL", "bsv.norketamine_CL"),
    "eta_hnk_CL": ("hnk.CL", "bsv.hnk_CL"),
    "eta_Fgut": ("route.Fgut", "bsv.Fgut"),
    "eta_nasal_ka": ("route.nasal_ka", "bsv.nasal_ka"),
    "eta_esketamine_FRn": ("route.esketamine_FRn", "bsv.esketamine_FRn"),
    "eta_naltrexone_CL": ("naltrexone.CL", "bsv.naltrexone_CL"),
    "eta_nasal_fraction": ("route.nasal_fraction_other", "bsv.nasal_fraction"),
}
# random effects added after the first release: drawn after every other column, so that adding them left the
# subjects of every earlier seed unchanged
LATE_RANDOM_EFFECTS = ("eta_nasal_fraction",)
# multiplicative PD scales (median 1) -> CV parameter
PD_SCALES = {"drive_scale": "bsv.drive_scale", "cadss_scale": "bsv.cadss_scale",
             "placebo_scale": "bsv.placebo_scale"}


@dataclass(frozen=True)
class PopulationSpec:
    """Covariate distributions and inclusion criteria of a trial population."""

    weight_mean_kg: float = 80.0
    weight_sd_kg: float = 15.0
    weight_min_kg: float = 45.0
    weight_max_kg: float = 150.0
    age_min_y: float = 18.0
    age_max_y: float = 65.0
    female_fraction: float = 0.5
    baseline_madrs_mean: float = 32.0
    baseline_madrs_sd: float = 5.0
    baseline_madrs_min: float = 20.0   # inclusion threshold
    baseline_madrs_max: float = 50.0
    variability: bool = True

    def __post_init__(self):
        checks = [
            (0 < self.weight_min_kg < self.weight_max_kg <= 250, "weight bounds must satisfy 0 < min < max <= 250 kg"),
            (self.weight_sd_kg >= 0, "weight SD must not be negative"),
            (12 <= self.age_min_y <= self.age_max_y <= 100, "ages must satisfy 12 <= min <= max <= 100"),
            (0 <= self.female_fraction <= 1, "female fraction must be within 0-1"),
            (0 <= self.baseline_madrs_min <= self.baseline_madrs_max <= 60, "baseline MADRS bounds must be in 0-60"),
            (self.baseline_madrs_sd >= 0, "baseline MADRS SD must not be negative"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"population: {msg}")


def _truncated_normal(rng, mean, sd, lo, hi, n):
    if sd == 0:
        return np.full(n, float(np.clip(mean, lo, hi)))
    out = rng.normal(mean, sd, n)
    bad = (out < lo) | (out > hi)
    for _ in range(100):
        if not bad.any():
            break
        out[bad] = rng.normal(mean, sd, bad.sum())
        bad = (out < lo) | (out > hi)
    return np.clip(out, lo, hi)


def _lognormal_sd(cv: float) -> float:
    return math.sqrt(math.log1p(cv * cv))


def sample_subjects(spec: PopulationSpec, n: int, seed: int | np.random.SeedSequence,
                    parameters: ParameterSet | None = None, first_id: int = 0) -> pd.DataFrame:
    """n subjects with covariates and random effects. Deterministic for a seed; drawn in one go so that
    splitting the simulation into chunks (or across a cluster) cannot change who the subjects are."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"number of subjects must be a positive whole number, got {n!r}")
    p = parameters or default_parameters()
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id": np.arange(first_id, first_id + n, dtype=np.int64)})
    df["weight_kg"] = _truncated_normal(rng, spec.weight_mean_kg, spec.weight_sd_kg, spec.weight_min_kg,
                                        spec.weight_max_kg, n)
    df["age_y"] = rng.uniform(spec.age_min_y, spec.age_max_y, n)
    df["sex"] = np.where(rng.random(n) < spec.female_fraction, "female", "male")
    q = p.value("population.cyp2b6_6_allele_frequency")
    alleles = (rng.random((n, 2)) < q).sum(axis=1)
    df["cyp2b6"] = np.array(["*1/*1", "*1/*6", "*6/*6"])[alleles]
    df["baseline_madrs"] = _truncated_normal(rng, spec.baseline_madrs_mean, spec.baseline_madrs_sd,
                                             spec.baseline_madrs_min, spec.baseline_madrs_max, n)
    on = 1.0 if spec.variability else 0.0
    # correlated CL / V1 effects, the others independent
    sd_cl, sd_v = _lognormal_sd(p.value("bsv.ketamine_CL")), _lognormal_sd(p.value("bsv.ketamine_V1"))
    rho = p.value("bsv.ketamine_CL_V1_correlation")
    cov = np.array([[sd_cl ** 2, rho * sd_cl * sd_v], [rho * sd_cl * sd_v, sd_v ** 2]])
    eta_cv = rng.multivariate_normal([0.0, 0.0], cov, n, method="cholesky")
    df["eta_ketamine_CL"] = on * eta_cv[:, 0]
    df["eta_ketamine_V1"] = on * eta_cv[:, 1]
    for col, (_, cv_key) in PK_RANDOM_EFFECTS.items():
        if col in df or col in LATE_RANDOM_EFFECTS:
            continue
        df[col] = on * rng.normal(0.0, _lognormal_sd(p.value(cv_key)), n)
    for col, cv_key in PD_SCALES.items():
        sd = _lognormal_sd(p.value(cv_key))
        # log-normal multiplier, mean-corrected so the population mean equals the typical value
        df[col] = np.exp(on * (rng.normal(0.0, sd, n) - 0.5 * sd * sd))
    # sensitivity to the antidepressant drive and strength of expectation: responders and non-responders (two-group
    # mixtures, mean 1); a subject keeps its group at every session
    for col, prefix in (("drive_scale", "bsv.drive"), ("placebo_scale", "bsv.placebo")):
        share = p.value(f"{prefix}_responder_share")
        ratio = p.value(f"{prefix}_nonresponder_ratio")
        responder = rng.random(n) < share
        group = np.where(responder, 1.0, ratio) / (share + (1.0 - share) * ratio)
        df[col.replace("_scale", "_responder")] = responder if spec.variability else np.ones(n, bool)
        df[col] = df[col] * group if spec.variability else df[col]
    # independent draws for rating error, per subject (the trial layer draws per assessment from this stream)
    df["rating_seed"] = rng.integers(0, 2 ** 31 - 1, n)
    for col in LATE_RANDOM_EFFECTS:
        df[col] = on * rng.normal(0.0, _lognormal_sd(p.value(PK_RANDOM_EFFECTS[col][1])), n)
    return df


def subject_etas(row) -> dict[str, float]:
    return {key: float(row[col]) for col, (key, _) in PK_RANDOM_EFFECTS.items()}


def eta_arrays(subjects: pd.DataFrame) -> dict[str, np.ndarray]:
    """PK random effects of a subject table by the key individual_pk reads (0 where a column is missing)."""
    return {key: subjects[col].to_numpy(float) if col in subjects else np.zeros(len(subjects))
            for col, (key, _) in PK_RANDOM_EFFECTS.items()}
