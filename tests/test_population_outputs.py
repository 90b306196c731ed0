"""Population output options of `ketasim simulate`: --outputs, --summary-only, --float32 (correctness only; the
file sizes and times they buy are measured in benchmarks/bench_population.py)."""

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from ketasim.cli.main import app

DOSE = ["--dose", "ketamine 0.5 mg/kg iv over 40 min", "--duration", "1 d", "--subjects", "12", "--seed", "3"]


def _run(*args):
    return CliRunner().invoke(app, ["simulate", *DOSE, *args])


def test_outputs_summary_only_and_float32_agree_with_the_full_run(tmp_path):
    full = _run("--out", str(tmp_path / "full"), "--quiet", "--outputs",
                ",".join(["ketamine_ng_ml", "madrs", "cadss", "euphoria"]))
    assert full.exit_code == 0, full.output
    some = _run("--out", str(tmp_path / "some"), "--quiet", "--outputs", "madrs,cadss")
    assert some.exit_code == 0, some.output
    a = pd.read_parquet(tmp_path / "full" / "timecourse.parquet")
    b = pd.read_parquet(tmp_path / "some" / "timecourse.parquet")
    assert list(b.columns) == ["id", "time_h", "madrs", "cadss"]
    np.testing.assert_array_equal(a[["madrs", "cadss"]].to_numpy(), b[["madrs", "cadss"]].to_numpy())
    only = _run("--out", str(tmp_path / "only"), "--quiet", "--outputs", "madrs,cadss", "--summary-only")
    assert only.exit_code == 0, only.output
    assert not (tmp_path / "only" / "timecourse.parquet").exists()
    ends = pd.read_parquet(tmp_path / "only" / "endpoints.parquet")
    assert len(ends) == 12 and "cadss.cmax" in ends and "madrs.base" in ends
    np.testing.assert_allclose(ends["cadss.cmax"], b.groupby("id")["cadss"].max().to_numpy(), rtol=1e-12)
    s_only = json.loads((tmp_path / "only" / "summary.json").read_text())
    s_some = json.loads((tmp_path / "some" / "summary.json").read_text())
    assert s_only["summary"] == s_some["summary"]
    f32 = _run("--out", str(tmp_path / "f32"), "--quiet", "--outputs", "madrs,cadss", "--float32")
    assert f32.exit_code == 0, f32.output
    c = pd.read_parquet(tmp_path / "f32" / "timecourse.parquet")
    assert c["madrs"].dtype == np.float32
    rel = np.abs(c["madrs"].to_numpy(float) - b["madrs"].to_numpy()) / np.abs(b["madrs"].to_numpy())
    assert rel.max() <= 2.0 ** -24
    assert "6.0e-8" in json.loads((tmp_path / "f32" / "summary.json").read_text())["provenance"]["time_course"]


def test_bad_output_options_are_one_sentence(tmp_path):
    r = _run("--out", str(tmp_path / "x"), "--outputs", "madrs,shoe_size")
    assert r.exit_code == 2 and "unknown output 'shoe_size'" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x").exists()
    r = CliRunner().invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv", "--duration", "1 d",
                                 "--summary-only", "--out", str(tmp_path / "y")])
    assert r.exit_code == 2 and "for populations" in r.output
