"""Pydantic schemas shared by the CLI, the scenario files and the web API. Unknown keys are errors.

Every entry point (command line, scenario and trial files, every web endpoint) builds a `ScenarioConfig`, and a
`ScenarioConfig` exists only for a regimen that can be simulated: its doses parse, stay within the package's
limits for the subject's weight, and the output grid it asks for fits in memory. YAML is read by one loader
(`validate_yaml`) that refuses duplicate keys, deep nesting and oversized files before pydantic sees anything.
"""

from __future__ import annotations

import math
import os
import typing
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ketasim.units import excerpt, to_hours, to_unit

MAX_FILE_BYTES = 1_000_000   # a scenario or trial file; the largest built-in trial is a few kB
MAX_YAML_DEPTH = 32          # nesting of mappings and lists (a trial file needs 5)
MAX_YAML_NODES = 200_000     # scalars, lists and mappings in one file
# Output grid: time points of one subject, and subject x time rows of a population (each row holds 16 outputs).
MAX_TIME_POINTS = 1_000_000
MAX_POPULATION_ROWS = 500_000_000


class ScenarioError(ValueError):
    """A scenario file or request that cannot be read as written."""


class KeyedError(ValueError):
    """An error found by a whole-model check, with the key it belongs to (pydantic gives such errors no location).
    `original` is the package's own exception (a RegimenError, UnitError, ...), message unchanged."""

    def __init__(self, key: str, original: Exception):
        super().__init__(str(original))
        self.key = key
        self.original = original


def original_error(exc: ValidationError) -> Exception | None:
    """The package's own exception behind a ValidationError with a single error, or None."""
    errors = exc.errors()
    if len(errors) != 1:
        return None
    err = (errors[0].get("ctx") or {}).get("error")
    if isinstance(err, KeyedError):
        return err.original
    return err if isinstance(err, ValueError) else None


# ------------------------------------------------------------------------------------------------ YAML and files
class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses duplicate keys (YAML would keep the last silently), nesting deeper than
    MAX_YAML_DEPTH (the composer recurses: 3,000 levels end in RecursionError) and more than MAX_YAML_NODES."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        self._depth += 1
        self._nodes += 1
        if self._depth > MAX_YAML_DEPTH:
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"nesting deeper than {MAX_YAML_DEPTH} levels at line {mark.line + 1}; "
                                 f"a scenario or trial file needs only a few")
        if self._nodes > MAX_YAML_NODES:
            raise yaml.YAMLError(f"more than {MAX_YAML_NODES} values; a scenario or trial file is far smaller")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "a key must be a plain value, not a list or "
                                                        "mapping", key_node.start_mark) from None
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {excerpt(key, 40)} (first at line {seen[key] + 1}, again at line "
                    f"{key_node.start_mark.line + 1}); give each key once", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, label: str, error: type[ValueError] = ScenarioError):
    """YAML text -> Python values with the limits of `_Loader`; one `error` naming `label` otherwise."""
    if len(text) > MAX_FILE_BYTES:
        raise error(f"{label} has {len(text):,} characters; a scenario or trial file may have at most "
                    f"{MAX_FILE_BYTES:,}")
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        raise error(f"{label} is not valid YAML: {_yaml_reason(exc)}") from None
    except RecursionError:  # pragma: no cover - the depth limit comes first
        raise error(f"{label} is nested too deeply to read") from None


def _yaml_reason(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})" \
            if exc.problem_mark is not None else ""
        what = exc.problem or exc.context or "cannot be read"
        return excerpt(what, 160)[1:-1] + where
    return excerpt(exc, 200)[1:-1]


def read_input_file(path: str | Path, what: str, error: type[ValueError] = ScenarioError) -> str:
    """The text of a user's input file: it must exist, be a regular file of at most MAX_FILE_BYTES, in UTF-8."""
    p = Path(path)
    name = excerpt(str(p), 80)[1:-1]
    try:
        st = p.stat()
    except FileNotFoundError:
        raise error(f"{what} {name} does not exist") from None
    except OSError as exc:
        raise error(f"{what} {name} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if p.is_dir():
        raise error(f"{what} {name} is a folder; give a YAML file")
    if not p.is_file():
        raise error(f"{what} {name} is not a regular file; give a YAML file")
    if st.st_size > MAX_FILE_BYTES:
        raise error(f"{what} {name} has {st.st_size:,} bytes; a scenario or trial file may have at most "
                    f"{MAX_FILE_BYTES:,}")
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise error(f"{what} {name} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_FILE_BYTES:
        raise error(f"{what} {name} is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {name} is not UTF-8 text (byte {exc.start + 1})") from None


def validate_yaml(model: type[BaseModel], text: str, label: str, error: type[ValueError] = ScenarioError):
    """YAML text -> a validated pydantic model, or one `error` naming the file and the field."""
    raw = load_yaml(text, label, error)
    if not isinstance(raw, dict):
        kind = "nothing" if raw is None else f"a {type(raw).__name__}"
        raise error(f"{label} must be a mapping of keys (key: value), got {kind}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{label}: {format_validation_error(exc)}") from None


# ------------------------------------------------------------------------------------------------ plain errors
_FIX = {
    "int_type": "must be a whole number, e.g. 1", "int_parsing": "must be a whole number, e.g. 1",
    "int_from_float": "must be a whole number, e.g. 1", "float_type": "must be a number, e.g. 0.5",
    "float_parsing": "must be a number, e.g. 0.5", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false", "string_type": "must be text, e.g. '7 d' (quote it)",
    "list_type": "must be a list, e.g. [a, b]", "tuple_type": "must be a list, e.g. [a, b]",
    "dict_type": "must be a mapping of keys (key: value)", "model_type": "must be a mapping of keys (key: value)",
    "model_attributes_type": "must be a mapping of keys (key: value)", "missing": "is required; add it",
    "extra_forbidden": "unknown key; remove it or check its spelling", "finite_number": "must be a finite number",
    "string_too_long": "is too long", "json_invalid": "is not valid JSON",
}


def plain_message(error: dict) -> str:
    """One pydantic error in plain words: no 'Value error,', no 'Input should be', with the fix where known."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and ctx.get("error") is not None:
        return str(ctx["error"])
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        word = "entry" if n == 1 else "entries"
        return f"needs at least {n} {word}" if kind == "too_short" else f"may have at most {n} {word}"
    bounds = {"greater_than_equal": ("ge", "must be at least {}"), "greater_than": ("gt", "must be more than {}"),
              "less_than_equal": ("le", "must be at most {}"), "less_than": ("lt", "must be less than {}")}
    if kind in bounds:
        key, text = bounds[kind]
        v = ctx.get(key)
        return text.format(f"{v:g}" if isinstance(v, float) else v)
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', 'the listed values')}"
    if kind == "string_too_long":
        return f"may have at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return "must be a short lower-case name (letters, digits, _)"
    if kind in _FIX:
        return _FIX[kind]
    return plain_text(str(error.get("msg", "invalid value")))


_PLAIN = (
    (r"Input should be greater than or equal to", "must be at least"),
    (r"Input should be less than or equal to", "must be at most"),
    (r"Input should be greater than", "must be more than"),
    (r"Input should be less than", "must be less than"),
    (r"Input should be a valid integer(, unable to parse string as an integer| with no fractional part)?",
     "must be a whole number"),
    (r"Input should be a valid number(, unable to parse string as a number)?", "must be a number"),
    (r"Input should be a valid boolean(, unable to interpret input)?", "must be true or false"),
    (r"Input should be a valid string", "must be text"),
    (r"Input should be a valid (dictionary|mapping)", "must be a mapping of keys (key: value)"),
    (r"Input should be a valid (list|array|tuple)", "must be a list"),
    (r"Input should be a finite number", "must be a finite number"),
    (r"Input should be", "must be"),
    (r"Value error, |Assertion failed, ", ""),
    (r"(Dictionary|List|String|Tuple) should have", "needs"),
    (r" after validation", ""),
)


def plain_text(message: str) -> str:
    """A validation message in plain words (for messages that reach us as text, e.g. from the argument parser)."""
    import re

    for pattern, plain in _PLAIN:
        message = re.sub(pattern, plain, message)
    return message


def error_location(error: dict) -> list[str]:
    """Where an error lies, as keys: pydantic's location, or the key a whole-model check named."""
    loc = [str(x) for x in error.get("loc", ()) if x != "body"]
    err = (error.get("ctx") or {}).get("error")
    if isinstance(err, KeyedError):
        loc = [*loc, err.key]
    return loc


def format_validation_error(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(error_location(e))
        parts.append(f"{loc}: {plain_message(e)}" if loc else plain_message(e))
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------------ models
def _admits_bool(annotation) -> bool:
    if annotation is bool:
        return True
    return any(_admits_bool(a) for a in typing.get_args(annotation) if not isinstance(a, (str, int, float)))


def _is_number(annotation) -> bool:
    if annotation in (int, float):
        return True
    return any(_is_number(a) for a in typing.get_args(annotation) if isinstance(a, type) or typing.get_args(a))


class StrictModel(BaseModel):
    """Unknown keys are errors, and true/false is never read as a number (YAML `seed: true` would be 1)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v, info):
        if isinstance(v, bool):
            ann = cls.model_fields[info.field_name].annotation
            if _is_number(ann) and not _admits_bool(ann):
                raise ValueError(f"{str(v).lower()} is not a number; write a number, e.g. {info.field_name}: 1")
        return v


class SubjectConfig(StrictModel):
    weight: str = Field("70 kg", description="body weight with unit, e.g. '70 kg'")
    age: str = Field("40 yr", description="age with unit, e.g. '40 yr'")
    sex: Literal["female", "male", "unspecified"] = "unspecified"
    cyp2b6: Literal["*1/*1", "*1/*6", "*6/*6"] = "*1/*1"

    @field_validator("weight", mode="before")
    @classmethod
    def _weight(cls, v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise ValueError(f"weight {v!r} needs a unit, e.g. '{v} kg'")
        kg = to_unit(str(v), "kg", "weight")
        if not 20 <= kg <= 250:
            raise ValueError(f"weight must be 20-250 kg, got {excerpt(v, 40)[1:-1]}")
        return str(v)

    @field_validator("age", mode="before")
    @classmethod
    def _age(cls, v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise ValueError(f"age {v!r} needs a unit, e.g. '{v} yr'")
        y = to_unit(str(v), "year", "age")
        if not 12 <= y <= 100:
            raise ValueError(f"age must be 12-100 years, got {excerpt(v, 40)[1:-1]}")
        return str(v)

    def weight_kg(self) -> float:
        return to_unit(self.weight, "kg", "weight")

    def age_y(self) -> float:
        return to_unit(self.age, "year", "age")


class PopulationConfig(StrictModel):
    """How a virtual population's covariates are drawn (or read: `covariates_file`, one row per subject)."""

    age_range: str | None = Field(None, max_length=200, description="ages drawn uniformly within, e.g. '18-65 yr'")
    female_fraction: float | None = Field(None, ge=0, le=1, description="share of women, 0-1")
    weight_sd: str | None = Field(None, max_length=200, description="SD of body weight with unit, e.g. '15 kg'")
    weight_range: str | None = Field(None, max_length=200,
                                     description="body weights truncated to, e.g. '45-150 kg'")
    covariates_file: str | None = Field(None, max_length=4096, description="CSV of per-subject covariates "
                                        "(weight_kg, age_y, sex, cyp2b6, baseline_madrs)")


class ScenarioConfig(StrictModel):
    """A scenario: regimen, subject, duration, outputs and seed. Only a scenario that can be simulated validates:
    the regimen's limits (per dose, per 24 h, per regimen) and the size of the output are checked here, once, for
    every entry point."""

    name: str = Field("scenario", max_length=200)
    doses: list[str] = Field(..., min_length=1,
                             description="regimen text lines, e.g. 'ketamine 0.5 mg/kg iv over 40 min'")
    duration: str = "7 d"
    subject: SubjectConfig = Field(default_factory=SubjectConfig)
    output_step: str | None = None
    seed: int = Field(1, ge=0, le=2**63 - 1)
    subjects: int = Field(1, ge=1, le=100_000, description="1: the typical subject; more: a virtual population")
    hypothesis: str = Field("opioid", max_length=80, description="mechanism hypothesis (ketasim hypotheses --list)")
    opioid_source: str | None = Field(None, max_length=40,
                                      description="hnk_mor, ketamine_mor or endogenous (opioid, mixed)")
    expectation: Literal["none", "saline", "spray", "active", "open_label"] = Field(
        "active", description="what the sessions lead subjects to expect: none, saline (inert control they can "
                              "tell apart), spray (blinded nasal spray), active (active placebo or blinded "
                              "ketamine), open_label")
    baseline_madrs: float | None = Field(None, gt=0, le=60)
    oral_antidepressant_start: str | None = None
    population: PopulationConfig | None = None

    @model_validator(mode="after")
    def _simulable(self):
        from ketasim.regimens import Regimen

        try:
            regimen = Regimen.from_text(*self.doses)
            regimen.check_limits(self.subject.weight_kg())
        except ValueError as exc:
            raise KeyedError("doses", exc) from None
        try:
            from ketasim.mechanisms import get_mechanism

            get_mechanism(self.hypothesis, self.opioid_source)
        except ValueError as exc:
            raise KeyedError("hypothesis", exc) from None
        try:
            duration_h = self.duration_h()
        except ValueError as exc:
            raise KeyedError("duration", exc) from None
        step = None
        if self.output_step is not None:
            try:
                step = to_hours(self.output_step, "output step")
            except ValueError as exc:
                raise KeyedError("output_step", exc) from None
            if not (math.isfinite(step) and 0 < step <= duration_h):
                raise KeyedError("output_step", ScenarioError(
                    f"output step must be positive and at most the duration, got {excerpt(self.output_step, 40)}"))
        if self.oral_antidepressant_start is not None:
            try:
                to_hours(self.oral_antidepressant_start, "oral antidepressant start")
            except ValueError as exc:
                raise KeyedError("oral_antidepressant_start", exc) from None
        points = self.time_points(regimen, duration_h, step)
        if points > MAX_TIME_POINTS:
            raise KeyedError("output_step", ScenarioError(
                f"this run asks for about {points:,} output times per subject (output step "
                f"{excerpt(self.output_step or 'default', 20)[1:-1]} over {excerpt(self.duration, 20)[1:-1]}); at most "
                f"{MAX_TIME_POINTS:,} fit in memory: use a longer output step or a shorter duration"))
        if self.subjects * points > MAX_POPULATION_ROWS:
            raise KeyedError("subjects", ScenarioError(
                f"{self.subjects:,} subjects x about {points:,} output times is {self.subjects * points:,} rows; at "
                f"most {MAX_POPULATION_ROWS:,} can be written: use fewer subjects, a longer output step or a "
                f"shorter duration"))
        return self

    def duration_h(self) -> float:
        from ketasim.simulation import parse_duration

        return parse_duration(self.duration)

    def time_points(self, regimen=None, duration_h: float | None = None, step_h: float | None = None) -> int:
        """An upper bound on the output times per subject: the uniform grid plus the fine windows after doses of
        `Simulation.solve` (1 subject: 1 min for 4 h) or of the population grid (5 min for 6 h)."""
        from ketasim.regimens import Regimen

        regimen = regimen if regimen is not None else Regimen.from_text(*self.doses)
        duration_h = self.duration_h() if duration_h is None else duration_h
        if step_h is None and self.output_step is not None:
            step_h = to_hours(self.output_step, "output step")
        starts = [d.time_h for d in regimen.realize()]
        t0 = min([0.0, *starts])
        if self.subjects == 1:
            from ketasim.simulation import default_output_step

            step = step_h or default_output_step(duration_h)
            ends = [d.time_h + d.duration_h for d in regimen.realize()]
            fine = _fine_points(starts + ends, 4.0, duration_h, 60.0)
        else:
            step = step_h or (0.25 if duration_h <= 7 * 24 else 1.0)
            fine = _fine_points(starts, 6.0, duration_h, 12.0)
        return int((duration_h - t0) / step) + 2 + fine

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ScenarioConfig":
        path = Path(path)
        text = read_input_file(path, "scenario file")
        return validate_yaml(cls, text, f"scenario file {path.name}", ScenarioError)


def _fine_points(starts: list[float], window_h: float, end_h: float, per_hour: float) -> int:
    """Points of the fine windows after `starts`: windows in step with each other (same phase on the fine grid)
    share their points, windows out of step add theirs."""
    groups: dict[float, list[float]] = {}
    for s in starts:
        if s <= end_h:
            groups.setdefault(round((s * per_hour) % 1.0, 6) % 1.0, []).append(s)
    return sum(int(_covered(g, window_h, end_h) * per_hour) + len(g) for g in groups.values())


def _covered(starts: list[float], window_h: float, end_h: float) -> float:
    """Hours covered by the union of [s, s + window_h] for the starts before end_h."""
    total, cur_a, cur_b = 0.0, None, None
    for s in sorted(x for x in starts if x <= end_h):
        a, b = s, min(s + window_h, end_h)
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a
    return total


def path_label(path: str | os.PathLike) -> str:
    return excerpt(str(path), 80)[1:-1]
