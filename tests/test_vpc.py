"""Visual predictive check: a data set simulated by the model itself lies inside the model's bands."""

import json

import pandas as pd
from typer.testing import CliRunner

from ketasim.cli.main import app


def test_vpc_of_the_models_own_data(tmp_path):
    sim = tmp_path / "sim"
    r = CliRunner().invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects", "6",
                                 "--times", "0.5, 1, 4, 12 h", "--duration", "1 d", "--format", "nonmem",
                                 "--observe", "ketamine_ng_ml", "--seed", "7", "--out", str(sim), "--quiet"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "vpc"
    r = CliRunner().invoke(app, ["vpc", str(sim / "dataset.csv"), "--replicates", "8", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out / "vpc.csv")
    assert list(t["time_h"]) == [0.5, 1, 4, 12] and (t["n_observed"] == 6).all()
    assert ((t["simulated_p50_lo"] <= t["observed_p50"]) & (t["observed_p50"] <= t["simulated_p50_hi"])).mean() >= 0.75
    doc = json.loads((out / "vpc.json").read_text())
    assert doc["share_of_observations_outside_the_simulated_90pct_band"]["ketamine_ng_ml"] <= 0.35
    assert (out / "vpc.png").exists()
