"""Figures of a simulated data set: predictions and observations per output, and observed against predicted."""

from __future__ import annotations

import numpy as np


def plot_dataset_run(pred, obs, ovp, path=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ketasim.models.outputs import label, unit

    outs = list(dict.fromkeys(list(obs["output"]) if len(obs) else []))
    if not outs:
        outs = [c for c in ("ketamine_ng_ml", "cadss", "madrs") if c in pred.columns]
    n = len(outs) + (1 if len(ovp) else 0)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.8 * n + 0.6), squeeze=False)
    for ax, out in zip(axes[:, 0], outs):
        for sid, g in pred.groupby(["id", "segment"]):
            g = g.drop_duplicates("time_h").sort_values("time_h")
            ax.plot(g["time_h"], g[out], "-", color="C0", lw=0.8, alpha=0.5)
        o = obs[obs["output"] == out]
        if len(o):
            ax.plot(o["time_h"], o["value"], "o", ms=3, mfc="white", mec="C3", label="observed")
        ax.plot([], [], "-", color="C0", label="simulated (each subject)")
        ax.set_ylabel(f"{label(out)}\n({unit(out)})", fontsize=8)
        ax.set_xlabel("time (h, the data set's clock)", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if len(ovp):
        ax = axes[-1, 0]
        for out, g in ovp.groupby("output"):
            ax.plot(g["predicted"], g["observed"], "o", ms=3, alpha=0.7, label=label(out))
        lim = [0, float(np.nanmax(np.r_[ovp["predicted"], ovp["observed"]])) * 1.05]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_xlabel("predicted (output's unit)", fontsize=8)
        ax.set_ylabel("observed", fontsize=8)
        ax.set_title("observed vs predicted", fontsize=9, loc="left")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("ketasim simulation of a data set (research software, not dosing advice)", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
