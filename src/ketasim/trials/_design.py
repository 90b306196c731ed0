"""Trial files (YAML): arms, population, endpoints, analysis and, optionally, the published results.

Unknown keys are errors; every field that holds a time or a body measure carries its unit.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ketasim.io.schemas import KeyedError, ScenarioError, StrictModel, read_input_file, validate_yaml
from ketasim.regimens import Regimen
from ketasim.units import excerpt, to_hours, to_unit

_STRICT = ConfigDict(extra="forbid")


class TrialError(ScenarioError):
    """A trial file that cannot be run as written."""


class PopulationConfig(StrictModel):
    model_config = _STRICT
    weight_mean: str = "80 kg"
    weight_sd: str = "15 kg"
    age_min: str = "18 yr"
    age_max: str = "65 yr"
    female_fraction: float = Field(0.5, ge=0, le=1)
    baseline_madrs_mean: float = Field(32.0, gt=0, le=60)
    baseline_madrs_sd: float = Field(5.0, ge=0, le=20)
    baseline_madrs_min: float = Field(20.0, ge=0, le=60, description="inclusion threshold (MADRS points)")
    baseline_madrs_max: float = Field(50.0, ge=0, le=60)

    @field_validator("weight_mean", "weight_sd")
    @classmethod
    def _kg(cls, v):
        to_unit(v, "kg", "population weight")
        return v

    @field_validator("age_min", "age_max")
    @classmethod
    def _yr(cls, v):
        to_unit(v, "year", "population age")
        return v

    def spec(self):
        from ketasim.population import PopulationSpec

        return PopulationSpec(
            weight_mean_kg=to_unit(self.weight_mean, "kg"), weight_sd_kg=to_unit(self.weight_sd, "kg"),
            age_min_y=to_unit(self.age_min, "year"), age_max_y=to_unit(self.age_max, "year"),
            female_fraction=self.female_fraction, baseline_madrs_mean=self.baseline_madrs_mean,
            baseline_madrs_sd=self.baseline_madrs_sd, baseline_madrs_min=self.baseline_madrs_min,
            baseline_madrs_max=self.baseline_madrs_max)


Expectation = Literal["none", "saline", "spray", "active", "open_label"]


class ArmConfig(StrictModel):
    model_config = _STRICT
    doses: list[str] = Field(..., min_length=1, description="regimen text lines")
    description: str = ""
    expectation: Expectation | None = None
    population: PopulationConfig | None = Field(None, description="parallel designs: this arm's own population "
                                                "(e.g. its reported baseline), instead of the trial's")
    n: int | None = Field(None, ge=1, le=100_000, description="parallel designs: this arm's size "
                                                            "(default n_per_arm)")

    def regimen(self) -> Regimen:
        return Regimen.from_text(*self.doses)


class EndpointConfig(StrictModel):
    model_config = _STRICT
    scale: Literal["madrs", "hamd17", "cadss"]
    at: str = Field(..., description="time after the first session, e.g. '1 d' or '230 min'")
    kind: Literal["change", "peak"] = "change"
    since: str | None = Field(None, description="change endpoints: change from the rating at this time after the "
                              "first session (e.g. the end of an induction series) instead of from baseline; "
                              "response and remission still refer to baseline")

    @model_validator(mode="after")
    def _check(self):
        if self.scale == "cadss" and self.kind != "peak":
            raise ValueError("cadss endpoints are peaks: kind must be 'peak'")
        if self.scale != "cadss" and self.kind == "peak":
            raise ValueError("mood endpoints are changes from baseline: kind must be 'change'")
        to_hours(self.at, "endpoint time")
        if self.since is not None:
            if self.kind != "change":
                raise ValueError("'since' applies to change endpoints only")
            if not (0 <= to_hours(self.since, "endpoint 'since' time") < self.hours()):
                raise ValueError(f"'since' ({self.since}) must come before the endpoint time ({self.at})")
        return self

    def hours(self) -> float:
        return to_hours(self.at, "endpoint time")

    def since_hours(self) -> float | None:
        return None if self.since is None else to_hours(self.since, "endpoint 'since' time")


class ComparisonConfig(StrictModel):
    model_config = _STRICT
    endpoint: str
    arms: tuple[str, str] = Field(..., description="difference is first arm minus second arm")


class ObservedEndpoint(StrictModel):
    model_config = _STRICT
    mean_change: float | None = None
    sd: float | None = Field(None, ge=0)
    responders: int | None = Field(None, ge=0)
    remitters: int | None = Field(None, ge=0)
    mean_peak: float | None = None
    verified: bool = True
    note: str = ""


class ObservedArm(StrictModel):
    model_config = _STRICT
    n: int = Field(..., ge=1)
    endpoints: dict[str, ObservedEndpoint] = Field(default_factory=dict)


class ObservedComparison(StrictModel):
    model_config = _STRICT
    endpoint: str
    arms: tuple[str, str]
    difference: float | None = None
    ci95: tuple[float, float] | None = None
    significant: bool | None = Field(None, description="p < 0.05 in the direction of `direction`")
    direction: Literal["negative", "positive"] = "negative"
    verified: bool = True
    note: str = ""


class ObservedExposure(StrictModel):
    """A published exposure-response finding: the correlation across subjects between a plasma concentration and
    an endpoint (its r with the n it rests on, and/or whether it was significant in a direction)."""

    model_config = _STRICT
    name: str
    r: float | None = Field(None, ge=-1, le=1)
    n: int | None = Field(None, ge=4)
    significant: bool | None = None
    direction: Literal["negative", "positive"] = "positive"
    verified: bool = True
    note: str = ""


class ObservedConfig(StrictModel):
    model_config = _STRICT
    source: str
    arms: dict[str, ObservedArm] = Field(default_factory=dict)
    comparisons: list[ObservedComparison] = Field(default_factory=list)
    exposure_response: list[ObservedExposure] = Field(default_factory=list)
    note: str = ""


class ExposureResponseConfig(StrictModel):
    """An exposure-response analysis: within one arm, the rank correlation (Spearman) across subjects between a
    plasma concentration at a time after the first session and an endpoint's value (its change, as rated)."""

    model_config = _STRICT
    name: str
    arm: str
    exposure: str = Field(..., description="a plasma column, e.g. hnk_ng_ml")
    at: str = Field(..., description="sampling time after the first session, e.g. '230 min'")
    endpoint: str

    @field_validator("at")
    @classmethod
    def _at(cls, v):
        to_hours(v, "exposure sampling time")
        return v


class TrialConfig(StrictModel):
    model_config = _STRICT
    name: str
    title: str = ""
    citation: str = ""
    description: str = ""
    design: Literal["parallel", "crossover"]
    n_per_arm: int = Field(..., ge=1, le=100_000, description="parallel: per arm (unless the arm gives n); "
                                                               "crossover: subjects, each in every arm")
    washout: str | None = Field(None, description="crossover only: time between periods")
    duration: str = Field(..., description="follow-up after the first session, e.g. '7 d'")
    expectation: Expectation = "active"
    oral_antidepressant: bool = Field(False, description="a new oral antidepressant starts at time 0 in every arm")
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    arms: dict[str, ArmConfig] = Field(..., min_length=1, description="one arm (a single-arm or open-label "
                                       "series) or more")
    endpoints: dict[str, EndpointConfig] = Field(..., min_length=1)
    response_reduction: float = Field(0.5, gt=0, lt=1, description="response = this fractional reduction")
    remission: dict[Literal["madrs", "hamd17"], float] = Field(default_factory=lambda: {"madrs": 10.0,
                                                                                       "hamd17": 7.0})
    comparisons: list[ComparisonConfig] = Field(default_factory=list)
    exposure_response: list[ExposureResponseConfig] = Field(default_factory=list)
    evidence: Literal["ketamine", "compound", "exposure"] = Field(
        "ketamine", description="the body of evidence the trial belongs to: ketamine and esketamine trials, "
        "trials of other compounds, or exposure-response analyses (hypotheses reports each group's contribution)")
    fine_window: str | None = Field(None, description="time after each dose simulated at 5-min steps (default "
                                    "6 h); '0 h' for long daily-dosing trials rated weekly")
    observed: ObservedConfig | None = None

    @model_validator(mode="after")
    def _check(self):
        dur = to_hours(self.duration, "trial duration")
        if not (0 < dur <= 24 * 180):
            raise ValueError(f"duration must be within 0-180 d, got {self.duration}")
        if self.design == "crossover":
            if self.washout is None:
                raise ValueError("crossover designs need a washout, e.g. '30 d'")
            if to_hours(self.washout, "washout") < 7 * 24:
                raise ValueError("washout shorter than 7 d: carry-over between periods is not modelled")
        elif self.washout is not None:
            raise ValueError("washout applies to crossover designs only")
        if self.design == "crossover" and any(a.n is not None for a in self.arms.values()):
            raise ValueError("in a crossover every subject takes every arm: give n_per_arm, not arm n")
        if self.design == "crossover" and any(a.population is not None for a in self.arms.values()):
            raise ValueError("in a crossover every subject takes every arm: one population, not one per arm")
        if self.design == "crossover" and len(self.arms) < 2:
            raise ValueError("a crossover needs at least two arms")
        for name, ep in self.endpoints.items():
            if not (0 <= ep.hours() <= dur):
                raise ValueError(f"endpoint {name}: time {ep.at} lies outside the trial (0-{self.duration})")
        for arm_name, arm in self.arms.items():
            population = arm.population or self.population
            weight = to_unit(population.weight_mean, "kg", "population weight")
            try:
                arm.regimen().check_limits(weight)
            except ValueError as exc:
                raise KeyedError(f"arms.{arm_name}.doses", exc) from None
        for c in self.comparisons:
            if c.endpoint not in self.endpoints:
                raise ValueError(f"comparison names unknown endpoint {c.endpoint!r}")
            for a in c.arms:
                if a not in self.arms:
                    raise ValueError(f"comparison names unknown arm {a!r}")
        names = set()
        for x in self.exposure_response:
            if x.arm not in self.arms:
                raise ValueError(f"exposure_response {x.name}: unknown arm {x.arm!r}")
            if x.endpoint not in self.endpoints or self.endpoints[x.endpoint].kind != "change":
                raise ValueError(f"exposure_response {x.name}: {x.endpoint!r} is no change endpoint of the trial")
            if not x.exposure.endswith("_ng_ml"):
                raise ValueError(f"exposure_response {x.name}: exposure must be a plasma column (..._ng_ml)")
            if not (0 <= to_hours(x.at) <= dur):
                raise ValueError(f"exposure_response {x.name}: time {x.at} lies outside the trial")
            if x.name in names:
                raise ValueError(f"exposure_response {x.name} given twice")
            names.add(x.name)
        if self.fine_window is not None and not (0 <= to_hours(self.fine_window, "fine window") <= 24):
            raise ValueError("fine_window must be 0-24 h")
        if self.observed:
            for x in self.observed.exposure_response:
                if x.name not in names:
                    raise ValueError(f"observed exposure_response names unknown analysis {x.name!r}")
            for a, oa in self.observed.arms.items():
                if a not in self.arms:
                    raise ValueError(f"observed results name unknown arm {a!r}")
                for e in oa.endpoints:
                    if e not in self.endpoints:
                        raise ValueError(f"observed results name unknown endpoint {e!r}")
            for c in self.observed.comparisons:
                if c.endpoint not in self.endpoints or any(a not in self.arms for a in c.arms):
                    raise ValueError(f"observed comparison {c.endpoint} {c.arms} names unknown endpoint or arm")
        return self

    def duration_h(self) -> float:
        return to_hours(self.duration)


def builtin_trials() -> list[str]:
    folder = resources.files("ketasim.trials") / "builtin"
    return sorted(e.name[:-5] for e in folder.iterdir() if e.name.endswith(".yaml"))


def load_trial(name_or_path: str | Path) -> TrialConfig:
    """A built-in trial by name, or a user's YAML file."""
    p = Path(str(name_or_path))
    if p.suffix in (".yaml", ".yml") or p.exists():
        text, label = read_input_file(p, "trial file", TrialError), p.name
    else:
        name = str(name_or_path)
        if name not in builtin_trials():
            raise TrialError(f"unknown trial {excerpt(name, 60)}; built-in: {', '.join(builtin_trials())}, or give a YAML file")
        text = (resources.files("ketasim.trials") / "builtin" / f"{name}.yaml").read_text(encoding="utf-8")
        label = f"{name}.yaml"
    return validate_yaml(TrialConfig, text, f"trial file {label}", TrialError)


def arm_size(cfg: TrialConfig, arm: str) -> int:
    a = cfg.arms[arm]
    return cfg.n_per_arm if (cfg.design == "crossover" or a.n is None) else a.n
