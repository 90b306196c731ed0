"""Response models of the web API (what the JSON API returns; described in its OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

class ErrorOut(BaseModel):
    detail: str = Field(..., description="what is wrong, in words a person can act on")
    errors: list[dict[str, Any]] = Field(default_factory=list, description="one entry per offending field")


class Series(BaseModel):
    unit: str
    layer: str
    label: str = Field("", description="the output's name as the figures print it")
    median: list[float | None]
    p05: list[float | None] | None = None
    p95: list[float | None] | None = None


class Layer(BaseModel):
    key: str
    title: str
    columns: list[str]


class SimulationOut(BaseModel):
    name: str
    doses: list[str]
    duration_h: float
    n_subjects: int
    time_h: list[float]
    layers: list[Layer]
    series: dict[str, Series]
    summary: dict[str, Any]
    warnings: list[str]
    time_points_total: int | None = Field(None, description="set when the time course was thinned for the answer: "
                                          "how many time points the simulation has (the summary uses all)")
    observed: list[dict[str, Any]] = []
    administrations: list[dict[str, Any]] = Field(default_factory=list, description="every dose given (repeats "
                                                  "expanded): drug, time_h, duration_h (the charts mark them)")
    note: str = "Research software, not dosing advice."


class TrialInfoOut(BaseModel):
    name: str
    title: str
    design: str
    arms: list[str]
    n_per_arm: int
    duration: str
    citation: str | None = None
    has_observed: bool
    work_per_replicate: float = Field(..., description="subject-days one replicate trial costs "
                                      "(the trial work cap divided by this bounds the replicates)")


class TrialOut(BaseModel):
    """A virtual trial's summary (the package's trial.json): per-arm endpoint statistics over replicate trials,
    the trial's comparisons, and the published numbers beside the model's."""

    model_config = ConfigDict(extra="allow")
    trial: str
    title: str = ""
    hypothesis: str
    seed: int
    replicates: int
    design: str = ""
    arms: dict[str, Any]
    comparisons: list[dict[str, Any]]
    observed: dict[str, Any] | None = None
    observed_vs_model: list[dict[str, Any]] = Field(default_factory=list)
    note: str = ""
    report_url: str | None = Field(None, description="the self-contained HTML report of this run")


class PatternRunOut(SimulationOut):
    """A use pattern's run: the layers over time, its abuse-liability table and the pattern's description."""

    liability: dict[str, Any]
    pattern: dict[str, Any]


class SearchOut(BaseModel):
    """A regimen search: the front, every evaluated regimen's objective values, the standard regimens."""

    objectives: list[str]
    hypotheses: list[str]
    robust: str | None = None
    front: list[dict[str, Any]]
    evaluated: list[dict[str, Any]]
    standards: list[dict[str, Any]]
    seconds: float
    note: str


class JobOut(BaseModel):
    id: str
    kind: Literal["scenario", "trial", "pattern", "optimize"] = "scenario"
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(..., ge=0, le=1)
    message: str = ""
    work: float = Field(..., description="subject-days")
    result: PatternRunOut | SimulationOut | TrialOut | SearchOut | None = Field(
        None, description="SimulationOut for a scenario job, TrialOut for a trial job, PatternRunOut for a use "
                          "pattern, SearchOut for a regimen search; set once the job is done")
    error: str | None = None
    files: dict[str, str] = Field(default_factory=dict, description="name -> URL of files the finished job made "
                                  "(a trial job: its report)")


class ParameterOut(BaseModel):
    key: str
    value: float | None
    unit: str
    source: str
    evidence: str
    low: float | None
    high: float | None
    description: str
    citation: str | None = None


class OptionsOut(BaseModel):
    drugs: list[str]
    routes: list[str]
    drug_routes: dict[str, list[str]]
    units: list[str]
    sexes: list[str]
    cyp2b6: list[str]
    hypotheses: list[str]
    default_hypothesis: str
    hypothesis_info: dict[str, dict[str, Any]] = Field(default_factory=dict)
    opioid_sources: list[str]
    expectations: list[str] = Field(default_factory=list)
    limits: dict[str, float]
