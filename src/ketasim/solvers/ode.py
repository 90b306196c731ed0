"""The whole model of one subject as an ODE system, derived from the declarations: the PK rate matrix (linear,
dx/dt = A x + r(t)) and every slow PD state (dX/dt = k (u - X), u computed from the PD nodes at that instant).

This is what a general-purpose ODE solver sees: `scipy.integrate.solve_ivp` integrates it piecewise between dose
events (`solve`). It serves as the accuracy reference of the fast path (tight tolerances) and as the solve_ivp
baseline of the benchmark; nothing in it is written by hand for a particular model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ketasim.models.spec import PDModel

from .reference import subject_values


class ModelODE:
    """dy/dt for y = (PK states, PD slow states); `outputs` gives every PD node from a solution."""

    def __init__(self, pdm: PDModel, A: np.ndarray, effect_site_rows: Mapping[str, np.ndarray],
                 values: Mapping[str, float], subject: Mapping[str, float], readouts=None):
        """readouts: PK states (T, n) -> {column: values}, e.g. the plasma concentrations."""
        self.pdm = pdm
        self.readouts = readouts
        self.A = np.asarray(A, float)
        self.n = self.A.shape[0]
        self.values = dict(values)
        self.subject = subject_values(pdm, subject, values)
        # effect-site sources are linear read-outs of the PK states
        self.ce_names = list(effect_site_rows)
        self.ce_rows = np.array([effect_site_rows[k] for k in self.ce_names], float)
        self.states = [n.name for n in pdm.states]
        self.rates = np.array([values[n.rate] for n in pdm.states])
        self.time_name = next(s.name for s in pdm.sources.values() if s.kind == "time")
        self._plan = []   # (node, kind, argument getters) in evaluation order
        for n in pdm.dynamic:
            self._plan.append((n, [(a in n.params, n.params[a] if a in n.params else n.inputs.get(a, a))
                                   for a in n.arguments]))

    def initial_state(self) -> np.ndarray:
        y = np.zeros(self.n + len(self.states))
        for j, n in enumerate(self.pdm.states):
            x0 = n.initial
            y[self.n + j] = self.subject[x0] if isinstance(x0, str) and x0 in self.subject else \
                self.values[x0] if isinstance(x0, str) else float(x0)
        return y

    def _env(self, t, y) -> dict:
        env = dict(self.subject)
        env[self.time_name] = t
        ce = self.ce_rows @ y[:self.n]
        env.update(zip(self.ce_names, ce))
        env.update(zip(self.states, y[self.n:]))
        return env

    def _evaluate(self, env: dict, targets: dict | None):
        vals = self.values
        for node, getters in self._plan:
            args = [(key if not isinstance(key, str) else vals[key]) if is_par else env[key]
                    for is_par, key in getters]
            v = node.fn(*args)
            if node.kind == "state":
                if targets is not None:
                    targets[node.name] = v
            else:
                env[node.name] = v
        return env

    def rhs(self, t, y, rate):
        targets: dict = {}
        self._evaluate(self._env(t, y), targets)
        dy = np.empty_like(y)
        dy[:self.n] = self.A @ y[:self.n] + rate
        X = y[self.n:]
        dy[self.n:] = self.rates * (np.array([targets[s] for s in self.states]) - X)
        return dy

    def outputs(self, t_out, Y) -> dict[str, np.ndarray]:
        """Every dynamic node (and the PK read-outs) at the solution points."""
        rows = [self._evaluate(self._env(t, y), None) for t, y in zip(t_out, Y)]
        out = {n.name: np.array([r[n.name] for r in rows], float) for n in self.pdm.dynamic}
        if self.readouts is not None:
            out.update(self.readouts(np.asarray(Y)[:, :self.n]))
        return out


def solve(ode: ModelODE, inputs, index: Mapping[str, int], t_out, method: str = "LSODA", rtol: float = 1e-6,
          atol=None, max_step: float = np.inf) -> np.ndarray:
    """States at t_out, integrating piecewise between dose events (a bolus is added at its time, which is reported
    including it, as ketasim does; infusion rates are constant within a piece)."""
    from scipy.integrate import solve_ivp

    t_out = np.asarray(t_out, float)
    y = ode.initial_state()
    N = len(y)
    t0, t1 = float(t_out[0]), float(t_out[-1])
    events = sorted({t0, t1} | {i.time_h for i in inputs} | {i.time_h + i.duration_h for i in inputs})
    events = [e for e in events if t0 <= e <= t1]
    atol = np.full(N, 1e-12) if atol is None else atol
    Y = np.empty((len(t_out), N))
    for a, b in zip(events[:-1], events[1:]):
        for i in inputs:
            if i.duration_h <= 0 and i.time_h == a:
                y[index[i.state]] += i.amount_umol
        rate = np.zeros(ode.n)
        for i in inputs:
            if i.duration_h > 0 and i.time_h <= a < i.time_h + i.duration_h:
                rate[index[i.state]] += i.amount_umol / i.duration_h
        sel = np.flatnonzero((t_out >= a) & (t_out <= b))
        t_eval = np.unique(np.concatenate([t_out[sel], [b]]))
        sol = solve_ivp(ode.rhs, (a, b), y, method=method, rtol=rtol, atol=atol, t_eval=t_eval, args=(rate,),
                        max_step=max_step)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed between {a:g} and {b:g} h: {sol.message}")
        Y[sel] = sol.y[:, np.searchsorted(t_eval, t_out[sel])].T
        y = sol.y[:, -1].copy()
    return Y
