"""Exact solution of dx/dt = A x + r(t) with piecewise-constant inputs r and bolus jumps.

Between consecutive event or output times the input is constant, so
    x(t + h) = Phi(h) x(t) + Gamma(h) r,   Phi = e^{Ah},  Gamma = int_0^h e^{As} ds,
both read off one matrix exponential of the augmented matrix [[A, I], [0, 0]] h (Van Loan).
Step lengths repeat (a uniform output grid), so the exponentials are cached by step length. One subject or a
batch: the batched NumPy population path and Simulation.solve share this code.
This path has no tolerance: its error is the matrix exponential's (~1e-13 relative).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm


def event_grid(t_out: np.ndarray, inputs) -> np.ndarray:
    pts = [np.asarray(t_out, float)]
    for inp in inputs:
        pts.append(np.array([inp.time_h, inp.time_h + inp.duration_h]))
    return np.unique(np.concatenate(pts))


def solve_linear(A: np.ndarray, inputs, t_out: np.ndarray, index: dict[str, int],
                 t_start: float | None = None) -> np.ndarray:
    """States at the output times: (T, n) for one subject (A (n, n), `inputs` a list of pk.Input), or (T, N, n)
    for a batch (A (N, n, n), `inputs` one list per subject). Inputs are in µmol and h.

    A bolus at time t is applied at t: the value reported at t includes it. A time that t_out holds more than once
    (solvers.grid.internal_grid) is reported just before its events at the earlier copies and just after them at
    the last. The propagators of each distinct step length come from one matrix exponential per subject of the
    augmented matrix (cached by step)."""
    single = A.ndim == 2
    if single:
        A, inputs = A[None], [inputs]
    t_out = np.asarray(t_out, float)
    N, n, _ = A.shape
    X = np.zeros((len(t_out), N, n))
    flat = [i for per_subject in inputs for i in per_subject]
    if not flat:
        return X[:, 0] if single else X
    grid = event_grid(t_out, flat)
    if t_start is not None:
        grid = grid[grid >= t_start]
    boluses: dict[float, np.ndarray] = {}
    rates: dict[float, np.ndarray] = {}
    for s, per_subject in enumerate(inputs):
        for inp in per_subject:
            j = index[inp.state]
            if inp.duration_h <= 0:
                boluses.setdefault(inp.time_h, np.zeros((N, n)))[s, j] += inp.amount_umol
            else:
                r = inp.amount_umol / inp.duration_h
                rates.setdefault(inp.time_h, np.zeros((N, n)))[s, j] += r
                rates.setdefault(inp.time_h + inp.duration_h, np.zeros((N, n)))[s, j] -= r
    aug = np.zeros((N, 2 * n, 2 * n))
    aug[:, :n, :n] = A
    aug[:, :n, n:] = np.eye(n)
    cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    out_pos = {tt: i for i, tt in enumerate(t_out)}          # the last copy of each time
    pre_pos: dict[float, list[int]] = {}
    for i in range(len(t_out) - 1):
        if t_out[i + 1] == t_out[i]:
            pre_pos.setdefault(float(t_out[i]), []).append(i)
    x = np.zeros((N, n))
    rate = np.zeros((N, n))
    prev = grid[0]
    for k, tt in enumerate(grid):
        if k > 0:
            h = tt - prev
            if h > 0:
                key = round(h, 12)
                if key not in cache:
                    E = expm(aug * h)
                    cache[key] = (E[:, :n, :n], E[:, :n, n:])
                Phi, Gam = cache[key]
                x = np.einsum("sij,sj->si", Phi, x) + np.einsum("sij,sj->si", Gam, rate)
            prev = tt
        for i in pre_pos.get(tt, ()):
            X[i] = x
        if tt in boluses:
            x = x + boluses[tt]
        if tt in rates:
            rate = rate + rates[tt]
            rate[np.abs(rate) < 1e-15] = 0.0
        i = out_pos.get(tt)
        if i is not None:
            X[i] = x
    return X[:, 0] if single else X
