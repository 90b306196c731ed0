"""What a newcomer meets first on the command line: help, flags, --version, tables that fit, plain progress
when output is not a terminal, parameters that say their units, validation that can fail a script."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
import typer.main
from typer.testing import CliRunner

import ketasim as ks
from ketasim.cli.main import app

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)


def invoke(*args, **kw):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, **kw)


# --------------------------------------------------------------------------- help, flags, version
def test_version():
    for flag in ("--version", "-V"):
        r = invoke(flag)
        assert r.exit_code == 0, r.output
        assert r.stdout.strip() == f"ketasim {ks.__version__}"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_short_help_is_the_same_as_long(command):
    args = [command] if command else []
    long, short = invoke(*args, "--help", terminal_width=200), invoke(*args, "-h", terminal_width=200)
    assert long.exit_code == short.exit_code == 0, short.output
    assert short.stdout == long.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_and_flags_take_no_value(command):
    cmd = typer.main.get_command(app).commands[command]
    for param in cmd.params:
        assert (param.help or "").strip(), f"ketasim {command} {param.opts[0]}: no help text"
    text = invoke(command, "--help", terminal_width=200).stdout
    assert "<bool>" not in text, text  # a flag is given alone (--log), never --log true


def test_a_flag_is_given_alone(tmp_path):
    out = tmp_path / "run"
    r = invoke("simulate", "--dose", "ketamine 35 mg iv", "--duration", "6 h", "--log", "--quiet", "--out", out)
    assert r.exit_code == 0, r.output
    assert (out / "timecourse.png").exists()


# --------------------------------------------------------------------------- params
def test_params_filter_with_an_unknown_prefix_names_the_prefixes(tmp_path):
    r = invoke("params", "--filter", "ketamin.")
    assert r.exit_code == 2, r.output
    line = r.stderr.strip()
    assert line.startswith("error:") and "ketamin." in line and len(line.splitlines()) == 1
    prefixes = sorted({k.split(".")[0] for k in ks.default_parameters()})
    for p in prefixes:
        assert p in line, p


def test_params_json():
    r = invoke("params", "--format", "json", "--filter", "mood.")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    params = ks.default_parameters()
    assert rows and all(row["key"].startswith("mood.") for row in rows)
    assert len(rows) == sum(k.startswith("mood.") for k in params)
    first = rows[0]
    assert set(first) == {"key", "value", "unit", "source", "evidence", "low", "high", "description", "layer",
                          "used_by"}
    assert first["value"] == pytest.approx(params[first["key"]].value)


def test_params_json_to_file(tmp_path):
    path = tmp_path / "p.json"
    r = invoke("params", "--format", "json", "--out", path)
    assert r.exit_code == 0 and r.stdout == ""
    assert len(json.loads(path.read_text())) == len(ks.default_parameters())


def test_rating_scale_parameters_say_their_scale():
    p = ks.default_parameters()
    assert p["mood.baseline_madrs"].unit == "MADRS_point"
    assert p["residual.madrs_sd"].unit == "MADRS_point"
    assert p["residual.cadss_sd"].unit == "CADSS_point"
    assert p["dissociation.Emax"].unit == "CADSS_point"
    assert p.value("mood.baseline_madrs") == pytest.approx(32.0)  # a unit of its own, still dimensionless
    r = invoke("params", "--format", "csv", "--filter", "mood.baseline_madrs")
    row = pd.read_csv(io.StringIO(r.stdout)).iloc[0]
    assert row["unit"] == "MADRS_point"


def test_params_table_ranges_read_as_ranges():
    from ketasim.cli._render import range_text

    assert range_text(-7.31, -0.64) == "-7.31 to -0.64"
    assert range_text(20, 45) == "20 to 45"


# --------------------------------------------------------------------------- validate: strict mode, formatting
def _rows(*passes):
    return [{"key": f"t{i}", "layer": "PK", "description": f"target {i}", "source": "Kamp2020", "kind": "validation",
             "published": "79 L/h", "accepted_range": [69.0, 90.0], "unit": "L/h", "model": 80.0 if ok else 120.0,
             "pass": ok, "note": ""} for i, ok in enumerate(passes)]


@pytest.mark.parametrize("passes, strict, status", [
    ((True, True), False, 0), ((True, False), False, 0), ((True, True), True, 0), ((True, False), True, 1),
])
def test_validate_strict_exits_1_on_any_failure(monkeypatch, tmp_path, passes, strict, status):
    from ketasim import services

    monkeypatch.setattr(services, "run_validation", lambda out: _rows(*passes))
    r = invoke("validate", "--out", tmp_path / "v", *(["--strict"] if strict else []))
    assert r.exit_code == status, r.output
    if status:
        assert "1 of 2 targets" in r.stderr and "--strict" in r.stderr


@pytest.mark.parametrize("value, unit, text", [
    (0.151, "fraction", "15.1 %"),
    (-4.455e-12, "fraction kept", "0.0 % kept"),
    (0.123, "fraction of peak", "12.3 % of peak"),
    (1234.5, "ng/mL", "1,234 ng/mL"),
    (7.5576, "ratio", "7.56 ratio"),
    (-0.8132, "MADRS points", "-0.813 MADRS points"),
    (3.1762, "h", "3.18 h"),
    (0.000123, "log2 fold", "0.000123 log2 fold"),
])
def test_validation_values_read_as_people_write_them(value, unit, text):
    from ketasim.validation.report import value_text

    assert value_text(value, unit) == text


@pytest.mark.parametrize("low, high, unit, text", [
    (-7.31, -0.64, "MADRS points", "-7.31 to -0.64 MADRS points"),
    (0.07, 0.23, "fraction", "7.0 to 23.0 %"),
    (-1.0, 0.3, "fraction kept", "-100.0 to 30.0 % kept"),
    (900, 1500, "ng/mL", "900 to 1,500 ng/mL"),
])
def test_validation_ranges_read_as_ranges(low, high, unit, text):
    from ketasim.validation.report import range_text

    assert range_text(low, high, unit) == text


# --------------------------------------------------------------------------- progress
def _calls():
    calls = []
    return calls, lambda done, total: calls.append((done, total))


def test_population_progress_is_determinate_from_the_start():
    """A 500-subject run reports its number of parts before the first is done, in about ten steps."""
    from ketasim import services

    cfg = services.scenario_config(["ketamine 0.5 mg/kg iv over 40 min"], duration="1 d", subjects=500, seed=1,
                                   weight="70 kg", age="40 yr", sex="unspecified", cyp2b6="*1/*1")
    calls, cb = _calls()
    services.run_scenario(cfg, progress=cb)
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1]
    assert len({total for _, total in calls}) == 1 and calls[0][1] >= 4
    assert [d for d, _ in calls] == list(range(calls[0][1] + 1))


def test_trial_progress_is_determinate_from_the_start():
    from ketasim.trials import load_trial, run_trial

    calls, cb = _calls()
    run_trial(load_trial("williams2018"), "glutamate", replicates=12, seed=1, progress=cb, keep_timecourses=False)
    assert calls[0] == (0, calls[0][1]) and calls[0][1] >= 2
    assert calls[-1] == (calls[0][1], calls[0][1]) and len({t for _, t in calls}) == 1


def test_progress_without_a_terminal_is_plain_lines(tmp_path):
    r = invoke("simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects", "300", "--duration", "1 d",
               "--out", tmp_path / "pop")
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("simulating population")]
    assert lines[0] == "simulating population: 0 % (0 of 3 parts)", r.stderr
    assert lines[-1] == "simulating population: 100 % (3 of 3 parts)", r.stderr
    assert "\x1b" not in r.stderr  # no terminal control codes in a log
    quiet = invoke("simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects", "300", "--duration",
                   "1 d", "--out", tmp_path / "quiet", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == ""


def test_trial_progress_lines(tmp_path):
    r = invoke("trial", "williams2018", "--hypothesis", "glutamate", "--replicates", "4", "--out", tmp_path / "t")
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("williams2018: glutamate")]
    assert lines[0].endswith(": 0 % (0 of 2 parts)") and lines[-1].endswith(": 100 % (2 of 2 parts)"), r.stderr


def test_progress_on_a_terminal_is_a_bar_with_percentage(monkeypatch):
    from rich.console import Console

    from ketasim.cli import _app

    buf = io.StringIO()
    monkeypatch.setattr(_app, "err_console", Console(file=buf, force_terminal=True, width=120))
    with _app.progress("simulating population", quiet=False) as cb:
        cb(0, 4)
        cb(2, 4)
        _app.err_console.file.flush()
    assert "simulating population" in buf.getvalue() and "50%" in buf.getvalue() and "2/4" in buf.getvalue()
