"""Questions about tolerance, answered by simulating the model: how much more drug a pattern of use needs, after
some days of it, for the immediate effect of its first day.

The typical subject (no between-subject variability) runs on the compiled population path; the dose of one
session is scaled and the peak of an immediate-effect column in that session compared with the first session's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ketasim.regimens import Regimen, RegimenError

from .library import UsePattern


def _typical_subject(parameters, weight_kg: float = 70.0):
    from ketasim.population import PopulationSpec, sample_subjects

    spec = PopulationSpec(weight_mean_kg=weight_kg, weight_sd_kg=0.0, variability=False)
    return sample_subjects(spec, 1, 0, parameters)


def session_peaks(pattern: UsePattern, day: int, factor: float, column: str = "euphoria",
                  hypothesis: str = "opioid") -> tuple[float, float]:
    """(peak of `column` in the first session, peak in the session on `day`) when the session on `day` is given
    at `factor` times the pattern's dose and the sessions before it as written. The pattern must be one dose line
    repeated as daily (or more widely spaced) sessions."""
    from ketasim.mechanisms import get_mechanism
    from ketasim.population import population_grid, simulate_population

    regimen = pattern.regimen()
    if len(regimen.doses) != 1 or regimen.doses[0].sessions < day:
        raise RegimenError(f"pattern {pattern.name} is not one dose line repeated for at least {day} sessions")
    line = regimen.doses[0]
    before = replace(line, sessions=day - 1) if day > 1 else None
    target = replace(line, time_h=line.time_h + (day - 1) * line.session_every_h, sessions=1, session_every_h=0.0,
                     amount=line.amount * factor)
    reg = Regimen(tuple(d for d in (before, target) if d is not None))
    start = target.time_h
    end = start + min(line.session_every_h if line.sessions > 1 else 24.0, 24.0)
    params = pattern.parameters()
    t = population_grid(reg, end, step_h=1.0, fine_step_h=1 / 60, fine_window_h=4.0)
    res = simulate_population(reg, _typical_subject(params), params, get_mechanism(hypothesis), t,
                              expectation=pattern.expectation, columns=(column,))
    y = res.outputs[column][:, 0]
    first_end = line.time_h + min(line.session_every_h if line.sessions > 1 else 24.0, 24.0)
    first = y[(t >= line.time_h) & (t < first_end)].max() if day > 1 else y[t >= start].max()
    return float(first), float(y[t >= start].max())


def dose_multiple_for_same_peak(pattern: UsePattern, day: int, column: str = "euphoria",
                                hypothesis: str = "opioid", upper: float = 40.0, rtol: float = 1e-3) -> float:
    """The factor by which the dose of the session on `day` must be multiplied for the same peak `column` as the
    first session (bisection on the log of the factor). Returns `upper` or more as inf when even that is not
    enough."""
    target, _ = session_peaks(pattern, 1, 1.0, column, hypothesis)
    lo, hi = 1.0, upper
    if session_peaks(pattern, day, lo, column, hypothesis)[1] >= target:
        return 1.0
    if session_peaks(pattern, day, hi, column, hypothesis)[1] < target:
        return float("inf")
    while hi / lo > 1.0 + rtol:
        mid = float(np.sqrt(lo * hi))
        if session_peaks(pattern, day, mid, column, hypothesis)[1] >= target:
            hi = mid
        else:
            lo = mid
    return float(np.sqrt(lo * hi))
