"""Turn a `Result` or `PopulationResult` into the JSON the dashboard draws: columns grouped into layers by
name, and for a population the median with a 5-95 % band per time point (a display summary, not a model
calculation); and a trial's summary document into JSON-safe form."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ketasim.models.spec import PANELS, panel

_HIDDEN = re.compile(r"(^id$|^time_h$)")


def layer_of(column: str, output_info: dict) -> str:
    """The dashboard layer of an output column: its declared panel's key ("other" for unknown columns)."""
    o = output_info.get(column)
    return panel(o.panel).key if o is not None else "other"


def layers_for(columns, output_info: dict) -> list[dict]:
    """The dashboard's layers: the core ones always (empty where the model has no output there), then every
    other panel the columns use, in the declared order."""
    used: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for c in columns:
        o = output_info.get(c)
        p = panel(o.panel) if o is not None else panel("other")
        used.setdefault(p.key, []).append(c)
        titles[p.key] = p.title
    core = [p for p in PANELS if p.core]
    out = [{"key": p.key, "title": p.title, "columns": used.get(p.key, [])} for p in core]
    for p in PANELS:
        if not p.core and p.key in used:
            out.append({"key": p.key, "title": p.title, "columns": used[p.key]})
    known = {p.key for p in PANELS}
    out += [{"key": k, "title": titles[k], "columns": cols} for k, cols in used.items() if k not in known]
    return out


def _clean(values) -> list[float | None]:
    """Floats for JSON: NaN and infinities become null."""
    arr = np.asarray(values, dtype=float)
    return [float(v) if math.isfinite(v) else None for v in arr.tolist()]


def _clean_obj(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_obj(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def _population(df, columns, time_col="time_h"):
    """(time, {col: (median, p05, p95)}) for a frame with several subject ids."""
    df = df.sort_values(["id", time_col], kind="stable")
    ids = df["id"].to_numpy()
    n_ids = len(np.unique(ids))
    t_all = df[time_col].to_numpy(dtype=float)
    n_t = len(t_all) // n_ids if n_ids else 0
    same_grid = n_ids * n_t == len(df) and n_t > 0 and np.allclose(
        t_all.reshape(n_ids, n_t), t_all[:n_t][None, :], equal_nan=True)
    out = {}
    if same_grid:
        t = t_all[:n_t]
        for c in columns:
            m = df[c].to_numpy(dtype=float).reshape(n_ids, n_t)
            with np.errstate(all="ignore"):
                q = np.nanquantile(m, [0.5, 0.05, 0.95], axis=0) if np.isfinite(m).any() else \
                    np.full((3, n_t), np.nan)
            out[c] = (q[0], q[1], q[2])
        return t, out
    g = df.groupby(time_col)[list(columns)]
    q = {p: g.quantile(p) for p in (0.5, 0.05, 0.95)}
    t = q[0.5].index.to_numpy(dtype=float)
    for c in columns:
        out[c] = (q[0.5][c].to_numpy(), q[0.05][c].to_numpy(), q[0.95][c].to_numpy())
    return t, out


def _label(column: str, info: dict) -> str:
    o = info.get(column)
    return o.label if o is not None else column


def _administrations(result, limit: int = 500) -> list[dict]:
    reg = getattr(result, "regimen", None)
    if reg is None:
        return []
    return [{"drug": d.drug, "time_h": float(d.time_h), "duration_h": float(d.duration_h)}
            for d in reg.realize()[:limit]]


def result_to_json(result, doses: list[str], duration_h: float, name: str) -> dict:
    df = result.to_pandas()
    info = result.output_info
    columns = [c for c in df.columns if not _HIDDEN.search(c) and not (c in info and info[c].detail)]
    units = dict(getattr(result, "units", {}) or {})
    n_ids = int(df["id"].nunique()) if "id" in df.columns and len(df) else 1
    series: dict[str, dict] = {}
    if n_ids > 1:
        t, qs = _population(df, columns)
        for c in columns:
            med, lo, hi = qs[c]
            series[c] = {"unit": units.get(c, ""), "layer": layer_of(c, info), "median": _clean(med),
                         "p05": _clean(lo), "p95": _clean(hi), "label": _label(c, info)}
    else:
        t = df["time_h"].to_numpy(dtype=float)
        for c in columns:
            series[c] = {"unit": units.get(c, ""), "layer": layer_of(c, info), "median": _clean(df[c].to_numpy()),
                         "p05": None, "p95": None, "label": _label(c, info)}
    try:
        summary = result.summary()
    except Exception:  # noqa: BLE001 - a summary that fails must not hide the time course
        summary = {}
    return {
        "name": name,
        "doses": list(doses),
        "duration_h": float(duration_h),
        "n_subjects": n_ids,
        "time_h": _clean(t),
        "layers": layers_for(columns, info),
        "series": series,
        "summary": _clean_obj({k: v for k, v in summary.items() if not (k in info and info[k].detail)}),
        "warnings": [str(w) for w in (getattr(result, "warnings", None) or [])],
        "administrations": _administrations(result),
        "note": "Research software, not dosing advice.",
    }


def trial_to_json(doc: dict) -> dict:
    """The package's trial.json document, made JSON-safe (NaN -> null) for GET /api/jobs/{id}."""
    out = _clean_obj(dict(doc))
    out.setdefault("observed_vs_model", [])
    out.setdefault("comparisons", [])
    out.setdefault("arms", {})
    return out
