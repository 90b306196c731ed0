"""The `ketasim` command line of the foundation: simulate, params, validate; one-line errors, exit status 2,
nothing half-written."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.cli.main import app
from ketasim.regimens import RegimenError, parse_dose
from ketasim.units import UnitError

PLASMA = ("ketamine_ng_ml", "norketamine_ng_ml", "hnk_ng_ml", "dhnk_ng_ml", "naltrexone_ng_ml", "naltrexol_ng_ml")
PARAM_COLUMNS = ["key", "value", "unit", "source", "evidence", "low", "high", "description", "layer", "used_by"]
KETASIM = Path(sys.executable).with_name("ketasim")


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def assert_user_error(result, out: Path, *words):
    """Exit status 2, one line on stderr beginning 'error:' that names the problem, nothing written."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in result.output
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    assert not out.exists(), f"{out} was created by a failed run"
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".ketasim")]
    assert not leftovers, leftovers
    return lines[0]


# --------------------------------------------------------------------------- simulate: success
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "run"
    result = CliRunner().invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min",
                                      "--dose", "naltrexone 50 mg oral at -45 min", "--duration", "1 d",
                                      "--out", str(out)], catch_exceptions=False)
    return result, out


def test_simulate_writes_the_three_files(simulated):
    result, out = simulated
    assert result.exit_code == 0, result.output
    for name in ("timecourse.parquet", "summary.json", "timecourse.png"):
        assert (out / name).is_file(), name
        assert (out / name).stat().st_size > 0
    assert (out / "timecourse.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ketamine_ng_ml" in result.stdout  # the summary table


def test_timecourse_columns_and_content(simulated):
    _, out = simulated
    df = pd.read_parquet(out / "timecourse.parquet")
    for col in ("id", "time_h") + PLASMA:
        assert col in df.columns, col
    assert list(df.columns[:2]) == ["id", "time_h"]
    assert (df["id"] == 0).all()
    assert df["time_h"].is_monotonic_increasing
    assert df["time_h"].iloc[0] == pytest.approx(-0.75)   # the naltrexone pretreatment
    assert df["time_h"].iloc[-1] == pytest.approx(24.0)
    for col in PLASMA:
        assert np.isfinite(df[col]).all() and (df[col] >= 0).all(), col
        assert df[col].max() > 0, col


def test_summary_matches_the_timecourse(simulated):
    _, out = simulated
    doc = json.loads((out / "summary.json").read_text())
    df = pd.read_parquet(out / "timecourse.parquet")
    summary = doc["summary"]
    for col in PLASMA:
        s = summary[col]
        assert set(s) >= {"cmax", "tmax_h", "auc"}, col
        assert s["cmax"] == pytest.approx(df[col].max(), rel=1e-12)
        # Tmax after the dose: naltrexone 45 min before ketamine
        dose_h = -0.75 if col.startswith("naltre") else 0.0
        assert s["tmax_h"] == pytest.approx(df["time_h"][df[col].idxmax()] - dose_h)
        assert s["auc"] == pytest.approx(np.trapezoid(df[col], df["time_h"]), rel=1e-9)
    assert doc["provenance"]["regimen"]
    assert all(parse_dose(t) for t in doc["provenance"]["regimen"])


def test_cli_and_python_api_agree(simulated):
    _, out = simulated
    df = pd.read_parquet(out / "timecourse.parquet")
    r = ks.simulate(["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"], duration="1 d")
    py = r.to_pandas()
    np.testing.assert_allclose(df["time_h"], py["time_h"])
    for col in PLASMA:
        np.testing.assert_allclose(df[col], py[col], rtol=1e-12, atol=0)


def test_scenario_file_works(runner, tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "name: heavy subject\n"
        "doses:\n"
        "  - ketamine 35 mg iv over 40 min\n"
        "duration: 12 h\n"
        "output_step: 30 min\n"
        "subject:\n"
        "  weight: 100 kg\n", encoding="utf-8")
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "--scenario", scenario, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ""  # --quiet
    df = pd.read_parquet(out / "timecourse.parquet")
    assert df["time_h"].iloc[-1] == pytest.approx(12.0)
    doc = json.loads((out / "summary.json").read_text())
    assert doc["provenance"]["covariates"]["weight_kg"] == pytest.approx(100.0)
    # a heavier subject than the default has a lower peak for the same mg dose
    typical = ks.simulate("ketamine 35 mg iv over 40 min", duration="12 h").summary()["ketamine_ng_ml"]["cmax"]
    assert doc["summary"]["ketamine_ng_ml"]["cmax"] < typical


def test_out_of_range_dose_warns_but_runs(runner, tmp_path):
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "--dose", "ketamine 400 mg oral", "--duration", "12 h",
                    "--output-step", "1 h", "--out", out)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "400 mg" in result.stderr
    assert json.loads((out / "summary.json").read_text())["warnings"]


# --------------------------------------------------------------------------- simulate: user errors
DOSE_ERRORS = [
    ("ketamine -5 mg iv", ["positive"]),
    ("ketamine nan mg iv", ["finite"]),
    ("cocaine 5 mg iv", ["cocaine"]),
    ("ketamine 5 mg rectal", ["rectal"]),
    ("ketamine 5 parsecs iv", ["not a mass"]),
    ("ketamine 5 mg oral over 10 min", ["iv only"]),
    ("ketamine 5 mg iv every 1 h for 0 doses", ["number of doses"]),
    ("ketamine 3000 mg iv", ["3000 mg", "limit"]),
    ("hello world", ["cannot read"]),
]


@pytest.mark.parametrize("dose, words", DOSE_ERRORS, ids=[d for d, _ in DOSE_ERRORS])
def test_bad_dose_is_a_one_line_error(runner, tmp_path, dose, words):
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "--dose", dose, "--duration", "1 d", "--out", out)
    line = assert_user_error(result, out, *words)
    # the message is the library's own, shown in full (nothing swallowed by the terminal formatting)
    try:
        parse_dose(dose)
        from ketasim.regimens import Regimen
        Regimen.from_text(dose).check_validated_range(70.0)
    except (RegimenError, UnitError) as exc:
        expected = str(exc).splitlines()[0]
    else:  # pragma: no cover
        pytest.fail(f"{dose!r} was expected to be an error")
    assert line == f"error: {expected}"


@pytest.mark.parametrize("args, words", [
    (["--duration", "5 y"], ["5 y"]),
    (["--duration", "1000 d"], ["1000 d", "limit"]),
    (["--duration", "2 yr"], ["2 yr", "limit"]),
    (["--duration", "-1 d"], ["positive"]),
    (["--duration", "5 kg"], ["5 kg"]),
    (["--duration", "7"], ["unit"]),
    (["--weight", "500 kg"], ["weight"]),
    (["--weight", "70 parsec"], ["weight"]),
    (["--sex", "x"], ["sex"]),
    (["--cyp2b6", "*9/*9"], ["cyp2b6"]),
    (["--output-step", "0 min"], ["output step"]),
], ids=lambda a: " ".join(a) if isinstance(a, list) else None)
def test_bad_options_are_one_line_errors(runner, tmp_path, args, words):
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "--dose", "ketamine 35 mg iv", *args, "--out", out)
    assert_user_error(result, out, *words)


def test_duration_unit_error_message_is_printed_whole(runner, tmp_path):
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "--dose", "ketamine 35 mg iv", "--duration", "5 kg", "--out", out)
    line = assert_user_error(result, out)
    with pytest.raises(UnitError) as info:
        ks.simulate("ketamine 35 mg iv", duration="5 kg")
    assert line == f"error: {str(info.value).splitlines()[0]}"


@pytest.mark.parametrize("text, words", [
    ("doses: [ketamine 35 mg iv]\ncolour: red\n", ["colour", "unknown key"]),
    ("doses: [ketamine 35 mg iv]\nsubject: {weight: 70 kg, height: 180 cm}\n", ["height", "unknown key"]),
    ("doses: [ketamine 35 mg iv\n", ["not valid YAML"]),
    ("doses: [ketamine 35 mg iv]\nduration: '1000 d'\n", ["limit"]),
    ("doses: [cocaine 35 mg iv]\n", ["cocaine"]),
    ("doses: []\n", ["doses"]),
    ("duration: 1 d\n", ["doses"]),
    ("- ketamine 35 mg iv\n", ["mapping"]),
    ("", ["mapping"]),
], ids=["unknown-key", "unknown-subject-key", "malformed-yaml", "too-long", "unknown-drug", "no-doses",
        "missing-doses", "list", "empty"])
def test_bad_scenario_files_are_one_line_errors(runner, tmp_path, text, words):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "--scenario", scenario, "--out", out)
    assert_user_error(result, out, *words)


def test_missing_scenario_file(runner, tmp_path):
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "--scenario", tmp_path / "absent.yaml", "--out", out)
    assert_user_error(result, out, "absent.yaml", "does not exist")


def test_dose_and_scenario_together_is_an_error(runner, tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("doses: [ketamine 35 mg iv]\n", encoding="utf-8")
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "--dose", "ketamine 35 mg iv", "--scenario", scenario, "--out", out)
    assert_user_error(result, out, "--dose", "--scenario")


def test_nothing_to_simulate_is_an_error(runner, tmp_path):
    out = tmp_path / "out"
    result = invoke(runner, "simulate", "--out", out)
    assert_user_error(result, out, "--dose")


def test_failed_run_leaves_an_existing_folder_untouched(runner, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke(runner, "simulate", "--dose", "ketamine -5 mg iv", "--out", out)
    assert result.exit_code == 2
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_real_process_shows_no_traceback(tmp_path):
    assert KETASIM.exists(), KETASIM
    out = tmp_path / "out"
    proc = subprocess.run([str(KETASIM), "simulate", "--dose", "ketamine 5 frobs iv", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "frobs" in lines[0], proc.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- params
def test_params_csv(runner):
    result = invoke(runner, "params", "--format", "csv")
    assert result.exit_code == 0, result.output
    df = pd.read_csv(io.StringIO(result.stdout))
    assert list(df.columns) == PARAM_COLUMNS
    params = ks.default_parameters()
    assert len(df) == len(params)
    assert list(df["key"]) == list(params)
    # where the model reads each value, from the declarations
    row = df.set_index("key")
    assert row.loc["nmda.Ki_S_ketamine", "layer"] == "L3" and "nmda_ketamine_ratio" in row.loc["nmda.Ki_S_ketamine", "used_by"]
    assert row.loc["ketamine.CL", "layer"] == "L1" and row.loc["mood.Rmax", "used_by"] == "improvement"
    for row in df.itertuples():
        p = params[row.key]
        assert row.value == pytest.approx(p.value, rel=1e-12)
        assert (row.unit, row.source, row.evidence) == (p.unit, p.source, p.evidence)
        assert row.low <= row.value <= row.high


def test_params_csv_to_file_and_filter(runner, tmp_path):
    path = tmp_path / "params.csv"
    result = invoke(runner, "params", "--format", "csv", "--filter", "naltrex", "--out", path)
    assert result.exit_code == 0, result.output
    df = pd.read_csv(path)
    assert list(df.columns) == PARAM_COLUMNS
    assert len(df) > 0 and all(k.startswith("naltrex") for k in df["key"])
    assert len(df) == sum(k.startswith("naltrex") for k in ks.default_parameters())


def test_params_bad_format(runner):
    result = invoke(runner, "params", "--format", "xml")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error:") and "xml" in result.stderr


# --------------------------------------------------------------------------- validate
@pytest.mark.validation
def test_validate_writes_json_and_html_with_consistent_counts(runner, tmp_path):
    from ketasim.validation.targets import TARGETS

    out = tmp_path / "validate"
    result = runner.invoke(app, ["validate", "--out", str(out), "--strict"], terminal_width=110,
                           catch_exceptions=False)
    doc = json.loads((out / "validation.json").read_text())
    rows = doc["targets"]
    # --strict: status 1 exactly when a target is outside its range; the files are written either way
    assert result.exit_code == (0 if doc["n_pass"] == doc["n_targets"] else 1), result.output
    # numbers read as people write them: no exponents, ranges with "to", fractions as percentages
    assert not re.search(r"\de[-+]\d", result.stdout), result.stdout
    for r in rows:
        assert " to " in r["accepted_text"] and not re.search(r"\de[-+]\d", r["model_text"]), r
        if r["unit"].startswith("fraction"):
            assert "%" in r["model_text"] and "%" in r["accepted_text"], r
    assert doc["n_targets"] == len(rows) == len(TARGETS)
    assert doc["n_pass"] == sum(bool(r["pass"]) for r in rows)
    assert len({r["key"] for r in rows}) == len(rows)
    for r in rows:
        lo, hi = r["accepted_range"]
        assert r["pass"] == (lo <= r["model"] <= hi), r["key"]
        assert r["kind"] in ("validation", "calibration"), r["key"]
    html = (out / "validation.html").read_text()
    assert not re.search(r"\bmission\b|design\.md|\.\./shared|\bissue[- ]?#?\d", html, re.I)
    assert f"{doc['n_pass']} of {doc['n_targets']} targets" in html
    assert html.count("<tr class='pass'>") == doc["n_pass"]
    assert html.count("<tr class='fail'>") == doc["n_targets"] - doc["n_pass"]


# --------------------------------------------------------------------------- --output-step
STEP_DOSES = ["--dose", "ketamine 0.5 mg/kg iv over 40 min", "--dose", "naltrexone 50 mg oral at -45 min"]


@pytest.mark.parametrize("subjects", ["1", "3"], ids=["typical-subject", "population"])
def test_output_step_sets_every_written_time(runner, tmp_path, subjects):
    """`--output-step 1 h` writes hourly points from the first dose to the end, and nothing finer (the model
    is still solved with its fine windows after each dose, so the values are the default run's)."""
    out = tmp_path / "hourly"
    result = invoke(runner, "simulate", *STEP_DOSES, "--duration", "1 d", "--output-step", "1 h",
                    "--subjects", subjects, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    df = pd.read_parquet(out / "timecourse.parquet")
    expected = np.append(-0.75 + np.arange(25), 24.0)
    for _, one in df.groupby("id"):
        np.testing.assert_allclose(one["time_h"].to_numpy(), expected, atol=1e-9)
    summary = json.loads((out / "summary.json").read_text())["summary"]
    if subjects == "1":  # the summary is read from the written points
        assert summary["ketamine_ng_ml"]["cmax"] == pytest.approx(df["ketamine_ng_ml"].max(), rel=1e-12)
        fine = ks.simulate(["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"],
                           duration="1 d", output_step="1 h").to_pandas().set_index("time_h")
        np.testing.assert_allclose(df["ketamine_ng_ml"], fine.loc[df["time_h"], "ketamine_ng_ml"], rtol=1e-12)
        # the slow PD states are integrated on each run's internal grid (exact for a drive interpolated between
        # its points, 3.5e-4 of the ODE at worst): two grids that share the written times agree to that order
        np.testing.assert_allclose(df["madrs"], fine.loc[df["time_h"], "madrs"], rtol=1e-5)


def test_output_step_applies_to_streamed_populations(runner, tmp_path, monkeypatch):
    import ketasim.services as services

    monkeypatch.setattr(services, "STREAM_ABOVE_SUBJECTS", 2)
    args = ["simulate", *STEP_DOSES, "--duration", "1 d", "--output-step", "2 h", "--subjects", "3", "--quiet"]
    assert invoke(runner, *args, "--out", tmp_path / "streamed").exit_code == 0
    monkeypatch.setattr(services, "STREAM_ABOVE_SUBJECTS", 10_000)
    assert invoke(runner, *args, "--out", tmp_path / "memory").exit_code == 0
    a = pd.read_parquet(tmp_path / "streamed" / "timecourse.parquet")
    b = pd.read_parquet(tmp_path / "memory" / "timecourse.parquet")
    expected = np.append(-0.75 + 2 * np.arange(13), 24.0)
    np.testing.assert_allclose(a[a.id == a.id.iloc[0]]["time_h"].to_numpy(), expected, atol=1e-9)
    assert len(a) == len(b) == 3 * len(expected)
    np.testing.assert_allclose(a["madrs"].to_numpy(), b["madrs"].to_numpy(), rtol=1e-12)
    sa = json.loads((tmp_path / "streamed" / "summary.json").read_text())["summary"]
    sb = json.loads((tmp_path / "memory" / "summary.json").read_text())["summary"]
    assert sa["ketamine_ng_ml"]["cmax"] == pytest.approx(sb["ketamine_ng_ml"]["cmax"], rel=1e-12)
