"""Sensitivity analysis: elasticities against finite differences of the model, Sobol indices on a small
sample (S1 <= ST within their intervals, the dominant parameter found), outputs written with units."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim import services
from ketasim.analysis import sensitivity as sa
from ketasim.cli.main import app


def test_elasticity_of_ketamine_cmax_to_volume_is_about_minus_one():
    doc = services.run_sensitivity(["ketamine 20 mg iv"], "ketamine_cmax", "local",
                                   parameters="ketamine.V1,ketamine.CL,mood.Rmax")
    loc = doc["local"].set_index("parameter")
    # a bolus peak is dose / V1: elasticity -1; clearance does not move the peak at t = 0; MADRS parameters none
    assert loc.loc["ketamine.V1", "elasticity"] == pytest.approx(-1.0, abs=1e-3)
    assert abs(loc.loc["ketamine.CL", "elasticity"]) < 1e-6
    assert loc.loc["mood.Rmax", "elasticity"] == 0.0
    y = ks.simulate("ketamine 20 mg iv", duration="1 d",
                    parameters=ks.default_parameters().replace_many({"ketamine.V1": 200.0}))
    assert loc.loc["ketamine.V1", "outcome_at_high"] == pytest.approx(y.outputs["ketamine_ng_ml"].max(), rel=1e-9)


def test_sobol_on_a_small_sample(tmp_path):
    res = CliRunner().invoke(app, ["sensitivity", "--outcome", "cadss_peak", "--method", "sobol", "--samples", "64",
                                   "--parameters", "dissociation.,ketamine.V1,mood.Rmax", "--out", str(tmp_path),
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "sensitivity.csv")
    assert set(df.columns) >= {"parameter", "unit", "low", "high", "S1", "S1_conf", "ST", "ST_conf", "outcome_unit"}
    top2 = set(df.sort_values("ST", ascending=False)["parameter"].iloc[:2])
    # the CADSS peak is set by its Emax model: the maximum and the occupancy for half of it lead
    assert top2 == {"dissociation.Emax", "dissociation.occupancy50"}
    assert df.loc[df.parameter == "mood.Rmax", "screened_out"].item()   # MADRS gain cannot move CADSS
    varied = df[~df["screened_out"]]
    assert (varied["ST"] + varied["ST_conf"] >= varied["S1"] - varied["S1_conf"]).all()
    doc = json.loads((tmp_path / "sensitivity.json").read_text())
    assert doc["sobol_info"]["sum_ST"] >= doc["sobol_info"]["sum_S1"]
    assert (tmp_path / "sobol.png").exists()


def test_same_seed_same_indices_serial_and_chunked():
    setup = sa.make_setup(ks.Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min"), ks.default_parameters(),
                          __import__("ketasim.mechanisms", fromlist=["get_mechanism"]).get_mechanism("opioid"),
                          "ketamine_cmax")
    keys = ["ketamine.V1", "ketamine.CL"]
    rows = np.array([[100.0, 70.0], [150.0, 90.0], [122.7, 80.2]])
    a = sa.evaluate(setup, keys, rows, chunk=1)
    b = sa.evaluate(setup, keys, rows, chunk=3)
    np.testing.assert_array_equal(a, b)


def test_fraction_pairs_stay_valid():
    p = ks.default_parameters()
    v = sa.constrained(p, {"hnk.fm": 0.9, "dhnk.fm": 0.3})
    assert v["hnk.fm"] + v["dhnk.fm"] == pytest.approx(0.999) and v["hnk.fm"] / v["dhnk.fm"] == pytest.approx(3)
