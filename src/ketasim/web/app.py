"""The ketasim dashboard and JSON API (`ketasim serve`).

Routes call `ketasim.services` only; this module validates, limits, queues and formats.
"""

from __future__ import annotations

import io
import threading
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

import ketasim
from ketasim import services
from ketasim.regimens import Regimen
from ketasim.web import schemas as s
from ketasim.web.jobs import JobManager, QueueFull, accepts_progress
from ketasim.web.options import options as discover_options
from ketasim.web.present import result_to_json

STATIC_DIR = Path(__file__).with_name("static")
_ERR = {422: {"model": s.ErrorOut, "description": "input that cannot be simulated, with the reason"}}
_BUSY = {429: {"model": s.ErrorOut, "description": "server busy: queue full or too many runs at once"}}
_NOTFOUND = {404: {"model": s.ErrorOut, "description": "no such job (finished jobs are kept for a while)"}}


def plotly_js_path() -> Path:
    """plotly.js as bundled in the installed `plotly` wheel (the page never touches a CDN)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def _readable(errors) -> tuple[str, list[dict]]:
    parts, clean = [], []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("body",)]
        where = ""
        for x in loc:
            where += f"[{x}]" if x.isdigit() else (f".{x}" if where else x)
        msg = str(e.get("msg", "invalid value"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if e.get("type") == "json_invalid":
            ctx = e.get("ctx") or {}
            msg = f"request body is not valid JSON ({ctx.get('error', 'cannot be parsed')})"
            where = ""
        elif e.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif e.get("type") == "missing":
            msg = "required field is missing"
        key = loc[-1].replace("_", " ") if loc else ""
        if where and key and msg.startswith(f"{key}: "):
            msg = msg[len(key) + 2:]  # the package already names the field: do not say it twice
        parts.append(f"{where}: {msg}" if where else msg)
        clean.append({"loc": loc, "msg": msg, "type": str(e.get("type", ""))})
    return "; ".join(parts) or "invalid request", clean


def _error(status: int, detail: str, errors: list | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail, "errors": errors or []})


def create_app(max_pending_jobs: int = 4, max_concurrent_sync: int = 2, keep_finished_jobs: int = 8,
               sync_work_cap: float = s.SYNC_WORK_CAP, job_work_cap: float = s.JOB_WORK_CAP) -> FastAPI:
    jobs = JobManager(max_pending=max_pending_jobs, keep_finished=keep_finished_jobs)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        jobs.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="ketasim",
        version=ketasim.__version__,
        description="Dashboard and JSON API of ketasim: dose -> plasma concentrations -> receptor occupancy -> "
                    "immediate effects -> mood. **Research software, not dosing advice.**",
    )
    sync_slots = threading.BoundedSemaphore(max_concurrent_sync)
    app.state.jobs = jobs
    app.state.limits = {"sync_work_cap": sync_work_cap, "job_work_cap": job_work_cap}

    # -- errors: input problems are 422 with a sentence, never a 500 -----------------------------------
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        detail, errors = _readable(exc.errors())
        return _error(422, detail, errors)

    @app.exception_handler(ValueError)
    async def _value_error(_request: Request, exc: ValueError):  # RegimenError, UnitError, ScenarioError, ...
        return _error(422, str(exc) or type(exc).__name__)

    @app.exception_handler(QueueFull)
    async def _queue_full(_request: Request, exc: QueueFull):
        return JSONResponse(status_code=429, content={"detail": str(exc), "errors": []},
                            headers={"Retry-After": "5"})

    # -- work -------------------------------------------------------------------------------------------
    def _simulate(req: s.ScenarioIn, progress=None) -> dict:
        cfg = req.to_config()
        if progress is not None and accepts_progress(services.run_scenario):
            result = services.run_scenario(cfg, progress=progress)
        else:
            result = services.run_scenario(cfg)
        return result_to_json(result, cfg.doses, req.duration_days() * 24.0, cfg.name)

    # -- page -------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # -- API --------------------------------------------------------------------------------------------
    @app.get("/api/health", tags=["meta"])
    def health() -> dict:
        return {"status": "ok", "version": ketasim.__version__, "jobs_pending": jobs.pending()}

    @app.get("/api/options", response_model=s.OptionsOut, tags=["meta"])
    def get_options() -> dict:
        """Drugs, routes, hypotheses and limits of the installed ketasim (the page builds its form from this)."""
        opts = discover_options()
        opts["limits"]["sync_work_cap_subject_days"] = sync_work_cap
        opts["limits"]["job_work_cap_subject_days"] = job_work_cap
        return opts

    @app.get("/api/parameters", response_model=list[s.ParameterOut], tags=["parameters"],
             responses={200: {"content": {"text/csv": {}}}})
    def parameters(format: Literal["json", "csv"] = Query("json", description="json or csv")):
        """Every default parameter with value, unit, source (citation key and entry), evidence and range."""
        from ketasim.citations import bibliography

        frame = ketasim.default_parameters().to_frame()
        if format == "csv":
            buf = io.StringIO()
            frame.to_csv(buf, index=False)
            return Response(buf.getvalue(), media_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="ketasim_parameters.csv"'})
        bib = bibliography()
        rows = []
        for rec in frame.to_dict(orient="records"):
            rec = {k: (None if isinstance(v, float) and v != v else v) for k, v in rec.items()}
            rec["citation"] = bib.get(str(rec.get("source", "")))
            rows.append(rec)
        return rows

    @app.post("/api/simulate", response_model=s.SimulationOut, tags=["simulate"], responses={**_ERR, **_BUSY})
    def simulate(req: s.ScenarioIn):
        """Simulate one scenario now. Small work only (subjects x days <= the sync cap); larger runs: POST /api/jobs."""
        work = req.work()
        if work > sync_work_cap:
            return _error(422, f"this run asks for {work:g} subject-days; POST /api/simulate answers at most "
                               f"{sync_work_cap:g} (subjects x simulated days). Submit it as a job "
                               f"(POST /api/jobs, up to {job_work_cap:g}) or shorten it.")
        if not sync_slots.acquire(timeout=30):
            return _error(429, "the server is busy with other simulations; try again in a moment")
        try:
            return _simulate(req)
        finally:
            sync_slots.release()

    @app.post("/api/jobs", response_model=s.JobOut, status_code=202, tags=["jobs"], responses={**_ERR, **_BUSY})
    def submit_job(req: s.JobIn):
        """Queue a heavier run (up to the job work cap); poll GET /api/jobs/{id} for progress and the result."""
        scen = req.scenario
        work = scen.work()
        if work > job_work_cap:
            return _error(422, f"this run asks for {work:g} subject-days; one job may use at most {job_work_cap:g} "
                               f"(subjects x simulated days). Use fewer subjects or a shorter duration.")
        cfg = scen.to_config()  # fail fast with a 422 rather than a failed job
        Regimen.from_text(*cfg.doses)
        job = jobs.submit(lambda progress: _simulate(scen, progress), work)
        return job.view()

    @app.get("/api/jobs/{job_id}", response_model=s.JobOut, tags=["jobs"], responses=_NOTFOUND)
    def job_status(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            return _error(404, f"no job {job_id!r} (finished jobs are kept only for a while)")
        return job.view()

    @app.delete("/api/jobs/{job_id}", response_model=s.JobOut, tags=["jobs"], responses=_NOTFOUND)
    def cancel_job(job_id: str):
        job = jobs.cancel(job_id)
        if job is None:
            return _error(404, f"no job {job_id!r}")
        return job.view()

    return app


def serve(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Run the dashboard with uvicorn (blocking)."""
    import uvicorn

    print(f"ketasim dashboard on http://{host}:{port}/  (research software, not dosing advice)")
    uvicorn.run(create_app(), host=host, port=port, log_level="info")
