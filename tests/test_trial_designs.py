"""Trial designs the literature uses: single-arm series, window / visits / time-to-response / ratio endpoints,
per-arm baselines and inclusion, sessions under general anaesthesia, one trial.json shape, plain errors."""

import json
import textwrap

import pytest
import yaml
from typer.testing import CliRunner

from ketasim.cli.main import app
from ketasim.trials import TrialError, load_trial, run_trial
from ketasim.trials._design import TrialConfig
from ketasim.trials._scoring import score_hypotheses

runner = CliRunner()

SERIES = textwrap.dedent("""
    name: open_series
    title: open-label series of four infusions (test file)
    design: parallel
    n_per_arm: 20
    duration: 14 d
    expectation: open_label
    arms:
      series: {doses: ["ketamine 0.5 mg/kg iv over 40 min at 0 d every 2 d for 4 doses"]}
    endpoints:
      madrs_days1to3: {scale: madrs, kind: window, at: 1 d, until: 3 d}
      madrs: {scale: madrs, kind: visits, at: 1 d, until: 3 d, every: 1 d}
      madrs_later: {scale: madrs, kind: visits, at: 7 d, until: 13 d, every: 6 d}
      time_to_response: {scale: madrs, kind: time_to_response, at: 1 d, until: 13 d, every: 1 d}
    observed:
      source: Phillips2019
      arms:
        series: {n: 20, endpoints: {"madrs_later@13 d": {responders: 9}, madrs_days1to3: {mean_change: -12}}}
""")


@pytest.fixture(scope="module")
def series_doc(tmp_path_factory):
    f = tmp_path_factory.mktemp("series") / "series.yaml"
    f.write_text(SERIES)
    out = f.parent / "out"
    r = runner.invoke(app, ["trial", str(f), "--replicates", "6", "--seed", "4", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    return json.loads((out / "trial.json").read_text()), out


def test_single_arm_series_with_window_visits_and_time_to_response(series_doc):
    top, out = series_doc
    doc = top["hypotheses"][0]
    eps = doc["arms"]["series"]["endpoints"]
    assert set(eps) == {"madrs_days1to3", "madrs@1 d", "madrs@2 d", "madrs@3 d", "madrs_later@7 d",
                        "madrs_later@13 d", "time_to_response"}
    # the window is the mean over its visits: it lies near the mean of the visit endpoints on the same days
    visits = [eps[f"madrs@{d} d"]["mean_change"] for d in (1, 2, 3)]
    assert eps["madrs_days1to3"]["kind"] == "window"
    assert abs(eps["madrs_days1to3"]["mean_change"] - sum(visits) / 3) < 2.0
    # share in response at each visit, in visit order
    rows = doc["visits"]["madrs"]["series"]
    assert [r["at_h"] for r in rows] == [24.0, 48.0, 72.0]
    assert all(0.0 <= r["response_rate"] <= 1.0 for r in rows)
    # responding at any visit of days 1-13 is at least as common as responding at any one of them
    ttr = eps["time_to_response"]
    assert ttr["share_responded"] >= max(r["response_rate"] for r in rows) - 0.1
    assert 1.0 <= ttr["median_days"] <= 13.0
    assert "report.html" in {p.name for p in out.iterdir()}


VISIT_TIMES = SERIES.replace(
    "time_to_response: {scale: madrs, kind: time_to_response, at: 1 d, until: 13 d, every: 1 d}",
    "time_to_response: {scale: madrs, kind: time_to_response, at: 1 d, times: TIMES}")


def test_visits_at_given_times_24_h_after_each_infusion():
    cfg = TrialConfig(**yaml.safe_load(VISIT_TIMES.replace("TIMES", "[1 d, 3 d, 5 d, 7 d]")))
    ep = cfg.endpoints["time_to_response"]
    assert ep.visit_hours() == [24.0, 72.0, 120.0, 168.0] and ep.hours() == 168.0
    res = run_trial(cfg, "opioid", replicates=3, seed=5, keep_timecourses=False)
    ttr = res.arm_summary()["series"]["endpoints"]["time_to_response"]
    assert ttr["visits_h"] == [24.0, 72.0, 120.0, 168.0]
    assert 0.0 < ttr["share_responded"] <= 1.0
    assert ttr["median_days"] is None or 1.0 <= ttr["median_days"] <= 7.0   # within the visits (median of replicates)
    for times, message in (("[3 d, 1 d]", "must increase"), ("[2 d, 3 d]", "must be the first")):
        with pytest.raises(TrialError, match=message):
            load_trial(_write(VISIT_TIMES.replace("TIMES", times)))
    with pytest.raises(TrialError, match="not both"):
        load_trial(_write(VISIT_TIMES.replace("TIMES", "[1 d, 3 d]").replace("times:", "until: 3 d, times:")))
    # a published count of those who responded at any visit is scored; a published time to response is not
    scored = VISIT_TIMES.replace("TIMES", "[1 d, 3 d]")
    assert load_trial(_write(scored.replace("madrs_days1to3: {mean_change: -12}", "time_to_response: {responders: 9}")))
    with pytest.raises(TrialError, match="'responders'"):
        load_trial(_write(scored.replace("madrs_days1to3: {mean_change: -12}", "time_to_response: {mean_change: -3}")))


def test_trial_json_has_one_shape_for_one_or_several_hypotheses(tmp_path):
    shapes = []
    for hyp in ("opioid", "opioid,glutamate"):
        out = tmp_path / hyp.replace(",", "_")
        r = runner.invoke(app, ["trial", "williams2018", "--hypothesis", hyp, "--replicates", "2", "--out", str(out),
                                "--quiet"])
        assert r.exit_code == 0, r.output
        doc = json.loads((out / "trial.json").read_text())
        shapes.append((sorted(doc), [sorted(h) for h in doc["hypotheses"]]))
        assert [h["hypothesis"] for h in doc["hypotheses"]] == [
            {"opioid": "opioid[hnk_mor]", "glutamate": "glutamate"}[x] for x in hyp.split(",")]
    assert shapes[0][0] == shapes[1][0]
    assert shapes[0][1][0] == shapes[1][1][0] == shapes[1][1][1]


RATIO = textwrap.dedent("""
    name: ratio_trial
    design: crossover
    n_per_arm: 20
    washout: 30 d
    duration: 2 d
    arms:
      ketamine: {doses: ["ketamine 0.5 mg/kg iv over 40 min"]}
      naltrexone_ketamine: {doses: ["naltrexone 50 mg oral at -45 min", "ketamine 0.5 mg/kg iv over 40 min"]}
    endpoints:
      madrs_day1: {scale: madrs, at: 1 d}
    comparisons:
      - {endpoint: madrs_day1, arms: [naltrexone_ketamine, ketamine]}
    observed:
      source: Williams2018
      comparisons:
        - {endpoint: madrs_day1, arms: [naltrexone_ketamine, ketamine], ratio: RATIO, ci95: [LO, HI]}
""")


def test_ratio_endpoint_is_reported_and_scored_as_a_contrast():
    cfg = TrialConfig(**yaml.safe_load(RATIO.replace("RATIO", "0.3").replace("LO", "0.1").replace("HI", "0.5")))
    res = run_trial(cfg, "glutamate", replicates=4, seed=2, keep_timecourses=False)
    comp = res.comparison_summary()[0]
    assert comp["ratio"] == pytest.approx(1.0, abs=0.25)    # naltrexone keeps the whole effect without MOR
    scores = {s.label: s for s in score_hypotheses([cfg], (("opioid", "hnk_mor"), ("glutamate", None)),
                                                   replicates=4, seed=2, bootstrap=5)}
    terms = scores["glutamate"].per_trial["ratio_trial"]["terms"]
    assert [t["kind"] for t in terms] == ["contrast"] and "ratio" in terms[0]["what"]
    assert scores["opioid[hnk_mor]"].total > scores["glutamate"].total
    with pytest.raises(TrialError, match="difference or a ratio"):
        bad = RATIO.replace("ratio: RATIO", "ratio: 0.3, difference: -3").replace("LO", "0.1").replace("HI", "0.5")
        f = _write(bad)
        load_trial(f)


def _write(text, name="t.yaml"):
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp())
    (d / name).write_text(text)
    return d / name


UNCONSCIOUS = textwrap.dedent("""
    name: under_anaesthesia
    design: parallel
    n_per_arm: 20
    duration: 3 d
    conscious: false
    expectation: active
    arms:
      ketamine: {doses: ["ketamine 0.5 mg/kg iv over 40 min"]}
      saline: {doses: ["placebo 0 mg iv over 40 min"]}
    endpoints:
      madrs_day1: {scale: madrs, at: 1 d}
    comparisons:
      - {endpoint: madrs_day1, arms: [ketamine, saline]}
""")


def test_sessions_under_general_anaesthesia(tmp_path):
    cfg = load_trial(_write(UNCONSCIOUS))
    assert cfg.conscious is False
    res = run_trial(cfg, "glutamate", replicates=4, seed=1, keep_timecourses=False)
    doc = res.to_json_dict()
    assert doc["conscious"] is False
    # expectation is the same in both arms, the pharmacology is unchanged: the drug effect alone separates them
    assert res.comparison_summary()[0]["difference"] < -3
    null = run_trial(cfg, "null", replicates=4, seed=1, keep_timecourses=False)
    # same subjects and rating errors: under null only sampling differences between the arms remain
    assert abs(null.comparison_summary()[0]["difference"]) < 2.5
    assert res.comparison_summary()[0]["difference"] < null.comparison_summary()[0]["difference"] - 3
    with pytest.raises(TrialError, match="same expectation"):
        load_trial(_write(UNCONSCIOUS.replace('saline: {doses', 'saline: {expectation: saline, doses')))
    with pytest.raises(TrialError, match="cannot be rated"):
        load_trial(_write(UNCONSCIOUS.replace("  madrs_day1: {scale: madrs, at: 1 d}",
                                              "  madrs_day1: {scale: madrs, at: 1 d}\n"
                                              "  cadss_peak: {scale: cadss, at: 2 h, kind: peak}")))


def test_per_arm_baselines_and_inclusion():
    text = textwrap.dedent("""
        name: unbalanced
        design: parallel
        n_per_arm: 40
        duration: 2 d
        arms:
          severe:
            doses: ["ketamine 0.5 mg/kg iv over 40 min"]
            population: {baseline_madrs_mean: 38, baseline_madrs_sd: 4, baseline_madrs_min: 34}
          moderate:
            n: 25
            doses: ["ketamine 0.5 mg/kg iv over 40 min"]
            population: {baseline_madrs_mean: 26, baseline_madrs_sd: 4, baseline_madrs_max: 30}
        endpoints:
          madrs_day1: {scale: madrs, at: 1 d}
    """)
    res = run_trial(load_trial(_write(text)), "opioid", replicates=2, seed=3, keep_timecourses=False)
    subj = res.subjects
    severe, moderate = subj[subj.arm == "severe"], subj[subj.arm == "moderate"]
    assert severe.baseline_madrs.min() >= 34 and moderate.baseline_madrs.max() <= 30
    assert severe.baseline_madrs.mean() - moderate.baseline_madrs.mean() > 8
    assert len(moderate) == 2 * 25 and len(severe) == 2 * 40


BASE = textwrap.dedent("""
    name: bad
    design: parallel
    n_per_arm: 5
    duration: 2 d
    arms:
      a: {doses: ["ketamine 0.5 mg/kg iv over 40 min"]}
    endpoints:
      madrs_24h: {scale: madrs, at: 1 d}
""")


@pytest.mark.parametrize("edit,words", [
    (lambda s: s.replace("n_per_arm: 5", "n_per_arm: 0"), "n_per_arm: must be at least 1"),
    (lambda s: s.replace("n_per_arm: 5", "n_per_arm: lots"), "n_per_arm: must be a whole number"),
    (lambda s: s.replace("design: parallel", "design: factorial"), "design: must be one of 'parallel', 'crossover'"),
    (lambda s: s.replace('a: {doses: ["ketamine 0.5 mg/kg iv over 40 min"]}', "a: {doses: []}"),
     "arms.a.doses: needs at least 1 entry"),
    (lambda s: s.replace("name: bad\n", ""), "name: is required; add it"),
    (lambda s: s.replace("arms:\n  a: {doses: [\"ketamine 0.5 mg/kg iv over 40 min\"]}\n", "arms: {}\n"),
     "arms: needs at least 1 entry"),
    (lambda s: s.replace("at: 1 d}", "at: 1 d, kind: window}"), "need 'until'"),
    (lambda s: s.replace("at: 1 d}", "at: 1 d, kind: time_to_response, until: 2 d}")
     + "comparisons:\n  - {endpoint: madrs_24h, arms: [a, a]}\n", "not compared"),
])
def test_validator_wording_is_one_plain_sentence(tmp_path, edit, words):
    f = tmp_path / "bad.yaml"
    f.write_text(edit(BASE))
    r = runner.invoke(app, ["trial", str(f), "--out", str(tmp_path / "o"), "--replicates", "2"])
    assert r.exit_code == 2
    line = " ".join(r.output.split())
    assert words in line and "bad.yaml" in line, line
    for phrase in ("Input should", "Value error", "Field required", "Dictionary should", "List should",
                   "validation error"):
        assert phrase not in line
