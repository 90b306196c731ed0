"""Where the drives of the slow states have kinks between grid points, located from the model's own switches.

A node's `ops.positive_part(x)`, `ops.maximum(a, b)` or `ops.minimum(a, b)` has a kink where its switch argument
(x, or a - b) crosses zero. Between two grid points the slow states' drives are interpolated by parabolas
(`solvers.relax`), which a kink inside a step breaks: the error there is first order in the step (the hourly
grid of a long run: a few 1e-4 of MADRS, whose minute-scale response follows the immediate drive's kink when the
MOR signal falls back to baseline hours after a dose). So every backend evaluates each node function in a marked
form (`marked_function`: each switch call also stores its argument), and `crossing_time` locates the zero of
the interpolated switch argument inside each step where it changes sign (event location by root finding on the
cubic through the argument's four nearest grid values). The integrator then integrates that step in two pieces,
the drive continued from each side up to the crossing (`relax.kink_at_step`).

Only switches whose argument changes sign by more than SWITCH_NOISE times the argument's largest magnitude
count: rounding noise around an exact zero (a mediator at its baseline) is no kink.
The reference evaluator uses the NumPy helpers here; the compiled kernel uses the numba twins in
`solvers._kernel_ops` (same names) and `solvers._numba_kernels.crossing_series` (compiled from this module's
`crossing_time`), so both give the same numbers.
"""

from __future__ import annotations

import ast
import types
from dataclasses import dataclass

import numpy as np

from ketasim.models import ops as numpy_ops
from ketasim.models.spec import PDModel, function_source

SWITCH_OPS = ("positive_part", "maximum", "minimum")
SWITCH_NOISE = 1e-9
ARG = "_sw"   # the marked function's extra argument: where its switch arguments go


class _Mark(ast.NodeTransformer):
    """ops.positive_part(x) -> ops.sw_positive_part(_sw, j, x) (likewise maximum, minimum), inner calls first."""

    def __init__(self, offset: int):
        self.next = offset

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "ops" \
                and f.attr in SWITCH_OPS:
            j = self.next
            self.next += 1
            return ast.copy_location(ast.Call(
                func=ast.Attribute(value=ast.Name("ops", ast.Load()), attr=f"sw_{f.attr}", ctx=ast.Load()),
                args=[ast.Name(ARG, ast.Load()), ast.Constant(j), *node.args], keywords=[]), node)
        return node


def marked_source(fn, offset: int) -> tuple[ast.FunctionDef, int]:
    """The node function's definition with each switch call marked (indices from `offset`) and the argument
    `_sw` appended; and the number of switches it has."""
    fdef = function_source(fn)
    mark = _Mark(offset)
    fdef = mark.visit(fdef)
    fdef.args.args.append(ast.arg(ARG))
    ast.fix_missing_locations(fdef)
    return fdef, mark.next - offset


def _sw_positive_part(sw, j, x):
    sw[j] = x
    return numpy_ops.positive_part(x)


def _sw_maximum(sw, j, a, b):
    sw[j] = a - b
    return numpy_ops.maximum(a, b)


def _sw_minimum(sw, j, a, b):
    sw[j] = a - b
    return numpy_ops.minimum(a, b)


_NUMPY_OPS = types.SimpleNamespace(**{k: getattr(numpy_ops, k) for k in numpy_ops.__all__},
                                   sw_positive_part=_sw_positive_part, sw_maximum=_sw_maximum,
                                   sw_minimum=_sw_minimum)


@dataclass(frozen=True)
class SwitchPlan:
    offset: dict            # node name -> index of its first switch
    count: dict             # node name -> number of switches (nodes without any are absent)
    total: int
    per_state: dict         # state name -> switch indices whose kinks its drive has (sorted)
    numpy_fns: dict         # node name -> marked NumPy function (last argument: a list for the arguments)

    def sources(self, model: PDModel) -> dict[str, ast.FunctionDef]:
        return {name: marked_source(model.nodes[name].fn, self.offset[name])[0] for name in self.count}


def switch_plan(model: PDModel) -> SwitchPlan:
    return _plan(model.signature(), model)


_PLANS: dict[str, SwitchPlan] = {}


def _plan(signature: str, model: PDModel) -> SwitchPlan:
    hit = _PLANS.get(signature)
    if hit is not None:
        return hit
    offset, count, fns = {}, {}, {}
    total = 0
    for n in model.dynamic:
        fdef, c = marked_source(n.fn, total)
        if not c:
            continue
        offset[n.name], count[n.name] = total, c
        ns = {"ops": _NUMPY_OPS, "min": min, "max": max, "abs": abs, "float": float}
        exec(compile(ast.Module([fdef], []), f"<ketasim marked {n.name}>", "exec"), ns)  # noqa: S102
        fns[n.name] = ns[fdef.name]
        total += c
    # a state's drive kinks where a switch of its own target or of a signal it reads (through signals only:
    # a state is smooth where its own drive kinks) crosses zero
    per_state = {}
    for n in model.dynamic:
        if n.kind != "state":
            continue
        found: set[int] = set()
        seen: set[str] = set()
        stack = [n.name]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            if name in count:
                found.update(range(offset[name], offset[name] + count[name]))
            node = model.nodes[name]
            for i in node.input_names:
                if i in model.nodes and model.nodes[i].kind == "signal":
                    stack.append(i)
        per_state[n.name] = tuple(sorted(found))
    plan = SwitchPlan(offset, count, total, per_state, fns)
    _PLANS[signature] = plan
    return plan


def crossing_time(ta, tb, tc, td, a, b, c, d, cubic):
    """The zero in (tb, tc) of a switch argument with values b at tb and c at tc of opposite signs: the root of
    the cubic through (ta, a), (tb, b), (tc, c), (td, d) where `cubic` (the four times increasing), else of the
    line through (tb, b), (tc, c); by bisection (60 halvings: to rounding of the step).
    Pure Python on floats: the compiled kernel compiles this same function."""
    lo, hi = tb, tc
    neg = b < 0.0
    for _ in range(60):
        m = 0.5 * (lo + hi)
        if cubic:
            v = (a * (m - tb) * (m - tc) * (m - td) / ((ta - tb) * (ta - tc) * (ta - td))
                 + b * (m - ta) * (m - tc) * (m - td) / ((tb - ta) * (tb - tc) * (tb - td))
                 + c * (m - ta) * (m - tb) * (m - td) / ((tc - ta) * (tc - tb) * (tc - td))
                 + d * (m - ta) * (m - tb) * (m - tc) / ((td - ta) * (td - tb) * (td - tc)))
        else:
            v = b + (c - b) * (m - tb) / (tc - tb)
        if (v < 0.0) == neg:
            lo = m
        else:
            hi = m
    return 0.5 * (lo + hi)


def crossings(t: np.ndarray, args: list[np.ndarray]) -> np.ndarray | None:
    """Crossing times per step for switch-argument series `args` ((T,) or (T, N) each) on the grid t: ts[i] in
    (t_{i-1}, t_i) where some argument changes sign inside step i (the first such argument), nan elsewhere;
    None where no argument changes sign. The NumPy twin of `_numba_kernels.crossing_series`."""
    if not args:
        return None
    t = np.asarray(t, float)
    T = len(t)
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    if T < 2 or shape[:1] != (T,):
        return None
    ts = np.full(shape, np.nan)
    found = False
    for a in args:
        a = np.broadcast_to(np.asarray(a, float), shape)
        scale = np.max(np.abs(a), axis=0)
        b, c = a[:-1], a[1:]
        change = (b * c < 0) & (np.maximum(np.abs(b), np.abs(c)) > SWITCH_NOISE * scale) & (t[1:] > t[:-1]).reshape(
            (-1,) + (1,) * (len(shape) - 1))
        change &= np.isnan(ts[1:])
        if not change.any():
            continue
        found = True
        a2 = a.reshape(T, -1)
        ts2 = ts.reshape(T, -1)
        steps, cols = np.nonzero(change.reshape(T - 1, -1))
        for s, col in zip(steps, cols):
            i = s + 1
            cubic = i >= 2 and i + 1 < T and t[i - 2] < t[i - 1] and t[i + 1] > t[i]
            if cubic:
                ts2[i, col] = crossing_time(t[i - 2], t[i - 1], t[i], t[i + 1], a2[i - 2, col], a2[i - 1, col],
                                            a2[i, col], a2[i + 1, col], True)
            else:
                ts2[i, col] = crossing_time(t[i - 1], t[i - 1], t[i], t[i], 0.0, a2[i - 1, col], a2[i, col], 0.0,
                                            False)
    return ts if found else None

