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


def summarise_series(t: np.ndarray, y: np.ndarray, unit: str) -> dict:
    i = int(np.argmax(y))
    return {"cmax": float(y[i]), "tmax_h": float(t[i]), "auc": _trapz(y, t),
            "unit": unit, "auc_unit": f"{unit}·h"}


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
        s = {}
        for k, v in self.outputs.items():
            if k in self.detail:
                continue
            s[k] = summarise_series(self.time_h, v, self.units.get(k, ""))
        for scale in ("madrs", "hamd17"):
            if scale in self.outputs:
                s[scale].update(self.mood_changes(scale))
        return s

    def mood_changes(self, scale: str = "madrs") -> dict:
        """Change from baseline at 24 h and day 7 after the first session, and response (>= 50 % reduction)."""
        y = self.outputs[scale]
        t0 = self.meta.get("first_session_h", 0.0)
        base = float(y[0])
        out = {"baseline": base}
        for label, dt in (("change_24h", 24.0), ("change_day7", 168.0)):
            tt = t0 + dt
            if tt <= self.time_h[-1]:
                val = float(np.interp(tt, self.time_h, y))
                out[label] = val - base
                out[label.replace("change", "responder")] = bool(val <= 0.5 * base)
        return out

    def dosed_umol(self) -> float:
        return float(sum(i.amount_umol for i in self.inputs))

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
