"""Static figures (matplotlib imported inside functions, so the core never needs it). What is drawn where comes
from the model's output declarations (`result.output_info`: label, unit, panel)."""

from __future__ import annotations

import numpy as np

from ketasim.models.outputs import label
from ketasim.models.spec import PANELS


def _panels(result) -> list[tuple[str, list[str], str]]:
    """(panel name, columns, y label) in drawing order, for the outputs the result holds."""
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
        units = list(dict.fromkeys(info[c].unit for c in groups[name]))
        out.append((name, groups[name], " / ".join(units)))
    return out


def plot_timecourse(result, path=None, log: bool = False, observed=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.time_h
    info = result.output_info
    panels = []
    for title, cols, ylabel in _panels(result):
        present = [c for c in cols if np.nanmax(np.abs(result.outputs[c])) > 0]
        if getattr(result, "subjects", None) is not None:
            title = f"{title} (median, 5-95 % band, {len(result.subjects)} subjects)" if not panels else title
        if present:
            panels.append((title, present, ylabel))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8.5, 2.4 * len(panels) + 0.8), sharex=True, squeeze=False)
    span = t[-1] - t[0]
    scale, unit = (1.0, "h") if span <= 72 else (1 / 24, "d")
    for ax, (title, cols, ylabel) in zip(axes[:, 0], panels):
        concentration = all(info[c].unit.endswith("/mL") for c in cols)
        for c in cols:
            y = result.outputs[c]
            band = None
            if y.ndim == 2:  # population: median and 5-95 % band
                band = np.percentile(y, [5, 95], axis=1)
                y = np.median(y, axis=1)
            if log and concentration:
                y = np.where(y > 0, y, np.nan)
            line, = ax.plot(t * scale, y, label=info[c].label, lw=1.3)
            if band is not None:
                ax.fill_between(t * scale, band[0], band[1], color=line.get_color(), alpha=0.15, lw=0)
            if observed is not None:  # observed points (id, time_h, output, value[, lower, upper]) on the curve
                _draw_observed(ax, observed, c, scale, line.get_color())
        if log and concentration:
            ax.set_yscale("log")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(title, fontsize=9, loc="left")
        ax.legend(loc="upper right", fontsize=7)
        ax.grid(alpha=0.3)
        if result.regimen is not None:
            for d in result.regimen.realize():
                if d.duration_h > 0:
                    ax.axvspan(d.time_h * scale, (d.time_h + d.duration_h) * scale, color="0.85", lw=0, zorder=0)
                ax.axvline(d.time_h * scale, color="0.5", lw=0.8, ls=":", zorder=0)
    axes[-1, 0].set_xlabel(f"time ({unit}; 0 = regimen time zero)")
    title = "; ".join(result.regimen.to_text()) if result.regimen is not None else ""
    hyp = result.meta.get("hypothesis")
    fig.suptitle(f"{title}" + (f"  [hypothesis: {hyp}]" if hyp else "")
                 + "\n(dotted lines / grey bands: doses; research software, not dosing advice)", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


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
