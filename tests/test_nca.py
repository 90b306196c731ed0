"""NCA against closed forms of a one-compartment case (esketamine with the peripheral compartment cut off)."""

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.analysis.nca import auc_linear_up_log_down, lambda_z, nca_result
from ketasim.cli.main import app
from ketasim.models.pk import Covariates, individual_pk

P1 = ks.default_parameters().replace_many({"ketamine.Q": 0.0})
IND = individual_pk(P1, Covariates())
V, CL = IND["S.V1"], IND["S.CL"]
K = CL / V


def test_single_iv_dose_reproduces_analytic_aucinf_and_half_life():
    r = ks.simulate("esketamine 20 mg iv", duration="1 d", parameters=P1)
    row = nca_result(r, ["ketamine_ng_ml"]).iloc[0]
    assert row["auc_inf"] == pytest.approx(1000 * 20 / CL, rel=1e-3)
    assert row["half_life_h"] == pytest.approx(math.log(2) / K, rel=1e-3)
    assert row["cl_f_l_h"] == pytest.approx(CL, rel=1e-3) and row["vz_f_l"] == pytest.approx(V, rel=1e-3)
    assert row["cmax"] == pytest.approx(1000 * 20 / V, rel=1e-9) and row["tmax_h"] == 0
    assert row["lambda_z_points"] >= 3


def test_repeated_doses_accumulation_trough_and_times_after_dose():
    tau = 8.0
    r = ks.simulate("esketamine 20 mg iv at 1 h every 8 h for 3 doses", duration="2 d", parameters=P1)
    df = nca_result(r, ["ketamine_ng_ml"]).set_index("dose_index")
    assert list(df["dose_time_h"]) == [1.0, 9.0, 17.0]
    assert (df["tmax_h"] == 0).all()              # a bolus peaks at its own dose, not at regimen time 0
    # dose 2: AUCtau = AUCtau(1) (1 + e^{-k tau}); trough before dose 2 = C0 e^{-k tau} (1 + ...)
    assert df.loc[2, "accumulation_ratio"] == pytest.approx(1 + math.exp(-K * tau), rel=1e-3)
    c0 = 1000 * 20 / V
    assert df.loc[1, "ctrough"] == pytest.approx(c0 * math.exp(-K * tau), rel=1e-6)
    assert df.loc[1, "cl_f_l_h"] == pytest.approx(1000 * 20 / (c0 / K * (1 - math.exp(-K * tau))) , rel=1e-3)


def test_lambda_z_uses_terminal_points_and_reports_them():
    t = np.array([0, 0.5, 1, 2, 4, 6, 8, 12, 24.0])
    c = 100 * np.exp(-0.1 * t) + 400 * np.exp(-2.0 * t)  # a fast and a slow phase
    lz = lambda_z(t, c, 0.0)
    assert lz["lambda_z_per_h"] == pytest.approx(0.1, rel=2e-3)
    assert lz["last_h"] == 24 and lz["n_points"] >= 3 and lz["first_h"] >= 2
    # log-down trapezoids are exact for one exponential
    assert auc_linear_up_log_down(t, 10 * np.exp(-0.3 * t)) == pytest.approx(10 / 0.3 * (1 - math.exp(-7.2)), rel=1e-12)


def test_effect_outputs_report_nadir_and_baseline_corrected_auec():
    r = ks.simulate("ketamine 0.5 mg/kg iv over 40 min", duration="3 d")
    row = nca_result(r, ["madrs"]).iloc[0]
    y, t = r.outputs["madrs"], r.time_h
    assert row["emin"] == pytest.approx(y.min()) and row["nadir_change"] < -10
    assert row["auec"] == pytest.approx(np.trapezoid(y - y[0], t), rel=1e-9)


def test_nca_command_on_a_data_set_and_on_a_simulation(tmp_path):
    sim = tmp_path / "sim"
    run = CliRunner().invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--duration", "1 d",
                                   "--times", "0, 0.25, 0.67, 1, 2, 4, 6, 8, 12, 24 h", "--format", "nonmem",
                                   "--out", str(sim), "--quiet"])
    assert run.exit_code == 0, run.output
    for src in (sim / "dataset.csv", sim):
        out = tmp_path / ("n_" + src.name)
        res = CliRunner().invoke(app, ["nca", str(src), "--out", str(out), "--outputs", "ketamine_ng_ml,madrs"])
        assert res.exit_code == 0, res.output
        df = pd.read_csv(out / "nca.csv")
        k = df[df["output"] == "ketamine_ng_ml"].iloc[0]
        assert k["tmax_h"] == pytest.approx(0.67) and k["unit"] == "ng/mL" and 2 < k["half_life_h"] < 4
        assert (out / "nca_summary.csv").exists()
