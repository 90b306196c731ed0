"""Dose sanity under abuse: totals per drug (at one time, in any 24 h, over the regimen), dose-line and dose counts,
per-weight units that really are per body weight, short excerpts in messages, and one validation for every entry
point (library, scenario file, CLI, web)."""

import warnings

import pytest
from typer.testing import CliRunner

from ketasim.cli.main import app
from ketasim.io.schemas import ScenarioConfig, ScenarioError
from ketasim.regimens import Regimen, RegimenError, ValidatedRangeWarning, parse_dose
from ketasim.regimens._regimen import (DAILY_LIMITS_MG, HARD_LIMIT_MG, MAX_ADMINISTRATIONS, MAX_DOSE_LINES,
                                       TOTAL_HARD_LIMIT_MG, _max_window_mg)
from ketasim.units import UnitError

# Each passes every per-dose check; as a whole each is far beyond anything studied.
ABSURD_TOTALS = {
    "ten 2000 mg boluses at once": ["ketamine 2000 mg iv"] * 10,
    "2 kg in 1000 doses 1e-300 h apart": ["ketamine 2000 mg iv every 1e-300 h for 1000 doses"],
    "250 g, 250 mg every 15 min": ["ketamine 250 mg iv every 15 min for 1000 doses"],
    "five 2000 mg lines at one time": ["ketamine 2000 mg iv"] * 5,
    "13 g in a day, 550 mg every hour": ["ketamine 550 mg oral every 1 h for 24 doses"],
    "365 g over a year of 1 g a day": ["ketamine 1000 mg oral every 1 d for 365 doses"],
    "naltrexone 3 g in a day": ["naltrexone 500 mg oral every 4 h for 6 doses"],
}


@pytest.mark.parametrize("lines", ABSURD_TOTALS.values(), ids=ABSURD_TOTALS.keys())
def test_absurd_totals_are_refused(lines):
    reg = Regimen.from_text(*lines)
    with pytest.raises(RegimenError, match="far beyond any studied") as info:
        reg.check_limits(70.0)
    assert "refusing to extrapolate" in str(info.value)
    with pytest.raises(RegimenError):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ValidatedRangeWarning)
            reg.check_validated_range(70.0)


def test_daily_doses_exactly_a_day_apart_are_not_added_up():
    # 2000 mg every 24 h: one dose per 24-h window, not two (the window is half-open)
    worst, _ = _max_window_mg(list(Regimen.from_text("ketamine 2000 mg oral every 24 h for 4 doses").realize()),
                              70.0, 24.0)
    assert worst == pytest.approx(2000.0)


def test_infusions_count_at_their_rate_in_the_window():
    reg = Regimen.from_text("ketamine 400 mg iv over 24 h every 24 h for 30 doses")  # 16.7 mg/h for 30 days
    worst, _ = _max_window_mg(list(reg.realize()), 70.0, 24.0)
    assert worst == pytest.approx(400.0, rel=1e-9)
    reg.check_limits(70.0)
    # a continuous 450 mg/h is 10.8 g in any 24 h: beyond the daily limit, though its rate is below the rate limit
    with pytest.raises(RegimenError, match="within 24 h"):
        Regimen.from_text("ketamine 10800 mg iv over 24 h").check_limits(70.0)


def test_several_ordinary_doses_at_once_warn():
    reg = Regimen.from_text(*["ketamine 100 mg intranasal"] * 5)  # 500 mg at one time; each dose is ordinary
    with pytest.warns(ValidatedRangeWarning, match="within one hour"):
        msgs = reg.check_validated_range(70.0)
    assert len(msgs) == 1


@pytest.mark.parametrize("lines", [
    ["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"],
    ["esketamine 56 mg intranasal every 3.5 d for 8 doses"],
    ["ketamine 0.5 mg/kg iv over 40 min every 3.5 d for 8 doses"],
    ["ketamine 35 mg iv every 24 h for 300 doses"],
])
def test_ordinary_regimens_pass_silently(lines):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Regimen.from_text(*lines).check_validated_range(70.0) == []


def test_limits_are_ordered():
    for drug, (validated, hard) in DAILY_LIMITS_MG.items():
        assert HARD_LIMIT_MG[drug] <= hard < TOTAL_HARD_LIMIT_MG[drug] and validated < hard


def test_dose_line_and_dose_counts_are_bounded_before_parsing():
    with pytest.raises(RegimenError, match=f"at most {MAX_DOSE_LINES}"):
        Regimen.from_text(*["not even a dose"] * (MAX_DOSE_LINES + 1))  # refused before any line is parsed
    with pytest.raises(RegimenError, match=f"at most {MAX_ADMINISTRATIONS}"):
        Regimen.from_text(*["ketamine 1 mg iv every 1 h for 1000 doses"] * 6)


@pytest.mark.parametrize("text", ["ketamine 0.5 um/m iv", "ketamine 0.0005 mL/L iv", "ketamine 5e-13 kg/mg iv",
                                  "ketamine 50 percent iv", "ketamine 0.5 mg/mg iv", "ketamine 0.5 mol/mol iv"])
def test_only_mass_per_body_mass_is_a_per_weight_dose(text):
    with pytest.raises(UnitError, match="per kg of body weight|has no unit"):
        parse_dose(text)


@pytest.mark.parametrize("text, mg_per_kg", [("ketamine 0.5 mg/kg iv", 0.5), ("ketamine 500 ug/kg iv", 0.5),
                                             ("ketamine 1 mg/g iv", 1000.0), ("ketamine 0.0005 g/kg iv", 0.5)])
def test_per_weight_doses_still_read(text, mg_per_kg):
    d = parse_dose(text)
    assert d.amount_unit == "mg/kg" and d.amount == pytest.approx(mg_per_kg)


@pytest.mark.parametrize("text", ["ketamine 1 mg iv " + "x" * 100_000, "k" * 100_000 + " 1 mg iv",
                                  "ketamine 1 " + "m" * 900 + " iv", "ketamine " + "9" * 800 + " mg iv"])
def test_messages_quote_a_short_excerpt(text):
    with pytest.raises((RegimenError, UnitError)) as info:
        Regimen.from_text(text).check_limits(70.0)
    assert len(str(info.value)) < 400, len(str(info.value))


# --------------------------------------------------------------------------- one validation, every entry point
def test_scenario_config_refuses_what_simulate_refuses():
    with pytest.raises(ValueError, match="far beyond"):
        ScenarioConfig(doses=["ketamine 2000 mg iv"] * 10)
    with pytest.raises(ValueError, match="far beyond"):
        ScenarioConfig(doses=["ketamine 5000 mg/kg iv"])
    # mg/kg is judged at the subject's weight
    ScenarioConfig(doses=["ketamine 20 mg/kg iv"], subject={"weight": "70 kg"})
    with pytest.raises(ValueError, match="far beyond"):
        ScenarioConfig(doses=["ketamine 20 mg/kg iv"], subject={"weight": "120 kg"})


def test_scenario_file_names_the_file_and_the_key(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("doses: ['ketamine 250 mg iv every 15 min for 1000 doses']\n")
    with pytest.raises(ScenarioError) as info:
        ScenarioConfig.from_yaml(f)
    msg = str(info.value)
    assert msg.startswith("scenario file s.yaml: doses: ") and "24 h" in msg


@pytest.mark.parametrize("lines", [["ketamine 2000 mg iv"] * 10, ["ketamine 250 mg iv every 15 min for 1000 doses"],
                                   ["ketamine 0.5 um/m iv"]], ids=["at-once", "per-day", "um/m"])
def test_cli_refuses_before_anything_is_written(tmp_path, lines):
    out = tmp_path / "out"
    args = ["simulate", "--duration", "1 d", "--out", str(out)]
    for line in lines:
        args += ["--dose", line]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".ketasim")]


def test_trial_file_arms_are_held_to_the_same_limits(tmp_path):
    from ketasim.trials import TrialError, load_trial

    base = load_trial("zarate2006").model_dump(mode="json", exclude_none=True)
    arm = next(iter(base["arms"]))
    base["arms"][arm]["doses"] = ["ketamine 2000 mg iv"] * 10
    import yaml

    f = tmp_path / "t.yaml"
    f.write_text(yaml.safe_dump(base))
    with pytest.raises(TrialError) as info:
        load_trial(f)
    assert f"arms.{arm}.doses" in str(info.value) and "far beyond" in str(info.value)
