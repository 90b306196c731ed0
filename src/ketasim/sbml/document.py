"""The SBML document under construction: libsbml calls, unit definitions, and provenance notes and annotations
on every numeric element (which ketasim parameters it depends on, with value, unit, source and evidence)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from ketasim.parameters import ParameterSet

from .symbols import SBMLExportError

PROVENANCE_NS = "https://ketasim.invalid/sbml/provenance/1"
XHTML_NS = "http://www.w3.org/1999/xhtml"


@dataclass(frozen=True)
class Dependency:
    key: str
    elasticity: float | None = None   # d ln(number) / d ln(parameter), where computed


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
    "litre_per_hour": [("litre", 1, 0, 1.0), ("second", -1, 0, 3600.0)],
    "per_umol": [("mole", -1, -6, 1.0)],
    "mg": [("gram", 1, -3, 1.0)],
    # rating scales: dimensionless in SI, named so that a reader sees which scale a number is on
    "MADRS_point": [("dimensionless", 1, 0, 1.0)],
    "HAMD17_point": [("dimensionless", 1, 0, 1.0)],
    "CADSS_point": [("dimensionless", 1, 0, 1.0)],
    "VAS_point": [("dimensionless", 1, 0, 1.0)],
}
# ketasim's internal units (and the units declared by model nodes) -> SBML unit ids
UNIT_IDS = {"h": "hour", "1/h": "per_hour", "uM": "uM", "L": "litre", "L/h": "litre_per_hour", "mg": "mg",
            "dimensionless": "dimensionless", "ng/mL": "ng_per_mL", "1/umol": "per_umol",
            "MADRS_point": "MADRS_point", "HAMD17_point": "HAMD17_point", "CADSS_point": "CADSS_point",
            "VAS_point": "VAS_point", "HAMD17_point/MADRS_point": "dimensionless", "g/mol": "g_per_mol",
            "umol": "umol", "uM/h": "uM_per_hour"}


def unit_id(unit: str) -> str:
    try:
        return UNIT_IDS[unit]
    except KeyError:
        raise SBMLExportError(f"no SBML unit for {unit!r}") from None
def libsbml_module():
    try:
        import libsbml
    except ImportError:
        raise SBMLExportError("SBML export needs python-libsbml: pip install python-libsbml "
                              "(it comes with ketasim's dev extra)") from None
    return libsbml


def sid(name: str) -> str:
    """SBML id from a ketasim state or key name."""
    s = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return s if not s[0].isdigit() else f"_{s}"


class Document:
    """A libsbml model under construction, with provenance notes on everything numeric."""

    def __init__(self, model_id: str, params: ParameterSet):
        libsbml = libsbml_module()
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


def add_units(doc: Document):
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
