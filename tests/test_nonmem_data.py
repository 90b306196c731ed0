"""NONMEM-style data sets: round trip, event semantics against hand-computed expectations, malformed files.

The hand-computed cases use a one-compartment esketamine (Q = 0: the peripheral compartment is cut off), so
plasma esketamine after a bolus D is C(t) = 1000 D / V exp(-k t) ng/mL with k = CL / V, and the NONMEM
semantics (SS, ADDL, RATE, resets) have closed forms."""

import math

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ketasim.cli.main import app
from ketasim.data import DatasetError, read_nonmem
from ketasim.data.sampling import dataset_subjects, simulate_dataset
from ketasim.mechanisms import get_mechanism
from ketasim.models.pk import Covariates, individual_pk
from ketasim.parameters import default_parameters

P1 = default_parameters().replace_many({"ketamine.Q": 0.0})
IND = individual_pk(P1, Covariates())
V, CL = IND["S.V1"], IND["S.CL"]
K = CL / V
HEADER = "ID,TIME,EVID,AMT,RATE,DUR,II,ADDL,SS,CMT,DV,MDV,DRUG\n"


def _predict(tmp_path, rows: str, col="ketamine_ng_ml"):
    f = tmp_path / "d.csv"
    f.write_text(HEADER + rows)
    ds = read_nonmem(f)
    subj = dataset_subjects(ds, 1, False, P1)
    pred = simulate_dataset(ds, P1, get_mechanism("opioid"), subj, columns=(col,))
    return pred.sort_values("row")[col].to_numpy(), pred


def bolus(t, dose):
    return np.where(t >= 0, 1000 * dose / V * np.exp(-K * np.clip(t, 0, None)), 0.0)


def test_one_compartment_bolus_matches_closed_form(tmp_path):
    c, _ = _predict(tmp_path, "1,0,1,20,0,0,0,0,0,1,.,1,esketamine\n"
                              "1,1,0,0,0,0,0,0,0,1,5,0,.\n1,6,0,0,0,0,0,0,0,1,5,0,.\n")
    np.testing.assert_allclose(c, bolus(np.array([1.0, 6.0]), 20), rtol=1e-9)


def test_addl_gives_repeated_doses(tmp_path):
    # 20 mg at 0 with ADDL 2 every 8 h: doses at 0, 8, 16
    c, _ = _predict(tmp_path, "1,0,1,20,0,0,8,2,0,1,.,1,esketamine\n"
                              "1,17,0,0,0,0,0,0,0,1,.,1,.\n1,30,0,0,0,0,0,0,0,1,.,1,.\n")
    expect = [sum(bolus(np.array([t - d]), 20)[0] for d in (0, 8, 16)) for t in (17.0, 30.0)]
    np.testing.assert_allclose(c, expect, rtol=1e-9)


def test_rate_is_an_infusion_of_amt_over_amt_per_rate(tmp_path):
    # 30 mg at 60 mg/h: a 30-min infusion; during it C = R/CL (1 - e^{-kt}) (mg/h / L/h -> mg/L -> x1000 ng/mL)
    c, _ = _predict(tmp_path, "1,0,1,30,60,0,0,0,0,1,.,1,esketamine\n"
                              "1,0.25,0,0,0,0,0,0,0,1,.,1,.\n1,2,0,0,0,0,0,0,0,1,.,1,.\n")
    during = 1000 * 60 / CL * (1 - math.exp(-K * 0.25))
    end = 1000 * 60 / CL * (1 - math.exp(-K * 0.5))
    np.testing.assert_allclose(c, [during, end * math.exp(-K * 1.5)], rtol=1e-9)
    # RATE -2 with DUR: the same infusion
    c2, _ = _predict(tmp_path, "1,0,1,30,-2,0.5,0,0,0,1,.,1,esketamine\n"
                               "1,0.25,0,0,0,0,0,0,0,1,.,1,.\n1,2,0,0,0,0,0,0,0,1,.,1,.\n")
    np.testing.assert_allclose(c2, c, rtol=1e-12)


def test_steady_state_dose_resets_to_the_steady_state_profile(tmp_path):
    # SS=1 every 12 h at t = 10: earlier doses are forgotten; C(10 + tau) = 1000 D/V e^{-k tau} / (1 - e^{-k II})
    c, _ = _predict(tmp_path, "1,0,1,100,0,0,0,0,0,1,.,1,esketamine\n"
                              "1,10,1,20,0,0,12,0,1,1,.,1,esketamine\n"
                              "1,11,0,0,0,0,0,0,0,1,.,1,.\n1,21.5,0,0,0,0,0,0,0,1,.,1,.\n")
    acc = 1 / (1 - math.exp(-K * 12))
    expect = [1000 * 20 / V * math.exp(-K * tau) * acc for tau in (1.0, 11.5)]
    np.testing.assert_allclose(c, expect, rtol=1e-9)


def test_steady_state_with_addl_continues_after_the_ss_dose(tmp_path):
    # SS=1 at 0 with ADDL 1 every 12 h: the dose at 12 is given, then nothing: C(30) = C_ss(12 + 6) after the
    # dose at 12 plus the remains of the steady state
    c, _ = _predict(tmp_path, "1,0,1,20,0,0,12,1,1,1,.,1,esketamine\n1,30,0,0,0,0,0,0,0,1,.,1,.\n")
    acc = 1 / (1 - math.exp(-K * 12))
    expect = 1000 * 20 / V * math.exp(-K * 18) * acc
    np.testing.assert_allclose(c, [expect], rtol=1e-9)


def test_reset_zeroes_amounts_and_cancels_pending_doses(tmp_path):
    # ADDL 5 every 12 h from 0; EVID 3 at 30 cancels the doses at 36, 48, ...: nothing left at 40
    # EVID 4 at 50 (time may restart at the record's time): a fresh dose
    c, pred = _predict(tmp_path, "1,0,1,20,0,0,12,5,0,1,.,1,esketamine\n"
                                 "1,25,0,0,0,0,0,0,0,1,.,1,.\n"
                                 "1,30,3,0,0,0,0,0,0,0,.,1,.\n"
                                 "1,40,0,0,0,0,0,0,0,1,.,1,.\n"
                                 "1,5,4,20,0,0,0,0,0,1,.,1,esketamine\n"
                                 "1,7,0,0,0,0,0,0,0,1,.,1,.\n")
    before = sum(bolus(np.array([25.0 - d]), 20)[0] for d in (0, 12, 24))
    np.testing.assert_allclose(c, [before, 0.0, bolus(np.array([2.0]), 20)[0]], rtol=1e-9, atol=1e-12)
    assert list(pred.sort_values("row")["segment"]) == [0, 1, 2]


def test_evid2_is_a_prediction_and_mdv1_is_not_an_observation(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text(HEADER + "1,0,1,20,0,0,0,0,0,1,.,1,esketamine\n1,2,2,0,0,0,0,0,0,1,.,1,.\n"
                          "1,3,0,0,0,0,0,0,0,1,99,1,.\n1,4,0,0,0,0,0,0,0,1,7,0,.\n")
    ds = read_nonmem(f)
    obs = ds.observations()
    assert list(obs["time_h"]) == [4.0] and list(obs["value"]) == [7.0]
    c, _ = _predict(tmp_path, "1,0,1,20,0,0,0,0,0,1,.,1,esketamine\n1,2,2,0,0,0,0,0,0,1,.,1,.\n")
    np.testing.assert_allclose(c, bolus(np.array([2.0]), 20), rtol=1e-9)


def test_written_data_set_reads_back_with_identical_doses_times_and_observations(tmp_path):
    out = tmp_path / "sim"
    res = CliRunner().invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min every 2 d for 3 doses",
                                   "--dose", "naltrexone 50 mg oral at -45 min", "--dose", "placebo 0 mg iv at 5 d",
                                   "--subjects", "3", "--times", "0, 0.5, 0.75, 2, 6, 24, 100, 144 h",
                                   "--duration", "6 d", "--format", "nonmem", "--observe",
                                   "ketamine_ng_ml,hnk_ng_ml,madrs", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    ds = read_nonmem(out / "dataset.csv")
    table = pd.read_parquet(out / "timecourse.parquet")
    subjects = pd.read_csv(out / "subjects.csv")
    assert sorted(table["time_h"].unique()) == [0, 0.5, 0.75, 2, 6, 24, 100, 144]
    for sd in ds.subjects:
        w = float(subjects.loc[subjects["id"] == sd.id, "weight_kg"].iloc[0])
        assert sd.covariates["weight_kg"] == w
        (seg,) = sd.segments
        doses = sorted((d.time_h, d.drug, d.route, d.amount_mg(w), d.duration_h) for d in seg.regimen().realize())
        expect = sorted([(48.0 * k, "ketamine", "iv", 0.5 * w, 40 / 60) for k in range(3)]
                        + [(-0.75, "naltrexone", "oral", 50.0, 0.0), (120.0, "placebo", "iv", 0.0, 0.0)])
        assert len(doses) == len(expect)
        for a, b in zip(doses, expect):
            assert a[:3] == b[:3] and a[3] == pytest.approx(b[3], rel=1e-15) and a[4] == pytest.approx(b[4], rel=1e-15)
    obs = ds.observations()
    for out_col in ("ketamine_ng_ml", "hnk_ng_ml", "madrs"):
        o = obs[obs["output"] == out_col].sort_values(["id", "time_h"])
        t = table.sort_values(["id", "time_h"])
        np.testing.assert_array_equal(o["time_h"].to_numpy(), t["time_h"].to_numpy())
        np.testing.assert_array_equal(o["value"].to_numpy(), t[out_col].to_numpy())   # exact: full precision


def test_simulating_a_written_data_set_reproduces_its_values(tmp_path):
    out = tmp_path / "sim"
    res = CliRunner().invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min",
                                   "--times", "0.5, 1, 2, 4, 24 h", "--duration", "1 d", "--format", "nonmem",
                                   "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    again = tmp_path / "again"
    res = CliRunner().invoke(app, ["simulate", "--data", str(out / "dataset.csv"), "--typical", "--out", str(again),
                                   "--quiet"])
    assert res.exit_code == 0, res.output
    ovp = pd.read_csv(again / "observed_vs_predicted.csv")
    np.testing.assert_allclose(ovp["predicted"], ovp["observed"], rtol=1e-9, atol=1e-12)


MALFORMED = {
    "missing ID": ("TIME,AMT,DV\n0,10,.\n1,0,5\n", "column ID"),
    "non-monotone TIME": ("ID,TIME,AMT,DV\n1,0,10,.\n1,2,0,5\n1,1,0,4\n", "line 5, column TIME"),
    "EVID 1 without AMT": ("ID,TIME,EVID,AMT,DV,MDV\n1,0,1,0,.,1\n", "line 3, column AMT"),
    "EVID 1, no AMT column": ("ID,TIME,EVID,DV,MDV\n1,0,0,1,0\n1,1,1,.,1\n", "line 4, column AMT"),
    "text in DV": ("ID,TIME,AMT,DV\n1,0,10,.\n1,1,0,high\n", "line 4, column DV"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_data_set_is_one_line_naming_row_and_column(tmp_path, case):
    text, where = MALFORMED[case]
    f = tmp_path / "bad.csv"
    f.write_text("# a comment line first\n" + text)
    with pytest.raises(DatasetError, match=where):
        read_nonmem(f)
    res = CliRunner().invoke(app, ["simulate", "--data", str(f), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and where in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_unsupported_semantics_are_refused_plainly(tmp_path):
    for row, col in (("1,0,1,10,-1,0,0,0,0,1,.,1,.\n", "RATE"), ("1,0,1,10,0,0,12,0,2,1,.,1,.\n", "SS"),
                     ("1,0,1,10,0,0,0,2,0,1,.,1,.\n", "II"), ("1,0,1,10,0,0,0,0,0,9,.,1,.\n", "CMT")):
        f = tmp_path / "u.csv"
        f.write_text(HEADER + row + "1,1,0,0,0,0,0,0,0,1,.,1,.\n")
        with pytest.raises(DatasetError, match=f"column {col}"):
            ds = read_nonmem(f)
            dataset_subjects(ds, 1, False, P1)
