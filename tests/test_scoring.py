"""Hypothesis scoring that tells mechanisms apart: contrasts rank, levels are a separate check, a stated model
discrepancy, posteriors, the per-trial per-endpoint breakdown and the implied opioid share."""

import json
import math
import pathlib
import textwrap

import numpy as np
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from ketasim.cli.main import app
from ketasim.trials import load_trial
from ketasim.trials._design import TrialConfig
from ketasim.trials._scoring import (SHARE_TEXT, _fisher_conditional, _profile_estimate, breakdown,
                                     opioid_share_profile, posteriors, score_hypotheses)

runner = CliRunner()

BLOCKADE = textwrap.dedent("""
    name: synthetic_blockade
    design: parallel
    n_per_arm: 20
    duration: 2 d
    arms:
      ketamine: {doses: ["ketamine 0.5 mg/kg iv over 40 min"]}
      naltrexone_ketamine: {doses: ["naltrexone 50 mg oral at -45 min", "ketamine 0.5 mg/kg iv over 40 min"]}
    endpoints:
      madrs_day1: {scale: madrs, at: 1 d}
    observed:
      source: Williams2018
      arms:
        ketamine: {n: 20, endpoints: {madrs_day1: {mean_change: -16.5}}}
        naltrexone_ketamine: {n: 20, endpoints: {madrs_day1: {mean_change: -6.0}}}
""")

VS_SALINE = textwrap.dedent("""
    name: synthetic_vs_saline
    design: parallel
    n_per_arm: 20
    duration: 2 d
    arms:
      ketamine: {doses: ["ketamine 0.5 mg/kg iv over 40 min"]}
      saline: {doses: ["placebo 0 mg iv over 40 min"], expectation: saline}
    endpoints:
      madrs_day1: {scale: madrs, at: 1 d}
    observed:
      source: Zarate2006
      arms:
        ketamine: {n: 20, endpoints: {madrs_day1: {mean_change: KET}}}
        saline: {n: 20, endpoints: {madrs_day1: {mean_change: SAL}}}
""")


def _cfg(text, **subs):
    for k, v in subs.items():
        text = text.replace(k, str(v))
    return TrialConfig(**yaml.safe_load(text))


VARIANTS = (("opioid", "hnk_mor"), ("glutamate", None), ("null", None))


@pytest.mark.validation
def test_an_absolute_misfit_leaves_the_contrast_ranking_unchanged_and_the_breakdown_shows_it():
    """Trial 2's published means sit 15 MADRS points below what the model gives in both arms (a population that
    responds unusually well in every arm) while the between-arm difference is the model's."""
    fitted = _cfg(VS_SALINE, KET=-16.7, SAL=-4.6)
    misfit = _cfg(VS_SALINE, KET=-31.7, SAL=-19.6)
    blockade = _cfg(BLOCKADE)
    kw = dict(replicates=8, seed=5, bootstrap=10)
    a = score_hypotheses([blockade, fitted], VARIANTS, **kw)
    b = score_hypotheses([blockade, misfit], VARIANTS, **kw)
    assert [s.label for s in a] == [s.label for s in b]
    assert a[0].hypothesis == "opioid"          # the blockade contrast decides
    for sa, sb in zip(a, b):
        assert sb.total == pytest.approx(sa.total, abs=1e-9)
        # the misfit shows as the levels of that trial, for every hypothesis
        assert sb.per_trial["synthetic_vs_saline"]["level"] < sa.per_trial["synthetic_vs_saline"]["level"] - 8
        assert sb.per_trial["synthetic_blockade"]["level"] == pytest.approx(
            sa.per_trial["synthetic_blockade"]["level"])
    # in the breakdown the misfit sits in the level row of synthetic_vs_saline, not in any contrast row
    rows_a = {(r["trial"], r["endpoint"], r["kind"]): r for r in breakdown(a)}
    rows_b = {(r["trial"], r["endpoint"], r["kind"]): r for r in breakdown(b)}
    assert rows_a.keys() == rows_b.keys()
    for key, row in rows_b.items():
        for label, ll in row["loglik"].items():
            moved = ll - rows_a[key]["loglik"][label]
            if key == ("synthetic_vs_saline", "madrs_day1", "level"):
                assert moved < -8
            else:
                assert moved == pytest.approx(0.0, abs=1e-3)
    # without the discrepancy term the same misfit would cost far more: the inflated variance bounds it
    from ketasim.trials._scoring import Discrepancy
    tight = score_hypotheses([misfit], VARIANTS[:1], discrepancy=Discrepancy(level_sd_madrs=0.0), **kw)
    loose = [s for s in b if s.label == "opioid[hnk_mor]"][0].per_trial["synthetic_vs_saline"]["level"]
    assert tight[0].per_trial["synthetic_vs_saline"]["level"] < loose - 20


def test_counts_in_two_arms_are_scored_by_their_odds_ratio_given_the_total():
    # with no discrepancy the term is the exact conditional probability of two binomial counts given their sum
    k_a, n_a, k_b, n_b, pa, pb = 3, 12, 8, 14, 0.2, 0.6
    joint = stats.binom.pmf(np.arange(n_a + 1), n_a, pa) * stats.binom.pmf(k_a + k_b - np.arange(n_a + 1), n_b, pb)
    exact = joint[k_a] / joint.sum()
    log_or = math.log(pa / (1 - pa)) - math.log(pb / (1 - pb))
    assert _fisher_conditional(k_a, n_a, k_b, n_b, log_or, 0.0) == pytest.approx(math.log(exact), rel=1e-9)
    # a common shift of both rates that keeps the odds ratio gives the same term: levels do not enter
    pa2 = 1 / (1 + (1 - pa) / pa * 3)
    pb2 = 1 / (1 + (1 - pb) / pb * 3)
    log_or2 = math.log(pa2 / (1 - pa2)) - math.log(pb2 / (1 - pb2))
    assert _fisher_conditional(k_a, n_a, k_b, n_b, log_or2, 0.5) == pytest.approx(
        _fisher_conditional(k_a, n_a, k_b, n_b, log_or, 0.5))
    # the discrepancy widens the odds ratio: a count far from the model loses less
    assert _fisher_conditional(10, 12, 1, 14, log_or, 0.5) > _fisher_conditional(10, 12, 1, 14, log_or, 0.0)


def test_profile_interval_of_a_known_quadratic():
    w = np.linspace(0, 1, 11)
    est, (lo, hi) = _profile_estimate(w, -(w - 0.4) ** 2 / (2 * 0.1 ** 2), with_interval=True)
    assert est == pytest.approx(0.4, abs=0.005)
    assert lo == pytest.approx(0.4 - 0.196, abs=0.01) and hi == pytest.approx(0.4 + 0.196, abs=0.01)


def test_posteriors_normalise_follow_priors_and_reject_unknown_names():
    class S:
        def __init__(self, label, total, boot):
            self.label, self.total, self.boot = label, total, np.array(boot, float)

    scores = [S("opioid[hnk_mor]", -1.0, [-1, -2, -1]), S("glutamate", -3.0, [-3, -2.5, -4]),
              S("null", -3.0, [-3, -3, -3])]
    post = posteriors(scores)
    assert sum(v["posterior"] for v in post.values()) == pytest.approx(1.0)
    assert post["opioid[hnk_mor]"]["posterior"] == pytest.approx(math.e ** 2 / (math.e ** 2 + 2))
    lo, hi = post["glutamate"]["interval95"]
    assert lo < post["glutamate"]["posterior"] < hi
    weighted = posteriors(scores, {"null": 0.0})
    assert weighted["null"]["posterior"] == 0.0
    with pytest.raises(ValueError, match="not among"):
        posteriors(scores, {"hnk_ampa": 1.0})


NO_BLOCKADE = pathlib.Path(__file__).parent.parent / "examples" / "no_blockade_trial.yaml"  # one file, also the benchmark's


@pytest.mark.validation
def test_a_null_blockade_trial_moves_the_implied_opioid_share_down(tmp_path):
    williams = load_trial("williams2018")
    user = NO_BLOCKADE
    kw = dict(points=6, replicates=8, seed=2, bootstrap=10)
    alone = opioid_share_profile([williams], **kw)
    both = opioid_share_profile([williams, load_trial(user)], **kw)
    assert alone.interval[0] <= alone.estimate <= alone.interval[1]
    assert both.estimate < alone.estimate
    assert both.estimate < 0.5 < alone.estimate
    assert both.trials == ["williams2018", "no_blockade_user_trial"]


@pytest.mark.validation
def test_hypotheses_williams_prints_posteriors_and_the_implied_share(tmp_path):
    r = runner.invoke(app, ["hypotheses", "--trial", "williams2018", "--replicates", "4", "--share-points", "3",
                            "--out", str(tmp_path / "h")])
    assert r.exit_code == 0, r.output
    assert "posterior" in r.stdout and SHARE_TEXT in r.stdout and "95 % interval" in r.stdout
    doc = json.loads((tmp_path / "h" / "hypotheses.json").read_text())
    assert sum(x["posterior"] for x in doc["ranking"]) == pytest.approx(1.0, abs=1e-4)
    share = doc["opioid_share"]
    assert share["what"] == SHARE_TEXT and 0 <= share["interval95"][0] <= share["estimate"] <= share["interval95"][1]
    assert {row["kind"] for row in doc["breakdown"]} == {"contrast", "level"}
    best = doc["ranking"][0]["hypothesis"]
    contrast_rows = [row for row in doc["breakdown"] if row["kind"] == "contrast"]
    assert all(max(row["delta_vs_best"].values()) == 0 for row in doc["breakdown"])
    assert sum(row["loglik"][best] for row in contrast_rows) == pytest.approx(doc["ranking"][0]["loglik"], abs=1e-2)


def test_bad_prior_is_one_plain_line(tmp_path):
    r = runner.invoke(app, ["hypotheses", "--trial", "williams2018", "--prior", "opioid=lots",
                            "--out", str(tmp_path / "h")])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "--prior" in lines[0] and "HYPOTHESIS=WEIGHT" in lines[0]
    assert not (tmp_path / "h").exists()


def test_a_prior_for_an_unknown_hypothesis_fails_before_any_work(tmp_path):
    r = runner.invoke(app, ["hypotheses", "--trial", "williams2018", "--prior", "astrology=2",
                            "--out", str(tmp_path / "h")])
    assert r.exit_code == 2 and "astrology" in r.output and "scoring" not in r.output
