"""Which default parameters each exported number depends on, read from the declarations by tracing: the
individual PK parameters (`pk.individual_pk`) and the rate matrix (`pk.build_pk_matrix`) are evaluated on
symbols named after the parameter keys, and the PD nodes declare their parameter keys (derived values name
theirs, transitively). No parameter is perturbed."""

from __future__ import annotations

from ketasim.models.pk import Covariates, build_pk_matrix, individual_pk
from ketasim.models.spec import PDModel
from ketasim.parameters import ParameterSet

from .symbols import Sym, leaves


class _SymbolicParameters:
    """Stands in for a ParameterSet in individual_pk: every value is a symbol named after its key."""

    def __init__(self, params: ParameterSet):
        self._p = params

    def value(self, key: str):
        return Sym.leaf(f"param:{key}", self._p.value(key))


def _keys(expr) -> set[str]:
    found: set[str] = set()
    leaves(expr, found, {})
    return found


def pk_dependencies(params: ParameterSet, cov: Covariates, index: dict[str, int], names) -> dict[str, set[str]]:
    """'ind.<key>' and 'A.<dst>.<src>' -> the parameter keys that number is computed from."""
    ind = individual_pk(_SymbolicParameters(params), cov)
    deps: dict[str, set[str]] = {}
    for k, v in ind.values.items():
        deps[f"ind.{k}"] = {x[6:] for x in _keys(v) if x.startswith("param:")} if isinstance(v, Sym) else set()
    A = build_pk_matrix(ind, index)
    for i, dst in enumerate(names):
        for j, src in enumerate(names):
            a = A[i, j]
            if isinstance(a, Sym):
                deps[f"A.{dst}.{src}"] = {x[6:] for x in _keys(a) if x.startswith("param:")}
    return deps


def derived_dependencies(pdm: PDModel, parameter_keys) -> dict[str, set[str]]:
    """Each derived value of the model -> the parameter-set keys it is computed from (transitively)."""
    out: dict[str, set[str]] = {}
    for n in pdm.derived:
        keys: set[str] = set()
        for k in n.parameter_keys:
            if not isinstance(k, str):
                continue
            keys |= out[k] if k in out else ({k} if k in parameter_keys else set())
        out[n.name] = keys
    return out
