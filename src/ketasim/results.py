"""Result: the time course of one subject (or many) with units and provenance."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ketasim._version import __version__

def _trapz(y: np.ndarray, t: np.ndarray) -> float:
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(t))) if len(t) > 1 else 0.0


def summarise_series(t: np.ndarray, y: np.ndarray, unit: str, column: str = "", dose_times=()) -> dict:
    """Cmax, Tmax after the preceding dose, AUC (ng·h/mL for concentrations); effect outputs add baseline,
    nadir, direction and a baseline-corrected AUEC (see ketasim.analysis.metrics.series_metrics)."""
    from ketasim.analysis.metrics import series_metrics

    if not column:  # no column name: judged by the unit
        column = "value_ng_ml" if unit == "ng/mL" else "value"
    return series_metrics(t, y, column, unit, np.asarray(dose_times, float))


@dataclass
class Result:
    time_h: np.ndarray
    outputs: dict[str, np.ndarray]              # column -> (n_time,) for one subject
    units: dict[str, str]
    regimen: object = None
    parameters: object = None
    covariates: object = None
    states: np.ndarray | None = None
    state_names: tuple[str, ...] = ()
    inputs: list = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    internal: dict = field(default_factory=dict)   # unlisted intermediate signals (surge, drive, expectation)
    detail: frozenset = frozenset()                 # columns left out of tables and figures (S/R resolved)
    output_info: dict = field(default_factory=dict)  # column -> models.spec.OutputInfo (label, panel, unit)

    @classmethod
    def single(cls, t, outputs, mechanism=None, **kw):
        """A result whose units and detail columns come from the output catalogue of `mechanism`."""
        from ketasim.models.outputs import catalogue

        info = {o.name: o for o in catalogue(mechanism)}
        units = {k: info[k].unit if k in info else "" for k in outputs}
        detail = frozenset(k for k in outputs if k in info and info[k].detail)
        return cls(np.asarray(t), outputs, units, detail=detail, output_info=info, **kw)

    # tables
    def to_pandas(self, resolved: bool = False):
        import pandas as pd

        cols = {"id": np.zeros(len(self.time_h), dtype=np.int64), "time_h": self.time_h}
        for k, v in self.outputs.items():
            if not resolved and k in self.detail:
                continue
            cols[k] = v
        return pd.DataFrame(cols)

    def summary(self) -> dict:
        from ketasim.analysis.metrics import relevant_dose_times

        doses = self.regimen.realize() if self.regimen is not None else ()
        s = {}
        for k, v in self.outputs.items():
            if k in self.detail:
                continue
            s[k] = summarise_series(self.time_h, v, self.units.get(k, ""), k, relevant_dose_times(k, doses))
        for scale in ("madrs", "hamd17"):
            if scale in self.outputs:
                s[scale].update(self.mood_changes(scale))
        return s

    def mood_changes(self, scale: str = "madrs") -> dict:
        """Change from baseline after the first session: each day through the first week, then weekly, and at
        the end of the run (`change_24h` = day 1, `change_day7` = day 7), with response (>= 50 % reduction)."""
        from ketasim.analysis.metrics import mood_time_points

        y = self.outputs[scale]
        t0 = self.meta.get("first_session_h", 0.0)
        base = float(y[0])
        out = {"baseline": base, "change_times_h": {}}
        for label, tt in mood_time_points(t0, float(self.time_h[-1])):
            val = float(np.interp(tt, self.time_h, y))
            out[f"change_{label}"] = val - base
            out[f"responder_{label}"] = bool(val <= 0.5 * base)
            out["change_times_h"][label] = tt
        for old, new in (("24h", "day1"), ("day7", "day7")):
            if f"change_{new}" in out:
                out[f"change_{old}"] = out[f"change_{new}"]
                out[f"responder_{old}"] = out[f"responder_{new}"]
        return out

    def dosed_umol(self) -> float:
        """Drug given (µmol) by the inputs so far; session markers are counts, not amounts, and are left out (as
        they are from `states`)."""
        from ketasim.models.pk import is_amount_state

        return float(sum(i.amount_umol for i in self.inputs if is_amount_state(i.state)))

    def provenance(self) -> dict:
        return {
            "ketasim_version": __version__,
            "regimen": self.regimen.to_text() if self.regimen is not None else [],
            "parameter_sets": list(getattr(self.parameters, "sets", ())),
            "parameter_hash": self.parameters.content_hash() if self.parameters is not None else None,
            "covariates": vars(self.covariates) if self.covariates is not None else None,
            "solver": "exact linear propagation (matrix exponential between events)",
            "citations": self.parameters.citations if self.parameters is not None else [],
            **self.meta,
        }

    def plot(self, path: str | os.PathLike | None = None, log: bool = False):
        from ketasim.plotting import plot_timecourse

        return plot_timecourse(self, path, log=log)

    def write(self, out_dir: str | os.PathLike, log_plot: bool = False) -> Path:
        """Write timecourse.parquet, summary.json and timecourse.png atomically: everything or nothing."""
        from ketasim.io.export import atomic_output_dir

        with atomic_output_dir(out_dir) as tmp:
            self.to_pandas(resolved=True).to_parquet(tmp / "timecourse.parquet", index=False)
            summary = {"summary": self.summary(), "provenance": self.provenance(), "warnings": self.warnings,
                       "note": "Research software, not a dosing tool."}
            (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
            self.plot(tmp / "timecourse.png", log=log_plot)
        return Path(out_dir)
