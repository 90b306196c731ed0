"""Evaluating regimens: each candidate runs on the same virtual population (drawn once from the problem's seed:
common random numbers, so differences between regimens are not sampling noise) under every hypothesis of the
problem, through the compiled population path; jobs (regimen x hypothesis) go to an executor (in-process, or Dask
with --scheduler). A regimen evaluated once is not evaluated again.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ketasim.patterns.metrics import benefit_values, liability_values

from .problem import Problem
from .space import Design, visits, visits_per_week

COLUMNS = ("drug_liking", "euphoria", "cadss", "mor_agonist_signal", "chronic_tolerance", "madrs")


def _job(job) -> dict[str, float]:
    """One regimen under one hypothesis (picklable for Dask workers): every metric's mean and percentiles."""
    lines, variant, subjects, expectation, horizon_h = job
    from ketasim.mechanisms import get_mechanism
    from ketasim.parameters import default_parameters
    from ketasim.population import population_grid, simulate_population
    from ketasim.regimens import Regimen

    params = default_parameters()
    regimen = Regimen.from_text(*lines)
    t = population_grid(regimen, horizon_h, step_h=1.0)
    res = simulate_population(regimen, subjects, params, get_mechanism(*variant), t, expectation=expectation,
                              columns=COLUMNS, chunk_size=max(1, len(subjects)))
    values = {**liability_values(t, res.outputs, regimen, params, subjects["weight_kg"].to_numpy()),
              **benefit_values(t, res.outputs["madrs"], regimen, subjects["baseline_madrs"].to_numpy())}
    out: dict[str, float] = {}
    for k, v in values.items():
        v = np.asarray(v, float)
        out[k] = float(np.mean(v))
        for p in (5, 50, 95):
            out[f"{k}.p{p}"] = float(np.percentile(v, p))
    return out


class Evaluator:
    """Objective and constraint values of designs, with a cache, progress and a running record of every
    evaluation (written to `record_path` after each batch, so an interrupted search keeps what it did)."""

    def __init__(self, problem: Problem, executor=None, progress: Callable[[int, int], None] | None = None,
                 record_path: str | Path | None = None, expected_evaluations: int | None = None,
                 contains: Callable[[Design], bool] | None = None):
        from ketasim.parallel import SerialExecutor
        from ketasim.parameters import default_parameters
        from ketasim.population import PopulationSpec, sample_subjects

        self.problem = problem
        self.contains = contains      # whether a design lies in the search space (reference regimens may not)
        self.executor = executor or SerialExecutor()
        self.progress = progress
        self.record_path = Path(record_path) if record_path is not None else None
        self.subjects = sample_subjects(PopulationSpec(), problem.subjects, problem.seed, default_parameters())
        self.cache: dict[str, dict] = {}
        self.rows: list[dict] = []
        self.expected = expected_evaluations
        self.started = time.perf_counter()
        self.saved_at = 0.0

    # -- raw metrics -----------------------------------------------------------------------------------
    def metrics(self, designs: list[Design], origin: str = "search") -> list[dict]:
        """Per design: {hypothesis label: metrics} plus regimen metrics, from the cache or computed now."""
        p = self.problem
        labels = p.hypothesis_labels
        new = []
        for d in designs:
            text = d.text(p)
            if text not in self.cache and text not in {n[0] for n in new}:
                new.append((text, d))
        # in-process: one regimen at a time, so that an interruption loses at most the regimen in hand; on a
        # cluster: the whole batch at once
        from ketasim.parallel import SerialExecutor

        step = 1 if isinstance(self.executor, SerialExecutor) else max(1, len(new))
        for start in range(0, len(new), step):
            part = new[start:start + step]
            jobs = [(tuple(d.lines(p)), v, self.subjects, p.expectation, p.horizon_h) for _, d in part
                    for v in p.variants]
            done_before = len(self.rows)

            def tick(done, total, done_before=done_before):
                if self.progress:
                    self.progress(done_before + done // max(1, len(p.variants)),
                                  max(self.expected or 0, done_before + len(part)))

            results = self.executor.map(_job, jobs, tick)
            for i, (text, d) in enumerate(part):
                per = {labels[j]: results[i * len(p.variants) + j] for j in range(len(p.variants))}
                reg = d.regimen(p)
                entry = {"design": d, "text": text, "per_hypothesis": per,
                         "regimen": {"visits": float(len(visits(reg))), "visits_per_week": float(visits_per_week(reg))},
                         "origin": origin}
                self.cache[text] = entry
                self.rows.append(self._row(entry))
            if time.perf_counter() - self.saved_at > 2.0:
                self.save()
        return [self.cache[d.text(p)] for d in designs]

    # -- aggregation over hypotheses ---------------------------------------------------------------------
    def value(self, entry: dict, column: str, maximise: bool | None) -> float:
        """A metric column aggregated over the problem's hypotheses: the worst case (lowest of a maximised metric,
        highest otherwise; constraints are always judged in the worst case) or the weighted mean."""
        metric = column.split(".")[0]
        if metric in entry["regimen"]:
            return entry["regimen"][metric]
        vals = np.array([entry["per_hypothesis"][h][column] for h in self.problem.hypothesis_labels])
        if len(vals) == 1:
            return float(vals[0])
        if self.problem.robust == "weighted" and maximise is not None:
            return float(np.dot(self.problem.weights, vals))
        if maximise is None:          # a constraint: the side that threatens it is chosen by the caller
            return vals
        return float(vals.min() if maximise else vals.max())

    def objectives_and_constraints(self, entries: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        """F (to minimise: maximised objectives negated) and G (<= 0 feasible) for pymoo."""
        p = self.problem
        F = np.array([[(-1.0 if o.maximise else 1.0) * self.value(e, o.column, o.maximise) for o in p.objectives]
                      for e in entries])
        G = np.zeros((len(entries), len(p.constraints)))
        for i, e in enumerate(entries):
            for j, c in enumerate(p.constraints):
                v = self.value(e, c.column, None)
                v = np.atleast_1d(v)
                G[i, j] = (v.max() - c.bound) if c.op == "<=" else (c.bound - v.min())
        return F, G

    # -- the record -------------------------------------------------------------------------------------
    def _row(self, entry: dict) -> dict:
        p = self.problem
        d: Design = entry["design"]
        t = p.treatments[d.treatment]
        row = {"evaluation": len(self.rows), "origin": entry["origin"], "regimen": entry["text"], "drug": t.drug,
               "route": t.route, "dose": d.dose, "dose_unit": t.dose_unit, "infusion_min": d.infusion_h * 60,
               "interval_d": d.interval_h / 24, "doses": d.doses, "maintenance_interval_d": d.maintenance_interval_h / 24,
               "maintenance_doses": d.maintenance_doses, "maintenance_fraction": d.maintenance_fraction,
               **entry["regimen"],
               "in_search_space": entry["origin"] == "search" or (self.contains is not None and self.contains(d))}
        F, G = self.objectives_and_constraints([entry])
        for o, f in zip(p.objectives, F[0]):
            row[o.label] = -f if o.maximise else f
        for c, g in zip(p.constraints, G[0]):
            row[f"constraint: {c.text}"] = g
        row["feasible"] = bool(np.all(G[0] <= 0))
        for h, metrics in entry["per_hypothesis"].items():
            for k, v in metrics.items():
                if "." not in k:
                    row[f"{k} [{h}]"] = v
        row["elapsed_s"] = time.perf_counter() - self.started
        return row

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def save(self):
        """evaluations.parquet, replaced atomically (a reader never sees half a file)."""
        if self.record_path is None or not self.rows:
            return
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.record_path.with_name(f".{self.record_path.name}.{os.getpid()}.tmp")
        self.frame().to_parquet(tmp, index=False)
        os.replace(tmp, self.record_path)
        self.saved_at = time.perf_counter()


def finite(x: float) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None
