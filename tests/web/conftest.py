"""Fixtures for the web tests: an in-process client, a live uvicorn server on a free port, and Chromium."""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KETASIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]


def _test_client_class():
    # starlette warns that it prefers httpx2 over httpx; the suite treats warnings as errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient


@pytest.fixture
def make_client():
    """make_client(**create_app_kwargs) -> TestClient of a fresh app."""
    from ketasim.web import create_app

    TestClient = _test_client_class()
    clients = []

    def make(**kw):
        c = TestClient(create_app(**kw), raise_server_exceptions=False)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.app.state.jobs.shutdown()
        c.close()


@pytest.fixture
def client(make_client):
    return make_client()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server():
    """The app served by uvicorn in a thread on a free localhost port; yields its base URL."""
    import uvicorn

    from ketasim.web import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", ws="none",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="ketasim-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 300  # a bound on waiting (a busy machine), not a speed goal
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=60)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright. Missing Chromium is a failure, not a skip: CI installs it."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; `make test` installs it (tools/bootstrap_browser.sh), "
                    f"or run: sudo apt-get install -y chromium", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
