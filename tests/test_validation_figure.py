"""The targets figure of `ketasim validate`: every target, published against model, one row each by layer, on
the common axis of its position in the accepted range; and validation.html carries it. Built from a few
hand-made rows, without running the validation (which takes minutes)."""

from __future__ import annotations

import base64
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from ketasim.validation.figures import CLIP, range_position, targets_figure  # noqa: E402
from ketasim.validation.report import _html, with_texts  # noqa: E402


def _row(key, layer, kind, model, lo, hi, unit):
    return {"key": key, "layer": layer, "description": key, "source": "src", "kind": kind, "published": "x",
            "accepted_range": [lo, hi], "unit": unit, "model": model, "pass": lo <= model <= hi, "note": ""}


ROWS = [
    _row("pk_cmax", "PK", "validation", 178.0, 139.0, 231.0, "ng/mL"),            # 0.424
    _row("pk_tmax", "PK", "calibration", 40.0, 38.0, 45.0, "min"),                # 0.286
    _row("pk_half_life", "PK", "validation", 3.18, 7.0, 12.0, "h"),               # -0.764, fails
    _row("occ_2mg", "receptors", "validation", 0.413, 0.17, 0.37, "fraction"),    # 1.215, fails
    _row("mood_onset", "mood", "calibration", -2.76, -20.0, -1.0, "MADRS points"),  # 0.907
    _row("far_below", "mood", "validation", -500.0, 0.0, 1.0, "points"),          # -500: drawn at the edge
]


def _points(ax):
    """{target key: (x, y, marker, colour)} of the model markers in one axes."""
    out = {}
    for line in ax.get_lines():
        gid = line.get_gid() or ""
        if gid.startswith("target:"):
            (x,), (y,) = line.get_xdata(), line.get_ydata()
            out[gid[len("target:"):]] = (x, y, line.get_marker(), line.get_color())
    return out


@pytest.fixture(scope="module")
def figure():
    fig = targets_figure(with_texts(ROWS))
    yield fig
    plt.close(fig)


def _panels(fig):
    """The layer panels (titled '<layer>: k of n in range'), by layer."""
    axes = [a for sub in fig.subfigs for a in sub.axes]
    return {a.get_title(loc="left").split(":")[0]: a for a in axes if a.get_title(loc="left")}


def test_one_point_per_target_grouped_by_layer(figure):
    panels = _panels(figure)
    assert set(panels) == {"PK", "receptors", "mood"}
    assert panels["PK"].get_title(loc="left") == "PK: 2 of 3 in range"
    drawn = {k: v for a in panels.values() for k, v in _points(a).items()}
    assert sorted(drawn) == sorted(r["key"] for r in ROWS)
    for layer, ax in panels.items():
        keys = [r["key"] for r in ROWS if r["layer"] == layer]
        assert sorted(_points(ax)) == sorted(keys)
        # one labelled row per target, no two on one row
        labels = {t.get_text(): t.get_position()[1] for t in ax.get_yticklabels()}
        assert sorted(labels) == sorted(keys)
        assert len(set(labels.values())) == len(keys)
        assert all(labels[k] == _points(ax)[k][1] for k in keys)


def test_positions_markers_and_colours(figure):
    drawn = {k: v for a in _panels(figure).values() for k, v in _points(a).items()}
    for r in ROWS:
        lo, hi = r["accepted_range"]
        x, _, marker, colour = drawn[r["key"]]
        pos = (r["model"] - lo) / (hi - lo)
        if CLIP[0] <= pos <= CLIP[1]:
            assert x == pytest.approx(pos)
            assert marker == ("s" if r["kind"] == "calibration" else "o")
        else:
            assert x == CLIP[0] and marker == "<"
        assert colour == ("#2f855a" if r["pass"] else "#c53030"), r["key"]


def test_the_model_value_and_range_are_printed_beside_each_row(figure):
    texts = " | ".join(t.get_text() for sub in figure.subfigs for a in sub.axes for t in a.get_yticklabels())
    assert "model 178 ng/mL; accepted 139 to 231 ng/mL" in texts
    assert "model 41.3 %; accepted 17.0 to 37.0 %" in texts
    assert "model -500 points; accepted 0 to 1 points" in texts


def test_height_grows_with_the_number_of_targets():
    few = targets_figure(with_texts(ROWS[:2]))
    many = targets_figure(with_texts([_row(f"t{i}", "PK", "validation", 1.0, 0.0, 2.0, "h") for i in range(60)]))
    try:
        assert many.get_figheight() > few.get_figheight() + 60 * 0.15
    finally:
        plt.close(few)
        plt.close(many)


def test_range_position():
    assert range_position(5.0, 0.0, 10.0) == 0.5
    assert range_position(-5.0, 0.0, 10.0) == -0.5
    assert range_position(3.0, 3.0, 3.0) == 0.5
    assert math.isnan(range_position(float("nan"), 0.0, 1.0))


def test_validation_html_embeds_the_targets_figure(tmp_path, figure):
    png = tmp_path / "targets.png"
    figure.savefig(png, dpi=40)
    page = _html(with_texts(ROWS), {}, None, None, png)
    assert "Every target: published against model" in page
    start = page.index("<img id='targets-figure'")
    data = page[start:].split("base64,", 1)[1].split("'", 1)[0]
    assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.count("<tr class='pass'>") == sum(r["pass"] for r in ROWS)
    from PIL import Image

    assert Image.open(io.BytesIO(base64.b64decode(data))).size[1] > 100
