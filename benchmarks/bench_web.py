"""Response-time goals of the dashboard and the web API (the tests check what they show, never how fast).

    .venv/bin/python benchmarks/bench_web.py [--rounds 3] [--out benchmarks/results_web.md]

1. `ketasim serve` in its own process, then the page in headless Debian Chromium (/usr/bin/chromium, driven by
   Playwright): seconds from navigation until the default scenario's four layers are drawn with data.
   Goal: under 5 s. The first round includes the server's first simulation (imports, compiled kernels).
2. The largest request the synchronous route accepts (10 dose lines x 100 repeats over the longest allowed run):
   seconds until the answer. Goal: under 20 s.
3. Cheap requests while a long job runs (bounded local load test): `ketasim serve` in its own process, a long trial
   job (TRANSFORM-2, --replicates, about a minute here) submitted and computing in a worker process, then
   --requests sequential GET /api/parameters (the parameter table), each timed, while the job runs.
   Goal: under 1 s for 95 % of them. `--only load` runs this part alone and replaces its section of --out.

Prints one table and writes it to --out with the date and the machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LAYERS_DRAWN_JS = """() => window.KS && window.KS.runs >= 1 &&
    ['concentrations', 'occupancy', 'effects', 'mood'].every(k =>
        [...document.querySelectorAll(`.chart[data-layer=${k}]`)].some(d => d.data && d.data.length))"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dashboard_seconds(rounds: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ketasim.cli.main", "serve", "--host", "127.0.0.1", "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/api/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("ketasim serve did not come up")
                time.sleep(0.1)
        out = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                for _ in range(rounds):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    t0 = time.perf_counter()
                    page.goto(base + "/")
                    page.wait_for_function(LAYERS_DRAWN_JS, timeout=300_000)
                    out.append(time.perf_counter() - t0)
                    context.close()
            finally:
                browser.close()
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "ketasim.cli.main", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--no-token"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("ketasim serve did not come up")
            time.sleep(0.1)


def _get_json(url: str, body: dict | None = None, timeout: float = 60):
    import json

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


def cheap_requests_during_long_job(requests: int, replicates: int, gap_s: float = 0.2) -> dict:
    """Seconds per GET /api/parameters while a TRANSFORM-2 trial job computes in a worker process."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start_server(port)
    try:
        t_submit = time.perf_counter()
        status, job = _get_json(base + "/api/trials/run", {"trial": "transform2", "replicates": replicates})
        if status != 202:
            raise SystemExit(f"the trial job was refused: {status} {job}")
        deadline = time.monotonic() + 600
        while True:  # computing, not just starting its worker process
            _, j = _get_json(f"{base}/api/jobs/{job['id']}")
            if j["status"] != "queued" and j["progress"] > 0.05 or j["status"] in ("done", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise SystemExit("the trial job never started computing")
            time.sleep(0.2)
        times, statuses = [], []
        for _ in range(requests):
            t0 = time.perf_counter()
            with urllib.request.urlopen(base + "/api/parameters", timeout=60) as r:
                r.read()
                statuses.append(r.status)
            times.append(time.perf_counter() - t0)
            time.sleep(gap_s)
        _, during = _get_json(f"{base}/api/jobs/{job['id']}")   # still running after the last request?
        sim_times = []   # and a few small typical-subject simulations, answered inline
        for _ in range(5):
            t0 = time.perf_counter()
            code, _ = _get_json(base + "/api/simulate", {"name": "typical", "duration": "1 d", "doses": [
                {"drug": "ketamine", "amount": 0.5, "unit": "mg/kg", "route": "iv", "over": "40 min"}]})
            sim_times.append(time.perf_counter() - t0)
            statuses.append(code)
        _, after_sims = _get_json(f"{base}/api/jobs/{job['id']}")
        final = after_sims
        while final["status"] not in ("done", "failed", "cancelled"):
            if time.monotonic() > deadline + 600:
                raise SystemExit("the trial job did not finish")
            time.sleep(0.5)
            _, final = _get_json(f"{base}/api/jobs/{job['id']}")
        job_s = time.perf_counter() - t_submit
        ordered = sorted(times)
        return {"n": len(times), "ok": sum(s == 200 for s in statuses[:len(times)]),
                "sim_ok": sum(s == 200 for s in statuses[len(times):]), "sim_n": len(sim_times),
                "sim_first": sim_times[0], "sim_p50": statistics.median(sim_times[1:]), "sim_max": max(sim_times[1:]),
                "job_after_sims": j_status(after_sims), "under_1s": sum(t < 1.0 for t in times),
                "p50": statistics.median(times), "p95": ordered[max(0, int(round(0.95 * len(ordered))) - 1)],
                "max": ordered[-1], "job_status_after": j_status(during), "job_final": final["status"],
                "job_s": job_s, "replicates": replicates}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def j_status(job: dict) -> str:
    return f"{job['status']} ({job['progress'] * 100:.0f} %)"


def largest_sync_request_seconds() -> tuple[float, int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from ketasim.web import create_app
    from ketasim.web import limits as ws

    doses = [{"drug": "ketamine", "amount": 10, "unit": "mg", "route": "iv", "over": "1 min",
              "at": f"{i * 21.6:.1f} h", "every": "4 h", "count": ws.MAX_REPEATS} for i in range(ws.MAX_DOSES)]
    body = {"name": "largest", "doses": doses, "duration": f"{ws.MAX_DURATION_D:g} d"}
    client = TestClient(create_app())
    try:
        t0 = time.perf_counter()
        r = client.post("/api/simulate", json=body)
        return time.perf_counter() - t0, r.status_code, len(r.content)
    finally:
        client.app.state.jobs.shutdown()
        client.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="page loads of the dashboard")
    ap.add_argument("--out", default=str(HERE / "results_web.md"))
    ap.add_argument("--only", choices=["all", "load"], default="all", help="load: the load test alone")
    ap.add_argument("--requests", type=int, default=100, help="GET /api/parameters during the long job")
    ap.add_argument("--replicates", type=int, default=50, help="replicates of the long TRANSFORM-2 job")
    args = ap.parse_args(argv)
    if args.only == "load":
        return _load_section(args)
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    say("# ketasim web benchmark (dashboard and API response times)")
    say()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    say(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, load average at start {load} (1/5/15 min); Python {platform.python_version()}")
    say()
    dash = dashboard_seconds(args.rounds)
    sync_s, status, size = largest_sync_request_seconds()
    say("| measurement | seconds | goal |")
    say("|---|---:|---|")
    say(f"| dashboard: default scenario's four layers drawn, first load | {dash[0]:.2f} | < 5 s "
        f"{'(met)' if dash[0] < 5 else '(NOT met)'} |")
    if len(dash) > 1:
        med = statistics.median(dash[1:])
        say(f"| dashboard: later loads (median of {len(dash) - 1}) | {med:.2f} | < 5 s {'(met)' if med < 5 else '(NOT met)'} |")
    say(f"| API: largest allowed synchronous request (HTTP {status}, {size / 1e6:.1f} MB) | {sync_s:.2f} | < 20 s "
        f"{'(met)' if sync_s < 20 else '(NOT met)'} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    return _load_section(args)


LOAD_HEADING = "## Cheap requests while a long job runs"


def _load_section(args) -> int:
    """Run the load test and put its section at the end of --out (replacing an older one)."""
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    res = cheap_requests_during_long_job(args.requests, args.replicates)
    met = res["under_1s"] >= 0.95 * res["n"] and res["ok"] == res["n"]
    lines = [LOAD_HEADING, "",
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} logical CPUs, "
             f"load average at start {load} (1/5/15 min). `ketasim serve` (job pool: one worker process per CPU); a "
             f"TRANSFORM-2 trial job with {res['replicates']} replicates computing in a worker process; "
             f"{res['n']} sequential GET /api/parameters, 0.2 s apart, then {res['sim_n']} small inline simulations, "
             f"while it ran. Command: `.venv/bin/python benchmarks/bench_web.py --only load`.", "",
             "| measurement | value | goal |", "|---|---:|---|",
             f"| GET /api/parameters answered in < 1 s | {res['under_1s']} of {res['n']} (HTTP 200: {res['ok']}) | "
             f"≥ 95 % {'(met)' if met else '(NOT met)'} |",
             f"| GET /api/parameters median / 95th percentile / slowest | {res['p50']:.3f} / {res['p95']:.3f} / "
             f"{res['max']:.3f} s | |",
             f"| the trial job after the last GET | {res['job_status_after']} | still running |",
             f"| then POST /api/simulate, typical subject, 1 day (HTTP 200: {res['sim_ok']} of {res['sim_n']}): first "
             f"(the server's first simulation) / median of the others / slowest of the others | {res['sim_first']:.2f} "
             f"/ {res['sim_p50']:.2f} / {res['sim_max']:.2f} s | |",
             f"| the trial job after the simulations | {res['job_after_sims']} | |",
             f"| the trial job, submitted to finished ({res['job_final']}) | {res['job_s']:.1f} s | |", ""]
    print("\n".join(lines), flush=True)
    out = Path(args.out)
    old = out.read_text() if out.exists() else ""
    if LOAD_HEADING in old:
        old = old[:old.index(LOAD_HEADING)]
    out.write_text(old.rstrip("\n") + "\n\n" + "\n".join(lines))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
