"""Pydantic schemas shared by the CLI, the scenario files and the web API. Unknown keys are errors."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ketasim.units import to_unit


class ScenarioError(ValueError):
    """A scenario file or request that cannot be read as written."""


class SubjectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
            raise ValueError(f"weight must be 20-250 kg, got {v}")
        return str(v)

    @field_validator("age", mode="before")
    @classmethod
    def _age(cls, v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise ValueError(f"age {v!r} needs a unit, e.g. '{v} yr'")
        y = to_unit(str(v), "year", "age")
        if not 12 <= y <= 100:
            raise ValueError(f"age must be 12-100 years, got {v}")
        return str(v)

    def weight_kg(self) -> float:
        return to_unit(self.weight, "kg", "weight")

    def age_y(self) -> float:
        return to_unit(self.age, "year", "age")


class PopulationConfig(BaseModel):
    """How a virtual population's covariates are drawn (or read: `covariates_file`, one row per subject)."""

    model_config = ConfigDict(extra="forbid")
    age_range: str | None = Field(None, description="ages drawn uniformly within, e.g. '18-65 yr'")
    female_fraction: float | None = Field(None, ge=0, le=1, description="share of women, 0-1")
    weight_sd: str | None = Field(None, description="SD of body weight with unit, e.g. '15 kg'")
    weight_range: str | None = Field(None, description="body weights truncated to, e.g. '45-150 kg'")
    covariates_file: str | None = Field(None, description="CSV of per-subject covariates (weight_kg, age_y, sex, "
                                        "cyp2b6, baseline_madrs)")


class ScenarioConfig(BaseModel):
    """A scenario: regimen, subject, duration, outputs and seed."""

    model_config = ConfigDict(extra="forbid")
    name: str = "scenario"
    doses: list[str] = Field(..., min_length=1, description="regimen text lines, e.g. 'ketamine 0.5 mg/kg iv over 40 min'")
    duration: str = "7 d"
    subject: SubjectConfig = Field(default_factory=SubjectConfig)
    output_step: str | None = None
    seed: int = Field(1, ge=0)
    subjects: int = Field(1, ge=1, le=100_000, description="1: the typical subject; more: a virtual population")
    hypothesis: str = Field("opioid", description="mechanism hypothesis (ketasim hypotheses --list)")
    opioid_source: str | None = Field(None, description="hnk_mor, ketamine_mor or endogenous (opioid, mixed)")
    expectation: Literal["none", "saline", "spray", "active", "open_label"] = Field(
        "active", description="what the sessions lead subjects to expect: none, saline (inert control they can "
                              "tell apart), spray (blinded nasal spray), active (active placebo or blinded "
                              "ketamine), open_label")
    baseline_madrs: float | None = Field(None, gt=0, le=60)
    oral_antidepressant_start: str | None = None
    population: PopulationConfig | None = None

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ScenarioConfig":
        path = Path(path)
        if not path.exists():
            raise ScenarioError(f"scenario file {path} does not exist")
        return validate_yaml(cls, path.read_text(encoding="utf-8"), f"scenario file {path.name}", ScenarioError)


def validate_yaml(model: type[BaseModel], text: str, label: str, error: type[ValueError] = ScenarioError):
    """YAML text -> a validated pydantic model, or one `error` naming the file and the field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{label} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise error(f"{label} must be a mapping of keys, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{label}: {format_validation_error(exc)}") from None


def format_validation_error(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"]
        if msg.startswith("Value error, "):   # pydantic's prefix on a validator's own sentence
            msg = msg[len("Value error, "):]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
