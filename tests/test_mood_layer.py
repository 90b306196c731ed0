"""The depression layer's dynamic parts, each on its own (fast: typical subjects and small populations)."""

import numpy as np
import pytest

import ketasim as ks
from ketasim.population import PopulationSpec, population_grid, relapse_summary, relapse_times, sample_subjects
from ketasim.population import simulate_population
from ketasim.mechanisms import get_mechanism
from ketasim.regimens import Regimen

K = "ketamine 0.5 mg/kg iv over 40 min"
PLACEBO = "placebo 0 mg iv over 40 min"


def _at(r, col, t):
    return float(np.interp(t, r.time_h, r.outputs[col]))


def test_expectation_rises_within_hours_and_wanes_over_days():
    r = ks.simulate(PLACEBO, duration="14 d", expectation="active", output_step="15 min")
    change = {t: _at(r, "madrs", t) - _at(r, "madrs", 0) for t in (2, 24, 72, 288)}
    assert change[2] < -3                        # onset within hours
    assert change[2] < change[24] < change[72] < 0   # then it wanes without a new session
    assert abs(change[288]) < 1.0                # and is gone by day 12
    none = ks.simulate(PLACEBO, duration="2 d", expectation="none")
    assert np.allclose(none.outputs["madrs"], none.outputs["madrs"][0])


def test_each_session_renews_expectation_with_diminishing_returns():
    one = ks.simulate(PLACEBO, duration="8 d", expectation="active", output_step="15 min")
    weekly = ks.simulate([PLACEBO, "placebo 0 mg iv over 40 min at 7 d"], duration="8 d", expectation="active",
                         output_step="15 min")
    base = _at(one, "madrs", 0)
    assert _at(weekly, "madrs", 7 * 24 + 2) - base < 0.5 * (_at(one, "madrs", 7 * 24 + 2) - base)  # renewed
    daily = ks.simulate(f"{PLACEBO} every 1 d for 8 doses", duration="8 d", expectation="active", output_step="15 min")
    # eight daily sessions do not give eight times one session's effect
    assert _at(daily, "madrs", 7 * 24 + 2) - base > 2.5 * (_at(one, "madrs", 2) - base)


def test_levels_order_saline_spray_active():
    vals = {}
    for e in ("saline", "spray", "active"):
        r = ks.simulate(PLACEBO, duration="2 d", expectation=e, output_step="15 min")
        vals[e] = _at(r, "madrs", 24) - _at(r, "madrs", 0)
    assert vals["active"] < vals["spray"] < vals["saline"] <= 0


def test_oral_antidepressant_builds_over_weeks():
    r = ks.simulate(PLACEBO, duration="29 d", expectation="none", oral_antidepressant_start="0 d", output_step="1 h")
    base = _at(r, "madrs", 0)
    c2, c7, c28 = (_at(r, "madrs", d * 24) - base for d in (2, 7, 28))
    # still growing after the first week; after two days less than half of what four weeks bring
    assert c28 < 1.2 * c7 < 0 and c2 > 0.5 * c28


def test_improvement_never_exceeds_its_ceiling():
    p = ks.default_parameters()
    rmax = p.value("mood.Rmax")
    regimen = [f"{K} every 1 d for 10 doses"]
    r = ks.simulate(regimen, duration="12 d", expectation="open_label", oral_antidepressant_start="0 d",
                    hypothesis="glutamate")
    base = r.outputs["madrs"][0]
    assert np.all(r.outputs["madrs"] >= base * (1 - rmax) - 1e-9)
    assert np.all(r.internal["improvement"] <= rmax + 1e-12)


def test_consolidation_builds_with_repeated_sessions_and_fades_after():
    p = ks.default_parameters().replace(**{"consolidation.threshold": 0.0})
    one = ks.simulate(K, duration="30 d", output_step="1 h", parameters=p)
    series = ks.simulate(["ketamine 0.5 mg/kg iv over 40 min every 2 d for 6 doses"], duration="130 d",
                         output_step="6 h", parameters=p)
    c1, c6 = one.internal["consolidation"].max(), series.internal["consolidation"].max()
    assert c6 > 3 * c1 > 0
    store, t_h = series.internal["consolidation"], series.time_h
    end = np.argmax(store)
    t_half_h = p["consolidation.t_half"].internal_value   # internal unit: h
    assert store[-1] < 0.5 * store[end]        # fades over weeks after the last session ...
    # ... with its half-life, once the sustained potency that still feeds it has gone
    sustained = series.internal["sustained_induction"]
    quiet = np.flatnonzero((t_h > t_h[end]) & (sustained < 1e-2 * sustained.max()))[0]
    expected = store[quiet] * 0.5 ** ((t_h[-1] - t_h[quiet]) / t_half_h)
    assert store[-1] == pytest.approx(expected, rel=0.03)


def test_one_infusion_builds_little_store_even_at_high_exposure():
    p = ks.default_parameters()
    instant = p.replace(**{"consolidation.sustain_t_half": 0.05})    # no averaging: a half-time of minutes
    threshold = p.value("consolidation.threshold")

    def store(doses, params):
        return ks.simulate(doses, duration="14 d", output_step="1 h", parameters=params).internal

    # the store is built by the induced potency averaged over days: one infusion's potency lasts a day or two, so
    # its average stays well below its peak, while a series holds the average up
    one, six = store([K], p), store(["ketamine 0.5 mg/kg iv over 40 min every 2 d for 6 doses"], p)
    assert one["sustained_induction"].max() < 0.5 * one["induced_drive"].max()
    assert six["sustained_induction"].max() > 0.5 * six["induced_drive"].max()
    # the typical subject's one infusion stays below the threshold and builds nothing, where without the averaging
    # its peak alone would build some
    assert one["sustained_induction"].max() < threshold < one["induced_drive"].max()
    assert np.all(one["consolidation"] == 0.0) and store([K], instant)["consolidation"].max() > 0.0
    # one infusion of 1.5 times the exposure builds a small part of a series' store, and less than without averaging
    high = ["ketamine 0.75 mg/kg iv over 40 min"]
    high_store = store(high, p)["consolidation"].max()
    assert high_store < 0.1 * six["consolidation"].max()
    assert store(high, instant)["consolidation"].max() > 2 * high_store


def test_only_sessions_above_the_threshold_build_the_long_term_layer():
    low = ["ketamine 0.2 mg/kg iv over 40 min every 3.5 d for 8 doses"]
    free = ks.default_parameters().replace(**{"consolidation.threshold": 0.0})
    r = ks.simulate(low, duration="28 d", output_step="1 h", parameters=free)
    peak_drive = r.internal["sustained_induction"].max()
    assert r.internal["consolidation"].max() > 0
    # a threshold just above the low dose's peak sustained potency: eight sessions build nothing at all
    gated = free.replace(**{"consolidation.threshold": 1.05 * peak_drive})
    r = ks.simulate(low, duration="28 d", output_step="1 h", parameters=gated)
    assert np.all(r.internal["consolidation"] == 0.0)
    assert np.all(r.internal["consolidated_potency"] == 0.0)


def test_the_long_term_potency_saturates_at_its_ceiling():
    p = ks.default_parameters().replace(**{"consolidation.threshold": 0.0})
    ceiling = p.value("consolidation.ceiling")
    twice = ks.simulate(["ketamine 0.5 mg/kg iv over 40 min every 3.5 d for 8 doses"], duration="28 d",
                        output_step="1 h", parameters=p)
    thrice = ks.simulate(["ketamine 0.5 mg/kg iv over 40 min every 56 h for 12 doses"], duration="28 d",
                         output_step="1 h", parameters=p)
    store = {k: r.internal["consolidation"][-1] for k, r in (("2", twice), ("3", thrice))}
    potency = {k: r.internal["consolidated_potency"][-1] for k, r in (("2", twice), ("3", thrice))}
    assert store["3"] > 1.3 * store["2"]                   # a third weekly session adds to the store ...
    assert potency["3"] / potency["2"] < store["3"] / store["2"]   # ... less to the potency
    assert all(0 < v < ceiling for v in potency.values())
    assert np.allclose(twice.internal["consolidated_potency"],
                       ceiling * store_curve(twice) / (1 + store_curve(twice)))


def store_curve(r):
    return r.internal["consolidation"]


def test_the_store_takes_over_from_the_intermediate_layer_as_it_fills():
    p = ks.default_parameters()
    series = ks.simulate(["ketamine 0.5 mg/kg iv over 40 min every 2 d for 6 doses"], duration="60 d",
                         output_step="6 h", parameters=p)
    i = series.internal
    in_use = i["consolidation"] / (1 + i["consolidation"])
    # the typical subject (sensitivity 1): D = I + (1 - w) P + L, w = C / (1 + C)
    np.testing.assert_allclose(i["antidepressant_drive"],
                               i["immediate_drive"] + (1 - in_use) * i["induced_drive"] + i["consolidated_potency"],
                               rtol=1e-9, atol=1e-12)
    assert in_use.max() > 0.3                        # a six-infusion series fills a sizeable part of the store
    # a month after the last session the intermediate layer is gone and the drug's potency is the store's
    t_last = 10 * 24.0
    late = series.time_h >= t_last + 30 * 24.0
    assert np.all(i["induced_drive"][late] < 1e-3 * i["induced_drive"].max())
    assert np.all(i["antidepressant_drive"][late] > 0.5 * i["consolidated_potency"].max())
    # one infusion leaves the store nearly empty: its intermediate layer counts almost in full
    one = ks.simulate(K, duration="14 d", output_step="1 h", parameters=p)
    assert (one.internal["consolidation"] / (1 + one.internal["consolidation"])).max() < 0.05


def test_a_subject_keeps_its_responder_group():
    p = ks.default_parameters()
    subj = sample_subjects(PopulationSpec(), 400, 3, p)
    share = p.value("bsv.drive_responder_share")
    assert abs(subj["drive_responder"].mean() - share) < 0.08
    assert subj.loc[subj.drive_responder, "drive_scale"].median() > 5 * subj.loc[~subj.drive_responder,
                                                                                   "drive_scale"].median()
    assert subj["drive_scale"].mean() == pytest.approx(1.0, rel=0.2)
    # the same subject and sensitivity at every session: responders to the first infusion respond again
    reg = Regimen.from_text(K, "ketamine 0.5 mg/kg iv over 40 min at 21 d")
    t = population_grid(reg, 23 * 24.0, step_h=1.0)
    pop = simulate_population(reg, subj.iloc[:120], p, get_mechanism("opioid"), t, columns=("madrs",))
    y = pop.outputs["madrs"]
    first = y[np.searchsorted(t, 24.0)] <= 0.5 * y[0]
    second = y[np.searchsorted(t, 22 * 24.0)] <= 0.5 * y[0]
    assert first.sum() > 10
    assert second[first].mean() > 0.8 and second[~first].mean() < 0.3


def test_relapse_times_and_kaplan_meier():
    t = np.arange(0, 101, 1.0) * 24
    base = np.full(4, 30.0)
    y = np.tile(base, (len(t), 1))
    y[10:] = 10.0          # all four respond by day 10
    y[30:, 0] = 20.0       # subject 0 relapses 20 days after response
    y[50:, 1] = 25.0       # subject 1 after 40 days
    y[10:, 3] = 16.0       # subject 3 never reaches response (16 > 15)
    responder, days, relapsed = relapse_times(t, y, 10 * 24.0)
    assert list(responder) == [True, True, True, False]
    assert list(relapsed[:3]) == [True, True, False]
    assert days[0] == 20 and days[1] == 40 and days[2] == 90   # subject 2 censored at the end
    s = relapse_summary(t, y, np.arange(4), 10 * 24.0, at_days=(30, 60))
    assert s.responders == 3 and s.events == 2
    assert np.all(np.diff(s.curve.survival.to_numpy()) <= 1e-12)   # monotone
    assert s.relapsed_by["30 d"] == pytest.approx(1 / 3) and s.relapsed_by["60 d"] == pytest.approx(2 / 3)
    assert s.median_days == 40
