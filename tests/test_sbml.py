"""SBML export: a valid SBML L3V2 document that libroadrunner simulates to ketasim's own result."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

libsbml = pytest.importorskip("libsbml")
roadrunner = pytest.importorskip("roadrunner")

from ketasim import simulate  # noqa: E402
from ketasim.citations import bibliography  # noqa: E402
from ketasim.mechanisms import scored_hypotheses  # noqa: E402
from ketasim.sbml import PROVENANCE_NS, SBMLExportError, Sym, export_sbml, export_sbml_file  # noqa: E402

IV = "ketamine 0.5 mg/kg iv over 40 min"
NTX = "naltrexone 50 mg oral at -45 min"
SHARED = ("ketamine_ng_ml", "norketamine_ng_ml", "hnk_ng_ml", "dhnk_ng_ml", "naltrexone_ng_ml", "naltrexol_ng_ml",
          "nmda_occupancy", "mor_occupancy", "kor_occupancy", "mor_agonist_signal", "plasticity", "opioid_signal",
          "cadss", "euphoria", "madrs", "hamd17")


def _document(text: str):
    doc = libsbml.readSBMLFromString(text)
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) + doc.getNumErrors(libsbml.LIBSBML_SEV_FATAL) == 0
    return doc


def _check(text: str) -> list[str]:
    """libsbml's full consistency check: errors fail the test; warnings (units of literals) are returned."""
    doc = _document(text)
    doc.checkConsistency()
    errors, warnings = [], []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        (errors if e.isError() or e.isFatal() else warnings).append(f"{e.getErrorId()}: {e.getMessage()[:200]}")
    assert not errors, errors[:5]
    return warnings


@pytest.mark.parametrize("hypothesis,source", [(h, None) for h in scored_hypotheses()] + [
    ("null", None), ("opioid", "ketamine_mor"), ("opioid", "endogenous")])
def test_export_is_consistent_sbml_l3v2(hypothesis, source):
    text = export_sbml([IV, NTX], hypothesis=hypothesis, opioid_source=source)
    doc = _document(text)
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    assert _check(text) == []   # no unit warnings either: every literal and parameter carries its unit


def test_units_provenance_and_clock():
    text = export_sbml([IV, NTX])
    m = _document(text).getModel()
    assert {"hour", "umol", "uM", "per_hour"} <= {u.getId() for u in m.getListOfUnitDefinitions()}
    assert (m.getTimeUnits(), m.getSubstanceUnits(), m.getVolumeUnits()) == ("hour", "umol", "litre")
    bib = set(bibliography())
    for element in list(m.getListOfParameters()) + list(m.getListOfCompartments()):
        assert element.isSetNotes(), element.getId()
        assert element.isSetUnits(), element.getId()
        ann = ET.fromstring(element.getAnnotationString())
        prov = ann.find(f"{{{PROVENANCE_NS}}}provenance")
        assert prov is not None and prov.get("key") and prov.get("source") and prov.get("evidence"), \
            element.getId()
        for dep in prov.findall(f"{{{PROVENANCE_NS}}}parameter"):
            assert dep.get("source") in bib and dep.get("evidence"), (element.getId(), dep.attrib)
    # a rate constant names the ketasim parameters it is made of
    k = m.getParameter("k_ketamine_S_central__ketamine_S_peripheral")
    assert {"ketamine.Q", "ketamine.V1"} <= {d.get("key") for d in ET.fromstring(k.getAnnotationString()).iter(
        f"{{{PROVENANCE_NS}}}parameter")}
    # 6beta-naltrexol's brain pools fill at its brain-access fraction of naltrexone's rate
    for pool in ("fast", "slow"):
        kin = m.getParameter(f"kin_ce_naltrexol_{pool}__naltrexol_central")
        assert "biophase.naltrexol_brain_fraction" in {d.get("key") for d in ET.fromstring(
            kin.getAnnotationString()).iter(f"{{{PROVENANCE_NS}}}parameter")}, pool
    # SBML time 0 is ketasim's first time (-45 min): the first dosing event fires at SBML time 0
    assert m.getParameter("time_offset_h").getValue() == pytest.approx(-0.75)
    triggers = sorted(libsbml.formulaToL3String(e.getTrigger().getMath()) for e in m.getListOfEvents())
    assert triggers[0] == "time >= 0 hour"   # literals carry their units (the unit check)
    # output columns are assignment rules, slow states rate rules
    for col in SHARED:
        assert m.getAssignmentRuleByVariable(col) is not None or m.getRateRuleByVariable(col) is not None, col
    assert m.getRateRuleByVariable("madrs") is not None
    assert m.getRateRuleByVariable("ce_ketamine_S") is not None


def _roadrunner(text: str, times: np.ndarray, columns) -> dict[str, np.ndarray]:
    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)  # CVODE notes at piecewise kinks are not errors
    rr = roadrunner.RoadRunner(text)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    rr.integrator.setValue("maximum_num_steps", 1_000_000)
    rr.timeCourseSelections = ["time", *columns]
    out = np.asarray(rr.simulate(times=list(times)))
    assert np.allclose(out[:, 0], times)
    return {c: out[:, i + 1] for i, c in enumerate(columns)}


CASES = {
    "iv_alone": ([IV], dict(hypothesis="opioid")),
    "iv_naltrexone": ([IV, NTX], dict(hypothesis="opioid")),
    "esketamine_in": (["esketamine 56 mg intranasal"], dict(hypothesis="glutamate")),
    # every route, a bolus on the output grid, an inert first session, saline expectation, oral antidepressant
    "routes_mixed": (["placebo 0 mg iv at -2 h", "ketamine 30 mg im at 1 h", "ketamine 50 mg oral at 6 h",
                      "arketamine 20 mg sublingual at 8 h", "ketamine 0.5 mg/kg iv at 12 h",
                      "ketamine 50 mg intranasal at 22 h"],
                     dict(hypothesis="mixed", opioid_source="endogenous", expectation="saline", baseline_madrs=28.0,
                          oral_antidepressant_start="1 d")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_roadrunner_reproduces_ketasim(case):
    doses, kw = CASES[case]
    result = simulate(doses, duration="2 d", **kw)
    df = result.to_pandas()
    t = df.time_h.to_numpy()
    export_kw = {k: v for k, v in kw.items() if k != "oral_antidepressant_start"}
    if "oral_antidepressant_start" in kw:
        export_kw["oral_antidepressant_start_h"] = 24.0
    text = export_sbml(doses, **export_kw)
    sbml = _roadrunner(text, t - t[0], SHARED)   # SBML time 0 = ketasim's first grid time
    worst = {}
    for col in SHARED:
        ks, rr = df[col].to_numpy(), sbml[col]
        floor = 1e-6 * max(np.max(np.abs(ks)), 1e-300)
        rel = np.abs(rr - ks) / np.maximum(np.abs(ks), floor)
        worst[col] = float(rel.max())
    print(f"\n{case}: max relative difference SBML (libroadrunner) vs ketasim per output:")
    for col, w in worst.items():
        print(f"  {col:20s} {w:.1e}")
    bad = {c: w for c, w in worst.items() if not w <= 1e-3}
    assert not bad, bad


def test_export_file_from_doses_and_scenario(tmp_path):
    out = export_sbml_file(tmp_path / "sub" / "model.xml", [IV, NTX], None, "opioid", None, "80 kg")
    assert out.path.exists() and out.events >= 2 and out.reactions > 0 and out.species > 0
    text = out.path.read_text()
    assert "80 kg" in text and not list(tmp_path.glob("sub/.*")) and not list(tmp_path.glob(".*"))
    import os
    umask = os.umask(0)
    os.umask(umask)
    assert out.path.stat().st_mode & 0o777 == 0o666 & ~umask   # as any other output file, not 0600
    scenario = tmp_path / "s.yaml"
    scenario.write_text("doses: ['esketamine 56 mg intranasal']\nhypothesis: hnk_ampa\nexpectation: none\n")
    out = export_sbml_file(tmp_path / "s.xml", None, scenario, None, None, "70 kg")
    assert "ketasim_hnk_ampa" in out.path.read_text()
    with pytest.raises(ValueError, match="either --dose or --scenario"):
        export_sbml_file(tmp_path / "x.xml", [IV], scenario, None, None, "70 kg")
    with pytest.raises(ValueError, match="nothing to export"):
        export_sbml_file(tmp_path / "x.xml", None, None, None, None, "70 kg")
    with pytest.raises(ValueError, match="weight"):
        export_sbml_file(tmp_path / "x.xml", [IV], None, None, None, "heavy")
    with pytest.raises(ValueError, match="unknown hypothesis"):
        export_sbml_file(tmp_path / "x.xml", [IV], None, "nonsense", None, "70 kg")
    assert not (tmp_path / "x.xml").exists()


def test_symbols_refuse_branches_on_time_varying_quantities():
    x = Sym.leaf("x")
    with pytest.raises(SBMLExportError, match="np.where"):
        bool(x > 0)
    assert bool(Sym.leaf("p", 2.0) > 1)  # a branch on a parameter's value is fine
