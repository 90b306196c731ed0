"""Tables of the use-pattern and optimisation commands (rich). Nothing here computes a result."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from ._app import console
from ._render import fmt

LIABILITY_ROWS = ("liking_emax_over_placebo", "liking_emax", "take_drug_again", "liking_tmax", "liking_auec",
                  "liking_rate_of_rise", "euphoria_emax", "cadss_peak", "cadss_auc", "cadss_time_above_threshold",
                  "opioid_load_auc", "opioid_time_above_threshold", "chronic_tolerance_fold", "use_days_180",
                  "bladder_odds_ratio_frequency", "bladder_odds_ratio_haematuria", "bladder_frequency_probability",
                  "total_dose")


def print_liability(table: dict | None, quiet: bool = False, title: str | None = None):
    if quiet or not table:
        return
    m = table["metrics"]
    many = table.get("subjects", 1) > 1
    t = Table(title=title or f"Abuse liability ({'mean [5th-95th percentile]' if many else 'typical subject'}; "
                             f"hypothesis {escape(str(table.get('hypothesis')))})", title_justify="left")
    for col in ("metric", "value", "unit", "source"):
        t.add_column(col, justify="right" if col == "value" else "left")
    for key in LIABILITY_ROWS:
        if key not in m:
            continue
        r = m[key]
        v = "" if r["value"] is None else fmt(r["value"])
        if many and r.get("p5") is not None:
            v += f" [{fmt(r['p5'])}-{fmt(r['p95'])}]"
        t.add_row(escape(key), v, escape(r["unit"]), escape(r["source"]))
    console.print(t)
    console.print(escape(table["note"]), highlight=False)


def print_pattern_list(rows: list[dict]):
    t = Table(title=f"Built-in use patterns ({len(rows)})", title_justify="left")
    for col in ("name", "kind", "title", "regimen", "product", "sources"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(r["name"], r["kind"], escape(r["title"]), escape("; ".join(r["doses"])), r["product"],
                  ", ".join(r["sources"]))
    console.print(t)
    console.print("Run one with: ketasim scenarios --run NAME (or --run all); compare them with --compare. "
                  "Research software, not a dosing tool.", highlight=False)


def print_pattern(info: dict):
    console.rule(f"[bold]{escape(info['name'])}[/] ({info['kind']})")
    console.print(escape(info["title"]), highlight=False)
    if info["description"]:
        console.print(escape(info["description"]), highlight=False)
    for d in info["doses"]:
        console.print(f"  --dose {escape(repr(d))}", highlight=False)
    console.print(f"duration {info['duration']}; expectation {info['expectation']}; product {info['product']}: "
                  f"{escape(info['product_note'])}", highlight=False)
    for c in info["modelling_choices"]:
        console.print(f"modelling choice: {escape(c)}", highlight=False)
    console.print(f"sources: {', '.join(info['sources'])}", highlight=False)


def print_comparison(rows: list[dict]):
    t = Table(title="Use patterns: antidepressant pathway vs immediate effects and liability (means; drug effect, "
                    "no expectation)", title_justify="left")
    for col in ("pattern", "hypothesis", "benefit d", "resp. d", "liking AUEC", "CADSS AUC", "opioid",
                "tol. x", "bladder OR"):
        left = col in ("pattern", "hypothesis")
        t.add_column(col, justify="left" if left else "right", no_wrap=left)
    for r in rows:
        t.add_row(r["pattern"], escape(r["hypothesis"]), f"{r['benefit_days']:.1f}", f"{r['days_in_response']:.1f}",
                  fmt(r["liking_auec"]), fmt(r["cadss_auc"]),
                  fmt(r["opioid_load_auc"]), f"{r['chronic_tolerance_fold']:.2f}",
                  f"{r['bladder_odds_ratio_frequency']:.2f}")
    console.print(t)


def print_front(res, limit: int = 12):
    p = res.problem
    t = Table(title=escape(f"Pareto front: {len(res.front)} of {len(res.evaluations)} regimens "
                           f"({', '.join(p.hypothesis_labels)}"
                           f"{'' if len(p.variants) == 1 else ', ' + p.robust + ' case'})"),
              title_justify="left")
    t.add_column("#", justify="right")
    t.add_column("regimen", overflow="fold")
    for o in p.objectives:
        t.add_column(escape(o.label), justify="right")
    for i, r in res.front.head(limit).iterrows():
        t.add_row(str(i + 1), escape(r["regimen"]), *[fmt(r[o.label]) for o in p.objectives])
    console.print(t)
    if len(res.front) > limit:
        console.print(f"... {len(res.front) - limit} more in pareto.csv", highlight=False)
    for _, r in res.standards.iterrows():
        console.print(f"reference: {escape(r['standard'])}: " + ", ".join(f"{escape(o.label)} {fmt(r[o.label])}"
                                                                         for o in p.objectives)
                      + ("" if r["feasible"] else " (infeasible)")
                      + (" - dominated by the front" if r["dominated_by_front"] else " - on or beyond the front"),
                      highlight=False)
    console.print("Research software, not a dosing tool: these regimens are a model's optimum, not recommendations.",
                  highlight=False)
