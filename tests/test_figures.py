"""What the static figures show, checked through matplotlib's objects: the layout of timecourse.png over a long
run (fast layers in an early window beside the slow ones, one unit per axes), the log axis, the legends."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import ketasim as ks  # noqa: E402


@pytest.fixture(scope="module")
def long_run():
    return ks.simulate("ketamine 0.5 mg/kg iv over 40 min", duration="3 d")


def _axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_title(loc="left")]


def _by_title(fig, start):
    found = [ax for ax in _axes(fig) if ax.get_title(loc="left").startswith(start)]
    assert found, f"no panel titled {start!r}: {[ax.get_title(loc='left') for ax in _axes(fig)]}"
    return found[0]


def _legend_labels(ax):
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def test_long_run_gives_fast_layers_an_early_window(long_run):
    fig = long_run.plot()
    try:
        plasma, receptors = _by_title(fig, "L1 plasma"), _by_title(fig, "L3 receptors")
        mood = _by_title(fig, "L5 mood")
        for ax in (plasma, receptors, _by_title(fig, "L5 immediate")):
            lo, hi = ax.get_xlim()
            assert hi <= 12.5 and "time (h" in (ax.get_xlabel() or "time (h"), (ax.get_title(loc="left"), hi)
        lo, hi = mood.get_xlim()
        assert hi == pytest.approx(3.0, abs=0.05)  # whole run, in days
        assert "time (d" in _by_title(fig, "L5 tolerance").get_xlabel()
        # side by side: the mood panel is in another column than the plasma panel
        assert mood.get_position().x0 > plasma.get_position().x1
    finally:
        plt.close(fig)


def test_short_run_keeps_one_column(long_run):
    r = ks.simulate("ketamine 0.5 mg/kg iv over 40 min", duration="24 h")
    fig = r.plot()
    try:
        xs = {round(ax.get_position().x0, 2) for ax in _axes(fig)}
        assert len(xs) == 1
    finally:
        plt.close(fig)


def test_cadss_and_liking_have_their_own_axes(long_run):
    fig = long_run.plot()
    try:
        owners = {}
        for ax in _axes(fig):
            for lab in _legend_labels(ax):
                owners[lab] = ax
        cadss, liking, euphoria = (owners["dissociation (CADSS)"], owners["drug liking (bipolar VAS)"],
                                   owners["euphoria / drug high (VAS)"])
        assert cadss is not liking and cadss is not euphoria and liking is not euphoria
        assert cadss.get_ylabel() == "CADSS points"
        assert liking.get_ylabel() == "VAS 0-100, 50 neutral"
        # every axes has one unit on its y label (no 'A / B / C' labels)
        for ax in _axes(fig):
            assert " / " not in ax.get_ylabel(), ax.get_ylabel()
    finally:
        plt.close(fig)


def test_log_axis_has_a_sensible_floor_and_plain_ticks(long_run):
    fig = long_run.plot(log=True)
    try:
        fig.canvas.draw()
        plasma = _by_title(fig, "L1 plasma")
        assert plasma.get_yscale() == "log"
        lo, hi = plasma.get_ylim()
        assert lo >= 1e-3 * 0.999 and hi / lo <= 10 ** 5.01, (lo, hi)  # not down to ~1e-12 ng/mL
        labels = [t.get_text() for t in plasma.get_yticklabels() if t.get_text()]
        assert labels and all("$" not in s and "10^" not in s for s in labels), labels
        assert "1" in labels and "10" in labels and "100" in labels, labels
    finally:
        plt.close(fig)


def test_legends_sit_beside_the_curves(long_run):
    fig = long_run.plot(log=True)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in _axes(fig):
            leg = ax.get_legend()
            assert leg is not None
            assert leg.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1 - 1, \
                ax.get_title(loc="left")
    finally:
        plt.close(fig)


def _power_rows(design):
    rows = []
    for n, pa in ((10, 0.3), (22, 0.6), (46, 0.9), (100, 1.0)):
        rows.append({"n": n, "power_a": pa, "power_b": 0.05, "p_correct": 0.5 * (pa + 0.95),
                     "power_a_interval95": [max(0, pa - 0.2), min(1, pa + 0.1)],
                     "power_b_interval95": [0.0, 0.2], "p_correct_interval95": [0.4, 1.0],
                     "replicates": 20, "endpoint": "hamd17_day1", "arms": ["a", "b"], "design": design})
    return rows


def test_power_figure_log_n_intervals_and_title():
    from ketasim.trials._report import power_figure

    fig = power_figure(_power_rows("crossover"), ("opioid", "glutamate"), "williams2018")
    try:
        ax = fig.axes[0]
        assert ax.get_xscale() == "log"
        assert [float(x) for x in ax.get_xticks() if 9 <= x <= 101] == [10, 22, 46, 100]
        title = ax.get_title()
        assert "hamd17_day1" in title and "20 replicate trials" in title
        assert "per arm" not in ax.get_xlabel()  # a crossover: every subject takes every arm
        from matplotlib.collections import LineCollection

        bars = [c for c in ax.collections if isinstance(c, LineCollection)]
        assert len(bars) >= 3  # one set of interval bars per curve
    finally:
        plt.close(fig)
    fig = power_figure(_power_rows("parallel"), ("opioid", "glutamate"), "x")
    try:
        assert "per arm" in fig.axes[0].get_xlabel()
    finally:
        plt.close(fig)


@pytest.fixture(scope="module")
def murrough_two_hypotheses():
    from ketasim.trials import load_trial, run_trial

    cfg = load_trial("murrough2013")  # publishes mean changes and responders
    return [run_trial(cfg, "opioid", replicates=3, seed=2), run_trial(cfg, "glutamate", replicates=3, seed=2)]


def test_trial_mood_figure_overlays_hypotheses_with_published_points(murrough_two_hypotheses):
    from ketasim.trials._report import mood_figure

    results = murrough_two_hypotheses
    fig = mood_figure(results)
    try:
        scales = sorted({ep.scale for ep in results[0].config.endpoints.values() if ep.scale != "cadss"})
        assert len(fig.axes) == len(scales)  # one panel per outcome, not one per hypothesis
        ax = fig.axes[0]
        labels = _legend_labels(ax)
        for res in results:
            for arm in res.timecourses:
                assert f"{arm} — {res.hypothesis}" in labels
        points = [ln for ln in ax.get_lines() if ln.get_linestyle() == "None" and ln.get_marker() in ("o", "x")]
        assert points, "published mean changes are not drawn"
        assert "published" in ax.get_title(loc="left")
    finally:
        plt.close(fig)


def test_responder_bars_carry_replicate_intervals(murrough_two_hypotheses):
    from ketasim.trials._report import responder_figure

    results = murrough_two_hypotheses
    eps = [n for n, ep in results[0].config.endpoints.items() if ep.kind in ("change", "window")]
    fig = responder_figure(results, eps)
    try:
        from matplotlib.collections import LineCollection

        for ax in fig.axes:
            bars = [c for c in ax.collections if isinstance(c, LineCollection)]
            assert len(bars) == len(results), ax.get_title()  # error bars on every hypothesis's bars
            assert "95 % range" in ax.get_title()
    finally:
        plt.close(fig)
