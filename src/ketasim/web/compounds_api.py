"""Dashboard routes for the compound library and the comparison of a compound with ketamine (registered by
`create_app`).

A comparison runs as a background job on the app's bounded queue (a typical subject, two regimens, their placebo
sessions and the equal-occupancy search: tens of seconds on a busy machine). An uploaded compound file is checked
here, by the same schema as `ketasim compound FILE` (422 with one sentence naming the field), and registered only
in the worker process that runs the job, so the server's drug list stays the package's own.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from ketasim import services
from ketasim.web import work
from ketasim.web.errors import error_response as _error
from ketasim.web.options import check_choice

MAX_FILE_CHARS = 100_000        # a compound file is a few kB
MAX_DURATION_D = 28.0
COMPARISON_POINTS = 1500        # time points per course in the answer (peaks kept)
_STRICT = ConfigDict(extra="forbid")


class CompoundCompareIn(BaseModel):
    model_config = _STRICT
    compound: str | None = Field(None, description="a library compound (GET /api/compounds); or give file_text")
    file_text: str | None = Field(None, max_length=MAX_FILE_CHARS,
                                  description="a compound file's YAML text (the format of `ketasim compound FILE`)")
    file_name: str | None = Field(None, max_length=200, description="the uploaded file's name (for messages)")
    hypothesis: str = Field("opioid", description="mechanism hypothesis")
    opioid_source: str | None = Field(None, description="opioid and mixed only: hnk_mor, ketamine_mor, endogenous")
    duration_days: float = Field(14.0, gt=0, le=MAX_DURATION_D, description="length of both runs (days)")
    doses: list[str] = Field(default_factory=list, max_length=8,
                             description="regimen lines of the compound (default: its own regimen)")

    def file_label(self) -> str:
        name = re.sub(r"[^A-Za-z0-9_.\- ]", "", self.file_name or "").strip()
        return f"uploaded compound file {name}" if name else "uploaded compound file"


def add_compound_routes(app: FastAPI, jobs, view, client_key) -> None:
    """GET /api/compounds, POST /api/compounds/compare (a job)."""

    @app.get("/api/compounds", tags=["compounds"])
    def compounds() -> list[dict]:
        """The compound library: name, title, built-in drug or compound, routes, species and receptors."""
        return services.list_compounds()

    @app.post("/api/compounds/compare", status_code=202, tags=["compounds"])
    def compare(req: CompoundCompareIn, request: Request):
        """Queue a compound's comparison with ketamine 0.5 mg/kg IV under one hypothesis: CADSS, drug liking,
        opioid-pathway load, MADRS against placebo sessions and receptor occupancy, both over time, for a typical
        subject. Poll GET /api/jobs/{id}. Research software, not a dosing tool."""
        if (req.compound is None) == (req.file_text is None):
            return _error(422, "give either a library compound (compound) or a compound file (file_text), "
                               "not both or neither")
        check_choice("hypothesis", req.hypothesis)
        if req.opioid_source is not None:
            check_choice("opioid_source", req.opioid_source)
        from ketasim.mechanisms import get_mechanism

        get_mechanism(req.hypothesis, req.opioid_source)   # a source for a hypothesis without one: 422
        if req.file_text is not None:
            services.check_compound_text(req.file_text, req.file_label())   # a bad file: 422, one sentence
        else:
            from ketasim.compounds import library_names

            if req.compound not in library_names():
                return _error(422, f"unknown compound {req.compound!r}; library: {', '.join(library_names())}, "
                                   f"or upload a compound file (.yaml)")
            if req.doses:
                from ketasim.regimens import Regimen

                services.load_compound(req.compound)
                Regimen.from_text(*req.doses)              # a bad regimen line: 422 before any work
        amount = 4 * req.duration_days                     # two regimens and their placebo sessions
        return view(jobs.submit(work.compare_compound, amount, kind="compound", args=(req, COMPARISON_POINTS),
                                client=client_key(request)))
