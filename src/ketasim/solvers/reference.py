"""The reference evaluator of a declared PD model (`ketasim.models.spec`) on a time grid.

Signals are evaluated in order with NumPy on arrays over time (and, for populations, over subjects in the last
axis); each slow state is integrated by `relax` once its whole drive is known. One code path serves a typical
subject and a population; the compiled kernel (`ketasim.solvers.kernel`) is tested against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ketasim.models.spec import PDModel

from .relax import relax
from .switches import crossings, switch_plan


def subject_values(model: PDModel, given: Mapping[str, object], values: Mapping[str, float]) -> dict:
    """The subject sources (scalars or one value per subject): given ones, else the declared defaults."""
    out = {}
    for s in model.sources.values():
        if s.kind != "subject":
            continue
        if s.name in given and given[s.name] is not None:
            out[s.name] = given[s.name]
        elif isinstance(s.default, str):
            out[s.name] = values[s.default]
        elif s.default is not None:
            out[s.name] = float(s.default)
        else:
            raise KeyError(f"subject value {s.name!r} not given and without a default")
    return out


def evaluate(model: PDModel, t: np.ndarray, effect_sites: Mapping[str, np.ndarray], subject: Mapping[str, object],
             values: Mapping[str, float], wanted: Iterable[str] | None = None,
             switches: dict | None = None) -> dict[str, np.ndarray]:
    """Every dynamic node (or the `wanted` ones and what they need) on the grid t.

    effect_sites: each effect-site source, shape (T,) or (T, N); subject: each subject source, a scalar or (N,);
    values: `model.values(...)` (parameters, context, derived). The nodes' switches (`solvers.switches`) locate
    the kinks of the slow states' drives between grid points; `switches`, where given, receives each evaluated
    switch argument by index."""
    t = np.asarray(t, float)
    population = any(np.ndim(v) == 2 for v in effect_sites.values())
    env: dict[str, object] = {}
    for s in model.sources.values():
        if s.kind == "time":
            env[s.name] = t[:, None] if population else t
        elif s.kind == "effect_site":
            if s.name in effect_sites:
                env[s.name] = np.asarray(effect_sites[s.name], float)
        elif s.name in subject:
            env[s.name] = np.asarray(subject[s.name], float)
    needed = _needed(model, wanted)
    shape = (len(t), next(iter(np.shape(v)[1] for v in effect_sites.values() if np.ndim(v) == 2))) \
        if population else (len(t),)
    plan = switch_plan(model)
    sw: dict[int, object] = {} if switches is None else switches
    for n in model.dynamic:
        if n.name not in needed:
            continue
        marked = plan.numpy_fns.get(n.name)
        fn = None if marked is None else (lambda *a, _f=marked: _f(*a, sw))
        if n.kind == "signal":
            value = n.call(env, values, fn)
            env[n.name] = np.broadcast_to(value, shape) if _is_constant(n) else value
        else:
            target = np.broadcast_to(np.asarray(n.call(env, values, fn), float), shape)
            x0 = n.initial
            x0 = env[x0] if isinstance(x0, str) and x0 in model.sources else values[x0] if isinstance(x0, str) else x0
            cross = crossings(t, [np.broadcast_to(np.asarray(sw[j], float), shape)
                                  for j in plan.per_state[n.name] if j in sw])
            env[n.name] = relax(t, target, values[n.rate], x0, cross)
    return {n.name: _full(env[n.name], shape) for n in model.dynamic if n.name in needed}


def _is_constant(node) -> bool:
    return not node.input_names


def _full(x, shape):
    x = np.asarray(x, float)
    return x if x.shape == shape else np.broadcast_to(x, shape).copy()


def _needed(model: PDModel, wanted) -> set[str]:
    if wanted is None:
        return {n.name for n in model.dynamic}
    need: set[str] = set()
    stack = list(wanted)
    while stack:
        name = stack.pop()
        if name in need or name in model.sources:
            continue
        if name not in model.nodes:
            raise KeyError(name)
        need.add(name)
        stack += list(model.nodes[name].input_names)
    return need
