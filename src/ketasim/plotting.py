"""Static figures (matplotlib imported inside functions, so the core never needs it). What is drawn where comes
from the model's output declarations (`result.output_info`: label, unit, panel).

A run longer than two days is drawn in two columns: the fast layers (concentrations, receptor occupancy,
immediate effects: they rise and fall within hours) over an early window of their own, beside the slow layers
(mediators, mood, tolerance) over the whole run. One axes holds one unit: CADSS, euphoria and drug liking are on
separate scales and get separate axes."""

from __future__ import annotations

import numpy as np

from ketasim.models.outputs import label
from ketasim.models.spec import PANELS

FAST_PANELS = ("L1 plasma", "L2 effect site", "L3 receptors", "L5 immediate")
EARLY_WINDOW_H = 12.0     # the fast layers' window when the run is long
SPLIT_ABOVE_H = 48.0      # runs longer than this get the two-column layout
LOG_DECADES = 4.0         # a log axis shows this many decades below the highest value drawn


def _panels(result) -> list[tuple[str, list[str], str]]:
    """(panel name, columns, y label) in drawing order, for the outputs the result holds. A panel whose columns
    have different units (CADSS points, VAS 0-100) is split into one panel per unit; rating scales all counted in
    points (MADRS, HAM-D17) stay together."""
    info = result.output_info
    order = [p.name for p in PANELS]
    groups: dict[str, list[str]] = {}
    for c in result.outputs:
        o = info.get(c)
        if o is None or o.detail:
            continue
        groups.setdefault(o.panel, []).append(c)
    names = [p for p in order if p in groups] + [p for p in groups if p not in order]
    out = []
    for name in names:
        cols = groups[name]
        units = list(dict.fromkeys(info[c].unit for c in cols))
        if len(units) == 1:
            out.append((name, cols, units[0]))
        elif all(u.endswith(" points") for u in units):
            out.append((name, cols, "points (" + ", ".join(u[:-len(" points")] for u in units) + ")"))
        else:
            for u in units:
                part = [c for c in cols if info[c].unit == u]
                out.append((name if len(part) > 1 else f"{name}: {info[part[0]].label}", part, u))
    return out


def _is_fast(panel_title: str) -> bool:
    return any(panel_title.startswith(p) for p in FAST_PANELS)


def log_floor(values, decades: float = LOG_DECADES) -> float | None:
    """Lower limit of a log axis: `decades` below the highest positive value (None when nothing is positive)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    return None if v.size == 0 else float(v.max()) / 10 ** decades


def _plain_log_ticks(ax):
    """Log axis ticks as plain numbers (0.01, 0.1, 1, 10, 100), not powers of ten or SI prefixes."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:.10g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_timecourse(result, path=None, log: bool = False, observed=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.time_h
    info = result.output_info
    panels = []
    for title, cols, ylabel in _panels(result):
        present = [c for c in cols if np.nanmax(np.abs(result.outputs[c])) > 0]
        if present:
            panels.append((title, present, ylabel))
    span = t[-1] - t[0]
    fast = [p for p in panels if _is_fast(p[0])]
    slow = [p for p in panels if not _is_fast(p[0])]
    split = span > SPLIT_ABOVE_H and fast and slow
    doses = result.regimen.realize() if result.regimen is not None else ()
    if split:
        first = min((d.time_h for d in doses), default=0.0)
        early = (float(t[0]), max(first, 0.0, float(t[0])) + EARLY_WINDOW_H)
        columns = [(fast, (1.0, "h"), early, f"first {EARLY_WINDOW_H:g} h"), (slow, (1 / 24, "d"), None, "whole run")]
        rows = max(len(fast), len(slow))
        fig, axes = plt.subplots(rows, 2, figsize=(15, 2.5 * rows + 1.0), squeeze=False)
    else:
        unit = (1.0, "h") if span <= 72 else (1 / 24, "d")
        columns = [(panels, unit, None, "")]
        rows = len(panels)
        fig, axes = plt.subplots(rows, 1, figsize=(9.5, 2.4 * rows + 0.8), squeeze=False)
    population = getattr(result, "subjects", None) is not None
    first_title = True
    for k, (col_panels, (scale, unit), window, window_text) in enumerate(columns):
        col_axes = axes[:, k]
        for i, ax in enumerate(col_axes):
            if i >= len(col_panels):
                ax.set_visible(False)
                continue
            title, cols, ylabel = col_panels[i]
            if population and first_title:
                title = f"{title} (median, 5-95 % band, {len(result.subjects)} subjects)"
                first_title = False
            if window_text and i == 0:
                title = f"{title} — {window_text}"
            _draw_panel(ax, result, t, cols, ylabel, title, scale, log, observed, window, doses)
            if window is not None:
                ax.set_xlim(window[0] * scale, window[1] * scale)
            else:
                ax.set_xlim(t[0] * scale, t[-1] * scale)
            if i == len(col_panels) - 1:
                ax.set_xlabel(f"time ({unit}; 0 = regimen time zero)")
            else:
                ax.tick_params(labelbottom=False)
    title = "; ".join(result.regimen.to_text()) if result.regimen is not None else ""
    hyp = result.meta.get("hypothesis")
    fig.suptitle(f"{title}" + (f"  [hypothesis: {hyp}]" if hyp else "")
                 + "\n(dotted lines / grey bands: doses; research software, not dosing advice)", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def _draw_panel(ax, result, t, cols, ylabel, title, scale, log, observed, window, doses):
    info = result.output_info
    concentration = all(info[c].unit.endswith("/mL") for c in cols)
    use_log = log and concentration
    shown = np.ones_like(t, bool) if window is None else (t >= window[0]) & (t <= window[1])
    drawn_max = []
    for c in cols:
        y = result.outputs[c]
        band = None
        if y.ndim == 2:  # population: median and 5-95 % band
            band = np.percentile(y, [5, 95], axis=1)
            y = np.median(y, axis=1)
        if use_log:
            y = np.where(y > 0, y, np.nan)
        line, = ax.plot(t * scale, y, label=info[c].label, lw=1.3)
        drawn_max.append(np.nanmax(y[shown]) if np.isfinite(y[shown]).any() else np.nan)
        if band is not None:
            ax.fill_between(t * scale, band[0], band[1], color=line.get_color(), alpha=0.15, lw=0)
            drawn_max.append(np.nanmax(band[1][shown]))
        if observed is not None:  # observed points (id, time_h, output, value[, lower, upper]) on the curve
            _draw_observed(ax, observed, c, scale, line.get_color())
    if use_log:
        ax.set_yscale("log")
        floor = log_floor(drawn_max)
        if floor is not None:
            ax.set_ylim(floor, 10 ** np.ceil(np.log10(max(v for v in drawn_max if np.isfinite(v) and v > 0))))
        _plain_log_ticks(ax)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")
    # beside the axes, never over the curves
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, borderaxespad=0)
    ax.grid(alpha=0.3)
    for d in doses:
        if d.duration_h > 0:
            ax.axvspan(d.time_h * scale, (d.time_h + d.duration_h) * scale, color="0.85", lw=0, zorder=0)
        ax.axvline(d.time_h * scale, color="0.5", lw=0.8, ls=":", zorder=0)


def _draw_observed(ax, observed, column, scale, color):
    obs = observed[observed["output"] == column]
    if len(obs) == 0:
        return
    x = obs["time_h"].to_numpy(float) * scale
    y = obs["value"].to_numpy(float)
    lo = obs["lower"].to_numpy(float) if "lower" in obs else np.full(len(y), np.nan)
    hi = obs["upper"].to_numpy(float) if "upper" in obs else np.full(len(y), np.nan)
    bars = np.isfinite(lo) & np.isfinite(hi)
    if bars.any():
        ax.errorbar(x[bars], y[bars], yerr=[y[bars] - lo[bars], hi[bars] - y[bars]], fmt="none", ecolor=color,
                    elinewidth=0.8, capsize=2, alpha=0.8)
    ax.plot(x, y, "o", ms=3.5, mfc="white", mec=color, mew=1.0, label=f"{label(column)} observed")
