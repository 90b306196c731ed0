"""Dashboard routes for the use patterns and the regimen optimiser (registered by `create_app`).

Both run as background jobs on the app's bounded queue, with work caps: a pattern run is (subjects x simulated
days); a search is (regimens x subjects x hypotheses x horizon days), small enough to finish in a minute or two.
"""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from ketasim import services
from ketasim.web import work
from ketasim.web.errors import error_response as _error

MAX_PATTERN_SUBJECTS = 200
PATTERN_WORK_CAP = 100 * 120.0          # subject-days per pattern job
SEARCH_WORK_CAP = 40 * 30 * 2 * 56.0    # regimen-subject-hypothesis-days per search job
_STRICT = ConfigDict(extra="forbid")


class PatternRunIn(BaseModel):
    model_config = _STRICT
    pattern: str = Field(..., description="a built-in pattern (GET /api/patterns)")
    subjects: int = Field(1, ge=1, le=MAX_PATTERN_SUBJECTS, description="1: the typical subject")
    seed: int = Field(1, ge=0)
    hypothesis: str = Field("opioid", description="mechanism hypothesis")
    opioid_source: Literal["hnk_mor", "ketamine_mor", "endogenous"] | None = None


class SearchIn(BaseModel):
    model_config = _STRICT
    hypotheses: list[str] = Field(default_factory=lambda: ["opioid"], min_length=1, max_length=3)
    robust: Literal["worst", "weighted"] = "worst"
    objectives: list[str] = Field(default_factory=lambda: ["max days_in_response", "min cadss_peak",
                                                           "min opioid_load_auc"], min_length=1, max_length=4)
    constraints: list[str] = Field(default_factory=list, max_length=6)
    horizon: str = Field("8 weeks", description="time over which benefit counts")
    subjects: int = Field(20, ge=2, le=60)
    population_size: int = Field(12, ge=4, le=24)
    generations: int = Field(3, ge=1, le=8)
    seed: int = Field(1, ge=0)


def add_pattern_routes(app: FastAPI, jobs, view, client_key) -> None:
    """GET /api/patterns, POST /api/patterns/run, GET /api/optimize/metrics, POST /api/optimize (jobs)."""

    @app.get("/api/patterns", tags=["patterns"])
    def patterns() -> list[dict]:
        """The built-in use patterns: clinical and recreational, each with its regimen, product and sources."""
        return services.list_patterns()

    @app.post("/api/patterns/run", status_code=202, tags=["patterns"])
    def run_pattern(req: PatternRunIn, request: Request):
        """Queue a use pattern (typical subject or a population): the layers over time and its abuse-liability
        table. Poll GET /api/jobs/{id}."""
        info = services.pattern_info(req.pattern)       # unknown pattern: 422 with the known names
        from ketasim.simulation import parse_duration

        days = parse_duration(info["duration"]) / 24.0
        amount = req.subjects * days
        if amount > PATTERN_WORK_CAP:
            return _error(422, f"this run asks for {amount:g} subject-days; a pattern job may use at most "
                               f"{PATTERN_WORK_CAP:g}. Use fewer subjects.")

        return view(jobs.submit(work.run_pattern, amount, kind="pattern", args=(req, info, days),
                                client=client_key(request)))

    @app.get("/api/optimize/metrics", tags=["optimize"])
    def optimize_metrics() -> dict:
        """Metric names an objective or a constraint may use, with their units."""
        from ketasim.optimize.problem import MAXIMISED, metric_names, metric_unit

        return {"metrics": [{"name": m, "unit": metric_unit(m), "maximised": m in MAXIMISED} for m in metric_names()]}

    @app.post("/api/optimize", status_code=202, tags=["optimize"])
    def optimize(req: SearchIn, request: Request):
        """Queue a small regimen search (ketamine IV; NSGA-II): the front, every evaluated regimen's objectives and
        the standard clinical regimens. Poll GET /api/jobs/{id}."""
        problem = services.optimization_problem(None, **req.model_dump(exclude={"hypotheses"}),
                                                hypotheses=req.hypotheses)   # a bad problem: 422, one sentence
        amount = problem.population_size * problem.generations * problem.subjects * len(problem.variants) \
            * problem.horizon_h / 24.0
        if amount > SEARCH_WORK_CAP:
            return _error(422, f"this search asks for {amount:g} regimen-subject-days; one search job may use at most "
                               f"{SEARCH_WORK_CAP:g}. Use fewer subjects, regimens or generations.")

        return view(jobs.submit(work.run_search, amount, kind="optimize", args=(req,), client=client_key(request)))
