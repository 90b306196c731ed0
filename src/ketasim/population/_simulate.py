"""Population simulation: the same model as `Simulation.solve`, batched over subjects.

`simulate_chunk` runs the compiled path of `ketasim.solvers.fast` (exact linear PK from per-subject
eigendecompositions, PD in compiled loops). `_simulate_chunk_reference` keeps the batched NumPy path: linear PK
propagated exactly with per-subject matrix exponentials (scipy.linalg.expm on (N, 2n, 2n) stacks) and the
receptor, mediator and outcome layers on (time x subject) arrays. Subjects are processed in chunks to bound
memory; chunking cannot change results because every random effect was drawn beforehand
(population.sample_subjects) and each subject's arithmetic is its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ketasim.mechanisms import Mechanism
from ketasim.models import outputs as output_catalogue
from ketasim.models.model import KetamineModel
from ketasim.models.pd import context_for, pd_model
from ketasim.models.pk import Covariates, CovariateArrays, PKIndividual, build_pk_matrix, individual_pk
from ketasim.parameters import ParameterSet
from ketasim.regimens import Regimen
from ketasim.solvers.grid import internal_grid
from ketasim.solvers.linear import solve_linear
from ketasim.solvers.reference import evaluate

from ._population import eta_arrays, subject_etas
from ._summary import SummaryAccumulator



def population_grid(regimen: Regimen, duration_h: float, step_h: float = 1.0, fine_step_h: float = 5 / 60,
                    fine_window_h: float = 6.0, extra_times=()) -> np.ndarray:
    """Uniform grid plus a fine window after each dose start (peaks of immediate effects)."""
    t0 = min(0.0, regimen.first_time_h())
    n = int(math.floor((duration_h - t0) / step_h + 1e-9))
    pts = [t0 + step_h * np.arange(n + 1), np.array([duration_h]), np.asarray(extra_times, float)]
    for d in regimen.realize():
        if d.time_h <= duration_h:
            pts.append(np.arange(d.time_h, min(d.time_h + fine_window_h, duration_h) + 1e-12, fine_step_h))
            if d.duration_h > 0 and d.time_h + d.duration_h <= duration_h:
                pts.append(np.array([d.time_h + d.duration_h]))
    grid = np.unique(np.round(np.concatenate(pts), 9))
    return grid[(grid >= t0) & (grid <= duration_h + 1e-12)]


def _stack(inds: list[PKIndividual]) -> PKIndividual:
    return PKIndividual({k: np.array([i.values[k] for i in inds]) for k in inds[0].values}, inds[0].compounds)


def simulate_chunk(regimen: Regimen, subjects: pd.DataFrame, parameters: ParameterSet, mechanism: Mechanism,
                   t: np.ndarray, expectation: str = "active", oral_ad_start_h: float | None = None,
                   columns=None, model: KetamineModel | None = None, stats=None) -> dict[str, np.ndarray]:
    """Outputs (T, N) for one chunk of subjects (the compiled path of ketasim.solvers.fast); `columns` default
    to every output of the mechanism's model (models.outputs.columns). The regimen's compounds join the model
    variant (ketasim.compounds.with_compounds)."""
    from ketasim.compounds import with_compounds

    mechanism = with_compounds(mechanism, regimen)
    columns = columns if columns is not None else output_catalogue.columns(mechanism)
    try:
        from ketasim.solvers.fast import simulate_chunk_fast
    except ImportError:  # pragma: no cover - numba is a dependency
        return _simulate_chunk_reference(regimen, subjects, parameters, mechanism, t, expectation, oral_ad_start_h,
                                         columns, model)
    return simulate_chunk_fast(regimen, CovariateArrays.from_frame(subjects), eta_arrays(subjects),
                               subject_sources(subjects), parameters, mechanism, t, expectation, oral_ad_start_h,
                               columns, model, stats)


def simulate_parameter_sets(regimen: Regimen, subjects: pd.DataFrame, parameter_sets: list[ParameterSet],
                            mechanism: Mechanism, t: np.ndarray, expectation: str = "active",
                            oral_ad_start_h: float | None = None, columns=None) -> tuple[dict[str, np.ndarray],
                                                                                           np.ndarray]:
    """The same subjects under each of many parameter sets (a sensitivity analysis): outputs {column: (T, M, N)}
    and ok (M,), False where the model refuses a set (its outputs NaN). The numbers of `simulate_chunk` once
    per set, computed as one batch (ketasim.solvers.fast.simulate_parameter_sets_fast)."""
    from ketasim.compounds import with_compounds
    from ketasim.solvers.fast import simulate_parameter_sets_fast

    mechanism = with_compounds(mechanism, regimen)
    columns = columns if columns is not None else output_catalogue.columns(mechanism)
    return simulate_parameter_sets_fast(regimen, CovariateArrays.from_frame(subjects), eta_arrays(subjects),
                                        subject_sources(subjects), list(parameter_sets), mechanism, t, expectation,
                                        oral_ad_start_h, columns)


def subject_sources(subjects: pd.DataFrame) -> dict[str, np.ndarray]:
    """The per-subject PD inputs a subject table holds (baseline MADRS, sensitivity scales)."""
    from ketasim.models.pd import SUBJECT_SOURCES

    return {s: subjects[s].to_numpy(float) for s in SUBJECT_SOURCES if s in subjects}


def _simulate_chunk_reference(regimen: Regimen, subjects: pd.DataFrame, parameters: ParameterSet,
                              mechanism: Mechanism, t: np.ndarray, expectation: str = "active",
                              oral_ad_start_h: float | None = None, columns=None,
                              model: KetamineModel | None = None) -> dict[str, np.ndarray]:
    """Outputs (T, N) for one chunk of subjects: batched matrix exponentials and the reference evaluator on (T, N)
    arrays (the fast path's fallback where numba is missing)."""
    from ketasim.compounds import with_compounds

    mechanism = with_compounds(mechanism, regimen)
    columns = columns if columns is not None else output_catalogue.columns(mechanism)
    parameters = mechanism.with_parameters(parameters)
    model = model or KetamineModel.for_mechanism(mechanism)
    names = model.layout.names
    inds, inputs = [], []
    for row in subjects.itertuples(index=False):
        cov = Covariates(weight_kg=float(row.weight_kg), age_y=float(row.age_y), sex=str(row.sex),
                         cyp2b6=str(row.cyp2b6))
        ind = individual_pk(parameters, cov, subject_etas(row._asdict()), model.compounds)
        inds.append(ind)
        inputs.append(model.inputs(regimen, ind, cov.weight_kg))
    N = len(inds)
    t_out = np.asarray(t, float)
    t, at = internal_grid(t_out, [i for per_subject in inputs for i in per_subject])
    X = np.zeros((len(t), N, len(names)))
    for bname, idx in model.layout.blocks.items():
        sub_index = {names[j]: k for k, j in enumerate(idx)}
        block_inputs = [[i for i in inp if i.state in sub_index] for inp in inputs]
        if not any(block_inputs):
            continue
        A = np.stack([build_pk_matrix(ind, model.index)[np.ix_(idx, idx)] for ind in inds])
        X[:, :, idx] = solve_linear(A, block_inputs, t, sub_index)
    stacked = _stack(inds)
    out = model.plasma_outputs(X, stacked)
    pdm = pd_model(mechanism, parameters)
    values = pdm.values(parameters, context_for(regimen, expectation, oral_ad_start_h).values())
    subject = subject_sources(subjects)
    wanted = [c for c in columns if c in pdm.nodes]
    out.update(evaluate(pdm, t, model.effect_sites(X), subject, values, wanted=wanted))
    return {c: np.asarray(out[c])[at] for c in columns}


@dataclass
class PopulationResult:
    time_h: np.ndarray
    outputs: dict[str, np.ndarray]          # column -> (T, N)
    subjects: pd.DataFrame
    regimen: Regimen | None = None
    meta: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    mechanism: Mechanism | None = None

    @property
    def output_info(self) -> dict:
        return {o.name: o for o in output_catalogue.catalogue(self.mechanism)}

    @property
    def units(self):
        known = output_catalogue.units(self.mechanism)
        return {k: known.get(k, "") for k in self.outputs}

    def to_pandas(self) -> pd.DataFrame:
        T, N = len(self.time_h), len(self.subjects)
        cols = {"id": np.repeat(self.subjects["id"].to_numpy(), T), "time_h": np.tile(self.time_h, N)}
        for k, v in self.outputs.items():
            cols[k] = v.T.reshape(-1)
        return pd.DataFrame(cols)

    def summary(self) -> dict:
        """Per output: percentiles (5/50/95) of each subject's Cmax, Tmax and AUC; mood changes and responders.
        The same per-subject accumulator serves the streamed path, so both summaries agree by construction."""
        acc = SummaryAccumulator(self.time_h, list(self.outputs), self.meta.get("first_session_h", 0.0), self.units,
                                 self.regimen.realize() if self.regimen is not None else ())
        acc.add(self.outputs)
        return acc.summary()

    def plot(self, path=None, log: bool = False):
        from ketasim.plotting import plot_timecourse

        return plot_timecourse(self, path, log=log)

    def write(self, out_dir, log_plot: bool = False):
        """timecourse.parquet (one row per subject x time), summary.json (means and percentiles),
        timecourse.png (median and 5-95 % band); all or nothing."""
        import json
        from pathlib import Path

        from ketasim._version import __version__
        from ketasim.io.export import atomic_output_dir

        with atomic_output_dir(out_dir) as tmp:
            self.to_pandas().to_parquet(tmp / "timecourse.parquet", index=False)
            doc = {"summary": self.summary(), "subjects": int(len(self.subjects)),
                   "provenance": {"ketasim_version": __version__,
                                  "regimen": self.regimen.to_text() if self.regimen else [], **self.meta},
                   "warnings": self.warnings, "note": "Research software, not a dosing tool."}
            (tmp / "summary.json").write_text(json.dumps(doc, indent=2, default=str))
            self.plot(tmp / "timecourse.png", log=log_plot)
        return Path(out_dir)


def _chunk_job(job):
    """One unit of work, picklable for a Dask worker."""
    regimen, chunk, parameters, mechanism, t, expectation, oral_ad_start_h, columns = job
    return simulate_chunk(regimen, chunk, parameters, mechanism, t, expectation, oral_ad_start_h, columns)


def simulate_population(regimen: Regimen, subjects: pd.DataFrame, parameters: ParameterSet, mechanism: Mechanism,
                        t: np.ndarray, expectation: str = "active", oral_ad_start_h: float | None = None,
                        columns=None, chunk_size: int = 256,
                        progress: Callable[[int, int], None] | None = None,
                        executor=None) -> PopulationResult:
    """All subjects, in chunks: in-process by default, or mapped by `executor` (ketasim.parallel)."""
    if chunk_size < 1:
        raise ValueError("chunk size must be at least 1")
    from ketasim.compounds import with_compounds
    from ketasim.parallel import SerialExecutor

    mechanism = with_compounds(mechanism, regimen)

    columns = tuple(columns) if columns is not None else output_catalogue.columns(mechanism)
    chunks = [subjects.iloc[i:i + chunk_size] for i in range(0, len(subjects), chunk_size)]
    jobs = [(regimen, ch, parameters, mechanism, t, expectation, oral_ad_start_h, tuple(columns)) for ch in chunks]
    parts = (executor or SerialExecutor()).map(_chunk_job, jobs, progress)
    outputs = {c: np.concatenate([p[c] for p in parts], axis=1) for c in columns}
    sessions = [d.time_h for d in regimen.realize() if d.is_session]
    meta = {"hypothesis": mechanism.label(), "expectation": expectation,
            "first_session_h": min(sessions) if sessions else 0.0}
    return PopulationResult(t, outputs, subjects.reset_index(drop=True), regimen, meta, mechanism=mechanism)
