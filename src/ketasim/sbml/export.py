"""The mapping from ketasim's model to SBML Level 3 Version 2 (`ketasim export-sbml`): the typical subject under
one hypothesis, with its regimen.

What the document holds, and where each part comes from (nothing is re-derived here):
- L1 pharmacokinetics: one species (amount, µmol, `hasOnlySubstanceUnits`) per amount state of
  `pk.pk_state_blocks`, in compartments sized by the individual volumes of `pk.individual_pk`; one first-order
  reaction per non-zero off-diagonal entry of `pk.build_pk_matrix` (the rate constant is that entry). Mass
  balance (each diagonal equals minus its column's outflows) is checked on export.
- L2 effect sites (µM, not amounts): parameters with rate rules read off the same matrix rows; plasma
  concentrations are `KetamineModel.plasma_outputs` evaluated on symbols (molar masses as named parameters).
- Dosing: the regimen's `pk.dose_inputs`, as events. A bolus adds its amount to a species; a zero-order input has
  an infusion-rate parameter that an event switches on (to amount/duration) and another switches off.
- L2-L5 PD: every node of the declared model (`ketasim.models.pd` plus the hypothesis's nodes): signals as
  assignment rules, slow states as rate rules dX/dt = k (u - X), derived values as initial assignments of the
  parameters they are computed from. Each node function is evaluated on symbols, so the formulas are ketasim's own.
- Provenance: every parameter and compartment carries SBML notes and a `ketasim:provenance` annotation with its
  ketasim key and the default parameters (key, value, unit, source citation key, evidence) it depends on, read
  from the declarations (`provenance`).

Clock: SBML time 0 is ketasim's time t0 = min(0, first dose time) (where ketasim's output grid starts and its
slow states sit at baseline). The parameter `time_offset_h` holds t0 and the assignment rule
`ketasim_time_h = time + time_offset_h` gives ketasim's clock; event triggers are written on the SBML clock
(`time >= dose time - t0`). With no dose before 0 the two clocks coincide.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from ketasim._version import __version__
from ketasim.mechanisms import Mechanism, get_mechanism
from ketasim.models.model import KetamineModel
from ketasim.models.pd import pd_model
from ketasim.models.pk import Covariates, is_amount_state, is_marker_state
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.parameters._parameter_set import internal_unit_for
from ketasim.regimens import Regimen, ValidatedRangeWarning
from ketasim.simulation import Simulation, as_regimen
from ketasim.units import MOLAR_MASSES

from .document import XHTML_NS, Dependency, Document, add_units, libsbml_module, sid, unit_id
from .provenance import derived_dependencies, pk_dependencies
from .symbols import SYM_OPS, SBMLExportError, Sym, rebound, render

_REGIMEN = ("regimen", "given")


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
        return sid(f"{base}_{enantiomer}_{place}_volume"), f"{enantiomer}.{key}", \
            f"{place} distribution volume of {base} ({enantiomer})"
    return sid(f"{base}_{place}_volume"), key, f"{place} distribution volume of {base}"


def _add_pk(doc: Document, model: KetamineModel, ind, A: np.ndarray) -> dict[str, str]:
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
        doc.check(s.setId(doc._claim(sid(n))), f"species {n}")
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
            kid = sid(f"k_{src}__{dst}")
            doc.parameter(kid, A[i, j], "per_hour", ketasim_key=f"build_pk_matrix:A[{dst},{src}]",
                          what=f"first-order rate constant of {src} -> {dst}", dep_key=f"A.{dst}.{src}")
            doc.reaction(sid(f"flow_{src}__{dst}"), sid(src), sid(dst), f"{kid} * {sid(src)}",
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
                kid = sid(f"kout_{ce}")
                doc.parameter(kid, -A[i, i], "per_hour", ketasim_key=f"build_pk_matrix:-A[{ce},{ce}]",
                              what=f"loss rate constant of the effect site {ce}", dep_key=f"A.{ce}.{ce}")
                terms.append(f"- {kid} * {sid(ce)}")
            else:
                kid = sid(f"kin_{ce}__{src}")
                units = "per_hour" if not amount[j] else "per_litre_per_hour"
                doc.parameter(kid, A[i, j], units, ketasim_key=f"build_pk_matrix:A[{ce},{src}]",
                              what=f"input of {src} to the effect site {ce} (rate constant / volume)",
                              dep_key=f"A.{ce}.{src}")
                terms.append(f"+ {kid} * {sid(src)}")
        if is_marker_state(ce):   # a count of sessions, each fading as expectation wanes
            doc.parameter(sid(ce), 0.0, "dimensionless", constant=False, ketasim_key=ce,
                          what="session memory: treatment sessions, each fading as expectation wanes; a rate rule")
        else:
            doc.parameter(sid(ce), 0.0, "uM", constant=False, ketasim_key=ce,
                          what="effect-site (biophase) concentration, µM plasma-equivalent; a rate rule")
        doc.rate_rule(sid(ce), " ".join(terms).lstrip("+ ") or "0")
    return volume_ids


def _add_dosing(doc: Document, inputs, t0: float, dose_texts: dict[int, str]):
    """Events: boluses add amounts; zero-order inputs switch an infusion-rate parameter on and off."""
    events: dict[float, list[tuple[str, str]]] = defaultdict(list)
    for n, inp in enumerate(inputs):
        target = sid(inp.state)
        extra = (f"Dose: {dose_texts.get(n, '')}; ketasim time {inp.time_h:g} h; mg -> µmol with the molar "
                 f"masses in the model notes.")
        if is_marker_state(inp.state):    # a treatment session: the session memory counts one more
            pid = f"session_{n}"
            doc.parameter(pid, inp.amount_umol, "dimensionless", ketasim_key=f"dose_inputs[{n}].amount_umol",
                          what=f"one treatment session into {inp.state}", extra=extra, origin=_REGIMEN)
            events[inp.time_h].append((target, f"{target} + {pid}"))
        elif inp.duration_h <= 0:
            pid = f"dose_{n}_umol"
            doc.parameter(pid, inp.amount_umol, "umol", ketasim_key=f"dose_inputs[{n}].amount_umol",
                          what=f"bolus into {inp.state}", extra=extra, origin=_REGIMEN)
            events[inp.time_h].append((target, f"{target} + {pid}"))
        else:
            on, rate = f"infusion_{n}_rate_on", f"infusion_{n}_rate"
            doc.parameter(on, inp.amount_umol / inp.duration_h, "umol_per_hour",
                          ketasim_key=f"dose_inputs[{n}].amount_umol/duration_h",
                          what=f"zero-order input into {inp.state} over {inp.duration_h:g} h", extra=extra,
                          origin=_REGIMEN)
            doc.parameter(rate, 0.0, "umol_per_hour", constant=False, ketasim_key=f"dose_inputs[{n}]",
                          what=f"current zero-order input rate into {inp.state} (events switch it)",
                          origin=_REGIMEN)
            doc.reaction(f"input_{n}", None, target, rate, f"zero-order input {n} into {inp.state}")
            events[inp.time_h].append((rate, on))
            events[inp.time_h + inp.duration_h].append((rate, "0 umol_per_hour"))
    for k, t in enumerate(sorted(events)):
        ev = doc.model.createEvent()
        doc.check(ev.setId(doc._claim(f"dosing_event_{k}")), "event id")
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setInitialValue(False)
        trig.setPersistent(True)
        doc.check(trig.setMath(doc.math(f"time >= {t - t0!r} hour")), "event trigger")
        for var, formula in events[t]:
            ea = ev.createEventAssignment()
            ea.setVariable(var)
            doc.check(ea.setMath(doc.math(formula)), f"event assignment to {var}")
        doc.check(ev.setNotes(f'<body xmlns="{XHTML_NS}"><p>Dosing at ketasim time {t:g} h '
                              f'(SBML time {t - t0:g} h).</p></body>'), "event notes")


def _add_clock(doc: Document, t0: float):
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


class _SymIndividual:
    """Stands in for pk.PKIndividual in plasma_outputs: volumes are the compartments' sizes."""

    def __init__(self, ind, volume_ids: dict[str, str]):
        self._ind, self._ids = ind, volume_ids

    def __getitem__(self, k):
        if k in self._ids:
            return Sym.leaf(self._ids[k], self._ind[k])
        raise SBMLExportError(f"plasma outputs read {k!r}, which is no compartment volume")


def _pk_readouts(doc: Document, model: KetamineModel, ind, volume_ids) -> dict[str, object]:
    """Plasma concentrations and effect-site sources, as ketasim's own read-outs evaluated on symbols (molar
    masses become parameters, so the ng/mL rules carry their units)."""
    names = model.layout.names
    X = np.empty((1, len(names)), dtype=object)
    for i, n in enumerate(names):
        X[0, i] = Sym.leaf(sid(n))
    used: set[str] = set()

    def to_ng_per_ml(c, species):
        used.add(species)
        return c * Sym.leaf(f"molar_mass_{species}", MOLAR_MASSES[species].g_per_mol)

    plasma_outputs = rebound(KetamineModel.plasma_outputs, umol_per_l_to_ng_per_ml=to_ng_per_ml)
    one = lambda v: v.reshape(-1)[0] if isinstance(v, np.ndarray) else v  # noqa: E731
    plasma = {k: one(v) for k, v in plasma_outputs(model, X, _SymIndividual(ind, volume_ids)).items()}
    for species in sorted(used):
        mm = MOLAR_MASSES[species]
        doc.parameter(f"molar_mass_{species}", mm.g_per_mol, "g_per_mol", ketasim_key=f"molar_mass:{species}",
                      what=f"molar mass of {species} (free base)", origin=(mm.source, "estimate"))
    ce = {k: one(v) for k, v in model.effect_sites(X).items()}
    return plasma, ce


def _param_unit(params: ParameterSet, key: str) -> str:
    return unit_id(internal_unit_for(params[key].unit, key))


def _add_pd(doc: Document, pdm, params: ParameterSet, values: dict, ce: dict, subject: dict, defaults: dict,
            plasma: dict):
    """Every PD node as SBML: derived values (initial assignments), signals (assignment rules), slow states
    (rate rules); the parameters and context values they read as constant parameters."""
    leaf: dict[str, object] = {}
    for key in pdm.parameter_keys():
        s = sid(key)
        if key in pdm.context_units:
            doc.parameter(s, values[key], unit_id(pdm.context_units[key]), ketasim_key=key,
                          what="context of the run (regimen and setting)", origin=_REGIMEN)
        else:
            doc.parameter(s, values[key], _param_unit(params, key), ketasim_key=key, what=params[key].description)
        leaf[key] = Sym.leaf(s, values[key])
    for n in pdm.derived:
        s = sid(n.name)
        args = [leaf[k] if isinstance(k, str) else k for k in (n.params[a] for a in n.arguments)]
        expr = rebound(n.fn, ops=SYM_OPS)(*args)
        doc.parameter(s, values[n.name], unit_id(n.unit), ketasim_key=n.name, what=n.description or n.label,
                      dep_key=f"derived.{n.name}")
        doc.initial_assignment(s, render(expr))
        leaf[n.name] = Sym.leaf(s, values[n.name])
    env: dict[str, object] = {}
    for src in pdm.sources.values():
        if src.kind == "time":
            env[src.name] = Sym.leaf("ketasim_time_h")
        elif src.kind == "effect_site":
            expr = ce[src.name]
            if not (isinstance(expr, Sym) and expr.op == "name" and expr.args[0] == src.name):
                doc.parameter(src.name, None, src.unit, constant=False, ketasim_key=src.name, what=src.label)
                doc.assignment(src.name, render(expr))
            env[src.name] = Sym.leaf(src.name)
        else:
            key = defaults.get(src.name)
            doc.parameter(src.name, float(subject[src.name]), unit_id(src.unit), ketasim_key=key or src.name,
                          what=f"{src.label} of the exported (typical) subject",
                          origin=("ketasim", "typical subject" if key is None else "given"))
            env[src.name] = Sym.leaf(src.name, float(subject[src.name]))
    for col, expr in plasma.items():
        doc.parameter(col, None, "ng_per_mL", constant=False, ketasim_key=col, what="venous plasma concentration")
        doc.assignment(col, render(expr))
    for n in pdm.dynamic:
        fn = rebound(n.fn, ops=SYM_OPS)
        args = []
        for a in n.arguments:
            if a in n.params:
                k = n.params[a]
                args.append(leaf[k] if isinstance(k, str) else float(k))
            else:
                args.append(env[n.inputs.get(a, a)])
        expr = fn(*args)
        what = n.description or n.label or n.name
        if n.kind == "signal":
            doc.parameter(n.name, None, unit_id(n.unit), constant=False, ketasim_key=n.name,
                          what=f"{what}; an assignment rule")
            doc.assignment(n.name, render(expr))
        else:
            init = n.initial
            value = float(init) if not isinstance(init, str) else None
            doc.parameter(n.name, value, unit_id(n.unit), constant=False, ketasim_key=n.name,
                          what=f"{what}; a slow state dX/dt = k (u - X) (a rate rule)")
            if isinstance(init, str):
                doc.initial_assignment(n.name, init if init in pdm.sources else sid(init))
            doc.rate_rule(n.name, render(leaf[n.rate] * (expr - Sym.leaf(n.name))))
        env[n.name] = Sym.leaf(n.name)


def export_sbml(regimen, *, hypothesis: str | Mechanism = "opioid", opioid_source: str | None = None,
                covariates: Covariates | None = None, parameters: ParameterSet | None = None,
                expectation: str = "active", baseline_madrs: float | None = None,
                oral_antidepressant_start_h: float | None = None) -> str:
    """SBML Level 3 Version 2 text of the typical-subject model for `regimen` under `hypothesis`.

    Numbers come from ketasim's individual_pk, build_pk_matrix and dose_inputs and from the model's parameter
    values; formulas from plasma_outputs, effect_sites and every declared PD node evaluated on symbols. SBML
    time 0 is ketasim time min(0, first dose time); see the module docstring."""
    regimen = as_regimen(regimen)
    mech = get_mechanism(hypothesis, opioid_source)
    params = mech.with_parameters(parameters or default_parameters())
    cov = covariates or Covariates()
    model = KetamineModel()
    sim = Simulation(regimen, params, model=model, mechanism=mech, expectation=expectation,
                     oral_antidepressant_start_h=oral_antidepressant_start_h, baseline_madrs=baseline_madrs)
    ctx = sim.context()
    regimen.check_validated_range(cov.weight_kg)
    base_madrs = baseline_madrs if baseline_madrs is not None else params.value("mood.baseline_madrs")
    if not (0 < base_madrs <= 60):
        raise SBMLExportError(f"baseline MADRS must be in (0, 60], got {base_madrs!r}")
    t0 = min(0.0, regimen.first_time_h())
    ind, A = model.compile_subject(params, cov)
    inputs = model.inputs(regimen, ind, cov.weight_kg)
    pdm = pd_model(mech, params)
    values = pdm.values(params, ctx.values())

    doc = Document(sid(f"ketasim_{mech.label()}"), params)
    doc.model.setName(f"ketasim {__version__}: {mech.label()}, typical subject, "
                      f"{'; '.join(regimen.to_text()) or 'no doses'}")
    deps = pk_dependencies(params, cov, model.index, model.layout.names)
    deps.update({f"derived.{k}": v for k, v in derived_dependencies(pdm, set(params)).items()})
    doc.deps = {k: [Dependency(x) for x in sorted(v)] for k, v in deps.items()}
    add_units(doc)
    _add_model_notes(doc, regimen, mech, cov, t0, ctx, expectation)
    _add_clock(doc, t0)
    volume_ids = _add_pk(doc, model, ind, A)
    _add_dosing(doc, inputs, t0, _dose_texts(model, regimen, ind, cov))
    plasma, ce = _pk_readouts(doc, model, ind, volume_ids)
    subject = {s.name: (base_madrs if s.name == "baseline_madrs" else
                        values[s.default] if isinstance(s.default, str) else float(s.default))
               for s in pdm.sources.values() if s.kind == "subject"}
    defaults = {s.name: s.default for s in pdm.sources.values()
                if s.kind == "subject" and isinstance(s.default, str) and not (s.name == "baseline_madrs"
                                                                             and baseline_madrs is not None)}
    _add_pd(doc, pdm, params, values, ce, subject, defaults, plasma)
    return doc.to_string()


def _add_model_notes(doc: Document, regimen: Regimen, mech: Mechanism, cov: Covariates, t0: float, ctx,
                     expectation):
    doses = "".join(f"<li>{escape(t)}</li>" for t in regimen.to_text()) or "<li>none</li>"
    mm = "; ".join(f"{m.species} {m.g_per_mol} g/mol ({m.source})" for m in MOLAR_MASSES.values())
    body = (
        f'<body xmlns="{XHTML_NS}"><p>Exported by ketasim {escape(__version__)} (research software, '
        f"not a dosing tool). Hypothesis {escape(mech.label())}; typical subject: {cov.weight_kg:g} kg, "
        f"{cov.age_y:g} y, sex {escape(cov.sex)}, CYP2B6 {escape(cov.cyp2b6)}; expectation {escape(expectation)}"
        f"{'' if ctx.oral_ad_start_h is None else f'; oral antidepressant from {ctx.oral_ad_start_h:g} h'}.</p>"
        f"<p>Regimen:</p><ul>{doses}</ul>"
        f"<p>Clock: SBML time 0 is ketasim time {t0:g} h = min(0, first dose time), where ketasim's output "
        f"grid starts and the slow states are at baseline. ketasim_time_h = time + time_offset_h; dosing events "
        f"trigger on the SBML clock.</p>"
        f"<p>Units: time h, amount µmol, volume L, concentration µM (effect sites), plasma outputs ng/mL; rating "
        f"scales in their own points. Species are amounts (hasOnlySubstanceUnits); absorption depots and sinks "
        f"sit in nominal 1 L compartments. Molar masses: {escape(mm)}.</p>"
        f"<p>Every parameter's notes and ketasim:provenance annotation name its ketasim key and the default "
        f"parameters it depends on (value, unit, source citation key in ketasim's CITATIONS.bib, evidence). "
        f"Numbers come from individual_pk, build_pk_matrix and dose_inputs; the rules are ketasim's "
        f"plasma_outputs, effect_sites and the declared PD nodes evaluated on symbols.</p></body>")
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

    from ketasim.io.export import atomic_output_file
    from ketasim.io.schemas import ScenarioConfig, ScenarioError, SubjectConfig, format_validation_error
    from ketasim.units import to_hours

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
    with atomic_output_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    m = libsbml_module().readSBMLFromString(text).getModel()
    return SBMLExport(path, m.getNumSpecies(), m.getNumReactions(), m.getNumEvents(), m.getNumParameters(),
                      tuple(str(w.message) for w in caught if issubclass(w.category, ValidatedRangeWarning)))
