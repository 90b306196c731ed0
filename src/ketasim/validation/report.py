"""validation.json and a self-contained validation.html."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ketasim._version import __version__
from ketasim.io.export import atomic_output_dir


def number_text(x: float) -> str:
    """Three significant digits, never in exponent notation; thousands separated from 1,000 on."""
    import numpy as np

    if x != x:
        return "nan"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if x == 0:
        return "0"
    return np.format_float_positional(x, precision=3, unique=False, fractional=False, trim="-")


def _percent(x: float) -> str:
    v = round(100.0 * x, 1) + 0.0  # + 0.0: no "-0.0" for a full block that rounds to -4e-12
    return f"{v:.1f}"


def _fraction_unit(unit: str) -> str | None:
    """'fraction kept' -> ' kept'; None when the unit is not a fraction (shown as a percentage)."""
    if unit == "fraction" or unit.startswith("fraction "):
        return unit[len("fraction"):]
    return None


def value_text(value: float, unit: str) -> str:
    """A model value as people write it: fractions as percentages (published values are), others with their
    unit and three significant digits."""
    rest = _fraction_unit(unit)
    if rest is not None:
        return f"{_percent(value)} %{rest}"
    return f"{number_text(value)} {unit}".strip()


def range_text(low: float, high: float, unit: str) -> str:
    """'-7.31 to -0.64 MADRS points', '7.0 to 23.0 %': never '-7.31--0.64'."""
    rest = _fraction_unit(unit)
    if rest is not None:
        return f"{_percent(low)} to {_percent(high)} %{rest}"
    return f"{number_text(low)} to {number_text(high)} {unit}".strip()


def with_texts(rows: list[dict]) -> list[dict]:
    """Each row with `model_text` and `accepted_text` beside the numbers (what the table and the report show)."""
    return [{**r, "model_text": value_text(r["model"], r["unit"]),
             "accepted_text": range_text(r["accepted_range"][0], r["accepted_range"][1], r["unit"])} for r in rows]


def write_report(rows: list[dict], out_dir: str | Path, figures: dict[str, str] | None = None,
                 relapse=None) -> Path:
    """validation.json, validation.html (with every target published against model, targets.png, and a figure
    per virtual trial: model bands over the published points) and, where given, the relapse analysis
    (relapse.csv, relapse.png)."""
    rows = with_texts(rows)
    with atomic_output_dir(out_dir) as tmp:
        doc = {"ketasim_version": __version__, "n_targets": len(rows), "n_pass": sum(r["pass"] for r in rows),
               "targets": rows}
        if relapse is not None:
            doc["relapse_after_series"] = relapse.to_dict()
            relapse.curve.to_csv(tmp / "relapse.csv", index=False)
            from ketasim.population import plot_relapse

            plot_relapse(relapse, tmp / "relapse.png", "Relapse after six open-label infusions in two weeks")
        (tmp / "validation.json").write_text(json.dumps(doc, indent=2))
        from .figures import validation_figure, write_targets_figure

        validation_figure(rows, tmp / "validation.png")
        write_targets_figure(rows, tmp / "targets.png")
        (tmp / "validation.html").write_text(_html(rows, figures or {}, relapse, tmp / "validation.png",
                                                   tmp / "targets.png"))
    out = Path(out_dir)
    return out


def _html(rows: list[dict], figures: dict[str, str], relapse=None, overview=None, targets=None) -> str:
    e = html.escape
    body = []
    for r in rows:
        cls = "pass" if r["pass"] else "fail"
        body.append(
            f"<tr class='{cls}'><td>{'pass' if r['pass'] else 'FAIL'}</td><td>{e(r['layer'])}</td>"
            f"<td>{e(r['kind'])}</td><td>{e(r['description'])}</td><td>{e(r['model_text'])}</td>"
            f"<td>{e(r['published'])}</td><td>{e(r['accepted_text'])}</td>"
            f"<td>{e(r['source'])}</td><td>{e(r['note'])}</td></tr>")
    n_pass = sum(r["pass"] for r in rows)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>ketasim validation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px;font-size:13px}}tr.fail td:first-child{{color:#b00;font-weight:bold}}
tr.pass td:first-child{{color:#070}}</style></head><body>
<h1>ketasim validation report</h1>
<p>ketasim {e(__version__)}: {n_pass} of {len(rows)} targets within their accepted range. <em>Calibration</em>
targets were used to fit a parameter, so agreement there is by construction; <em>validation</em> targets were
not used for fitting. Failures are reported, not hidden: each is a disagreement between the model and a
published number. Research software, not a dosing tool.</p>
{_overview_html(overview)}
{_targets_html(targets)}
<table><tr><th></th><th>layer</th><th>kind</th><th>target</th><th>model</th><th>published</th>
<th>accepted</th><th>source</th><th>note</th></tr>
{''.join(body)}</table>
{_figures_html(figures, relapse)}</body></html>"""


def _overview_html(path) -> str:
    """The overview figure (digitised curves with the model's, observed against predicted)."""
    if path is None:
        return ""
    import base64

    png = base64.b64encode(Path(path).read_bytes()).decode()
    return f"<img alt='validation figure' src='data:image/png;base64,{png}' style='max-width:100%'>"


def _png_data(path) -> str:
    import base64

    return base64.b64encode(Path(path).read_bytes()).decode()


def _targets_html(path) -> str:
    """Every target, published against model, on the normalised axis (targets.png)."""
    if path is None:
        return ""
    return ("<h2>Every target: published against model</h2><p>One row per target, grouped by layer. Each target "
            "is drawn on its own accepted range, set around the published value: 0 is the range's low end, 1 its "
            "high end, so targets in ng/mL, hours, scale points or fractions share one axis. Circles are validation "
            "targets, squares calibration targets; green inside the range, red outside; a triangle at the edge "
            "points to a value beyond the axis. The model's value and the range are printed at the right.</p>"
            f"<img id='targets-figure' alt='every target, published against model' "
            f"src='data:image/png;base64,{_png_data(path)}' style='max-width:100%'>")


def _figures_html(figures: dict[str, str], relapse) -> str:
    e = html.escape
    parts = []
    if figures:
        parts.append("<h2>Virtual trials: the model over the published results</h2>")
        for name, png in figures.items():
            parts.append(f"<h3>{e(name)}</h3><img alt='{e(name)}' src='data:image/png;base64,{png}'>")
    if relapse is not None:
        d = relapse.to_dict()
        med = "not reached" if d["median_time_to_relapse_d"] is None else f"{d['median_time_to_relapse_d']:.0f} d"
        parts.append(f"<h2>Relapse after a stopped series</h2><p>{e(d['definition'])}. {d['responders']} of "
                     f"{d['subjects']} subjects responded; median time to relapse {e(med)}; relapsed by: "
                     f"{e(', '.join(f'{k}: {v:.0%}' for k, v in d['relapsed_by'].items()))} "
                     f"(Kaplan-Meier; relapse.csv, relapse.png).</p>")
    return "".join(parts)
