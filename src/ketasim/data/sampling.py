"""Simulation at exact sampling times, and simulation of a NONMEM-style data set subject by subject.

The model is solved on a dense grid (the population grid: fine after every dose, so that the slowly integrated
effect layers are accurate) joined with the requested times; the table keeps only the requested times. The
values at those times are computed there, never interpolated."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ketasim.population import PopulationSpec, population_grid, sample_subjects, simulate_population
from ketasim.models import outputs as output_catalogue
from ketasim.regimens import Regimen

from .nonmem import NonmemDataset

DEFAULT_COVARIATES = {"weight_kg": 70.0, "age_y": 40.0, "sex": "unspecified", "cyp2b6": "*1/*1",
                      "baseline_madrs": 32.0}
PD_SCALE_COLUMNS = ("drive_scale", "cadss_scale", "placebo_scale")


def parse_times(text: str) -> np.ndarray:
    """'0, 0.5, 1, 2 h' or '0 h, 30 min, 1 d' (a unit at the end applies to every bare number) -> hours."""
    from ketasim.units import UnitError, to_hours

    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise UnitError("--times is empty; give sampling times such as '0, 0.5, 1, 2, 4 h'")
    last = parts[-1].split()
    unit = last[1] if len(last) == 2 else None
    out = []
    for p in parts:
        bits = p.split()
        if len(bits) == 1:
            if unit is None:
                raise UnitError(f"sampling time {p!r} has no unit; write e.g. '0, 0.5, 1, 2 h'")
            p = f"{p} {unit}"
        out.append(to_hours(p, "sampling time"))
    t = np.array(out, float)
    if not np.all(np.isfinite(t)):
        raise UnitError("sampling times must be finite")
    return np.unique(t)


def dense_grid(regimen: Regimen, end_h: float, times=(), start_h: float | None = None,
               step_h: float | None = None) -> np.ndarray:
    """The population grid from the first dose (or 0) to `end_h` joined with `times`."""
    end = max(float(end_h), float(np.max(times)) if len(times) else -math.inf, regimen.last_time_h(), 1e-3)
    step = step_h or (0.25 if end <= 7 * 24 else 1.0)
    g = population_grid(regimen, end, step_h=step, fine_step_h=5 / 60, fine_window_h=6.0)
    pts = [g, np.asarray(times, float)]
    if start_h is not None:
        pts.append([start_h])
    return np.unique(np.round(np.concatenate(pts), 10))


def typical_subjects(n: int = 1, covariates: dict | None = None) -> pd.DataFrame:
    """Subjects without between-subject variability (every eta 0, every PD scale 1)."""
    from ketasim.population._population import PK_RANDOM_EFFECTS

    cov = {**DEFAULT_COVARIATES, **(covariates or {})}
    df = pd.DataFrame({"id": np.arange(n, dtype=np.int64)})
    for k, v in cov.items():
        df[k] = v
    for col in PK_RANDOM_EFFECTS:
        df[col] = 0.0
    for col in PD_SCALE_COLUMNS:
        df[col] = 1.0
    df["rating_seed"] = 0
    return df


def select_times(t_all: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions of `wanted` in the grid `t_all` (both rounded to 1e-10 h)."""
    ta = np.round(np.asarray(t_all, float), 10)
    tw = np.round(np.asarray(wanted, float), 10)
    pos = np.searchsorted(ta, tw)
    if np.any(pos >= len(ta)) or np.any(ta[np.clip(pos, 0, len(ta) - 1)] != tw):
        raise ValueError("internal: a sampling time is missing from the simulation grid")
    return pos


def dataset_subjects(ds: NonmemDataset, seed: int, variability: bool, parameters) -> pd.DataFrame:
    """One simulated subject per data-set ID: the data's covariates (defaults where a column is absent) and, with
    `variability`, random effects drawn from `seed` (drawn once for all subjects, before any work is split)."""
    n = len(ds.subjects)
    if variability:
        subj = sample_subjects(PopulationSpec(), n, seed, parameters)
    else:
        subj = typical_subjects(n)
    subj["id"] = [s.id for s in ds.subjects]
    for k, default in DEFAULT_COVARIATES.items():
        vals = [s.covariates.get(k, default) for s in ds.subjects]
        subj[k] = pd.Series(vals, dtype=object if isinstance(default, str) else float).to_numpy()
    bad = [(s.id, s.covariates["weight_kg"]) for s in ds.subjects
           if "weight_kg" in s.covariates and not 20 <= float(s.covariates["weight_kg"]) <= 250]
    if bad:
        raise ValueError(f"{ds.path and ds.path.split('/')[-1]}: ID {bad[0][0]} has body weight {bad[0][1]:g} kg; "
                         "WT must be 20-250 kg")
    return subj.reset_index(drop=True)


def simulate_dataset(ds: NonmemDataset, parameters, mechanism, subjects: pd.DataFrame, columns=None,
                     expectation: str = "active", oral_ad_start_h: float | None = None,
                     progress=None) -> pd.DataFrame:
    """Predictions at every record of the data set that asks for one (EVID 0 and 2): one row per record with
    `row` (position in ds.records), id, segment, time_h and every output column (default: the mechanism's)."""
    columns = tuple(columns) if columns is not None else output_catalogue.columns(mechanism)
    rows = []
    total = sum(len(s.segments) for s in ds.subjects)
    done = 0
    rec = ds.records
    for s_i, sd in enumerate(ds.subjects):
        subj = subjects.iloc[[s_i]]
        for k, seg in enumerate(sd.segments):
            done += 1
            if not seg.rows:
                continue
            times = rec.loc[seg.rows, "TIME"].to_numpy(float)
            reg = seg.regimen()
            t = dense_grid(reg, float(times.max()), times)
            res = simulate_population(reg, subj, parameters, mechanism, t, expectation=expectation,
                                      oral_ad_start_h=oral_ad_start_h, columns=columns)
            pos = select_times(t, times)
            block = {"row": np.asarray(seg.rows, np.int64), "id": np.full(len(times), sd.id, np.int64),
                     "segment": np.full(len(times), k, np.int64), "time_h": times}
            for c in columns:
                block[c] = res.outputs[c][pos, 0]
            rows.append(pd.DataFrame(block))
            if progress:
                progress(done, total)
    if not rows:
        return pd.DataFrame(columns=["row", "id", "segment", "time_h", *columns])
    return pd.concat(rows, ignore_index=True)
