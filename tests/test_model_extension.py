"""A new pathway added from outside the package, through the public API only: one node definition (a slow
mediator driven by NMDA occupancy), its parameters, and a hypothesis that uses it. It must appear in
timecourse.parquet, the figure, the dashboard's layers and the SBML, and the fast path, the reference and
libroadrunner must agree on it (this is the worked example of docs/model.md)."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import ketasim as ks
from ketasim.mechanisms import Mechanism, register
from ketasim.models.spec import linear_drive, state
from ketasim.parameters import parameters_from_toml

BDNF_PARAMETERS = """
[set]
name = "bdnf_example"
description = "Example pathway: a BDNF-like state driven by NMDA occupancy"
applies_to = "tests and documentation"
citations = ["assumption"]

[parameters."bdnf.gain"]
value = 3.0
unit = "dimensionless"
source = "assumption"
evidence = "assumed"
range = [0.5, 10.0]
description = "Target excess of the BDNF-like state per unit NMDA occupancy"

[parameters."bdnf.k"]
value = 0.02
unit = "1/h"
source = "assumption"
evidence = "assumed"
range = [0.005, 0.1]
description = "Rate constant of the BDNF-like state"

[parameters."bdnf.X50"]
value = 0.02
unit = "dimensionless"
source = "assumption"
evidence = "assumed"
range = [0.005, 2.0]
description = "Excess of the BDNF-like state for half the maximal antidepressant drive"
"""


# --- the diff a user writes: one node function and its declaration, plus the hypothesis that uses it --------
def bdnf_target(nmda_occupancy, gain):
    return 1.0 + gain * nmda_occupancy


@dataclass(frozen=True)
class BDNFMediated(Mechanism):
    key: ClassVar[str] = "bdnf_example"
    title: ClassVar[str] = "BDNF-like pathway (example)"
    description: ClassVar[str] = "An example hypothesis: NMDA occupancy builds a slow BDNF-like state that " \
                                 "carries the antidepressant effect; written outside ketasim."

    def nodes(self):
        return [state("bdnf", bdnf_target, rate="bdnf.k", initial=1.0, params={"gain": "bdnf.gain"},
                      layer="L4", label="BDNF-like state", output=True, display_unit="relative to baseline"),
                linear_drive({"bdnf": (1.0, "bdnf.X50")})]

    def parameters(self):
        return parameters_from_toml(BDNF_PARAMETERS, "bdnf_example")
# ------------------------------------------------------------------------------------------------------------


K = "ketamine 0.5 mg/kg iv over 40 min"


@pytest.fixture(scope="module")
def hypothesis():
    from ketasim import mechanisms

    register(BDNFMediated)
    yield "bdnf_example"
    mechanisms._REGISTRY.pop("bdnf_example")


def test_new_column_in_parquet_figure_and_dashboard(hypothesis, tmp_path):
    from ketasim.web.present import result_to_json

    r = ks.simulate(K, duration="3 d", hypothesis=hypothesis)
    assert r.outputs["bdnf"].max() > 1.1 and r.units["bdnf"] == "relative to baseline"
    r.write(tmp_path / "run")
    df = pd.read_parquet(tmp_path / "run" / "timecourse.parquet")
    assert "bdnf" in df.columns
    fig = r.plot()
    labels = {t.get_text() for ax in fig.axes for t in (ax.get_legend().get_texts() if ax.get_legend() else [])}
    assert "BDNF-like state" in labels
    web = result_to_json(r, [K], 72.0, "bdnf")
    mediators = next(layer for layer in web["layers"] if layer["key"] == "mediators")
    assert "bdnf" in mediators["columns"] and web["series"]["bdnf"]["layer"] == "mediators"
    # the pathway carries the effect: with it the 24-h change is larger than with no drug pathway at all
    null = ks.simulate(K, duration="3 d", hypothesis="null")
    assert r.summary()["madrs"]["change_24h"] < null.summary()["madrs"]["change_24h"] - 2


def test_fast_path_and_reference_agree_on_the_new_state(hypothesis):
    from ketasim.mechanisms import get_mechanism
    from ketasim.population import PopulationSpec, population_grid, sample_subjects
    from ketasim.population._simulate import _simulate_chunk_reference, simulate_chunk

    mech = get_mechanism(hypothesis)
    reg = ks.Regimen.from_text(K, "ketamine 0.5 mg/kg iv over 40 min at 2 d")
    subj = sample_subjects(PopulationSpec(), 5, 3)
    t = population_grid(reg, 96.0)
    cols = ("bdnf", "madrs", "cadss")
    fast = simulate_chunk(reg, subj, ks.default_parameters(), mech, t, columns=cols)
    ref = _simulate_chunk_reference(reg, subj, ks.default_parameters(), mech, t, columns=cols)
    for c in cols:
        rel = np.max(np.abs(fast[c] - ref[c]) / np.maximum(np.abs(ref[c]), 1e-12))
        assert rel <= 1e-10, (c, rel)


def test_sbml_carries_the_new_state_and_libroadrunner_agrees(hypothesis):
    libsbml = pytest.importorskip("libsbml")
    roadrunner = pytest.importorskip("roadrunner")
    from ketasim.sbml import export_sbml

    text = export_sbml([K], hypothesis=hypothesis)
    m = libsbml.readSBMLFromString(text).getModel()
    assert m.getRateRuleByVariable("bdnf") is not None
    assert m.getParameter("bdnf_gain").getValue() == 3.0
    r = ks.simulate(K, duration="2 d", hypothesis=hypothesis)
    roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
    rr = roadrunner.RoadRunner(text)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-14
    rr.integrator.setValue("maximum_num_steps", 1_000_000)
    rr.timeCourseSelections = ["time", "bdnf", "madrs"]
    out = np.asarray(rr.simulate(times=list(r.time_h - r.time_h[0])))
    for j, c in enumerate(("bdnf", "madrs"), start=1):
        rel = np.max(np.abs(out[:, j] - r.outputs[c]) / np.abs(r.outputs[c]))
        assert rel <= 1e-4, (c, rel)
