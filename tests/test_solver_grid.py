"""The solvers' internal grid (solvers.grid) and the slow-state integrator's treatment of jumps and kinks
(solvers.relax): correctness on drives whose exact response is known."""

from types import SimpleNamespace

import numpy as np
import pytest

import ketasim.solvers.relax as relax_mod
from ketasim.solvers.grid import internal_grid, pre_event_rows
from ketasim.solvers.relax import relax, relax_reference


def _inp(t, d=0.0):
    return SimpleNamespace(time_h=t, duration_h=d)


def test_bolus_times_twice_and_outputs_at_the_last_copy():
    t = np.arange(0.0, 10.0 + 1e-9, 1.0)
    grid, at = internal_grid(t, [_inp(2.5), _inp(4.0), _inp(6.0, 0.5)], refine_window_h=0.0)
    assert (grid == 2.5).sum() == 2 and (grid == 4.0).sum() == 2
    assert (grid == 6.0).sum() == 1                        # an infusion start is no jump
    np.testing.assert_array_equal(grid[at], t)
    assert at[4] == np.flatnonzero(grid == 4.0)[-1]
    assert pre_event_rows(grid).sum() == 2


def test_refinement_after_each_start_without_rounding_size_steps():
    t = np.arange(-0.75, 5.0 + 1e-9, 1 / 12)
    grid, at = internal_grid(t, [_inp(-0.75), _inp(0.0, 2 / 3)])
    steps = np.diff(grid)
    assert steps[steps > 0].min() > 1e-6                 # no step of rounding size where windows overlap
    near = grid[(grid > 0) & (grid < 10 / 60)]
    assert len(near) >= 19                               # 30-s steps right after the start
    np.testing.assert_array_equal(grid[at], t)


def test_a_jump_in_the_drive_is_a_jump_not_a_ramp():
    # u = 0 before t = 3, 1 from t = 3 on; the grid holds t = 3 twice: exact 1 - e^{-k (t - 3)}
    k = 2.0
    base = np.arange(0.0, 8.0 + 1e-9, 1.0)
    grid, at = internal_grid(base, [_inp(3.0)], refine_window_h=0.0)
    u = (grid >= 3.0).astype(float)
    u[np.flatnonzero(grid == 3.0)[0]] = 0.0             # the first copy: just before the jump
    x = relax(grid, u, k, 0.0)[at]
    exact = np.where(base >= 3.0, -np.expm1(-k * (base - 3.0)), 0.0)
    np.testing.assert_allclose(x, exact, rtol=1e-12, atol=1e-14)


def _fine_truth(f, k, t_end):
    tf = np.linspace(0.0, t_end, 240_001)
    return tf, relax(tf, f(tf), k, 0.0)


def test_a_kink_inside_a_step_is_integrated_as_a_kink():
    f = lambda t: np.maximum(np.sin(t) - 0.2, 0.0) + 0.1 * np.cos(0.3 * t)  # noqa: E731
    k = 2.0
    tf, xf = _fine_truth(f, k, 30.0)
    t = np.arange(0.0, 30.0 + 1e-9, 0.0625)
    truth = np.interp(t, tf, xf)
    with_kinks = relax_reference(t, f(t), k, 0.0)
    saved = relax_mod.KINK_RATIO
    try:
        relax_mod.KINK_RATIO = np.inf
        without = relax_reference(t, f(t), k, 0.0)
    finally:
        relax_mod.KINK_RATIO = saved
    err_k, err_0 = np.abs(with_kinks - truth).max(), np.abs(without - truth).max()
    assert err_k < 0.3 * err_0, (err_k, err_0)
    # the compiled loop is the same rule
    np.testing.assert_allclose(relax(t, f(t)[:, None] * [1.0, 2.0], k, 0.0)[:, 1], 2 * with_kinks, rtol=1e-11,
                               atol=1e-14)


def test_repeated_output_times_read_one_grid_point():
    t = np.array([0.0, 1.0, 1.0, 2.0])
    grid, at = internal_grid(t, [], refine_window_h=0.0)
    assert at[1] == at[2]
    np.testing.assert_array_equal(grid, [0.0, 1.0, 2.0])


@pytest.mark.parametrize("k", [0.1, 5.0])
def test_smooth_drives_unchanged_by_the_kink_test(k):
    t = np.sort(np.random.default_rng(3).random(300) * 40)
    u = np.exp(-0.1 * t) * (1 + 0.5 * np.sin(0.2 * t))
    saved = relax_mod.KINK_RATIO
    a = relax_reference(t, u, k, 1.0)
    try:
        relax_mod.KINK_RATIO = np.inf
        b = relax_reference(t, u, k, 1.0)
    finally:
        relax_mod.KINK_RATIO = saved
    np.testing.assert_allclose(a, b, rtol=1e-6)
