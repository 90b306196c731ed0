"""Benchmark of `ketasim optimize` on its default problem: ketamine IV, 8 weeks, days in response vs peak CADSS vs
opioid-pathway load, 200 virtual patients, NSGA-II population 24 x 10 generations, one hypothesis (opioid).

    .venv/bin/python benchmarks/bench_optimize.py [--robust]

Runs the command as a user would (a child process, so compile-cache loading and imports count), with the numba
threads this machine has (2 here), and writes benchmarks/optimize_results.md with the wall time, the number of
regimens evaluated, the front's size and the standard regimens' values. The goal (3 minutes on 2 cores) is
checked here, never in the test suite. `--robust` runs the same problem worst-case over opioid and glutamate.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_S = 180.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--robust", action="store_true", help="worst case over opioid and glutamate")
    args = ap.parse_args()
    exe = Path(sys.executable).with_name("ketasim")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "opt"
        cmd = [str(exe), "optimize", "--out", str(out), "--quiet"]
        if args.robust:
            cmd += ["--hypothesis", "opioid,glutamate"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        doc = json.loads((out / "problem.json").read_text())
        report = (out / "report.md").read_text()
    label = "robust (opioid, glutamate; worst case)" if args.robust else "opioid"
    lines = [f"# ketasim optimize benchmark ({datetime.date.today()}, {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()})", "",
             f"Command: `{' '.join(['ketasim'] + cmd[1:2] + cmd[4 + 1:])}` (default problem; hypotheses: {label})", "",
             f"- wall time {wall:.0f} s (goal <= {GOAL_S:.0f} s: {'met' if wall <= GOAL_S else 'NOT met'})",
             f"- regimens evaluated: {doc['evaluations']}; on the front: {doc['front']}; search time "
             f"{doc['seconds']:.0f} s", "", "## Report of the run", "", report]
    text = "\n".join(lines)
    (HERE / ("optimize_results_robust.md" if args.robust else "optimize_results.md")).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
