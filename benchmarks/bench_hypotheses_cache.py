"""`ketasim hypotheses` twice: the built-in trials cold, then the same trials with one user trial added.

The second call reruns only the added trial (the others come from the content-addressed trial cache, keyed on
each trial's content, the parameters, the hypothesis, seed, replicates and ketasim's code), so it should be at
least 3x faster than the first. Both calls run as child processes with a fresh cache folder; a third call with
the cache turned off shows what the second would cost without it. Writes benchmarks/hypotheses_cache_results.md.

    python benchmarks/bench_hypotheses_cache.py [--replicates 10]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRIALS = ["williams2018", "zarate2006", "murrough2013", "daly2018", "singh2016", "transform2"]
ADDED = ROOT / "examples" / "no_blockade_trial.yaml"


def run(trials, replicates, env, out) -> float:
    cmd = [str(Path(sys.executable).with_name("ketasim")), "hypotheses", "--replicates", str(replicates), "--share-points", "3",
           "--quiet", "--out", str(out)]
    for t in trials:
        cmd += ["--trial", str(t)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"ketasim hypotheses failed: {r.stderr.strip()[-400:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ketasim-bench-cache-") as tmp:
        env = dict(os.environ, KETASIM_CACHE_DIR=str(Path(tmp) / "cache"))
        env.pop("KETASIM_CACHE", None)
        first = run(TRIALS, args.replicates, env, Path(tmp) / "a")
        second = run(TRIALS + [ADDED], args.replicates, env, Path(tmp) / "b")
        uncached = run(TRIALS + [ADDED], args.replicates, dict(env, KETASIM_CACHE="off"), Path(tmp) / "c")
    lines = [
        "# `ketasim hypotheses` with the trial cache",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; replicates {args.replicates}; trials {', '.join(TRIALS)}",
        "",
        "| call | wall s |",
        "|---|---:|",
        f"| first: the built-in trials, cold cache | {first:.1f} |",
        f"| second: the same and one user trial ({ADDED.name}) | {second:.1f} |",
        f"| the second without the cache (KETASIM_CACHE=off) | {uncached:.1f} |",
        "",
        f"first / second: {first / second:.1f}x (goal >= 3x); second without / with the cache: "
        f"{uncached / second:.1f}x",
    ]
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "hypotheses_cache_results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
