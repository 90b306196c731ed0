"""The work behind the web routes, as module-level functions `fn(report, *args)`: the inline route calls them in a
thread of the server, the job queue in a worker process (which needs them picklable by name, hence here and not
as closures in `create_app`). They call `ketasim.services` only and return JSON-ready documents.

`report(fraction, message)` is a job's progress reporter (None inline)."""

from __future__ import annotations

from ketasim import services
from ketasim.web.jobs import JobOutput, accepts_progress, package_progress
from ketasim.web.present import _clean_obj, result_to_json, trial_to_json


def _malloc_trim():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Hand freed heap memory back to the system after a heavy run (glibc keeps it otherwise, per thread arena)."""
    if _TRIM is not None:
        _TRIM(0)


def thin_time_points(doc: dict, max_points: int) -> dict:
    """A simulation answer with at most `max_points` time points: evenly spaced ones, plus each series' highest and
    lowest point (peaks survive). The summary was computed from every point; a warning says what was thinned."""
    t = doc.get("time_h") or []
    n = len(t)
    if n <= max_points or max_points < 3:
        return doc
    import numpy as np

    n_series = sum(1 for s in doc.get("series", {}).values() for k in ("median", "p05", "p95") if s.get(k))
    keep = set(np.linspace(0, n - 1, max(2, max_points - 2 * n_series)).round().astype(int).tolist())
    for s in doc.get("series", {}).values():
        for key in ("median", "p05", "p95"):
            v = s.get(key)
            if v:
                arr = np.array([np.nan if x is None else x for x in v], float)
                if np.isfinite(arr).any():
                    keep.update((int(np.nanargmax(arr)), int(np.nanargmin(arr))))
    if len(keep) > max_points:  # more series than room for their peaks: the even grid alone
        keep = set(np.linspace(0, n - 1, max_points).round().astype(int).tolist())
    idx = sorted(keep)
    pick = lambda v: None if v is None else [v[i] for i in idx]  # noqa: E731
    out = {**doc, "time_h": pick(t), "series": {k: {**s, "median": pick(s.get("median")), "p05": pick(s.get("p05")),
                                                     "p95": pick(s.get("p95"))} for k, s in doc["series"].items()}}
    out["time_points_total"] = n
    out["warnings"] = [*doc.get("warnings", []),
                       f"the time course is shown at {len(idx):,} of its {n:,} time points (evenly spaced, every "
                       f"peak kept); the summary uses all of them. For every point, run it with `ketasim simulate`"]
    return out


def simulate_scenario(report, req, max_points: int) -> dict:
    """One scenario (`ketasim.web.requests.ScenarioIn`): the layers over time, thinned to `max_points`."""
    cfg = req.to_config()
    if report is not None and accepts_progress(services.run_scenario):
        what = f"{req.subjects} subjects" if req.subjects > 1 else "simulating"
        result = services.run_scenario(cfg, progress=package_progress(report, what, end=0.9))
    else:
        result = services.run_scenario(cfg)
    if report is not None:
        report(0.92, "summarising (median and 5-95 % band)" if req.subjects > 1 else "summarising")
    try:
        out = thin_time_points(result_to_json(result, cfg.doses, req.duration_days() * 24.0, cfg.name), max_points)
    finally:
        del result
        release_memory()
    out["observed"] = [pt.model_dump() for pt in req.observed]
    return out


def run_trial(report, req) -> JobOutput:
    """A built-in virtual trial (`ketasim.web.requests.TrialIn`): its summary and its HTML report."""
    kw = dict(replicates=req.replicates, seed=req.seed)
    if req.hypothesis is not None:
        kw["hypothesis"] = req.hypothesis
    if req.opioid_source is not None:
        kw["opioid_source"] = req.opioid_source
    doc, html = services.run_trial_report(req.trial, progress=package_progress(report, "trial arms", end=0.8), **kw)
    report(0.95, "report written")
    return JobOutput(trial_to_json(doc), files={"report": (html, "text/html; charset=utf-8")})


def run_pattern(report, req, info: dict, days: float) -> dict:
    """A built-in use pattern (`patterns_api.PatternRunIn`): the layers over time and its abuse-liability table."""
    result, table = services.run_pattern(req.pattern, subjects=req.subjects, seed=req.seed,
                                         hypothesis=req.hypothesis, opioid_source=req.opioid_source,
                                         progress=package_progress(report, "subjects", end=0.85))
    report(0.9, "summarising")
    out = result_to_json(result, info["doses"], days * 24.0, info["name"])
    out["liability"] = _clean_obj(table)
    out["pattern"] = info
    return out


def run_search(report, req) -> dict:
    """A small regimen search (`patterns_api.SearchIn`): the front, every evaluated regimen, the standards."""
    from ketasim.optimize import run_search as search

    problem = services.optimization_problem(None, **req.model_dump(exclude={"hypotheses"}), hypotheses=req.hypotheses)
    res = search(problem, progress=package_progress(report, "regimens", end=0.95))
    labels = [o.label for o in problem.objectives]
    return _clean_obj({
        "objectives": labels, "hypotheses": problem.hypothesis_labels,
        "robust": problem.robust if len(problem.variants) > 1 else None,
        "front": res.front[["regimen"] + labels].to_dict(orient="records") if len(res.front) else [],
        "evaluated": res.evaluations[labels + ["feasible"]].to_dict(orient="records"),
        "standards": res.standards[["standard", "regimen"] + labels].to_dict(orient="records")
        if len(res.standards) else [],
        "seconds": res.seconds,
        "note": "Research software, not a dosing tool: a model's optimum, not a recommendation."})


def compare_compound(report, req, max_points: int) -> dict:
    """A compound beside ketamine under one hypothesis (`compounds_api.CompoundCompareIn`). An uploaded file travels
    as its text and is registered here, in the worker process that runs the job."""
    doc = services.compound_comparison(
        name=req.compound, text=req.file_text, hypothesis=req.hypothesis, opioid_source=req.opioid_source,
        doses=req.doses or None, duration=f"{req.duration_days:g} d", label=req.file_label(),
        max_points=max_points, progress=package_progress(report, "profile", end=0.95))
    return _clean_obj(doc)
