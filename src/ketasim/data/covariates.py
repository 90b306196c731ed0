"""Per-subject covariate tables (CSV) and observed data for figures.

Covariate CSV: one row per subject, columns named with their unit: `id` (optional), `weight_kg`, `age_y`,
`sex` (female/male), `cyp2b6` (*1/*1, *1/*6, *6/*6), `baseline_madrs` (points); any subset, the rest are drawn
or default. NONMEM-style names WT, AGE, SEX, CYP2B6, BMADRS are accepted too.

Observed data (`read_observed`): a NONMEM-style data set (observation records), or a CSV in long form
(`time_h, output, value` with optional `id`, `sd` or `lower`/`upper`) or wide form (`time_h` and output
columns such as `ketamine_ng_ml`, each with an optional `<column>_sd`). Units are the outputs' own (ng/mL,
points, fractions); time in hours (`time_min` or `time_d` columns are converted).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .nonmem import COVARIATE_COLUMNS, DatasetError, _cyp, _sex

LIMITS = {"weight_kg": (20.0, 250.0, "kg"), "age_y": (12.0, 100.0, "years"), "baseline_madrs": (0.0, 60.0, "points")}


def _read_csv(path: Path) -> tuple[pd.DataFrame, int]:
    if not path.exists():
        raise DatasetError(f"file {path} does not exist")
    text = path.read_text(encoding="utf-8-sig").splitlines()
    skip = 0
    while skip < len(text) and (not text[skip].strip() or text[skip].lstrip().startswith("#")):
        skip += 1
    try:
        df = pd.read_csv(path, comment="#", dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{path.name}: cannot be read as CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [c.strip() for c in df.columns]
    return df, skip + 2   # file line number of the first record


def read_covariates(path) -> pd.DataFrame:
    """The covariate table: id plus the named covariates, checked (one error naming line and column)."""
    path = Path(path)
    df, first = _read_csv(path)
    out = pd.DataFrame()
    known = {c: COVARIATE_COLUMNS[c] for c in df.columns if c in COVARIATE_COLUMNS}
    unknown = [c for c in df.columns if c not in COVARIATE_COLUMNS and c.lower() not in ("id",)]
    if unknown:
        raise DatasetError(f"{path.name}, column {unknown[0]}: unknown covariate; columns are id, weight_kg, age_y, "
                           "sex, cyp2b6, baseline_madrs (or WT, AGE, SEX, CYP2B6, BMADRS)")
    if len(df) == 0:
        raise DatasetError(f"{path.name}: no subjects")
    idcol = next((c for c in df.columns if c.lower() == "id"), None)
    if idcol:
        ids = []
        for i, v in enumerate(df[idcol]):
            try:
                ids.append(int(float(v)))
            except (TypeError, ValueError):
                raise DatasetError(f"{path.name} line {first + i}, column {idcol}: {v!r} is not a whole number") from None
        if len(set(ids)) != len(ids):
            raise DatasetError(f"{path.name}, column {idcol}: subject ids repeat")
        out["id"] = np.array(ids, np.int64)
    else:
        out["id"] = np.arange(len(df), dtype=np.int64)
    for col, name in known.items():
        cells = df[col].to_numpy()
        if name == "sex":
            out[name] = [_sex(c, first + i, path.name, col) for i, c in enumerate(cells)]
        elif name == "cyp2b6":
            out[name] = [_cyp(c, first + i, path.name, col) for i, c in enumerate(cells)]
        else:
            lo, hi, unit = LIMITS[name]
            vals = []
            for i, c in enumerate(cells):
                try:
                    v = float(c)
                except (TypeError, ValueError):
                    raise DatasetError(f"{path.name} line {first + i}, column {col}: {c!r} is not a number") from None
                if not (math.isfinite(v) and lo <= v <= hi):
                    raise DatasetError(f"{path.name} line {first + i}, column {col}: {c} is outside {lo:g}-{hi:g} "
                                       f"{unit}")
                vals.append(v)
            out[name] = vals
    return out


def read_observed(path) -> pd.DataFrame:
    """Observed points: id, time_h, output, value, lower, upper (lower/upper NaN where no error bar is given)."""
    from ketasim.models.outputs import units as output_units

    path = Path(path)
    head = "\n".join(ln for ln in path.read_text(encoding="utf-8-sig").splitlines()[:50]
                     if ln.strip() and not ln.lstrip().startswith("#")) if path.exists() else ""
    first = head.splitlines()[0] if head else ""
    cols = [c.strip() for c in (first.split(",") if "," in first else first.split())]
    if "DV" in cols and "TIME" in cols:
        from .nonmem import read_nonmem

        obs = read_nonmem(path).observations()
        obs["lower"] = np.nan
        obs["upper"] = np.nan
        return obs
    df, first_line = _read_csv(path)
    time_col = next((c for c in ("time_h", "time_min", "time_d") if c in df.columns), None)
    if time_col is None:
        raise DatasetError(f"{path.name}: no time column; name it time_h (or time_min, time_d), or give a NONMEM-style "
                           "data set (ID, TIME, DV, ...)")
    scale = {"time_h": 1.0, "time_min": 1 / 60, "time_d": 24.0}[time_col]

    def num(col):
        vals = []
        for i, c in enumerate(df[col].to_numpy()):
            if c is None or (isinstance(c, float) and math.isnan(c)) or str(c).strip() in ("", ".", "NA"):
                vals.append(np.nan)
                continue
            try:
                vals.append(float(c))
            except ValueError:
                raise DatasetError(f"{path.name} line {first_line + i}, column {col}: {c!r} is not a number") from None
        return np.array(vals)

    t = num(time_col) * scale
    ids = num("id").astype(np.int64) if "id" in df.columns else np.zeros(len(df), np.int64)
    parts = []
    if "output" in df.columns and "value" in df.columns:
        outs = df["output"].str.strip().to_numpy()
        for i, o in enumerate(outs):
            if o not in output_units():
                raise DatasetError(f"{path.name} line {first_line + i}, column output: {o!r} is not an output column "
                                   f"(e.g. ketamine_ng_ml, cadss, madrs)")
        v = num("value")
        lo, hi = _bars(df, num, "sd", "lower", "upper", v)
        parts.append(pd.DataFrame({"id": ids, "time_h": t, "output": outs, "value": v, "lower": lo, "upper": hi}))
    else:
        outs = [c for c in df.columns if c in output_units()]
        if not outs:
            raise DatasetError(f"{path.name}: no output column (e.g. ketamine_ng_ml, cadss, madrs) and no "
                               "output/value columns")
        for o in outs:
            v = num(o)
            lo, hi = _bars(df, num, f"{o}_sd", f"{o}_lower", f"{o}_upper", v)
            parts.append(pd.DataFrame({"id": ids, "time_h": t, "output": o, "value": v, "lower": lo, "upper": hi}))
    obs = pd.concat(parts, ignore_index=True)
    return obs[np.isfinite(obs["value"]) & np.isfinite(obs["time_h"])].reset_index(drop=True)


def _bars(df, num, sd, lower, upper, v):
    if sd in df.columns:
        s = num(sd)
        return v - s, v + s
    if lower in df.columns and upper in df.columns:
        return num(lower), num(upper)
    return np.full(len(v), np.nan), np.full(len(v), np.nan)
