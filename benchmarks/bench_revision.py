"""Per-subject cost of the population fast path, this checkout side by side with an earlier revision.

Both versions run workload W (ketamine 0.5 mg/kg IV over 40 min every 3.5 d for 8 doses after naltrexone 50 mg
oral, 28 days on a 1-hour grid, the opioid hypothesis) on one thread, in alternating child processes on the same
machine, so load from other work falls on both alike. The figure of merit is CPU time per subject (best of 5
calls per process; wall time is printed beside it). The earlier revision is checked out into a temporary git
worktree and imported from its own `src/`; the same virtual environment serves both.

    python benchmarks/bench_revision.py --base dc65e38 --subjects 400 --rounds 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The timed child: compile/load the kernel on 16 subjects, then best of 5 over the whole population.
CHILD = r"""
import json, os, sys, time
import numba
numba.set_num_threads(1)
import ketasim as ks
from ketasim.mechanisms import get_mechanism
from ketasim.population import PopulationSpec, population_grid, sample_subjects, simulate_population
from ketasim.regimens import Regimen
n = int(sys.argv[1])
p = ks.default_parameters()
reg = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min every 3.5 d for 8 doses", "naltrexone 50 mg oral at -45 min")
t = population_grid(reg, 28 * 24.0, step_h=1.0)
subj = sample_subjects(PopulationSpec(), n, 2024, p)
mech = get_mechanism("opioid")
simulate_population(reg, subj.iloc[:16], p, mech, t)
wall = cpu = float("inf")
for _ in range(5):
    t0, c0 = time.perf_counter(), time.process_time()
    simulate_population(reg, subj, p, mech, t, chunk_size=1000)
    wall = min(wall, time.perf_counter() - t0)
    cpu = min(cpu, time.process_time() - c0)
print(json.dumps({"version": ks.__version__, "file": ks.__file__, "cpu_us": cpu / n * 1e6, "wall_us": wall / n * 1e6}))
"""


def time_checkout(src: Path, subjects: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", CHILD, str(subjects)], env=env, capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"the timed run from {src} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="dc65e38", help="earlier git revision to compare with (default: dc65e38, "
                    "the last revision with the hand-written PD kernel)")
    ap.add_argument("--head", default=None, help="revision to time instead of this checkout (e.g. to compare "
                    "two points of history)")
    ap.add_argument("--subjects", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs of each version")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ketasim-base-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.base], check=True)
        head = ROOT
        if args.head:
            head = Path(tmp) / "head"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(head), args.head],
                           check=True)
        try:
            rows = {"base": [], "this": []}
            for r in range(args.rounds):
                rows["base"].append(time_checkout(base / "src", args.subjects))
                rows["this"].append(time_checkout(head / "src", args.subjects))
                print(f"round {r + 1}: base {rows['base'][-1]['cpu_us']:.0f} us/subject CPU, "
                      f"this {rows['this'][-1]['cpu_us']:.0f} us/subject CPU", flush=True)
        finally:
            for tree in {base, head} - {ROOT}:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    med = {k: statistics.median(x["cpu_us"] for x in v) for k, v in rows.items()}
    best = {k: min(x["cpu_us"] for x in v) for k, v in rows.items()}
    wall = {k: statistics.median(x["wall_us"] for x in v) for k, v in rows.items()}
    print(f"\nworkload W, {args.subjects} subjects, 1 thread, {args.rounds} alternating rounds")
    print(f"{'':13}{'median CPU':>14}{'best CPU':>12}{'median wall':>14}  (us/subject)")
    for k, label in (("base", args.base), ("this", args.head or "this checkout")):
        print(f"{label[:13]:13}{med[k]:14.0f}{best[k]:12.0f}{wall[k]:14.0f}")
    print(f"ratio this/base (median CPU): {med['this'] / med['base']:.2f}; (best CPU): {best['this'] / best['base']:.2f}")


if __name__ == "__main__":
    main()
