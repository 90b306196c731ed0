"""Symbols: ketasim's own functions evaluated on expressions instead of numbers, so that the SBML export writes
the equations that ketasim computes (no second transcription). `Sym` carries its number where it depends on
parameters only, so branches on parameter values still work while tracing; `SymOps` stands in for
`ketasim.models.ops` in node functions; `rebound` re-creates a function to look up its globals elsewhere."""

from __future__ import annotations

import math
import types

import numpy as np


class SBMLExportError(ValueError):
    """The model cannot be written as SBML as asked."""


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


def is_num(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _val(x):
    return float(x) if is_num(x) else x.value if isinstance(x, Sym) else None


def _binary(op: str, a, b):
    if not isinstance(a, Sym) and not is_num(a) or not isinstance(b, Sym) and not is_num(b):
        return NotImplemented
    # identities only (no folding of parameters, so every parameter stays editable in the SBML)
    if op == "+" and is_num(a) and a == 0:
        return b
    if op in ("+", "-") and is_num(b) and b == 0:
        return a
    if op == "*" and is_num(a) and a == 1:
        return b
    if op in ("*", "/", "^") and is_num(b) and b == 1:
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


def render(node, names: dict[int, str] | None = None, top: bool = True) -> str:
    """Infix text for libsbml's L3 parser; named sub-expressions are referred to by name. Literal numbers are
    dimensionless (every number with a unit is a named parameter), and say so, for the unit check."""
    names = names or {}
    if is_num(node):
        x = float(node)
        if not math.isfinite(x):
            raise SBMLExportError(f"non-finite constant {x} in an exported expression")
        s = f"{x!r} dimensionless"
        return f"({s})" if x < 0 or not top else s
    if not top and id(node) in names:
        return names[id(node)]
    op, args = node.op, node.args
    if op == "name":
        return args[0]
    r = [render(a, names, False) for a in args]
    if op in ("+", "-", "*", "/", "^"):
        return f"({r[0]} {op} {r[1]})"
    if op == "neg":
        return f"(-{r[0]})"
    if op in ("geq", "gt", "leq", "lt", "exp", "ln", "piecewise"):
        return f"{op}({', '.join(r)})"
    raise SBMLExportError(f"cannot render operation {op!r}")  # pragma: no cover


def leaves(node, out: set[str], names: dict[int, str], top: bool = True):
    if isinstance(node, Sym):
        if not top and id(node) in names:
            out.add(names[id(node)])
            return
        if node.op == "name":
            out.add(node.args[0])
            return
        for a in node.args:
            leaves(a, out, names, False)


class SymOps:
    """`ketasim.models.ops` on symbols (numbers fall through to the NumPy versions)."""

    @staticmethod
    def _any(*xs):
        return any(isinstance(x, Sym) for x in xs)

    def exp(self, x):
        if isinstance(x, Sym):
            return _func("exp", x, value=None if x.value is None else math.exp(x.value))
        return np.exp(x)

    def log(self, x):
        if isinstance(x, Sym):
            return _func("ln", x, value=None if x.value is None or x.value <= 0 else math.log(x.value))
        return np.log(x)

    def maximum(self, a, b):
        if self._any(a, b):
            return _piecewise(a, _binary("geq", a, b), b)
        return np.maximum(a, b)

    def minimum(self, a, b):
        if self._any(a, b):
            return _piecewise(a, _binary("leq", a, b), b)
        return np.minimum(a, b)

    def clip(self, x, low, high):
        return self.minimum(self.maximum(x, low), high)

    def where(self, condition, a, b):
        if self._any(condition, a, b):
            return _piecewise(a, condition, b)
        return np.where(condition, a, b)

    def hill(self, x, half, n):
        xn = x ** n
        return xn / (half ** n + xn)

    def positive_part(self, x):
        return self.maximum(x, 0.0)

    def saturating(self, x):
        return x / (1.0 + x)


SYM_OPS = SymOps()


def rebound(fn, **overrides):
    """A copy of `fn` whose globals are its module's with `overrides` (e.g. ops=SYM_OPS)."""
    g = dict(fn.__globals__)
    g.update(overrides)
    new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def rebind_module(module, overrides: dict) -> dict:
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
