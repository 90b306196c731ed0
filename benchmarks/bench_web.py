"""Response-time goals of the dashboard and the web API (the tests check what they show, never how fast).

    .venv/bin/python benchmarks/bench_web.py [--rounds 3] [--out benchmarks/results_web.md]

1. `ketasim serve` in its own process, then the page in headless Debian Chromium (/usr/bin/chromium, driven by
   Playwright): seconds from navigation until the default scenario's four layers are drawn with data.
   Goal: under 5 s. The first round includes the server's first simulation (imports, compiled kernels).
2. The largest request the synchronous route accepts (10 dose lines x 100 repeats over the longest allowed run):
   seconds until the answer. Goal: under 20 s.

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
    args = ap.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
