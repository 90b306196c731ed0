"""Compounds: the file format and its errors, the library's sources and checks, the model variant (mechanism,
compounds present), dissociation from trapping, extended-release naltrexone, the profile and the design."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import ketasim as ks
from ketasim.compounds import (CompoundError, CompoundVariant, compound_from_text, get_compound, library_names,
                               with_compounds)
from ketasim.mechanisms import get_mechanism
from ketasim.regimens import Regimen, RegimenError, ValidatedRangeWarning

MINIMAL = (Path(__file__).parent / "testblocker_compound.yaml").read_text()


def _cli(*args):
    from ketasim.cli.main import app

    return CliRunner().invoke(app, list(args), terminal_width=200)


# ---------------------------------------------------------------------------------------------- the file format
@pytest.mark.parametrize("edit, field, words", [
    (("Ki: {value: 1, unit: uM", "Ki: {value: -1, unit: uM"), "receptors.nmda", "Ki must be positive"),
    (("Ki: {value: 1, unit: uM, ", "Ki: {value: 1, "), "receptors.nmda.Ki", "has no unit"),
    (("    receptors:\n", "    receptors:\n      sigma1: {Ki: {value: 1, unit: uM, source: assumed, range: [1, 2]}}\n"),
     "receptors", "unknown receptor 'sigma1'"),
    (("name: testblocker\n", "name: testblocker\ncolour: blue\n"), "", "unknown key 'colour'"),
    (("Ki: {value: 1, unit: uM, source: assumed, range: [0.5, 2]}", "Ki: {value: 1, unit: uM, source: Nobody2099}"),
     "receptors.nmda.Ki", "no citation key"),
    (("Ki: {value: 1, unit: uM, source: assumed, range: [0.5, 2]}", "Ki: {value: 1, unit: uM, source: assumed}"),
     "receptors.nmda.Ki", "give a range"),
    (("Ki: {value: 1, unit: uM", "Ki: {value: 1, unit: mg"), "receptors.nmda.Ki", "not a concentration"),
    (("half_life: {value: 6, unit: h", "half_life: {value: 6, unit: L"), "half_life", "not a time"),
])
def test_a_bad_compound_file_is_one_line_naming_the_field(edit, field, words):
    text = MINIMAL.replace(*edit)
    assert text != MINIMAL
    with pytest.raises(CompoundError) as err:
        compound_from_text(text, "compound file bad.yaml")
    msg = str(err.value)
    assert "\n" not in msg and words in msg and field in msg, msg
    assert "Input should" not in msg and "Value error" not in msg


def test_the_cli_reports_a_bad_file_in_one_line_with_status_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("Ki: {value: 1, unit: uM", "Ki: {value: -1, unit: uM"))
    r = _cli("compound", str(bad), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2
    lines = [x for x in r.output.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "Ki must be positive" in lines[0] and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_a_user_compound_becomes_a_drug_of_the_regimen_language():
    c = compound_from_text(MINIMAL, "test")
    reg = Regimen.from_text("testblocker 50 mg oral", "ketamine 0.5 mg/kg iv over 40 min at 1 d")
    assert reg.drugs() == {"testblocker", "ketamine"}
    with pytest.raises(RegimenError, match="testblocker by sublingual is not modelled"):
        Regimen.from_text("testblocker 50 mg sublingual")
    with pytest.raises(RegimenError, match="far beyond"):
        Regimen.from_text("testblocker 900 mg oral").check_validated_range(70)
    with pytest.warns(ValidatedRangeWarning):
        Regimen.from_text("testblocker 5 mg oral").check_validated_range(70)
    mech = with_compounds(get_mechanism("glutamate"), reg)
    assert isinstance(mech, CompoundVariant) and mech.compounds == (c,) and mech.label() == "glutamate"
    assert pickle.loads(pickle.dumps(mech)) == mech   # travels to a Dask worker


# ---------------------------------------------------------------------------------------------- the library
def test_every_library_number_has_unit_source_and_range():
    from ketasim.citations import bibliography

    keys = set(bibliography())
    for name in library_names():
        c = get_compound(name)
        for key, p in c.parameters().items():
            assert p.unit and p.source in keys, (name, key, p.source)
            assert p.low <= p.value <= p.high, (name, key)
            assert p.evidence != "assumed" or p.high > p.low, (name, key)   # an assumption carries a range
        for chk in c.spec.checks:
            assert chk.observed.source in keys, (name, chk.observed.source)


def test_the_library_has_the_compounds_the_tools_promise():
    wanted = {"ketamine", "esketamine", "arketamine", "hnk", "lanicemine", "memantine", "dextromethorphan",
              "dextromethorphan_bupropion", "esmethadone", "buprenorphine", "buprenorphine_samidorphan",
              "naltrexone", "midazolam"}
    assert wanted <= set(library_names())


@pytest.mark.parametrize("name", library_names())
def test_every_library_compound_simulates_its_own_regimen(name):
    from ketasim.compounds.profile import default_regimen

    c = get_compound(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ValidatedRangeWarning)
        r = ks.simulate(default_regimen(c), duration="1 d", output_step="30 min", hypothesis="glutamate")
    for col, y in r.outputs.items():
        assert np.all(np.isfinite(y)), (name, col)
    plasma = [c for c in r.outputs if c.endswith("_ng_ml")]
    assert max(float(np.max(r.outputs[p])) for p in plasma) > 0


@pytest.mark.validation
def test_every_library_compound_with_checks_reproduces_a_published_pk_number():
    from ketasim.compounds.checks import run_checks

    without = []
    for name in library_names():
        c = get_compound(name)
        if not c.spec.checks:
            without.append(name)
            continue
        rows = run_checks(c)
        assert any(r["pass"] for r in rows), (name, [(r["quantity"], r["observed"], r["model"]) for r in rows])
    # the one gap, said in its file: no published plasma number of infused (2R,6R)-HNK was available
    assert without == ["hnk"]


# ---------------------------------------------------------------------------------------------- the model variant
def test_without_compounds_the_extension_inputs_are_zero_and_the_mechanism_is_unwrapped():
    reg = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min")
    mech = get_mechanism("opioid")
    assert with_compounds(mech, reg) is mech
    r = ks.simulate(reg, duration="6 h", hypothesis="opioid")
    for name in ("nmda_extra_ratio", "nmda_extra_dissociative_ratio", "mor_extra_ratio", "mor_extra_stimulus",
                 "kor_extra_ratio", "ampa_extra_ratio"):
        assert np.all(r.internal[name] == 0.0), name
    assert "compound_liking" not in r.outputs


def test_a_compound_occupies_nmda_and_its_mass_balances():
    r = ks.simulate("lanicemine 100 mg iv over 60 min", duration="3 d", hypothesis="null", output_step="30 min")
    assert float(np.max(r.outputs["nmda_occupancy"])) > 0.3
    assert float(np.max(r.outputs["mor_occupancy"])) == 0.0
    names = r.state_names
    total = r.states[-1, [i for i, n in enumerate(names) if n.startswith("lanicemine.")]].sum()
    assert total == pytest.approx(100.0 * 1000 / 198.27, rel=1e-9)


def test_first_pass_metabolite_and_mass_balance_of_an_oral_two_species_compound():
    r = ks.simulate("dextromethorphan 30 mg oral", duration="2 d", hypothesis="null", output_step="30 min")
    assert float(np.max(r.outputs["dextrorphan_ng_ml"])) > float(np.max(r.outputs["dextromethorphan_ng_ml"]))
    names = r.state_names
    total = r.states[-1, [i for i, n in enumerate(names) if n.startswith(("dextromethorphan.", "dextrorphan."))]]
    # every µmol of dextromethorphan base dosed is in the body, eliminated or converted (same molecule count)
    assert total.sum() == pytest.approx(30 * 0.733 * 1000 / 271.40, rel=1e-9)


def test_an_antagonist_removes_the_mor_agonist_signal_of_buprenorphine():
    bup = ks.simulate("buprenorphine 2 mg sublingual", duration="12 h", hypothesis="null")
    both = ks.simulate("buprenorphine_samidorphan 2 mg sublingual", duration="12 h", hypothesis="null")
    assert float(np.max(bup.outputs["mor_agonist_signal"])) > 1.05
    after = both.time_h >= 0.5     # the signal starts at the endogenous tone (1.0) before the dose absorbs
    assert float(np.max(both.outputs["mor_agonist_signal"][after])) < 0.5    # samidorphan blocks even the tone
    assert float(np.max(both.outputs["mor_occupancy"])) > float(np.max(bup.outputs["mor_occupancy"]))
    assert float(np.max(both.outputs["compound_liking"])) < float(np.max(bup.outputs["compound_liking"]))


def test_the_fast_population_path_agrees_with_the_reference_for_a_compound():
    from ketasim.population import PopulationSpec, population_grid, sample_subjects, simulate_population
    from ketasim.population._simulate import _simulate_chunk_reference

    p = ks.default_parameters()
    reg = Regimen.from_text("lanicemine 100 mg iv over 60 min", "naltrexone 50 mg oral at -45 min")
    t = population_grid(reg, 48.0)
    subj = sample_subjects(PopulationSpec(), 3, 5, p)
    mech = get_mechanism("opioid")
    cols = ("lanicemine_ng_ml", "nmda_occupancy", "cadss", "compound_liking", "mor_occupancy", "madrs")
    fast = simulate_population(reg, subj, p, mech, t, columns=cols)
    ref = _simulate_chunk_reference(reg, subj, p, mech, t, columns=cols)
    for c in cols:
        np.testing.assert_allclose(fast.outputs[c], ref[c], rtol=1e-7, atol=1e-9, err_msg=c)


# ---------------------------------------------------------------------------------------------- dissociation
def test_trapping_sets_the_dissociative_weight():
    from ketasim.compounds import trapped_block_weight

    assert trapped_block_weight(0.86, 0.86, 0.05) == pytest.approx(1.0)
    w = [trapped_block_weight(t, 0.86, 0.05) for t in (0.2, 0.54, 0.83, 0.95)]
    assert w == sorted(w) and w[1] < 0.3 < w[2]


def test_lanicemine_dissociates_under_30_percent_of_ketamine_at_equal_nmda_occupancy():
    from ketasim.compounds.profile import equal_exposure

    c = get_compound("lanicemine")
    eq = equal_exposure(c, Regimen.from_text("lanicemine 100 mg iv over 60 min"))
    assert eq["nmda_occupancy_peak"] == pytest.approx(eq["reference_nmda_occupancy_peak"], rel=1e-4)
    assert eq["below_limit"] and eq["cadss_ratio"] < 0.30


def test_a_high_trapping_blocker_says_which_trapping_would_be_needed():
    from ketasim.compounds.profile import equal_exposure

    c = get_compound("memantine")
    eq = equal_exposure(c, Regimen.from_text("memantine 20 mg oral"))
    assert not eq["below_limit"] and eq["trapping_needed"] < eq["trapping"]
    assert "needs trapping <=" in eq["needed"]


# ---------------------------------------------------------------------------------------------- 6beta-naltrexol's brain access
def _ntx5(**values):
    return ks.simulate("naltrexone 5 mg oral", duration="2 d", hypothesis="null",
                       parameters=ks.default_parameters().replace(**values))


def test_without_brain_access_naltrexol_adds_nothing_to_the_occupancy_of_oral_naltrexone():
    # access 0 with the metabolite formed == full access with no metabolite at all (naltrexone's PK is the same)
    no_access = _ntx5(**{"biophase.naltrexol_brain_fraction": 0.0})
    no_metabolite = _ntx5(**{"biophase.naltrexol_brain_fraction": 1.0, "naltrexol.fm": 0.0})
    assert float(np.max(no_access.outputs["naltrexol_ng_ml"])) > 1.0   # the metabolite is there in plasma
    np.testing.assert_allclose(no_access.outputs["mor_occupancy"], no_metabolite.outputs["mor_occupancy"],
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(no_access.outputs["kor_occupancy"], no_metabolite.outputs["kor_occupancy"],
                               rtol=1e-9, atol=1e-12)
    default = _ntx5()
    assert float(np.max(default.outputs["mor_occupancy"])) > float(np.max(no_access.outputs["mor_occupancy"])) + 0.02


def test_naltrexols_share_of_the_mor_antagonist_ratio_scales_with_its_access_and_its_plasma_does_not():
    ratio = {f: _ntx5(**{"biophase.naltrexol_brain_fraction": f}) for f in (0.0, 0.1, 0.2)}
    naltrexol_share = {f: ratio[f].internal["mor_antagonist_ratio"] - ratio[0.0].internal["mor_antagonist_ratio"]
                       for f in (0.1, 0.2)}
    assert float(np.max(naltrexol_share[0.1])) > 0.01
    np.testing.assert_allclose(naltrexol_share[0.2], 2.0 * naltrexol_share[0.1], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(ratio[0.2].outputs["naltrexol_ng_ml"], ratio[0.1].outputs["naltrexol_ng_ml"],
                               rtol=1e-12)


# ---------------------------------------------------------------------------------------------- naltrexone XR and midazolam
@pytest.fixture(scope="module")
def xr():
    return ks.simulate("naltrexone 380 mg im", duration="35 d", output_step="15 min", hypothesis="null")


def test_extended_release_naltrexone_has_the_labels_two_peaks_and_half_life(xr):
    t, c = xr.time_h, xr.outputs["naltrexone_ng_ml"]
    first = t[t <= 12][np.argmax(c[t <= 12])]
    later = (t >= 24) & (t <= 14 * 24)
    second = t[later][np.argmax(c[later])]
    assert 1.0 <= first <= 3.0          # "approximately 2 hours after injection"
    assert 48.0 <= second <= 72.0       # "a second peak approximately 2-3 days later"
    m = (t >= 14 * 24) & (t <= 35 * 24)
    half_life_d = np.log(2) / -np.polyfit(t[m], np.log(c[m]), 1)[0] / 24
    assert 5.0 <= half_life_d <= 10.0   # "elimination half-life 5-10 days"


def test_extended_release_naltrexone_blocks_mor_from_day_1_to_day_21(xr):
    # the burst reaches the brain within hours (occupancy about 0.64 at 1 h, 0.84 at 6 h)
    m = (xr.time_h >= 24.0) & (xr.time_h <= 21 * 24)
    assert float(np.min(xr.outputs["mor_occupancy"][m])) >= 0.80
    assert float(np.max(xr.outputs["mor_occupancy"])) < 0.99


def test_extended_release_naltrexone_exposure_is_3_to_4_fold_that_of_50_mg_oral_daily(xr):
    # label: "total naltrexone exposure is 3- to 4-fold higher" than 50 mg oral daily over 28 days (AUC28)
    oral = ks.simulate("naltrexone 50 mg oral every 1 d for 28 doses", duration="28 d", output_step="15 min",
                       hypothesis="null")
    m = xr.time_h <= 28 * 24
    ratio = (np.trapezoid(xr.outputs["naltrexone_ng_ml"][m], xr.time_h[m])
             / np.trapezoid(oral.outputs["naltrexone_ng_ml"], oral.time_h))
    assert 3.0 <= ratio <= 4.0


@pytest.mark.xfail(strict=True, reason="with the label's 3-4-fold exposure (oral F 0.075, CL 60 L/h), XR release "
                   "half-time 8 d (label 5-10, Dunbar 2006 5-7) and the brain model fitted to oral PET (Rabiner 2011 "
                   "2-50 mg, Lee 1988; 6beta-naltrexol's brain access 0.4, the top of its range), occupancy is 0.86 "
                   "at day 21 but 0.81 at day 25 and 0.77 at day 28 (was 0.74 before naltrexol's brain access was "
                   "modelled; ketasim validate: vivitrol_mor_occupancy_4_weeks)")
def test_extended_release_naltrexone_blocks_mor_for_four_weeks(xr):
    m = (xr.time_h >= 24.0) & (xr.time_h <= 28 * 24)
    assert float(np.min(xr.outputs["mor_occupancy"][m])) >= 0.80


def test_midazolam_sedates_and_carries_the_active_placebo_session():
    r = ks.simulate("midazolam 0.045 mg/kg iv over 40 min", duration="1 d", hypothesis="glutamate")
    assert 0.05 < float(np.max(r.outputs["sedation"])) < 0.9
    assert float(np.max(r.outputs["cadss"])) == 0.0 and float(np.max(r.outputs["nmda_occupancy"])) == 0.0
    pl = ks.simulate("placebo 0 mg iv over 40 min", duration="1 d", hypothesis="glutamate")
    np.testing.assert_allclose(np.interp(pl.time_h, r.time_h, r.outputs["madrs"]), pl.outputs["madrs"], atol=1e-9)


def test_the_midazolam_controlled_trials_dose_midazolam():
    from ketasim.trials import load_trial

    for name in ("murrough2013", "fava2018"):
        assert load_trial(name).arms["midazolam"].doses == ["midazolam 0.045 mg/kg iv over 40 min"]


# ---------------------------------------------------------------------------------------------- profile, design, CLI
def test_params_compound_lists_the_files_numbers():
    r = _cli("params", "--compound", "lanicemine", "--format", "csv")
    assert r.exit_code == 0, r.output
    assert "lanicemine.nmda.trapping" in r.output and "AZOpenInnovationLanicemine" in r.output
    r = _cli("params", "--compound", "ketamine", "--format", "csv")
    assert r.exit_code == 0 and "nmda.Ki_S_ketamine" in r.output and "mood.Rmax" not in r.output


def test_the_profile_writes_its_files_and_compares_with_ketamine(tmp_path):
    import json

    r = _cli("compound", "lanicemine", "--duration", "3 d", "--out", str(tmp_path / "p"), "--quiet")
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert (tmp_path / "p" / "profile.png").stat().st_size > 10_000
    hyps = doc["hypotheses"]
    assert set(hyps) >= {"glutamate", "null", "opioid[hnk_mor]"}
    assert hyps["null"]["compound"]["madrs_vs_placebo_end"] == pytest.approx(0.0, abs=1e-9)
    assert hyps["glutamate"]["compound"]["cadss_peak"] < 0.3 * hyps["glutamate"]["ketamine"]["cadss_peak"]
    assert doc["equal_nmda_occupancy"]["below_limit"] and "only as good as the hypothesis" in doc["note"]


def test_a_small_design_finds_fronts_and_says_what_they_share(tmp_path):
    from ketasim import services

    doc = services.compound_design(population=8, generations=2, hypothesis="glutamate,null")
    assert set(doc["hypotheses"]) == {"glutamate", "null", "robust"}
    g = doc["hypotheses"]["glutamate"]
    assert g["front"] and all(r["cadss_peak"] <= 4.0 + 1e-9 for r in g["front"] if r["liking_peak"] <= 20)
    assert "beats placebo" in doc["hypotheses"]["null"]["summary"]["text"]
    services.write_compound_design(doc, tmp_path / "d")
    assert (tmp_path / "d" / "front.csv").exists() and (tmp_path / "d" / "design.png").exists()
    assert "only as good as the hypothesis" in doc["note"]


# ---------------------------------------------------------------------------------------------- trials as evidence
def test_exposure_response_analyses_are_scored():
    from ketasim.trials import load_trial, run_trial
    from ketasim.trials._scoring import _loglik_terms

    res = run_trial(load_trial("grunebaum2019"), "glutamate", replicates=3, seed=1, keep_timecourses=False)
    rows = res.exposure_summary()
    assert [r["name"] for r in rows] == ["hnk_vs_change_24h", "ketamine_vs_change_24h"]
    assert all(-1 <= r["r"] <= 1 for r in rows)
    terms = _loglik_terms(res, False)
    assert len(terms) == 2 and all(np.isfinite(t["loglik"]) for t in terms)


def test_hypothesis_scores_report_each_body_of_evidence():
    from ketasim.trials import load_trial, score_hypotheses, scores_to_json

    cfgs = [load_trial("rapastinel2019"), load_trial("grunebaum2019")]
    scores = score_hypotheses(cfgs, variants=[("glutamate", None), ("null", None)], replicates=3, bootstrap=5)
    doc = scores_to_json(scores, cfgs, 3, 1)
    assert doc["evidence_groups"]["compound"] == ["rapastinel2019"]
    assert doc["evidence_groups"]["exposure"] == ["grunebaum2019"]
    for r in doc["ranking"]:
        assert sum(r["by_evidence"].values()) == pytest.approx(r["loglik"], abs=1e-3)
