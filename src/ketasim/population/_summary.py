"""Per-subject summary statistics, accumulated chunk by chunk: the in-memory and the streamed population paths
share this one accumulator, so their summaries agree by construction. The metrics are those of a single
subject (ketasim.analysis.metrics): Tmax after the preceding dose, nadir and baseline-corrected AUEC for effect
outputs, AUC in ng·h/mL, mood changes each day of the first week, then weekly and at the end."""

from __future__ import annotations

import numpy as np

from ketasim.analysis.metrics import (area_unit, is_concentration, mood_time_points, relevant_dose_times,
                                      series_metrics)

MOOD_SCALES = ("madrs", "hamd17")
SUMMARY_TIMES = (("24h", 24.0), ("day7", 168.0))   # kept names: day 1 and day 7 after the first session
_PERCENTILES = (5, 50, 95)
_NUMERIC = ("cmax", "tmax_h", "time_of_cmax_h", "auc", "baseline", "nadir", "tnadir_h", "time_of_nadir_h",
            "peak_change", "auec_above", "auec_below")


class SummaryAccumulator:
    """Per-subject metrics of every column and mood values at the summary times, chunk by chunk.

    `units`: each column's unit (models.outputs); `doses`: the realised administrations (Regimen.realize()), so
    that times are measured after the dose; without them times are measured from regimen time zero."""

    def __init__(self, t: np.ndarray, columns, first_session_h: float, units: dict[str, str], doses=()):
        self.t = np.asarray(t, float)
        self.units = units
        self.columns = list(columns)
        self.t0 = first_session_h
        self.doses = tuple(doses)
        self.points = mood_time_points(first_session_h, float(self.t[-1]))
        self.parts: dict[str, list[np.ndarray]] = {}
        self.directions: dict[str, list[np.ndarray]] = {}

    def _add(self, key: str, arr):
        # a copy: a view (e.g. the first row of a chunk's output) would keep the whole chunk alive
        self.parts.setdefault(key, []).append(np.array(arr, float, copy=True))

    def add(self, out: dict[str, np.ndarray]):
        t = self.t
        for k in self.columns:
            m = series_metrics(t, out[k], k, self.units.get(k, ""), relevant_dose_times(k, self.doses))
            for name in _NUMERIC:
                if name in m:
                    self._add(f"{k}.{name}", m[name])
            if "direction" in m:
                self.directions.setdefault(k, []).append(np.asarray(m["direction"]))
        for scale in MOOD_SCALES:
            if scale not in out:
                continue
            y = out[scale]
            self._add(f"{scale}.base", y[0])
            for label, tt in self.points:
                self._add(f"{scale}.{label}", [np.interp(tt, t, y[:, i]) for i in range(y.shape[1])])

    def per_subject(self):
        """One row per subject (in the order added): every per-subject metric, named output.metric (mood scales
        also output.base and output.<time point>), the table behind summary()'s means and percentiles."""
        import pandas as pd

        return pd.DataFrame({key: np.concatenate(parts) for key, parts in self.parts.items()})

    def summary(self) -> dict:
        """As PopulationResult.summary(): per output the mean and 5/50/95th percentiles of each metric."""
        get = lambda key: np.concatenate(self.parts[key])  # noqa: E731
        s: dict = {}
        for k in self.columns:
            unit = self.units.get(k, "")
            s[k] = {"unit": unit,
                    "auc_unit": area_unit(k, unit) + ("" if is_concentration(k) else " (baseline-corrected)")}
            for name in _NUMERIC:
                if f"{k}.{name}" not in self.parts:
                    continue
                arr = get(f"{k}.{name}")
                s[k][name] = float(np.mean(arr))
                s[k][f"{name}_percentiles"] = {f"p{p}": float(np.percentile(arr, p)) for p in _PERCENTILES}
            if k in self.directions:
                d = np.concatenate(self.directions[k])
                s[k]["direction"] = "falls" if np.mean(d == "falls") > 0.5 else "rises"
                s[k]["share_falling"] = float(np.mean(d == "falls"))
        for scale in MOOD_SCALES:
            if f"{scale}.base" not in self.parts:
                continue
            base = get(f"{scale}.base")
            s[scale]["baseline"] = float(np.mean(base))
            s[scale]["change_times_h"] = {label: tt for label, tt in self.points}
            for label, _ in self.points:
                val = get(f"{scale}.{label}")
                change = val - base
                s[scale][f"change_{label}"] = float(np.mean(change))
                s[scale][f"change_{label}_percentiles"] = {f"p{p}": float(np.percentile(change, p))
                                                           for p in _PERCENTILES}
                s[scale][f"responders_{label}"] = float(np.mean(val <= 0.5 * base))
            for old, new in (("24h", "day1"), ("day7", "day7")):
                if f"change_{new}" in s[scale]:
                    for suffix in ("", "_percentiles"):
                        s[scale][f"change_{old}{suffix}"] = s[scale][f"change_{new}{suffix}"]
                    s[scale][f"responders_{old}"] = s[scale][f"responders_{new}"]
        return s
