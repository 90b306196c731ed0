"""The search space: a regimen as a vector of numbers and back.

A regimen of the search space is an induction (a treatment's dose, its infusion length where given IV, a dosing
interval and a number of doses) optionally followed by maintenance (its own interval and number of doses, at a
share of the induction dose: a taper below 1). Values are snapped to a grid people would prescribe on (doses to
0.05 mg/kg, 5 mg or whole esketamine devices; infusions to 5 min; intervals to half days), so every candidate is
a regimen that can be written down, and two candidates that would be prescribed alike are one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ketasim.regimens import Regimen
from ketasim.regimens._regimen import _fmt, _fmt_time

from .problem import Problem, Treatment

INFUSION_STEP_MIN = 5.0
INTERVAL_STEP_H = 12.0
ESKETAMINE_DEVICE_MG = 28.0


def dose_step(t: Treatment) -> float:
    if t.drug == "esketamine" and t.route == "intranasal" and t.dose_unit == "mg":
        return ESKETAMINE_DEVICE_MG
    return 0.05 if t.dose_unit == "mg/kg" else 5.0


def _snap(x: float, step: float, lo: float, hi: float) -> float:
    """x on the grid of `step` within [lo, hi] (the bounds themselves are allowed where off the grid)."""
    v = round(x / step) * step
    v = min(max(v, lo), hi)
    return float(round(v, 10))


@dataclass(frozen=True)
class Design:
    """One regimen of the search space."""

    treatment: int
    dose: float
    infusion_h: float
    interval_h: float
    doses: int
    maintenance_interval_h: float
    maintenance_doses: int
    maintenance_fraction: float

    def lines(self, problem: Problem) -> list[str]:
        """Regimen text (the language of --dose), one line for the induction and one for maintenance."""
        t = problem.treatments[self.treatment]
        head = f"{t.drug} {_fmt(self.dose)} {t.dose_unit} {t.route}"
        if self.infusion_h > 0:
            head += f" over {_fmt_time(self.infusion_h)}"
        out = [head + (f" every {_fmt_time(self.interval_h)} for {self.doses} doses" if self.doses > 1 else "")]
        if self.maintenance_doses > 0:
            start = (self.doses - 1) * self.interval_h + self.maintenance_interval_h
            m_dose = _snap(self.dose * self.maintenance_fraction, dose_step(t) / (5 if t.dose_unit == "mg/kg" else 1),
                           1e-9, math.inf)
            line = f"{t.drug} {_fmt(m_dose)} {t.dose_unit} {t.route}"
            if self.infusion_h > 0:
                line += f" over {_fmt_time(self.infusion_h)}"
            line += f" at {_fmt_time(start)}"
            if self.maintenance_doses > 1:
                line += f" every {_fmt_time(self.maintenance_interval_h)} for {self.maintenance_doses} doses"
            out.append(line)
        return out

    def text(self, problem: Problem) -> str:
        return "; ".join(self.lines(problem))

    def regimen(self, problem: Problem) -> Regimen:
        return Regimen.from_text(*self.lines(problem))


class SearchSpace:
    """The problem's free variables (fixed ones drop out) as a box [xl, xu] for the optimiser."""

    def __init__(self, problem: Problem):
        self.problem = problem
        p = problem
        names, lo, hi, integer = [], [], [], []

        def var(name, low, high, is_int=False):
            if high > low:
                names.append(name)
                lo.append(low)
                hi.append(high)
                integer.append(is_int)

        var("treatment", 0, len(p.treatments) - 1, True)
        var("dose", 0.0, 1.0)                       # position within the chosen treatment's dose range
        if any(t.infusion_h[1] > t.infusion_h[0] for t in p.treatments):
            var("infusion", 0.0, 1.0)
        var("interval_h", *p.interval_h)
        var("doses", *p.doses, True)
        if p.maintenance_interval_h is not None and p.maintenance_doses[1] > 0:
            var("maintenance_interval_h", *p.maintenance_interval_h)
            var("maintenance_doses", *p.maintenance_doses, True)
            var("maintenance_fraction", *p.maintenance_fraction)
        self.names = names
        self.xl = np.array(lo, float)
        self.xu = np.array(hi, float)
        self.integer = np.array(integer, bool)

    @property
    def n_var(self) -> int:
        return len(self.names)

    def _get(self, x, name, default):
        return float(x[self.names.index(name)]) if name in self.names else default

    def decode(self, x) -> Design:
        p = self.problem
        ti = int(round(self._get(x, "treatment", 0)))
        t = p.treatments[ti]
        u = self._get(x, "dose", 0.0)
        lo, hi = t.dose
        # doses spread on a log scale (dose-response is roughly log-linear)
        dose = lo * (hi / lo) ** u if hi > lo else lo
        dose = _snap(dose, dose_step(t), lo, hi)
        ui = self._get(x, "infusion", 0.0)
        infusion = t.infusion_h[0] + ui * (t.infusion_h[1] - t.infusion_h[0])
        # on whole minutes (5-min steps), so the text reads '40 min' and back to the same number
        infusion = _snap(infusion * 60.0, INFUSION_STEP_MIN, t.infusion_h[0] * 60.0, t.infusion_h[1] * 60.0) / 60.0 \
            if t.infusion_h[1] > 0 else 0.0
        n = int(round(self._get(x, "doses", p.doses[0])))
        interval = _snap(self._get(x, "interval_h", p.interval_h[0]), INTERVAL_STEP_H, *p.interval_h)
        interval = max(interval, infusion + INTERVAL_STEP_H) if n > 1 else 0.0
        # the induction stays within the horizon (later doses would be outside the simulation)
        if n > 1:
            n = max(1, min(n, int(math.floor((p.horizon_h - 1.0) / interval)) + 1))
        if n == 1:
            interval = 0.0
        m_n = int(round(self._get(x, "maintenance_doses", p.maintenance_doses[0])))
        m_int = 0.0
        m_frac = 1.0
        if m_n > 0 and p.maintenance_interval_h is not None:
            m_int = _snap(self._get(x, "maintenance_interval_h", p.maintenance_interval_h[0]), INTERVAL_STEP_H,
                          *p.maintenance_interval_h)
            m_int = max(m_int, infusion + INTERVAL_STEP_H)
            m_frac = round(self._get(x, "maintenance_fraction", p.maintenance_fraction[0]), 2)
            start = (n - 1) * interval + m_int
            room = p.horizon_h - 1.0 - start
            m_n = 0 if room < 0 else min(m_n, int(math.floor(room / m_int)) + 1)
        if m_n == 0:
            m_int, m_frac = 0.0, 1.0
        return Design(ti, dose, infusion, interval, n, m_int, m_n, m_frac)

    def encode(self, d: Design) -> np.ndarray:
        """A vector that decodes to `d` (used to put known regimens into the first generation)."""
        p = self.problem
        t = p.treatments[d.treatment]
        lo, hi = t.dose
        values = {"treatment": d.treatment,
                  "dose": math.log(d.dose / lo) / math.log(hi / lo) if hi > lo else 0.0,
                  "infusion": (d.infusion_h - t.infusion_h[0]) / (t.infusion_h[1] - t.infusion_h[0])
                  if t.infusion_h[1] > t.infusion_h[0] else 0.0,
                  "interval_h": d.interval_h if d.doses > 1 else p.interval_h[0], "doses": d.doses,
                  "maintenance_interval_h": d.maintenance_interval_h or (p.maintenance_interval_h or (0, 0))[0],
                  "maintenance_doses": d.maintenance_doses, "maintenance_fraction": d.maintenance_fraction}
        x = np.array([values[n] for n in self.names], float)
        return np.clip(x, self.xl, self.xu)

    def snap(self, X: np.ndarray) -> np.ndarray:
        """Each row moved to the vector of the regimen it stands for (so the optimiser sees prescribable values)."""
        return np.array([self.encode(self.decode(x)) for x in np.atleast_2d(X)]) if self.n_var else X

    def contains(self, d: Design) -> bool:
        """Whether a regimen lies in the search space (as prescribed, before snapping)."""
        p = self.problem
        t = p.treatments[d.treatment]
        ok = t.dose[0] - 1e-9 <= d.dose <= t.dose[1] + 1e-9
        ok &= t.infusion_h[0] - 1e-9 <= d.infusion_h <= t.infusion_h[1] + 1e-9
        ok &= p.doses[0] <= d.doses <= p.doses[1]
        if d.doses > 1:
            ok &= p.interval_h[0] - 1e-9 <= d.interval_h <= p.interval_h[1] + 1e-9
        ok &= p.maintenance_doses[0] <= d.maintenance_doses <= p.maintenance_doses[1]
        ok &= (d.doses - 1) * d.interval_h < p.horizon_h
        return bool(ok)


def visits(regimen: Regimen, gap_h: float = 6.0) -> list[float]:
    """Session start times: administrations less than `gap_h` apart belong to one visit."""
    times = sorted(d.time_h for d in regimen.realize() if d.drug != "naltrexone")
    out: list[float] = []
    for t in times:
        if not out or t - out[-1] >= gap_h:
            out.append(t)
    return out


def visits_per_week(regimen: Regimen) -> int:
    v = np.array(visits(regimen))
    if len(v) == 0:
        return 0
    return int(np.max(np.searchsorted(v, v + 168.0 - 1e-9, side="left") - np.arange(len(v))))
