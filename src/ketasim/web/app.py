"""The ketasim dashboard and JSON API (`ketasim serve`).

Routes call `ketasim.services` only; this module validates, limits, queues and formats.
"""

from __future__ import annotations

import io
import math
import threading
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Literal

import anyio
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

import ketasim
from ketasim import services
from ketasim.io.schemas import plain_message
from ketasim.regimens import Regimen
from ketasim.web import limits
from ketasim.web import requests as rq
from ketasim.web import responses as rs
from ketasim.web.errors import WebInputError, error_response as _error
from ketasim.web.guard import LOOPBACK_NAMES, RequestGuard
from ketasim.web import work
from ketasim.web.jobs import JobManager, QueueFull, default_workers
from ketasim.web.options import options as discover_options
from ketasim.web.compounds_api import add_compound_routes
from ketasim.web.patterns_api import add_pattern_routes
from ketasim.web.work import release_memory, thin_time_points  # noqa: F401 - part of this module's interface

STATIC_DIR = Path(__file__).with_name("static")
_ERR = {422: {"model": rs.ErrorOut, "description": "input that cannot be simulated, with the reason"}}
_BUSY = {429: {"model": rs.ErrorOut, "description": "server busy: queue full or too many runs at once"}}
_NOTFOUND = {404: {"model": rs.ErrorOut, "description": "no such job (finished jobs are kept for a while)"}}
_NOREPORT = {404: {"model": rs.ErrorOut, "description": "no such job, or it has no report (not a trial)"},
             409: {"model": rs.ErrorOut, "description": "the job has not finished (or failed): no report yet"}}
# The trial report is the package's self-contained HTML (inline CSS, images as data: URLs): it may load nothing.
_REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


def plotly_js_path() -> Path:
    """plotly.js as bundled in the installed `plotly` wheel (the page never touches a CDN)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


SWAGGER_FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
                 "favicon-32x32.png": "image/png"}


def swagger_ui_dir() -> Path | None:
    """Swagger UI (5.x, which reads OpenAPI 3.1) as shipped in the `swagger-ui-py` package, served by the app:
    /docs needs no CDN. None when that package is missing."""
    try:
        import swagger_ui
    except ImportError:
        return None
    folder = Path(swagger_ui.__file__).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def _readable(errors) -> tuple[str, list[dict]]:
    parts, clean = [], []
    for e in errors:
        loc = [str(x) for x in e.get("loc", ()) if x not in ("body",)]
        where = ""
        for x in loc:
            where += f"[{x}]" if x.isdigit() else (f".{x}" if where else x)
        msg = plain_message(e)  # the package's own sentence, or pydantic's in plain words
        if e.get("type") == "json_invalid":
            ctx = e.get("ctx") or {}
            msg = f"request body is not valid JSON ({ctx.get('error', 'cannot be parsed')})"
            where = ""
        elif e.get("type") == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif e.get("type") == "missing":
            msg = "required field is missing; add it"
        key = loc[-1].replace("_", " ") if loc else ""
        if where and key and msg.startswith(f"{key}: "):
            msg = msg[len(key) + 2:]  # the package already names the field: do not say it twice
        parts.append(f"{where}: {msg}" if where else msg)
        clean.append({"loc": loc, "msg": msg, "type": str(e.get("type", ""))})
    return "; ".join(parts) or "invalid request", clean


def client_key(request: Request) -> str:
    """Who asks, for the per-client job limit and fair scheduling: the peer's address (every page and script on
    one machine counts as one client)."""
    return request.client.host if request.client is not None else "unknown"


def create_app(max_pending_jobs: int | None = None, max_concurrent_sync: int = 2, keep_finished_jobs: int = 8,
               sync_work_cap: float = limits.SYNC_WORK_CAP, job_work_cap: float = limits.JOB_WORK_CAP,
               max_trial_replicates: int = limits.MAX_REPLICATES, trial_work_cap: float = limits.TRIAL_WORK_CAP,
               token: str | None = None, allowed_hosts=None, max_body_bytes: int = limits.MAX_BODY_BYTES,
               max_response_points: int = limits.MAX_RESPONSE_POINTS,
               sync_max_administrations: int = limits.SYNC_MAX_ADMINISTRATIONS, job_workers: int | None = None,
               job_processes: bool = True, max_jobs_per_client: int | None = limits.MAX_JOBS_PER_CLIENT) -> FastAPI:
    """The app. Caps: subject-days per inline simulation and per population job; replicates and subject-days
    per trial job; jobs waiting or running (beyond that: 429); finished jobs (and their reports) kept.

    Inline simulations run in `max_concurrent_sync` heavy slots of their own; when all are busy the answer is 429
    at once (never a wait that would tie up the server's threads), and `/api/health` and the other cheap routes
    never wait behind them. `token` (None: none needed), `allowed_hosts` (None: any Host header) and
    `max_body_bytes` configure the request guard (ketasim.web.guard); `ketasim serve` sets all three.

    Jobs run `job_workers` at once (None: one per CPU, at least 1), each in a worker process of its own unless
    `job_processes` is False (then in threads of this process); at most `max_pending_jobs` wait or run (None: twice
    the workers, at least 4), at most `max_jobs_per_client` from one client (None: no per-client limit)."""
    workers = default_workers() if job_workers is None else max(1, int(job_workers))
    if max_pending_jobs is None:
        max_pending_jobs = max(4, 2 * workers)
    jobs = JobManager(max_pending=max_pending_jobs, keep_finished=keep_finished_jobs, workers=workers,
                      processes=job_processes, max_per_client=max_jobs_per_client)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # the shared pool serves only quick routes: a few threads suffice, and each thread that allocates gets a
        # malloc arena of its own whose memory the process keeps (40 threads let RSS creep up under load)
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(4, max_concurrent_sync + 2)
        yield
        jobs.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,   # FastAPI's own /docs and /redoc load their code from a CDN; /docs below is served locally
        redoc_url=None,
        title="ketasim",
        version=ketasim.__version__,
        description="Dashboard and JSON API of ketasim: dose -> plasma concentrations -> receptor occupancy -> "
                    "immediate effects -> mood. **Research software, not dosing advice.**",
    )
    app.add_middleware(RequestGuard, token=token, allowed_hosts=allowed_hosts, max_body_bytes=max_body_bytes)
    sync_slots = threading.BoundedSemaphore(max_concurrent_sync)
    heavy_threads = anyio.CapacityLimiter(max_concurrent_sync)  # their own threads: the shared pool stays free
    app.state.jobs = jobs
    max_trial_replicates = int(min(max_trial_replicates, limits.MAX_REPLICATES))
    app.state.limits = {"sync_work_cap": sync_work_cap, "job_work_cap": job_work_cap,
                        "max_trial_replicates": max_trial_replicates, "trial_work_cap": trial_work_cap}

    # -- errors: input problems are 422 with a sentence, never a 500 -----------------------------------
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        detail, errors = _readable(exc.errors())
        return _error(422, detail, errors)

    @app.exception_handler(ValueError)
    async def _value_error(_request: Request, exc: ValueError):  # RegimenError, UnitError, ScenarioError, ...
        return _error(422, str(exc) or type(exc).__name__)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException):
        detail = str(exc.detail)
        if detail == "There was an error parsing the body":
            detail = "the request body cannot be read as JSON (malformed, or nested too deeply); send a scenario " \
                     "object as GET /openapi.json describes"
        return _error(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(QueueFull)
    async def _queue_full(_request: Request, exc: QueueFull):
        return _error(429, str(exc), headers={"Retry-After": "5"})

    # -- work -------------------------------------------------------------------------------------------
    def _view(job) -> dict:
        v = job.view()
        if job.kind == "trial" and isinstance(v.get("result"), dict):
            v["result"] = {**v["result"], "report_url": v["files"].get("report")}
        return v

    # -- page -------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/swagger/{name}", include_in_schema=False)
    def swagger_file(name: str) -> FileResponse:
        folder = swagger_ui_dir()
        if folder is None or name not in SWAGGER_FILES:
            raise HTTPException(404, f"no such file: /static/swagger/{name}")
        return FileResponse(folder / name, media_type=SWAGGER_FILES[name],
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        """Swagger UI over /openapi.json, from files this server holds (works offline)."""
        from fastapi.openapi.docs import get_swagger_ui_html

        if swagger_ui_dir() is None:
            return HTMLResponse("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>ketasim API"
                                "</title></head><body><h1>ketasim API</h1><p>The interactive page needs the "
                                "package swagger-ui-py (pip install 'ketasim[web]'). The schema: "
                                "<a href='/openapi.json'>/openapi.json</a>.</p><p><strong>Research software, not "
                                "dosing advice.</strong></p></body></html>")
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="ketasim API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # -- API --------------------------------------------------------------------------------------------
    @app.get("/api/health", tags=["meta"])
    async def health() -> dict:
        """Liveness (no token needed). Answered on the event loop: it never waits for a thread."""
        return {"status": "ok", "version": ketasim.__version__, "jobs_pending": jobs.pending()}

    @app.get("/api/options", response_model=rs.OptionsOut, tags=["meta"])
    def get_options() -> dict:
        """Drugs, routes, hypotheses and limits of the installed ketasim (the page builds its form from this)."""
        opts = discover_options()
        opts["limits"]["sync_work_cap_subject_days"] = sync_work_cap
        opts["limits"]["job_work_cap_subject_days"] = job_work_cap
        opts["limits"]["max_trial_replicates"] = float(max_trial_replicates)
        opts["limits"]["trial_work_cap_subject_days"] = trial_work_cap
        return opts

    # /api/params is the short name of the same route (both documented in the OpenAPI schema)
    @app.get("/api/parameters", response_model=list[rs.ParameterOut], tags=["parameters"],
             responses={200: {"content": {"text/csv": {}}}})
    @app.get("/api/params", response_model=list[rs.ParameterOut], tags=["parameters"],
             responses={200: {"content": {"text/csv": {}}}}, summary="Parameters (alias of /api/parameters)")
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

    @app.post("/api/simulate", response_model=rs.SimulationOut, tags=["simulate"], responses={**_ERR, **_BUSY})
    async def simulate(req: rq.ScenarioIn):
        """Simulate one scenario now. Small work only (subjects x days <= the sync cap, a few hundred doses);
        larger runs: POST /api/jobs. When every inline slot is busy the answer is 429 at once (retry shortly)."""
        amount = req.work()
        if amount > sync_work_cap:
            return _error(422, f"this run asks for {amount:g} subject-days; POST /api/simulate answers at most "
                               f"{sync_work_cap:g} (subjects x simulated days). Submit it as a job "
                               f"(POST /api/jobs, up to {job_work_cap:g}) or shorten it.")
        n_doses = req.administrations()
        if n_doses > sync_max_administrations:
            return _error(422, f"this regimen gives {n_doses} doses; POST /api/simulate answers at most "
                               f"{sync_max_administrations}. Submit it as a job (POST /api/jobs).")
        await anyio.to_thread.run_sync(req.to_config)  # every package check (422) before a slot is taken
        if not sync_slots.acquire(blocking=False):
            return _error(429, f"all {max_concurrent_sync} inline simulation slots are busy; try again in a moment "
                               f"or submit a job (POST /api/jobs)", headers={"Retry-After": "2"})
        try:
            return await anyio.to_thread.run_sync(work.simulate_scenario, None, req, max_response_points,
                                                  limiter=heavy_threads)
        finally:
            sync_slots.release()

    @app.post("/api/jobs", response_model=rs.JobOut, status_code=202, tags=["jobs"], responses={**_ERR, **_BUSY})
    def submit_job(req: rq.JobIn, request: Request):
        """Queue a heavier run (up to the job work cap); poll GET /api/jobs/{id} for progress and the result."""
        scen = req.scenario
        amount = scen.work()
        if amount > job_work_cap:
            return _error(422, f"this run asks for {amount:g} subject-days; one job may use at most {job_work_cap:g} "
                               f"(subjects x simulated days). Use fewer subjects or a shorter duration.")
        cfg = scen.to_config()  # fail fast with a 422 rather than a failed job
        Regimen.from_text(*cfg.doses)
        job = jobs.submit(work.simulate_scenario, amount, kind="scenario", args=(scen, max_response_points),
                          client=client_key(request))
        return _view(job)

    # -- trials -----------------------------------------------------------------------------------------
    @app.get("/api/trials", response_model=list[rs.TrialInfoOut], tags=["trials"])
    def trials() -> list[dict]:
        """The built-in virtual trials (run one with POST /api/trials/run)."""
        out = []
        for t in rq.trial_catalogue().values():
            probe = rq.TrialIn(trial=t["name"], replicates=1)
            out.append({**t, "citation": t.get("citation") or None, "work_per_replicate": probe.work()})
        return out

    @app.post("/api/trials/run", response_model=rs.JobOut, status_code=202, tags=["trials"],
              responses={**_ERR, **_BUSY})
    def run_trial(req: rq.TrialIn, request: Request):
        """Queue a built-in virtual trial under one hypothesis. Poll GET /api/jobs/{id}: progress, then the
        trial summary (arms, endpoints, comparisons, observed vs model); the report is GET /api/jobs/{id}/report.
        To compare hypotheses, submit one run per hypothesis."""
        if req.replicates > max_trial_replicates:
            return _error(422, f"replicates: this server runs at most {max_trial_replicates} replicate trials "
                               f"per job, got {req.replicates}")
        amount = req.work()
        if amount > trial_work_cap:
            per = amount / req.replicates
            most = int(trial_work_cap // per) if per > 0 else 0
            hint = f"use at most {most} replicates" if most >= 1 else "this trial is too large for this server"
            return _error(422, f"this trial run asks for {amount:g} subject-days (replicates x subjects x days); "
                               f"one trial job may use at most {trial_work_cap:g}: {hint}")
        job = jobs.submit(work.run_trial, amount, kind="trial", args=(req,), client=client_key(request))
        return _view(job)

    @app.get("/api/jobs/{job_id}", response_model=rs.JobOut, tags=["jobs"], responses=_NOTFOUND)
    def job_status(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            return _error(404, f"no job {job_id!r} (finished jobs are kept only for a while)")
        return _view(job)

    @app.get("/api/jobs/{job_id}/report", response_class=HTMLResponse, tags=["trials"], responses=_NOREPORT)
    def job_report(job_id: str, download: bool = Query(False, description="as an attachment (report.html)")):
        """The self-contained HTML report of a finished trial job (figures inline)."""
        job = jobs.get(job_id)
        if job is None:
            return _error(404, f"no job {job_id!r} (finished jobs are kept only for a while)")
        if job.kind != "trial":
            return _error(404, f"job {job_id!r} is a {job.kind} run; only trial runs have a report")
        if job.status != "done" or "report" not in job.files:
            why = job.error if job.status == "failed" else f"it is {job.status}"
            return _error(409, f"job {job_id!r} has no report: {why}")
        text, media = job.files["report"]
        headers = {"Content-Security-Policy": _REPORT_CSP, "X-Content-Type-Options": "nosniff"}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="ketasim_trial_{job_id}_report.html"'
        return HTMLResponse(text, media_type=media, headers=headers)

    # use patterns and the regimen optimiser (their own module)
    add_pattern_routes(app, jobs, _view, client_key)
    # the compound library and a compound's comparison with ketamine (their own module)
    add_compound_routes(app, jobs, _view, client_key)

    @app.delete("/api/jobs/{job_id}", response_model=rs.JobOut, tags=["jobs"], responses=_NOTFOUND)
    def cancel_job(job_id: str):
        """Cancel a job: a queued one at once, a running one as soon as its worker process is stopped (well
        under a second). Its status then reads "cancelled"; a finished job is left as it is."""
        job = jobs.cancel(job_id)
        if job is None:
            return _error(404, f"no job {job_id!r}")
        return _view(job)

    return app


def is_loopback(host: str) -> bool:
    import ipaddress

    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bound_host_names(host: str) -> list[str]:
    """The names a browser may put in the Host header for a server bound to `host`: the loopback names, the
    address itself, and for all interfaces (0.0.0.0, ::) this machine's names and addresses."""
    import socket

    names = {*LOOPBACK_NAMES, host.strip().strip("[]").lower()}
    if host in ("0.0.0.0", "::", ""):
        try:
            fqdn = socket.getfqdn()
            hostname = socket.gethostname()
            names.update({fqdn.lower(), hostname.lower()})
            for n in (hostname, fqdn):
                names.update(a.lower() for a in socket.gethostbyname_ex(n)[2])
        except OSError:
            pass
    return sorted(names)


class ServeError(ValueError):
    """`ketasim serve` asked to do something unsafe without saying so."""


def serve(host: str = "127.0.0.1", port: int = 8765, allow_remote: bool = False, token: str | None = "auto") -> None:
    """Run the dashboard with uvicorn (blocking).

    Loopback only unless `allow_remote`; with a token (a fresh random one unless given; None: no token, allowed on
    loopback only) printed in the start-up URL, as Jupyter does. Only the host names the server is bound to are
    answered (DNS rebinding)."""
    import secrets

    import uvicorn

    if not is_loopback(host) and not allow_remote:
        raise ServeError(f"--host {host} is not a loopback address: anyone who can reach this machine could run "
                         f"simulations on it. Add --allow-remote to serve it anyway (a token is then required)")
    if token is None and not is_loopback(host):
        raise ServeError("--no-token is allowed on a loopback address only")
    if token == "auto":
        token = secrets.token_urlsafe(24)
    shown = "localhost" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"ketasim dashboard on {url}  (research software, not dosing advice)", flush=True)
    if not is_loopback(host):
        print(f"warning: serving on {host}, reachable from other machines; every request needs the token",
              flush=True)
    app = create_app(token=token, allowed_hosts=bound_host_names(host))
    uvicorn.run(app, host=host, port=port, log_level="info")
