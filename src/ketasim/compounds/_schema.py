"""The compound file (YAML): a compound that may not exist yet, described by its pharmacokinetics and its receptor
profile. Unknown keys are errors; every number carries its unit and its source (a citation key of ketasim's
bibliography or of the file's own `citations`, or `assumed` with a range).

    name: lanicemine                 # the drug's name in the regimen language
    title: Lanicemine (AZD6765)
    doses: {validated: [50 mg, 150 mg], limit: 1000 mg}
    species:
      lanicemine:                    # the molecule dosed (a component); metabolites say `formed_from`
        molar_mass: {value: 198.26, unit: g/mol, source: PubChemLanicemine}
        pk:
          model: {compartments: 2, CL: {...}, V1: {...}, Q: {...}, V2: {...}}   # (3: also Q3, V3); or
                                                                               # shorthand: {half_life, Vd}
          routes: {iv: {}, oral: {F: {...}, ka: {...}}}                        # or {F, Tmax}
        brain: {free_fraction: {...}, partition: {...}, equilibration_t_half: {...}}
        receptors:
          nmda: {Ki: {...}, trapping: {...}, off_rate: {...}}
          mor: {Ki: {...}, tau: {...}}                         # tau 0 (or role: antagonist): an antagonist
    checks:                          # published PK numbers the model must reproduce (ketasim validate)
      - {regimen: ["lanicemine 150 mg iv over 60 min"], species: lanicemine, quantity: half_life,
         observed: {value: 16, unit: h, source: Guo2015}}
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ketasim.units import UnitError, parse_quantity, ureg

_STRICT = ConfigDict(extra="forbid")
NAME = re.compile(r"[a-z][a-z0-9_]*")
RECEPTORS = ("nmda", "mor", "kor", "ampa", "gaba_a")
ROUTE_NAMES = ("iv", "im", "intranasal", "oral", "sublingual")
# names the model already uses for its own species (their states, columns and sources would collide)
NATIVE_SPECIES = ("ketamine", "norketamine", "hnk", "dhnk", "naltrexone", "naltrexol", "placebo", "marker", "ce",
                  "design")
RESERVED = ("pk", "brain", "route", "receptors", "fraction", "molar_mass", "dose_share", "CL", "V1", "V2", "Q",
            "half_life", "Vd", *RECEPTORS)


class CompoundError(ValueError):
    """A compound file (or library name) that cannot be used as written."""


class Number(BaseModel):
    """A number with its unit and source. `source: assumed` needs a `range` (an honest uncertainty)."""

    model_config = _STRICT
    value: float
    unit: str
    source: str
    range: tuple[float, float] | None = Field(None, description="uncertainty interval in the same unit")
    evidence: Literal["estimate", "in_vitro", "label", "derived", "scaled", "assumed", "fitted_here"] | None = None
    note: str = ""

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, v):
        if isinstance(v, bool):
            raise ValueError("is true/false, not a number with a unit")
        if isinstance(v, (int, float)):
            raise ValueError(f"{v!r} has no unit and no source; write e.g. {{value: {v}, unit: uM, source: "
                             f"Ebert1997}} (or source: assumed, with a range)")
        if isinstance(v, str):
            raise ValueError(f"{v!r} needs a source; write e.g. {{value: ..., unit: ..., source: ...}}")
        if isinstance(v, dict):
            if "value" not in v:
                raise ValueError("has no value")
            if "unit" not in v:
                raise ValueError(f"has no unit; write e.g. {{value: {v.get('value')}, unit: uM, source: ...}}")
            if "source" not in v:
                raise ValueError("has no source; give a citation key, or source: assumed with a range")
        return v

    @field_validator("value")
    @classmethod
    def _finite(cls, v):
        if not math.isfinite(v):
            raise ValueError(f"value must be a finite number, got {v}")
        return v

    @model_validator(mode="after")
    def _check(self):
        if not self.unit.strip():
            raise ValueError("has an empty unit (use 'dimensionless' for a pure number)")
        try:
            ureg.Quantity(1.0, self.unit.replace("µ", "u").replace("μ", "u"))
        except Exception:
            raise ValueError(f"unknown unit {self.unit!r}") from None
        if self.is_assumed and self.range is None:
            raise ValueError("is assumed: give a range, e.g. range: [0.1, 10]")
        if self.range is not None:
            lo, hi = self.range
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= self.value <= hi):
                raise ValueError(f"value {self.value:g} lies outside its range [{lo:g}, {hi:g}]")
        return self

    @property
    def is_assumed(self) -> bool:
        return self.source.strip().lower() in ("assumed", "assumption")

    def quantity(self):
        return ureg.Quantity(self.value, self.unit.replace("µ", "u").replace("μ", "u"))


def _sign_first(v, name: str):
    """A negative or zero potency is named as such before its range is checked."""
    if isinstance(v, dict) and isinstance(v.get("value"), (int, float)) and not isinstance(v.get("value"), bool) \
            and v["value"] <= 0:
        raise ValueError(f"{name} must be positive, got {v['value']:g} {v.get('unit', '')}".rstrip())
    return v


class _Positive(BaseModel):
    model_config = _STRICT

    @model_validator(mode="after")
    def _positive(self):
        for name in type(self).model_fields:
            v = getattr(self, name)
            if isinstance(v, Number) and name in self._positive_fields() and not v.value > 0:
                raise ValueError(f"{name} must be positive, got {v.value:g} {v.unit}")
        return self

    @classmethod
    def _positive_fields(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)


def _fraction(name: str, v: Number | None, allow_zero: bool = False, allow_one: bool = True):
    if v is None:
        return
    ok = (v.value >= 0 if allow_zero else v.value > 0) and (v.value <= 1 if allow_one else v.value < 1)
    if not ok:
        lo = "0" if allow_zero else "above 0"
        raise ValueError(f"{name} is a fraction and must lie in {lo}-1, got {v.value:g}")
    if v.quantity().dimensionality:
        raise ValueError(f"{name} is a fraction: its unit must be dimensionless, not {v.unit!r}")


class ModelPK(_Positive):
    """A published disposition model (first-order elimination from the central compartment)."""

    compartments: Literal[1, 2, 3] = 2
    CL: Number
    V1: Number
    Q: Number | None = None
    V2: Number | None = None
    Q3: Number | None = None
    V3: Number | None = None

    @model_validator(mode="after")
    def _shape(self):
        need = {1: (), 2: ("Q", "V2"), 3: ("Q", "V2", "Q3", "V3")}[self.compartments]
        for name in ("Q", "V2", "Q3", "V3"):
            given = getattr(self, name) is not None
            if name in need and not given:
                raise ValueError(f"a {self.compartments}-compartment model needs {', '.join(need)}")
            if name not in need and given:
                raise ValueError(f"a {self.compartments}-compartment model has no {name}")
        return self


class ShorthandPK(_Positive):
    """Half-life and volume, expanded to a one-compartment model (CL = ln 2 Vd / t1/2)."""

    half_life: Number
    Vd: Number


class RoutePK(_Positive):
    """Absorption by one route: availability F and either ka or Tmax (ka then solved from Tmax). IV needs
    nothing."""

    F: Number | None = None
    ka: Number | None = None
    Tmax: Number | None = None

    @model_validator(mode="after")
    def _one_rate(self):
        _fraction("F", self.F)
        if self.ka is not None and self.Tmax is not None:
            raise ValueError("give ka or Tmax, not both")
        return self


class PK(BaseModel):
    model_config = _STRICT
    model: ModelPK | None = None
    shorthand: ShorthandPK | None = None
    routes: dict[str, RoutePK] = Field(default_factory=dict)

    @field_validator("routes")
    @classmethod
    def _routes(cls, v):
        for r in v:
            if r not in ROUTE_NAMES:
                raise ValueError(f"unknown route {r!r}; known: {', '.join(ROUTE_NAMES)}")
        return v

    @model_validator(mode="after")
    def _one(self):
        if (self.model is None) == (self.shorthand is None):
            raise ValueError("give either model (compartments, CL, V1, Q, V2) or shorthand (half_life, Vd)")
        for name, r in self.routes.items():
            if name == "iv":
                if r.F is not None or r.ka is not None or r.Tmax is not None:
                    raise ValueError("routes.iv takes no F, ka or Tmax (the dose enters the circulation)")
            elif r.F is None or (r.ka is None and r.Tmax is None):
                raise ValueError(f"routes.{name} needs F and either ka or Tmax")
        return self


class Brain(_Positive):
    """Receptor-site concentration = effect-site (plasma-equivalent) concentration x free_fraction x partition,
    with the effect site equilibrating with plasma by `equilibration_t_half`."""

    free_fraction: Number
    partition: Number = Field(..., description="unbound brain / unbound plasma at equilibrium (Kp,uu)")
    equilibration_t_half: Number

    @model_validator(mode="after")
    def _ff(self):
        _fraction("free_fraction", self.free_fraction)
        return self


class NMDA(BaseModel):
    """NMDA channel block: potency (Ki or IC50), the share of blocked channels trapped when the channel closes,
    and the unblocking (off) rate."""

    model_config = _STRICT
    Ki: Number | None = None
    IC50: Number | None = None
    trapping: Number
    off_rate: Number | None = None

    @field_validator("Ki", "IC50", "off_rate", mode="before")
    @classmethod
    def _sign(cls, v, info):
        return _sign_first(v, info.field_name)

    @model_validator(mode="after")
    def _check(self):
        if (self.Ki is None) == (self.IC50 is None):
            raise ValueError("give the block's potency as Ki or as IC50 (one of them)")
        pot = self.Ki or self.IC50
        if not pot.value > 0:
            raise ValueError(f"{'Ki' if self.Ki else 'IC50'} must be positive, got {pot.value:g} {pot.unit}")
        _fraction("trapping", self.trapping, allow_zero=True, allow_one=False)
        if self.off_rate is not None and not self.off_rate.value > 0:
            raise ValueError(f"off_rate must be positive, got {self.off_rate.value:g} {self.off_rate.unit}")
        return self

    @property
    def potency(self) -> Number:
        return self.Ki or self.IC50


class Opioid(BaseModel):
    """Binding (Ki) and operational efficacy tau (0: antagonist; partial agonists below the endogenous
    opioids' tau)."""

    model_config = _STRICT
    Ki: Number
    tau: Number | None = None
    role: Literal["agonist", "partial_agonist", "antagonist"] | None = None

    @field_validator("Ki", mode="before")
    @classmethod
    def _sign(cls, v, info):
        return _sign_first(v, info.field_name)

    @model_validator(mode="after")
    def _check(self):
        if not self.Ki.value > 0:
            raise ValueError(f"Ki must be positive, got {self.Ki.value:g} {self.Ki.unit}")
        if self.tau is None and self.role != "antagonist":
            raise ValueError("give the efficacy tau (0 for an antagonist), or role: antagonist")
        if self.tau is not None:
            if self.tau.value < 0:
                raise ValueError(f"tau must not be negative, got {self.tau.value:g}")
            if self.tau.quantity().dimensionality:
                raise ValueError(f"tau is dimensionless, not {self.tau.unit!r}")
            if self.role == "antagonist" and self.tau.value != 0:
                raise ValueError("an antagonist has tau 0")
        return self


class Potentiator(BaseModel):
    """A positive modulator (AMPA potentiation; GABA-A: sedation): the concentration of half its effect."""

    model_config = _STRICT
    EC50: Number

    @field_validator("EC50", mode="before")
    @classmethod
    def _sign(cls, v, info):
        return _sign_first(v, info.field_name)

    @model_validator(mode="after")
    def _check(self):
        if not self.EC50.value > 0:
            raise ValueError(f"EC50 must be positive, got {self.EC50.value:g} {self.EC50.unit}")
        return self


class Receptors(BaseModel):
    model_config = _STRICT
    nmda: NMDA | None = None
    mor: Opioid | None = None
    kor: Opioid | None = None
    ampa: Potentiator | None = None
    gaba_a: Potentiator | None = None

    def present(self) -> list[str]:
        return [r for r in RECEPTORS if getattr(self, r) is not None]


class Species(BaseModel):
    """A molecule of the compound: a component of the dose (with routes) or a metabolite (`formed_from`)."""

    model_config = _STRICT
    description: str = ""
    molar_mass: Number
    dose_share: Number | None = Field(None, description="components: amount of this molecule per amount dosed "
                                      "(default 1 for the first component)")
    formed_from: str | None = None
    fraction: Number | None = Field(None, description="metabolites: share of the parent's clearance forming it")
    first_pass: bool = Field(False, description="metabolites: also formed, with the same share, from the part of "
                             "an oral or sublingual dose lost before the circulation")
    pk: PK
    brain: Brain | None = None
    receptors: Receptors = Field(default_factory=Receptors)

    @model_validator(mode="after")
    def _check(self):
        if self.molar_mass.value <= 0:
            raise ValueError(f"molar_mass must be positive, got {self.molar_mass.value:g}")
        if self.formed_from is not None:
            if self.fraction is None:
                raise ValueError("a metabolite needs fraction (its share of the parent's clearance)")
            _fraction("fraction", self.fraction)
            if self.pk.routes:
                raise ValueError("a metabolite is formed, not dosed: it has no routes")
            if self.dose_share is not None:
                raise ValueError("a metabolite is formed, not dosed: it has no dose_share")
        else:
            if self.fraction is not None or self.first_pass:
                raise ValueError("fraction and first_pass belong to metabolites (species with formed_from)")
            if not self.pk.routes:
                raise ValueError("a dosed species needs at least one route under pk.routes")
            if self.dose_share is not None and (self.dose_share.value <= 0 or self.dose_share.quantity().dimensionality):
                raise ValueError("dose_share must be a positive dimensionless number")
        if self.receptors.present() and self.brain is None:
            raise ValueError("a species with receptor activity needs brain (free_fraction, partition, "
                             "equilibration_t_half)")
        return self


class Doses(BaseModel):
    model_config = _STRICT
    validated: tuple[str, str] = Field(..., description="per-dose range the parameters rest on, e.g. [50 mg, 150 mg]")
    limit: str = Field(..., description="beyond this per-dose amount ketasim refuses to extrapolate")

    def mg(self) -> tuple[tuple[float, float], float]:
        def to_mg(text, what):
            q = parse_quantity(text, what)
            try:
                return float(q.to("mg").magnitude)
            except Exception:
                raise UnitError(f"{what}: {text!r} is not a mass (mg)") from None

        lo, hi = (to_mg(x, "doses.validated") for x in self.validated)
        return (lo, hi), to_mg(self.limit, "doses.limit")

    @model_validator(mode="after")
    def _check(self):
        (lo, hi), lim = self.mg()
        if not (0 < lo <= hi <= lim):
            raise ValueError("doses must satisfy 0 < validated low <= validated high <= limit")
        return self


class Check(BaseModel):
    """A published PK number the model is checked against."""

    model_config = _STRICT
    regimen: list[str] = Field(..., min_length=1)
    species: str
    quantity: Literal["cmax", "tmax", "half_life", "auc", "concentration"]
    at: str | None = Field(None, description="concentration checks: time after the first dose")
    weight: str = "70 kg"
    observed: Number
    tolerance: float = Field(0.3, gt=0, le=1, description="allowed relative difference")
    note: str = ""


class NativeDrug(BaseModel):
    """A library file that describes a built-in drug: the model's own PK and receptor parameters (the
    parameter keys or prefixes that describe it), and its checks."""

    model_config = _STRICT
    drug: Literal["ketamine", "esketamine", "arketamine", "hnk", "naltrexone"]
    parameters: list[str] = Field(..., min_length=1, description="parameter keys or prefixes (ending in '.')")


class CompoundFile(BaseModel):
    model_config = _STRICT
    name: str
    title: str = ""
    description: str = ""
    session: bool = Field(True, description="a dose is a treatment session (it carries the session's expectation)")
    native: NativeDrug | None = None
    doses: Doses | None = None
    citations: dict[str, str] = Field(default_factory=dict, description="citation keys this file adds")
    species: dict[str, Species] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    regimen: list[str] = Field(default_factory=list, description="the regimen `ketasim compound` uses by default")
    sources: list[str] = Field(default_factory=list, description="citation keys of the compound as a whole")

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if not NAME.fullmatch(v):
            raise ValueError(f"{v!r} must start with a lower-case letter and use only a-z, 0-9 and _")
        return v

    @model_validator(mode="after")
    def _check(self):
        if self.native is not None:
            if self.species:
                raise ValueError("a native (built-in) drug takes its species from the model; leave species out")
            if self.name != self.native.drug:
                raise ValueError(f"a file describing the built-in {self.native.drug} must be named {self.native.drug}")
            return self
        if not self.species:
            raise ValueError("species: give at least the molecule dosed")
        if self.doses is None:
            raise ValueError("doses: give the validated per-dose range and the limit, e.g. "
                             "{validated: [50 mg, 150 mg], limit: 1000 mg}")
        for sp, s in self.species.items():
            if not NAME.fullmatch(sp) or "__" in sp:
                raise ValueError(f"species name {sp!r} must use a-z, 0-9 and single '_' only")
            if sp in NATIVE_SPECIES or sp in RESERVED:
                raise ValueError(f"species name {sp!r} is taken by the model; name it otherwise")
            if s.formed_from is not None:
                if s.formed_from not in self.species:
                    raise ValueError(f"species {sp}: formed_from {s.formed_from!r} is no species of this file")
                if s.formed_from == sp:
                    raise ValueError(f"species {sp} cannot be formed from itself")
        if not any(s.formed_from is None for s in self.species.values()):
            raise ValueError("no species is dosed (every one says formed_from)")
        # metabolite chains must end (no cycle) and shares from one parent may not exceed 1
        for sp in self.species:
            seen, cur = set(), sp
            while self.species[cur].formed_from is not None:
                if cur in seen:
                    raise ValueError(f"species {sp}: formed_from makes a cycle")
                seen.add(cur)
                cur = self.species[cur].formed_from
        for parent in self.species:
            total = sum(s.fraction.value for s in self.species.values() if s.formed_from == parent)
            if total > 1 + 1e-12:
                raise ValueError(f"the metabolites of {parent} take {total:g} of its clearance (more than all of it)")
        routes = {r for s in self.species.values() for r in s.pk.routes}
        for sp, s in self.species.items():
            if s.formed_from is None and set(s.pk.routes) != routes:
                raise ValueError(f"species {sp}: every component of the dose needs the same routes "
                                 f"({', '.join(sorted(routes))})")
        for i, c in enumerate(self.checks):
            if c.species not in self.species:
                raise ValueError(f"checks[{i}]: species {c.species!r} is no species of this file")
        return self

    def routes(self) -> tuple[str, ...]:
        if self.native is not None:
            return ()
        first = next(s for s in self.species.values() if s.formed_from is None)
        return tuple(r for r in ROUTE_NAMES if r in first.pk.routes)


# ---------------------------------------------------------------------------------------------------------
# one plain line for a user


def plain_error(exc: ValidationError, label: str) -> str:
    """The first problem of a compound file, naming the field (no library wording)."""
    e = exc.errors()[0]
    loc = [str(x) for x in e["loc"]]
    typ = e["type"]
    msg = str(e.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if typ == "extra_forbidden":
        key = loc[-1] if loc else ""
        parent = loc[-2] if len(loc) >= 2 else ""
        if parent == "receptors":
            msg = f"unknown receptor {key!r}; known: {', '.join(RECEPTORS)}"
        else:
            msg = f"unknown key {key!r}"
        loc = loc[:-1]
    elif typ == "missing":
        msg = f"{loc[-1]} is required" if loc else "a required key is missing"
        loc = loc[:-1]
    elif typ in ("float_parsing", "float_type", "int_parsing", "int_type"):
        msg = f"must be a number, got {e.get('input')!r}"
    elif typ in ("string_type",):
        msg = f"must be text, got {e.get('input')!r}"
    elif typ in ("literal_error", "enum"):
        ctx = e.get("ctx") or {}
        msg = f"must be one of {ctx.get('expected', 'the allowed values')}, got {e.get('input')!r}"
    elif typ in ("dict_type", "model_type", "model_attributes_type"):
        msg = "must be a mapping of keys"
    elif typ in ("list_type", "tuple_type"):
        msg = "must be a list"
    elif typ == "too_short":
        msg = "must not be empty"
    elif typ not in ("value_error", "assertion_error"):
        msg = "invalid value"
    where = ".".join(loc)
    return f"{label}: {where}: {msg}" if where else f"{label}: {msg}"
