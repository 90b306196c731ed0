"""The model specification: the PD layers (L2-L5) declared once, as a checked graph of small typed nodes.

A node is a plain elementwise Python function with a declared name, kind, inputs, parameters, unit, layer and
label. Its inputs are its argument names (other nodes, or the sources the PK layer and the subject provide);
`params` maps the arguments that are parameters to parameter keys (a ParameterSet key, a derived value of this
model, a context value, or a number). Kinds:

- `signal`: an algebraic value, computed at every time point;
- `state`: a slow state dX/dt = k (u - X), where the function gives the target u, `rate` names k (1/h) and
  `initial` gives X at the first time point (a number, a parameter key or a subject source);
- `derived`: a number computed once from parameters and context (e.g. k = ln 2 / half-life).

Every backend reads this one declaration: the reference evaluator (`ketasim.solvers.reference`), the compiled
population kernel (`ketasim.solvers.kernel`, generated from the node functions), the ODE right-hand side
(`ketasim.solvers.ode`), the SBML export (the node functions traced on symbols), and the output columns, units,
plot panels, dashboard layers and parameter groups (`outputs()`). Building a model checks it: missing inputs,
cycles, unknown parameter keys, functions the compiled kernel cannot include and unit mismatches are errors.

Node functions may use only arithmetic and `ketasim.models.ops` (called as `ops.NAME`), so that they run on
floats, arrays, pint quantities, SBML symbols and in numba alike.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import math
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from . import ops

KINDS = ("signal", "state", "derived")


@dataclass(frozen=True)
class Panel:
    """A group of outputs drawn together: a panel of the time-course figure, a layer of the dashboard."""

    name: str     # as in the figure, e.g. "L3 receptors"
    key: str      # the dashboard's layer key
    title: str
    core: bool    # the dashboard always shows it (with a note where there is no output)


# in drawing order; an output may name another panel (it is then drawn after these, and the dashboard lists it
# under its own name)
PANELS = (
    Panel("L1 plasma", "concentrations", "Plasma concentrations", True),
    Panel("L2 effect site", "effect_sites", "Effect-site concentrations", False),
    Panel("L3 receptors", "occupancy", "Receptor occupancy", True),
    Panel("L4 mediators", "mediators", "Mediators (signalling states)", False),
    Panel("L5 immediate", "effects", "Immediate effects", True),
    Panel("L5 mood", "mood", "Mood (depression scales)", True),
)


def panel(name: str) -> Panel:
    for p in PANELS:
        if p.name == name:
            return p
    key = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_") or "other"
    return Panel(name, key, name, False)
_ALLOWED_GLOBALS = {"ops", "True", "False", "None", "min", "max", "abs", "float"}


class ModelError(ValueError):
    """A model declaration that cannot be built: missing input, cycle, unknown parameter, unit mismatch."""


@dataclass(frozen=True)
class Source:
    """A leaf input of the PD layers: time, an effect-site concentration from the PK layer, or a per-subject
    number (baseline severity, sensitivity multipliers)."""

    name: str
    kind: Literal["time", "effect_site", "subject"]
    unit: str
    label: str
    default: str | float | None = None   # subject sources: the typical subject's value (number or parameter key)


@dataclass(frozen=True)
class Node:
    name: str
    fn: Callable
    kind: Literal["signal", "state", "derived"] = "signal"
    params: Mapping[str, str | float] = field(default_factory=dict)
    unit: str = "dimensionless"
    layer: str = ""
    label: str = ""
    output: bool = False
    display_unit: str | None = None     # how a person reads the unit (defaults to `unit`)
    panel: str | None = None            # figure panel of an output (defaults by layer)
    rate: str | None = None             # state: parameter key of k (1/h)
    initial: str | float | None = None  # state: X at the first time point
    inputs: Mapping[str, str] = field(default_factory=dict)  # argument -> node name, where they differ
    description: str = ""
    replaces: bool = False              # a mechanism's node that replaces the core node of the same name

    @cached_property
    def arguments(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.fn).parameters)

    @cached_property
    def input_names(self) -> tuple[str, ...]:
        """The nodes and sources this node reads, in argument order."""
        return tuple(self.inputs.get(a, a) for a in self.arguments if a not in self.params)

    @cached_property
    def parameter_keys(self) -> tuple[str | float, ...]:
        return tuple(self.params[a] for a in self.arguments if a in self.params)

    def output_info(self) -> "OutputInfo":
        return OutputInfo(self.name, self.display_unit or self.unit, self.layer,
                          self.panel or default_panel(self.layer), self.label or self.name, self.description)

    def rebind(self, **params: str | float) -> "Node":
        """The same node with some parameters bound to other keys (or numbers), marked as a replacement."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise ModelError(f"node {self.name}: no parameter argument {sorted(unknown)[0]!r} to rebind")
        return replace(self, params={**self.params, **params}, replaces=True)

    def call(self, values: Mapping[str, object], parameters: Mapping[str, object], fn: Callable | None = None):
        """Evaluate on inputs by node name and parameters by key (any backend's numbers)."""
        f = fn or self.fn
        args = []
        for a in self.arguments:
            if a in self.params:
                key = self.params[a]
                args.append(key if not isinstance(key, str) else parameters[key])
            else:
                args.append(values[self.inputs.get(a, a)])
        return f(*args)


def signal(name: str, fn: Callable, **kw) -> Node:
    return Node(name, fn, "signal", **kw)


def state(name: str, target: Callable, rate: str, initial: str | float, **kw) -> Node:
    """A slow state dX/dt = rate (target - X), X = initial at the first time point."""
    return Node(name, target, "state", rate=rate, initial=initial, **kw)


def derived(name: str, fn: Callable, **kw) -> Node:
    return Node(name, fn, "derived", **kw)


def linear_drive(terms: Mapping[str, tuple[str | float, str]], name: str = "mediator_drive") -> Node:
    """The mechanism's antidepressant drive, sum over mediators m of w_m (X_m - 1) / X50_m, as a node.
    `terms` maps a mediator node (baseline 1) to (weight key or number, half-effect excess key)."""
    args, params, parts = [], {}, []
    for i, (mediator, (weight, x50)) in enumerate(terms.items()):
        args.append(mediator)
        params[f"w{i}"], params[f"x50_{i}"] = weight, x50
        parts.append(f"w{i} * ({mediator} - 1.0) / x50_{i}")
    arglist = ", ".join(args + list(params))
    body = " + ".join(parts) if parts else "0.0"
    src = f"def {name}({arglist}):\n    return {body}\n"
    namespace: dict = {}
    exec(compile(src, f"<ketasim linear drive {name}>", "exec"), namespace)  # noqa: S102 - our own text
    fn = namespace[name]
    fn.__ketasim_source__ = src
    return Node(name, fn, "signal", params=params, unit="dimensionless", layer="L4",
                label="antidepressant mediator drive",
                description="the mechanism's weighted, normalised mediator excess", replaces=True)


def immediate_drive(terms: Mapping[str, tuple[str | float, str]], drivers: Mapping[str, str],
                    name: str = "immediate_drive") -> Node:
    """The mechanism's immediate antidepressant potency, sum over mediators m of w_m k_form h u_m / X50_m: the
    pathway signal u_m that builds mediator m (`drivers[m]`), acting at once, as strong as the mediator excess
    that h hours of the same signal build (h = mood.immediate_weight). `terms` as for `linear_drive`."""
    args, params, parts = [], {"k_form": "mediator.formation_rate", "hours": "mood.immediate_weight"}, []
    for i, (mediator, (weight, x50)) in enumerate(terms.items()):
        args.append(drivers[mediator])
        params[f"w{i}"], params[f"x50_{i}"] = weight, x50
        parts.append(f"w{i} * {drivers[mediator]} / x50_{i}")
    arglist = ", ".join(list(dict.fromkeys(args)) + list(params))
    body = f"k_form * hours * ({' + '.join(parts)})" if parts else "0.0"
    src = f"def {name}({arglist}):\n    return {body}\n"
    namespace: dict = {}
    exec(compile(src, f"<ketasim immediate drive {name}>", "exec"), namespace)  # noqa: S102 - our own text
    fn = namespace[name]
    fn.__ketasim_source__ = src
    return Node(name, fn, "signal", params=params, unit="dimensionless", layer="L5",
                label="immediate antidepressant potency",
                description="the mechanism's pathway signal acting at once (the immediate layer)", replaces=True)


# ---------------------------------------------------------------------------------------------------------
# inspection of node functions: what the compiled kernel and the SBML tracer need from them


def function_source(fn: Callable) -> ast.FunctionDef:
    """The function's definition as an AST (decorators dropped). Lambdas and functions without source are
    refused: the compiled kernel includes each node function's text."""
    src = getattr(fn, "__ketasim_source__", None)
    if src is None:
        if getattr(fn, "__name__", "") == "<lambda>":
            raise ModelError("write node functions with def, not lambda, so the compiled kernel can include them")
        try:
            src = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError):
            raise ModelError(f"the source of {fn!r} cannot be read; define node functions in a file") from None
    tree = ast.parse(src)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == fn.__name__:
            node.decorator_list = []
            return node
    raise ModelError(f"cannot find the definition of {fn.__name__} in its source")


def check_function(node: Node):
    """Node functions use only their arguments, local names, arithmetic and `ops.NAME` calls."""
    fdef = function_source(node.fn)
    args = {a.arg for a in fdef.args.args}
    if fdef.args.vararg or fdef.args.kwarg or fdef.args.kwonlyargs or fdef.args.defaults:
        raise ModelError(f"node {node.name}: plain positional arguments only (no *args, **kwargs or defaults)")
    local = set(args)
    for n in ast.walk(fdef):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            local.add(n.id)
    for n in ast.walk(fdef):
        if isinstance(n, ast.Attribute):
            if not (isinstance(n.value, ast.Name) and n.value.id == "ops" and n.attr in ops.__all__):
                raise ModelError(f"node {node.name}: {ast.unparse(n)} is not available in node functions; use "
                                 f"arithmetic and ops.{'|'.join(ops.__all__)}")
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            if n.id not in local and n.id not in _ALLOWED_GLOBALS:
                raise ModelError(f"node {node.name}: uses the global name {n.id!r}; pass it as a parameter "
                                 f"(params={{{n.id!r}: 'some.key'}}) or compute it in a derived node")
        elif isinstance(n, (ast.Lambda, ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Global,
                            ast.Nonlocal, ast.While, ast.For, ast.Try, ast.With)) and n is not fdef:
            raise ModelError(f"node {node.name}: {type(n).__name__} is not allowed in a node function")


# ---------------------------------------------------------------------------------------------------------
# the assembled model


@dataclass(frozen=True)
class OutputInfo:
    """An output column: its name, unit as people read it, layer, figure panel and label."""

    name: str
    unit: str
    layer: str
    panel: str
    label: str
    description: str = ""
    detail: bool = False   # written to timecourse.parquet but left out of tables, figures and population runs


class PDModel:
    """The PD layers of one model variant (core nodes plus a mechanism's nodes), checked and ordered."""

    def __init__(self, sources: Iterable[Source], nodes: Iterable[Node], context: Mapping[str, str],
                 label: str = ""):
        self.sources: dict[str, Source] = {}
        for s in sources:
            if s.name in self.sources:
                raise ModelError(f"source {s.name} declared twice")
            self.sources[s.name] = s
        self.context_units = dict(context)
        self.label = label
        merged: dict[str, Node] = {}
        for n in nodes:
            if n.kind not in KINDS:
                raise ModelError(f"node {n.name}: kind must be one of {', '.join(KINDS)}, not {n.kind!r}")
            if n.kind != "derived" and not n.name.isidentifier():
                raise ModelError(f"node name {n.name!r} must be a Python identifier (it is an argument name)")
            if n.name in self.sources:
                raise ModelError(f"node {n.name} has the name of a source")
            if n.name in merged and not n.replaces:
                raise ModelError(f"node {n.name} declared twice (a mechanism's node that replaces a core node "
                                 f"must say replaces=True)")
            merged[n.name] = n
        self.declared = tuple(merged)  # declaration order: the order of output columns
        self.nodes = self._ordered(merged)
        for n in self.nodes.values():
            check_function(n)

    # structure --------------------------------------------------------------------------------------
    def _ordered(self, nodes: dict[str, Node]) -> dict[str, Node]:
        """Topological order (inputs before readers); a cycle or a missing input is an error."""
        order: dict[str, Node] = {}
        visiting: list[str] = []

        def deps(n: Node) -> list[str]:
            out = []
            for key in n.parameter_keys:
                if isinstance(key, str) and key in nodes and nodes[key].kind == "derived":
                    out.append(key)
            if n.kind == "derived":
                extra = [a for a in n.input_names]
                if extra:
                    raise ModelError(f"derived node {n.name} reads {extra[0]!r}: derived nodes take "
                                     f"parameters only (bind every argument in params)")
                return out
            for name in n.input_names:
                if name in self.sources:
                    continue
                if name not in nodes:
                    raise ModelError(f"node {n.name} reads {name!r}, which no node or source provides")
                if nodes[name].kind == "derived":
                    raise ModelError(f"node {n.name} reads the derived value {name!r} as an input; bind it as "
                                     f"a parameter instead (params={{'{name}': '{name}'}})")
                out.append(name)
            if n.kind == "state":
                for ref in (n.rate, n.initial):
                    if isinstance(ref, str) and ref in nodes:
                        out.append(ref)
            return out

        def visit(name: str):
            if name in order:
                return
            if name in visiting:
                cycle = visiting[visiting.index(name):] + [name]
                raise ModelError(f"the model has a cycle: {' -> '.join(cycle)}")
            visiting.append(name)
            for d in deps(nodes[name]):
                visit(d)
            visiting.pop()
            order[name] = nodes[name]

        for name in nodes:
            visit(name)
        return order

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise ModelError(f"no node {name!r} in the model") from None

    @cached_property
    def derived(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "derived"]

    @cached_property
    def dynamic(self) -> list[Node]:
        """Signals and states, in evaluation order."""
        return [n for n in self.nodes.values() if n.kind != "derived"]

    @cached_property
    def states(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "state"]

    def parameter_keys(self) -> list[str]:
        """Every ParameterSet or context key the model reads (derived values excluded), sorted."""
        keys: set[str] = set()
        for n in self.nodes.values():
            refs = list(n.parameter_keys)
            if n.kind == "state":
                refs += [n.rate, n.initial]
            keys |= {k for k in refs if isinstance(k, str) and k not in self.nodes and k not in self.sources}
        for s in self.sources.values():
            if isinstance(s.default, str):
                keys.add(s.default)
        return sorted(keys)

    def parameter_users(self) -> dict[str, list[str]]:
        """Parameter key -> the dynamic nodes that read it (through derived values too), in model order."""
        via: dict[str, set[str]] = {}
        for n in self.derived:
            keys: set[str] = set()
            for k in n.parameter_keys:
                if isinstance(k, str):
                    keys |= via.get(k, {k})
            via[n.name] = keys
        users: dict[str, list[str]] = {}
        for n in self.dynamic:
            refs = list(n.parameter_keys) + ([n.rate, n.initial] if n.kind == "state" else [])
            for k in refs:
                if isinstance(k, str) and k not in self.sources:
                    for key in via.get(k, {k}):
                        users.setdefault(key, [])
                        if n.name not in users[key]:
                            users[key].append(n.name)
        return users

    def subject_independent(self) -> set[str]:
        """Nodes whose value is the same for every subject (they read only time, context and parameters)."""
        shared: set[str] = set()
        for n in self.dynamic:
            ok = all(self.sources[i].kind == "time" if i in self.sources else i in shared for i in n.input_names)
            if n.kind == "state":
                ok = ok and not (isinstance(n.initial, str) and n.initial in self.sources)
            if ok:
                shared.add(n.name)
        return shared

    def stages(self) -> dict[str, int]:
        """Evaluation pass of each dynamic node: a state is known one pass after its target's inputs."""
        stage: dict[str, int] = {}
        for n in self.dynamic:
            s = max((stage.get(i, 0) for i in n.input_names), default=0)
            stage[n.name] = s + 1 if n.kind == "state" else s
        return stage

    # outputs ----------------------------------------------------------------------------------------
    def outputs(self) -> list[OutputInfo]:
        return [n.output_info() for n in map(self.nodes.get, self.declared) if n.output]

    @cached_property
    def _signature(self) -> str:
        h = hashlib.sha256()
        for s in self.sources.values():
            h.update(repr((s.name, s.kind)).encode())
        for n in self.nodes.values():
            h.update(repr((n.name, n.kind, n.arguments, sorted((k, str(v)) for k, v in n.params.items()),
                           dict(n.inputs), n.rate, n.initial)).encode())
            h.update(ast.unparse(function_source(n.fn)).encode())
        return h.hexdigest()[:20]

    def signature(self) -> str:
        """A hash of the structure and of every node function's text (names a compiled kernel)."""
        return self._signature

    # parameters -------------------------------------------------------------------------------------
    def values(self, parameters, context: Mapping[str, float]) -> dict[str, float]:
        """Every parameter key the nodes read, in internal units: ParameterSet values, context values and the
        derived values (computed here, in order)."""
        vals: dict[str, float] = {}
        missing = [k for k in self.parameter_keys() if k not in self.context_units and k not in parameters]
        if missing:
            raise ModelError(f"the model reads parameter {missing[0]!r}, which the parameter set does not have")
        for key in self.parameter_keys():
            if key in self.context_units:
                if key not in context:
                    raise ModelError(f"context value {key!r} not given")
                vals[key] = float(context[key])
            else:
                vals[key] = parameters.value(key)
        for n in self.derived:
            vals[n.name] = float(n.call({}, vals))
        return vals

    def check_units(self, parameters, ureg):
        """Evaluate every node once on pint quantities of the declared units: a node whose result does not have
        its declared unit, or whose arithmetic mixes units, is an error naming the node."""
        from ketasim.parameters._parameter_set import internal_unit_for

        Q = ureg.Quantity
        q_params: dict[str, object] = {}
        for key in self.parameter_keys():
            if key in self.context_units:
                q_params[key] = Q(1.0, self.context_units[key])
            else:
                par = parameters[key]
                q_params[key] = Q(par.internal_value if par.internal_value != 0 else 0.5,
                                  internal_unit_for(par.unit, key))
        q_vals: dict[str, object] = {s.name: Q(0.5, s.unit) for s in self.sources.values()}
        for n in self.nodes.values():
            try:
                if n.kind == "derived":
                    got = n.call({}, q_params)
                    q_params[n.name] = got
                else:
                    got = n.call(q_vals, q_params)
                    q_vals[n.name] = Q(0.5, n.unit) if n.kind == "state" else got
            except Exception as exc:  # pint's DimensionalityError and friends
                raise ModelError(f"node {n.name}: units do not combine ({type(exc).__name__}: {exc})") from None
            _expect_unit(n.name, "its value" if n.kind != "state" else "its target", got, n.unit, ureg)
            if n.kind == "state":
                rate = q_params.get(n.rate) if isinstance(n.rate, str) else None
                if rate is None:
                    raise ModelError(f"state {n.name}: rate must name a parameter, got {n.rate!r}")
                _expect_unit(n.name, f"its rate {n.rate}", rate, "1/h", ureg)
                init = n.initial
                if isinstance(init, str):
                    init = q_vals[init] if init in self.sources else q_params.get(init)
                    if init is None:
                        raise ModelError(f"state {n.name}: initial value {n.initial!r} is no parameter or source")
                    _expect_unit(n.name, "its initial value", init, n.unit, ureg)
                elif not isinstance(init, (int, float)) or not math.isfinite(init):
                    raise ModelError(f"state {n.name}: initial value must be a number, parameter or source")

    def check(self, parameters, ureg=None):
        """Parameters exist and units agree. Raises ModelError."""
        from ketasim.units import ureg as default_ureg

        self.values(parameters, {k: 1.0 for k in self.context_units})
        self.check_units(parameters, ureg or default_ureg)
        return self


def _expect_unit(name: str, what: str, value, unit: str, ureg):
    q = value if hasattr(value, "to") else ureg.Quantity(value, "dimensionless")
    try:
        q.to(unit)
    except Exception:
        raise ModelError(f"node {name}: {what} has units of {q.units:~P} where {unit} is declared") from None


def default_panel(layer: str) -> str:
    for p in PANELS:
        if p.name.startswith(layer):
            return p.name
    return layer or "other"
