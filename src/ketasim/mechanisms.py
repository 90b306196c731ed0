"""Mechanism hypotheses: which signalling state carries the antidepressant effect.

Each hypothesis is a small class behind one interface, discoverable by name. All share layers L0-L3 and the
immediate outcomes (dissociation is NMDA-driven in all). A hypothesis says
- `weights`: how much each mediator (plasticity_glutamate, plasticity_hnk, opioid_signal) contributes to the
  antidepressant drive (each mediator is normalised by its own half-effect excess, so weights are comparable);
- `opioid_source`: which ligands act as MOR agonists (measured pharmacology unless the hypothesis says more);
- `plasticity_source`: which plasticity state the `plasticity` output column shows.

Add a hypothesis without editing ketasim: subclass `Mechanism`, give it a `key`, and either call
`register(MyMechanism)` or expose it under the entry-point group "ketasim.mechanisms".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import ClassVar

MEDIATORS = ("plasticity_glutamate", "plasticity_hnk", "opioid_signal")
OPIOID_SOURCES = ("hnk_mor", "ketamine_mor", "endogenous")


class MechanismError(ValueError):
    """Unknown hypothesis or option."""


@dataclass(frozen=True)
class Mechanism:
    """Base class. Subclasses set `key`, `title`, `description`, `sources` and override `weights`."""

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    sources: ClassVar[tuple[str, ...]] = ()
    naltrexone_prediction: ClassVar[str] = ""

    def weights(self, params) -> dict[str, float]:
        raise NotImplementedError

    @property
    def opioid_source(self) -> str:
        """'measured' (ketamine as a weak partial agonist, HNK no binding, no extra release) unless overridden."""
        return "measured"

    @property
    def plasticity_source(self) -> str:
        return "plasticity_glutamate"

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

    def label(self) -> str:
        return f"{self.key}[{self.source}]"

    def to_dict(self):
        return {"key": self.key, "options": {"opioid_source": self.source}}


@dataclass(frozen=True)
class OpioidMediated(_WithOpioidSource):
    key: ClassVar[str] = "opioid"
    title: ClassVar[str] = "Opioid-mediated (default; the mission's account)"
    description: ClassVar[str] = (
        "The antidepressant effect is carried by mu-opioid receptor (MOR) signalling, which builds an opioid-"
        "signalling state that lowers depression severity. The source of MOR drive is an option: 'hnk_mor' "
        "(hydroxynorketamine as a MOR agonist, as the mission states; measured binding finds no opioid affinity "
        "for (2R,6R)-HNK (Bonaventura 2022), so its affinity is an assumption set to what the single-infusion "
        "effect requires), 'ketamine_mor' (direct agonism by ketamine at its measured Ki ~42 uM (Hirota 1999), "
        "with the efficacy the effect requires) or 'endogenous' (NMDA blockade releases endogenous opioids; a "
        "permissive role, Klein 2020). Naltrexone competes at MOR under every source. Supported by the "
        "naltrexone-blockade trial (Williams 2018); later work disputes it.")
    sources: ClassVar[tuple[str, ...]] = ("Williams2018", "Klein2020", "Hirota1999", "Bonaventura2022")
    naltrexone_prediction: ClassVar[str] = "dissociation unchanged; antidepressant effect largely blocked"

    def weights(self, params):
        return {"opioid_signal": 1.0}


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

    def weights(self, params):
        return {"plasticity_glutamate": 1.0}


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

    def weights(self, params):
        return {"plasticity_hnk": 1.0}

    @property
    def plasticity_source(self) -> str:
        return "plasticity_hnk"


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

    def weights(self, params):
        w = {"plasticity_glutamate": params.value("mixed.w_glutamate"),
             "opioid_signal": params.value("mixed.w_opioid"),
             "plasticity_hnk": params.value("mixed.w_hnk_ampa")}
        total = sum(w.values())
        if total <= 0:
            raise MechanismError("mixed hypothesis weights must not all be zero")
        return {k: v / total for k, v in w.items()}


@dataclass(frozen=True)
class NullMechanism(Mechanism):
    key: ClassVar[str] = "null"
    title: ClassVar[str] = "Null (no drug antidepressant effect)"
    description: ClassVar[str] = ("No mediator lowers depression severity: only expectation and background "
                                  "treatment do. A reference for what placebo alone predicts.")
    naltrexone_prediction: ClassVar[str] = "no drug effect to block"

    def weights(self, params):
        return {}


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
