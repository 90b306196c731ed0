"""Visual predictive check: the data set's own design (doses, sampling times, covariates) simulated many times
with between-subject variability; per output and time bin, the observed 5th/50th/95th percentiles against
the spread (90 % interval over replicates) of the same percentiles in the simulated data sets."""

from __future__ import annotations

import numpy as np
import pandas as pd

PERCENTILES = (5, 50, 95)


def time_bins(times: np.ndarray, max_bins: int = 10) -> np.ndarray:
    """Bin edges: each distinct sampling time where there are few, else quantiles of the times."""
    u = np.unique(np.round(times, 6))
    if len(u) <= max_bins:
        mids = (u[1:] + u[:-1]) / 2
        return np.concatenate([[u[0] - 1e-6], mids, [u[-1] + 1e-6]])
    edges = np.unique(np.quantile(times, np.linspace(0, 1, max_bins + 1)))
    edges[0] -= 1e-6
    edges[-1] += 1e-6
    return edges


def vpc_table(observed: pd.DataFrame, simulated: list[pd.DataFrame], max_bins: int = 10) -> pd.DataFrame:
    """observed: id, time_h, output, value; simulated: one table per replicate with the same rows (value =
    simulated). Returns per output and bin: observed percentiles, simulated percentiles' median and 90 %
    interval, and the share of observations outside the simulated 5-95 % band."""
    rows = []
    for out, o in observed.groupby("output"):
        edges = time_bins(o["time_h"].to_numpy(float), max_bins)
        b_obs = np.digitize(o["time_h"], edges) - 1
        sims = [s[s["output"] == out] for s in simulated]
        for b in range(len(edges) - 1):
            m = b_obs == b
            if not m.any():
                continue
            ov = o["value"].to_numpy(float)[m]
            row = {"output": out, "bin": b, "time_h": float(np.median(o["time_h"].to_numpy(float)[m])),
                   "n_observed": int(m.sum())}
            sim_p = []
            for s in sims:
                bs = np.digitize(s["time_h"], edges) - 1
                sim_p.append(np.percentile(s["value"].to_numpy(float)[bs == b], PERCENTILES))
            sim_p = np.array(sim_p)
            for j, p in enumerate(PERCENTILES):
                row[f"observed_p{p}"] = float(np.percentile(ov, p))
                row[f"simulated_p{p}_median"] = float(np.median(sim_p[:, j]))
                row[f"simulated_p{p}_lo"] = float(np.percentile(sim_p[:, j], 5))
                row[f"simulated_p{p}_hi"] = float(np.percentile(sim_p[:, j], 95))
            pooled = np.concatenate([s["value"].to_numpy(float)[(np.digitize(s["time_h"], edges) - 1) == b]
                                     for s in sims])
            lo, hi = np.percentile(pooled, [5, 95])
            row["share_outside_90pct"] = float(np.mean((ov < lo) | (ov > hi)))
            rows.append(row)
    return pd.DataFrame(rows)


def plot_vpc(table: pd.DataFrame, observed: pd.DataFrame, path=None, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ketasim.models.outputs import label, unit

    outs = list(dict.fromkeys(table["output"]))
    fig, axes = plt.subplots(len(outs), 1, figsize=(8, 3.0 * len(outs) + 0.8), squeeze=False)
    for ax, out in zip(axes[:, 0], outs):
        t = table[table["output"] == out].sort_values("time_h")
        x = t["time_h"].to_numpy()
        for p, color in ((5, "C0"), (50, "C3"), (95, "C0")):
            ax.fill_between(x, t[f"simulated_p{p}_lo"], t[f"simulated_p{p}_hi"], color=color, alpha=0.2, lw=0,
                            label=("simulated p5 and p95: 90 % intervals" if p == 5 else
                                   "simulated median: 90 % interval" if p == 50 else None))
            ax.plot(x, t[f"observed_p{p}"], "-" if p == 50 else "--", color=color, lw=1.2,
                    label=("observed p5 and p95" if p == 5 else "observed median" if p == 50 else None))
        o = observed[observed["output"] == out]
        ax.plot(o["time_h"], o["value"], "o", ms=2.5, color="0.4", alpha=0.5, label="observations")
        ax.set_ylabel(f"{label(out)} ({unit(out)})", fontsize=8)
        ax.set_xlabel("time (h, the data set's clock)", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle((title + "\n" if title else "") + "visual predictive check (research software, not dosing advice)",
                 fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
