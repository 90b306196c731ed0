"""Wall time of the acceptance run of `ketasim sensitivity`: Sobol indices of madrs_change_day1 with 1,024 base
samples over the PK and PD parameters the default regimen and hypothesis use, on Dask with two local workers.
Writes benchmarks/sensitivity_results.md.

    .venv/bin/python benchmarks/bench_sensitivity.py [--samples 1024] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ketasim import services
from ketasim.parallel import get_executor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    t0 = time.perf_counter()
    with get_executor(f"local:{a.workers}") as ex:
        doc = services.run_sensitivity(None, "madrs_change_day1", "sobol", a.samples, executor=ex)
    wall = time.perf_counter() - t0
    info = doc["sobol_info"]
    top = doc["sobol"].sort_values("ST", ascending=False).head(5)
    lines = ["# `ketasim sensitivity` wall time", "",
             f"command: `.venv/bin/python benchmarks/bench_sensitivity.py --samples {a.samples} --workers {a.workers}`"
             f" (load average before the run: {os.getloadavg()[0]:.1f})", "",
             f"- {info['runs']} model runs ({info['parameters_varied']} parameters varied, "
             f"{len(info['parameters_screened_out'])} screened out), {wall:.0f} s wall time",
             f"- sum of first-order indices {info['sum_S1']:.3f}, of total indices {info['sum_ST']:.3f}", "",
             "| parameter | S1 | ±95 % | ST | ±95 % |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r.parameter} | {r.S1:.3f} | {r.S1_conf:.3f} | {r.ST:.3f} | {r.ST_conf:.3f} |"
              for r in top.itertuples()]
    Path(__file__).with_name("sensitivity_results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
