"""The output columns of a model variant, read from the declarations: the PK layer's plasma concentrations and
every PD node declared as an output. Tables, figures, the dashboard and summaries take names, units, labels,
layers and panels from here, so a new output of a node or a mechanism shows up everywhere without further edits."""

from __future__ import annotations

from functools import lru_cache

from .model import PK_OUTPUTS
from .pd import CORE, pd_model
from .spec import OutputInfo


@lru_cache(maxsize=64)
def _catalogue(mechanism) -> tuple[OutputInfo, ...]:
    if mechanism is None:  # the core model's own outputs (every hypothesis has them)
        return tuple(PK_OUTPUTS) + tuple(n.output_info() for n in CORE if n.output)
    compounds = tuple(o for c in getattr(mechanism, "compounds", ()) for o in c.pk_outputs())
    return tuple(PK_OUTPUTS) + compounds + tuple(pd_model(mechanism).outputs())


def catalogue(mechanism=None, detail: bool = True) -> list[OutputInfo]:
    """Every output column under `mechanism` (None: the core model's, which every hypothesis has), PK first, in
    column order; `detail=False` leaves out the enantiomer-resolved concentrations."""
    return [o for o in _catalogue(mechanism) if detail or not o.detail]


def columns(mechanism=None) -> tuple[str, ...]:
    """The columns a population run writes by default (every output except the resolved concentrations)."""
    return tuple(o.name for o in catalogue(mechanism, detail=False))


def units(mechanism=None) -> dict[str, str]:
    return {o.name: o.unit for o in catalogue(mechanism)}


def info(name: str, mechanism=None) -> OutputInfo | None:
    return next((o for o in catalogue(mechanism) if o.name == name), None)


def label(name: str, mechanism=None) -> str:
    """What a person calls the output (the figures' legend), or its name where it is no declared output."""
    o = info(name, mechanism)
    return o.label if o is not None else name


def unit(name: str, mechanism=None) -> str:
    o = info(name, mechanism)
    return o.unit if o is not None else ""
