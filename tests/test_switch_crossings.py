"""Kinks of the slow states' drives between grid points, located from the model's switches (solvers.switches):
a positive_part crossing zero inside a step is integrated as two pieces, on every path alike."""

import numpy as np
import pytest

import ketasim.solvers.switches as switches_mod
from ketasim.solvers.relax import relax, relax_reference
from ketasim.solvers.switches import crossing_time, crossings


def test_crossing_time_is_the_root_of_the_interpolated_argument():
    f = lambda t: np.sin(t) - 0.2  # noqa: E731
    t = np.array([0.0, 1.0, 2.0, 3.5, 4.0])
    ts = crossings(t, [f(t)])
    assert np.flatnonzero(np.isfinite(ts)).tolist() == [1, 3]      # rising in (0, 1), falling in (2, 3.5)
    assert abs(ts[1] - np.arcsin(0.2)) < 0.05                      # the line (no point before the step)
    assert abs(ts[3] - (np.pi - np.arcsin(0.2))) < 0.05           # cubic through four points, 1.5-h step
    line = crossing_time(2.0, 2.0, 3.5, 3.5, 0.0, f(2.0), f(3.5), 0.0, False)
    assert line == pytest.approx(2.0 + 1.5 * f(2.0) / (f(2.0) - f(3.5)))


def test_rounding_noise_around_zero_is_no_crossing():
    t = np.arange(10.0)
    a = np.r_[1.0, 0.5, np.array([1e-17, -1e-17] * 4)]   # a mediator back at its baseline, to rounding
    assert crossings(t, [a]) is None
    a[-1] = -1e-3                                        # a real crossing
    assert np.flatnonzero(np.isfinite(crossings(t, [a]))).tolist() == [9]


@pytest.mark.parametrize("c", [5.02, 5.3, 5.5, 5.98])
def test_located_kinks_beat_the_parabolas_and_the_compiled_loop_agrees(c):
    # a switch argument falling through zero inside the step (5, 6), near either grid point or inside
    arg = lambda t: 1.0 - np.exp(0.3 * (t - c))  # noqa: E731
    f = lambda t: np.maximum(arg(t), 0.0) + 0.2 * np.exp(-0.1 * t)  # noqa: E731
    k = 2.0
    tf = np.linspace(0.0, 12.0, 240_001)
    xf = relax(tf, f(tf), k, 0.0)
    t = np.arange(0.0, 12.0 + 1e-9, 1.0)
    truth = np.interp(t, tf, xf)
    located = relax_reference(t, f(t), k, 0.0, crossings(t, [arg(t)]))
    plain = relax_reference(t, f(t), k, 0.0)
    err_l, err_p = np.abs(located - truth).max(), np.abs(plain - truth).max()
    assert err_l < 1e-3 and err_l < 0.5 * err_p, (err_l, err_p)
    cross2 = crossings(t, [arg(t)[:, None] * [1.0, 2.0]])
    np.testing.assert_allclose(relax(t, f(t)[:, None] * [1.0, 2.0], k, 0.0, cross2)[:, 1], located * 2.0,
                               rtol=1e-11, atol=1e-14)


def _ode_reference(reg, t, subjects, p, mech, columns):
    from ketasim.models.pd import SUBJECT_SOURCES
    from ketasim.models.pk import Covariates
    from ketasim.population._population import subject_etas
    from ketasim.simulation import Simulation
    from ketasim.solvers.ode import solve

    out = {c: np.empty((len(t), len(subjects))) for c in columns}
    for s, row in enumerate(subjects.itertuples(index=False)):
        cov = Covariates(weight_kg=float(row.weight_kg), age_y=float(row.age_y), sex=str(row.sex),
                         cyp2b6=str(row.cyp2b6))
        subject = {k: float(getattr(row, k)) for k in SUBJECT_SOURCES}
        ode, inputs, index = Simulation(reg, p, mechanism=mech).ode(cov, subject_etas(row._asdict()), subject)
        n = len(ode.initial_state())
        coarse = solve(ode, inputs, index, t, rtol=1e-6, atol=np.full(n, 1e-9))
        atol = np.maximum(1e-10 * np.abs(coarse).max(axis=0), 1e-16)
        values = ode.outputs(t, solve(ode, inputs, index, t, rtol=1e-10, atol=atol))
        for c in columns:
            out[c][:, s] = values[c]
    return out


def test_fast_path_matches_the_ode_where_a_positive_part_crosses_zero_inside_a_step(monkeypatch):
    """Twice-weekly infusions after naltrexone, W's output grid to the 4th dose and 28 h beyond: once naltrexone
    has waned, the MOR agonist signal rises above its baseline of 1 during the 4th infusion and falls back through
    it hours later between two hourly grid points, where opioid_excess = positive_part(signal - 1) kinks, and
    MADRS (minute-scale response to the immediate drive) follows the kink. Against the same ODE at rtol 1e-10:
    within 1e-4 relative, and several times closer than without the located kink."""
    import ketasim as ks
    import ketasim.solvers.reference as reference_mod
    from ketasim.mechanisms import get_mechanism
    from ketasim.population import PopulationSpec, population_grid, sample_subjects, simulate_population
    from ketasim.population._simulate import _simulate_chunk_reference
    from ketasim.regimens import Regimen

    p = ks.default_parameters()
    mech = get_mechanism("opioid")
    reg = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min every 3.5 d for 4 doses",
                            "naltrexone 50 mg oral at -45 min")
    t = population_grid(reg, 280.0, step_h=1.0)   # hourly, 5-min steps for 6 h after each dose (as workload W)
    # one whose signal falls back through its baseline between two hourly grid points with the naltrexone brain
    # model as fitted to PET and the mood layer's current calibration (the fifth of sixteen here)
    subjects = sample_subjects(PopulationSpec(), 16, 2024, p).iloc[4:5]
    columns = ["madrs", "opioid_signal", "mor_agonist_signal"]
    ref = _ode_reference(reg, t, subjects, p, mech, columns)
    sig = ref["mor_agonist_signal"] - 1.0
    assert np.any((sig[:-1] > 1e-4) & (sig[1:] < -1e-4) & (np.diff(t)[:, None] == 1.0)), "no crossing in a 1-h step"

    def errors(out):
        return {c: float(np.max(np.abs(out[c] - ref[c]) / np.abs(ref[c]))) for c in ("madrs", "opioid_signal")}

    located = errors(simulate_population(reg, subjects, p, mech, t, columns=columns).outputs)
    assert max(located.values()) <= 1e-4, located
    reference = errors(_simulate_chunk_reference(reg, subjects, p, mech, t, columns=columns))
    np.testing.assert_allclose(list(reference.values()), list(located.values()), rtol=1e-3)   # the same rule
    monkeypatch.setattr(reference_mod, "crossings", lambda t, args: None)   # the drive-only kink test alone
    plain = errors(_simulate_chunk_reference(reg, subjects, p, mech, t, columns=columns))
    assert located["madrs"] < plain["madrs"] / 3, (located, plain)
