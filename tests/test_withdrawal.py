"""Randomised withdrawal: arms formed at randomisation by each subject's state, relapse by the trial's own
definition, Kaplan-Meier per arm, Cox hazard ratio (lifelines), median time to relapse, KM curves in the report."""

import json
import textwrap

import pandas as pd
import pytest
from typer.testing import CliRunner

from ketasim.cli.main import app
from ketasim.trials import TrialError, load_trial
from ketasim.trials._withdrawal import first_relapse

runner = CliRunner()

DESIGN = textwrap.dedent("""
    name: small_withdrawal
    design: randomised_withdrawal
    n_per_arm: 40
    duration: 12 week
    expectation: spray
    oral_antidepressant: true
    population: {baseline_madrs_mean: 34, baseline_madrs_sd: 5, baseline_madrs_min: 26}
    withdrawal:
      at: 4 week
      eligible:
        - {visits: [3 week, 4 week], max_fraction_of_baseline: 0.5, description: "response at weeks 3 and 4"}
      relapse: {min: 15, consecutive: 1, every: 1 week, definition: "MADRS >= 15 at a weekly visit (test rule)"}
      follow_up: 8 week
    arms:
      continued:
        doses: ["esketamine 84 mg intranasal every 3.5 d for 8 doses",
                "esketamine 84 mg intranasal at 28 d every 7 d for 8 doses"]
      placebo:
        doses: ["esketamine 84 mg intranasal every 3.5 d for 8 doses",
                "placebo 0 mg intranasal at 28 d every 7 d for 8 doses"]
    comparisons:
      - {endpoint: relapse, arms: [continued, placebo]}
    observed:
      source: Daly2019
      arms:
        continued: {n: 30, endpoints: {relapse: {relapses: 8}}}
        placebo: {n: 30, endpoints: {relapse: {relapses: 14}}}
      comparisons:
        - {endpoint: relapse, arms: [continued, placebo], hazard_ratio: 0.5, ci95: [0.25, 1.0]}
""")


@pytest.fixture(scope="module")
def withdrawal_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("wd")
    (d / "wd.yaml").write_text(DESIGN)
    out = d / "out"
    r = runner.invoke(app, ["trial", str(d / "wd.yaml"), "--hypothesis", "glutamate", "--replicates", "3",
                            "--seed", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return r.stdout, json.loads((out / "trial.json").read_text()), pd.read_parquet(out / "subjects.parquet"), out


def test_relapse_shares_hazard_ratio_median_and_km_curves(withdrawal_run):
    stdout, top, subj, out = withdrawal_run
    doc = top["hypotheses"][0]
    w = doc["withdrawal"]
    assert set(w["arms"]) == {"continued", "placebo"}
    for arm, a in w["arms"].items():
        assert 0 <= a["share_relapsed"] <= 1 and a["randomised"] > 0
        km = a["km"]
        assert km["time_d"][0] == 0 and km["no_relapse"][0] == 1.0
        assert all(x >= y - 1e-12 for x, y in zip(km["no_relapse"], km["no_relapse"][1:]))   # never rises
        # the per-arm numbers are those of the subjects table
        mine = subj[subj.arm == arm]
        assert a["randomised"] == pytest.approx(len(mine) / 3, rel=1e-4)
        assert a["relapses"] == pytest.approx(mine.relapsed.sum() / 3, rel=1e-4)
    assert sum(a["relapses"] for a in w["arms"].values()) > 0   # the test rule makes relapses happen
    hr = w["hazard_ratios"][0]
    assert hr["hazard_ratio"] > 0 and hr["typical_ci95"][0] < hr["typical_ci95"][1]
    assert hr["range95"][0] <= hr["hazard_ratio"] <= hr["range95"][1]
    # only subjects in the required state were randomised; the others have no arm
    assert subj[subj.arm.notna()].eligible.all() and subj[~subj.eligible].arm.isna().all()
    assert (subj[subj.arm.notna()].time_to_relapse_d <= 8 * 7 + 1e-9).all()
    html = (out / "report.html").read_text()
    assert "alt='relapse'" in html and "Randomised withdrawal" in html and "hazard ratio" in html
    assert "hazard ratio of relapse" in stdout and "median time to relapse" in stdout
    quantities = {o["quantity"] for o in doc["observed_vs_model"]}
    assert {"relapses", "hazard ratio"} <= quantities


def test_withdrawal_is_scored_by_hazard_ratio_and_relapse_counts(tmp_path):
    from ketasim.trials._scoring import score_hypotheses

    f = tmp_path / "wd.yaml"
    f.write_text(DESIGN)
    score = score_hypotheses([load_trial(f)], (("glutamate", None),), replicates=2, seed=2, bootstrap=3)[0]
    terms = score.per_trial["small_withdrawal"]["terms"]
    kinds = sorted((t["kind"], "hazard ratio" in t["what"]) for t in terms)
    assert kinds == [("contrast", True), ("level", False), ("level", False)]


def test_first_relapse_follows_the_trials_rule():
    import numpy as np

    rated = np.array([[10, 25, 25], [23, 10, 10], [23, 23, 25], [10, 23, 10]], float)   # visits x subjects
    ev, first = first_relapse(rated, 22, 2)
    assert ev.tolist() == [True, True, False] and first[:2].tolist() == [1, 2]
    ev1, first1 = first_relapse(rated, 22, 1)
    assert ev1.all() and first1.tolist() == [1, 0, 0]


def test_arms_that_differ_before_randomisation_are_one_plain_error(tmp_path):
    bad = DESIGN.replace('"placebo 0 mg intranasal at 28 d every 7 d for 8 doses"',
                         '"placebo 0 mg intranasal at 21 d every 7 d for 8 doses"')
    f = tmp_path / "bad.yaml"
    f.write_text(bad)
    with pytest.raises(TrialError, match="differ before randomisation"):
        load_trial(f)
    r = runner.invoke(app, ["trial", str(f), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1


@pytest.mark.validation
def test_sustain1_runs_with_its_published_numbers(tmp_path):
    cfg = load_trial("sustain1")
    assert cfg.scored_by_default is False
    obs = cfg.observed
    assert obs.arms["esketamine_continued"].endpoints["relapse"].relapses == 24
    assert obs.arms["placebo_spray"].endpoints["relapse"].relapses == 39
    assert obs.comparisons[0].hazard_ratio == 0.49 and obs.comparisons[0].ci95 == (0.29, 0.84)
    r = runner.invoke(app, ["trial", "sustain1", "--replicates", "1", "--out", str(tmp_path / "s"), "--quiet"])
    assert r.exit_code == 0, r.output
    w = json.loads((tmp_path / "s" / "trial.json").read_text())["hypotheses"][0]["withdrawal"]
    assert w["enrolled"] == 705 and 0 < w["eligible"] < 705
