"""The regimen text language (design.md §3): parse_dose, Dose, Regimen, validated-range checks."""

import math
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketasim.regimens import (DRUGS, ROUTES, Dose, Regimen, RegimenError, ValidatedRangeWarning,
                              parse_dose)
from ketasim.regimens._regimen import DRUG_ROUTES, HARD_LIMIT_MG, HARD_LIMIT_RATE_MG_H, VALIDATED_MG, _dose_range
from ketasim.units import UnitError

ACTIVE_DRUGS = ("ketamine", "esketamine", "arketamine", "naltrexone")  # design.md §3 (more may be added)
PROPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- design.md examples
@pytest.mark.parametrize("text, expected", [
    ("ketamine 0.5 mg/kg iv over 40 min",
     dict(drug="ketamine", amount=0.5, amount_unit="mg/kg", route="iv", time_h=0.0, duration_h=40 / 60,
          every_h=0.0, count=1)),
    ("naltrexone 50 mg oral at -45 min",
     dict(drug="naltrexone", amount=50.0, amount_unit="mg", route="oral", time_h=-0.75, duration_h=0.0,
          every_h=0.0, count=1)),
    ("esketamine 56 mg intranasal every 3.5 d for 8 doses",
     dict(drug="esketamine", amount=56.0, amount_unit="mg", route="intranasal", time_h=0.0, duration_h=0.0,
          every_h=84.0, count=8)),
    ("ketamine 100 mg intranasal at 2 h",
     dict(drug="ketamine", amount=100.0, amount_unit="mg", route="intranasal", time_h=2.0, duration_h=0.0,
          every_h=0.0, count=1)),
])
def test_design_examples_parse_to_the_right_dose(text, expected):
    d = parse_dose(text)
    for field, value in expected.items():
        got = getattr(d, field)
        if isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-12, abs=1e-15), field
        else:
            assert got == value, field


@pytest.mark.parametrize("text, amount, unit", [
    ("ketamine 500 ug/kg iv", 0.5, "mg/kg"),
    ("ketamine 500 µg/kg iv", 0.5, "mg/kg"),
    ("ketamine 0.25 g oral", 250.0, "mg"),
    ("ketamine 25000 ug sublingual", 25.0, "mg"),
    ("arketamine 1 mg/g im", 1000.0, "mg/kg"),
])
def test_amounts_are_converted_to_mg_or_mg_per_kg(text, amount, unit):
    d = parse_dose(text)
    assert d.amount_unit == unit
    assert d.amount == pytest.approx(amount, rel=1e-12)


@pytest.mark.parametrize("text, route", [
    ("ketamine 10 mg po", "oral"), ("ketamine 10 mg IN", "intranasal"), ("ketamine 10 mg sl", "sublingual"),
    ("ketamine 10 mg intravenous", "iv"), ("ketamine 10 mg intramuscular", "im"),
    ("KETAMINE 10 mg IV", "iv"),
])
def test_route_aliases_and_case(text, route):
    d = parse_dose(text)
    assert d.route == route
    assert d.drug == "ketamine"


def test_time_units_are_converted_to_hours():
    assert parse_dose("ketamine 10 mg iv at 90 min").time_h == pytest.approx(1.5)
    assert parse_dose("ketamine 10 mg iv at 1 d").time_h == pytest.approx(24.0)
    assert parse_dose("ketamine 10 mg iv at 1 week").time_h == pytest.approx(168.0)
    assert parse_dose("ketamine 10 mg iv over 2 h").duration_h == pytest.approx(2.0)
    d = parse_dose("ketamine 10 mg iv over 30 min at 1 h every 12 h for 3 doses")
    assert (d.duration_h, d.time_h, d.every_h, d.count) == pytest.approx((0.5, 1.0, 12.0, 3))


# --------------------------------------------------------------------------- round trip
@st.composite
def valid_doses(draw):
    drug = draw(st.sampled_from(DRUGS))
    route = draw(st.sampled_from(DRUG_ROUTES[drug]))
    unit = draw(st.sampled_from(("mg", "mg/kg")))
    nice = st.one_of(st.integers(1, 400).map(float), st.integers(1, 4000).map(lambda i: i / 100))
    amount = draw(st.one_of(nice, st.floats(1e-3, 1e3, allow_nan=False, allow_subnormal=False)))
    time_choices = st.one_of(
        st.just(0.0),
        st.integers(-600, 600).map(lambda m: m / 60),          # whole minutes
        st.integers(-60, 60).map(lambda d: d * 24 / 2),        # half days
        st.floats(-200, 200, allow_nan=False, allow_subnormal=False),
    )
    time_h = draw(time_choices)
    duration_h = 0.0
    if route == "iv" and draw(st.booleans()):
        duration_h = draw(st.one_of(st.integers(1, 240).map(lambda m: m / 60),
                                    st.floats(0.01, 48, allow_nan=False, allow_subnormal=False)))
    count, every_h = 1, 0.0
    if draw(st.booleans()):
        count = draw(st.integers(2, 12))
        every_h = draw(st.one_of(st.sampled_from([6.0, 12.0, 24.0, 84.0, 168.0]),
                                 st.floats(max(duration_h, 0.01), 200, allow_nan=False, allow_subnormal=False)))
        every_h = max(every_h, duration_h)
    return Dose(time_h=time_h, drug=drug, amount=amount, amount_unit=unit, route=route,
                duration_h=duration_h, every_h=every_h, count=count)


@PROPS
@given(valid_doses())
def test_to_text_round_trips(d):
    text = d.to_text()
    assert parse_dose(text) == d, text


@PROPS
@given(valid_doses())
def test_regimen_to_text_round_trips(d):
    reg = Regimen((d, parse_dose("naltrexone 50 mg oral at -45 min")))
    assert Regimen.from_text(*reg.to_text()) == reg


# --------------------------------------------------------------------------- realize / Regimen
@PROPS
@given(n=st.integers(1, 30), every_h=st.sampled_from([1.0, 6.0, 12.0, 24.0, 84.0]),
       amount=st.integers(1, 100), start_h=st.integers(-48, 48))
def test_realize_expands_repeats(n, every_h, amount, start_h):
    text = f"ketamine {amount} mg im at {start_h} h"
    if n > 1:
        text += f" every {every_h:g} h for {n} doses"
    reg = Regimen.from_text(text)
    single = reg.realize()
    assert len(single) == n
    assert all(x.count == 1 and x.every_h == 0 for x in single)
    assert sum(x.amount_mg(None) for x in single) == pytest.approx(n * amount)
    times = [x.time_h for x in single]
    assert times == pytest.approx([start_h + i * every_h for i in range(n)])
    assert reg.last_time_h() == pytest.approx(start_h + (n - 1) * every_h)


def test_design_repeat_example_total_mg():
    reg = Regimen.from_text("esketamine 56 mg intranasal every 3.5 d for 8 doses")
    doses = reg.realize()
    assert sum(d.amount_mg(None) for d in doses) == pytest.approx(8 * 56)
    assert [d.time_h for d in doses] == pytest.approx([84.0 * i for i in range(8)])


def test_mg_per_kg_scales_with_weight():
    d = parse_dose("ketamine 0.5 mg/kg iv over 40 min")
    assert d.amount_mg(70.0) == pytest.approx(35.0)
    assert d.amount_mg(100.0) == pytest.approx(50.0)
    assert parse_dose("ketamine 35 mg iv").amount_mg(None) == 35.0  # mg needs no weight


def test_regimen_is_sorted_joined_and_shifted():
    a = Regimen.from_text("ketamine 10 mg iv at 2 h")
    b = Regimen.from_text("naltrexone 50 mg oral at -45 min")
    joined = a + b
    assert [d.time_h for d in joined.doses] == sorted(d.time_h for d in joined.doses)
    assert joined.first_time_h() == pytest.approx(-0.75)
    assert joined.drugs() == {"ketamine", "naltrexone"}
    assert (b + a) == joined
    shifted = joined.shift(3.0)
    assert [d.time_h for d in shifted.doses] == pytest.approx([2.25, 5.0])
    assert joined.first_time_h() == pytest.approx(-0.75)  # immutable
    assert Regimen.none().realize() == ()


def test_negative_times():
    d = parse_dose("naltrexone 50 mg oral at -45 min")
    assert d.time_h == pytest.approx(-0.75)
    d = parse_dose("ketamine 10 mg iv at -2 d every 1 d for 3 doses")
    assert [x.time_h for x in d.realize()] == pytest.approx([-48.0, -24.0, 0.0])
    assert parse_dose("ketamine 10 mg iv at -0").time_h == 0.0


def test_doses_are_immutable():
    d = parse_dose("ketamine 10 mg iv")
    with pytest.raises(AttributeError):
        d.amount = 20.0  # type: ignore[misc]


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("text, error, words", [
    ("ketamine -5 mg iv", RegimenError, ["positive"]),
    ("ketamine 0 mg iv", RegimenError, ["positive"]),
    ("ketamine nan mg iv", RegimenError, ["finite"]),
    ("ketamine NaN mg iv", RegimenError, ["finite"]),
    ("ketamine inf mg iv", RegimenError, ["finite"]),
    ("ketamine five mg iv", RegimenError, ["number"]),
    ("cocaine 5 mg iv", RegimenError, ["unknown drug", "cocaine"]),
    ("ketamine 5 mg rectal", RegimenError, ["unknown route", "rectal"]),
    ("ketamine 5 parsecs iv", UnitError, ["not a mass"]),
    ("ketamine 5 mL iv", UnitError, ["not a mass"]),
    ("ketamine 5 mg/L iv", UnitError, ["not a mass"]),
    ("ketamine 5 frobs iv", UnitError, ["unknown unit"]),
    ("ketamine 5 mg oral over 10 min", RegimenError, ["iv only"]),
    ("ketamine 5 mg intranasal over 10 min", RegimenError, ["iv only"]),
    ("ketamine 5 mg iv over -5 min", RegimenError, ["negative"]),
    ("ketamine 5 mg iv over 5 kg", UnitError, ["infusion duration"]),
    ("ketamine 5 mg iv at 5 parsecs", UnitError, ["dose time"]),
    ("ketamine 5 mg iv every 1 h for 0 doses", RegimenError, ["number of doses"]),
    ("ketamine 5 mg iv every 1 h for -3 doses", RegimenError, ["number of doses"]),
    ("ketamine 5 mg iv every 1 h for 2.5 doses", RegimenError, ["whole number"]),
    ("ketamine 5 mg iv every 0 h for 3 doses", RegimenError, ["interval"]),
    ("ketamine 5 mg iv over 2 h every 1 h for 3 doses", RegimenError, ["interval"]),
    ("ketamine 5 mg iv every 1 d for 5000 doses", RegimenError, ["number of doses"]),
    ("ketamine 5 mg iv at 2 yr", RegimenError, ["one year"]),
    ("ketamine 5 mg iv over 20 d", RegimenError, ["14-day"]),
    ("naltrexone 50 mg iv", RegimenError, ["naltrexone", "oral"]),
    ("hello world", RegimenError, ["cannot read"]),
    ("ketamine", RegimenError, ["cannot read"]),
    ("ketamine 5 mg iv at 1 h at 2 h", RegimenError, ["cannot read"]),
    ("", RegimenError, ["empty"]),
    ("   ", RegimenError, ["empty"]),
])
def test_bad_dose_text_is_a_precise_error(text, error, words):
    with pytest.raises(error) as info:
        parse_dose(text)
    msg = str(info.value)
    for w in words:
        assert w.lower() in msg.lower(), msg
    # both error types are ValueErrors, so adapters can catch one class
    assert isinstance(info.value, ValueError)


def test_non_string_dose_text_is_an_error():
    with pytest.raises(RegimenError):
        parse_dose(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs, words", [
    (dict(drug="cocaine"), "unknown drug"),
    (dict(route="rectal"), "unknown route"),
    (dict(amount=-1.0), "positive"),
    (dict(amount=0.0), "positive"),
    (dict(amount=float("nan")), "finite"),
    (dict(amount=float("inf")), "finite"),
    (dict(time_h=float("nan")), "finite"),
    (dict(amount_unit="mL"), "unit"),
    (dict(route="oral", duration_h=1.0), "iv only"),
    (dict(count=0), "number of doses"),
    (dict(count=2, every_h=0.0), "interval"),
    (dict(count=2.0, every_h=1.0), "number of doses"),
])
def test_dose_constructor_validates(kwargs, words):
    base = dict(time_h=0.0, drug="ketamine", amount=10.0, amount_unit="mg", route="iv")
    base.update(kwargs)
    with pytest.raises(RegimenError, match=words):
        Dose(**base)


def test_mg_per_kg_without_weight_is_an_error():
    d = parse_dose("ketamine 0.5 mg/kg iv")
    with pytest.raises(RegimenError, match="body weight"):
        d.amount_mg(None)
    with pytest.raises(RegimenError, match="body weight"):
        Regimen((d,)).check_validated_range(None)


def test_every_drug_and_route_is_known():
    assert set(DRUGS) >= set(ACTIVE_DRUGS)
    assert set(ROUTES) == {"iv", "im", "intranasal", "oral", "sublingual"}
    assert set(VALIDATED_MG) >= set(ACTIVE_DRUGS) and set(HARD_LIMIT_MG) >= set(ACTIVE_DRUGS)
    for drug in DRUGS:
        for route in DRUG_ROUTES[drug]:
            assert parse_dose(f"{drug} 10 mg {route}").route == route


# --------------------------------------------------------------------------- validated range
def _no_warnings(reg: Regimen, weight):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return reg.check_validated_range(weight)


@pytest.mark.parametrize("text", ["ketamine 0.5 mg/kg iv over 40 min", "esketamine 56 mg intranasal",
                                  "naltrexone 50 mg oral", "ketamine 1 mg/kg iv over 24 h"])
def test_doses_inside_the_validated_range_are_silent(text):
    assert _no_warnings(Regimen.from_text(text), 70.0) == []


@pytest.mark.parametrize("drug", ACTIVE_DRUGS)  # a placebo (if modelled) has no amount limits
def test_doses_outside_the_validated_range_warn(drug):
    route = DRUG_ROUTES[drug][-1]
    (lo, hi), _ = _dose_range(drug, route)   # the route's own range where it has one (naltrexone depot IM)
    for mg in (hi * 1.5, lo / 2):
        assert mg < HARD_LIMIT_MG[drug]
        reg = Regimen.from_text(f"{drug} {mg:g} mg {route}")
        with pytest.warns(ValidatedRangeWarning, match=drug) as rec:
            msgs = reg.check_validated_range(70.0)
        assert len(msgs) == 1 and len(rec) == 1
        assert "extrapolation" in msgs[0]


def test_repeated_out_of_range_doses_warn_once():
    reg = Regimen.from_text("ketamine 300 mg oral every 1 d for 5 doses")
    with pytest.warns(ValidatedRangeWarning) as rec:
        msgs = reg.check_validated_range(70.0)
    assert len(msgs) == 1 and len(rec) == 1


def test_mg_per_kg_range_uses_weight():
    reg = Regimen.from_text("ketamine 3 mg/kg iv")
    assert _no_warnings(reg, 70.0) == []  # 210 mg: inside 1-250 mg
    with pytest.warns(ValidatedRangeWarning, match="300 mg"):
        reg.check_validated_range(100.0)  # 300 mg: outside


@pytest.mark.parametrize("drug", ACTIVE_DRUGS)
def test_hard_limit_is_an_error(drug):
    mg = HARD_LIMIT_MG[drug] * 1.1
    route = DRUG_ROUTES[drug][-1]
    with pytest.raises(RegimenError, match="refusing to extrapolate"):
        Regimen.from_text(f"{drug} {mg:g} mg {route}").check_validated_range(70.0)


def test_long_infusions_are_judged_by_rate():
    # 1000 mg over 24 h is ~42 mg/h: inside, although 1000 mg as a bolus would be outside
    assert _no_warnings(Regimen.from_text("ketamine 1000 mg iv over 24 h"), 70.0) == []
    with pytest.warns(ValidatedRangeWarning):
        Regimen.from_text("ketamine 1000 mg iv").check_validated_range(70.0)
    # 600 mg/h: a warning; beyond the hard rate limit: an error
    with pytest.warns(ValidatedRangeWarning, match="mg/h"):
        Regimen.from_text("ketamine 1200 mg iv over 2 h").check_validated_range(70.0)
    too_fast = HARD_LIMIT_RATE_MG_H * 1.2 * 4
    with pytest.raises(RegimenError, match="infusion rate"):
        Regimen.from_text(f"ketamine {too_fast:g} mg iv over 4 h").check_validated_range(70.0)


def test_validated_range_message_is_finite_text():
    with pytest.warns(ValidatedRangeWarning) as rec:
        Regimen.from_text("ketamine 0.5 mg iv").check_validated_range(70.0)
    msg = str(rec[0].message)
    assert "ketamine 0.5 mg iv" in msg and "nan" not in msg.lower()
    assert not math.isnan(parse_dose("ketamine 0.5 mg iv").amount)


@pytest.mark.parametrize("text,warns", [("naltrexone 200 mg oral", True), ("naltrexone 150 mg oral", False),
                                        ("naltrexone 380 mg im", False), ("naltrexone 500 mg im", True)])
def test_naltrexone_is_judged_by_the_range_of_its_route(text, warns):
    """Oral doses were studied up to 150 mg, the extended-release depot is 380 mg IM: one range for both would let
    200 mg oral pass without a word."""
    msgs = _no_warnings(Regimen.from_text(text), 70.0) if not warns else None
    if warns:
        with pytest.warns(ValidatedRangeWarning, match="naltrexone"):
            msgs = Regimen.from_text(text).check_validated_range(70.0)
        assert len(msgs) == 1
    else:
        assert msgs == []
