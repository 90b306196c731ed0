"""Exact sampling times: --times and --output-step give exactly those rows, with the model's values there."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.cli.main import app


def _sim(tmp_path, *args):
    out = tmp_path / "o"
    res = CliRunner().invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--duration", "2 d",
                                   "--out", str(out), "--quiet", *args])
    assert res.exit_code == 0, res.output
    return pd.read_parquet(out / "timecourse.parquet"), out


def test_times_are_exactly_the_rows(tmp_path):
    df, _ = _sim(tmp_path, "--times", "0, 0.37, 1, 2.5, 23.9 h")
    assert list(df["time_h"]) == [0, 0.37, 1, 2.5, 23.9]
    ref = ks.simulate("ketamine 0.5 mg/kg iv over 40 min", duration="2 d")
    for t in (1.0, 2.5):
        i = int(np.flatnonzero(np.isclose(ref.time_h, t))[0])
        row = df[df["time_h"] == t].iloc[0]
        assert row["ketamine_ng_ml"] == pytest.approx(ref.outputs["ketamine_ng_ml"][i], rel=1e-9)
        assert row["madrs"] == pytest.approx(ref.outputs["madrs"][i], rel=1e-6)


def test_population_times_and_units_of_time(tmp_path):
    df, _ = _sim(tmp_path, "--subjects", "5", "--times", "30 min, 1 h, 1 d")
    assert sorted(df["time_h"].unique()) == [0.5, 1.0, 24.0] and df["id"].nunique() == 5


def test_output_step_is_honoured(tmp_path):
    df, _ = _sim(tmp_path, "--output-step", "2 h")
    np.testing.assert_allclose(df["time_h"], np.arange(0, 48.01, 2.0))


def test_times_outside_the_run_are_an_error(tmp_path):
    res = CliRunner().invoke(app, ["simulate", "--dose", "ketamine 10 mg iv", "--duration", "1 d", "--times",
                                   "1, 30 h", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "within the run" in res.stderr


def test_observed_points_on_the_figure(tmp_path):
    obs = tmp_path / "obs.csv"
    obs.write_text("time_h,output,value,sd\n0.67,ketamine_ng_ml,170,30\n2,ketamine_ng_ml,60,10\n24,madrs,16,4\n")
    _, out = _sim(tmp_path, "--observed", str(obs))
    assert (out / "timecourse.png").stat().st_size > 10_000
    from ketasim.data.covariates import read_observed
    o = read_observed(obs)
    assert list(o["lower"]) == [140, 50, 12]
