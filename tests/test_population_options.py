"""Populations from data and from options: --age and --cyp2b6 honoured, the generated distributions under
control, per-subject covariates from a CSV, random effects and individual parameters in the output."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from ketasim.cli.main import app

BASE = ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--duration", "1 d", "--quiet"]


def _run(tmp_path, *args):
    out = tmp_path / "o"
    res = CliRunner().invoke(app, [*BASE, "--out", str(out), *args])
    return res, out


def test_age_and_genotype_are_every_subjects_when_given(tmp_path):
    res, out = _run(tmp_path, "--subjects", "30", "--age", "70 yr", "--cyp2b6", "*6/*6")
    assert res.exit_code == 0, res.output
    subj = pd.read_csv(out / "subjects.csv")
    assert (subj["age_y"] == 70).all() and (subj["cyp2b6"] == "*6/*6").all()


def test_drawn_population_follows_the_options(tmp_path):
    res, out = _run(tmp_path, "--subjects", "400", "--age-range", "20-30 yr", "--female-fraction", "0.8",
                    "--weight", "60 kg", "--weight-sd", "5 kg", "--weight-range", "50-70 kg")
    assert res.exit_code == 0, res.output
    subj = pd.read_csv(out / "subjects.csv")
    assert subj["age_y"].between(20, 30).all()
    assert 0.72 < (subj["sex"] == "female").mean() < 0.88
    assert subj["weight_kg"].between(50, 70).all() and abs(subj["weight_kg"].mean() - 60) < 1.0
    # random effects and individual parameters are in the output
    for col in ("eta_ketamine_CL", "eta_ketamine_V1", "drive_scale", "ketamine_S_CL_L_h", "ketamine_S_V1_L"):
        assert col in subj.columns, col
    assert subj["eta_ketamine_CL"].std() > 0


def test_covariates_from_a_csv(tmp_path):
    cov = tmp_path / "cov.csv"
    cov.write_text("id,weight_kg,age_y,sex,cyp2b6,baseline_madrs\n10,55,25,female,*1/*6,40\n11,95,60,male,*1/*1,28\n")
    res, out = _run(tmp_path, "--covariates", str(cov), "--carry-out", "weight_kg,eta_ketamine_CL")
    assert res.exit_code == 0, res.output
    subj = pd.read_csv(out / "subjects.csv")
    assert list(subj["id"]) == [10, 11] and list(subj["weight_kg"]) == [55, 95]
    assert list(subj["cyp2b6"]) == ["*1/*6", "*1/*1"]
    table = pd.read_parquet(out / "timecourse.parquet")
    assert set(table["id"]) == {10, 11} and "weight_kg" in table.columns and "eta_ketamine_CL" in table.columns
    first = table.groupby("id")["madrs"].first()
    assert first[10] == pytest.approx(40) and first[11] == pytest.approx(28)
    doc = json.loads((out / "summary.json").read_text())
    assert doc["subjects"] == 2


@pytest.mark.parametrize("args, words", [
    (["--subjects", "10", "--age", "40 yr", "--age-range", "20-30 yr"], "not both"),
    (["--age-range", "20-30 yr"], "--subjects"),
    (["--subjects", "10", "--age-range", "thirty"], "MIN-MAX"),
    (["--subjects", "10", "--carry-out", "shoe_size"], "shoe_size"),
])
def test_population_option_errors_are_one_line(tmp_path, args, words):
    res, out = _run(tmp_path, *args)
    assert res.exit_code == 2, res.output
    assert words in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_bad_covariate_file_names_line_and_column(tmp_path):
    cov = tmp_path / "cov.csv"
    cov.write_text("weight_kg,age_y\n70,30\n700,40\n")
    res, _ = _run(tmp_path, "--covariates", str(cov))
    assert res.exit_code == 2 and "line 3, column weight_kg" in res.stderr
