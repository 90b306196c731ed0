"""Mechanism hypotheses: which signalling state carries the antidepressant effect.

Each hypothesis is a small class behind one interface, discoverable by name. All share layers L0-L3 and the
immediate outcomes (dissociation is NMDA-driven in all). A hypothesis contributes model nodes
(`ketasim.models.spec`) to the core PD declaration of `ketasim.models.pd`:
- always `mediator_drive`, the weighted, normalised excess of the mediators that carry the antidepressant effect
  (`linear_drive` builds it from {mediator: (weight, half-effect excess)}), and, where its pathway can act at
  once, `immediate_drive` (the immediate layer; `mechanism_drives` builds both for core mediators);
- where the account needs them, nodes of its own (a pathway, a receptor signal, a slow state) or core nodes it
  replaces (e.g. which ligands act as MOR agonists: the `opioid_source` option).

Add a hypothesis without editing ketasim: subclass `Mechanism`, give it a `key` and `nodes()` (and `parameters()`
for numbers of its own), and either call `register(MyMechanism)` or expose it under the entry-point group
"ketasim.mechanisms". Its nodes appear in every output, figure, the SBML export and the fast population path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import ClassVar

from ketasim.models.pd import core_node, mechanism_drives
from ketasim.models.spec import Node, signal, state

OPIOID_SOURCES = ("hnk_mor", "ketamine_mor", "endogenous")


class MechanismError(ValueError):
    """Unknown hypothesis or option."""


@dataclass(frozen=True)
class Mechanism:
    """Base class. Subclasses set `key`, `title`, `description`, `sources` and define `nodes`."""

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    sources: ClassVar[tuple[str, ...]] = ()
    naltrexone_prediction: ClassVar[str] = ""

    def nodes(self) -> list[Node]:
        """The nodes this hypothesis adds to (or replaces in) the core PD model; must include `mediator_drive`."""
        raise NotImplementedError

    def extra_sources(self) -> tuple:
        """Leaf inputs this variant adds to the PD layers (e.g. a compound's effect-site concentrations)."""
        return ()

    def parameters(self):
        """A ParameterSet of this hypothesis's own numbers (each with unit, source, evidence and range), or None
        where they already are in the default parameter sets."""
        return None

    def validate(self, params) -> None:
        """Raise MechanismError where the parameter values make the hypothesis meaningless."""

    def with_parameters(self, params):
        """`params` with this hypothesis's own parameters added (where not already there)."""
        own = self.parameters()
        if own is None or all(k in params for k in own):
            return params
        return params | own

    def label(self) -> str:
        return self.key

    def to_dict(self) -> dict:
        return {"key": self.key, "options": {}}


@dataclass(frozen=True)
class _WithOpioidSource(Mechanism):
    """A hypothesis whose MOR drive has a source option (opioid, mixed)."""

    source: str = "hnk_mor"

    def __post_init__(self):
        if self.source not in OPIOID_SOURCES:
            raise MechanismError(f"opioid source must be one of {', '.join(OPIOID_SOURCES)}, not {self.source!r}")

    @property
    def opioid_source(self) -> str:
        return self.source

    def source_nodes(self) -> list[Node]:
        return opioid_source_nodes(self.source)

    def label(self) -> str:
        return f"{self.key}[{self.source}]"

    def to_dict(self):
        return {"key": self.key, "options": {"opioid_source": self.source}}


@dataclass(frozen=True)
class OpioidMediated(_WithOpioidSource):
    key: ClassVar[str] = "opioid"
    title: ClassVar[str] = "Opioid-mediated (default)"
    description: ClassVar[str] = (
        "The antidepressant effect is carried by mu-opioid receptor (MOR) signalling, which builds an opioid-"
        "signalling state that lowers depression severity. The source of MOR drive is an option: 'hnk_mor' "
        "(hydroxynorketamine as a MOR agonist, the account ketasim is built around; measured binding finds no "
        "opioid affinity for (2R,6R)-HNK (Bonaventura 2022), so its affinity is an assumption set to what the "
        "single-infusion "
        "effect requires), 'ketamine_mor' (direct agonism by ketamine at its measured Ki ~42 uM (Hirota 1999), "
        "with the efficacy the effect requires) or 'endogenous' (NMDA blockade releases endogenous opioids; a "
        "permissive role, Klein 2020). Naltrexone competes at MOR under every source. Supported by the "
        "naltrexone-blockade trial (Williams 2018); later work disputes it.")
    sources: ClassVar[tuple[str, ...]] = ("Williams2018", "Klein2020", "Hirota1999", "Bonaventura2022")
    naltrexone_prediction: ClassVar[str] = "dissociation unchanged; antidepressant effect largely blocked"

    def nodes(self):
        return [*mechanism_drives({"opioid_signal": (1.0, "opioid.X50")}), *self.source_nodes()]


@dataclass(frozen=True)
class GlutamateMediated(Mechanism):
    key: ClassVar[str] = "glutamate"
    title: ClassVar[str] = "Glutamate-mediated (NMDA blockade -> surge -> plasticity)"
    description: ClassVar[str] = (
        "NMDA receptor blockade on inhibitory interneurons disinhibits pyramidal neurons; the glutamate surge "
        "activates AMPA receptors and BDNF/mTOR signalling, building synaptic plasticity that lowers depression "
        "severity for days. Opioid receptors play no part, so naltrexone changes neither dissociation nor the "
        "antidepressant effect (Zanos 2018 review; Sanacora's reading of Williams 2018).")
    sources: ClassVar[tuple[str, ...]] = ("Zanos2018",)
    naltrexone_prediction: ClassVar[str] = "both unchanged"

    def nodes(self):
        return mechanism_drives({"plasticity_glutamate": (1.0, "glutamate.X50")})


@dataclass(frozen=True)
class HNKAmpaMediated(Mechanism):
    key: ClassVar[str] = "hnk_ampa"
    title: ClassVar[str] = "HNK/AMPA-mediated (NMDA-independent)"
    description: ClassVar[str] = (
        "The metabolite (2R,6R)-hydroxynorketamine drives AMPA-receptor-dependent plasticity independently of "
        "NMDA blockade (Zanos 2016, mouse). The effect follows HNK exposure, so routes and regimens that make "
        "more HNK (oral, repeated) do better; naltrexone changes nothing; dissociation (NMDA-driven) is a side "
        "effect only.")
    sources: ClassVar[tuple[str, ...]] = ("Zanos2016",)
    naltrexone_prediction: ClassVar[str] = "both unchanged; effect follows HNK exposure"

    def nodes(self):
        shown = core_node("plasticity")  # the plasticity column shows the HNK/AMPA state
        return [*mechanism_drives({"plasticity_hnk": (1.0, "hnk_ampa.X50")}),
                replace(shown, inputs={"mediator": "plasticity_hnk"}, replaces=True)]


@dataclass(frozen=True)
class MixedMechanism(_WithOpioidSource):
    key: ClassVar[str] = "mixed"
    title: ClassVar[str] = "Mixed (weighted sum of the above)"
    description: ClassVar[str] = (
        "A weighted combination of the glutamate, opioid and HNK/AMPA mediators; the weights are parameters "
        "(mixed.w_*) with ranges, so sensitivity analysis can ask how much of each pathway the evidence allows. "
        "The opioid part uses the opioid source given (default hnk_mor). Naltrexone blocks the opioid share.")
    sources: ClassVar[tuple[str, ...]] = ("Williams2018", "Zanos2018", "Zanos2016")
    naltrexone_prediction: ClassVar[str] = "partial block, by weight"

    def nodes(self):
        weights = [derived_share(f"mixed.share_{name}", name) for name in ("glutamate", "opioid", "hnk_ampa")]
        drives = mechanism_drives({"plasticity_glutamate": ("mixed.share_glutamate", "glutamate.X50"),
                                   "opioid_signal": ("mixed.share_opioid", "opioid.X50"),
                                   "plasticity_hnk": ("mixed.share_hnk_ampa", "hnk_ampa.X50")})
        return [*weights, *drives, *self.source_nodes()]

    def validate(self, params):
        if sum(params.value(f"mixed.w_{k}") for k in ("glutamate", "opioid", "hnk_ampa")) <= 0:
            raise MechanismError("mixed hypothesis weights must not all be zero")


@dataclass(frozen=True)
class NullMechanism(Mechanism):
    key: ClassVar[str] = "null"
    title: ClassVar[str] = "Null (no drug antidepressant effect)"
    description: ClassVar[str] = ("No mediator lowers depression severity: only expectation and background "
                                  "treatment do. A reference for what placebo alone predicts.")
    naltrexone_prediction: ClassVar[str] = "no drug effect to block"

    def nodes(self):
        return mechanism_drives({})


# ---------------------------------------------------------------------------------------------------------
# the opioid-source option as nodes


def hnk_mor_ratio(brain_hnk, Ki):
    """HNK as a MOR agonist (the hnk_mor account; an assumption measured binding contradicts)."""
    return brain_hnk / Ki


def endogenous_release(glutamate_surge, gain):
    """Endogenous opioid tone raised by the glutamate surge (the endogenous account)."""
    return 1.0 + gain * glutamate_surge


def opioid_source_nodes(source: str) -> list[Node]:
    """Which ligands drive MOR signalling: HNK binds (hnk_mor), ketamine has the efficacy the effect needs
    (ketamine_mor), or NMDA blockade releases endogenous opioids (endogenous)."""
    mor = core_node("mor_agonist_signal")
    if source == "hnk_mor":
        return [signal("mor_hnk_ratio", hnk_mor_ratio, params={"Ki": "opioid.hnk_Ki_mor"}, layer="L3",
                       label="HNK at MOR (ligand/Ki)", replaces=True),
                mor.rebind(tau_hnk="opioid.hnk_tau")]
    if source == "ketamine_mor":
        return [mor.rebind(tau_ketamine="opioid.ketamine_tau")]
    if source == "endogenous":
        endo = core_node("endogenous_opioid")
        return [state("endogenous_opioid", endogenous_release, rate=endo.rate, initial=endo.initial,
                      params={"gain": "opioid.endogenous_gain"}, layer="L4", label=endo.label, replaces=True)]
    raise MechanismError(f"opioid source must be one of {', '.join(OPIOID_SOURCES)}, not {source!r}")


def share(weight, w_glutamate, w_opioid, w_hnk_ampa):
    return weight / (w_glutamate + w_opioid + w_hnk_ampa)


def derived_share(name: str, which: str) -> Node:
    from ketasim.models.spec import derived

    return derived(name, share, params={"weight": f"mixed.w_{which}", "w_glutamate": "mixed.w_glutamate",
                                        "w_opioid": "mixed.w_opioid", "w_hnk_ampa": "mixed.w_hnk_ampa"},
                   description=f"normalised weight of the {which} pathway")


_REGISTRY: dict[str, type[Mechanism]] = {}
_ENTRY_POINTS_LOADED = False


def register(cls: type[Mechanism]) -> type[Mechanism]:
    if not cls.key:
        raise MechanismError(f"{cls.__name__} has no key")
    _REGISTRY[cls.key] = cls
    return cls


for _c in (OpioidMediated, GlutamateMediated, HNKAmpaMediated, MixedMechanism, NullMechanism):
    register(_c)


def _load_entry_points():
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points(group="ketasim.mechanisms"):
        register(ep.load())


def available() -> dict[str, type[Mechanism]]:
    _load_entry_points()
    return dict(_REGISTRY)


def scored_hypotheses() -> list[str]:
    """The hypotheses compared by default (the null reference excluded)."""
    return [k for k in available() if k != "null"]


def parse_variant(text: str) -> tuple[str, str | None]:
    """'opioid', 'opioid[endogenous]' or 'glutamate' -> (hypothesis, opioid source), checked against the registry."""
    text = text.strip()
    if "[" in text:
        if not text.endswith("]"):
            raise MechanismError(f"cannot read hypothesis {text!r}; write e.g. 'opioid[endogenous]'")
        h, src = text[:-1].split("[", 1)
        get_mechanism(h, src)
        return h, src
    get_mechanism(text)
    return text, None


def get_mechanism(name: str | Mechanism = "opioid", opioid_source: str | None = None) -> Mechanism:
    if isinstance(name, Mechanism):
        return name
    reg = available()
    if name not in reg:
        raise MechanismError(f"unknown hypothesis {name!r}; available: {', '.join(reg)}")
    cls = reg[name]
    if opioid_source is not None:
        if "source" not in getattr(cls, "__dataclass_fields__", {}):
            raise MechanismError(f"hypothesis {name!r} takes no opioid source (only opioid and mixed do)")
        return cls(source=opioid_source)
    return cls()
