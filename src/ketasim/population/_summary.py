"""Per-subject summary statistics, accumulated chunk by chunk: the in-memory and the streamed population paths
share this one accumulator, so their summaries agree by construction."""

from __future__ import annotations

import numpy as np

MOOD_SCALES = ("madrs", "hamd17")
SUMMARY_TIMES = (("24h", 24.0), ("day7", 168.0))


class SummaryAccumulator:
    """Per-subject Cmax, Tmax, AUC of every column and mood values at the summary times, chunk by chunk."""

    def __init__(self, t: np.ndarray, columns, first_session_h: float, units: dict[str, str]):
        self.t = t
        self.units = units
        self.columns = list(columns)
        self.t0 = first_session_h
        self.parts: dict[str, list[np.ndarray]] = {}

    def _add(self, key: str, arr):
        # a copy: a view (e.g. the first row of a chunk's output) would keep the whole chunk alive
        self.parts.setdefault(key, []).append(np.array(arr, float, copy=True))

    def add(self, out: dict[str, np.ndarray]):
        t = self.t
        for k in self.columns:
            v = out[k]
            self._add(f"{k}.cmax", v.max(axis=0))
            self._add(f"{k}.tmax_h", t[v.argmax(axis=0)])
            self._add(f"{k}.auc", np.sum(0.5 * (v[1:] + v[:-1]) * np.diff(t)[:, None], axis=0))
        for scale in MOOD_SCALES:
            if scale not in out:
                continue
            y = out[scale]
            self._add(f"{scale}.base", y[0])
            for label, dt in SUMMARY_TIMES:
                if self.t0 + dt <= t[-1]:
                    self._add(f"{scale}.{label}", [np.interp(self.t0 + dt, t, y[:, i]) for i in range(y.shape[1])])

    def summary(self) -> dict:
        """As PopulationResult.summary()."""
        get = lambda key: np.concatenate(self.parts[key])  # noqa: E731
        s: dict = {}
        for k in self.columns:
            unit = self.units.get(k, "")
            s[k] = {"unit": unit, "auc_unit": f"{unit}·h"}
            for name in ("cmax", "tmax_h", "auc"):
                arr = get(f"{k}.{name}")
                s[k][name] = float(np.mean(arr))
                s[k][f"{name}_percentiles"] = {f"p{p}": float(np.percentile(arr, p)) for p in (5, 50, 95)}
        for scale in MOOD_SCALES:
            if f"{scale}.base" not in self.parts:
                continue
            base = get(f"{scale}.base")
            s[scale]["baseline"] = float(np.mean(base))
            for label, _ in SUMMARY_TIMES:
                if f"{scale}.{label}" not in self.parts:
                    continue
                val = get(f"{scale}.{label}")
                change = val - base
                s[scale][f"change_{label}"] = float(np.mean(change))
                s[scale][f"change_{label}_percentiles"] = {f"p{p}": float(np.percentile(change, p))
                                                           for p in (5, 50, 95)}
                s[scale][f"responders_{label}"] = float(np.mean(val <= 0.5 * base))
        return s
