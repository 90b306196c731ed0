"""A model variant is (mechanism, compounds present): the hypothesis's nodes plus, for every compound of the
regimen, its effect-site sources, its species' nodes and the generated sums that replace the core model's
extension inputs (`nmda_extra_ratio`, `nmda_extra_dissociative_ratio`, `mor_extra_ratio`, `mor_extra_stimulus`,
`kor_extra_ratio`, `ampa_extra_ratio`: 0 in the core model), as `spec.linear_drive` generates a node.

`with_compounds(mechanism, regimen)` gives the variant a regimen needs (the mechanism itself where the regimen has
no compound), so trials, populations, the optimiser and the dashboard use compounds without special cases.
"""

from __future__ import annotations

from dataclasses import dataclass

from ketasim.mechanisms import Mechanism
from ketasim.models.spec import Node, signal

from ._compound import Compound, SpeciesInfo
from ._library import get_compound, is_compound_drug
from ._schema import CompoundError

# extension input -> (receptor, term written per species), the sums that replace the core model's zeros
EXTENSIONS = ("nmda_extra_ratio", "nmda_extra_dissociative_ratio", "mor_extra_ratio", "mor_extra_stimulus",
              "kor_extra_ratio", "ampa_extra_ratio")


def generated_sum(name: str, terms: list[tuple[str, dict[str, str | float], str]], layer: str, label: str,
                  description: str, unit: str = "dimensionless") -> Node:
    """A node `name` = sum of terms; each term is (input node, {parameter argument: key}, expression over the
    input and the parameter arguments), e.g. ("brain_x", {"ki": "x.nmda.Ki"}, "brain_x / ki"). Its text is
    generated, like spec.linear_drive, so every backend (compiled kernel, SBML tracer) reads it."""
    args, params, parts = [], {}, []
    for i, (inp, pars, expr) in enumerate(terms):
        if inp not in args:
            args.append(inp)
        for a, key in pars.items():
            local = f"{a}{i}"
            params[local] = key
            expr = expr.replace(f"@{a}", local)
        parts.append(f"({expr})")
    arglist = ", ".join(args + list(params))
    body = " + ".join(parts) if parts else "0.0"
    src = f"def {name}({arglist}):\n    return {body}\n"
    namespace: dict = {}
    exec(compile(src, f"<ketasim compound sum {name}>", "exec"), namespace)  # noqa: S102 - our own text
    fn = namespace[name]
    fn.__ketasim_source__ = src
    return Node(name, fn, "signal", params=params, unit=unit, layer=layer, label=label, description=description,
                replaces=True)


def compound_liking(nmda_extra_dissociative_ratio, mor_extra_stimulus, mor_ketamine_ratio, mor_hnk_ratio,
                    mor_endogenous_ratio, mor_antagonist_ratio, mor_extra_ratio, scale_max, ratio50, stimulus50):
    """Drug liking (VAS) from the compounds' ligands: their trapped NMDA block counts as S-ketamine's does in
    `euphoria` (half-maximal at the block of S-ketamine at euphoria.C50) and their MOR agonist stimulus counts
    with a half-maximal stimulus of its own; the two potencies add and saturate at the scale's top."""
    mor = mor_extra_stimulus / (1.0 + mor_ketamine_ratio + mor_hnk_ratio + mor_endogenous_ratio
                                + mor_antagonist_ratio + mor_extra_ratio)
    u = nmda_extra_dissociative_ratio / ratio50 + mor / stimulus50
    return scale_max * u / (1.0 + u)


def quotient(a, b):
    return a / b


def sedation_of(gaba_ratio):
    return gaba_ratio / (1.0 + gaba_ratio)


def liking_ratio_node() -> Node:
    from ketasim.models.spec import derived

    return derived("liking.nmda_ratio50", quotient, params={"a": "euphoria.C50", "b": "nmda.Ki_S_ketamine"},
                   description="S-ketamine's NMDA ligand/Ki at its half-maximal liking concentration")


def compound_nodes(compounds: tuple[Compound, ...], species_nodes: bool = True) -> list[Node]:
    """The PD nodes compounds add to a model variant."""
    from ketasim.models.spec import derived

    out: list[Node] = []
    nmda, nmda_d, mor, mor_s, kor, ampa, gaba = ([] for _ in range(7))
    for c in compounds:
        if species_nodes:
            out += c.nodes()
        for s in c.receptor_species():
            k, b = s.keys, s.brain_node
            if "nmda.Ki" in k:
                nmda.append((b, {"ki": k["nmda.Ki"]}, f"{b} / @ki"))
                nmda_d.append((b, {"ki": k["nmda.Ki"], "w": c.dissociative_weight_key(s)}, f"@w * {b} / @ki"))
            if "mor.Ki" in k:
                mor.append((b, {"ki": k["mor.Ki"]}, f"{b} / @ki"))
                if s.spec.receptors.mor.tau is not None and s.spec.receptors.mor.tau.value > 0:
                    mor_s.append((b, {"ki": k["mor.Ki"], "tau": k["mor.tau"]}, f"@tau * {b} / @ki"))
            if "kor.Ki" in k:
                kor.append((b, {"ki": k["kor.Ki"]}, f"{b} / @ki"))
            if "ampa.EC50" in k:
                ampa.append((b, {"ec50": k["ampa.EC50"]}, f"{b} / @ec50"))
            if "gaba_a.EC50" in k:
                gaba.append((b, {"ec50": k["gaba_a.EC50"]}, f"{b} / @ec50"))
    names = ", ".join(c.name for c in compounds)
    for name, terms, label in (
            ("nmda_extra_ratio", nmda, "compounds at NMDA (ligand/Ki)"),
            ("nmda_extra_dissociative_ratio", nmda_d, "compounds' trapped NMDA block (weighted ligand/Ki)"),
            ("mor_extra_ratio", mor, "compounds at MOR (ligand/Ki)"),
            ("mor_extra_stimulus", mor_s, "compounds' MOR agonist stimulus (tau x ligand/Ki)"),
            ("kor_extra_ratio", kor, "compounds at KOR (ligand/Ki)"),
            ("ampa_extra_ratio", ampa, "compounds' AMPA potentiation (ligand/EC50)")):
        if terms:
            out.append(generated_sum(name, terms, "L3", label, f"sum over the ligands of {names}"))
    out.append(liking_ratio_node())
    out.append(signal("compound_liking", compound_liking,
                      params={"scale_max": "euphoria.scale_max", "ratio50": "liking.nmda_ratio50",
                              "stimulus50": "liking.mor_stimulus50"},
                      unit="VAS_point", layer="L5", panel="L5 immediate", label="drug liking, compounds (VAS)",
                      output=True, display_unit="VAS 0-100",
                      description="drug liking from the compounds' trapped NMDA block and MOR agonism"))
    if gaba:
        out.append(generated_sum("gaba_ratio", gaba, "L3", "compounds at GABA-A (ligand/EC50)",
                                 f"sum over the ligands of {names}"))
        out.append(signal("sedation", sedation_of, layer="L5", panel="L5 immediate", label="sedation (GABA-A)",
                          output=True, display_unit="fraction",
                          description="sedation: fractional GABA-A potentiation by the compounds (0-1)"))
    return out


@dataclass(frozen=True)
class CompoundVariant(Mechanism):
    """A hypothesis with compounds present. Its label, options and predictions are the hypothesis's."""

    base: Mechanism = None
    compounds: tuple[Compound, ...] = ()

    def __post_init__(self):
        from ._library import register_compound

        if isinstance(self.base, CompoundVariant) or self.base is None:
            raise CompoundError("a compound variant wraps a hypothesis")
        seen: dict[str, str] = {}
        for c in self.compounds:
            if c.native:
                raise CompoundError(f"{c.name} is a built-in drug, not a compound of a variant")
            for sp in c.species:
                if sp in seen and seen[sp] != c.name:
                    raise CompoundError(f"{seen[sp]} and {c.name} both contain {sp}; give one of them at a time")
                seen[sp] = c.name
        for c in self.compounds:   # a variant that travels (to a Dask worker) brings its compounds along
            try:
                get_compound(c.name)
            except CompoundError:
                register_compound(c)

    def __getattr__(self, name):
        # options of the wrapped hypothesis (e.g. the opioid source)
        if name in ("base", "compounds") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.base, name)

    @property
    def key(self):
        return self.base.key

    @property
    def title(self):
        return self.base.title

    @property
    def description(self):
        return self.base.description

    @property
    def naltrexone_prediction(self):
        return self.base.naltrexone_prediction

    def nodes(self):
        return list(self.base.nodes()) + compound_nodes(self.compounds)

    def extra_sources(self):
        return tuple(s for c in self.compounds for s in c.sources())

    def parameters(self):
        from ketasim.parameters import ParameterSet

        own = self.base.parameters()
        merged = own if own is not None else ParameterSet({})
        for c in self.compounds:
            merged = merged | c.parameters()
        return merged

    def with_parameters(self, params):
        params = self.base.with_parameters(params)
        for c in self.compounds:
            cp = c.parameters()
            missing = {k: cp[k] for k in cp if k not in params}
            if missing:
                from ketasim.parameters import ParameterSet

                params = params | ParameterSet(missing, (f"compound {c.name}",))
        return params

    def validate(self, params):
        self.base.validate(params)

    def label(self) -> str:
        return self.base.label()

    def to_dict(self):
        return {**self.base.to_dict(), "compounds": [c.name for c in self.compounds]}


def compounds_in(regimen) -> tuple[Compound, ...]:
    """The compounds a regimen gives, in order of first appearance."""
    names = []
    for d in regimen.doses:
        if d.drug not in names and is_compound_drug(d.drug):
            names.append(d.drug)
    return tuple(get_compound(n) for n in names)


def with_compounds(mechanism: Mechanism, regimen) -> Mechanism:
    """The model variant a regimen needs under `mechanism`: the mechanism itself without compounds."""
    base = mechanism.base if isinstance(mechanism, CompoundVariant) else mechanism
    cs = compounds_in(regimen) if regimen is not None else ()
    if isinstance(mechanism, CompoundVariant) and set(mechanism.compounds) >= set(cs):
        return mechanism
    return CompoundVariant(base, cs) if cs else base
