"""Wall time of the acceptance run of `ketasim sensitivity`: Sobol indices of madrs_change_day1 with 1,024 base
samples over the PK and PD parameters the default regimen and hypothesis use, on Dask with two local workers
(goal: 10 minutes on 2 cores). Writes benchmarks/sensitivity_results.md.

    .venv/bin/python benchmarks/bench_sensitivity.py [--samples 1024] [--workers 2]

The wall time includes starting the local cluster and loading the compiled kernels in its workers, as the
command does; the machine's load average before and after is recorded beside it (the machine may be shared).
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import time
from pathlib import Path

from ketasim import services
from ketasim.parallel import get_executor


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=2, help="local Dask workers (0: in-process)")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("sensitivity_results.md"))
    a = ap.parse_args()
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    with get_executor(f"local:{a.workers}" if a.workers else None, quiet=True) as ex:
        doc = services.run_sensitivity(None, "madrs_change_day1", "sobol", a.samples, executor=ex)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    # CPU seconds of this process and its (closed, reaped) worker processes: on a machine shared with other
    # work, wall time includes waiting for a core; CPU / cores is what the run costs on a quiet one
    cpu = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    info = doc["sobol_info"]
    top = doc["sobol"].sort_values("ST", ascending=False).head(5)
    where = f"Dask, {a.workers} local workers" if a.workers else "in-process"
    lines = ["# `ketasim sensitivity` wall time", "",
             f"command: `.venv/bin/python benchmarks/bench_sensitivity.py --samples {a.samples} --workers {a.workers}`"
             f" ({where}; {datetime.date.today().isoformat()}, {os.cpu_count()} cores; load average (1 min) "
             f"{load_before[0]:.1f} before, {load_after[0]:.1f} after the run)", "",
             f"- {info['runs']:,} model runs ({info['screening_runs']} screening runs, {info['sobol_runs']:,} Sobol "
             f"runs; {info['parameters_varied']} parameters varied, {len(info['parameters_screened_out'])} screened "
             f"out as not moving the outcome at either end of their range)",
             f"- {wall:.0f} s wall time ({wall / 60:.1f} min; {doc['wall_s']:.0f} s in the analysis itself, "
             f"{1e3 * doc['wall_s'] / info['runs']:.2f} ms per model run): the 10-minute goal is "
             + ("met" if wall <= 600 else "**not** met"),
             f"- {cpu:.0f} CPU seconds (this process and its workers; {cpu / os.cpu_count():.0f} s per core)",
             f"- sum of first-order indices {info['sum_S1']:.3f}, of total indices {info['sum_ST']:.3f}", "",
             "| parameter | S1 | ±95 % | ST | ±95 % |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r.parameter} | {r.S1:.3f} | {r.S1_conf:.3f} | {r.ST:.3f} | {r.ST_conf:.3f} |"
              for r in top.itertuples()]
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
