"""Benchmark of `ketasim compound --design` on its default problem: lanicemine's PK, 4 sessions every 3.5 days over
14 days, CADSS peak <= 4 points and drug liking <= 20 (VAS), NSGA-II population 40 x 25 generations under every
hypothesis and in robust mode (the worst over the drug hypotheses).

    .venv/bin/python benchmarks/bench_compound_design.py

Runs the command as a user would (a child process, so imports, numba's compile cache and writing the front count)
and writes benchmarks/compound_design_results.md with the wall time, the child's CPU time, the machine's load
average before and after (`os.getloadavg`, as `uptime` shows it), and the size of each front. The goal (at most 5
minutes on 2 cores) is checked here, never in the test suite.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_S = 300.0


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    exe = Path(sys.executable).with_name("ketasim")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "design"
        cmd = [str(exe), "compound", "--design", "--out", str(out), "--quiet"]
        load_before = _load()
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        wall = time.perf_counter() - t0
        load_after = _load()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        doc = json.loads((out / "design.json").read_text())
        written = sorted(p.name for p in out.iterdir())
        front_rows = sum(1 for _ in (out / "front.csv").open()) - 1
    p = doc["problem"]
    lines = [f"# ketasim compound --design benchmark ({datetime.date.today()}, {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()})", "",
             "Command: `ketasim compound --design --out DIR --quiet` (the default problem: template "
             f"{p['template']}, `{p['regimen']}`, {p['duration_h'] / 24:g} days, CADSS <= {p['cadss_max']:g}, "
             f"liking <= {p['liking_max']:g}, population {p['population']} x {p['generations']} generations)", "",
             f"- wall time {wall:.0f} s (goal <= {GOAL_S:.0f} s on 2 cores: "
             f"{'met' if wall <= GOAL_S else 'NOT met'}); the search itself {doc['wall_s']:.0f} s",
             f"- CPU time of the child: {usage.ru_utime:.0f} s user + {usage.ru_stime:.0f} s system; peak RSS "
             f"{usage.ru_maxrss / 1024:.0f} MB",
             f"- load average (1, 5, 15 min) before: {load_before}; after: {load_after}",
             f"- written: {', '.join(written)} ({front_rows} front rows in all)", "",
             "| hypothesis | front size | feasible | best benefit (MADRS vs placebo) |", "|---|---:|---:|---:|"]
    for lab, h in doc["hypotheses"].items():
        s = h["summary"]
        best = s.get("best_benefit_madrs")
        lines.append(f"| {lab} | {h['front_size']} | {s['n_feasible']} | "
                     f"{'' if best is None else f'{best:+.1f}'} |")
    text = "\n".join(lines) + "\n"
    (HERE / "compound_design_results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
