"""summary.json metrics: Tmax after the dose, nadirs of falling outputs, baseline-corrected AUEC, AUC units
(ng·h/mL) and mood changes across the whole run. Each test failed on the code before the fix."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim import services
from ketasim.cli.main import app
from ketasim.population import PopulationSpec, population_grid, sample_subjects, simulate_population
from ketasim.mechanisms import get_mechanism
from ketasim.regimens import Regimen


def test_tmax_is_measured_from_the_dose_not_from_time_zero():
    r = ks.simulate("ketamine 0.5 mg/kg iv over 40 min at 2 h", duration="1 d")
    s = r.summary()["ketamine_ng_ml"]
    assert s["tmax_h"] == pytest.approx(40 / 60, abs=1e-9)        # the end of the infusion, after the dose
    assert s["time_of_cmax_h"] == pytest.approx(2 + 40 / 60, abs=1e-9)


def test_tmax_of_naltrexone_counts_from_the_naltrexone_dose():
    r = ks.simulate(["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"], duration="1 d")
    s = r.summary()["naltrexone_ng_ml"]
    t = r.time_h[np.argmax(r.outputs["naltrexone_ng_ml"])]
    assert s["tmax_h"] == pytest.approx(t + 0.75)


def test_population_tmax_after_the_dose():
    reg = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min at 3 h")
    p = ks.default_parameters()
    subj = sample_subjects(PopulationSpec(), 4, 1, p)
    res = simulate_population(reg, subj, p, get_mechanism("opioid"), population_grid(reg, 24.0, 1.0))
    s = services.result_summary(res)["ketamine_ng_ml"]
    assert s["tmax_h"] == pytest.approx(40 / 60, abs=1e-6)


def test_falling_outputs_report_their_nadir():
    r = ks.simulate("ketamine 0.5 mg/kg iv over 40 min", duration="3 d")
    m = r.summary()["madrs"]
    y = r.outputs["madrs"]
    assert m["direction"] == "falls"
    assert m["nadir"] == pytest.approx(y.min()) and m["nadir"] < m["baseline"] - 10
    assert m["peak_change"] == pytest.approx(y.min() - y[0])
    # under naltrexone the MOR agonist signal falls below its baseline of 1
    n = ks.simulate(["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"], duration="1 d")
    s = n.summary()["mor_agonist_signal"]
    assert s["direction"] == "falls" and s["nadir"] < 0.5


def test_effect_auc_is_baseline_corrected():
    r = ks.simulate("ketamine 0.5 mg/kg iv over 40 min", duration="3 d")
    m = r.summary()["madrs"]
    y, t = r.outputs["madrs"], r.time_h
    assert m["auc"] == pytest.approx(np.trapezoid(y - y[0], t), rel=1e-9)
    assert m["auc"] < 0 and "baseline-corrected" in m["auc_unit"]
    assert r.summary()["ketamine_ng_ml"]["auc_unit"] == "ng·h/mL"


def test_mood_changes_span_a_28_day_run():
    r = ks.simulate("ketamine 0.5 mg/kg iv over 40 min every 7 d for 4 doses", duration="28 d")
    m = r.summary()["madrs"]
    for label in ("day1", "day2", "day7", "week2", "week3", "week4", "end"):
        assert f"change_{label}" in m, label
    assert m["change_24h"] == m["change_day1"]
    y, t = r.outputs["madrs"], r.time_h
    assert m["change_end"] == pytest.approx(y[-1] - y[0])
    assert m["change_week3"] == pytest.approx(np.interp(21 * 24, t, y) - y[0])


def test_cli_table_shows_area_in_ng_h_per_ml(tmp_path):
    res = CliRunner().invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--duration", "1 d",
                                   "--out", str(tmp_path / "o")], env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    row = next(line for line in res.stdout.splitlines() if line.strip().startswith("│ ketamine_ng_ml"))
    assert "ng·h/mL" in row
    assert "madrs (nadir)" in res.stdout
    doc = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert doc["summary"]["ketamine_ng_ml"]["auc_unit"] == "ng·h/mL"
