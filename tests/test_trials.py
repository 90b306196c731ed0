"""Virtual populations and trials (issue 4): acceptance facts, determinism, scoring, power, bad files."""

import json
import pathlib
import textwrap

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.cli.main import app
from ketasim.mechanisms import get_mechanism
from ketasim.population import PopulationSpec, population_grid, sample_subjects, simulate_population
from ketasim.population._population import subject_etas
from ketasim.regimens import Regimen
from ketasim.simulation import Simulation
from ketasim.trials import TrialError, builtin_trials, load_trial, run_trial
from ketasim.trials._scoring import power_analysis, score_hypotheses

runner = CliRunner()


@pytest.fixture(scope="module")
def williams_opioid():
    return run_trial(load_trial("williams2018"), "opioid", replicates=30, seed=3)


@pytest.fixture(scope="module")
def williams_glutamate():
    return run_trial(load_trial("williams2018"), "glutamate", replicates=30, seed=3)


DESIGN_ONLY = {"yovell2016"}


def test_builtin_trials_load():
    assert {"williams2018", "zarate2006", "murrough2013", "transform2"} <= set(builtin_trials())
    for name in builtin_trials():
        cfg = load_trial(name)
        if name in DESIGN_ONLY:       # runs the design; its published scale (suicidal ideation) is not modelled
            assert cfg.observed is None
            continue
        assert cfg.observed is not None and (cfg.comparisons or cfg.observed.exposure_response)


def test_williams_under_opioid(williams_opioid):
    arms = williams_opioid.arm_summary()
    placebo = arms["ketamine_placebo"]["endpoints"]["hamd17_day1"]["responders"]
    naltrexone = arms["ketamine_naltrexone"]["endpoints"]["hamd17_day1"]["responders"]
    assert 5 <= placebo <= 9
    # naltrexone removes the drug's effect: what is left are expectation (active placebo) responders. The
    # published ~1/12 (unverified) is lower than the model's 2.5-3 of 12: `ketasim validate` reports that miss.
    assert naltrexone <= placebo - 2
    c1, c2 = arms["ketamine_placebo"]["cadss_peak"], arms["ketamine_naltrexone"]["cadss_peak"]
    assert abs(c1 - c2) <= 0.10 * c1


def test_williams_under_glutamate_arms_do_not_differ(williams_glutamate):
    comp = {c["endpoint"]: c for c in williams_glutamate.comparison_summary()}
    assert abs(comp["hamd17_day1"]["difference"]) < 1.5
    assert comp["hamd17_day1"]["share_significant"] <= 0.15
    arms = williams_glutamate.arm_summary()
    r1 = arms["ketamine_placebo"]["endpoints"]["hamd17_day1"]["responders"]
    r2 = arms["ketamine_naltrexone"]["endpoints"]["hamd17_day1"]["responders"]
    assert abs(r1 - r2) <= 1.5


def test_population_matches_reference_path():
    p = ks.default_parameters()
    reg = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min")
    subj = sample_subjects(PopulationSpec(), 3, 11, p)
    t = population_grid(reg, 48.0)
    pop = simulate_population(reg, subj, p, get_mechanism("opioid"), t)
    for i, row in subj.iterrows():
        cov = ks.Covariates(weight_kg=row.weight_kg, age_y=row.age_y, sex=row.sex, cyp2b6=row.cyp2b6)
        ref = Simulation(reg, p).solve("2 d", cov, eta=subject_etas(row))
        for col in ("ketamine_ng_ml", "hnk_ng_ml", "naltrexol_ng_ml", "nmda_occupancy", "mor_occupancy"):
            a = np.interp(t, ref.time_h, ref.outputs[col])
            assert np.allclose(pop.outputs[col][:, i], a, rtol=1e-8, atol=1e-10 * a.max())


def test_subjects_and_results_do_not_depend_on_chunking():
    p = ks.default_parameters()
    reg = Regimen.from_text("esketamine 56 mg intranasal")
    subj = sample_subjects(PopulationSpec(), 10, 5, p)
    t = population_grid(reg, 24.0)
    a = simulate_population(reg, subj, p, get_mechanism("glutamate"), t, chunk_size=10)
    b = simulate_population(reg, subj, p, get_mechanism("glutamate"), t, chunk_size=3)
    for col in a.outputs:
        np.testing.assert_allclose(a.outputs[col], b.outputs[col], rtol=1e-12, atol=1e-14)
    assert sample_subjects(PopulationSpec(), 10, 5, p).equals(subj)


def test_trial_json_byte_identical_across_runs_and_chunks(tmp_path):
    outs = []
    for i, chunk in enumerate(("256", "5", "256")):
        out = tmp_path / f"t{i}"
        r = runner.invoke(app, ["trial", "williams2018", "--replicates", "4", "--seed", "7", "--chunk-size", chunk,
                                "--out", str(out), "--quiet"])
        assert r.exit_code == 0, r.output
        outs.append((out / "trial.json").read_bytes())
    assert outs[0] == outs[1] == outs[2]
    top = json.loads(outs[0])
    assert top["trial"] == "williams2018" and len(top["hypotheses"]) == 1
    doc = top["hypotheses"][0]
    for key in ("trial", "hypothesis", "seed", "replicates", "arms", "comparisons", "observed"):
        assert key in doc
    arm = doc["arms"]["ketamine_placebo"]
    ep = arm["endpoints"]["hamd17_day1"]
    for key in ("mean_change", "ci95", "responders", "response_rate", "remission_rate"):
        assert key in ep
    assert "cadss_peak" in arm
    subj = pd.read_parquet(tmp_path / "t0" / "subjects.parquet")
    assert len(subj) == 4 * 12 * 2
    assert (tmp_path / "t0" / "report.html").read_text().count("data:image/png;base64") >= 2


NO_BLOCKADE = pathlib.Path(__file__).parent.parent / "examples" / "no_blockade_trial.yaml"  # one file, also the benchmark's


@pytest.mark.validation
def test_hypothesis_ranking_follows_the_evidence(tmp_path):
    variants = (("opioid", "hnk_mor"), ("glutamate", None), ("hnk_ampa", None))
    only_williams = score_hypotheses([load_trial("williams2018")], variants, replicates=16, seed=2, bootstrap=20)
    assert only_williams[0].hypothesis == "opioid"
    user = NO_BLOCKADE
    both = score_hypotheses([load_trial("williams2018"), load_trial(user)], variants, replicates=16, seed=2,
                            bootstrap=20)
    assert both[0].hypothesis != "opioid"
    assert [s.label for s in both] != [s.label for s in only_williams]


@pytest.mark.validation
def test_hypotheses_cli_writes_outputs(tmp_path):
    r = runner.invoke(app, ["hypotheses", "--trial", "williams2018", "--replicates", "4", "--out",
                            str(tmp_path / "h")])
    assert r.exit_code == 0, r.output
    assert "williams2018" in r.stdout and "null" in r.stdout and "…" not in r.stdout
    doc = json.loads((tmp_path / "h" / "hypotheses.json").read_text())
    assert doc["ranking"][0]["rank"] == 1 and len(doc["ranking"]) == 7
    assert (tmp_path / "h" / "hypotheses.png").stat().st_size > 1000
    # null (expectation alone) is scored: the reference every drug hypothesis is read against
    by_label = {r["hypothesis"]: r for r in doc["ranking"]}
    assert "null" in by_label
    assert doc["reference"] == "null"
    for r in doc["ranking"]:
        assert r["delta_loglik_vs_null"] == pytest.approx(r["loglik"] - by_label["null"]["loglik"], abs=1e-3)


def test_every_listed_hypothesis_is_scored():
    from ketasim import services
    from ketasim.trials._scoring import default_variants

    scored = {h for h, _ in default_variants()}
    assert {h["key"] for h in services.list_hypotheses()} <= scored


def test_power_grows_with_sample_size():
    rows = power_analysis(load_trial("williams2018"), [4, 24], ("opioid", "hnk_mor"), ("glutamate", None),
                          replicates=20, seed=4)
    assert rows[1]["power_a"] >= rows[0]["power_a"]
    assert rows[1]["p_correct"] > 0.8
    assert rows[1]["power_b"] <= 0.2
    for r in rows:  # Monte-Carlo intervals of every share, and what was powered
        for key in ("power_a", "power_b", "p_correct"):
            lo, hi = r[f"{key}_interval95"]
            assert 0 <= lo <= r[key] <= hi <= 1 and hi > lo
        assert r["replicates"] == 20 and r["endpoint"] and r["design"] == "crossover"


def test_power_cli(tmp_path):
    r = runner.invoke(app, ["trial", "williams2018", "--power", "--subjects", "4:16", "--replicates", "4",
                            "--out", str(tmp_path / "p"), "--quiet"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "p" / "power.csv")
    assert list(df.columns[:4]) == ["n", "power_a", "power_b", "p_correct"]
    assert {"power_a_lo95", "power_a_hi95", "p_correct_lo95", "replicates", "endpoint"} <= set(df.columns)
    assert (tmp_path / "p" / "power.png").exists()


BASE = textwrap.dedent("""
    name: bad
    design: parallel
    n_per_arm: 5
    duration: 2 d
    arms:
      a: {doses: ["ketamine 0.5 mg/kg iv over 40 min"]}
      b: {doses: ["placebo 0 mg iv over 40 min"]}
    endpoints:
      madrs_24h: {scale: madrs, at: 1 d}
""")


@pytest.mark.parametrize("edit,words", [
    (lambda s: s + "colour: blue\n", "colour"),
    (lambda s: s.replace('b: {doses: ["placebo 0 mg iv over 40 min"]}', "b: {description: none}"), "doses"),
    (lambda s: s.replace("n_per_arm: 5", "n_per_arm: -5"), "n_per_arm"),
    (lambda s: s.replace("at: 1 d", "at: 9 d"), "outside the trial"),
    (lambda s: s.replace("ketamine 0.5 mg/kg", "ketamine 5 parsecs"), "parsec"),
    (lambda s: "arms: [1, 2", "YAML"),
])
def test_bad_trial_files_are_one_line_errors(tmp_path, edit, words):
    f = tmp_path / "bad.yaml"
    f.write_text(edit(BASE))
    with pytest.raises(TrialError):
        load_trial(f)
    out = tmp_path / "out"
    r = runner.invoke(app, ["trial", str(f), "--out", str(out), "--replicates", "2"])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0]
    assert not out.exists()


def test_simulate_population_cli(tmp_path):
    out = tmp_path / "pop"
    r = runner.invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects", "20",
                            "--seed", "3", "--duration", "2 d", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out / "timecourse.parquet")
    assert df.id.nunique() == 20
    summary = json.loads((out / "summary.json").read_text())["summary"]
    assert {"p5", "p50", "p95"} == set(summary["ketamine_ng_ml"]["cmax_percentiles"])
    assert 0.0 <= summary["madrs"]["responders_24h"] <= 1.0
    r2 = runner.invoke(app, ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects", "20",
                             "--seed", "3", "--duration", "2 d", "--out", str(tmp_path / "pop2"), "--quiet"])
    assert r2.exit_code == 0
    assert pd.read_parquet(tmp_path / "pop2" / "timecourse.parquet").equals(df)


def test_ranking_table_shows_every_header_and_number_in_full(capsys):
    from ketasim.cli._render import print_ranking

    trials = ["murrough2013", "transform2", "williams2018", "zarate2006"]
    rows = []
    labels = (("opioid[ketamine_mor]", -51.05), ("hnk_ampa", -410.39), ("null", -88.4))
    for i, (label, ll) in enumerate(labels):
        rows.append({"rank": i + 1, "hypothesis": label, "loglik": ll, "loglik_interval95": [-245418.64, ll],
                     "delta_loglik": ll + 51.05, "delta_loglik_vs_null": ll + 88.4, "prior": 1 / 3,
                     "posterior": 0.987654 if i == 0 else 0.006173, "posterior_interval95": [0.912345, 0.999876],
                     "level_loglik": -1234.56, "level_delta_loglik": -359.34 if i else 0.0})
    breakdown = [{"trial": t, "endpoint": "madrs_day1_response_at_each_visit", "kind": kind,
                  "delta_vs_best": {lab: (-363.21 if lab == "hnk_ampa" else 0.0) for lab, _ in labels}}
                 for t in trials for kind in ("contrast", "level")]
    share = {"what": "share of the antidepressant effect carried by the opioid pathway", "hypothesis": "mixed[hnk_mor]",
             "estimate": 0.83, "interval95": [0.41, 1.0], "monte_carlo_interval95": [0.7, 0.95]}
    print_ranking({"trials": trials, "ranking": rows, "reference": "null", "breakdown": breakdown,
                   "opioid_share": share})
    out = capsys.readouterr().out
    assert "…" not in out
    for text in (*trials, "opioid[ketamine_mor]", "log-likelihood", "-245418.64 to -51.05", "-410.39", "-363.21",
                 "-359.34", "vs null", "+37.35", "0.988", "0.912 to 1.000", "-1234.56",
                 "madrs_day1_response_at_each_visit", "mixed[hnk_mor]", "0.83 (95 % interval 0.41 to 1.00"):
        assert text in out, text


def test_subjects_table_has_baselines_individual_parameters_and_random_effects(tmp_path):
    from ketasim.models.pk import Covariates, individual_pk
    from ketasim.trials._run import INDIVIDUAL_PARAMETER_COLUMNS

    out = tmp_path / "t"
    r = runner.invoke(app, ["trial", "williams2018", "--hypothesis", "opioid", "--replicates", "2", "--seed", "3",
                            "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    subj = pd.read_parquet(out / "subjects.parquet")
    # a peak endpoint has no responders: no always-False columns
    assert "cadss_peak_value" in subj and "cadss_peak_responder" not in subj and "cadss_peak_remitter" not in subj
    # HAM-D baseline beside MADRS, the subject's own and as rated at the period's baseline
    p = ks.default_parameters()
    np.testing.assert_allclose(subj.baseline_hamd17, subj.baseline_madrs * p.value("mood.hamd_per_madrs"), rtol=1e-9)
    base, change = subj.hamd17_baseline_rated, subj.hamd17_day1_value
    np.testing.assert_array_equal(subj.hamd17_day1_responder, base + change <= 0.5 * base + 1e-12)
    # random effects and the individual parameters they give
    for col in ("eta_ketamine_CL", "eta_ketamine_V1", "eta_naltrexone_CL", "drive_scale", "cadss_scale",
                "placebo_scale"):
        assert col in subj, col
    assert subj.eta_ketamine_CL.std() > 0
    row = subj.iloc[5]
    eta = {"ketamine.CL": row.eta_ketamine_CL, "ketamine.V1": row.eta_ketamine_V1,
           "norketamine.CL": row.eta_norketamine_CL, "hnk.CL": row.eta_hnk_CL, "route.Fgut": row.eta_Fgut,
           "route.nasal_ka": row.eta_nasal_ka, "route.esketamine_FRn": row.eta_esketamine_FRn,
           "naltrexone.CL": row.eta_naltrexone_CL}
    ind = individual_pk(p, Covariates(weight_kg=row.weight_kg, age_y=row.age_y, sex=row.sex, cyp2b6=row.cyp2b6), eta)
    for col, key in INDIVIDUAL_PARAMETER_COLUMNS.items():
        assert row[col] == pytest.approx(ind[key], rel=1e-12), col
    # crossover: one subject, the same individual parameters in both periods
    both = subj[subj.hypothesis == subj.hypothesis.iloc[0]].groupby(["replicate", "id"])["ketamine_S_CL_L_h"]
    assert (both.nunique() == 1).all() and (both.size() == 2).all()
