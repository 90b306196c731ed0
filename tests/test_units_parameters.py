"""Units at the boundary (pint) and parameters as sourced data (value, unit, source, evidence, range)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ketasim as ks
from ketasim.citations import bibliography
from ketasim.parameters import EVIDENCE_MEANING, ParameterSet, load_parameter_file
from ketasim.units import (MOLAR_MASSES, Q_, UnitError, convert_parameter_value, mass_to_umol, ng_per_ml_to_um,
                           parse_quantity, to_hours, to_unit, umol_per_l_to_ng_per_ml)

PROPS = settings(max_examples=25, deadline=None)
SPECIES = sorted(MOLAR_MASSES)


# --------------------------------------------------------------------------- units
@pytest.mark.parametrize("species", SPECIES)
def test_mass_to_umol_agrees_with_pint(species):
    mw = MOLAR_MASSES[species].g_per_mol
    for mg in (1.0, 35.0, 237.73):
        expected = (Q_(mg, "mg") / Q_(mw, "g/mol")).to("umol").magnitude
        assert mass_to_umol(mg, species) == pytest.approx(expected, rel=1e-12)
    # one molar mass in mg is one mmol
    assert mass_to_umol(mw, species) == pytest.approx(1000.0, rel=1e-12)


@pytest.mark.parametrize("species", SPECIES)
def test_concentration_conversions_agree_with_pint(species):
    mw = MOLAR_MASSES[species].g_per_mol
    ng_ml = (Q_(1.0, "uM") * Q_(mw, "g/mol")).to("ng/mL").magnitude
    assert umol_per_l_to_ng_per_ml(1.0, species) == pytest.approx(ng_ml, rel=1e-12)
    assert ng_per_ml_to_um(ng_ml, species) == pytest.approx(1.0, rel=1e-12)
    arr = np.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(ng_per_ml_to_um(umol_per_l_to_ng_per_ml(arr, species), species), arr, rtol=1e-12)


@PROPS
@given(x=st.floats(1e-6, 1e6, allow_nan=False, allow_subnormal=False), species=st.sampled_from(SPECIES))
def test_ng_ml_um_round_trip(x, species):
    assert ng_per_ml_to_um(umol_per_l_to_ng_per_ml(x, species), species) == pytest.approx(x, rel=1e-12)
    # heavier molecules: more ng/mL for the same µM
    assert umol_per_l_to_ng_per_ml(x, species) > x


def test_molar_masses_are_plausible_and_sourced():
    bib = bibliography()
    for m in MOLAR_MASSES.values():
        assert 150 < m.g_per_mol < 500
        assert m.source in bib, m.source
    # norketamine is ketamine minus CH2 (14.03 g/mol); naltrexol is naltrexone plus H2 (2.02 g/mol)
    assert MOLAR_MASSES["ketamine"].g_per_mol - MOLAR_MASSES["norketamine"].g_per_mol == pytest.approx(14.03, abs=0.05)
    assert MOLAR_MASSES["naltrexol"].g_per_mol - MOLAR_MASSES["naltrexone"].g_per_mol == pytest.approx(2.02, abs=0.05)


@pytest.mark.parametrize("text, unit, value", [
    ("40 min", "h", 40 / 60), ("7 d", "h", 168.0), ("1 week", "h", 168.0), ("90 s", "min", 1.5),
    ("70 kg", "kg", 70.0), ("154 lb", "kg", 69.853), ("500 ug", "mg", 0.5), ("500 µg", "mg", 0.5),
    ("500 μg", "mg", 0.5), ("5 uM", "nM", 5000.0), ("100 ng/mL", "ug/L", 100.0), ("1 L/h", "mL/min", 1000 / 60),
])
def test_to_unit_converts(text, unit, value):
    assert to_unit(text, unit) == pytest.approx(value, rel=1e-4)


def test_d_is_a_day():
    assert to_hours("1 d") == 24.0
    assert to_hours("3.5 d") == 84.0


@pytest.mark.parametrize("text, words", [
    ("5 parsecs", "expected something convertible to h"),
    ("5 kg", "expected something convertible to h"),
    ("5 frobs", "unknown unit"),
    ("", "empty"),
    ("nan h", "not a number"),
    ("#$%", "cannot read"),
])
def test_bad_time_is_a_unit_error(text, words):
    with pytest.raises(UnitError, match=words):
        to_hours(text, "duration")


@pytest.mark.parametrize("value", [5, 5.0, "5"])
def test_a_number_without_unit_is_an_error(value):
    with pytest.raises(UnitError, match="unit"):
        to_hours(value, "duration")


def test_unit_error_names_what_and_units():
    with pytest.raises(UnitError) as info:
        to_unit("5 kg", "h", "infusion duration")
    msg = str(info.value)
    assert "infusion duration" in msg and "kg" in msg and "h" in msg
    assert isinstance(info.value, ValueError)


def test_parse_quantity_passes_quantities_through():
    q = Q_(3.0, "mg")
    assert parse_quantity(q) is q


def test_convert_parameter_value():
    assert convert_parameter_value(5.0, "min", "h", "k") == pytest.approx(5 / 60)
    assert convert_parameter_value(1000.0, "mL/min", "L/h", "k") == pytest.approx(60.0)
    with pytest.raises(UnitError, match="k"):
        convert_parameter_value(1.0, "mg", "h", "k")
    with pytest.raises(UnitError, match="unknown unit"):
        convert_parameter_value(1.0, "frobs", "h", "k")


# --------------------------------------------------------------------------- default parameters
PARAMS = ks.default_parameters()


def test_default_parameters_load_and_are_many():
    assert len(PARAMS) >= 20
    assert len(set(PARAMS)) == len(PARAMS)
    assert len(PARAMS.sets) >= 2


@pytest.mark.parametrize("key", list(PARAMS))
def test_every_default_parameter_is_sourced_and_sane(key):
    p = PARAMS[key]
    bib = bibliography()
    assert p.key == key
    assert p.source in bib, f"{key}: source {p.source!r} is not in CITATIONS.bib"
    assert p.evidence in EVIDENCE_MEANING, f"{key}: evidence {p.evidence!r}"
    assert p.low <= p.value <= p.high, f"{key}: {p.value} outside [{p.low}, {p.high}]"
    assert math.isfinite(p.value) and math.isfinite(p.low) and math.isfinite(p.high)
    assert math.isfinite(p.internal_value), f"{key}: internal value {p.internal_value}"
    assert PARAMS.value(key) == p.internal_value
    assert p.description.strip(), f"{key}: no description"
    assert p.unit.strip(), f"{key}: no unit"
    # the internal value is the declared value converted by pint, not something else
    assert p.internal_value == pytest.approx(
        Q_(p.value, p.unit.replace("µ", "u")).to_base_units().magnitude
        / Q_(1.0, _internal_unit_of(p.unit)).to_base_units().magnitude, rel=1e-9)
    if p.evidence == "assumed":
        factor_two = p.low > 0 and p.high / p.low >= 2.0
        plus_minus_half = p.low <= 0.5 * p.value and p.high >= 1.5 * p.value
        assert factor_two or plus_minus_half, f"{key}: assumed, but range [{p.low}, {p.high}] is narrow"
    if p.uncertainty_kind in ("lognormal", "loguniform"):
        assert p.low > 0


def _internal_unit_of(unit: str) -> str:
    from ketasim.parameters._parameter_set import internal_unit_for

    return internal_unit_for(unit, "test")


def test_every_cited_source_resolves():
    bib = bibliography()
    missing = [c for c in PARAMS.citations if c not in bib]
    assert not missing
    assert len(bib) >= len(PARAMS.citations)


def test_parameter_table_has_one_row_per_parameter():
    df = PARAMS.to_frame()
    assert list(df.columns) == ["key", "value", "unit", "source", "evidence", "low", "high", "description"]
    assert len(df) == len(PARAMS)
    assert set(df.key) == set(PARAMS)


def test_samples_stay_within_uniform_ranges(rng):
    for _ in range(5):
        s = PARAMS.sample(rng)
        assert set(s) == set(PARAMS)
        for k, p in s.items():
            assert math.isfinite(p.internal_value)
            if p.uncertainty_kind in ("uniform", "loguniform", "fixed"):
                assert p.low - 1e-12 <= p.value <= p.high + 1e-12, k


# --------------------------------------------------------------------------- ParameterSet.replace
def test_replace_returns_a_new_set_and_leaves_the_old_one():
    old_value = PARAMS["ketamine.CL"].value
    new = PARAMS.replace(**{"ketamine.CL": 100.0})
    assert new is not PARAMS
    assert isinstance(new, ParameterSet)
    assert new["ketamine.CL"].value == 100.0
    assert new.value("ketamine.CL") == pytest.approx(100.0)
    assert PARAMS["ketamine.CL"].value == old_value
    assert new.content_hash() != PARAMS.content_hash()
    for k in PARAMS:
        if k != "ketamine.CL":
            assert new[k] == PARAMS[k]


def test_replace_converts_to_the_internal_unit():
    # the device interval is declared in minutes; internally everything is hours
    key = "route.esketamine_device_interval"
    assert PARAMS[key].unit == "min"
    new = PARAMS.replace_many({key: 12.0})
    assert new.value(key) == pytest.approx(0.2)


def test_replace_is_strict():
    with pytest.raises(KeyError, match="ketamine.cl"):
        PARAMS.replace(**{"ketamine.cl": 1.0})
    with pytest.raises(KeyError):
        PARAMS.replace_many({"no.such.key": 1.0})
    with pytest.raises(ValueError, match="finite"):
        PARAMS.replace(**{"ketamine.CL": float("nan")})
    with pytest.raises(KeyError):
        PARAMS["no.such.key"]


def test_sets_cannot_overlap():
    with pytest.raises(KeyError, match="overlap"):
        PARAMS | PARAMS


# --------------------------------------------------------------------------- parameter files
GOOD = """
[set]
name = "test_set"
description = "a test set"
applies_to = "tests"
citations = ["Clements1981"]

[parameters."x.CL"]
value = 80.0
unit = "mL/min"
source = "Clements1981"
evidence = "estimate"
range = [60.0, 100.0]
description = "a clearance"
"""


def _write(tmp_path, text, name="set.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_with_conversion(tmp_path):
    ps = load_parameter_file(_write(tmp_path, GOOD))
    assert list(ps) == ["x.CL"]
    assert ps["x.CL"].value == 80.0
    assert ps.value("x.CL") == pytest.approx(4.8)  # 80 mL/min = 4.8 L/h
    assert ps.sets == ("test_set",)


@pytest.mark.parametrize("change, error, words", [
    (('description = "a clearance"', 'description = "a clearance"\ncolour = "red"'), ValueError, ["colour"]),
    (('[set]', '[bogus]\nx = 1\n\n[set]'), ValueError, ["bogus"]),
    (("value = 80.0", "value = 800.0"), ValueError, ["800", "range"]),
    (("value = 80.0", "value = 10.0"), ValueError, ["10", "range"]),
    (("value = 80.0", "value = nan"), ValueError, ["nan"]),
    (("value = 80.0", 'value = "fast"'), ValueError, ["value"]),
    (('evidence = "estimate"', 'evidence = "guess"'), ValueError, ["guess"]),
    (('unit = "mL/min"', 'unit = "frobs"'), UnitError, ["x.CL", "frobs"]),
    (('unit = "mL/min"', 'unit = "parsec"'), UnitError, ["x.CL", "parsec"]),
    (('unit = "mL/min"', 'unit = "mL/"'), UnitError, ["x.CL", "mL/"]),
    (('unit = "mL/min"', 'unit = "mg/"'), UnitError, ["x.CL", "mg/"]),
    (('name = "test_set"\n', ""), ValueError, ["name"]),
    (("name = ", "name : "), ValueError, ["set.toml"]),
    (("range = [60.0, 100.0]", 'range = [60.0, 100.0]\ndistribution = "cauchy"'), ValueError, ["cauchy"]),
    (("range = [60.0, 100.0]", "range = [0.0, 100.0]\ndistribution = \"lognormal\""), ValueError, ["positive"]),
    (("range = [60.0, 100.0]", "range = [60.0, inf]"), ValueError, ["x.CL", "finite"]),
    (("value = 80.0", "value = inf"), ValueError, ["x.CL", "finite"]),
])
def test_malformed_parameter_files_are_clear_errors(tmp_path, change, error, words):
    old, new = change
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(error) as info:
        load_parameter_file(path)
    msg = str(info.value)
    for w in words:
        assert w in msg, msg


def test_missing_parameter_file_is_an_error(tmp_path):
    with pytest.raises((FileNotFoundError, ValueError)):
        load_parameter_file(tmp_path / "absent.toml")
