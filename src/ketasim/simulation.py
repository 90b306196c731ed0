"""Simulation: model x parameters x regimen x subject -> Result. The one place layers are composed."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ketasim.mechanisms import Mechanism, get_mechanism
from ketasim.models.model import KetamineModel
from ketasim.models.pd import EXPECTATIONS, Context, context_for, pd_model
from ketasim.models.pk import Covariates, is_amount_state
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.regimens import Regimen, RegimenError, parse_dose
from ketasim.results import Result
from ketasim.solvers.linear import solve_linear
from ketasim.solvers.grid import internal_grid
from ketasim.solvers.reference import evaluate, subject_values
from ketasim.units import UnitError, to_hours

MAX_DURATION_H = 24 * 180.0  # half a year: beyond it no source says anything about the layers modelled


class SimulationError(ValueError):
    """Inputs that cannot be simulated as given."""


def parse_duration(duration: str | float) -> float:
    if isinstance(duration, (int, float)) and not isinstance(duration, bool):
        raise UnitError(f"duration {duration!r} has no unit; write e.g. '7 d' or '48 h'")
    h = to_hours(duration, "duration")
    if not math.isfinite(h) or h <= 0:
        raise SimulationError(f"duration must be positive, got {duration!r}")
    if h > MAX_DURATION_H:
        raise SimulationError(f"duration {duration!r} exceeds the {MAX_DURATION_H / 24:g}-day limit")
    return h


def default_output_step(duration_h: float) -> float:
    if duration_h <= 24:
        return 1 / 60
    if duration_h <= 24 * 7:
        return 5 / 60
    if duration_h <= 24 * 28:
        return 0.25
    return 1.0


def output_grid(regimen: Regimen, duration_h: float, step_h: float | None = None,
                fine_window_h: float = 4.0, fine_step_h: float = 1 / 60) -> np.ndarray:
    """Uniform grid from the first dose (or 0) to `duration_h`, refined to 1 min for 4 h after each
    dose start and infusion end, so peaks are not missed."""
    step = step_h or default_output_step(duration_h)
    t0 = min(0.0, regimen.first_time_h())
    n = int(math.floor((duration_h - t0) / step + 1e-9))
    pts = [t0 + step * np.arange(n + 1), np.array([duration_h])]
    for d in regimen.realize():
        for start in (d.time_h, d.time_h + d.duration_h):
            if start <= duration_h:
                end = min(start + fine_window_h, duration_h)
                pts.append(np.arange(start, end + 1e-12, fine_step_h))
    grid = np.unique(np.round(np.concatenate(pts), 10))
    return grid[(grid >= t0) & (grid <= duration_h + 1e-12)]


def as_regimen(doses) -> Regimen:
    if isinstance(doses, Regimen):
        return doses
    if isinstance(doses, str):
        return Regimen.from_text(doses)
    if isinstance(doses, Sequence):
        return Regimen(tuple(parse_dose(d) if isinstance(d, str) else d for d in doses))
    raise RegimenError(f"cannot make a regimen from {type(doses).__name__}")


@dataclass
class Simulation:
    """Compose a model, parameters and a regimen; `solve` one subject."""

    regimen: Regimen
    parameters: ParameterSet = field(default_factory=default_parameters)
    model: KetamineModel = field(default_factory=KetamineModel)
    mechanism: Mechanism = field(default_factory=get_mechanism)
    expectation: str = "active"
    oral_antidepressant_start_h: float | None = None
    baseline_madrs: float | None = None

    def variant(self) -> tuple[Mechanism, KetamineModel]:
        """The model variant of this regimen: the mechanism with the regimen's compounds, and its PK layer."""
        from ketasim.compounds import with_compounds

        mech = with_compounds(self.mechanism, self.regimen)
        wanted = tuple(getattr(mech, "compounds", ()))
        model = self.model if set(wanted) <= set(self.model.compounds) else KetamineModel(wanted)
        return mech, model

    def context(self) -> Context:
        if self.expectation not in EXPECTATIONS:
            raise SimulationError(f"expectation must be one of {', '.join(EXPECTATIONS)}, not {self.expectation!r}")
        return context_for(self.regimen, self.expectation, self.oral_antidepressant_start_h, self.baseline_madrs)

    def ode(self, covariates: Covariates | None = None, eta=None, subject: dict | None = None):
        """The whole model of one subject as an ODE system (ketasim.solvers.ode.ModelODE), with its dosing inputs
        and state index: for general-purpose solvers (solve_ivp) and accuracy references."""
        from ketasim.solvers.ode import ModelODE

        cov = covariates or Covariates()
        mech, model = self.variant()
        params = mech.with_parameters(self.parameters)
        ind, A = model.compile_subject(params, cov, eta)
        inputs = model.inputs(self.regimen, ind, cov.weight_kg)
        pdm = pd_model(mech, params)
        values = pdm.values(params, self.context().values())
        rows = model.effect_sites(np.eye(A.shape[0]))
        given = dict(subject or {})
        if self.baseline_madrs is not None:
            given.setdefault("baseline_madrs", self.baseline_madrs)
        return ModelODE(pdm, A, rows, values, given, readouts=lambda X: model.plasma_outputs(X, ind)), \
            inputs, model.index

    def solve(self, duration: str = "7 d", covariates: Covariates | None = None,
              output_step: str | None = None, eta=None) -> Result:
        return self.solve_many([self.mechanism], duration, covariates, output_step, eta)[0]

    def solve_many(self, mechanisms, duration: str = "7 d", covariates: Covariates | None = None,
                   output_step: str | None = None, eta=None) -> list[Result]:
        """One Result per mechanism, sharing one PK solution (the PK layer does not depend on the hypothesis):
        for comparing hypotheses on the same regimen and subject."""
        pk = self.pk_solution(duration, covariates, output_step, eta, mechanisms[0])
        return [self.result(pk, mech) for mech in mechanisms]

    def pk_solution(self, duration: str = "7 d", covariates: Covariates | None = None,
                    output_step: str | None = None, eta=None, mechanism: Mechanism | None = None) -> "PKSolution":
        """The PK layer at the output times (states, plasma read-outs and the effect sites the PD layers read),
        with the effect sites on the solvers' internal grid for the PD layers."""
        duration_h = parse_duration(duration)
        cov = covariates or Covariates()
        step = to_hours(output_step, "output step") if output_step else None
        if step is not None and not (0 < step <= duration_h):
            raise SimulationError(f"output step must be positive and at most the duration, got {output_step!r}")
        self.regimen.check_validated_range(cov.weight_kg)
        mech, model = replace(self, mechanism=mechanism or self.mechanism).variant()
        params = mech.with_parameters(self.parameters)
        ind, A = model.compile_subject(params, cov, eta)
        inputs = model.inputs(self.regimen, ind, cov.weight_kg)
        t_out = output_grid(self.regimen, duration_h, step)
        t, at = internal_grid(t_out, inputs)   # the solvers' grid, read back at the output times
        X = np.zeros((len(t), A.shape[0]))
        index = model.index
        for bname, idx in model.layout.blocks.items():
            block_inputs = [i for i in inputs if index[i.state] in set(idx.tolist())]
            if not block_inputs:
                continue
            sub_index = {model.layout.names[j]: k for k, j in enumerate(idx)}
            X[:, idx] = solve_linear(A[np.ix_(idx, idx)], block_inputs, t, sub_index)
        grid_sites = model.effect_sites(X)
        return PKSolution(t_out, X[at], model, ind, inputs, cov,
                          {k: np.asarray(v)[at] for k, v in model.plasma_outputs(X, ind).items()},
                          {k: np.asarray(v)[at] for k, v in grid_sites.items()},
                          grid=t, at=at, grid_effect_sites=grid_sites)

    def pd_outputs(self, pk: "PKSolution", mechanism: Mechanism, parameters: ParameterSet | None = None,
                   wanted=None) -> dict[str, np.ndarray]:
        """The PD nodes (or the `wanted` ones) of `mechanism` on a PK solution of this regimen, at its output
        times; `parameters` replace this simulation's (for PD-only sensitivity: the PK is not recomputed). The
        slow states are integrated on the PK solution's internal grid (`ketasim.solvers.grid`)."""
        from ketasim.compounds import with_compounds

        mech = with_compounds(mechanism, self.regimen)
        params = mech.with_parameters(parameters or self.parameters)
        pd = pd_model(mech, params)
        values = pd.values(params, self.context().values())
        out = evaluate(pd, pk.grid, pk.grid_effect_sites,
                       subject_values(pd, {"baseline_madrs": self._baseline()}, values), values, wanted=wanted)
        return {k: np.asarray(v)[pk.at] for k, v in out.items()}

    def _baseline(self) -> float:
        baseline = self.baseline_madrs if self.baseline_madrs is not None else \
            self.parameters.value("mood.baseline_madrs")
        if not (0 < baseline <= 60):
            raise SimulationError(f"baseline MADRS must be in (0, 60], got {baseline!r}")
        return baseline

    def result(self, pk: "PKSolution", mechanism: Mechanism) -> Result:
        from ketasim.compounds import with_compounds

        mech = with_compounds(mechanism, self.regimen)
        baseline = self._baseline()
        ctx = self.context()
        pd_out = self.pd_outputs(pk, mech)
        pd = pd_model(mech, mech.with_parameters(self.parameters))
        shown = [o.name for o in pd.outputs()]
        outputs = dict(pk.plasma)
        outputs.update({k: pd_out[k] for k in shown})
        names = pk.model.layout.names
        amount_idx = [i for i, n in enumerate(names) if is_amount_state(n)]
        res = Result.single(pk.time_h, outputs, mechanism=mech, states=pk.states[:, amount_idx],
                            state_names=tuple(names[i] for i in amount_idx), regimen=self.regimen,
                            parameters=self.parameters, covariates=pk.covariates, inputs=pk.inputs)
        res.internal = {k: v for k, v in pd_out.items() if k not in shown}
        res.meta.update(hypothesis=mech.label(), expectation=self.expectation, baseline_madrs=baseline,
                        first_session_h=min(ctx.session_times_h) if ctx.session_times_h else 0.0)
        return res


@dataclass
class PKSolution:
    """The PK layer of one subject: states, plasma read-outs and effect-site sources at the output times
    (`time_h`), and the effect sites on the solvers' internal grid (`grid`; `at` is the index of each output
    time in it), on which the PD layers integrate their slow states."""

    time_h: np.ndarray
    states: np.ndarray
    model: KetamineModel
    individual: object
    inputs: list
    covariates: Covariates
    plasma: dict
    effect_sites: dict
    grid: np.ndarray = None
    at: np.ndarray = None
    grid_effect_sites: dict = None

    def __post_init__(self):
        if self.grid is None:   # built on the output times alone: the grid is the output grid
            self.grid = np.asarray(self.time_h, float)
            self.at = np.arange(len(self.grid))
            self.grid_effect_sites = self.effect_sites


def pd_response(t, effect_sites: dict, hypothesis: str | Mechanism = "opioid", opioid_source: str | None = None,
                parameters: ParameterSet | None = None, context: Context | None = None,
                subject: dict | None = None) -> dict[str, np.ndarray]:
    """Every PD node (L2-L5) on the grid t for given effect-site concentrations (µM; the model's effect-site
    sources, e.g. ce_ketamine_S), without the PK layer: for receptor and mechanism studies."""
    mech = get_mechanism(hypothesis, opioid_source)
    params = mech.with_parameters(parameters or default_parameters())
    model = pd_model(mech, params)
    values = model.values(params, (context or Context()).values())
    return evaluate(model, np.asarray(t, float), effect_sites, subject_values(model, subject or {}, values), values)


def simulate(doses, duration: str = "7 d", weight: str | float = 70.0, parameters: ParameterSet | None = None,
             covariates: Covariates | None = None, output_step: str | None = None,
             hypothesis: str | Mechanism = "opioid", opioid_source: str | None = None,
             expectation: str = "active", baseline_madrs: float | None = None,
             oral_antidepressant_start: str | None = None, **kwargs) -> Result:
    """Simulate one typical subject.

    >>> r = simulate("ketamine 0.5 mg/kg iv over 40 min", duration="1 d")
    >>> round(r.summary()["ketamine_ng_ml"]["cmax"])  # doctest: +SKIP
    """
    if kwargs:
        raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
    regimen = as_regimen(doses)
    if covariates is None:
        w = weight
        if isinstance(w, str):
            from ketasim.units import to_unit
            w = to_unit(w, "kg", "body weight")
        covariates = Covariates(weight_kg=float(w))
    mech = get_mechanism(hypothesis, opioid_source)
    ad = to_hours(oral_antidepressant_start, "oral antidepressant start") if oral_antidepressant_start else None
    sim = Simulation(regimen, parameters or default_parameters(), mechanism=mech, expectation=expectation,
                     oral_antidepressant_start_h=ad, baseline_madrs=baseline_madrs)
    return sim.solve(duration, covariates, output_step)
