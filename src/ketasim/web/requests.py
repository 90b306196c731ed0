"""Request models of the web API. Requests are checked here (bounds, units, known names) and turned into the
package's own `ScenarioConfig`; nothing here computes anything about the body."""

from __future__ import annotations

import functools
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ketasim.io.schemas import ScenarioConfig, StrictModel, SubjectConfig
from ketasim.regimens import _regimen as regimen_text
from ketasim.units import to_hours

from .errors import WebInputError
from .limits import (JOB_WORK_CAP, MAX_AMOUNT, MAX_DOSES, MAX_DURATION_D, MAX_NAME, MAX_OFFSET_D,  # noqa: F401
                     MAX_REPEATS, MAX_REPLICATES, MAX_SUBJECTS, SYNC_WORK_CAP, TRIAL_WORK_CAP)

_IDENT = r"^[a-z][a-z0-9_]{0,39}$"


_TIME_TEXT = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d{1,3})?\s*[A-Za-z_]{1,20}\s*$")


def _hours(text: str, what: str) -> float:
    """A time text ('40 min', '-45 min', '3.5 d') in hours; a readable ValueError otherwise.

    The text must look like NUMBER UNIT before it reaches the unit parser (which would evaluate
    arbitrary arithmetic such as '9**9**9 h')."""
    if not _TIME_TEXT.match(text):
        raise ValueError(f"{what}: {text!r} is not a number with a time unit, e.g. '40 min', '2 h' or '7 d'")
    try:
        h = to_hours(text, what)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - unit parser errors are input errors
        raise ValueError(f"{what}: cannot read {text!r} ({type(exc).__name__})") from None
    if not math.isfinite(h):
        raise ValueError(f"{what} must be finite, got {text!r}")
    return h


class DoseIn(StrictModel):
    """One dose line: `DRUG AMOUNT UNIT ROUTE [over DURATION] [at TIME] [every INTERVAL for N doses]`."""

    model_config = ConfigDict(extra="forbid")
    drug: str = Field(..., max_length=40, description="ketamine, esketamine, arketamine, naltrexone, ...",
                      examples=["ketamine"])
    amount: float = Field(..., gt=0, le=MAX_AMOUNT, description="dose amount in `unit`", examples=[0.5])
    unit: Literal["mg", "mg/kg"] = Field("mg", description="mg, or mg per kg body weight")
    route: str = Field(..., max_length=20, description="iv, im, intranasal, oral, sublingual",
                       examples=["iv"])
    over: str | None = Field(None, max_length=40, description="infusion duration (iv only), e.g. '40 min'")
    at: str | None = Field(None, max_length=40, description="time of (first) dose, e.g. '-45 min'")
    every: str | None = Field(None, max_length=40, description="interval between repeats, e.g. '3.5 d'")
    count: int = Field(1, ge=1, le=MAX_REPEATS, description="number of doses in the series")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, v):
        """A dose may also be one line of regimen text, as `ketasim simulate --dose` reads it:
        'ketamine 0.5 mg/kg iv over 40 min', 'naltrexone 50 mg oral at -45 min'."""
        if isinstance(v, dict) or isinstance(v, BaseModel):
            return v
        if not isinstance(v, str):
            raise ValueError("a dose is an object (drug, amount, unit, route, ...) or one line of regimen text such "
                             "as 'ketamine 0.5 mg/kg iv over 40 min'")
        from ketasim.regimens import parse_dose

        d = parse_dose(v)  # RegimenError / UnitError: a sentence saying what is wrong in the text
        if d.sessions > 1:
            raise ValueError(f"dose {v.strip()[:60]!r}: session blocks (', repeated every ... for N sessions') are "
                             f"for the CLI and scenario files; here, give each series as a dose line of its own")
        fmt = regimen_text._fmt_time
        return {"drug": d.drug, "amount": d.amount, "unit": d.amount_unit, "route": d.route,
                "over": fmt(d.duration_h) if d.duration_h > 0 else None,
                "at": fmt(d.time_h) if d.time_h != 0 else None,
                "every": fmt(d.every_h) if d.count > 1 else None, "count": d.count}

    @field_validator("drug")
    @classmethod
    def _drug(cls, v: str) -> str:
        v = v.strip().lower()
        if v not in regimen_text.DRUGS:
            raise ValueError(f"unknown drug {v!r}; known: {', '.join(regimen_text.DRUGS)}")
        return v

    @field_validator("route")
    @classmethod
    def _route(cls, v: str) -> str:
        v = v.strip().lower()
        v = regimen_text.ROUTE_ALIASES.get(v, v)
        if v not in regimen_text.ROUTES:
            raise ValueError(f"unknown route {v!r}; known: {', '.join(regimen_text.ROUTES)}")
        return v

    @field_validator("over", "at", "every", mode="before")
    @classmethod
    def _blank_is_none(cls, v):
        if isinstance(v, str) and not v.strip():
            return None
        return v

    @field_validator("over")
    @classmethod
    def _over(cls, v: str | None) -> str | None:
        if v is None:
            return v
        h = _hours(v, "infusion duration")
        if h < 0 or h > 24 * 14:
            raise ValueError(f"infusion duration must be 0-14 d, got {v!r}")
        return v.strip()

    @field_validator("at")
    @classmethod
    def _at(cls, v: str | None) -> str | None:
        if v is None:
            return v
        h = _hours(v, "dose time")
        if abs(h) > 24 * MAX_OFFSET_D:
            raise ValueError(f"dose time must lie within {MAX_OFFSET_D:g} d of time 0, got {v!r}")
        return v.strip()

    @field_validator("every")
    @classmethod
    def _every(cls, v: str | None) -> str | None:
        if v is None:
            return v
        h = _hours(v, "dosing interval")
        if not 0.25 <= h <= 24 * MAX_DURATION_D:
            raise ValueError(f"dosing interval must be 15 min to {MAX_DURATION_D:g} d, got {v!r}")
        return v.strip()

    @model_validator(mode="after")
    def _series(self):
        if self.count > 1 and self.every is None:
            raise ValueError("repeated doses need an interval ('every'), e.g. every '3.5 d'")
        return self

    def to_text(self) -> str:
        parts = [self.drug, f"{self.amount:.10g}", self.unit, self.route]
        if self.over is not None:
            parts += ["over", self.over]
        if self.at is not None:
            parts += ["at", self.at]
        if self.count > 1:
            parts += ["every", self.every, "for", str(self.count), "doses"]
        return " ".join(parts)


_SEXES = SubjectConfig.model_fields["sex"].annotation
_CYP = SubjectConfig.model_fields["cyp2b6"].annotation


class ObservedPointIn(StrictModel):
    """One observed value drawn on the charts: time in hours, the output column, its value in that column's
    unit (ng/mL, points, fraction) and an optional standard deviation (error bar)."""

    model_config = ConfigDict(extra="forbid")
    time_h: float = Field(..., ge=-24 * 365, le=24 * 365, description="time, h")
    output: str = Field(..., pattern=r"^[a-z0-9_]{1,40}$", description="output column, e.g. ketamine_ng_ml")
    value: float = Field(..., ge=-1e9, le=1e9, description="observed value in the output's unit")
    sd: float | None = Field(None, ge=0, le=1e9, description="standard deviation (error bar), same unit")

    @field_validator("output")
    @classmethod
    def _known(cls, v: str) -> str:
        from ketasim.models.outputs import units as output_units

        if v not in output_units():
            raise ValueError(f"{v!r} is not an output column (e.g. ketamine_ng_ml, cadss, madrs)")
        return v


class ScenarioIn(StrictModel):
    """A scenario as the dashboard sends it; `to_config()` gives the package's ScenarioConfig."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("scenario", max_length=MAX_NAME)
    doses: list[DoseIn] = Field(..., min_length=1, max_length=MAX_DOSES,
                                description="dose lines: objects, or regimen text as `ketasim simulate --dose` "
                                            "reads it, e.g. 'ketamine 0.5 mg/kg iv over 40 min'")
    duration: str = Field("7 d", max_length=40, description=f"simulated time, at most {MAX_DURATION_D:g} d",
                          examples=["7 d", "48 h"])
    weight_kg: float = Field(70.0, ge=20, le=250, description="body weight, kg")
    age_years: float = Field(40.0, ge=12, le=100, description="age, years")
    sex: _SEXES = "unspecified"  # type: ignore[valid-type]
    cyp2b6: _CYP = "*1/*1"  # type: ignore[valid-type]
    hypothesis: str | None = Field(None, pattern=_IDENT, description="mechanism hypothesis (GET /api/options)")
    opioid_source: str | None = Field(None, pattern=_IDENT, description="what drives MOR signalling")
    expectation: str | None = Field(None, pattern=_IDENT, description="expectation / placebo context "
                                    "(GET /api/options: expectations)")
    baseline_madrs: float | None = Field(None, gt=0, le=60, description="baseline MADRS of the subject")
    subjects: int = Field(1, ge=1, le=MAX_SUBJECTS, description="virtual subjects (population bands if > 1)")
    seed: int = Field(1, ge=0, le=2**31 - 1)
    observed: list[ObservedPointIn] = Field(default_factory=list, max_length=5000,
                                            description="observed points drawn on the charts (not fitted)")

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str) -> str:
        h = _hours(v, "duration")
        if h <= 0:
            raise ValueError(f"duration must be positive, got {v!r}")
        if h > 24 * MAX_DURATION_D + 1e-9:
            raise ValueError(f"duration {v!r} exceeds the {MAX_DURATION_D:g}-day limit of the web API")
        return v.strip()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = re.sub(r"[\x00-\x1f\x7f]", "", v).strip()
        return v or "scenario"

    def duration_days(self) -> float:
        return _hours(self.duration, "duration") / 24.0

    def work(self) -> float:
        """Subject-days this request asks for."""
        return self.subjects * self.duration_days()

    def administrations(self) -> int:
        """Doses given, repeats expanded."""
        return sum(d.count for d in self.doses)

    def to_config(self) -> ScenarioConfig:
        """The package's ScenarioConfig (names checked against what the package offers)."""
        from .options import check_choice, options

        kw: dict[str, Any] = dict(
            name=self.name, doses=[d.to_text() for d in self.doses], duration=self.duration,
            subject={"weight": f"{self.weight_kg:.10g} kg", "sex": self.sex,
                     # age and genotype only when asked for: for a population a given value is every subject's
                     **({"age": f"{self.age_years:.10g} yr"} if "age_years" in self.model_fields_set else {}),
                     **({"cyp2b6": self.cyp2b6} if "cyp2b6" in self.model_fields_set else {})},
            seed=self.seed, subjects=self.subjects,
        )
        if self.hypothesis is not None:
            check_choice("hypothesis", self.hypothesis)
            kw["hypothesis"] = self.hypothesis
        if self.opioid_source is not None:
            check_choice("opioid_source", self.opioid_source)
            kw["opioid_source"] = self.opioid_source
        if self.expectation is not None:
            allowed = options()["expectations"]
            if self.expectation not in allowed:
                raise WebInputError(f"unknown expectation {self.expectation!r}; known: {', '.join(allowed)}")
            kw["expectation"] = self.expectation
        if self.baseline_madrs is not None:
            kw["baseline_madrs"] = self.baseline_madrs
        try:
            return ScenarioConfig.model_validate(kw)
        except ValidationError as exc:
            from ketasim.io.schemas import format_validation_error

            raise WebInputError(format_validation_error(exc)) from None


class JobIn(StrictModel):
    model_config = ConfigDict(extra="forbid")
    scenario: ScenarioIn


@functools.lru_cache(maxsize=1)
def trial_catalogue() -> dict[str, dict]:
    """The built-in trials of the installed ketasim by name (`services.list_trials`; read once per process)."""
    from ketasim import services

    return {str(t["name"]): t for t in services.list_trials()}


class TrialIn(StrictModel):
    """A built-in virtual trial to run as a background job (POST /api/trials/run)."""

    model_config = ConfigDict(extra="forbid")
    trial: str = Field(..., max_length=40, description="a built-in trial: `name` from GET /api/trials",
                       examples=["williams2018"])
    hypothesis: str | None = Field(None, pattern=_IDENT, description="mechanism hypothesis (GET /api/options); "
                                   "the package default when omitted")
    opioid_source: str | None = Field(None, pattern=_IDENT, description="what drives MOR signalling "
                                      "(hypotheses that take it only)")
    replicates: int = Field(10, ge=1, le=MAX_REPLICATES, description="replicate virtual trials "
                            f"(1-{MAX_REPLICATES}; the server may allow fewer)")
    seed: int = Field(1, ge=0, le=2**31 - 1, description="random seed (same seed, same result)")

    @field_validator("trial")
    @classmethod
    def _trial(cls, v: str) -> str:
        v = v.strip()
        try:
            known = trial_catalogue()
        except Exception as exc:  # noqa: BLE001 - a broken trial file is the server's problem, said as such
            raise ValueError(f"the built-in trials cannot be read ({type(exc).__name__}: {exc})") from None
        if v not in known:  # only built-in names: the package would also read a YAML path, the web API never
            raise ValueError(f"unknown trial {v!r}; built-in trials: {', '.join(known) or 'none in this version'}")
        return v

    @model_validator(mode="after")
    def _choices(self):
        from .options import check_choice, hypothesis_info, options

        if self.hypothesis is not None:
            check_choice("hypothesis", self.hypothesis)
        if self.opioid_source is not None:
            check_choice("opioid_source", self.opioid_source)
            hyp = self.hypothesis or options()["default_hypothesis"]
            info = hypothesis_info().get(hyp)
            if info is not None and not info.get("takes_opioid_source", True):
                raise ValueError(f"hypothesis {hyp!r} takes no opioid source; leave opioid_source out")
        return self

    def work(self) -> float:
        """Subject-days: replicates x subjects in all arms x the trial's duration."""
        t = trial_catalogue()[self.trial]
        days = _hours(str(t.get("duration") or "1 d"), "trial duration") / 24.0
        return float(self.replicates * int(t.get("n_per_arm") or 1) * max(1, len(t.get("arms") or ())) * days)
