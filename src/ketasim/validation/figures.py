"""The figures of `ketasim validate`: the digitised curves ketasim holds (Hasan 2021, S- and R-ketamine after
5 mg racemate IV over 30 min) with the model's curves and observed against predicted (validation.png), and every
target, published against model, on one normalised axis (targets.png)."""

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
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.8))
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
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle("ketasim validate (research software, not dosing advice)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------ every target, published against model
CLIP = (-1.0, 2.0)  # positions drawn; beyond them a triangle at the edge points to the value (printed beside)
ROW_IN = 0.2        # figure height per target row (inches): the labels never overlap, whatever the count
KIND_MARKER = {"validation": "o", "calibration": "s"}


def range_position(model: float, low: float, high: float) -> float:
    """Where the model value lies in the accepted range: 0 at its low end, 1 at its high end (a common axis for
    targets of any unit); nan for a model value that is not finite."""
    if not np.isfinite(model):
        return float("nan")
    if high > low:
        return float((model - low) / (high - low))
    return 0.5 if model == low else (CLIP[0] - 1 if model < low else CLIP[1] + 1)


def _columns(layers: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """The layer groups split into two columns of about equal row counts, keeping their order."""
    total = sum(n for _, n in layers)
    left, acc = [], 0
    for name, n in layers:
        if left and acc + n / 2 > total / 2:
            break
        left.append((name, n))
        acc += n
    right = layers[len(left):]
    return [left, right] if right else [left]


def targets_figure(rows: list[dict]):
    """Every target, one row each, grouped by layer: its accepted range as a bar from 0 to 1 around the range's
    centre (the published value the range was set around), and the model's value at its position in that range,
    so that targets in ng/mL, minutes, MADRS points or fractions share one axis. Marker: circle validation,
    square calibration; colour: green inside the range, red outside. Returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from .report import range_text, value_text

    order: dict[str, list[dict]] = {}
    for r in rows:
        order.setdefault(r["layer"], []).append(r)
    columns = _columns([(k, len(v)) for k, v in order.items()])
    most = max(sum(n for _, n in col) for col in columns)
    height = ROW_IN * most + 0.55 * max(len(col) for col in columns) + 1.6
    fig = plt.figure(figsize=(9.0 * len(columns), height), layout="constrained")
    subfigs = fig.subfigures(1, len(columns), squeeze=False)[0]
    for sub, col in zip(subfigs, columns):
        axes = sub.subplots(len(col), 1, height_ratios=[n + 2.5 for _, n in col], squeeze=False)[:, 0]
        for ax, (layer, _) in zip(axes, col):
            group = order[layer]
            y = np.arange(len(group))[::-1]
            ax.axvspan(0, 1, color="#e6f2e6", zorder=0, label="accepted range")
            ax.errorbar([0.5] * len(group), y, xerr=0.5, fmt="|", color="0.45", ms=8, lw=1.2, capsize=3,
                        zorder=2)
            for yi, r in zip(y, group):
                lo, hi = r["accepted_range"]
                x = range_position(r["model"], lo, hi)
                if x != x:
                    continue
                color = "#2f855a" if r["pass"] else "#c53030"
                if CLIP[0] <= x <= CLIP[1]:
                    marker = KIND_MARKER.get(r["kind"], "D")
                else:  # far outside: a triangle at the edge, pointing to where the value lies
                    marker, x = ("<", CLIP[0]) if x < CLIP[0] else (">", CLIP[1])
                ax.plot([x], [yi], marker=marker, ms=6, color=color, mec="black", mew=0.5, ls="none", zorder=3,
                        gid=f"target:{r['key']}")
            ax.set_xlim(CLIP[0] - 0.1, CLIP[1] + 0.1)
            ax.set_ylim(-0.7, len(group) - 0.3)
            ax.set_yticks(y, [r["key"] for r in group], fontsize=7)
            right = ax.twinx()
            right.set_ylim(ax.get_ylim())
            right.set_yticks(y, [f"model {value_text(r['model'], r['unit'])}; accepted "
                                 f"{range_text(*r['accepted_range'], r['unit'])}" for r in group], fontsize=6.5)
            right.tick_params(length=0)
            ax.set_xticks([-1, 0, 1, 2], ["-1", "0\nlow end", "1\nhigh end", "2"], fontsize=7)
            ax.axvline(0.5, color="0.6", lw=0.6, ls=":", zorder=1)
            ax.grid(axis="x", alpha=0.3)
            ax.set_title(f"{layer}: {sum(r['pass'] for r in group)} of {len(group)} in range", fontsize=9,
                         loc="left")
        axes[-1].set_xlabel("model value's position in the target's accepted range (0 low end, 1 high end)",
                            fontsize=8)
    handles = [Line2D([], [], marker="o", color="#2f855a", mec="black", mew=0.5, ls="none",
                      label="validation target, model in range"),
               Line2D([], [], marker="s", color="#2f855a", mec="black", mew=0.5, ls="none",
                      label="calibration target (fitted to it), model in range"),
               Line2D([], [], marker="o", color="#c53030", mec="black", mew=0.5, ls="none",
                      label="model outside the range (red)"),
               Line2D([], [], marker=">", color="#c53030", mec="black", mew=0.5, ls="none",
                      label="beyond the axis (value printed at right)"),
               Line2D([], [], marker="|", color="0.45", ms=8, ls="-", lw=1.2,
                      label="accepted range, around the published value (dotted: its centre)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle("Every validation target: published (accepted range) against the model, each on its own "
                 "range (research software, not dosing advice)", fontsize=10)
    return fig


def write_targets_figure(rows: list[dict], path) -> None:
    import matplotlib.pyplot as plt

    fig = targets_figure(rows)
    fig.savefig(path, dpi=100)
    plt.close(fig)
