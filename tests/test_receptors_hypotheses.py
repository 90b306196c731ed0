"""Layers L2-L5: receptor pharmacology properties, mechanism contract tests, and issue-3 acceptance facts."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ketasim as ks
from ketasim.mechanisms import Mechanism, available, get_mechanism, register, MechanismError
from ketasim.models.pd import EFFECT_SITE_SOURCES, Context
from ketasim.simulation import pd_response

K = "ketamine 0.5 mg/kg iv over 40 min"
NTX = "naltrexone 50 mg oral at -45 min"
PLACEBO = "placebo 0 mg iv over 40 min"
CE_KEYS = EFFECT_SITE_SOURCES    # every effect-site input of the model (session_memory 0: no session, no expectation)


def _pd(ce, mech="opioid", source=None):
    t = np.linspace(0, 48, len(next(iter(ce.values()))))
    return pd_response(t, ce, mech, source, context=Context("none"), subject={"baseline_madrs": 32.0})


conc = st.floats(min_value=0.0, max_value=50.0, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(st.fixed_dictionaries({k: conc for k in CE_KEYS}), st.floats(0.01, 20.0))
def test_occupancy_bounded_and_competitor_never_raises_occupancy(c, extra):
    base = {k: np.full(5, v) for k, v in c.items()}
    out = _pd(base)
    for col in ("nmda_occupancy", "mor_occupancy", "kor_occupancy"):
        assert np.all((out[col] >= 0) & (out[col] <= 1))
    # adding naltrexone (a competitor) never raises the agonist signal at MOR, nor NMDA occupancy
    more = dict(base, ce_naltrexone=base["ce_naltrexone"] + extra)
    out2 = _pd(more)
    assert np.all(out2["mor_agonist_signal"] <= out["mor_agonist_signal"] + 1e-12)
    assert np.allclose(out2["nmda_occupancy"], out["nmda_occupancy"])
    # adding a second NMDA blocker (norketamine) never lowers total NMDA occupancy
    more_nk = dict(base, ce_norketamine_S=base["ce_norketamine_S"] + extra)
    assert np.all(_pd(more_nk)["nmda_occupancy"] >= out["nmda_occupancy"] - 1e-12)


@pytest.mark.parametrize("key", sorted(available()))
def test_mechanism_contract(key):
    """Every registered hypothesis: described, sourced, finite, zero drive without drug, serialisable."""
    cls = available()[key]
    m = get_mechanism(key)
    assert cls.title and cls.description and len(cls.description) > 80
    bib = ks.citations.bibliography() if hasattr(ks, "citations") else __import__("ketasim.citations").citations.bibliography()
    assert all(s in bib for s in cls.sources)
    assert "mediator_drive" in {n.name for n in m.nodes()}
    zero = {k: np.zeros(4) for k in CE_KEYS}
    out = _pd(zero, key)
    assert np.allclose(out["madrs"], 32.0)
    assert np.allclose(out["antidepressant_drive"], 0.0)
    assert m.to_dict()["key"] == key
    r = ks.simulate(K, duration="2 d", hypothesis=key)
    assert all(np.all(np.isfinite(v)) for v in r.outputs.values())


def test_user_can_add_a_hypothesis_without_editing_core():
    from dataclasses import dataclass
    from typing import ClassVar

    @dataclass(frozen=True)
    class HalfGlutamate(Mechanism):
        key: ClassVar[str] = "test_half_glutamate"
        title: ClassVar[str] = "half"
        description: ClassVar[str] = "test"

        def nodes(self):
            from ketasim.models.spec import linear_drive

            return [linear_drive({"plasticity_glutamate": (0.5, "glutamate.X50")})]

    register(HalfGlutamate)
    try:
        full = ks.simulate(K, duration="2 d", hypothesis="glutamate")
        half = ks.simulate(K, duration="2 d", hypothesis="test_half_glutamate")
        assert 0 > half.summary()["madrs"]["change_24h"] > full.summary()["madrs"]["change_24h"]
    finally:
        from ketasim import mechanisms
        mechanisms._REGISTRY.pop("test_half_glutamate")
    with pytest.raises(MechanismError):
        get_mechanism("no_such_hypothesis")
    with pytest.raises(MechanismError):
        get_mechanism("glutamate", opioid_source="hnk_mor")


def _at(r, col, t):
    return float(np.interp(t, r.time_h, r.outputs[col]))


def test_single_infusion_time_course():
    k = ks.simulate(K, duration="14 d")
    pl = ks.simulate(PLACEBO, duration="14 d")
    t_peak = k.time_h[np.argmax(k.outputs["cadss"])]
    assert 40 / 60 <= t_peak <= 1.0                      # within 20 min of the infusion's end
    assert _at(k, "cadss", 2 + 40 / 60) < 0.25 * k.outputs["cadss"].max()
    change = k.summary()["madrs"]["change_24h"]
    # a subject of mean sensitivity; the population's mean change (-16.5) is smaller, as sensitivity is skewed
    # (a minority of responders carries most of the effect)
    assert -24 <= change <= -14
    sep1 = _at(k, "madrs", 24) - _at(pl, "madrs", 24)
    sep12 = _at(k, "madrs", 288) - _at(pl, "madrs", 288)
    assert sep1 < -3 and abs(sep12) < 0.25 * abs(sep1)


@pytest.mark.parametrize("hyp,source", [("opioid", "hnk_mor"), ("opioid", "ketamine_mor"),
                                        ("opioid", "endogenous"), ("glutamate", None), ("hnk_ampa", None)])
def test_naltrexone_pretreatment(hyp, source):
    k = ks.simulate(K, duration="2 d", hypothesis=hyp, opioid_source=source)
    kn = ks.simulate([K, NTX], duration="2 d", hypothesis=hyp, opioid_source=source)
    pl = ks.simulate(PLACEBO, duration="2 d", hypothesis=hyp, opioid_source=source)
    assert kn.outputs["cadss"].max() == pytest.approx(k.outputs["cadss"].max(), rel=0.10)
    effect = _at(k, "madrs", 24) - _at(pl, "madrs", 24)
    effect_n = _at(kn, "madrs", 24) - _at(pl, "madrs", 24)
    if hyp == "opioid":
        assert effect_n >= 0.3 * effect          # reduced by >= 70 % (effects are negative numbers)
    else:
        assert effect_n == pytest.approx(effect, rel=0.10)


def test_naltrexone_pet_occupancy():
    r = ks.simulate("naltrexone 50 mg oral", duration="8 d", output_step="15 min")
    occ1 = _at(r, "mor_occupancy", 1.0)
    assert _at(r, "mor_occupancy", 3.0) >= 0.90
    rel = [_at(r, "mor_occupancy", t) / occ1 for t in (48, 72, 120, 168)]
    assert np.allclose(rel, [0.91, 0.80, 0.46, 0.30], atol=0.1)


def test_repeated_esketamine_transform2_difference():
    """TRANSFORM-2: esketamine 56/84 mg twice weekly + new oral AD vs AD + placebo spray, day-28 MADRS."""
    esk = [f"esketamine {56 if i < 1 else 84} mg intranasal at {3.5 * i} d" for i in range(8)]
    pbo = [f"placebo 0 mg intranasal at {3.5 * i} d" for i in range(8)]
    common = dict(duration="29 d", baseline_madrs=37.0, oral_antidepressant_start="0 d", output_step="1 h")
    a = ks.simulate(esk, **common)
    b = ks.simulate(pbo, **common)
    diff = _at(a, "madrs", 28 * 24) - _at(b, "madrs", 28 * 24)
    # Published: -4.0 (95 % CI -7.31 to -0.64). The default model gives about -8: a known disagreement that
    # `ketasim validate` reports (target transform2_day28_difference). Here: direction and order of magnitude.
    assert -16 < diff < -0.64
