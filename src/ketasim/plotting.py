"""Static figures (matplotlib imported inside functions, so the core never needs it)."""

from __future__ import annotations

import numpy as np

_LABELS = {
    "ketamine_ng_ml": "ketamine", "norketamine_ng_ml": "norketamine", "hnk_ng_ml": "2,6-HNK",
    "dhnk_ng_ml": "DHNK", "naltrexone_ng_ml": "naltrexone", "naltrexol_ng_ml": "6β-naltrexol",
}


def _mark_doses(ax, result):
    if result.regimen is None:
        return
    for d in result.regimen.realize():
        if d.duration_h > 0:
            ax.axvspan(d.time_h, d.time_h + d.duration_h, color="0.85", lw=0, zorder=0)
        ax.axvline(d.time_h, color="0.5", lw=0.8, ls=":", zorder=0)


def plot_timecourse(result, path=None, log: bool = False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.time_h
    ket = [k for k in ("ketamine_ng_ml", "norketamine_ng_ml", "hnk_ng_ml", "dhnk_ng_ml")
           if k in result.outputs and np.max(result.outputs[k]) > 0]
    ntx = [k for k in ("naltrexone_ng_ml", "naltrexol_ng_ml") if k in result.outputs
           and np.max(result.outputs[k]) > 0]
    panels = [p for p in (ket, ntx) if p]
    if not panels:
        panels = [["ketamine_ng_ml"]]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 3.2 * len(panels)), sharex=True, squeeze=False)
    span = t[-1] - t[0]
    scale, unit = (1.0, "h") if span <= 72 else (1 / 24, "d")
    for ax, cols in zip(axes[:, 0], panels):
        for c in cols:
            y = result.outputs[c]
            ax.plot(t * scale, np.where(y > 0, y, np.nan) if log else y, label=_LABELS.get(c, c))
        ax.set_ylabel("plasma concentration (ng/mL)")
        if log:
            ax.set_yscale("log")
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
        # dose marks on a time axis in the panel's own scale
        if result.regimen is not None:
            for d in result.regimen.realize():
                if d.duration_h > 0:
                    ax.axvspan(d.time_h * scale, (d.time_h + d.duration_h) * scale, color="0.85", lw=0, zorder=0)
                ax.axvline(d.time_h * scale, color="0.5", lw=0.8, ls=":", zorder=0)
    axes[-1, 0].set_xlabel(f"time after first ketamine dose ({unit})")
    title = "; ".join(result.regimen.to_text()) if result.regimen is not None else ""
    fig.suptitle(f"{title}\n(dotted lines / grey bands: doses; research software, not dosing advice)", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
