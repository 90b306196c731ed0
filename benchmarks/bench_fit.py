"""Simulation-re-estimation benchmark of `ketasim fit` (FOCE-I).

Each replicate: 60 subjects simulated by ketasim (population sampler for weights, 0.5 mg/kg IV over 40 min,
exact linear solution of a three-compartment racemic-ketamine model, log-normal BSV on CL, V1, V2, V3, 10 %
proportional + 0.5 ng/mL additive error, 17 samples from 5 min to 24 h), written as a NONMEM-style data set,
read back and fitted from initial estimates of each subject's NCA. Reported: relative error of every estimate,
the share of fixed effects within +-10 % and of BSV variances within +-35 %, coverage of the 95 % intervals
and wall time. Writes benchmarks/fit_results.md.

    .venv/bin/python benchmarks/bench_fit.py [--replicates 10] [--subjects 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ketasim import services
from ketasim.estimation.simulate import TRUE_3CMT, TRUE_OMEGA, TRUE_SIGMA, simulate_study


def truth_of(parameter: str) -> float:
    if parameter.startswith("omega2_"):
        return TRUE_OMEGA[parameter[7:]]
    if parameter == "sigma_prop":
        return TRUE_SIGMA["prop"]
    if parameter == "sigma_add":
        return TRUE_SIGMA["add"]
    return TRUE_3CMT[parameter]


def replicate(seed: int, n: int, folder: Path) -> pd.DataFrame:
    path = folder / f"study_{seed}.csv"
    simulate_study(path, n, seed)
    t0 = time.perf_counter()
    fit = services.fit_dataset(path, 3)
    wall = time.perf_counter() - t0
    est = fit["pk"].estimates.copy()
    est["truth"] = [truth_of(p) for p in est["parameter"]]
    est["rel_error"] = est["estimate"] / est["truth"] - 1
    est["covered"] = (est["ci95_low"] <= est["truth"]) & (est["truth"] <= est["ci95_high"])
    est["seed"] = seed
    est["wall_s"] = wall
    est["converged"] = fit["pk"].converged
    est["covariance_ok"] = fit["pk"].covariance_ok
    return est


def _markdown(df: pd.DataFrame) -> str:
    head = "| parameter | " + " | ".join(df.columns) + " |"
    rule = "|---|" + "---:|" * len(df.columns)
    body = ["| " + str(i) + " | " + " | ".join(f"{v:.4g}" for v in r) + " |" for i, r in df.iterrows()]
    return "\n".join([head, rule, *body])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=10)
    ap.add_argument("--subjects", type=int, default=60)
    ap.add_argument("--out", default=str(Path(__file__).with_name("fit_results.md")))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for seed in range(1, a.replicates + 1):
            r = replicate(seed, a.subjects, Path(tmp))
            rows.append(r)
            print(f"replicate {seed}: {r['wall_s'].iloc[0]:.1f} s, converged {r['converged'].iloc[0]}, "
                  f"max |rel error| theta {r.loc[r.kind == 'theta', 'rel_error'].abs().max():.3f}, "
                  f"omega {r.loc[r.kind == 'omega', 'rel_error'].abs().max():.3f}", flush=True)
    df = pd.concat(rows, ignore_index=True)
    g = df.groupby("parameter", sort=False)
    summ = pd.DataFrame({"truth": g["truth"].first(), "mean_estimate": g["estimate"].mean(),
                         "mean_rel_error_pct": 100 * g["rel_error"].mean(),
                         "rmse_pct": 100 * np.sqrt(g["rel_error"].apply(lambda x: np.mean(x ** 2))),
                         "coverage_95_pct": 100 * g["covered"].mean()})
    theta = df[df.kind == "theta"]
    omega = df[df.kind == "omega"]
    walls = df.groupby("seed")["wall_s"].first()
    lines = [
        "# `ketasim fit` simulation-re-estimation (FOCE-I)",
        "",
        f"{a.replicates} replicate data sets x {a.subjects} subjects, three-compartment racemic ketamine, "
        "BSV on CL, V1, V2, V3, combined error; command: `.venv/bin/python benchmarks/bench_fit.py "
        f"--replicates {a.replicates} --subjects {a.subjects}`",
        "",
        f"- fixed effects within +-10 %: {100 * (theta['rel_error'].abs() <= 0.10).mean():.0f} % of "
        f"{len(theta)} estimates",
        f"- BSV variances within +-35 %: {100 * (omega['rel_error'].abs() <= 0.35).mean():.0f} % of "
        f"{len(omega)} estimates",
        f"- true value inside the reported 95 % interval: {100 * df['covered'].mean():.0f} % of {len(df)} "
        f"(parameter, replicate) pairs; per replicate, the lowest share is "
        f"{100 * df.groupby('seed')['covered'].mean().min():.0f} %",
        f"- converged {int(df.groupby('seed')['converged'].first().sum())}/{a.replicates}, covariance step "
        f"{int(df.groupby('seed')['covariance_ok'].first().sum())}/{a.replicates}",
        f"- wall time per fit (2-core machine, one process): median {walls.median():.1f} s, "
        f"max {walls.max():.1f} s",
        "",
        _markdown(summ),
        "",
    ]
    Path(a.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
