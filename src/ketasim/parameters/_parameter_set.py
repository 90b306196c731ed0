"""ParameterSet: immutable mapping of key -> Parameter, loaded from TOML files with provenance."""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import pint
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ketasim.units import ureg, UnitError
from ._parameter import EVIDENCE_MEANING, Parameter

# Canonical internal unit for each physical dimension: equations never see anything else.
_INTERNAL_BY_DIMENSION = {
    "[time]": "h",
    "1 / [time]": "1/h",
    "[length] ** 3": "L",
    "[length] ** 3 / [time]": "L/h",
    "[substance] / [length] ** 3": "uM",
    "[mass]": "mg",
    "[mass] / [length] ** 3": "ng/mL",
    "": "dimensionless",
    "1 / [substance]": "1/umol",
    "[madrs_score]": "MADRS_point",
    "[hamd17_score]": "HAMD17_point",
    "[cadss_score]": "CADSS_point",
    "[vas_score]": "VAS_point",
    "[hamd17_score] / [madrs_score]": "HAMD17_point/MADRS_point",
    "[mass] / [substance]": "g/mol",   # molar masses (compound files)
}


def internal_unit_for(unit: str, key: str) -> str:
    try:
        dim = str(ureg.Quantity(1.0, unit.replace("µ", "u")).dimensionality)
    except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError) as exc:
        raise UnitError(f"parameter {key}: unknown unit {unit!r} ({exc})") from None
    except Exception as exc:  # pint's parser raises other errors (even AssertionError) on malformed text
        raise UnitError(f"parameter {key}: cannot read unit {unit!r} ({type(exc).__name__})") from None
    if dim == "dimensionless":
        dim = ""
    if dim not in _INTERNAL_BY_DIMENSION:
        raise UnitError(f"parameter {key}: unit {unit!r} has a dimension ketasim does not use ({dim})")
    return _INTERNAL_BY_DIMENSION[dim]


def to_internal(value: float, unit: str, key: str) -> float:
    target = internal_unit_for(unit, key)
    q = ureg.Quantity(value, unit.replace("µ", "u"))
    return float(q.to(target).magnitude)


class _ParameterSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: float
    unit: str
    source: str
    evidence: str
    range: tuple[float, float] = Field(description="uncertainty interval (low, high), same unit as value")
    description: str
    distribution: str = "uniform"

    @model_validator(mode="after")
    def _check(self):
        if self.evidence not in EVIDENCE_MEANING:
            raise ValueError(f"evidence must be one of {sorted(EVIDENCE_MEANING)}, not {self.evidence!r}")
        lo, hi = self.range
        if not all(math.isfinite(x) for x in (self.value, lo, hi)):
            raise ValueError(f"value {self.value} and range [{lo}, {hi}] must be finite numbers")
        if not (lo <= self.value <= hi):
            raise ValueError(f"value {self.value} lies outside its range [{lo}, {hi}]")
        if self.distribution not in ("uniform", "lognormal", "loguniform", "fixed"):
            raise ValueError(f"unknown distribution {self.distribution!r}")
        if self.distribution in ("lognormal", "loguniform") and lo <= 0:
            raise ValueError(f"{self.distribution} needs a positive range, got [{lo}, {hi}]")
        return self


class _SetSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    applies_to: str
    citations: list[str]


class _FileSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    set: _SetSchema
    parameters: dict[str, _ParameterSchema]


class ParameterSet(Mapping[str, Parameter]):
    """Immutable mapping of parameter key -> Parameter. `.replace()` is strict: unknown keys fail."""

    def __init__(self, parameters: Mapping[str, Parameter], sets: tuple[str, ...] = ()):
        self._p = dict(parameters)
        self.sets = tuple(sets)

    # Mapping protocol
    def __getitem__(self, key: str) -> Parameter:
        try:
            return self._p[key]
        except KeyError:
            raise KeyError(f"no parameter {key!r}; known keys start with: "
                           f"{sorted({k.split('.')[0] for k in self._p})}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._p)

    def __len__(self) -> int:
        return len(self._p)

    def value(self, key: str) -> float:
        """Value in ketasim's internal unit (h, L, L/h, 1/h, µM, mg, fraction)."""
        return self[key].internal_value

    def replace(self, **values: float) -> "ParameterSet":
        """Copy with new values, given in each parameter's own declared unit."""
        return self.replace_many(values)

    def replace_many(self, values: Mapping[str, float]) -> "ParameterSet":
        new = dict(self._p)
        for key, v in values.items():
            if key not in self._p:
                raise KeyError(f"unknown parameter {key!r}")
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"parameter {key}: value {v} is not finite")
            p = self._p[key]
            new[key] = p.with_value(v, to_internal(v, p.unit, key))
        return ParameterSet(new, self.sets)

    def replace_rows(self, keys: list[str], rows) -> list["ParameterSet"]:
        """One copy per row of `rows` (M, len(keys)), values in each parameter's declared unit: the sets
        `replace_many(dict(zip(keys, row)))` gives, with each column converted to internal units by one unit
        conversion instead of one per value (pint's parsing dominates the cost of many small sets)."""
        rows = np.asarray(rows, float).reshape(-1, len(keys))
        for key in keys:
            if key not in self._p:
                raise KeyError(f"unknown parameter {key!r}")
        bad = ~np.isfinite(rows)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(f"parameter {keys[j]}: value {rows[i, j]} is not finite")
        internal = np.empty_like(rows)
        for j, key in enumerate(keys):
            p = self._p[key]
            target = internal_unit_for(p.unit, key)
            internal[:, j] = np.asarray(ureg.Quantity(rows[:, j].copy(), p.unit.replace("µ", "u")).to(target).magnitude,
                                        float)
        out = []
        for i in range(len(rows)):
            new = dict(self._p)
            for j, key in enumerate(keys):
                new[key] = self._p[key].with_value(float(rows[i, j]), float(internal[i, j]))
            out.append(ParameterSet(new, self.sets))
        return out

    def sample(self, rng: np.random.Generator, keys=None) -> "ParameterSet":
        """One draw from every (or the named) parameter's uncertainty distribution."""
        keys = list(self._p) if keys is None else list(keys)
        return self.replace_many({k: float(self._p[k].uncertainty.sample(rng)) for k in keys})

    @property
    def citations(self) -> list[str]:
        return sorted({p.source for p in self._p.values()})

    def content_hash(self) -> str:
        blob = json.dumps({k: p.value for k, p in sorted(self._p.items())}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_frame(self):
        import pandas as pd

        rows = [
            dict(key=p.key, value=p.value, unit=p.unit, source=p.source, evidence=p.evidence,
                 low=p.low, high=p.high, description=p.description)
            for p in self._p.values()
        ]
        return pd.DataFrame(rows, columns=["key", "value", "unit", "source", "evidence", "low", "high",
                                           "description"])

    def __or__(self, other: "ParameterSet") -> "ParameterSet":
        dup = set(self._p) & set(other._p)
        if dup:
            raise KeyError(f"parameter sets overlap in {sorted(dup)}")
        return ParameterSet({**self._p, **other._p}, self.sets + other.sets)


def load_parameter_file(path: Path | str) -> ParameterSet:
    path = Path(path)
    return parameters_from_toml(path.read_text(encoding="utf-8"), path.name)


def parameters_from_toml(text: str, label: str = "parameters") -> ParameterSet:
    """A ParameterSet from TOML text in the format of ketasim's parameter files (a [set] table and one
    [parameters."key"] table per value, with unit, source, evidence, range and description)."""
    try:
        raw = tomllib.loads(text)
        spec = _FileSchema.model_validate(raw)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ValueError(f"parameter file {label}: {exc}") from None
    params = {}
    for key, ps in spec.parameters.items():
        internal = to_internal(ps.value, ps.unit, key)
        params[key] = Parameter(
            key=key, value=ps.value, unit=ps.unit, source=ps.source, evidence=ps.evidence,
            low=ps.range[0], high=ps.range[1], description=ps.description,
            uncertainty_kind=ps.distribution, internal_value=internal,
        )
    return ParameterSet(params, (spec.set.name,))


_DEFAULT_CACHE: ParameterSet | None = None


def default_parameters() -> ParameterSet:
    """Every parameter set shipped in ketasim/parameters/sets, merged (keys must not overlap)."""
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        folder = resources.files("ketasim.parameters") / "sets"
        merged = ParameterSet({})
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".toml"):
                merged = merged | load_parameter_file(Path(str(entry)))
        _DEFAULT_CACHE = merged
    return _DEFAULT_CACHE
