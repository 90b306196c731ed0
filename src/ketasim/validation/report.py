"""validation.json and a self-contained validation.html."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ketasim import __version__
from ketasim.io.export import atomic_output_dir


def write_report(rows: list[dict], out_dir: str | Path) -> Path:
    with atomic_output_dir(out_dir) as tmp:
        doc = {"ketasim_version": __version__, "n_targets": len(rows), "n_pass": sum(r["pass"] for r in rows),
               "targets": rows}
        (tmp / "validation.json").write_text(json.dumps(doc, indent=2))
        from .figures import validation_figure

        validation_figure(rows, tmp / "validation.png")
        import base64

        png = base64.b64encode((tmp / "validation.png").read_bytes()).decode()
        (tmp / "validation.html").write_text(_html(rows).replace(
            "<table>", f"<img alt='validation figure' src='data:image/png;base64,{png}' style='max-width:100%'>"
            "<table>", 1))
    out = Path(out_dir)
    return out


def _html(rows: list[dict]) -> str:
    e = html.escape
    body = []
    for r in rows:
        cls = "pass" if r["pass"] else "fail"
        body.append(
            f"<tr class='{cls}'><td>{'pass' if r['pass'] else 'FAIL'}</td><td>{e(r['layer'])}</td>"
            f"<td>{e(r['kind'])}</td><td>{e(r['description'])}</td><td>{r['model']:.4g} {e(r['unit'])}</td>"
            f"<td>{e(r['published'])}</td><td>{r['accepted_range'][0]:.4g} – {r['accepted_range'][1]:.4g}</td>"
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
<table><tr><th></th><th>layer</th><th>kind</th><th>target</th><th>model</th><th>published</th>
<th>accepted</th><th>source</th><th>note</th></tr>
{''.join(body)}</table></body></html>"""
