"""The figure of `ketasim validate`: the digitised curves ketasim holds (Hasan 2021, S- and R-ketamine after
5 mg racemate IV over 30 min) with the model's curves, observed against predicted, and every target's model
value placed within its accepted range."""

from __future__ import annotations

from importlib import resources

import numpy as np


def digitised_curves():
    """(analyte, model column, DataFrame of time_h/value) of every digitised curve; the t = 0 point the
    data README marks as a digitisation artefact is dropped."""
    import pandas as pd

    path = resources.files("ketasim.validation") / "data" / "hasan2021_iv5mg_racemic.csv"
    df = pd.read_csv(str(path))
    df = df[~df["stat"].astype(str).str.contains("ARTEFACT")]
    return [("Hasan 2021 S-ketamine", "ketamine_S_ng_ml", df[df.analyte == "S-ketamine"]),
            ("Hasan 2021 R-ketamine", "ketamine_R_ng_ml", df[df.analyte == "R-ketamine"])]


def validation_figure(rows: list[dict], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ketasim.simulation import simulate

    r = simulate("ketamine 5 mg iv over 30 min", duration="2 d", output_step="5 min")
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.8))
    obs_all, pred_all = [], []
    for k, (label, col, d) in enumerate(digitised_curves()):
        c = f"C{k}"
        ax[0].plot(r.time_h, r.outputs[col], "-", color=c, lw=1.2, label=f"model {col}")
        ax[0].plot(d.time_h, d.value, "o", color=c, mfc="white", ms=4, label=f"{label} (digitised mean)")
        pred = np.interp(d.time_h.to_numpy(), r.time_h, r.outputs[col])
        ax[1].plot(pred, d.value, "o", color=c, ms=4, label=label)
        obs_all += list(d.value)
        pred_all += list(pred)
    ax[0].set_yscale("log")
    ax[0].set_ylim(0.01, None)
    ax[0].set_xlim(0, 26)
    ax[0].set_xlabel("time after the start of the infusion (h)")
    ax[0].set_ylabel("plasma concentration (ng/mL)")
    ax[0].set_title("digitised data and the model", fontsize=9, loc="left")
    ax[0].legend(fontsize=7)
    lim = [min(obs_all + pred_all) * 0.7, max(obs_all + pred_all) * 1.4]
    ax[1].plot(lim, lim, "k-", lw=0.8)
    for f in (0.5, 2.0):
        ax[1].plot(lim, [x * f for x in lim], "k:", lw=0.6)
    ax[1].set_xscale("log")
    ax[1].set_yscale("log")
    ax[1].set_xlabel("model (ng/mL)")
    ax[1].set_ylabel("observed (ng/mL)")
    ax[1].set_title("observed vs predicted (dotted: 2-fold)", fontsize=9, loc="left")
    ax[1].legend(fontsize=7)
    # each target: where the model falls in its accepted range (0 = low end, 1 = high end)
    pos = []
    for i, row in enumerate(rows):
        lo, hi = row["accepted_range"]
        x = (row["model"] - lo) / (hi - lo) if hi > lo else 0.5
        pos.append((x, row["pass"], row["kind"]))
    y = np.arange(len(pos))
    xs = np.clip([p[0] for p in pos], -1.5, 2.5)
    colors = ["C2" if p[1] else "C3" for p in pos]
    ax[2].scatter(xs, y, c=colors, s=14, marker="o")
    ax[2].axvspan(0, 1, color="0.9", zorder=0)
    ax[2].set_yticks(y)
    ax[2].set_yticklabels([row["key"] for row in rows], fontsize=5)
    ax[2].set_xlabel("model in its accepted range (0 low, 1 high)")
    ax[2].set_title("every target (green pass, red fail)", fontsize=9, loc="left")
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle("ketasim validate (research software, not dosing advice)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
