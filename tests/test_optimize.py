"""`ketasim optimize`: the problem language and its errors, the search space, the front, the record of an
interrupted search, the robust front, and the Singh 2016 check on twice- vs thrice-weekly induction."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ketasim import services
from ketasim.cli.main import app
from ketasim.optimize import Interrupted, ProblemError, SearchSpace, load_problem, non_dominated, run_search
from ketasim.optimize.evaluate import Evaluator
from ketasim.optimize.space import Design, visits_per_week
from ketasim.regimens import Regimen

SMALL = dict(subjects=6, population_size=6, generations=2, horizon="4 weeks")


def test_the_default_problem_is_the_documented_one():
    p = load_problem()
    assert [o.label for o in p.objectives] == ["max days_in_response", "min cadss_peak", "min opioid_load_auc"]
    assert p.subjects == 200 and p.horizon_h == 8 * 7 * 24 and p.hypothesis_labels == ["opioid[hnk_mor]"]
    t = p.treatments[0]
    assert (t.drug, t.route, t.dose_unit) == ("ketamine", "iv", "mg/kg")


@pytest.mark.parametrize("text, words", [
    ("objectives: [max happiness]\n", "unknown metric 'happiness'"),
    ("objectives: [sideways cadss_peak]\n", "write 'max METRIC'"),
    ("constraints: ['cadss_peak <= -1']\n", "impossible"),
    ("constraints: ['visits_per_week <= 0.5']\n", "impossible"),
    ("constraints: ['days_in_response >= 1000']\n", "impossible"),
    ("constraints: ['liking_emax <= 40']\n", "impossible"),
    ("constraints: ['cadss_peak is small']\n", "METRIC <= NUMBER"),
    ("search: {treatments: []}\n", "empty search space"),
    ("search: {doses: 30-40, interval: 3-7 d}\nhorizon: 8 weeks\n", "empty search space"),
    ("search: {treatments: [{dose: 1-0.5 mg/kg}]}\n", "empty range"),
    ("search: {treatments: [{dose: 0.5-1 mL}]}\n", "mg or mg/kg"),
    ("search: {treatments: [{drug: naltrexone}]}\n", "search.treatments.0.drug"),
    ("search: {treatments: [{route: intranasal, infusion: 40 min}]}\n", "only iv doses are infused"),
    ("search: {maintenance_doses: 0-4}\n", "maintenance_interval"),
    ("subjects: many\n", "subjects: must be a whole number"),
    ("subjects: 0\n", "subjects: must be at least 1"),
    ("horizon: 8 parsecs\n", "horizon"),
    ("hypotheses: [astrology]\n", "hypotheses"),
    ("weights: {glutamate: 1}\n", "not one of the problem's hypotheses"),
    ("colour: blue\n", "colour: unknown key"),
    ("objectives: [max days_in_response\n", "not valid YAML"),
    ("- just a list\n", "must be a mapping"),
])
def test_bad_problem_files_are_one_clear_sentence(tmp_path, text, words):
    f = tmp_path / "problem.yaml"
    f.write_text(text)
    with pytest.raises(ProblemError) as err:
        load_problem(f)
    msg = str(err.value)
    assert words in msg, msg
    assert "\n" not in msg and "Input should be" not in msg and "Value error" not in msg


def test_bad_problem_files_exit_2_with_one_line_and_write_nothing(tmp_path):
    f = tmp_path / "problem.yaml"
    f.write_text("objectives: [max happiness]\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["optimize", "--problem", str(f), "--out", str(out)])
    assert r.exit_code == 2
    assert "unknown metric" in r.output and "Traceback" not in r.output
    assert not out.exists()
    r = CliRunner().invoke(app, ["optimize", "--constraint", "cadss_peak <= -3", "--out", str(out)])
    assert r.exit_code == 2 and "impossible" in r.output


def test_search_space_round_trip_and_prescribable_regimens():
    p = load_problem(None, search={"treatments": [{"dose": "0.1-1 mg/kg", "infusion": "20-100 min"}],
                                   "maintenance_interval": "7-28 d", "maintenance_doses": "0-4",
                                   "maintenance_fraction": "0.5-1"})
    space = SearchSpace(p)
    rng = np.random.default_rng(3)
    for _ in range(50):
        x = space.xl + rng.random(space.n_var) * (space.xu - space.xl)
        d = space.decode(x)
        assert space.decode(space.encode(d)) == d
        reg = d.regimen(p)
        assert Regimen.from_text(*reg.to_text()) == reg
        assert max(a.time_h for a in reg.realize()) < p.horizon_h
        assert 0.1 <= d.dose <= 1.0 and 20 <= round(d.infusion_h * 60) <= 100
    assert visits_per_week(Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min every 56 h for 12 doses")) == 3
    assert visits_per_week(Regimen.from_text("ketamine 30 mg intranasal every 10 min for 6 doses")) == 1


def test_a_small_search_writes_a_front_of_non_dominated_regimens(tmp_path):
    p = load_problem(None, constraints=["cadss_peak <= 15"], **SMALL)
    out = tmp_path / "opt"
    res = services.run_optimization(p, out)
    assert {f.name for f in out.iterdir()} >= {"pareto.csv", "pareto.png", "report.md", "evaluations.parquet",
                                               "problem.json"}
    front = pd.read_csv(out / "pareto.csv")
    ev = pd.read_parquet(out / "evaluations.parquet")
    assert len(front) >= 1 and len(ev) == len(res.evaluations)
    feas = ev[ev["feasible"]].drop_duplicates("regimen")
    labels = [o.label for o in p.objectives]
    sign = np.array([-1.0 if o.maximise else 1.0 for o in p.objectives])
    F_all = feas[labels].to_numpy(float) * sign
    for _, row in front.iterrows():
        f = row[labels].to_numpy(float) * sign
        tol = 1e-9 * np.maximum(np.abs(f), 1.0)   # pareto.csv's text round trip may move the last digit
        dominated = np.all(F_all <= f + tol, axis=1) & np.any(F_all < f - tol, axis=1)
        assert not dominated.any(), row["regimen"]
        assert row["constraint: cadss_peak <= 15"] <= 0
        Regimen.from_text(*row["regimen"].split("; "))
        assert "not a dosing" in row["note"]
    # the front is exactly the non-dominated set of the feasible evaluations
    assert len(front) == len(non_dominated(F_all))
    report = (out / "report.md").read_text()
    assert "not a dosing tool" in report and "Singh 2016" in report


def test_an_interrupted_search_keeps_its_evaluations(tmp_path):
    p = load_problem(None, **SMALL)
    record = tmp_path / "evaluations.parquet"
    with pytest.raises(Interrupted) as err:
        run_search(p, record_path=record, stop_after=3)
    kept = pd.read_parquet(record)
    assert len(kept) == err.value.evaluations >= 3

    calls = {"n": 0}

    def ctrl_c(done, total):   # a Ctrl-C arriving while the fourth regimen is evaluated
        calls["n"] += 1
        if done >= 4:
            raise KeyboardInterrupt

    record2 = tmp_path / "evaluations2.parquet"
    with pytest.raises(Interrupted) as err:
        run_search(p, record_path=record2, progress=ctrl_c)
    assert len(pd.read_parquet(record2)) == err.value.evaluations >= 3


def test_cli_interrupt_exits_130_and_says_what_was_kept(tmp_path, monkeypatch):
    from ketasim.optimize import search

    def stop(*a, **k):
        raise Interrupted(7)

    monkeypatch.setattr(search, "run_search", stop)
    monkeypatch.setattr("ketasim.optimize.run_search", stop)
    r = CliRunner().invoke(app, ["optimize", "--subjects", "4", "--out", str(tmp_path / "o")])
    assert r.exit_code == 130 and "kept 7 evaluations" in r.output


def test_the_robust_front_differs_from_a_single_hypothesis_front(tmp_path):
    """The structure of the documented example (docs/patterns.md, examples/optimize_robust.yaml) on a small problem:
    scored in the worst case over opioid and glutamate, the front is not the opioid-only front."""
    common = dict(subjects=6, population_size=8, generations=2, horizon="4 weeks",
                  objectives=["max benefit_days", "min cadss_peak"])
    single = run_search(load_problem(None, hypotheses=["opioid"], **common))
    robust = run_search(load_problem(None, hypotheses=["opioid", "glutamate"], robust="worst", **common))
    a = dict(zip(single.front["regimen"], single.front["max benefit_days"]))
    b = dict(zip(robust.front["regimen"], robust.front["max benefit_days"]))
    assert set(a) != set(b) or any(abs(a[k] - b[k]) > 1e-9 for k in a)
    # worst case: no regimen is scored better than under either hypothesis alone
    ev = robust.evaluations
    per = ev[["benefit_days [opioid[hnk_mor]]", "benefit_days [glutamate]"]].min(axis=1)
    assert np.allclose(ev["max benefit_days"], per)


def _singh(hypothesis):
    p = load_problem(None, subjects=40, hypotheses=[hypothesis])
    ev = Evaluator(p)
    two = Design(0, 0.5, 40 / 60, 84.0, 8, 0.0, 0, 1.0)      # 0.5 mg/kg twice weekly for 4 weeks
    three = Design(0, 0.5, 40 / 60, 56.0, 12, 0.0, 0, 1.0)   # thrice weekly for 4 weeks
    F, _ = ev.objectives_and_constraints(ev.metrics([two, three]))
    return F[0], F[1]


@pytest.mark.parametrize("hypothesis", ["opioid", "glutamate"])
def test_thrice_weekly_induction_does_not_dominate_twice_weekly(hypothesis):
    two, three = _singh(hypothesis)
    assert not (np.all(three <= two) and np.any(three < two))


@pytest.mark.xfail(strict=True, reason="thrice weekly gains +22 % (opioid) and +11 % (glutamate) days in response "
                                       "over twice weekly although the day-15 MADRS means differ by 1.0 point (twelve "
                                       "sessions fill more of the long-term store than eight, so the effect outlasts "
                                       "the series longer; days in response count time below a threshold over 8 "
                                       "weeks); Singh 2016 found no difference at day 15 (-18.4 vs -17.7) and did not "
                                       "follow durability")
@pytest.mark.parametrize("hypothesis", ["opioid", "glutamate"])
def test_thrice_weekly_induction_gains_no_more_than_ten_percent_benefit(hypothesis):
    two, three = _singh(hypothesis)
    gain = three[0] / two[0] - 1.0        # days in response (negated for minimisation: ratio is the same)
    print(f"{hypothesis}: days in response 2x/week {-two[0]:.1f}, 3x/week {-three[0]:.1f} ({gain:+.0%})")
    assert gain <= 0.10


def test_reference_regimens_outside_the_search_space_are_placed_but_not_candidates():
    p = load_problem(None, subjects=4, population_size=4, generations=1, horizon="4 weeks",
                     search={"treatments": [{"dose": "0.2-0.8 mg/kg", "infusion": "40 min"}], "interval": "3.5-7 d",
                             "doses": "2-8"})
    res = run_search(p)
    assert "thrice weekly x 12 (Singh 2016)" in set(res.standards["standard"])
    assert not any("every 56 h" in r for r in res.front["regimen"])
    outside = res.evaluations[~res.evaluations["in_search_space"]]
    assert len(outside) >= 2 and set(outside["origin"]) == {"standard"}
