"""An optimisation problem: the search space of regimens, the objectives and constraints, the hypotheses and the
virtual population; read from a YAML file or built from command-line options. Every mistake is one sentence
(`ProblemError`) naming the key and how to fix it.

    name: ketamine_iv_8_weeks
    horizon: 8 weeks
    subjects: 200
    hypotheses: [opioid]              # several: a robust front (worst case, or weighted by `weights`)
    objectives: [max days_in_response, min cadss_peak, min opioid_load_auc]
    constraints: ["cadss_peak <= 15", "visits_per_week <= 2"]
    search:
      treatments:
        - {drug: ketamine, route: iv, dose: 0.1-1 mg/kg, infusion: 20-100 min}
      interval: 2-14 d
      doses: 1-16
      maintenance_interval: 7-28 d    # optional maintenance after the induction
      maintenance_doses: 0-8
      maintenance_fraction: 0.5-1     # maintenance dose as a share of the induction dose (taper)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ketasim.patterns.metrics import METRICS
from ketasim.regimens._regimen import DRUG_ROUTES, HARD_LIMIT_MG
from ketasim.units import UnitError, parse_quantity, to_hours

MAX_SUBJECTS = 5000
MAX_EVALUATIONS = 20_000


class ProblemError(ValueError):
    """An optimisation problem that cannot be solved as written."""


# ---------------------------------------------------------------------------------------------------------
# metrics an objective or constraint may name (per-subject metrics of ketasim.patterns.metrics, and properties of
# the regimen itself); direction: what "better" means when an objective gives none; bounds: what the metric can
# reach at all (for "impossible constraint" checks)

REGIMEN_METRICS = {
    "visits": ("count", "clinic visits (sessions) in the horizon"),
    "visits_per_week": ("count", "most sessions in any 7 days"),
}
ALIASES = {"benefit": "days_in_response", "madrs_auc": "madrs_reduction_auc", "opioid_load": "opioid_load_auc",
           "dissociation": "cadss_auc", "dissociation_burden": "cadss_auc", "liability": "liking_auec",
           "liking": "liking_emax"}
MAXIMISED = {"days_in_response", "days_in_remission", "madrs_reduction_auc", "benefit_days",
             "response_days_after_last_dose"}
STATISTICS = ("mean", "p5", "p50", "p95")


def _bounds(metric: str, horizon_d: float) -> tuple[float, float]:
    inf = math.inf
    return {
        "liking_emax": (50.0, 100.0), "liking_emax_over_placebo": (0.0, 50.0), "take_drug_again": (50.0, 100.0),
        "euphoria_emax": (0.0, 100.0), "days_in_response": (0.0, horizon_d), "days_in_remission": (0.0, horizon_d),
        "response_days_after_last_dose": (0.0, horizon_d), "benefit_days": (0.0, 2.0 * horizon_d),
        "chronic_tolerance_fold": (1.0, inf),
        "madrs_change_end": (-60.0, 60.0), "bladder_frequency_probability": (0.0, 1.0),
        "bladder_odds_ratio_frequency": (1.0, inf), "bladder_odds_ratio_haematuria": (1.0, inf),
        "visits": (1.0, inf), "visits_per_week": (1.0, 7.0 * 24.0),
    }.get(metric, (0.0, inf))


def metric_names() -> list[str]:
    return sorted(set(METRICS) | set(REGIMEN_METRICS))


def metric_unit(metric: str) -> str:
    return REGIMEN_METRICS[metric][0] if metric in REGIMEN_METRICS else METRICS[metric].unit


@dataclass(frozen=True)
class Objective:
    metric: str
    statistic: str        # mean, p5, p50 or p95 over the subjects
    maximise: bool

    @property
    def column(self) -> str:
        return self.metric if self.statistic == "mean" else f"{self.metric}.{self.statistic}"

    @property
    def label(self) -> str:
        return f"{'max' if self.maximise else 'min'} {self.column}"


@dataclass(frozen=True)
class Constraint:
    metric: str
    statistic: str
    op: str               # '<=' or '>='
    bound: float
    text: str

    @property
    def column(self) -> str:
        return self.metric if self.statistic == "mean" else f"{self.metric}.{self.statistic}"


def _metric_ref(text: str, where: str) -> tuple[str, str]:
    """'cadss_peak' or 'cadss_peak.p95' -> (metric, statistic); aliases resolved; unknown names are errors."""
    name, _, stat = text.strip().partition(".")
    name = ALIASES.get(name, name)
    stat = stat or "mean"
    if name not in METRICS and name not in REGIMEN_METRICS:
        raise ProblemError(f"{where}: unknown metric {text.strip()!r}; known: {', '.join(metric_names())} "
                           f"(aliases: {', '.join(sorted(ALIASES))})")
    if stat not in STATISTICS:
        raise ProblemError(f"{where}: {text.strip()!r}: the statistic after the dot must be one of "
                           f"{', '.join(STATISTICS)}")
    if name in REGIMEN_METRICS and stat != "mean":
        stat = "mean"   # the same for every subject
    return name, stat


def parse_objective(text: str) -> Objective:
    words = str(text).split()
    if not words:
        raise ProblemError("empty objective; write e.g. 'max days_in_response' or 'min cadss_peak'")
    direction = None
    if words[0].lower() in ("max", "maximise", "maximize"):
        direction, words = True, words[1:]
    elif words[0].lower() in ("min", "minimise", "minimize"):
        direction, words = False, words[1:]
    if len(words) != 1:
        raise ProblemError(f"objective {text!r}: write 'max METRIC' or 'min METRIC', e.g. 'min cadss_peak'")
    metric, stat = _metric_ref(words[0], f"objective {text!r}")
    return Objective(metric, stat, metric in MAXIMISED if direction is None else direction)


_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>|≤|≥)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                         r"\s*([A-Za-z/%·*_ ]*)$")


def parse_constraint(text: str) -> Constraint:
    m = _CONSTRAINT.match(str(text))
    if not m:
        raise ProblemError(f"constraint {text!r}: write 'METRIC <= NUMBER' or 'METRIC >= NUMBER', "
                           f"e.g. 'cadss_peak <= 15'")
    metric, stat = _metric_ref(m[1], f"constraint {text!r}")
    op = {"<": "<=", ">": ">=", "≤": "<=", "≥": ">="}.get(m[2], m[2])
    bound = float(m[3])
    if not math.isfinite(bound):
        raise ProblemError(f"constraint {text!r}: the bound must be a finite number")
    return Constraint(metric, stat, op, bound, str(text).strip())


# ---------------------------------------------------------------------------------------------------------
# ranges: "0.1-1 mg/kg", "0.1 to 1 mg/kg", ["0.1 mg/kg", "1 mg/kg"], "40 min" (fixed)

_RANGE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*(?:-|to|–)\s*([-+]?(?:\d+\.?\d*|\.\d+))\s*(.*)$")


def parse_range(value, what: str, unit_kind: str) -> tuple[float, float, str]:
    """(low, high, unit) in hours for times, mg or mg/kg for doses, plain numbers for counts and fractions."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ProblemError(f"{what}: give a range as [LOW, HIGH], got {len(value)} values")
        parts = [_one(v, what, unit_kind) for v in value]
        if parts[0][1] != parts[1][1]:
            raise ProblemError(f"{what}: both ends need the same unit, got {parts[0][1]} and {parts[1][1]}")
        lo, hi, unit = parts[0][0], parts[1][0], parts[0][1]
    else:
        m = _RANGE.match(str(value))
        if m:
            unit_text = m[3].strip()
            lo, unit = _one(f"{m[1]} {unit_text}".strip(), what, unit_kind)
            hi, _ = _one(f"{m[2]} {unit_text}".strip(), what, unit_kind)
        else:
            lo, unit = _one(value, what, unit_kind)
            hi = lo
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ProblemError(f"{what}: the range must be finite")
    if lo > hi:
        raise ProblemError(f"{what}: empty range ({lo:g} > {hi:g}); write LOW-HIGH with LOW <= HIGH")
    return lo, hi, unit


def _one(v, what: str, unit_kind: str) -> tuple[float, str]:
    if unit_kind in ("count", "fraction"):
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise ProblemError(f"{what}: {v!r} is not a number") from None
        if unit_kind == "count" and x != int(x):
            raise ProblemError(f"{what}: {v!r} is not a whole number")
        return x, ""
    try:
        if unit_kind == "time":
            return to_hours(str(v), what), "h"
        q = parse_quantity(str(v).replace("µ", "u"), what)
    except UnitError as exc:
        raise ProblemError(str(exc)) from None
    if q.check("[mass]"):
        return float(q.to("mg").magnitude), "mg"
    if q.dimensionless and "/" in str(v):
        return float(q.to("mg/kg").magnitude), "mg/kg"
    raise ProblemError(f"{what}: {v!r} is not a dose in mg or mg/kg")


# ---------------------------------------------------------------------------------------------------------
# the file schema (pydantic checks keys and types; every message is rewritten into a plain sentence)

_STRICT = ConfigDict(extra="forbid")
Range = str | float | int | list


class TreatmentIn(BaseModel):
    model_config = _STRICT
    drug: Literal["ketamine", "esketamine", "arketamine"] = "ketamine"
    route: Literal["iv", "im", "intranasal", "oral", "sublingual"] = "iv"
    dose: Range = "0.1-1 mg/kg"
    infusion: Range | None = Field(None, description="iv only: infusion length range, e.g. '20-100 min'")


class SearchIn(BaseModel):
    model_config = _STRICT
    treatments: list[TreatmentIn] = Field(default_factory=lambda: [TreatmentIn(infusion="20-100 min")])
    interval: Range = "2-14 d"
    doses: Range = "1-16"
    maintenance_interval: Range | None = None
    maintenance_doses: Range = 0
    maintenance_fraction: Range = 1.0


class ProblemIn(BaseModel):
    model_config = _STRICT
    name: str = "optimize"
    horizon: str = "8 weeks"
    subjects: int = Field(200, ge=1, le=MAX_SUBJECTS)
    seed: int = Field(1, ge=0)
    hypotheses: list[str] = Field(default_factory=lambda: ["opioid"])
    robust: Literal["worst", "weighted"] = "worst"
    weights: dict[str, float] | str | None = None
    expectation: Literal["none", "saline", "active"] = "active"
    objectives: list[str] = Field(default_factory=lambda: ["max days_in_response", "min cadss_peak",
                                                           "min opioid_load_auc"])
    constraints: list[str] = Field(default_factory=list)
    search: SearchIn = Field(default_factory=SearchIn)
    population_size: int = Field(24, ge=4, le=500)
    generations: int = Field(10, ge=1, le=500)


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping of keys",
    "bool_parsing": "must be true or false",
}


def _sentence(exc: ValidationError) -> str:
    """The first problem pydantic found, in plain words (key path, what is wrong)."""
    errors = exc.errors()
    # of the alternatives of a union, report the most specific one once
    e = errors[0]
    loc = ".".join(str(x) for x in e["loc"] if not str(x).startswith(("str", "float", "int", "list", "dict",
                                                                           "function")))
    kind = e["type"]
    ctx = e.get("ctx") or {}
    if kind == "literal_error":
        msg = f"must be one of {ctx.get('expected', 'the listed values')}"
    elif kind in ("greater_than_equal", "greater_than"):
        msg = f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    elif kind in ("less_than_equal", "less_than"):
        msg = f"must be at most {ctx.get('le', ctx.get('lt'))}"
    elif kind == "value_error":
        msg = str(ctx.get("error", "invalid value"))
    else:
        msg = _MESSAGES.get(kind, "has a value of the wrong kind")
    return f"{loc}: {msg}" if loc else msg


# ---------------------------------------------------------------------------------------------------------
# the checked problem


@dataclass(frozen=True)
class Treatment:
    drug: str
    route: str
    dose: tuple[float, float]
    dose_unit: str
    infusion_h: tuple[float, float]


@dataclass(frozen=True)
class Problem:
    name: str
    horizon_h: float
    subjects: int
    seed: int
    variants: tuple[tuple[str, str | None], ...]
    robust: str
    weights: tuple[float, ...]
    expectation: str
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    treatments: tuple[Treatment, ...]
    interval_h: tuple[float, float]
    doses: tuple[int, int]
    maintenance_interval_h: tuple[float, float] | None
    maintenance_doses: tuple[int, int]
    maintenance_fraction: tuple[float, float]
    population_size: int
    generations: int
    source: str = "defaults"

    @property
    def hypothesis_labels(self) -> list[str]:
        from ketasim.mechanisms import get_mechanism

        return [get_mechanism(h, s).label() for h, s in self.variants]

    def describe(self) -> dict:
        return {"name": self.name, "horizon_days": self.horizon_h / 24.0, "subjects": self.subjects, "seed": self.seed,
                "hypotheses": self.hypothesis_labels, "robust": self.robust if len(self.variants) > 1 else None,
                "weights": dict(zip(self.hypothesis_labels, self.weights)) if len(self.variants) > 1 else None,
                "expectation": self.expectation, "objectives": [o.label for o in self.objectives],
                "constraints": [c.text for c in self.constraints],
                "treatments": [{"drug": t.drug, "route": t.route, "dose": list(t.dose), "dose_unit": t.dose_unit,
                                "infusion_min": [60 * x for x in t.infusion_h]} for t in self.treatments],
                "interval_days": [x / 24 for x in self.interval_h], "doses": list(self.doses),
                "maintenance_interval_days": None if self.maintenance_interval_h is None
                else [x / 24 for x in self.maintenance_interval_h],
                "maintenance_doses": list(self.maintenance_doses),
                "maintenance_fraction": list(self.maintenance_fraction),
                "population_size": self.population_size, "generations": self.generations, "source": self.source}


def load_problem(path: str | Path | None = None, **overrides) -> Problem:
    """A problem from a YAML file (or the defaults), with command-line overrides (None values ignored)."""
    raw: dict = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ProblemError(f"problem file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "cannot be parsed"
            raise ProblemError(f"problem file {path.name} is not valid YAML ({first})") from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ProblemError(f"problem file {path.name} must be a mapping of keys, got {type(raw).__name__}")
        source = path.name
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        spec = ProblemIn.model_validate(raw)
    except ValidationError as exc:
        where = f"problem file {source}" if path is not None else "problem"
        raise ProblemError(f"{where}: {_sentence(exc)}") from None
    return check_problem(spec, source)


def check_problem(spec: ProblemIn, source: str = "defaults") -> Problem:
    from ketasim.mechanisms import MechanismError, get_mechanism, parse_variant
    from ketasim.trials import DEFAULT_VARIANTS

    def parse_hypotheses(text: str):
        return list(DEFAULT_VARIANTS) if text == "all" else [parse_variant(h) for h in text.split(",")]

    try:
        horizon_h = to_hours(spec.horizon, "horizon")
    except UnitError as exc:
        raise ProblemError(str(exc)) from None
    if not 24.0 <= horizon_h <= 180 * 24.0:
        raise ProblemError(f"horizon: {spec.horizon!r} must lie between 1 and 180 days")
    variants: list[tuple[str, str | None]] = []
    try:
        for h in spec.hypotheses:
            for v in parse_hypotheses(h):
                get_mechanism(*v)
                variants.append(v)
    except (MechanismError, ValueError) as exc:
        raise ProblemError(f"hypotheses: {exc}") from None
    if not variants:
        raise ProblemError("hypotheses: name at least one hypothesis, e.g. [opioid]")
    variants = list(dict.fromkeys(variants))
    labels = [get_mechanism(h, s).label() for h, s in variants]
    if len(set(labels)) != len(labels):
        raise ProblemError("hypotheses: the same hypothesis is named twice")
    weights = _weights(spec, labels)
    objectives = tuple(parse_objective(o) for o in spec.objectives)
    if not objectives:
        raise ProblemError("objectives: name at least one, e.g. 'max days_in_response'")
    if len({o.column for o in objectives}) != len(objectives):
        raise ProblemError("objectives: the same metric is named twice")
    constraints = tuple(parse_constraint(c) for c in spec.constraints)
    s = spec.search
    if not s.treatments:
        raise ProblemError("search.treatments: empty search space; give at least one treatment")
    treatments = []
    for i, t in enumerate(s.treatments):
        where = f"search.treatments[{i}]"
        if t.route not in DRUG_ROUTES[t.drug]:
            raise ProblemError(f"{where}: {t.drug} by {t.route} is not modelled")
        lo, hi, unit = parse_range(t.dose, f"{where}.dose", "dose")
        if lo <= 0:
            raise ProblemError(f"{where}.dose: doses must be positive, got {lo:g} {unit}")
        if (hi * (120.0 if unit == "mg/kg" else 1.0)) > HARD_LIMIT_MG[t.drug]:
            raise ProblemError(f"{where}.dose: {hi:g} {unit} is beyond any studied dose of {t.drug}")
        if t.route == "iv":
            inf = parse_range(t.infusion if t.infusion is not None else "40 min", f"{where}.infusion", "time")[:2]
            if inf[0] < 0 or inf[1] > 24.0:
                raise ProblemError(f"{where}.infusion: infusion length must lie within 0-24 h")
        else:
            if t.infusion is not None:
                raise ProblemError(f"{where}.infusion: only iv doses are infused; remove it for {t.route}")
            inf = (0.0, 0.0)
        treatments.append(Treatment(t.drug, t.route, (lo, hi), unit, inf))
    interval = parse_range(s.interval, "search.interval", "time")[:2]
    doses = tuple(int(x) for x in parse_range(s.doses, "search.doses", "count")[:2])
    if doses[0] < 1:
        raise ProblemError("search.doses: the induction needs at least 1 dose")
    if interval[0] <= 0 and doses[1] > 1:
        raise ProblemError("search.interval: repeated doses need a positive interval")
    if interval[0] * (doses[0] - 1) >= horizon_h:
        raise ProblemError(f"search: empty search space: {doses[0]} doses at least {interval[0] / 24:g} d apart do "
                           f"not fit in the {horizon_h / 24:g}-day horizon")
    for t in treatments:
        if t.infusion_h[1] > 0 and doses[1] > 1 and t.infusion_h[0] >= interval[1]:
            raise ProblemError("search: empty search space: every infusion is longer than every interval")
    m_interval = None
    if s.maintenance_interval is not None:
        m_interval = parse_range(s.maintenance_interval, "search.maintenance_interval", "time")[:2]
        if m_interval[0] <= 0:
            raise ProblemError("search.maintenance_interval: must be positive")
    m_doses = tuple(int(x) for x in parse_range(s.maintenance_doses, "search.maintenance_doses", "count")[:2])
    if m_doses[0] < 0:
        raise ProblemError("search.maintenance_doses: must not be negative")
    if m_doses[1] > 0 and m_interval is None:
        raise ProblemError("search.maintenance_doses: maintenance needs search.maintenance_interval, e.g. '7-28 d'")
    m_frac = parse_range(s.maintenance_fraction, "search.maintenance_fraction", "fraction")[:2]
    if m_frac[0] <= 0 or m_frac[1] > 2:
        raise ProblemError("search.maintenance_fraction: the maintenance dose must be 0-2 times the induction dose "
                           "(more than 0)")
    if spec.population_size * spec.generations > MAX_EVALUATIONS:
        raise ProblemError(f"population_size x generations = {spec.population_size * spec.generations} exceeds "
                           f"{MAX_EVALUATIONS} evaluations")
    problem = Problem(spec.name, horizon_h, spec.subjects, spec.seed, tuple(variants), spec.robust, weights,
                      spec.expectation, objectives, constraints, tuple(treatments), interval, doses, m_interval,
                      m_doses, m_frac, spec.population_size, spec.generations, source)
    _check_feasible(problem)
    return problem


def _weights(spec: ProblemIn, labels: list[str]) -> tuple[float, ...]:
    if spec.weights is None:
        return tuple(1.0 / len(labels) for _ in labels)
    if isinstance(spec.weights, str):
        w = _weights_from_scores(spec.weights, labels)
    else:
        given = {}
        for k, v in spec.weights.items():
            label = _label(k)
            if label not in labels:
                raise ProblemError(f"weights: {k!r} is not one of the problem's hypotheses ({', '.join(labels)})")
            given[label] = float(v)
        w = [given.get(k, 0.0) for k in labels]
    if any(x < 0 or not math.isfinite(x) for x in w) or sum(w) <= 0:
        raise ProblemError("weights: give non-negative numbers with a positive sum")
    total = sum(w)
    return tuple(x / total for x in w)


def _weights_from_scores(path: str, labels: list[str]) -> list[float]:
    """Posterior weights from a `ketasim hypotheses` result (hypotheses.json): exp(log-likelihood), normalised,
    over the problem's hypotheses (equal prior)."""
    import json

    p = Path(path)
    if not p.exists():
        raise ProblemError(f"weights: {path} does not exist (give a mapping or a hypotheses.json file)")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        ll = {_label(r["hypothesis"]): float(r["loglik"]) for r in doc["ranking"]}
    except (ValueError, KeyError, TypeError):
        raise ProblemError(f"weights: {p.name} is not a hypotheses.json from 'ketasim hypotheses'") from None
    missing = [h for h in labels if h not in ll]
    if missing:
        raise ProblemError(f"weights: {p.name} has no score for {missing[0]!r}")
    top = max(ll[h] for h in labels)
    return [math.exp(ll[h] - top) for h in labels]


def _label(text: str) -> str:
    """A hypothesis as written ('opioid', 'opioid[endogenous]') -> its label ('opioid[hnk_mor]', ...)."""
    from ketasim.mechanisms import MechanismError, get_mechanism, parse_variant

    try:
        return get_mechanism(*parse_variant(str(text))).label()
    except MechanismError:
        return str(text)


def _check_feasible(problem: Problem):
    """Constraints that no regimen of the search space can meet: one sentence before any work."""
    horizon_d = problem.horizon_h / 24.0
    for c in problem.constraints:
        lo, hi = _bounds(c.metric, horizon_d)
        if c.metric == "visits_per_week":
            lo = min_visits_per_week(problem)
        if c.metric == "visits":
            lo = float(problem.doses[0])
        if (c.op == "<=" and c.bound < lo) or (c.op == ">=" and c.bound > hi):
            reach = f"at least {lo:g}" if c.op == "<=" else f"at most {hi:g}"
            raise ProblemError(f"constraint {c.text!r} is impossible: {c.metric} is {reach} "
                               f"({metric_unit(c.metric)}) for every regimen of the search space")


def min_visits_per_week(problem: Problem) -> float:
    """The fewest sessions in any 7 days that a regimen of the search space can have."""
    n, interval = problem.doses[0], problem.interval_h[1]
    if n <= 1:
        return 1.0
    return float(min(n, math.floor(168.0 / interval - 1e-9) + 1)) if interval > 0 else float(n)
