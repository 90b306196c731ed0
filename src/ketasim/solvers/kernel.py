"""The compiled population kernel, generated from a declared PD model (`ketasim.models.spec`).

For each model variant the generator writes one Python module: every node function's own text (as written in
the model declaration) as a numba function, and a kernel that runs them for one subject per iteration, parallel
over subjects, in a few passes over time: each pass computes the signals it can (with the scalar `ops` of
`ketasim.solvers._kernel_ops`), stores the drives of the slow states, and integrates those states with the
same exact-for-parabolas rule as `ketasim.solvers.relax` once their whole drive is known. Nodes that read only
time and parameters (the same for every subject) are evaluated once, by the reference evaluator, and passed in.

The module is written to a cache folder (KETASIM_CACHE_DIR, else ~/.cache/ketasim) under a name that hashes the
model's structure, its node functions and this generator, so numba's on-disk cache works and a changed model or
ketasim gets a fresh compile. Parameters are packed by position from the model's own keys; nothing here knows
which nodes a model has.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ketasim.models.spec import ModelError, PDModel, function_source

from .reference import evaluate, subject_values
from .relax import relax_coefficients, relax_geometry
from .switches import switch_plan

GENERATOR_VERSION = "4"
_LOCK = threading.Lock()
_COMPILED: dict[str, "CompiledPD"] = {}


def cache_dir() -> Path:
    base = os.environ.get("KETASIM_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "ketasim"
    folder = root / "kernels"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        return folder
    except OSError:
        folder = Path(tempfile.gettempdir()) / f"ketasim-kernels-{os.getuid()}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def _support_hash() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(GENERATOR_VERSION.encode())
    for name in ("_kernel_ops.py", "_numba_kernels.py", "kernel.py", "relax.py", "switches.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:12]


@dataclass
class _Plan:
    source: str
    kernel_nodes: list[str]          # nodes the kernel computes (output map indexes these)
    shared: list[str]                # subject-independent nodes, precomputed
    effect_sites: list[str]
    subjects: list[str]
    parameters: list[str]            # par[] order
    rates: list[str]                 # relax coefficient rows
    n_switches: int = 0              # switch arguments (solvers.switches), by the model's switch index


def _generate(model: PDModel) -> _Plan:
    shared_set = model.subject_independent()
    shared = [n.name for n in model.dynamic if n.name in shared_set]
    knodes = [n for n in model.dynamic if n.name not in shared_set]
    effect_sites = [s.name for s in model.sources.values() if s.kind == "effect_site"]
    subjects = [s.name for s in model.sources.values() if s.kind == "subject"]
    if any(s.kind == "time" for s in model.sources.values()):
        time_name = next(s.name for s in model.sources.values() if s.kind == "time")
    else:  # pragma: no cover - every model has time
        time_name = None
    stage = model.stages()
    # keys of parameters any kernel node uses (numbers bound in params are written as literals)
    par_keys: list[str] = []
    rates: list[str] = []

    def par(key) -> str:
        if not isinstance(key, str):
            return repr(float(key))
        if key not in par_keys:
            par_keys.append(key)
        return f"p[{par_keys.index(key)}]"

    target_stage = {n.name: (stage[n.name] - 1 if n.kind == "state" else stage[n.name]) for n in knodes}
    n_pass = max(target_stage.values(), default=-1) + 1
    state_idx = {n.name: i for i, n in enumerate(n for n in knodes if n.kind == "state")}
    # signals whose values later passes (or state initial values) read are kept over time in V
    later = set()
    for n in knodes:
        for i in n.input_names:
            if i in model.nodes and i not in shared_set and model.nodes[i].kind == "signal" \
                    and target_stage[i] < target_stage[n.name]:
                later.add(i)
    v_idx = {name: k for k, name in enumerate(x for x in (m.name for m in knodes) if x in later)}
    out_idx = {n.name: k for k, n in enumerate(knodes)}
    sw_plan = switch_plan(model)
    n_sw = sw_plan.total
    marked = sw_plan.sources(model)
    lines = ["import math", "import numpy as np", "from numba import njit, prange",
             "from ketasim.solvers import _kernel_ops as ops",
             "from ketasim.solvers._numba_kernels import crossing_series, relax_line", ""]
    for n in knodes:
        fdef = marked[n.name] if n.name in marked else function_source(n.fn)
        fdef.name = f"f_{n.name}"
        lines += ["", "@njit", ast.unparse(fdef), ""]
    # one subject in a serial function, called from a small parallel loop: numba's parallel lowering of the
    # whole body would double the compile time for nothing (subjects are the only parallel axis)
    body = ["", "@njit(cache=True)",
            "def one_subject(s, ce, xs, sj, p, KR, A1, A2, A3, GF, IH, IW, MODE, TW, SWX, om, orow, out):",
            "    T = ce.shape[2]",
            "    if True:",
            f"        V = np.empty(({max(len(v_idx), 1)}, T))",
            f"        U = np.empty(({max(len(state_idx), 1)}, T))",
            f"        X = np.empty(({max(len(state_idx), 1)}, T))",
            f"        sw = np.zeros({max(n_sw, 1)})",
            f"        SW = np.zeros(({max(n_sw, 1)}, T))",
            "        TS = np.empty(T)",
            "        TSN = np.full(T, np.nan)"]
    for name in shared:   # subject-independent nodes' switch arguments, from the reference evaluator
        if name in sw_plan.count:
            o = sw_plan.offset[name]
            body.append(f"        SW[{o}:{o + sw_plan.count[name]}, :] = SWX[{o}:{o + sw_plan.count[name]}, :]")

    def store_switches(n):
        if n.name not in sw_plan.count:
            return []
        o = sw_plan.offset[n.name]
        return [f"            SW[{j}, i] = sw[{j}]" for j in range(o, o + sw_plan.count[n.name])]

    def ref(name: str, pass_no: int) -> str:
        """The expression of an input inside the time loop of pass `pass_no`."""
        if name == time_name:
            return "xs[0, i]"
        if name in model.sources:
            src = model.sources[name]
            if src.kind == "effect_site":
                return f"ce[{effect_sites.index(name)}, s, i]"
            return f"sj[{subjects.index(name)}, s]"
        if name in shared_set:
            return f"xs[{1 + shared.index(name)}, i]"
        node = model.nodes[name]
        if node.kind == "state":
            return f"X[{state_idx[name]}, i]"
        if target_stage[name] == pass_no:
            return f"v_{name}"
        return f"V[{v_idx[name]}, i]"

    def call(n, pass_no: int) -> str:
        args = []
        for a in n.arguments:
            if a in n.params:
                args.append(par(n.params[a]))
            else:
                args.append(ref(n.inputs.get(a, a), pass_no))
        if n.name in sw_plan.count:
            args.append("sw")
        return f"f_{n.name}({', '.join(args)})"

    for pass_no in range(n_pass):
        body.append("        for i in range(T):")
        body.append("            r = orow[i]")
        emitted = False
        for n in knodes:
            if target_stage[n.name] != pass_no:
                continue
            emitted = True
            if n.kind == "signal":
                body.append(f"            v_{n.name} = {call(n, pass_no)}")
                body += store_switches(n)
                if n.name in v_idx:
                    body.append(f"            V[{v_idx[n.name]}, i] = v_{n.name}")
                body.append(f"            if r >= 0 and om[{out_idx[n.name]}] >= 0:")
                body.append(f"                out[om[{out_idx[n.name]}], s, r] = v_{n.name}")
            else:
                body.append(f"            U[{state_idx[n.name]}, i] = {call(n, pass_no)}")
                body += store_switches(n)
        if not emitted:
            body.append("            pass")
        for n in knodes:
            if n.kind != "state" or target_stage[n.name] != pass_no:
                continue
            if n.rate not in rates:
                rates.append(n.rate)
            r = rates.index(n.rate)
            init = n.initial
            if isinstance(init, str) and init in model.sources:
                x0 = f"sj[{subjects.index(init)}, s]"
            elif isinstance(init, str):
                x0 = par(init)
            else:
                x0 = repr(float(init))
            k = state_idx[n.name]
            idx = sw_plan.per_state[n.name]
            if idx:
                body.append(f"        crossing_series(SW, np.array({list(idx)!r}, dtype=np.int64), TW, TS)")
            ts = "TS" if idx else "TSN"
            body.append(f"        relax_line(U[{k}], {x0}, KR[{r}], A1[{r}], A2[{r}], A3[{r}], GF[{r}], IH, IW, MODE, TW, "
                        f"{ts}, X[{k}])")
            body.append(f"        if om[{out_idx[n.name]}] >= 0:")
            body.append("            for i in range(T):")
            body.append("                if orow[i] >= 0:")
            body.append(f"                    out[om[{out_idx[n.name]}], s, orow[i]] = X[{k}, i]")
    body += ["", "", "@njit(parallel=True, cache=True)",
             "def kernel(ce, xs, sj, p, KR, A1, A2, A3, GF, IH, IW, MODE, TW, SWX, om, orow, out):",
             "    for s in prange(ce.shape[1]):",
             "        one_subject(s, ce, xs, sj, p, KR, A1, A2, A3, GF, IH, IW, MODE, TW, SWX, om, orow, out)"]
    source = "\n".join(lines + body) + "\n"
    return _Plan(source, [n.name for n in knodes], shared, effect_sites, subjects, par_keys, rates, n_sw)


class CompiledPD:
    """A model variant's compiled kernel: `run` gives the same outputs as the reference evaluator."""

    def __init__(self, model: PDModel):
        self.model = model
        self.plan = _generate(model)
        digest = hashlib.sha256((self.plan.source + _support_hash()).encode()).hexdigest()[:16]
        path = cache_dir() / f"pd_kernel_{digest}.py"
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(self.plan.source)
            os.replace(tmp, path)
        name = f"ketasim_generated_pd_{digest}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        self.kernel = module.kernel
        self.path = path
        # what the subject-independent nodes read (parameters, derived and context values): a run whose values
        # agree on these has the same shared signals (the key of `run`'s memo)
        keys: list[str] = []
        for name in self.plan.shared:
            n = model.nodes[name]
            refs = list(n.parameter_keys) + ([n.rate, n.initial] if n.kind == "state" else [])
            keys += [k for k in refs if isinstance(k, str) and k not in keys]
        self.shared_keys = tuple(keys)

    def run(self, t: np.ndarray, effect_sites: np.ndarray, subject: dict[str, np.ndarray],
            values: dict[str, float], wanted: list[str], at: np.ndarray | None = None,
            memo: dict | None = None) -> dict[str, np.ndarray]:
        """effect_sites (n_effect_sites, N, T) in `plan.effect_sites` order, on the grid t; subject: per-subject
        arrays (N,) (missing ones take the sources' defaults); returns {name: (T_out, N)} for the wanted nodes at
        the grid rows `at` (default: every row), so an internal grid finer than the output costs no memory.
        `memo`: a dict the caller keeps over many runs on the same grid (parameter sets that share some values):
        the grid geometry, each rate's step coefficients and the subject-independent signals are then computed
        once per distinct value of what they read, with the same numbers."""
        plan, model = self.plan, self.model
        if memo is not None and memo.get("grid") is not t:
            memo.clear()
            memo["grid"] = t
        memo = {} if memo is None else memo
        t = np.asarray(t, float)
        T = len(t)
        N = effect_sites.shape[1]
        subj = subject_values(model, subject, values)
        sj = np.ascontiguousarray(np.stack([np.broadcast_to(np.asarray(subj[k], float), (N,)) for k in plan.subjects])
                                  if plan.subjects else np.zeros((0, N)))
        shared_key = ("shared", tuple(values[k] for k in self.shared_keys))
        cached = memo.get(shared_key)
        if cached is None:
            shared_sw: dict = {}
            shared_vals = evaluate(model, t, {}, subj, values, wanted=plan.shared, switches=shared_sw) \
                if plan.shared else {}
            SWX = np.zeros((max(plan.n_switches, 1), T))
            for j, a in shared_sw.items():
                SWX[j] = np.broadcast_to(np.asarray(a, float), (T,))
            xs = np.zeros((1 + len(plan.shared), T))
            xs[0] = t
            for j, name in enumerate(plan.shared):
                xs[1 + j] = np.asarray(shared_vals[name], float).reshape(T)
            cached = memo[shared_key] = (xs, SWX)
        xs, SWX = cached
        p = np.array([values[k] for k in plan.parameters], float)
        if "geometry" not in memo:
            memo["geometry"] = relax_geometry(t)
        IH, IW, MODE, hb, span = memo["geometry"]
        dt = np.diff(t)
        R = max(len(plan.rates), 1)
        A1, A2, A3, GF = (np.zeros((R, T)) for _ in range(4))
        for r, key in enumerate(plan.rates):
            rate_key = ("rate", float(values[key]))
            rows = memo.get(rate_key)
            if rows is None:
                a1, a2, a3, rho = relax_coefficients(values[key], np.maximum(dt, 0.0))
                with np.errstate(divide="ignore", invalid="ignore"):
                    gf = np.where(MODE[1:] == 3, np.clip((hb[1:] + rho) / span[1:], 0.0, 1.0), 0.0)
                rows = memo[rate_key] = (a1, a2, a3, gf)
            A1[r, 1:], A2[r, 1:], A3[r, 1:], GF[r, 1:] = rows
        in_kernel = [w for w in wanted if w in plan.kernel_nodes]
        om = np.full(len(plan.kernel_nodes), -1, np.int64)
        for j, name in enumerate(in_kernel):
            om[plan.kernel_nodes.index(name)] = j
        at = np.arange(T) if at is None else np.asarray(at, np.int64)
        orow = np.full(T, -1, np.int64)
        orow[at] = np.arange(len(at))
        if len(np.unique(at)) != len(at):
            raise ValueError("output rows must be distinct grid points")
        out = np.empty((len(in_kernel), N, len(at)))
        ce = np.ascontiguousarray(effect_sites, dtype=float)
        KR = np.array([float(values[key]) for key in plan.rates] or [0.0])
        self.kernel(ce, xs, sj, p, KR, A1, A2, A3, GF, IH, IW, MODE, t, SWX, om, orow, out)
        result = {name: out[j].T for j, name in enumerate(in_kernel)}
        for name in wanted:
            if name in plan.shared:
                result[name] = np.broadcast_to(xs[1 + plan.shared.index(name)][at, None], (len(at), N))
            elif name not in result:
                raise ModelError(f"no node {name!r} in the model")
        return result


def compiled(model: PDModel) -> CompiledPD:
    """The compiled kernel of a model variant (generated and loaded once per process)."""
    key = model.signature()
    with _LOCK:
        hit = _COMPILED.get(key)
        if hit is None:
            hit = _COMPILED[key] = CompiledPD(model)
    return hit
