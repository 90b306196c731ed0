"""The internal time grid the solvers work on, derived from the requested output times and the dosing inputs.

The PK layer is exact at any time, but the slow PD states are integrated against their drive interpolated
between grid points (`ketasim.solvers.relax`), so the grid decides the PD error. Two things a user's output grid
does not know about:

- a bolus makes the drive jump (an iv bolus, the session marker of each treatment session): the grid holds the
  bolus time twice, the first copy just before the jump and the second just after it (a zero-length step, which
  the PD integrator treats as a jump, never as a ramp over the previous step); the value reported at a bolus
  time includes the bolus, as everywhere in ketasim;
- the drive changes fastest right after each dose start (the effect site's rise from zero, an infusion's
  occupancy through a steep Hill curve, states with minute time constants following it): the grid gets
  `ONSET_STEP_H` steps for the first `ONSET_WINDOW_H` after each input's start and `REFINE_STEP_H` steps for
  `REFINE_WINDOW_H` (measured on workload W in benchmarks/bench_population.py: the error of every output
  against the ODE reference, and the cost, for the choices there).

Outputs are read back at `at` (the index of each requested time in the internal grid, the last copy of a
repeated time). Everything here is a function of the times alone, so every path (single subject, batched NumPy,
compiled) sees the same grid and computes the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

ONSET_STEP_H = 30 / 3600   # 30-second steps for the first 10 minutes after each dose start,
ONSET_WINDOW_H = 10 / 60
REFINE_STEP_H = 2 / 60     # then 2-minute steps up to 2 hours after it
REFINE_WINDOW_H = 2.0
SNAP_H = 1e-6              # refinement points closer than this (3.6 ms) to a given time are left out


def internal_grid(t_out, inputs: Iterable, refine_step_h: float | None = None,
                  refine_window_h: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(grid, at): the internal grid (sorted; a bolus time inside the span appears twice) and the index of each
    output time in it (t_out sorted, as every ketasim grid). `inputs`: objects with time_h and duration_h
    (pk.Input, fast.BatchInput)."""
    refine_step_h = REFINE_STEP_H if refine_step_h is None else refine_step_h
    refine_window_h = REFINE_WINDOW_H if refine_window_h is None else refine_window_h
    t_out = np.asarray(t_out, float)
    if len(t_out) == 0:
        return t_out.copy(), np.zeros(0, np.int64)
    lo, hi = float(t_out[0]), float(t_out[-1])
    starts, boluses = set(), set()
    for i in inputs:
        t0 = float(i.time_h)
        if t0 > hi:
            continue
        starts.add(t0)
        if float(i.duration_h) <= 0 and t0 > lo:
            boluses.add(t0)
    base = np.unique(np.concatenate([t_out, np.array(sorted(boluses))]))
    grid = base
    if refine_window_h > 0 and refine_step_h > 0 and starts:
        n = int(round(refine_window_h / refine_step_h))
        fine = np.concatenate([s + refine_step_h * np.arange(1, n + 1) for s in starts])
        if ONSET_STEP_H > 0 and ONSET_WINDOW_H > 0:
            m = int(round(ONSET_WINDOW_H / ONSET_STEP_H))
            fine = np.concatenate([fine] + [s + ONSET_STEP_H * np.arange(1, m) for s in starts])
        fine = np.unique(np.round(fine, 9))
        fine = fine[(fine > lo + SNAP_H) & (fine < hi - SNAP_H)]
        # a refinement point next to a given time (an output or another dose's window) would make a step of
        # rounding size: drop it
        j = np.searchsorted(base, fine)
        near = np.minimum(np.abs(fine - base[np.clip(j, 0, len(base) - 1)]),
                          np.abs(fine - base[np.clip(j - 1, 0, len(base) - 1)]))
        fine = fine[near > SNAP_H]
        grid = np.unique(np.concatenate([base, fine]))
    if boluses:   # the second copy of each bolus time
        grid = np.sort(np.concatenate([grid, np.array(sorted(boluses))]))
    # each output time at the last copy of its value in the grid
    at = np.searchsorted(grid, t_out, side="right") - 1
    return grid, at


def pre_event_rows(grid: np.ndarray) -> np.ndarray:
    """True where a grid point is an earlier copy of a repeated time (the state just before that time's events)."""
    grid = np.asarray(grid, float)
    pre = np.zeros(len(grid), bool)
    if len(grid) > 1:
        pre[:-1] = grid[1:] == grid[:-1]
    return pre
