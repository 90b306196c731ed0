"""Use patterns: the built-in library runs, the liability table is complete, liking has its ceiling and its
published anchor, tolerance behaves by pattern (the acceptance checks of the use-pattern feature)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ketasim as ks
from ketasim import services
from ketasim.citations import bibliography
from ketasim.patterns import LIABILITY_METRICS, PatternError, builtin_patterns, load_pattern
from ketasim.patterns.metrics import time_above, use_days_in_window
from ketasim.patterns.tolerance import dose_multiple_for_same_peak

PATTERNS = builtin_patterns()


def test_the_library_has_clinical_and_recreational_patterns():
    kinds = {load_pattern(n).kind for n in PATTERNS}
    assert kinds == {"clinical", "recreational"}
    assert sum(load_pattern(n).kind == "recreational" for n in PATTERNS) >= 4
    for must in ("clinical_iv_single", "clinic_esketamine_56", "clinic_esketamine_84", "low_dose_sublingual",
                 "im_injection", "street_daily"):
        assert must in PATTERNS


@pytest.mark.parametrize("name", PATTERNS)
def test_every_builtin_pattern_runs_with_a_complete_liability_table(name):
    pat = load_pattern(name)
    assert all(s in bibliography() for s in pat.sources)
    result, table = services.run_pattern(name)
    assert result.regimen == pat.regimen()
    metrics = table["metrics"]
    for m in LIABILITY_METRICS:
        row = metrics[m.key]
        assert row["unit"].strip(), m.key
        assert row["source"] in bibliography() or row["source"] in ("ketasim", "assumption"), m.key
        assert row["value"] is not None and math.isfinite(row["value"]), m.key
    assert 50.0 <= metrics["liking_emax"]["value"] <= 100.0
    assert metrics["administrations"]["value"] == len(pat.regimen().realize())
    assert table["liking_time_course"]["time_after_first_dose_h"]
    assert "not a dosing tool" in table["note"]


def test_drug_liking_after_the_hap_positive_control_matches_the_published_value():
    """Ketamine 0.5 mg/kg IV over 40 min: Drug Liking Emax minus placebo, median 49 (95 % CI 27-50)."""
    result, table = services.run_pattern("clinical_iv_single")
    typical = table["metrics"]["liking_emax_over_placebo"]["value"]
    assert abs(typical - 49.0) <= 10.0
    pop, ptable = services.run_pattern("clinical_iv_single", subjects=30, duration="2 d")
    assert abs(ptable["metrics"]["liking_emax_over_placebo"]["p50"] - 49.0) <= 10.0


def test_patients_low_dose_gives_almost_no_liking():
    """10 mg sublingual: no euphoria reported (Lara 2013); well below the 11-point 'no meaningful abuse
    potential' margin of HAP studies."""
    _, table = services.run_pattern("low_dose_sublingual", duration="4 d")
    assert table["metrics"]["liking_emax_over_placebo"]["value"] < 11.0


@settings(max_examples=40, deadline=None)
@given(s=st.floats(0.0, 1e4), r=st.floats(0.0, 1e4), tol=st.floats(0.0, 50.0))
def test_liking_never_exceeds_the_top_of_the_scale(s, r, tol):
    from ketasim.models.pd import drug_liking

    p = ks.default_parameters()
    v = drug_liking(s + 0.25 * r, tol, 0.0, p.value("liking.neutral"), p.value("euphoria.scale_max"),
                    p.value("liking.C50"), p.value("liking.hill"))
    assert p.value("liking.neutral") <= v <= p.value("euphoria.scale_max")


@pytest.mark.parametrize("dose", ["ketamine 2000 mg iv over 10 min", "esketamine 1500 mg intranasal",
                                  "ketamine 2 mg/kg iv over 1 min every 30 min for 6 doses", "ketamine 1 mg oral",
                                  "ketamine 250 mg im every 10 min for 8 doses"])
def test_liking_stays_on_the_scale_for_any_dose(dose):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ks.simulate(dose, duration="1 d", expectation="none")
    liking = res.outputs["drug_liking"]
    assert np.all(liking <= 100.0) and np.all(liking >= 50.0)


def test_daily_use_needs_at_least_three_times_the_first_days_dose_by_day_90():
    """Frequent users escalate about 6-fold (Muetzelfeldt 2008); the model needs >= 3x at day 90."""
    multiple = dose_multiple_for_same_peak(load_pattern("street_daily"), 90)
    print(f"street_daily: {multiple:.2f} x the first day's dose for the same peak high on day 90")
    assert multiple >= 3.0


def test_clinical_twice_weekly_dosing_keeps_most_of_its_mood_effect():
    """Twice-weekly 0.5 mg/kg IV for 4 weeks: the MADRS change 24 h after the last infusion is at least 80 % of the
    change 24 h after the first (no tolerance to the mood effect: Phillips 2019, SUSTAIN-3). Reads the model's
    mood layer as it is."""
    result, _ = services.run_pattern("clinical_iv_course")
    t, m = result.time_h, result.outputs["madrs"]
    doses = [d.time_h for d in result.regimen.realize()]
    first = np.interp(doses[0] + 24.0, t, m) - m[0]
    last = np.interp(doses[-1] + 24.0, t, m) - m[0]
    loss = 1.0 - last / first
    print(f"clinical_iv_course: change 24 h after infusion 1 {first:.1f}, after infusion 8 {last:.1f}; loss {loss:.1%}")
    assert first < 0 and loss <= 0.20


def test_tolerance_is_small_for_clinical_dosing_large_for_daily_use_and_recovers_with_abstinence():
    course = services.run_pattern("clinical_iv_course")[1]["metrics"]["chronic_tolerance_fold"]["value"]
    daily_result, daily = services.run_pattern("street_daily", duration="150 d")
    fold = daily["metrics"]["chronic_tolerance_fold"]["value"]
    assert course < 1.25 < 3.0 <= fold
    t = daily_result.time_h
    tol = daily_result.outputs["chronic_tolerance"]
    last = max(d.time_h for d in daily_result.regimen.realize())
    at_stop, one_month, two_months = np.interp([last, last + 30 * 24.0, last + 60 * 24.0], t, tol)
    # 'several weeks between uses to return to original tolerance'
    assert two_months < 0.15 * at_stop < one_month < at_stop


def test_acute_tolerance_lowers_the_high_at_a_constant_concentration_within_a_session():
    t = np.linspace(0, 24, 24 * 60 + 1)
    on = (t <= 3.0).astype(float)
    from ketasim.models.pd import EFFECT_SITE_SOURCES

    ce = {k: np.zeros_like(t) for k in EFFECT_SITE_SOURCES}   # no session: no expectation
    ce["ce_ketamine_S"] = 0.3 * on
    from ketasim.simulation import pd_response

    out = pd_response(t, ce)
    e = out["euphoria"]
    assert e[np.searchsorted(t, 3.0)] < 0.85 * e[np.searchsorted(t, 5 / 60)]
    assert out["acute_tolerance"][-1] < 0.01 * out["acute_tolerance"].max()   # gone by the next day


def test_street_powder_absorbs_less_of_bigger_doses_and_varies_between_people():
    from ketasim.models.pk import Covariates, individual_pk, nasal_fraction

    pat = load_pattern("street_bumps")
    p = pat.parameters()
    ind = individual_pk(p, Covariates())
    assert nasal_fraction(ind, 50.0) == pytest.approx(p.value("street.nasal_fraction"))
    assert nasal_fraction(ind, 150.0) < nasal_fraction(ind, 50.0) < nasal_fraction(ind, 10.0)
    spray = individual_pk(ks.default_parameters(), Covariates())
    assert nasal_fraction(spray, 150.0) == nasal_fraction(spray, 10.0)   # the default spray: no dose dependence
    _, table = services.run_pattern("street_bumps", subjects=40, duration="1 d")
    cmax = table["metrics"]["euphoria_emax"]
    assert cmax["p95"] > 1.3 * cmax["p5"]


def test_bladder_index_counts_use_days_in_the_busiest_180_days():
    assert use_days_in_window([1.0, 2.0, 30.0]) == 2          # two doses on day 0, one on day 1
    assert use_days_in_window([24.0 * d for d in range(400)]) == 180
    assert use_days_in_window([24.0 * d * 7 for d in range(52)]) == 26
    _, table = services.run_pattern("street_daily")
    b = table["bladder"]
    assert b["use_days_180"] == 90
    assert b["symptoms"]["haematuria"]["odds_ratio"] == pytest.approx(1.019 ** 90)
    lo, hi = b["symptoms"]["haematuria"]["range"]
    assert lo < b["symptoms"]["haematuria"]["odds_ratio"] < hi


def test_time_above_interpolates_crossings():
    t = np.linspace(0, 2, 201)
    y = 1 - np.abs(t - 1)           # 0 -> 1 -> 0
    assert time_above(t, y, 0.5)[0] == pytest.approx(1.0, abs=1e-9)


def test_bad_pattern_files_are_one_clear_error(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("name: x\ntitle: t\nkind: recreational\ndoses: ['ketamine 50 mg intranasal']\nsources: [Nobody2020]\n")
    with pytest.raises(PatternError) as err:
        load_pattern(f)
    assert "Nobody2020" in str(err.value) and "Value error" not in str(err.value)
    f.write_text("name: x\ntitle: t\nkind: recreational\ndoses: ['ketamine 50 mg nose']\nsources: [Erowid]\n")
    with pytest.raises(PatternError, match="route"):
        load_pattern(f)
    with pytest.raises(PatternError, match="unknown use pattern"):
        load_pattern("no_such_pattern")


def test_the_comparison_puts_every_pattern_under_every_hypothesis(tmp_path):
    rows = services.compare_patterns(["clinical_iv_course", "street_weekly"], "opioid,glutamate", subjects=4)
    assert [(r["pattern"], r["hypothesis"]) for r in rows] == [
        ("clinical_iv_course", "opioid[hnk_mor]"), ("clinical_iv_course", "glutamate"),
        ("street_weekly", "opioid[hnk_mor]"), ("street_weekly", "glutamate")]
    for r in rows:
        assert r["benefit_days"] >= 0 and r["liking_auec"] > 0 and r["cadss_auc"] > 0
    # the opioid-pathway load depends on the hypothesis's MOR source, liking does not
    assert rows[0]["opioid_load_auc"] != rows[1]["opioid_load_auc"]
    assert rows[0]["liking_auec"] == rows[1]["liking_auec"]
    services.write_pattern_comparison(rows, tmp_path / "cmp")
    assert {p.name for p in (tmp_path / "cmp").iterdir()} == {"patterns.csv", "patterns.json", "patterns.png"}
