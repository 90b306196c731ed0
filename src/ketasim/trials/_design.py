"""Trial files (YAML): arms, population, endpoints, analysis and, optionally, the published results.

Unknown keys are errors; every field that holds a time or a body measure carries its unit.
"""

from __future__ import annotations

import math
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


EndpointKind = Literal["change", "peak", "window", "visits", "time_to_response"]


class EndpointConfig(StrictModel):
    model_config = _STRICT
    scale: Literal["madrs", "hamd17", "cadss"]
    at: str = Field(..., description="time after the first session, e.g. '1 d' or '230 min'; window, visits and "
                    "time_to_response: the first visit")
    kind: EndpointKind = Field("change", description="change: from baseline at `at`; peak: CADSS maximum up to "
                               "`at`; window: the mean change over visits every `every` from `at` to `until` (as "
                               "mixed models report a days 1-3 effect); visits: the change and the share in "
                               "response at each visit from `at` to `until` (one endpoint per visit, named "
                               "NAME@TIME); time_to_response: days to the first visit in response (visits every "
                               "`every` from `at` to `until`; never in response = censored at `until`)")
    until: str | None = Field(None, description="window, visits, time_to_response: the last visit")
    times: list[str] | None = Field(None, min_length=1, description="window, visits, time_to_response: the visit "
                                    "times themselves (e.g. 24 h after each infusion of a series), instead of "
                                    "visits every `every` from `at` to `until`; `at` is the first of them")
    every: str = Field("1 d", description="window, visits, time_to_response: time between visits")
    since: str | None = Field(None, description="change endpoints: change from the rating at this time after the "
                              "first session (e.g. the end of an induction series) instead of from baseline; "
                              "response and remission still refer to baseline")
    visit_of: str | None = Field(None, description="set by ketasim: the visits endpoint this visit belongs to")

    @model_validator(mode="after")
    def _check(self):
        if self.scale == "cadss" and self.kind != "peak":
            raise ValueError("cadss endpoints are peaks: kind must be 'peak'")
        if self.scale != "cadss" and self.kind == "peak":
            raise ValueError("mood endpoints are changes from baseline: kind must be 'change' (or window, visits, "
                             "time_to_response), not 'peak'")
        to_hours(self.at, "endpoint time")
        if self.times is not None:
            if self.kind not in ("window", "visits", "time_to_response"):
                raise ValueError("'times' applies to window, visits and time_to_response endpoints only")
            if self.until is not None:
                raise ValueError("give either 'times' or 'until' (with 'every'), not both")
            hours = self.visit_hours()
            if any(b <= a for a, b in zip(hours, hours[1:])):
                raise ValueError(f"visit 'times' must increase, got {self.times}")
            if abs(hours[0] - to_hours(self.at, "endpoint time")) > 1e-9:
                raise ValueError(f"'at' ({self.at}) must be the first of the visit 'times' ({self.times[0]})")
            if len(hours) > 400:
                raise ValueError("more than 400 visit times; space them further apart")
        elif self.kind in ("window", "visits", "time_to_response"):
            if self.until is None:
                raise ValueError(f"{self.kind} endpoints need 'until' (the last visit), e.g. until: 3 d")
            if to_hours(self.every, "endpoint 'every'") <= 0:
                raise ValueError(f"'every' must be a positive time, e.g. '1 d', got {self.every}")
            if to_hours(self.until, "endpoint 'until'") < self.hours():
                raise ValueError(f"'until' ({self.until}) must not come before 'at' ({self.at})")
            if len(self.visit_hours()) > 400:
                raise ValueError(f"more than 400 visits from {self.at} to {self.until} every {self.every}; "
                                 "space them further apart")
        elif self.until is not None:
            raise ValueError("'until' applies to window, visits and time_to_response endpoints only")
        if self.since is not None:
            if self.kind != "change":
                raise ValueError("'since' applies to change endpoints only")
            if not (0 <= to_hours(self.since, "endpoint 'since' time") < self.hours()):
                raise ValueError(f"'since' ({self.since}) must come before the endpoint time ({self.at})")
        return self

    def hours(self) -> float:
        """The endpoint's (last) time after the first session, h."""
        if self.times is not None:
            return self.visit_hours()[-1]
        if self.until is not None:
            return to_hours(self.until, "endpoint 'until'")
        return to_hours(self.at, "endpoint time")

    def visit_hours(self) -> list[float]:
        """The times after the first session at which this endpoint is rated, h."""
        if self.times is not None:
            return [to_hours(x, "endpoint visit time") for x in self.times]
        start = to_hours(self.at, "endpoint time")
        if self.until is None:
            return [start]
        end, step = to_hours(self.until, "endpoint 'until'"), to_hours(self.every, "endpoint 'every'")
        n = int(math.floor((end - start) / step + 1e-9)) + 1
        return [start + k * step for k in range(n)]

    def since_hours(self) -> float | None:
        return None if self.since is None else to_hours(self.since, "endpoint 'since' time")


def _expand_visits(endpoints: dict) -> dict:
    """A `visits` endpoint becomes one change endpoint per visit, NAME@TIME (TIME as hours or days)."""
    if not isinstance(endpoints, dict):
        return endpoints
    out = {}
    for name, ep in endpoints.items():
        if isinstance(ep, dict) and ep.get("kind") == "visits":
            probe = EndpointConfig(**ep)
            for h in probe.visit_hours():
                label = f"{h / 24:g} d" if abs(h / 24 - round(h / 24)) < 1e-9 else f"{h:g} h"
                out[f"{name}@{label}"] = {"scale": probe.scale, "at": f"{h:g} h", "kind": "change",
                                          "visit_of": name}
        else:
            out[name] = ep
    return out


class ConditionConfig(StrictModel):
    """One condition of eligibility for randomisation, on ratings at visits before it."""

    model_config = _STRICT
    scale: Literal["madrs", "hamd17"] = "madrs"
    visits: list[str] = Field(..., min_length=1, description="times after the first session, e.g. ['4 wk']")
    max: float | None = Field(None, ge=0, description="in state when the rating is at most this (points)")
    max_fraction_of_baseline: float | None = Field(None, gt=0, lt=1, description="in state when the rating is at "
                                                   "most this fraction of the subject's baseline (0.5: response)")
    at_least: int | None = Field(None, ge=1, description="visits in state needed (default: every visit)")
    description: str = ""

    @model_validator(mode="after")
    def _check(self):
        if (self.max is None) == (self.max_fraction_of_baseline is None):
            raise ValueError("give one of max (points) or max_fraction_of_baseline (e.g. 0.5 for response)")
        for v in self.visits:
            to_hours(v, "eligibility visit")
        if self.at_least is not None and self.at_least > len(self.visits):
            raise ValueError(f"at_least ({self.at_least}) is more than the {len(self.visits)} visits given")
        return self

    def visit_hours(self) -> list[float]:
        return [to_hours(v, "eligibility visit") for v in self.visits]


class RelapseConfig(StrictModel):
    """The trial's own relapse definition, rated at visits every `every` after randomisation."""

    model_config = _STRICT
    scale: Literal["madrs", "hamd17"] = "madrs"
    min: float = Field(..., ge=0, description="relapse: the rating at least this (points) ...")
    consecutive: int = Field(1, ge=1, le=10, description="... at this many consecutive visits (the first of them "
                             "is the relapse time)")
    every: str = Field("1 wk", description="time between visits after randomisation")
    definition: str = Field("", description="the trial's wording, for the report")

    @field_validator("every")
    @classmethod
    def _every(cls, v):
        if to_hours(v, "relapse visits 'every'") <= 0:
            raise ValueError(f"'every' must be a positive time, e.g. '1 wk', got {v}")
        return v


class WithdrawalConfig(StrictModel):
    """Randomised withdrawal: every subject takes the open-label phases (the arms' regimens, identical before
    `at`); at `at` the subjects in the required state are randomised to the arms (the regimens after `at`)."""

    model_config = _STRICT
    at: str = Field(..., description="randomisation time after the first session, e.g. '16 wk'")
    eligible: list[ConditionConfig] = Field(..., min_length=1, description="conditions, all of which must hold")
    relapse: RelapseConfig
    follow_up: str = Field(..., description="time after randomisation to the end of the study")
    allocation: dict[str, float] | None = Field(None, description="arm -> weight (default equal)")

    def at_h(self) -> float:
        return to_hours(self.at, "randomisation time")

    def follow_up_h(self) -> float:
        return to_hours(self.follow_up, "follow-up")


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
    relapses: int | None = Field(None, ge=0, description="randomised withdrawal: subjects who relapsed")
    median_days: float | None = Field(None, gt=0, description="randomised withdrawal: median time to relapse, "
                                      "days (reported, not scored)")
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
    hazard_ratio: float | None = Field(None, gt=0, description="randomised withdrawal: hazard ratio of relapse, "
                                       "first arm vs second; ci95 then refers to it")
    ratio: float | None = Field(None, description="the first arm's mean change as a share of the second's (e.g. "
                                "the share of the ketamine effect kept with a pretreatment); ci95 then refers to it")
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
    design: Literal["parallel", "crossover", "randomised_withdrawal"]
    n_per_arm: int = Field(..., ge=1, le=100_000, description="parallel: per arm (unless the arm gives n); "
                           "crossover: subjects, each in every arm; randomised_withdrawal: subjects entering the "
                           "open-label phases")
    withdrawal: WithdrawalConfig | None = Field(None, description="randomised_withdrawal only")
    scored_by_default: bool = Field(True, description="false: `ketasim hypotheses` without --trial leaves this "
                                    "trial out (a long simulation); name it with --trial to score it")
    washout: str | None = Field(None, description="crossover only: time between periods")
    duration: str = Field(..., description="follow-up after the first session, e.g. '7 d'")
    expectation: Expectation = "active"
    oral_antidepressant: bool = Field(False, description="a new oral antidepressant starts at time 0 in every arm")
    conscious: bool = Field(True, description="false: every session is given under general anaesthesia: no "
                            "dissociation or euphoria is experienced (no CADSS endpoint can be rated) and "
                            "expectation is the same in every arm (the trial's); the drug's pharmacology is "
                            "unchanged")
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    arms: dict[str, ArmConfig] = Field(..., min_length=1, description="one arm (a single-arm or open-label "
                                       "series) or more")
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict, description="at least one, except in "
                                                 "randomised withdrawal (its endpoint is 'relapse')")
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

    @model_validator(mode="before")
    @classmethod
    def _visits(cls, data):
        if isinstance(data, dict) and "endpoints" in data:
            try:
                data = {**data, "endpoints": _expand_visits(data["endpoints"])}
            except (ValueError, TypeError):
                pass   # the endpoint's own validation reports it, with its key
        return data

    @model_validator(mode="after")
    def _check(self):
        dur = to_hours(self.duration, "trial duration")
        if self.design == "randomised_withdrawal":
            self._check_withdrawal(dur)
            return self
        if not (0 < dur <= 24 * 180):
            raise ValueError(f"duration must be within 0-180 d, got {self.duration}")
        if self.withdrawal is not None:
            raise ValueError("withdrawal applies to design randomised_withdrawal only")
        if not self.endpoints:
            raise ValueError("endpoints: give at least one, e.g. madrs_day1: {scale: madrs, at: 1 d}")
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
        if not self.conscious:
            own = [a for a, arm in self.arms.items() if arm.expectation is not None]
            if own:
                raise ValueError(f"conscious: false gives every arm the same expectation (the trial's); remove "
                                 f"expectation from arm {own[0]!r}")
            rated = [e for e, ep in self.endpoints.items() if ep.scale == "cadss"]
            if rated:
                raise ValueError(f"conscious: false: no dissociation is experienced under general anaesthesia, so "
                                 f"endpoint {rated[0]!r} (CADSS) cannot be rated; remove it")
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
            if self.endpoints[c.endpoint].kind == "time_to_response":
                raise ValueError(f"comparison of {c.endpoint!r}: times to response are summarised per arm "
                                 "(Kaplan-Meier median), not compared; compare a visits or change endpoint instead")
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
                    published = oa.endpoints[e].model_fields_set - {"responders", "verified", "note"}
                    if self.endpoints[e].kind == "time_to_response" and published:
                        raise ValueError(f"observed results for {e!r}: a time-to-response endpoint is scored on "
                                         "the number who responded at any visit ('responders') alone; published "
                                         "times to response are not scored")
            for c in self.observed.comparisons:
                if c.endpoint not in self.endpoints or any(a not in self.arms for a in c.arms):
                    raise ValueError(f"observed comparison {c.endpoint} {c.arms} names unknown endpoint or arm")
                if c.ratio is not None and c.difference is not None:
                    raise ValueError(f"observed comparison {c.endpoint}: give a difference or a ratio, not both "
                                     "(ci95 refers to the one given)")
                if c.endpoint in self.endpoints and self.endpoints[c.endpoint].kind == "time_to_response":
                    raise ValueError(f"observed comparison {c.endpoint}: times to response are not compared")
        return self

    def _check_withdrawal(self, dur: float):
        w = self.withdrawal
        if w is None:
            raise ValueError("randomised_withdrawal needs a withdrawal section (at, eligible, relapse, follow_up)")
        if self.endpoints:
            raise ValueError("a randomised-withdrawal trial reports relapse (endpoint 'relapse'); remove endpoints")
        if len(self.arms) < 2:
            raise ValueError("randomised withdrawal needs at least two arms to randomise to")
        if any(a.n is not None or a.population is not None for a in self.arms.values()):
            raise ValueError("in randomised withdrawal the arms are formed at randomisation: give n_per_arm and one "
                             "population, not arm n or arm population")
        if self.washout is not None:
            raise ValueError("washout applies to crossover designs only")
        at = w.at_h()
        if not (0 < at and at + w.follow_up_h() <= dur + 1e-9):
            raise ValueError(f"withdrawal.at ({w.at}) plus follow_up ({w.follow_up}) must fit in duration "
                             f"({self.duration})")
        if dur > 24 * 365 * 3:
            raise ValueError(f"duration must be within 3 years, got {self.duration}")
        for c in w.eligible:
            if any(not (0 <= h <= at) for h in c.visit_hours()):
                raise ValueError(f"eligibility visits must lie before randomisation at {w.at}")
        if w.allocation is not None:
            if set(w.allocation) != set(self.arms):
                raise ValueError("withdrawal.allocation must give a weight for every arm, e.g. {continue: 1, "
                                 "placebo: 1}")
            if any(v <= 0 for v in w.allocation.values()):
                raise ValueError("withdrawal.allocation weights must be positive")
        if self.exposure_response:
            raise ValueError("exposure_response analyses apply to parallel and crossover trials, not randomised "
                             "withdrawal")
        regimens = {}
        weight = to_unit(self.population.weight_mean, "kg", "population weight")
        for arm_name, arm in self.arms.items():
            try:
                regimens[arm_name] = arm.regimen()
                regimens[arm_name].check_limits(weight)
            except ValueError as exc:
                raise KeyedError(f"arms.{arm_name}.doses", exc) from None
        before = {a: sorted((round(d.time_h, 6), d.drug, round(d.amount, 9), d.amount_unit, d.route,
                             round(d.duration_h, 6)) for d in r.realize() if d.time_h < at - 1e-9)
                  for a, r in regimens.items()}
        first = next(iter(before))
        for a, doses in before.items():
            if doses != before[first]:
                raise ValueError(f"arms {first!r} and {a!r} differ before randomisation at {w.at}: every subject "
                                 "takes the same open-label phases; change the doses so they differ only after it")
        for c in self.comparisons:
            if c.endpoint != "relapse" or any(a not in self.arms for a in c.arms):
                raise ValueError(f"comparison {c.endpoint} {c.arms}: randomised-withdrawal comparisons are of "
                                 "'relapse' between two of the arms")
        if self.observed:
            for a, oa in self.observed.arms.items():
                if a not in self.arms:
                    raise ValueError(f"observed results name unknown arm {a!r}")
                if set(oa.endpoints) - {"relapse"}:
                    raise ValueError("observed results of a randomised-withdrawal trial are for endpoint 'relapse'")
            for c in self.observed.comparisons:
                if c.endpoint != "relapse" or any(a not in self.arms for a in c.arms):
                    raise ValueError(f"observed comparison {c.endpoint} {c.arms}: use endpoint 'relapse' and two "
                                     "of the arms")

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
    return cfg.n_per_arm if (cfg.design != "parallel" or a.n is None) else a.n
