"""A compound as the model uses it: parameters (every number of the file, with unit, source and range), a PK block
of `pk.build_pk_matrix` (its own states, flows, dose inputs by route, effect sites and plasma read-outs) and the
PD nodes of its species (brain concentration, ligand-to-Ki terms at NMDA, MOR, KOR, AMPA and GABA-A).

The PK hooks are called by `ketasim.models.pk` and `ketasim.models.model` on the compounds a model variant holds;
nothing there knows which compounds exist.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from ketasim.models.spec import OutputInfo, Source, derived, signal
from ketasim.parameters import Parameter, ParameterSet
from ketasim.parameters._parameter_set import to_internal
from ketasim.units import UnitError, ureg

from ._schema import CompoundError, CompoundFile, Number, Species

REFERENCE_WEIGHT_KG = 70.0
LN2 = 0.6931471805599453
# expected dimension of each field -> (pint dimensionality text, what a person calls it, an example unit)
_VOLUME = ("[length] ** 3", "a volume", "L")
_CLEARANCE = ("[length] ** 3 / [time]", "a clearance (volume per time)", "L/h")
_TIME = ("[time]", "a time", "h")
_RATE = ("1 / [time]", "a rate constant (per time)", "1/h")
_FRACTION = ("", "a fraction (dimensionless)", "dimensionless")
_NUMBER = ("", "a pure number (dimensionless)", "dimensionless")
_MOLAR_MASS = ("[mass] / [substance]", "a molar mass", "g/mol")
_CONCENTRATION = ("concentration", "a concentration (molar, e.g. uM, or mass per volume, e.g. ng/mL)", "uM")


def _dim(q) -> str:
    d = str(q.dimensionality)
    return "" if d == "dimensionless" else d


class _Builder:
    """Turns the file's numbers into Parameters in ketasim's internal units, naming each field in its errors."""

    def __init__(self, cpd: CompoundFile, label: str):
        from ketasim.citations import bibliography

        self.cpd, self.label = cpd, label
        self.known_sources = set(bibliography()) | set(cpd.citations)
        self.params: dict[str, Parameter] = {}

    def key(self, sp: str, path: str) -> str:
        return f"{self.cpd.name}.{path}" if sp == self.cpd.name else f"{self.cpd.name}.{sp}.{path}"

    def add(self, sp: str, path: str, field: str, num: Number, kind, description: str, molar_mass: float | None = None,
            per_weight: bool = True) -> str:
        where = f"{self.label}: {field}"
        unit_text = num.unit.replace("µ", "u").replace("μ", "u")
        one = ureg.Quantity(1.0, unit_text)
        dim = _dim(one)
        factor, unit = 1.0, num.unit
        if kind is _CONCENTRATION:
            if dim == "[substance] / [length] ** 3":
                factor = float(one.to("uM").magnitude)
            elif dim == "[mass] / [length] ** 3":
                factor = float(one.to("ng/mL").magnitude) / molar_mass   # ng/mL / (g/mol) = µmol/L
            else:
                raise CompoundError(f"{where}: unit {num.unit!r} is not {kind[1]}")
            unit = "uM"
        elif dim != kind[0]:
            per_kg = None
            if per_weight and kind in (_VOLUME, _CLEARANCE):
                try:
                    per_kg = float(one.to(f"{kind[2]}/kg").magnitude)
                except Exception:
                    per_kg = None
            if per_kg is None:
                raise CompoundError(f"{where}: unit {num.unit!r} is not {kind[1]}, e.g. {kind[2]}"
                                    + (" (or per kg, e.g. L/h/kg)" if kind in (_VOLUME, _CLEARANCE) else ""))
            factor, unit = per_kg * REFERENCE_WEIGHT_KG, kind[2]
        value = num.value * factor
        if kind is _MOLAR_MASS:   # a property of the molecule, not an uncertain quantity
            lo = hi = value
            range_note = ""
        elif num.range is not None:
            lo, hi = num.range[0] * factor, num.range[1] * factor
            range_note = ""
        elif kind is _FRACTION:
            lo, hi = value / 1.5, min(1.0, value * 1.5)
            range_note = "; range not given: x/÷ 1.5 assumed (at most 1)"
        else:
            lo, hi = value / 1.5, value * 1.5
            range_note = "; range not given: x/÷ 1.5 assumed"
        if num.is_assumed:
            source, evidence = "assumption", "assumed"
        else:
            source = num.source.strip()
            if source not in self.known_sources:
                raise CompoundError(f"{where}: source {source!r} is no citation key (ketasim's bibliography or the "
                                    f"file's citations); or write source: assumed with a range")
            evidence = num.evidence or "estimate"
        given = "" if factor == 1.0 and unit == num.unit else f" (given as {num.value:g} {num.unit})"
        desc = f"{description}{given}{range_note}" + (f"; {num.note}" if num.note else "")
        key = self.key(sp, path)
        try:
            internal = to_internal(value, unit, key)
        except UnitError as exc:
            raise CompoundError(f"{where}: {exc}") from None
        self.params[key] = Parameter(key=key, value=value, unit=unit, source=source, evidence=evidence,
                                     low=min(lo, value), high=max(hi, value), description=desc,
                                     uncertainty_kind="fixed" if lo == hi else "uniform", internal_value=internal)
        return key


def _strip_per_kg(unit: str) -> str:
    u = unit.replace(" ", "")
    for suffix in ("/kg", "*kg**-1", "kg**-1", "/kilogram"):
        if u.endswith(suffix):
            return u[: -len(suffix)].rstrip("*/") or "dimensionless"
    return u


@dataclass(frozen=True)
class SpeciesInfo:
    """Where one species lives in the model: its states, its effect-site source and its parameter keys."""

    name: str
    compound: str
    spec: Species
    keys: dict    # field path -> parameter key

    @property
    def is_component(self) -> bool:
        return self.spec.formed_from is None

    def state(self, which: str) -> str:
        return f"{self.name}.{which}"

    @property
    def ce_state(self) -> str:
        return f"ce.{self.name}"

    @property
    def source_name(self) -> str:
        return f"ce_{self.name}"

    @property
    def brain_node(self) -> str:
        return f"brain_{self.name}"

    @property
    def column(self) -> str:
        return f"{self.name}_ng_ml"

    def has_peripheral(self) -> bool:
        pk = self.spec.pk
        return pk.model is not None and pk.model.compartments >= 2

    def has_deep(self) -> bool:
        pk = self.spec.pk
        return pk.model is not None and pk.model.compartments == 3

    def routes(self) -> tuple[str, ...]:
        return tuple(self.spec.pk.routes)


ROUTE_DEPOT = {"oral": "gut", "sublingual": "sublingual", "intranasal": "nasal", "im": "im"}


class Compound:
    """A validated compound file, ready for the model. Equal (and hashed) by name and content."""

    def __init__(self, spec: CompoundFile, label: str | None = None, text: str | None = None):
        self.spec = spec
        self.name = spec.name
        self.label = label or f"compound {spec.name}"
        self.text = text
        self.digest = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]
        self.species, self.components, self.metabolites, self.molar_masses = {}, (), (), {}
        if spec.native is None:
            self._build()

    # identity ---------------------------------------------------------------------------------------------
    def __eq__(self, other):
        return isinstance(other, Compound) and other.digest == self.digest

    def __hash__(self):
        return hash(("compound", self.digest))

    def __repr__(self):
        return f"Compound({self.name!r})"

    def __reduce__(self):
        return (_rebuild, (self.spec.model_dump(mode="json"), self.label))

    @property
    def native(self) -> bool:
        return self.spec.native is not None

    @property
    def title(self) -> str:
        return self.spec.title or self.name

    @property
    def session(self) -> bool:
        return self.spec.session

    # parameters -------------------------------------------------------------------------------------------
    def _build(self):
        b = _Builder(self.spec, self.label)
        infos = {}
        for sp, s in self.spec.species.items():
            base = f"species.{sp}"
            keys: dict[str, str] = {}
            mm = s.molar_mass
            keys["molar_mass"] = b.add(sp, "molar_mass", f"{base}.molar_mass", mm, _MOLAR_MASS,
                                       f"molar mass of {sp}")
            mw = float(mm.quantity().to("g/mol").magnitude)
            if s.dose_share is not None:
                keys["dose_share"] = b.add(sp, "dose_share", f"{base}.dose_share", s.dose_share, _NUMBER,
                                           f"{sp} per amount of {self.name} dosed")
            if s.fraction is not None:
                keys["fraction"] = b.add(sp, "fraction", f"{base}.fraction", s.fraction, _FRACTION,
                                         f"share of {s.formed_from}'s clearance that forms {sp}"
                                         + ("; also of its pre-systemic loss" if s.first_pass else ""))
            pk = s.pk
            if pk.model is not None:
                m = pk.model
                keys["CL"] = b.add(sp, "CL", f"{base}.pk.model.CL", m.CL, _CLEARANCE, f"{sp} clearance")
                keys["V1"] = b.add(sp, "V1", f"{base}.pk.model.V1", m.V1, _VOLUME,
                                   f"{sp} central volume" if m.compartments == 2 else f"{sp} volume")
                if m.compartments >= 2:
                    keys["Q"] = b.add(sp, "Q", f"{base}.pk.model.Q", m.Q, _CLEARANCE,
                                      f"{sp} intercompartmental clearance" + (" (fast)" if m.compartments == 3 else ""))
                    keys["V2"] = b.add(sp, "V2", f"{base}.pk.model.V2", m.V2, _VOLUME, f"{sp} peripheral volume"
                                       + (" (fast)" if m.compartments == 3 else ""))
                if m.compartments == 3:
                    keys["Q3"] = b.add(sp, "Q3", f"{base}.pk.model.Q3", m.Q3, _CLEARANCE,
                                       f"{sp} intercompartmental clearance (slow)")
                    keys["V3"] = b.add(sp, "V3", f"{base}.pk.model.V3", m.V3, _VOLUME, f"{sp} peripheral volume (slow)")
            else:
                sh = pk.shorthand
                keys["half_life"] = b.add(sp, "half_life", f"{base}.pk.shorthand.half_life", sh.half_life, _TIME,
                                          f"{sp} elimination half-life (one compartment: CL = ln 2 Vd / t1/2)")
                keys["Vd"] = b.add(sp, "Vd", f"{base}.pk.shorthand.Vd", sh.Vd, _VOLUME, f"{sp} volume of distribution")
            for r, rp in pk.routes.items():
                if r == "iv":
                    continue
                keys[f"route.{r}.F"] = b.add(sp, f"route.{r}.F", f"{base}.pk.routes.{r}.F", rp.F, _FRACTION,
                                             f"{sp} availability by the {r} route")
                if rp.ka is not None:
                    keys[f"route.{r}.ka"] = b.add(sp, f"route.{r}.ka", f"{base}.pk.routes.{r}.ka", rp.ka, _RATE,
                                                  f"{sp} absorption rate constant ({r})")
                else:
                    keys[f"route.{r}.Tmax"] = b.add(sp, f"route.{r}.Tmax", f"{base}.pk.routes.{r}.Tmax", rp.Tmax,
                                                    _TIME, f"{sp} time of peak plasma concentration ({r}); the "
                                                    f"absorption rate is solved from it")
            if s.brain is not None:
                br = s.brain
                keys["brain.free_fraction"] = b.add(sp, "brain.free_fraction", f"{base}.brain.free_fraction",
                                                    br.free_fraction, _FRACTION, f"{sp} unbound fraction in plasma")
                keys["brain.partition"] = b.add(sp, "brain.partition", f"{base}.brain.partition", br.partition,
                                                _NUMBER, f"{sp} unbound brain / unbound plasma (Kp,uu)")
                keys["brain.equilibration_t_half"] = b.add(sp, "brain.equilibration_t_half",
                                                           f"{base}.brain.equilibration_t_half",
                                                           br.equilibration_t_half, _TIME,
                                                           f"{sp} plasma - effect-site equilibration half-time")
            rec = s.receptors
            if rec.nmda is not None:
                n = rec.nmda
                which = "Ki" if n.Ki is not None else "IC50"
                keys["nmda.Ki"] = b.add(sp, f"nmda.{which}", f"{base}.receptors.nmda.{which}", n.potency,
                                        _CONCENTRATION, f"{sp} NMDA channel block ({which})", mw)
                keys["nmda.trapping"] = b.add(sp, "nmda.trapping", f"{base}.receptors.nmda.trapping", n.trapping,
                                              _FRACTION, f"{sp} NMDA trapping (share of blocked channels that "
                                              f"stay blocked when the channel closes)")
                if n.off_rate is not None:
                    q = n.off_rate.quantity()
                    kind = _TIME if _dim(q) == "[time]" else _RATE
                    keys["nmda.off_rate"] = b.add(sp, "nmda.off_rate", f"{base}.receptors.nmda.off_rate",
                                                  n.off_rate, kind, f"{sp} NMDA unblocking (off) rate or time; "
                                                  "reported, not used: trapping carries the difference")
            for rname in ("mor", "kor"):
                o = getattr(rec, rname)
                if o is None:
                    continue
                keys[f"{rname}.Ki"] = b.add(sp, f"{rname}.Ki", f"{base}.receptors.{rname}.Ki", o.Ki,
                                            _CONCENTRATION, f"{sp} {rname.upper()} binding (Ki)", mw)
                # role: antagonist means no intrinsic efficacy, a fact of the binding source, not an assumption
                tau = o.tau or Number(value=0.0, unit="dimensionless", source=o.Ki.source, range=(0.0, 0.0),
                                      evidence=None if o.Ki.is_assumed else "derived",
                                      note="an antagonist: no intrinsic efficacy")
                keys[f"{rname}.tau"] = b.add(sp, f"{rname}.tau", f"{base}.receptors.{rname}.tau", tau, _NUMBER,
                                             f"{sp} {rname.upper()} operational efficacy tau"
                                             + (f" ({o.role.replace('_', ' ')})" if o.role else ""))
            for rname, what in (("ampa", "AMPA potentiation"), ("gaba_a", "GABA-A potentiation (sedation)")):
                pot = getattr(rec, rname)
                if pot is not None:
                    keys[f"{rname}.EC50"] = b.add(sp, f"{rname}.EC50", f"{base}.receptors.{rname}.EC50", pot.EC50,
                                                  _CONCENTRATION, f"{sp} {what}: half-effect concentration", mw)
            infos[sp] = SpeciesInfo(sp, self.name, s, keys)
        self._parameters = ParameterSet(b.params, (f"compound {self.name}",))
        self.species = infos
        comps = [s for s in infos.values() if s.is_component]
        self._share = {}
        for i, s in enumerate(comps):
            self._share[s.name] = s.keys.get("dose_share")
            if i > 0 and s.keys.get("dose_share") is None:
                raise CompoundError(f"{self.label}: species.{s.name}.dose_share: a second component of the dose "
                                    f"needs its dose_share (amount per amount dosed)")
        self.components = tuple(comps)
        self.metabolites = tuple(s for s in infos.values() if not s.is_component)
        self.molar_masses = {sp: float(s.spec.molar_mass.quantity().to("g/mol").magnitude) for sp, s in infos.items()}

    def parameters(self) -> ParameterSet:
        """Every number of the file as a Parameter (internal units: L, L/h, 1/h, h, µM, fractions)."""
        if self.native:
            return ParameterSet({})
        return self._parameters

    def routes(self) -> tuple[str, ...]:
        return self.spec.routes()

    def dose_limits(self):
        return self.spec.doses.mg()

    # PK block ---------------------------------------------------------------------------------------------
    def states(self) -> list[str]:
        """This compound's states (one independent block): amounts, then effect sites."""
        names = []
        for s in self.species.values():
            for r in s.routes():
                if r in ROUTE_DEPOT:
                    names.append(s.state(ROUTE_DEPOT[r]))
            names.append(s.state("central"))
            if s.has_peripheral():
                names.append(s.state("peripheral"))
            if s.has_deep():
                names.append(s.state("deep"))
            names.append(s.state("eliminated"))
        names += [s.ce_state for s in self.species.values() if s.spec.brain is not None]
        return names

    def individual(self, p, cov) -> dict:
        """Individual PK values of this compound (arrays where they depend on the subject): volumes and
        clearances scaled allometrically from the 70-kg values (CL, Q ~ (W/70)^0.75; V ~ W/70)."""
        from ketasim.models.pk import _each

        w = cov.weight_kg / REFERENCE_WEIGHT_KG
        fcl = _each(lambda x: x ** 0.75, w)
        fv = w
        g = p.value
        v = {}
        for sp, s in self.species.items():
            k = s.keys
            if "CL" in k:
                CL, V1 = g(k["CL"]), g(k["V1"])
                Q = g(k["Q"]) if "Q" in k else 0.0
                V2 = g(k["V2"]) if "V2" in k else 0.0
            else:
                V1 = g(k["Vd"])
                CL = LN2 * V1 / g(k["half_life"])
                Q = V2 = 0.0
            v[f"{sp}:CL"] = CL * fcl
            v[f"{sp}:V1"] = V1 * fv
            if s.has_peripheral():
                v[f"{sp}:Q"] = Q * fcl
                v[f"{sp}:V2"] = V2 * fv
            if s.has_deep():
                v[f"{sp}:Q3"] = g(k["Q3"]) * fcl
                v[f"{sp}:V3"] = g(k["V3"]) * fv
            if "fraction" in k:
                v[f"{sp}:fm"] = g(k["fraction"])
            if "brain.equilibration_t_half" in k:
                v[f"{sp}:ke0"] = LN2 / g(k["brain.equilibration_t_half"])
            if s.is_component:
                v[f"{sp}:dose_share"] = g(k["dose_share"]) if "dose_share" in k else 1.0
            for r in s.routes():
                if r == "iv":
                    continue
                v[f"{sp}:{r}:F"] = g(k[f"route.{r}.F"])
                if f"route.{r}.ka" in k:
                    v[f"{sp}:{r}:ka"] = g(k[f"route.{r}.ka"])
                else:
                    deep = (g(k["Q3"]), g(k["V3"])) if s.has_deep() else (0.0, 0.0)
                    v[f"{sp}:{r}:ka"] = ka_from_tmax(CL, V1, Q, V2, g(k[f"route.{r}.Tmax"]),
                                                     f"{self.label}: species.{sp}.pk.routes.{r}.Tmax", *deep)
        return v

    def _formed(self, parent: str) -> list[SpeciesInfo]:
        return [m for m in self.metabolites if m.spec.formed_from == parent]

    def add_flows(self, b, ind):
        """First-order flows of this compound into the rate matrix (`pk.LinearBuilder`)."""
        for sp, s in self.species.items():
            mets = self._formed(sp)
            fm = {m.state("central"): ind[f"{m.name}:fm"] for m in mets}
            fp = {m.state("central"): ind[f"{m.name}:fm"] for m in mets if m.spec.first_pass}
            V1, CL = ind[f"{sp}:V1"], ind[f"{sp}:CL"]
            elim = {**fm, s.state("eliminated"): 1.0 - sum(fm.values())}
            b.flow(s.state("central"), CL / V1, elim)
            if s.has_peripheral():
                Q, V2 = ind[f"{sp}:Q"], ind[f"{sp}:V2"]
                b.flow(s.state("central"), Q / V1, {s.state("peripheral"): 1.0})
                b.flow(s.state("peripheral"), Q / V2, {s.state("central"): 1.0})
            if s.has_deep():
                Q3, V3 = ind[f"{sp}:Q3"], ind[f"{sp}:V3"]
                b.flow(s.state("central"), Q3 / V1, {s.state("deep"): 1.0})
                b.flow(s.state("deep"), Q3 / V3, {s.state("central"): 1.0})
            for r in s.routes():
                if r not in ROUTE_DEPOT:
                    continue
                F = ind[f"{sp}:{r}:F"]
                # the part lost before the circulation forms the first-pass metabolites (swallowed or mucosal)
                lost = {k: (1.0 - F) * f for k, f in fp.items()} if r in ("oral", "sublingual") else {}
                targets = {s.state("central"): F, **lost, s.state("eliminated"): (1.0 - F) - sum(lost.values())}
                b.flow(s.state(ROUTE_DEPOT[r]), ind[f"{sp}:{r}:ka"], targets)

    def add_effect_sites(self, A, ix, ind):
        """dCe/dt = ke0 (C_plasma - Ce), µM (plasma-equivalent)."""
        for sp, s in self.species.items():
            if s.spec.brain is None:
                continue
            ke0, V1 = ind[f"{sp}:ke0"], ind[f"{sp}:V1"]
            A[..., ix[s.ce_state], ix[s.state("central")]] += ke0 / V1
            A[..., ix[s.ce_state], ix[s.ce_state]] -= ke0

    def dose_inputs(self, dose, ind, weight_kg) -> list:
        """One administration of this compound: its components into their depots (or the circulation, iv)."""
        from ketasim.models.pk import Input

        mg = dose.amount_mg(weight_kg)
        out = []
        for s in self.components:
            umol = mg * ind[f"{s.name}:dose_share"] * 1000.0 / self.molar_masses[s.name]
            if dose.route == "iv":
                out.append(Input(s.state("central"), umol, dose.time_h, dose.duration_h))
            elif dose.route in ROUTE_DEPOT:
                out.append(Input(s.state(ROUTE_DEPOT[dose.route]), umol, dose.time_h))
            else:  # pragma: no cover - the regimen language checks routes
                raise CompoundError(f"{self.name} by {dose.route} is not modelled")
        return out

    def effect_sites(self, X, ix) -> dict:
        return {s.source_name: X[..., ix[s.ce_state]] for s in self.species.values() if s.spec.brain is not None}

    def plasma_outputs(self, X, ix, ind) -> dict:
        out = {}
        for sp, s in self.species.items():
            out[s.column] = X[..., ix[s.state("central")]] / ind[f"{sp}:V1"] * self.molar_masses[sp]
        return out

    def pk_outputs(self) -> list[OutputInfo]:
        return [OutputInfo(s.column, "ng/mL", "L1", "L1 plasma", f"{sp} ({self.title})" if sp != self.name
                           else self.title, f"venous plasma concentration of {sp}") for sp, s in self.species.items()]

    def sources(self) -> list[Source]:
        return [Source(s.source_name, "effect_site", "uM", f"{sp}, effect site (plasma-equivalent)")
                for sp, s in self.species.items() if s.spec.brain is not None]

    # PD ---------------------------------------------------------------------------------------------------
    def receptor_species(self) -> list[SpeciesInfo]:
        return [s for s in self.species.values() if s.spec.receptors.present()]

    def nodes(self) -> list:
        """Per species: the brain factor (derived), the brain concentration and, at NMDA, the dissociative weight
        of its block (trapped block relative to ketamine's, docs/model.md)."""
        from ketasim.models.pd import brain, product

        out = []
        for s in self.receptor_species():
            k = s.keys
            factor = f"{self.key(s.name)}.brain.factor"
            out.append(derived(factor, product, params={"a": k["brain.free_fraction"], "b": k["brain.partition"]},
                               description=f"{s.name}: unbound brain / total plasma (free fraction x Kp,uu)"))
            out.append(signal(s.brain_node, brain, inputs={"effect_site": s.source_name},
                              params={"brain_factor": factor}, unit="uM", layer="L2",
                              label=f"{s.name}, brain (unbound)",
                              description="effect-site concentration x free fraction x unbound partition"))
            if "nmda.Ki" in k:
                out.append(derived(self.dissociative_weight_key(s), trapped_block_weight,
                                   params={"trapping": k["nmda.trapping"], "reference": "nmda.trapping_ketamine",
                                           "per_opening": "dissociation.block_per_opening"},
                                   description=f"{s.name}: tonic (trapped) NMDA block per unit occupancy, relative to "
                                               "ketamine's"))
        return out

    def key(self, sp: str) -> str:
        return self.name if sp == self.name else f"{self.name}.{sp}"

    def dissociative_weight_key(self, s: SpeciesInfo) -> str:
        return f"{self.key(s.name)}.nmda.dissociative_weight"

    # summaries --------------------------------------------------------------------------------------------
    @cached_property
    def profile_table(self) -> list[dict]:
        """The receptor profile as rows (species, receptor, quantity, value, unit, source)."""
        rows = []
        if self.native:
            return rows
        p = self._parameters
        for s in self.species.values():
            for path, key in s.keys.items():
                if path.split(".")[0] in ("nmda", "mor", "kor", "ampa", "gaba_a", "brain"):
                    par = p[key]
                    rows.append({"species": s.name, "field": path, "value": par.value, "unit": par.unit,
                                 "source": par.source, "evidence": par.evidence})
        return rows


def trapped_block_weight(trapping, reference, per_opening):
    """Tonic (trapped) block per unit occupancy relative to ketamine's: each time the channel closes a blocker
    stays only with probability T (its trapping) and each opening restores a share a of the equilibrium block,
    so the block held by closed channels settles at B = T a occ / (1 - T (1 - a)). Ketamine's own T sets the
    reference (weight 1)."""
    own = trapping * per_opening / (1.0 - trapping * (1.0 - per_opening))
    ref = reference * per_opening / (1.0 - reference * (1.0 - per_opening))
    return own / ref


@lru_cache(maxsize=256)
def ka_from_tmax(CL, V1, Q, V2, tmax, where: str, Q3=0.0, V3=0.0) -> float:
    """The first-order absorption rate constant that puts the plasma peak of an extravascular dose at `tmax`
    (bisection on log ka; the disposition's own exponentials)."""

    def peak_time(ka):
        n = 2 + (V2 > 0) + (V3 > 0)
        A = np.zeros((n, n))
        A[0, 0] = -ka
        A[1, 0] = ka
        A[1, 1] = -CL / V1
        for j, (q, v) in enumerate(((Q, V2), (Q3, V3))):
            if v > 0:
                i = 2 + j
                A[1, 1] -= q / V1
                A[i, 1] = q / V1
                A[1, i] = q / v
                A[i, i] = -q / v
        lam, V = np.linalg.eig(A)
        coef = V[1] * np.linalg.solve(V, np.eye(n)[:, 0])
        t = np.linspace(0.0, max(4.0 * tmax, 1.0), 4001)
        c = (np.exp(np.outer(t, lam)) @ coef).real
        i = int(np.argmax(c))
        if 0 < i < len(t) - 1:  # parabola through the three points around the peak
            y0, y1, y2 = c[i - 1], c[i], c[i + 1]
            den = y0 - 2 * y1 + y2
            shift = 0.5 * (y0 - y2) / den if den != 0 else 0.0
            return t[i] + shift * (t[1] - t[0])
        return t[i]

    if not tmax > 0:
        raise CompoundError(f"{where}: must be positive")
    lo, hi = math.log(1e-4), math.log(1e3)
    if peak_time(math.exp(hi)) > tmax:
        raise CompoundError(f"{where}: a peak as early as {tmax:g} h needs faster absorption than 1000/h")
    if peak_time(math.exp(lo)) < tmax:
        raise CompoundError(f"{where}: a peak as late as {tmax:g} h cannot be reached by first-order absorption "
                            f"with this disposition")
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if peak_time(math.exp(mid)) > tmax:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def _rebuild(data: dict, label: str) -> Compound:
    from ._library import register_compound

    c = Compound(CompoundFile.model_validate(data), label)
    register_compound(c)
    return c
