"""SBML Level 3 Version 2 export of the typical-subject model (`ketasim export-sbml`).

What the document holds, and where each part comes from (nothing is re-derived here):
- L1 pharmacokinetics: one species (amount, µmol, `hasOnlySubstanceUnits`) per amount state of
  `pk.pk_state_blocks`, in compartments sized by the individual volumes of `pk.individual_pk`; one
  first-order reaction per non-zero off-diagonal entry of `pk.build_pk_matrix` (the rate constant is that
  entry). Mass balance (each diagonal equals minus its column's outflows) is checked on export.
- L2 effect sites (µM, not amounts): parameters with rate rules read off the same matrix rows.
- Dosing: the regimen's `pk.dose_inputs`, as events. A bolus adds its amount to a species; a zero-order
  input has an infusion-rate parameter that an event switches on (to amount/duration) and another switches
  off, feeding a source reaction.
- L3-L5: the assignment rules (occupancies, MOR signal, surge, drive, CADSS, euphoria, expectation, outputs)
  and the rate rules of the slow states (mediators, tolerance, MADRS) are obtained by evaluating ketasim's own
  `KetamineModel.effect_sites`, `KetamineModel.plasma_outputs` and `pd.compute_pd` on symbols: a copy of
  compute_pd runs with `relax` (ketasim's one integrator of dX/dt = k (u - X)) replaced by a recorder of
  that ODE and numpy replaced by a small symbolic shim (`np.where` -> piecewise, `np.clip`/`np.maximum` ->
  piecewise). The parameter values are those of `pd.pd_parameters`.
- Provenance: every parameter and compartment carries SBML notes and a `ketasim:provenance` annotation with
  its ketasim key, and the default parameters (key, value, unit, source citation key, evidence) it depends
  on, found by perturbing each default parameter and seeing which exported numbers move.

Clock: SBML time 0 is ketasim's time t0 = min(0, first dose time) (where ketasim's output grid starts and
its slow states sit at baseline). The parameter `time_offset_h` holds t0 and the assignment rule
`ketasim_time_h = time + time_offset_h` gives ketasim's clock; event triggers are written on the SBML clock
(`time >= dose time - t0`). With no dose before 0 the two clocks coincide.
"""

from __future__ import annotations

import math
import os
import tempfile
import types
import warnings
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

import ketasim
from ketasim.mechanisms import Mechanism, get_mechanism
from ketasim.models import pd as pd_module
from ketasim.models.model import KetamineModel
from ketasim.models.pd import pd_parameters
from ketasim.models.pk import Covariates, build_pk_matrix, individual_pk, is_amount_state
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.regimens import Regimen, ValidatedRangeWarning
from ketasim.simulation import Simulation, as_regimen
from ketasim.units import MOLAR_MASSES

PROVENANCE_NS = "https://ketasim.invalid/sbml/provenance/1"
XHTML_NS = "http://www.w3.org/1999/xhtml"


class SBMLExportError(ValueError):
    """The model cannot be written as SBML as asked."""


# ---------------------------------------------------------------------------------------------------------
# Symbols: evaluate ketasim's own functions on expressions instead of arrays


class Sym:
    """An expression node. `value` is its number where it depends on parameters only (None for time/states),
    so that Python branches on parameters (`if level > 0`) still work while tracing."""

    __slots__ = ("op", "args", "value")

    def __init__(self, op: str, args: tuple, value=None):
        self.op, self.args, self.value = op, args, value

    @staticmethod
    def leaf(name: str, value=None) -> "Sym":
        return Sym("name", (name,), value)

    # arithmetic --------------------------------------------------------------------------------------
    def __add__(self, o):
        return _binary("+", self, o)

    def __radd__(self, o):
        return _binary("+", o, self)

    def __sub__(self, o):
        return _binary("-", self, o)

    def __rsub__(self, o):
        return _binary("-", o, self)

    def __mul__(self, o):
        return _binary("*", self, o)

    def __rmul__(self, o):
        return _binary("*", o, self)

    def __truediv__(self, o):
        return _binary("/", self, o)

    def __rtruediv__(self, o):
        return _binary("/", o, self)

    def __pow__(self, o):
        return _binary("^", self, o)

    def __rpow__(self, o):
        return _binary("^", o, self)

    def __neg__(self):
        return Sym("neg", (self,), None if self.value is None else -self.value)

    def __pos__(self):
        return self

    # relations (used by np.where conditions and parameter-only branches) -----------------------------
    def __ge__(self, o):
        return _binary("geq", self, o)

    def __gt__(self, o):
        return _binary("gt", self, o)

    def __le__(self, o):
        return _binary("leq", self, o)

    def __lt__(self, o):
        return _binary("lt", self, o)

    def __bool__(self):
        if self.value is None:
            raise SBMLExportError("ketasim.sbml: the model branches on a time-varying quantity in Python; "
                                  "write that branch with np.where so that it can be exported")
        return bool(self.value)

    def __float__(self):
        if self.value is None:
            raise SBMLExportError("ketasim.sbml: a time-varying quantity was converted to a number")
        return float(self.value)

    __hash__ = object.__hash__


_PY_OPS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b,
    "^": lambda a, b: a ** b, "geq": lambda a, b: a >= b, "gt": lambda a, b: a > b,
    "leq": lambda a, b: a <= b, "lt": lambda a, b: a < b,
}


def _is_num(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _val(x):
    return float(x) if _is_num(x) else x.value if isinstance(x, Sym) else None


def _binary(op: str, a, b):
    if not isinstance(a, Sym) and not _is_num(a) or not isinstance(b, Sym) and not _is_num(b):
        return NotImplemented
    # identities only (no folding of parameters, so every parameter stays editable in the SBML)
    if op == "+" and _is_num(a) and a == 0:
        return b
    if op in ("+", "-") and _is_num(b) and b == 0:
        return a
    if op == "*" and _is_num(a) and a == 1:
        return b
    if op in ("*", "/", "^") and _is_num(b) and b == 1:
        return a
    va, vb = _val(a), _val(b)
    value = None
    if va is not None and vb is not None:
        try:
            value = _PY_OPS[op](va, vb)
        except (ArithmeticError, ValueError):
            value = None
    return Sym(op, (a, b), value)


def _func(name: str, *args, value=None):
    return Sym(name, args, value)


def _piecewise(a, cond, b):
    cv = _val(cond)
    value = None
    if cv is not None:
        value = _val(a) if cv else _val(b)
    return Sym("piecewise", (a, cond, b), value)


class _SymNumpy:
    """The numpy calls of ketasim's model code, on symbols; anything else falls back to numpy for plain
    numbers and fails loudly on symbols (so a new numpy call in the model shows up in the export test)."""

    def __init__(self):
        self._np = np

    def __getattr__(self, name):
        real = getattr(np, name)
        if not callable(real):
            return real

        def guarded(*args, **kwargs):
            if any(isinstance(a, Sym) for a in list(args) + list(kwargs.values())):
                raise SBMLExportError(f"ketasim.sbml cannot export numpy.{name} yet; add it to _SymNumpy")
            return real(*args, **kwargs)

        return guarded

    @staticmethod
    def _any_sym(*xs):
        return any(isinstance(x, Sym) for x in xs)

    def exp(self, x):
        if isinstance(x, Sym):
            return _func("exp", x, value=None if x.value is None else math.exp(x.value))
        return np.exp(x)

    def log(self, x):
        if isinstance(x, Sym):
            return _func("ln", x, value=None if x.value is None or x.value <= 0 else math.log(x.value))
        return np.log(x)

    def sqrt(self, x):
        return x ** 0.5 if isinstance(x, Sym) else np.sqrt(x)

    def maximum(self, a, b):
        if self._any_sym(a, b):
            return _piecewise(a, _binary("geq", a, b), b)
        return np.maximum(a, b)

    def minimum(self, a, b):
        if self._any_sym(a, b):
            return _piecewise(a, _binary("leq", a, b), b)
        return np.minimum(a, b)

    def clip(self, x, lo, hi):
        if self._any_sym(x, lo, hi):
            if lo is not None:
                x = self.maximum(x, lo)
            if hi is not None:
                x = self.minimum(x, hi)
            return x
        return np.clip(x, lo, hi)

    def where(self, cond, a, b):
        if self._any_sym(cond, a, b):
            return _piecewise(a, cond, b)
        return np.where(cond, a, b)

    def zeros_like(self, x, dtype=None):
        return 0.0 if self._any_sym(x) else np.zeros_like(x, dtype=dtype)

    def ones_like(self, x, dtype=None):
        return 1.0 if self._any_sym(x) else np.ones_like(x, dtype=dtype)

    def asarray(self, x, dtype=None):
        return x if self._any_sym(x) or _is_num(x) else np.asarray(x, dtype=dtype)

    def ndim(self, x):
        return 0 if isinstance(x, Sym) else np.ndim(x)


def _render(node, names: dict[int, str], top: bool = True) -> str:
    """Infix text for libsbml's L3 parser; named sub-expressions are referred to by name."""
    if _is_num(node):
        x = float(node)
        if not math.isfinite(x):
            raise SBMLExportError(f"non-finite constant {x} in an exported expression")
        s = repr(x)
        return f"({s})" if x < 0 else s
    if not top and id(node) in names:
        return names[id(node)]
    op, args = node.op, node.args
    if op == "name":
        return args[0]
    r = [_render(a, names, False) for a in args]
    if op in ("+", "-", "*", "/", "^"):
        return f"({r[0]} {op} {r[1]})"
    if op == "neg":
        return f"(-{r[0]})"
    if op in ("geq", "gt", "leq", "lt", "exp", "ln", "piecewise"):
        return f"{op}({', '.join(r)})"
    raise SBMLExportError(f"cannot render operation {op!r}")  # pragma: no cover


def _leaves(node, out: set[str], names: dict[int, str], top: bool = True):
    if isinstance(node, Sym):
        if not top and id(node) in names:
            out.add(names[id(node)])
            return
        if node.op == "name":
            out.add(node.args[0])
            return
        for a in node.args:
            _leaves(a, out, names, False)


def _rebind_module(module, overrides: dict) -> dict:
    """A copy of a module's namespace with `overrides`, in which every function of the module is re-created
    to look up its globals there: ketasim's code runs unchanged, on symbols, without touching the module."""
    g = dict(module.__dict__)
    g.update(overrides)
    for name, obj in list(g.items()):
        if name in overrides or not isinstance(obj, types.FunctionType) or obj.__module__ != module.__name__:
            continue
        fn = types.FunctionType(obj.__code__, g, obj.__name__, obj.__defaults__, obj.__closure__)
        fn.__kwdefaults__ = obj.__kwdefaults__
        g[name] = fn
    return g


class _SymMapping(Mapping):
    """A read-only view of a parameter mapping whose numbers are symbols named after their keys."""

    def __init__(self, real: Mapping, prefix: str = ""):
        self._real, self._prefix = real, prefix

    def __getitem__(self, k):
        v = self._real[k]
        if isinstance(v, Mapping):
            return _SymMapping(v, f"{self._prefix}{k}_")
        if _is_num(v):
            return Sym.leaf(f"{self._prefix}{k}", float(v))
        return v

    def __iter__(self):
        return iter(self._real)

    def __len__(self):
        return len(self._real)


class _SymPDParams:
    """Stands in for pd.PDParams: q[k] and q.v.get(k, default) give symbols."""

    def __init__(self, q):
        self.v = _SymMapping(q.v)

    def __getitem__(self, k):
        return self.v[k]


@dataclass
class _SlowState:
    node: Sym
    rate: object          # expression of dX/dt
    initial: object       # number or expression of parameters


@dataclass
class _Traced:
    """Named expressions from ketasim's functions, plus the slow states (rate rules) they integrate."""

    named: dict[str, object] = field(default_factory=dict)   # name -> expression (assignment rules)
    states: list[_SlowState] = field(default_factory=list)


# readable names for slow states that compute_pd does not return, by the rate constant they decay with
_STATE_NAMES_BY_RATE = {"k_tol": "dissociation_tolerance"}


def _trace_pd(ce: dict[str, Sym], q, ctx, baseline_madrs: Sym, time_sym: Sym) -> _Traced:
    """Evaluate pd.compute_pd on symbols; each call of `relax` becomes a rate rule."""
    states: list[_SlowState] = []

    def relax(t, target, k, x0):
        node = Sym.leaf(f"__slow_state_{len(states)}__")
        states.append(_SlowState(node, k * (target - node), x0))
        return node

    g = _rebind_module(pd_module, {"np": _SymNumpy(), "relax": relax})
    out = g["compute_pd"](time_sym, ce, _SymPDParams(q), ctx, baseline_madrs)
    traced = _Traced()
    state_names: dict[int, str] = {}
    for name, expr in out.items():  # the last name wins: compute_pd lists its internal names last
        if isinstance(expr, Sym) and expr.op == "name" and expr.args[0].startswith("__slow_state_"):
            state_names[id(expr)] = name
    for i, s in enumerate(states):
        if id(s.node) not in state_names:
            rate_leaves: set[str] = set()
            _leaves(s.rate, rate_leaves, {})
            label = next((v for k, v in _STATE_NAMES_BY_RATE.items() if k in rate_leaves), f"slow_state_{i}")
            state_names[id(s.node)] = label
        s.node.args = (state_names[id(s.node)],)
    traced.states = states
    for name, expr in out.items():
        if not (isinstance(expr, Sym) and id(expr) in state_names and state_names[id(expr)] == name):
            traced.named[name] = expr
    return traced


# ---------------------------------------------------------------------------------------------------------
# Provenance: which default parameters each exported number depends on


def _flatten(prefix: str, obj, out: dict[str, float]):
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _flatten(f"{prefix}{k}_" if isinstance(v, Mapping) else f"{prefix}{k}", v, out)
    elif _is_num(obj):
        out[prefix] = float(obj)


def _exported_numbers(p: ParameterSet, cov: Covariates, mech: Mechanism, regimen: Regimen,
                      model: KetamineModel) -> dict[str, float]:
    """Every number the export takes from ketasim, flat: ind.*, A[i,j], q.*, input.N.*"""
    ind = individual_pk(p, cov)
    A = build_pk_matrix(ind, model.index)
    out: dict[str, float] = {}
    _flatten("ind.", ind.values, out)
    for i, j in zip(*np.nonzero(A)):
        out[f"A.{model.layout.names[i]}.{model.layout.names[j]}"] = float(A[i, j])
    _flatten("q.", {k: v for k, v in pd_parameters(p, mech).v.items()}, out)
    for n, inp in enumerate(model.inputs(regimen, ind, cov.weight_kg)):
        out[f"input.{n}.amount"] = inp.amount_umol
        out[f"input.{n}.time"] = inp.time_h
        out[f"input.{n}.duration"] = inp.duration_h
    out["baseline_madrs"] = p.value("mood.baseline_madrs")
    return out


@dataclass(frozen=True)
class Dependency:
    key: str
    elasticity: float | None   # d ln(number) / d ln(parameter); None where either is 0


def parameter_dependencies(p: ParameterSet, fn) -> dict[str, list[Dependency]]:
    """For each number of `fn(p)` (a flat dict), the parameters of `p` that move it: each parameter is
    lowered by 1e-4 (relative; raised, or shifted, where that fails) and the outputs compared."""
    base = fn(p)
    deps: dict[str, list[Dependency]] = defaultdict(list)
    for key, par in p.items():
        v = par.value
        trials = [v * (1 - 1e-4), v * (1 + 1e-4)] if v != 0 else [1e-4 * ((par.high - par.low) or 1.0)]
        for new in trials:
            try:
                out = fn(p.replace_many({key: new}))
            except (ValueError, ZeroDivisionError, ArithmeticError):
                continue
            break
        else:
            continue
        for k, b in base.items():
            o = out.get(k, b)
            if abs(o - b) > 1e-10 * max(abs(b), 1e-300):
                el = ((o - b) / b) / ((new - v) / v) if b != 0 and v != 0 else None
                deps[k].append(Dependency(key, el))
    return dict(deps)


# ---------------------------------------------------------------------------------------------------------
# The document


_UNITS = {
    # id: [(kind, exponent, scale, multiplier)]
    "hour": [("second", 1, 0, 3600.0)],
    "per_hour": [("second", -1, 0, 3600.0)],
    "umol": [("mole", 1, -6, 1.0)],   # litre is SBML's own unit
    "uM": [("mole", 1, -6, 1.0), ("litre", -1, 0, 1.0)],
    "uM_per_hour": [("mole", 1, -6, 1.0), ("litre", -1, 0, 1.0), ("second", -1, 0, 3600.0)],
    "umol_per_hour": [("mole", 1, -6, 1.0), ("second", -1, 0, 3600.0)],
    "per_litre_per_hour": [("litre", -1, 0, 1.0), ("second", -1, 0, 3600.0)],
    "ng_per_mL": [("gram", 1, -6, 1.0), ("litre", -1, 0, 1.0)],   # 1 ng/mL = 1 µg/L
    "g_per_mol": [("gram", 1, 0, 1.0), ("mole", -1, 0, 1.0)],
}
# dimensions of ketasim internal units, to name the unit of a number derived from parameters
_BASE_DIMS = {"h": {"h": 1}, "1/h": {"h": -1}, "L": {"L": 1}, "L/h": {"L": 1, "h": -1}, "uM": {"uM": 1},
              "dimensionless": {}}
_DIMS_TO_SBML = {(): "dimensionless", (("h", 1),): "hour", (("h", -1),): "per_hour", (("L", 1),): "litre",
                 (("uM", 1),): "uM"}
_OUTPUT_SBML_UNITS = {"ng/mL": "ng_per_mL", "fraction": "dimensionless"}


def _libsbml():
    try:
        import libsbml
    except ImportError:
        raise SBMLExportError("SBML export needs python-libsbml: pip install python-libsbml "
                              "(it comes with ketasim's dev extra)") from None
    return libsbml


def _sid(name: str) -> str:
    """SBML id from a ketasim state or key name."""
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return s if not s[0].isdigit() else f"_{s}"


class _Doc:
    """A libsbml model under construction, with provenance notes on everything numeric."""

    def __init__(self, model_id: str, params: ParameterSet):
        libsbml = _libsbml()
        self.sb = libsbml
        self.doc = libsbml.SBMLDocument(3, 2)
        self.model = self.doc.createModel()
        self.model.setId(model_id)
        self.params = params
        self.ids: set[str] = set()
        self.deps: dict[str, list[Dependency]] = {}

    def _claim(self, sid: str) -> str:
        if sid in self.ids:
            raise SBMLExportError(f"SBML id {sid!r} used twice")
        self.ids.add(sid)
        return sid

    def check(self, rc, what: str):
        if rc != self.sb.LIBSBML_OPERATION_SUCCESS:
            raise SBMLExportError(f"libsbml refused {what}: {self.sb.OperationReturnValue_toString(rc)}")

    def math(self, text: str):
        ast = self.sb.parseL3Formula(text)
        if ast is None:
            raise SBMLExportError(f"cannot parse {text!r}: {self.sb.getLastParseL3Error()}")
        return ast

    # provenance -----------------------------------------------------------------------------------------
    def annotate(self, element, ketasim_key: str, what: str, dep_key: str | None = None, extra: str = "",
                 origin: tuple[str, str] = ("ketasim", "structure")):
        """Notes (for people) and a ketasim:provenance annotation (for programs) on `element`."""
        deps = self.deps.get(dep_key, []) if dep_key else []
        if ketasim_key in self.params and not deps:
            deps = [Dependency(ketasim_key, 1.0)]
        items, rows = [], []
        for d in deps:
            par = self.params[d.key]
            el = "" if d.elasticity is None else f' elasticity="{d.elasticity:.6g}"'
            rows.append(f'<ketasim:parameter key={quoteattr(par.key)} value="{par.value!r}" '
                        f'unit={quoteattr(par.unit)} source={quoteattr(par.source)} '
                        f'evidence={quoteattr(par.evidence)}{el}/>')
            items.append(f"<li>{escape(par.key)} = {par.value:g} {escape(par.unit)}; source "
                         f"{escape(par.source)}; evidence {escape(par.evidence)}; {escape(par.description)}</li>")
        if not deps:
            source, evidence = origin
        elif len(deps) == 1 and deps[0].key == ketasim_key:
            source, evidence = self.params[ketasim_key].source, self.params[ketasim_key].evidence
        else:
            source = ";".join(sorted({self.params[d.key].source for d in deps}))
            evidence = "derived"
        notes = (f'<body xmlns="{XHTML_NS}"><p>ketasim key: {escape(ketasim_key)}. {escape(what)}'
                 f'{(" " + escape(extra)) if extra else ""}</p>'
                 + (f"<p>Depends on these ketasim parameters:</p><ul>{''.join(items)}</ul>" if items else
                    f"<p>No ketasim parameter: source {escape(source)}, evidence {escape(evidence)}.</p>")
                 + "</body>")
        self.check(element.setNotes(notes), f"notes on {ketasim_key}")
        ann = (f'<ketasim:provenance xmlns:ketasim="{PROVENANCE_NS}" key={quoteattr(ketasim_key)} '
               f'source={quoteattr(source)} evidence={quoteattr(evidence)}>{"".join(rows)}'
               f'</ketasim:provenance>')
        self.check(element.setAnnotation(ann), f"annotation on {ketasim_key}")

    # elements ---------------------------------------------------------------------------------------------
    def parameter(self, sid: str, value: float | None, units: str | None, *, constant: bool = True,
                  ketasim_key: str = "", what: str = "", dep_key: str | None = None, extra: str = "",
                  origin: tuple[str, str] = ("ketasim", "structure")):
        p = self.model.createParameter()
        self.check(p.setId(self._claim(sid)), f"id {sid}")
        if value is not None:
            self.check(p.setValue(float(value)), f"value of {sid}")
        if units:
            self.check(p.setUnits(units), f"units of {sid}")
        p.setConstant(constant)
        self.annotate(p, ketasim_key or sid, what, dep_key, extra, origin)
        return p

    def assignment(self, sid: str, formula: str):
        r = self.model.createAssignmentRule()
        r.setVariable(sid)
        self.check(r.setMath(self.math(formula)), f"math of {sid}")

    def rate_rule(self, sid: str, formula: str):
        r = self.model.createRateRule()
        r.setVariable(sid)
        self.check(r.setMath(self.math(formula)), f"rate of {sid}")

    def initial_assignment(self, sid: str, formula: str):
        ia = self.model.createInitialAssignment()
        ia.setSymbol(sid)
        self.check(ia.setMath(self.math(formula)), f"initial value of {sid}")

    def reaction(self, sid: str, reactant: str | None, product: str, formula: str, what: str):
        r = self.model.createReaction()
        self.check(r.setId(self._claim(sid)), f"id {sid}")
        r.setReversible(False)
        if reactant:
            sr = r.createReactant()
            sr.setSpecies(reactant)
            sr.setStoichiometry(1.0)
            sr.setConstant(True)
        sp = r.createProduct()
        sp.setSpecies(product)
        sp.setStoichiometry(1.0)
        sp.setConstant(True)
        kl = r.createKineticLaw()
        self.check(kl.setMath(self.math(formula)), f"rate law of {sid}")
        self.check(r.setNotes(f'<body xmlns="{XHTML_NS}"><p>{escape(what)}</p></body>'), f"notes of {sid}")

    def to_string(self) -> str:
        return self.sb.writeSBMLToString(self.doc)


def _add_units(doc: _Doc):
    for uid, parts in _UNITS.items():
        ud = doc.model.createUnitDefinition()
        ud.setId(uid)
        for kind, exp, scale, mult in parts:
            u = ud.createUnit()
            u.setKind(doc.sb.UnitKind_forName(kind))
            u.setExponent(exp)
            u.setScale(scale)
            u.setMultiplier(mult)
    m = doc.model
    m.setTimeUnits("hour")
    m.setSubstanceUnits("umol")
    m.setExtentUnits("umol")
    m.setVolumeUnits("litre")


def _compartment_of(state: str) -> tuple[str, str | None, str]:
    """(compartment id, individual_pk volume key or None, description) for an amount state."""
    species, _, place = state.partition(".")
    if place == "eliminated":
        return "elimination", None, "sink collecting what is eliminated (nominal 1 L; amounts only)"
    enantiomer = species.rsplit("_", 1)[1] if species.endswith(("_S", "_R")) else ""
    base = species.rsplit("_", 1)[0] if enantiomer else species
    volume_keys = {
        ("ketamine", "central"): "V1", ("ketamine", "peripheral"): "V2",
        ("norketamine", "central"): "NK_V1", ("norketamine", "peripheral"): "NK_V2",
        ("hnk", "central"): "HNK_V1", ("hnk", "peripheral"): "HNK_V2", ("dhnk", "central"): "DHNK_V",
        ("naltrexone", "central"): "NTX_V", ("naltrexol", "central"): "NXL_V",
    }
    if (base, place) == ("ketamine", "liver"):
        return "liver", "Vh", "first-pass liver compartment (well stirred)"
    key = volume_keys.get((base, place))
    if key is None:
        return "absorption_sites", None, "absorption depots (gut, nasal, IM, sublingual; nominal 1 L; amounts only)"
    if enantiomer:
        return _sid(f"{base}_{enantiomer}_{place}_volume"), f"{enantiomer}.{key}", \
            f"{place} distribution volume of {base} ({enantiomer})"
    return _sid(f"{base}_{place}_volume"), key, f"{place} distribution volume of {base}"


def _add_pk(doc: _Doc, model: KetamineModel, ind, A: np.ndarray) -> dict[str, str]:
    """Compartments, species and first-order reactions from the rate matrix; effect sites as rate rules.
    Returns ind key -> SBML id for the volumes (compartment sizes)."""
    names = model.layout.names
    amount = [is_amount_state(n) for n in names]
    volume_ids: dict[str, str] = {}
    made: set[str] = set()
    for n, is_amount in zip(names, amount):
        if not is_amount:
            continue
        cid, vkey, what = _compartment_of(n)
        if cid not in made:
            c = doc.model.createCompartment()
            doc.check(c.setId(doc._claim(cid)), f"compartment {cid}")
            c.setConstant(True)
            c.setSpatialDimensions(3)
            c.setUnits("litre")
            c.setSize(ind[vkey] if vkey else 1.0)
            doc.annotate(c, f"individual_pk:{vkey}" if vkey else cid, what, f"ind.{vkey}" if vkey else None)
            made.add(cid)
            if vkey:
                volume_ids[vkey] = cid
        s = doc.model.createSpecies()
        doc.check(s.setId(doc._claim(_sid(n))), f"species {n}")
        s.setName(n)
        s.setCompartment(cid)
        s.setInitialAmount(0.0)
        s.setHasOnlySubstanceUnits(True)
        s.setBoundaryCondition(False)
        s.setConstant(False)
        s.setSubstanceUnits("umol")
    # first-order flows: A[i, j] (i != j, both amounts) is the rate constant of j -> i
    for j, src in enumerate(names):
        if not amount[j]:
            if any(A[i, j] for i in range(len(names)) if amount[i]):
                raise SBMLExportError(f"effect site {src} feeds an amount state; not a biophase model")
            continue
        out_total = 0.0
        for i, dst in enumerate(names):
            if i == j or not amount[i] or A[i, j] == 0:
                continue
            kid = _sid(f"k_{src}__{dst}")
            doc.parameter(kid, A[i, j], "per_hour", ketasim_key=f"build_pk_matrix:A[{dst},{src}]",
                          what=f"first-order rate constant of {src} -> {dst}", dep_key=f"A.{dst}.{src}")
            doc.reaction(_sid(f"flow_{src}__{dst}"), _sid(src), _sid(dst), f"{kid} * {_sid(src)}",
                         f"{src} -> {dst}, first order (ketasim build_pk_matrix)")
            out_total += A[i, j]
        if abs(out_total + A[j, j]) > 1e-12 * max(abs(A[j, j]), 1.0):
            raise SBMLExportError(f"{src}: outflows {out_total} do not balance its loss {-A[j, j]}")
    # effect sites (µM): dCe/dt = sum_j A[ce, j] x_j, read off the same matrix
    for i, ce in enumerate(names):
        if amount[i]:
            continue
        terms = []
        for j, src in enumerate(names):
            if A[i, j] == 0:
                continue
            if i == j:
                kid = _sid(f"kout_{ce}")
                doc.parameter(kid, -A[i, i], "per_hour", ketasim_key=f"build_pk_matrix:-A[{ce},{ce}]",
                              what=f"loss rate constant of the effect site {ce}", dep_key=f"A.{ce}.{ce}")
                terms.append(f"- {kid} * {_sid(ce)}")
            else:
                kid = _sid(f"kin_{ce}__{src}")
                units = "per_hour" if not amount[j] else "per_litre_per_hour"
                doc.parameter(kid, A[i, j], units, ketasim_key=f"build_pk_matrix:A[{ce},{src}]",
                              what=f"input of {src} to the effect site {ce} (rate constant / volume)",
                              dep_key=f"A.{ce}.{src}")
                terms.append(f"+ {kid} * {_sid(src)}")
        doc.parameter(_sid(ce), 0.0, "uM", constant=False, ketasim_key=ce,
                      what="effect-site (biophase) concentration, µM plasma-equivalent; a rate rule")
        doc.rate_rule(_sid(ce), " ".join(terms).lstrip("+ ") or "0")
    return volume_ids


_REGIMEN = ("regimen", "given")


def _add_dosing(doc: _Doc, inputs, t0: float, dose_texts: dict[int, str]):
    """Events: boluses add amounts; zero-order inputs switch an infusion-rate parameter on and off."""
    events: dict[float, list[tuple[str, str]]] = defaultdict(list)
    for n, inp in enumerate(inputs):
        target = _sid(inp.state)
        extra = (f"Dose: {dose_texts.get(n, '')}; ketasim time {inp.time_h:g} h; mg -> µmol with the molar "
                 f"masses in the model notes.")
        if inp.duration_h <= 0:
            pid = f"dose_{n}_umol"
            doc.parameter(pid, inp.amount_umol, "umol", ketasim_key=f"dose_inputs[{n}].amount_umol",
                          what=f"bolus into {inp.state}", dep_key=f"input.{n}.amount", extra=extra,
                          origin=_REGIMEN)
            events[inp.time_h].append((target, f"{target} + {pid}"))
        else:
            on, rate = f"infusion_{n}_rate_on", f"infusion_{n}_rate"
            doc.parameter(on, inp.amount_umol / inp.duration_h, "umol_per_hour",
                          ketasim_key=f"dose_inputs[{n}].amount_umol/duration_h",
                          what=f"zero-order input into {inp.state} over {inp.duration_h:g} h",
                          dep_key=f"input.{n}.amount", extra=extra, origin=_REGIMEN)
            doc.parameter(rate, 0.0, "umol_per_hour", constant=False, ketasim_key=f"dose_inputs[{n}]",
                          what=f"current zero-order input rate into {inp.state} (events switch it)",
                          origin=_REGIMEN)
            doc.reaction(f"input_{n}", None, target, rate, f"zero-order input {n} into {inp.state}")
            events[inp.time_h].append((rate, on))
            events[inp.time_h + inp.duration_h].append((rate, "0"))
    for k, t in enumerate(sorted(events)):
        ev = doc.model.createEvent()
        doc.check(ev.setId(doc._claim(f"dosing_event_{k}")), "event id")
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setInitialValue(False)
        trig.setPersistent(True)
        doc.check(trig.setMath(doc.math(f"time >= {t - t0!r}")), "event trigger")
        for var, formula in events[t]:
            ea = ev.createEventAssignment()
            ea.setVariable(var)
            doc.check(ea.setMath(doc.math(formula)), f"event assignment to {var}")
        doc.check(ev.setNotes(f'<body xmlns="{XHTML_NS}"><p>Dosing at ketasim time {t:g} h '
                              f'(SBML time {t - t0:g} h).</p></body>'), "event notes")


def _add_expressions(doc: _Doc, traced: _Traced, order: list[str], units: dict[str, str]):
    """Assignment rules for the named expressions and rate rules for the slow states."""
    names: dict[int, str] = {}
    for n, e in traced.named.items():
        if isinstance(e, Sym):
            names.setdefault(id(e), n)
    names.update({id(s.node): s.node.args[0] for s in traced.states})
    done: set[int] = set()
    for n in order:
        expr = traced.named[n]
        if isinstance(expr, Sym) and id(expr) in done:  # a second name for the same expression: an alias
            formula = names[id(expr)]
        else:
            formula = _render(expr, names)
            if isinstance(expr, Sym):
                done.add(id(expr))
        doc.parameter(n, None, units.get(n), constant=False, ketasim_key=n,
                      what="ketasim output or intermediate signal; an assignment rule")
        doc.assignment(n, formula)
    for s in traced.states:
        sid = s.node.args[0]
        init = s.initial
        doc.parameter(sid, float(init) if _is_num(init) else None, units.get(sid, "dimensionless"),
                      constant=False, ketasim_key=sid,
                      what="slow state integrated by ketasim's pd.relax (dX/dt = k (u - X)); a rate rule")
        if not _is_num(init):
            doc.initial_assignment(sid, _render(init, names))
        doc.rate_rule(sid, _render(s.rate, names))


def _add_leaf_parameters(doc: _Doc, exprs, known: dict[str, tuple[float, str, str, str | None]],
                         defined_later: set[str]):
    """SBML parameters for every leaf the expressions use: known[leaf] = (value, units, key, dep key)."""
    leaves: set[str] = set()
    for e in exprs:
        _leaves(e, leaves, {})
    for leaf in sorted(leaves - doc.ids - defined_later):
        if leaf not in known:
            raise SBMLExportError(f"exported expression uses {leaf!r}, which has no value")
        value, units, key, dep = known[leaf]
        doc.parameter(leaf, value, units, ketasim_key=key, what="parameter", dep_key=dep)


def _derived_unit(deps: list[Dependency], params: ParameterSet) -> str | None:
    """Unit of a number from the units of the parameters it depends on and its elasticities."""
    from ketasim.parameters._parameter_set import internal_unit_for

    dims: dict[str, int] = defaultdict(int)
    for d in deps:
        unit = internal_unit_for(params[d.key].unit, d.key)
        base = _BASE_DIMS.get(unit)
        if base is None:
            return None
        if not base:
            continue
        if d.elasticity is None or abs(d.elasticity - round(d.elasticity)) > 1e-3:
            return None
        for k, e in base.items():
            dims[k] += e * int(round(d.elasticity))
    key = tuple(sorted((k, e) for k, e in dims.items() if e))
    return _DIMS_TO_SBML.get(key)


def export_sbml(regimen, *, hypothesis: str | Mechanism = "opioid", opioid_source: str | None = None,
                covariates: Covariates | None = None, parameters: ParameterSet | None = None,
                expectation: str = "active", baseline_madrs: float | None = None,
                oral_antidepressant_start_h: float | None = None) -> str:
    """SBML Level 3 Version 2 text of the typical-subject model for `regimen` under `hypothesis`.

    Numbers come from ketasim's individual_pk, build_pk_matrix, dose_inputs and pd_parameters; formulas from
    effect_sites, plasma_outputs and compute_pd evaluated on symbols. SBML time 0 is ketasim time
    min(0, first dose time); see the module docstring."""
    regimen = as_regimen(regimen)
    params = parameters or default_parameters()
    cov = covariates or Covariates()
    mech = get_mechanism(hypothesis, opioid_source)
    model = KetamineModel()
    ctx = Simulation(regimen, params, model=model, mechanism=mech, expectation=expectation,
                     oral_antidepressant_start_h=oral_antidepressant_start_h,
                     baseline_madrs=baseline_madrs).context()
    regimen.check_validated_range(cov.weight_kg)
    base_madrs = baseline_madrs if baseline_madrs is not None else params.value("mood.baseline_madrs")
    if not (0 < base_madrs <= 60):
        raise SBMLExportError(f"baseline MADRS must be in (0, 60], got {base_madrs!r}")
    t0 = min(0.0, regimen.first_time_h())
    ind, A = model.compile_subject(params, cov)
    q = pd_parameters(params, mech)
    inputs = model.inputs(regimen, ind, cov.weight_kg)

    doc = _Doc(_sid(f"ketasim_{mech.label()}"), params)
    doc.model.setName(f"ketasim {ketasim.__version__}: {mech.label()}, typical subject, "
                      f"{'; '.join(regimen.to_text()) or 'no doses'}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ValidatedRangeWarning)
        doc.deps = parameter_dependencies(params, lambda p: _exported_numbers(p, cov, mech, regimen, model))
    _add_units(doc)
    _add_model_notes(doc, regimen, mech, cov, t0, ctx, expectation)
    _add_clock(doc, t0)
    volume_ids = _add_pk(doc, model, ind, A)
    _add_dosing(doc, inputs, t0, _dose_texts(model, regimen, ind, cov))
    traced = _trace_model(model, ind, volume_ids, q, ctx, base_madrs)
    exprs = list(traced.named.values()) + [s.rate for s in traced.states] + [s.initial for s in traced.states]
    _add_leaf_parameters(doc, exprs, _leaf_values(doc, ind, q, base_madrs, baseline_madrs is None),
                         set(traced.named) | {s.node.args[0] for s in traced.states})
    _add_expressions(doc, traced, list(traced.named), _expression_units(traced))
    return doc.to_string()


def _add_clock(doc: _Doc, t0: float):
    doc.parameter("time_offset_h", t0, "hour", ketasim_key="time_offset_h",
                  what="ketasim time at SBML time 0: min(0, first dose time)", origin=_REGIMEN)
    doc.parameter("ketasim_time_h", None, "hour", constant=False, ketasim_key="time_h",
                  what="ketasim's clock (time_h column) = SBML time + time_offset_h")
    doc.assignment("ketasim_time_h", "time + time_offset_h")


def _dose_texts(model: KetamineModel, regimen: Regimen, ind, cov: Covariates) -> dict[int, str]:
    """Input number -> the dose text it comes from (model.inputs walks the realised doses in order)."""
    texts: dict[int, str] = {}
    for dose in regimen.realize():
        for _ in model.inputs(Regimen((dose,)), ind, cov.weight_kg):
            texts[len(texts)] = dose.to_text()
    return texts


def _trace_model(model: KetamineModel, ind, volume_ids: dict[str, str], q, ctx, base_madrs: float) -> _Traced:
    """ketasim's effect_sites, plasma_outputs and compute_pd on symbols: species amounts and effect sites
    are the leaves; effect-site sums are named ce_<ligand>, outputs by their column names."""
    names = model.layout.names
    X = np.empty((1, len(names)), dtype=object)
    for i, n in enumerate(names):
        X[0, i] = Sym.leaf(_sid(n))
    one = lambda v: v.reshape(-1)[0] if isinstance(v, np.ndarray) else v  # noqa: E731
    plasma = {k: one(v) for k, v in model.plasma_outputs(X, _SymIndividual(ind, volume_ids)).items()}
    ce = {k: one(v) for k, v in model.effect_sites(X).items()}
    traced = _trace_pd(ce, q, ctx, Sym.leaf("baseline_madrs", base_madrs), Sym.leaf("ketasim_time_h"))
    effect = {f"ce_{k}": v for k, v in ce.items() if isinstance(v, Sym) and v.op != "name"}
    traced.named = {**effect, **plasma, **traced.named}
    return traced


def _leaf_values(doc: _Doc, ind, q, base_madrs: float, default_baseline: bool) -> dict:
    """Value, units, ketasim key and dependency key of every parameter an expression may use."""
    known = {_sid(f"pk_{k}"): (v, None, f"individual_pk:{k}", f"ind.{k}") for k, v in ind.values.items()}
    flat_q: dict[str, float] = {}
    _flatten("", q.v, flat_q)
    for k, v in flat_q.items():
        deps = doc.deps.get(f"q.{k}", [])
        known[k] = (v, _derived_unit(deps, doc.params) if deps else _undepended_unit(k),
                    f"pd_parameters:{k}", f"q.{k}")
    known["baseline_madrs"] = (base_madrs, "dimensionless",
                               "mood.baseline_madrs" if default_baseline else "baseline_madrs (given)",
                               "baseline_madrs" if default_baseline else None)
    return known


def _undepended_unit(k: str) -> str:
    # numbers of pd_parameters that no parameter moves are switches (0/1) or placeholders; Ki is µM always
    return "uM" if k.startswith("Ki_") else "dimensionless"


class _SymIndividual:
    """Stands in for pk.PKIndividual in plasma_outputs: volumes are the compartments' sizes."""

    def __init__(self, ind, volume_ids: dict[str, str]):
        self._ind, self._ids = ind, volume_ids

    def __getitem__(self, k):
        if k in self._ids:
            return Sym.leaf(self._ids[k], self._ind[k])
        return Sym.leaf(_sid(f"pk_{k}"), self._ind[k])


def _expression_units(traced: _Traced) -> dict[str, str]:
    from ketasim.models.model import OUTPUT_UNITS

    units = {}
    for n in list(traced.named) + [s.node.args[0] for s in traced.states]:
        u = OUTPUT_UNITS.get(n)
        if n.startswith("ce_"):
            units[n] = "uM"
        elif u is not None:
            units[n] = _OUTPUT_SBML_UNITS.get(u, "dimensionless")
        else:
            units[n] = "dimensionless"
    return units


def _add_model_notes(doc: _Doc, regimen: Regimen, mech: Mechanism, cov: Covariates, t0: float, ctx, expectation):
    doses = "".join(f"<li>{escape(t)}</li>" for t in regimen.to_text()) or "<li>none</li>"
    mm = "; ".join(f"{m.species} {m.g_per_mol} g/mol ({m.source})" for m in MOLAR_MASSES.values())
    body = (
        f'<body xmlns="{XHTML_NS}"><p>Exported by ketasim {escape(ketasim.__version__)} (research software, '
        f"not a dosing tool). Hypothesis {escape(mech.label())}; typical subject: {cov.weight_kg:g} kg, "
        f"{cov.age_y:g} y, sex {escape(cov.sex)}, CYP2B6 {escape(cov.cyp2b6)}; expectation {escape(expectation)}"
        f"{'' if ctx.oral_ad_start_h is None else f'; oral antidepressant from {ctx.oral_ad_start_h:g} h'}.</p>"
        f"<p>Regimen:</p><ul>{doses}</ul>"
        f"<p>Clock: SBML time 0 is ketasim time {t0:g} h = min(0, first dose time), where ketasim's output "
        f"grid starts and the slow states are at baseline. ketasim_time_h = time + time_offset_h; dosing events "
        f"trigger on the SBML clock.</p>"
        f"<p>Units: time h, amount µmol, volume L, concentration µM (effect sites), plasma outputs ng/mL. "
        f"Species are amounts (hasOnlySubstanceUnits); absorption depots and sinks sit in nominal 1 L "
        f"compartments. Molar masses in the ng/mL rules: {escape(mm)}.</p>"
        f"<p>Every parameter's notes and ketasim:provenance annotation ({PROVENANCE_NS}) name its ketasim key "
        f"and the default parameters it depends on (value, unit, source citation key in ketasim's "
        f"CITATIONS.bib, evidence). Numbers come from individual_pk, build_pk_matrix, dose_inputs and "
        f"pd_parameters; the rules are ketasim's effect_sites, plasma_outputs and compute_pd evaluated on "
        f"symbols.</p></body>")
    doc.check(doc.model.setNotes(body), "model notes")


# ---------------------------------------------------------------------------------------------------------
# CLI entry


@dataclass(frozen=True)
class SBMLExport:
    path: Path
    species: int
    reactions: int
    events: int
    parameters: int
    warnings: tuple[str, ...]


def export_sbml_file(path, doses: list[str] | None, scenario: Path | None, hypothesis: str | None = None,
                     opioid_source: str | None = None, weight: str = "70 kg") -> SBMLExport:
    """Write the SBML of a `--dose` regimen or a scenario file to `path` (whole file or nothing).

    With a scenario, its subject, hypothesis, expectation, baseline MADRS and oral-antidepressant start are
    used; `hypothesis`/`opioid_source` given here override the scenario's."""
    from pydantic import ValidationError

    from ketasim.io.schemas import ScenarioConfig, ScenarioError, SubjectConfig, format_validation_error

    if scenario and doses:
        raise ScenarioError("give either --dose or --scenario, not both")
    if scenario:
        cfg = ScenarioConfig.from_yaml(scenario)
        if hypothesis is not None:
            cfg = cfg.model_copy(update={"hypothesis": hypothesis, "opioid_source": opioid_source})
        elif opioid_source is not None:
            cfg = cfg.model_copy(update={"opioid_source": opioid_source})
    elif doses:
        try:
            cfg = ScenarioConfig(doses=list(doses), subject=SubjectConfig(weight=weight),
                                 hypothesis=hypothesis or "opioid", opioid_source=opioid_source)
        except ValidationError as exc:
            raise ScenarioError(format_validation_error(exc)) from None
    else:
        raise ScenarioError("nothing to export: give at least one --dose or a --scenario file")
    from ketasim.units import to_hours

    cov = Covariates(weight_kg=cfg.subject.weight_kg(), age_y=cfg.subject.age_y(), sex=cfg.subject.sex,
                     cyp2b6=cfg.subject.cyp2b6)
    ad = to_hours(cfg.oral_antidepressant_start, "oral antidepressant start") \
        if cfg.oral_antidepressant_start else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ValidatedRangeWarning)
        text = export_sbml(Regimen.from_text(*cfg.doses), hypothesis=cfg.hypothesis,
                           opioid_source=cfg.opioid_source, covariates=cov, expectation=cfg.expectation,
                           baseline_madrs=cfg.baseline_madrs, oral_antidepressant_start_h=ad)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    m = _libsbml().readSBMLFromString(text).getModel()
    return SBMLExport(path, m.getNumSpecies(), m.getNumReactions(), m.getNumEvents(), m.getNumParameters(),
                      tuple(str(w.message) for w in caught if issubclass(w.category, ValidatedRangeWarning)))
