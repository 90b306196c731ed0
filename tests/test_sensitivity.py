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


def _sample_rows(setup, keys, n, seed):
    u = np.random.default_rng(seed).random((n, len(keys)))
    return np.column_stack([sa._inverse_cdf(setup.parameters[k], u[:, j]) for j, k in enumerate(keys)])


def test_batched_path_gives_the_one_at_a_time_outcomes():
    from ketasim.mechanisms import get_mechanism

    reg = ks.Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min")
    p, mech = ks.default_parameters(), get_mechanism("opioid")
    setup = sa.make_setup(reg, p, mech, "madrs_change_day1")
    keys = sa.default_parameter_keys(p, reg, mech)
    rows = _sample_rows(setup, keys, 5, seed=7)
    # one row with norketamine fractions summing above 1 (constrained, the partner scaled with it)
    rows[4, keys.index("hnk.fm")] = 0.95
    batched = sa._outcomes_batched(setup, keys, rows)
    one_by_one = sa.outcomes_one_at_a_time(setup, keys, rows)
    assert np.all(np.isfinite(one_by_one)) and np.ptp(one_by_one) > 0.1   # the rows differ in outcome
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-12, atol=1e-12)


def test_batched_path_keeps_each_set_on_its_own_grid():
    # varied nasal-device timing: the sets' dose events differ, so they are batched apart and still match
    from ketasim.mechanisms import get_mechanism

    reg = ks.Regimen.from_text("esketamine 56 mg intranasal")
    p, mech = ks.default_parameters(), get_mechanism("glutamate")
    setup = sa.make_setup(reg, p, mech, "cadss_peak", subjects=__import__(
        "ketasim.data.sampling", fromlist=["typical_subjects"]).typical_subjects(2, {"weight_kg": 60.0}))
    keys = ["route.esketamine_device_interval", "route.nasal_ka", "dissociation.Emax"]
    rows = np.array([[p[keys[0]].value, 2.0, 15.0], [2 * p[keys[0]].value, 4.0, 30.0],
                     [p[keys[0]].value, 5.0, 25.0], [3 * p[keys[0]].value, 2.5, 10.0]])
    np.testing.assert_allclose(sa._outcomes_batched(setup, keys, rows), sa.outcomes_one_at_a_time(setup, keys, rows),
                               rtol=1e-12, atol=1e-12)


def test_dask_run_with_quiet_prints_nothing_and_gives_the_in_process_indices(tmp_path):
    """Total >= first-order indices (within their intervals) for the antidepressant outcome; the same numbers on
    two Dask workers as in-process; --quiet output without distributed's shutdown warnings."""
    import subprocess
    import sys

    args = ["sensitivity", "--outcome", "madrs_change_day1", "--method", "sobol", "--samples", "32",
            "--parameters", "opioid.hnk_Ki_mor,opioid.basal_tone,mood.Rmax,ketamine.CL", "--quiet"]
    from pathlib import Path

    res = subprocess.run([str(Path(sys.executable).with_name("ketasim")), *args, "--scheduler", "local:2", "--out",
                          str(tmp_path / "dask")], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "" and res.stderr.strip() == "", (res.stdout + res.stderr)[-2000:]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "serial")])
    assert r.exit_code == 0, r.output
    dask_df = pd.read_csv(tmp_path / "dask" / "sensitivity.csv")
    serial_df = pd.read_csv(tmp_path / "serial" / "sensitivity.csv")
    pd.testing.assert_frame_equal(dask_df, serial_df)
    varied = serial_df[~serial_df["screened_out"]]
    assert len(varied) == 4
    assert (varied["ST"] + varied["ST_conf"] >= varied["S1"] - varied["S1_conf"]).all()
    assert varied["ST"].sum() >= varied["S1"].sum()
