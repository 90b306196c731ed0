"""NONMEM-style data sets: read them as regimens, sampling times, observations and covariates; write them from
any simulation.

Columns (NONMEM Users Guide VI ch. V and the NONMEM help pages for EVID, MDV, CMT, RATE, SS, II, ADDL):

| column | meaning here |
|---|---|
| ID | subject; a subject's records are contiguous |
| TIME | event time, **h** (another unit with `time_unit=` or a `# units: TIME=min` header line); must not decrease within a subject, except after a reset (EVID 3 or 4) |
| EVID | 0 observation; 1 dose; 2 other-type (a prediction time; with DRUG=placebo, an inert session); 3 reset (every amount and every model state back to its initial value, pending additional doses and running infusions cancelled); 4 reset, then dose. Without an EVID column: AMT > 0 is a dose, anything else an observation |
| AMT | dose, **mg**; 0 on non-dose records |
| RATE | 0 bolus (or an infusion given by DUR); > 0 infusion at RATE mg/h (duration AMT/RATE); -2 duration from the DUR column; -1 (rate modelled) is not supported |
| DUR | infusion duration, h (rxode2's column) |
| II, ADDL | ADDL additional doses every II h after this one |
| SS | 0 none; 1 (or 3) steady state: amounts reset to those after infinitely many doses every II h (prior amounts zeroed, pending additional doses cancelled), then this dose; 2 (add steady state to the current amounts) and constant-infusion steady state (AMT 0, RATE > 0, II 0) are not supported |
| MDV | 0 the DV is an observation; 1 missing (a prediction time only); 100 / 101 as 0 / 1 (kept out of estimation); dose and reset records must have MDV 1 |
| CMT | dose records: where the dose goes (the route; see DOSE_COMPARTMENTS); observation records without DVID: which output (see OUTPUT_IDS) |
| DVID | which output an observation is (OUTPUT_IDS); its unit is the output's (ng/mL for plasma concentrations, points for rating scales, fractions for occupancy) |
| DV | the observed value in that unit; '.' is missing |
| DRUG | optional text: ketamine, esketamine, arketamine, naltrexone or placebo (ketamine where CMT 1-5 and no DRUG) |
| WT, AGE, SEX, CYP2B6, BMADRS | covariates: kg, years, female/male (or 1 = female, 0 = male), genotype (*1/*1, *1/*6, *6/*6, or the count of *6 alleles 0/1/2), baseline MADRS points; also read as weight_kg, age_y, sex, cyp2b6, baseline_madrs |

Lines starting with '#' are comments (NONMEM's default IGNORE=#); the first other line names the columns
(IGNORE=@ in a control stream). A malformed file is one `DatasetError` naming the line and the column.

pharmpy-core (2.2) reads NONMEM data sets only as part of a NONMEM model (its $INPUT and $DATA records) and
does not turn dosing records into the dose events a simulator needs, so this module reads and writes them
itself, following the NONMEM help pages.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ketasim.regimens import Dose, Regimen, RegimenError

# dose compartment (CMT on a dose record) -> route, and the drug when no DRUG column says otherwise
DOSE_COMPARTMENTS: dict[int, tuple[str, str]] = {
    1: ("iv", "ketamine"), 2: ("oral", "ketamine"), 3: ("intranasal", "ketamine"), 4: ("im", "ketamine"),
    5: ("sublingual", "ketamine"), 6: ("oral", "naltrexone"),
}
ROUTE_COMPARTMENT = {"iv": 1, "oral": 2, "intranasal": 3, "im": 4, "sublingual": 5}
# output id (DVID, or CMT on an observation record without DVID) -> output column
OUTPUT_IDS: dict[int, str] = {
    1: "ketamine_ng_ml", 2: "norketamine_ng_ml", 3: "hnk_ng_ml", 4: "dhnk_ng_ml", 5: "naltrexone_ng_ml",
    6: "naltrexol_ng_ml", 7: "ketamine_S_ng_ml", 8: "ketamine_R_ng_ml", 11: "nmda_occupancy", 12: "mor_occupancy",
    13: "kor_occupancy", 14: "mor_agonist_signal", 15: "plasticity", 16: "opioid_signal", 21: "cadss",
    22: "euphoria", 23: "madrs", 24: "hamd17",
}
OUTPUT_ID_OF = {v: k for k, v in OUTPUT_IDS.items()}
NUMERIC_COLUMNS = ("ID", "TIME", "EVID", "AMT", "RATE", "DUR", "II", "ADDL", "SS", "MDV", "CMT", "DVID", "DV")
COVARIATE_COLUMNS = {"WT": "weight_kg", "AGE": "age_y", "SEX": "sex", "CYP2B6": "cyp2b6", "BMADRS": "baseline_madrs",
                     "weight_kg": "weight_kg", "age_y": "age_y", "sex": "sex", "cyp2b6": "cyp2b6",
                     "baseline_madrs": "baseline_madrs"}
TIME_UNITS = {"h": 1.0, "hr": 1.0, "hour": 1.0, "min": 1 / 60, "d": 24.0, "day": 24.0}
# steady state: implied earlier doses cover this long (longest PK half-life ~1 d, mediator half-life 3 d)
SS_HORIZON_H = 24.0 * 28
MAX_IMPLIED_DOSES = 400


class DatasetError(ValueError):
    """A data set that cannot be read as written: one line naming the line and the column."""


@dataclass
class Segment:
    """Records between two resets of one subject: doses and the records to predict, on the data's clock."""

    start_h: float
    doses: list[Dose] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)   # positions (in the records table) predicted in this segment

    def regimen(self) -> Regimen:
        return Regimen(tuple(self.doses))


@dataclass
class SubjectData:
    id: int
    covariates: dict
    segments: list[Segment]


@dataclass
class NonmemDataset:
    """A read data set: the records (one row per file record, columns normalised, `line` = file line number,
    `output` = the output column an observation refers to) and each subject's segments."""

    records: pd.DataFrame
    subjects: list[SubjectData]
    path: str = ""
    time_unit: str = "h"

    def observations(self) -> pd.DataFrame:
        """Observed values: id, time_h, output, value (rows with MDV 0 or 100)."""
        r = self.records
        obs = r[(r["EVID"] == 0) & r["MDV"].isin([0, 100]) & r["output"].notna()]
        return pd.DataFrame({"id": obs["ID"].astype(np.int64).to_numpy(), "time_h": obs["TIME"].to_numpy(float),
                             "output": obs["output"].to_numpy(), "value": obs["DV"].to_numpy(float)})

    def covariates(self) -> pd.DataFrame:
        return pd.DataFrame([{"id": s.id, **s.covariates} for s in self.subjects])

    def regimens(self) -> dict[int, list[Regimen]]:
        return {s.id: [seg.regimen() for seg in s.segments] for s in self.subjects}

    def sampling_times(self) -> dict[int, np.ndarray]:
        r = self.records
        return {int(i): g.loc[g["EVID"].isin([0, 2]), "TIME"].to_numpy(float) for i, g in r.groupby("ID", sort=False)}


# ----------------------------------------------------------------------------------------------------------
# reading
def _err(label: str, line: int | None, column: str | None, msg: str) -> DatasetError:
    where = label
    if line is not None:
        where += f" line {line}"
    if column:
        where += f", column {column}"
    return DatasetError(f"{where}: {msg}")


def _read_table(path: Path) -> tuple[pd.DataFrame, list[int], dict[str, str]]:
    """The table as text cells, the file line number of each record and the `# units:` declarations."""
    import csv
    import io

    if not path.exists():
        raise DatasetError(f"data set {path} does not exist")
    text = path.read_text(encoding="utf-8-sig")
    units: dict[str, str] = {}
    lines = []
    numbers = []
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            if body.lower().startswith("units:"):
                for item in body[6:].replace(",", " ").split():
                    if "=" in item:
                        k, v = item.split("=", 1)
                        units[k.strip().upper()] = v.strip()
            continue
        lines.append(line)
        numbers.append(n)
    if not lines:
        raise DatasetError(f"{path.name}: no header line and no records")
    dialect_delim = "," if "," in lines[0] else None
    if dialect_delim:
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
    else:
        rows = [ln.split() for ln in lines]
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise _err(path.name, numbers[i + 1], None,
                       f"{len(row)} fields where the header line names {len(header)} columns")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise _err(path.name, numbers[0], dup, "column named twice")
    df = pd.DataFrame(body, columns=header, dtype=str)
    return df, numbers[1:], units


def _numeric(df: pd.DataFrame, col: str, lines: list[int], label: str, allow_dot: bool) -> np.ndarray:
    out = np.zeros(len(df))
    for i, cell in enumerate(df[col].to_numpy()):
        s = str(cell).strip()
        if s in (".", "") and allow_dot:
            out[i] = np.nan
            continue
        if s in (".", ""):
            out[i] = 0.0
            continue
        try:
            v = float(s)
        except ValueError:
            raise _err(label, lines[i], col, f"{s!r} is not a number") from None
        if not math.isfinite(v):
            raise _err(label, lines[i], col, f"{s!r} is not a finite number")
        out[i] = v
    return out


def _sex(cell: str, line: int, label: str, col: str) -> str:
    s = str(cell).strip().lower()
    m = {"f": "female", "female": "female", "1": "female", "1.0": "female", "m": "male", "male": "male",
         "0": "male", "0.0": "male", "unspecified": "unspecified", ".": "unspecified"}
    if s not in m:
        raise _err(label, line, col, f"sex {cell!r} is not female/male (or 1 = female, 0 = male)")
    return m[s]


def _cyp(cell: str, line: int, label: str, col: str) -> str:
    s = str(cell).strip()
    m = {"*1/*1": "*1/*1", "*1/*6": "*1/*6", "*6/*1": "*1/*6", "*6/*6": "*6/*6", "0": "*1/*1", "1": "*1/*6",
         "2": "*6/*6", "0.0": "*1/*1", "1.0": "*1/*6", "2.0": "*6/*6"}
    if s not in m:
        raise _err(label, line, col, f"CYP2B6 genotype {cell!r} is not *1/*1, *1/*6 or *6/*6 (or 0/1/2 *6 alleles)")
    return m[s]


def read_nonmem(path, time_unit: str | None = None) -> NonmemDataset:
    """Read and check a NONMEM-style data set (module docstring); DatasetError names line and column."""
    path = Path(path)
    label = path.name
    df, lines, units = _read_table(path)
    declared = units.get("TIME")
    if declared and time_unit and declared != time_unit:
        raise _err(label, None, "TIME", f"the file declares TIME in {declared} but {time_unit} was asked for")
    unit = time_unit or declared or "h"
    if unit not in TIME_UNITS:
        raise _err(label, None, "TIME", f"unknown time unit {unit!r}; use h, min or d")
    if units.get("AMT", "mg") != "mg":
        raise _err(label, None, "AMT", f"AMT must be in mg, the file declares {units['AMT']}")
    for col in ("ID", "TIME"):
        if col not in df.columns:
            raise _err(label, None, col, f"required column {col} is missing (columns: {', '.join(df.columns)})")
    rec = pd.DataFrame({"line": lines})
    for col in NUMERIC_COLUMNS:
        if col in df.columns:
            rec[col] = _numeric(df, col, lines, label, allow_dot=(col == "DV"))
    if "EVID" not in rec:
        amt = rec["AMT"] if "AMT" in rec else pd.Series(np.zeros(len(rec)))
        rec["EVID"] = np.where(amt > 0, 1, 0)
    for col in ("AMT", "RATE", "DUR", "II", "ADDL", "SS", "CMT"):
        if col not in rec:
            rec[col] = 0.0
    if "DV" not in rec:
        rec["DV"] = np.nan
    if "MDV" not in rec:
        rec["MDV"] = np.where((rec["EVID"] == 0) & rec["DV"].notna(), 0, 1)
    rec["TIME"] = rec["TIME"] * TIME_UNITS[unit]
    if "DRUG" in df.columns:
        rec["DRUG"] = df["DRUG"].str.strip().str.lower().to_numpy()
    for col, name in COVARIATE_COLUMNS.items():
        if col in df.columns and name not in rec:
            cells = df[col].to_numpy()
            if name == "sex":
                rec[name] = [_sex(c, ln, label, col) for c, ln in zip(cells, lines)]
            elif name == "cyp2b6":
                rec[name] = [_cyp(c, ln, label, col) for c, ln in zip(cells, lines)]
            else:
                rec[name] = _numeric(df, col, lines, label, allow_dot=False)
    _check_records(rec, label, "DVID" in rec)
    rec["output"] = _outputs(rec, label)
    subjects = [_subject(int(i), g, label) for i, g in rec.groupby("ID", sort=False)]
    return NonmemDataset(rec.reset_index(drop=True), subjects, str(path), unit)


def _check_records(rec: pd.DataFrame, label: str, has_dvid: bool):
    line = rec["line"].to_numpy()
    ids = rec["ID"].to_numpy()
    seen: set = set()
    prev_id = None
    prev_t = -math.inf
    for i in range(len(rec)):
        r = rec.iloc[i]
        ln = int(line[i])
        evid = r["EVID"]
        if evid not in (0, 1, 2, 3, 4):
            raise _err(label, ln, "EVID", f"EVID {evid:g} is not 0-4 (0 observation, 1 dose, 2 other, 3 reset, "
                       "4 reset and dose)")
        if ids[i] != prev_id:
            if ids[i] in seen:
                raise _err(label, ln, "ID", f"ID {ids[i]:g} appears again after other subjects; a subject's "
                           "records must be contiguous")
            seen.add(ids[i])
            prev_id = ids[i]
            prev_t = -math.inf
        t = r["TIME"]
        if evid in (3, 4):
            prev_t = -math.inf
        if t < prev_t:
            raise _err(label, ln, "TIME", f"TIME decreases within ID {ids[i]:g} ({t:g} after {prev_t:g}); sort the "
                       "records by time or mark a reset with EVID 3 or 4")
        prev_t = t
        amt, rate, ii, addl, ss, mdv = r["AMT"], r["RATE"], r["II"], r["ADDL"], r["SS"], r["MDV"]
        dose_items = {"AMT": amt, "RATE": rate, "II": ii, "ADDL": addl, "SS": ss}
        if evid in (0, 2, 3):
            bad = [k for k, v in dose_items.items() if v != 0]
            if bad:
                raise _err(label, ln, bad[0], f"{bad[0]} must be 0 on an EVID {evid:g} record "
                           "(dose items belong to EVID 1 or 4)")
        if evid in (1, 4):
            if not amt > 0:
                raise _err(label, ln, "AMT", f"EVID {evid:g} (a dose) needs AMT > 0 mg, got {amt:g}; "
                           "constant-infusion steady state (AMT 0) is not supported")
            if mdv not in (1, 101):
                raise _err(label, ln, "MDV", f"a dose record must have MDV 1, got {mdv:g}")
            if rate == -1:
                raise _err(label, ln, "RATE", "RATE -1 (rate modelled in the control stream) is not supported; "
                           "give RATE in mg/h or RATE -2 with DUR")
            if rate == -2 and not r["DUR"] > 0:
                raise _err(label, ln, "DUR", "RATE -2 needs a positive infusion duration in DUR (h)")
            if rate < 0 and rate not in (-1, -2):
                raise _err(label, ln, "RATE", f"RATE {rate:g} is not 0, a positive rate, -1 or -2")
            if addl < 0 or addl != int(addl):
                raise _err(label, ln, "ADDL", f"ADDL must be a whole number >= 0, got {addl:g}")
            if (addl > 0 or ss > 0) and not ii > 0:
                raise _err(label, ln, "II", f"ADDL > 0 or SS > 0 needs an interdose interval II > 0 h, got {ii:g}")
            if ss == 2:
                raise _err(label, ln, "SS", "SS 2 (steady state added to the current amounts) is not supported; "
                           "use SS 1")
            if ss not in (0, 1, 2, 3):
                raise _err(label, ln, "SS", f"SS {ss:g} is not 0-3")
        if evid == 0:
            if mdv not in (0, 1, 100, 101):
                raise _err(label, ln, "MDV", f"MDV {mdv:g} is not 0, 1, 100 or 101")
            if mdv in (0, 100) and not np.isfinite(r["DV"]):
                raise _err(label, ln, "DV", "an observation (MDV 0) needs a DV value")
        if evid in (2, 3) and r["CMT"] < 0:
            raise _err(label, ln, "CMT", "turning compartments on or off (negative CMT) is not supported")


def _outputs(rec: pd.DataFrame, label: str) -> list:
    out = []
    key = "DVID" if "DVID" in rec else "CMT"
    for i in range(len(rec)):
        r = rec.iloc[i]
        if r["EVID"] != 0:
            out.append(None)
            continue
        code = r[key]
        if code == 0 and key == "CMT" and "DVID" not in rec:
            code = 1  # NONMEM's default observation compartment: the first output, plasma ketamine
        name = OUTPUT_IDS.get(int(code)) if code == int(code) else None
        if name is None:
            raise _err(label, int(r["line"]), key, f"{key} {code:g} is not an output ketasim knows; codes: "
                       + ", ".join(f"{k} {v}" for k, v in OUTPUT_IDS.items()))
        out.append(name)
    return out


def _dose_from_record(r, label: str) -> tuple[str, str, float, float]:
    """(drug, route, amount mg, duration h) of a dose record."""
    ln = int(r["line"])
    cmt = r["CMT"]
    drug_col = r.get("DRUG") if "DRUG" in r.index else None
    if cmt == 0:
        cmt = 1
    if cmt != int(cmt) or int(cmt) not in DOSE_COMPARTMENTS:
        raise _err(label, ln, "CMT", f"dose compartment {cmt:g} is unknown; codes: "
                   + ", ".join(f"{k} {d} {ro}" for k, (ro, d) in DOSE_COMPARTMENTS.items()))
    route, drug = DOSE_COMPARTMENTS[int(cmt)]
    if drug_col not in (None, "", ".", "nan"):
        drug = str(drug_col)
    amt, rate = float(r["AMT"]), float(r["RATE"])
    duration = 0.0
    if rate > 0:
        duration = amt / rate
    elif rate == -2 or r["DUR"] > 0:
        duration = float(r["DUR"])
    if duration > 0 and route != "iv":
        raise _err(label, ln, "RATE", f"an infusion (RATE or DUR) needs the iv compartment (CMT 1), not CMT {cmt:g}")
    return drug, route, amt, duration


def _make_dose(label, ln, col, **kw) -> Dose:
    try:
        return Dose(**kw)
    except RegimenError as exc:
        raise _err(label, ln, col, str(exc)) from None


def _subject(sid: int, g: pd.DataFrame, label: str) -> SubjectData:
    cov = {}
    for name in ("weight_kg", "age_y", "sex", "cyp2b6", "baseline_madrs"):
        if name in g:
            vals = g[name].to_numpy()
            if len(set(map(str, vals))) > 1:
                warnings.warn(f"{label}: covariate {name} changes within ID {sid}; the first record's value "
                              f"({vals[0]}) is used for the whole subject", UserWarning, stacklevel=3)
            cov[name] = vals[0].item() if hasattr(vals[0], "item") else vals[0]
    segments: list[Segment] = []
    seg = Segment(start_h=float(g["TIME"].iloc[0]))
    segments.append(seg)
    # a dose's additional repeats and infusion run until the next reset: (segment, dose position)
    for pos, (_, r) in zip(g.index, g.iterrows()):
        evid = int(r["EVID"])
        ln = int(r["line"])
        t = float(r["TIME"])
        if evid in (3, 4) or (evid in (1, 4) and r["SS"] in (1, 3)):
            if seg.doses or seg.rows or evid in (3, 4):
                seg = Segment(start_h=t)
                segments.append(seg)
            else:
                seg.start_h = t
        if evid in (1, 4):
            drug, route, amt, duration = _dose_from_record(r, label)
            ii, addl = float(r["II"]), int(r["ADDL"])
            if duration > 0 and (addl > 0 or r["SS"] > 0) and duration > ii:
                raise _err(label, ln, "II", f"infusion duration {duration:g} h is longer than II {ii:g} h")
            if r["SS"] in (1, 3):
                k = min(MAX_IMPLIED_DOSES, int(math.ceil(SS_HORIZON_H / ii)))
                seg.doses.append(_make_dose(label, ln, "SS", time_h=t - k * ii, drug=drug, amount=amt,
                                            amount_unit="mg", route=route, duration_h=duration, every_h=ii, count=k))
            seg.doses.append(_make_dose(label, ln, "AMT", time_h=t, drug=drug, amount=amt, amount_unit="mg",
                                        route=route, duration_h=duration, every_h=ii if addl > 0 else 0.0,
                                        count=addl + 1))
        elif evid == 2 and "DRUG" in r.index and r["DRUG"] == "placebo":
            route = DOSE_COMPARTMENTS.get(int(r["CMT"]) or 1, ("iv", ""))[0]
            seg.doses.append(_make_dose(label, ln, "DRUG", time_h=t, drug="placebo", amount=0.0, amount_unit="mg",
                                        route=route))
        if evid in (0, 2):
            seg.rows.append(int(pos))
    # a reset cancels what an earlier segment had pending: repeats after the next segment's start are dropped
    for a, b in zip(segments[:-1], segments[1:]):
        kept = []
        for d in a.doses:
            reps = [x for x in d.realize() if x.time_h < b.start_h]
            kept += reps
        a.doses = kept
    return SubjectData(sid, cov, segments)


# ----------------------------------------------------------------------------------------------------------
# writing
def _fmt(x) -> str:
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "."
    xf = float(x)
    if xf == int(xf) and abs(xf) < 1e15:
        return str(int(xf))
    return repr(xf)


def dataset_records(subjects: pd.DataFrame, regimen: Regimen, times: np.ndarray, values: dict[str, np.ndarray],
                    ids=None) -> pd.DataFrame:
    """NONMEM records of a simulation: per subject its doses (mg, the subject's weight for mg/kg; repeats as
    ADDL/II; infusions with RATE) and one observation record per time and output (DV = `values[output][:, s]`,
    times x subjects). Placebo sessions are EVID 2 records with DRUG placebo."""
    rows = []
    ids = subjects["id"].to_numpy() if ids is None else np.asarray(ids)
    for s, sid in enumerate(ids):
        sub = subjects.iloc[s]
        cov = {"WT": float(sub["weight_kg"]), "AGE": float(sub["age_y"]), "SEX": str(sub["sex"]),
               "CYP2B6": str(sub["cyp2b6"]), "BMADRS": float(sub["baseline_madrs"])}
        recs = []
        for d in regimen.doses:
            cmt = 6 if d.drug == "naltrexone" else ROUTE_COMPARTMENT[d.route]
            mg = d.amount_mg(cov["WT"])
            base = dict(ID=int(sid), TIME=d.time_h, DV=".", MDV=1, CMT=cmt, DVID=0, DRUG=d.drug,
                        II=d.every_h if d.count > 1 else 0.0, ADDL=d.count - 1, SS=0, RATE=0.0, AMT=mg, EVID=1)
            if d.duration_h > 0:
                base["RATE"] = mg / d.duration_h
            if d.drug == "placebo":
                base.update(EVID=2, AMT=0.0, II=0.0, ADDL=0, RATE=0.0)
                for x in d.realize():
                    recs.append((x.time_h, 0, {**base, "TIME": x.time_h}))
                continue
            recs.append((d.time_h, 0, base))
        for j, tt in enumerate(times):
            for out, arr in values.items():
                v = float(arr[j, s])
                recs.append((float(tt), 1, dict(ID=int(sid), TIME=float(tt), DV=v, MDV=0, CMT=OUTPUT_ID_OF[out],
                                                 DVID=OUTPUT_ID_OF[out], DRUG=".", II=0.0, ADDL=0, SS=0, RATE=0.0,
                                                 AMT=0.0, EVID=0)))
        recs.sort(key=lambda x: (x[0], x[1]))
        for _, _, r in recs:
            rows.append({**r, **cov})
    cols = ["ID", "TIME", "EVID", "AMT", "RATE", "II", "ADDL", "SS", "CMT", "DVID", "DV", "MDV", "DRUG",
            "WT", "AGE", "SEX", "CYP2B6", "BMADRS"]
    return pd.DataFrame(rows, columns=cols)


def header_lines(outputs, note: str = "") -> list[str]:
    from ketasim import __version__
    from ketasim.models.outputs import units as output_units

    lines = [f"# NONMEM-style data set written by ketasim {__version__}. Research software, not a dosing tool.",
             "# units: TIME=h AMT=mg RATE=mg/h II=h WT=kg AGE=yr BMADRS=points",
             "# $INPUT ID TIME EVID AMT RATE II ADDL SS CMT DVID DV MDV DRUG=DROP WT AGE SEX=DROP CYP2B6=DROP "
             "BMADRS ; $DATA this file IGNORE=@",
             "# dose CMT: " + ", ".join(f"{k} {d} {r}" for k, (r, d) in DOSE_COMPARTMENTS.items())
             + " (DRUG names esketamine/arketamine; placebo sessions are EVID 2 with DRUG placebo)"]
    for out in outputs:
        lines.append(f"# DVID {OUTPUT_ID_OF[out]} = {out} [{output_units().get(out, '')}]")
    if note:
        lines.append(f"# {note}")
    return lines


def write_nonmem(path, records: pd.DataFrame, outputs=(), note: str = "") -> Path:
    """Write records (dataset_records) as CSV: '#' comment lines (units, codes), a header line, full precision."""
    path = Path(path)
    outs = list(outputs) or sorted({OUTPUT_IDS[int(c)] for c in records.loc[records["EVID"] == 0, "DVID"]},
                                   key=lambda o: OUTPUT_ID_OF[o])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for line in header_lines(outs, note):
            fh.write(line + "\n")
        fh.write(",".join(records.columns) + "\n")
        for row in records.itertuples(index=False):
            fh.write(",".join(_fmt(v) for v in row) + "\n")
    return path


def write_dataset_like(ds: NonmemDataset, predictions: pd.DataFrame, path) -> Path:
    """The data set's own records (times in h) with DV replaced by the simulated value of each observation
    record's output (MDV 0 where a value was simulated)."""
    rec = ds.records.copy()
    pred = predictions.set_index("row")
    dv = []
    for pos, r in rec.iterrows():
        if r["EVID"] == 0 and isinstance(r["output"], str) and pos in pred.index:
            dv.append(float(pred.loc[pos, r["output"]]))
        else:
            dv.append(np.nan)
    rec["DV"] = dv
    rec["MDV"] = np.where(np.isfinite(rec["DV"]) & (rec["EVID"] == 0), 0, rec["MDV"].where(rec["EVID"] != 0, 1))
    rename = {"weight_kg": "WT", "age_y": "AGE", "sex": "SEX", "cyp2b6": "CYP2B6", "baseline_madrs": "BMADRS"}
    cols = [c for c in ("ID", "TIME", "EVID", "AMT", "RATE", "DUR", "II", "ADDL", "SS", "CMT", "DVID", "DV", "MDV",
                        "DRUG", *rename) if c in rec.columns]
    out = rec[cols].rename(columns=rename)
    for c in ("ID", "EVID", "ADDL", "SS", "CMT", "DVID", "MDV"):
        if c in out:
            out[c] = out[c].astype(np.int64)
    outputs = sorted({o for o in rec["output"] if isinstance(o, str)}, key=lambda o: OUTPUT_ID_OF[o])
    return write_nonmem(path, out, outputs, note=f"simulated by ketasim from {Path(ds.path).name}")
