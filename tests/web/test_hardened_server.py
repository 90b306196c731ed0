"""The server under abuse: body limit (413), response point cap, heavy slots that fail fast (429) while health and
cheap routes answer, the Host check (DNS rebinding), the token, security headers on the page, one validation for
every endpoint, and `ketasim serve` refusing non-loopback binds without --allow-remote."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from ketasim import services
from ketasim.web import limits as ws

INFUSION = {"drug": "ketamine", "amount": 0.5, "unit": "mg/kg", "route": "iv", "over": "40 min"}


def scenario(**kw):
    return {"name": "t", "doses": [INFUSION], "duration": "1 d", **kw}


# --------------------------------------------------------------------------- one validation, every endpoint
@pytest.mark.parametrize("doses", [
    [{"drug": "ketamine", "amount": 5000, "unit": "mg/kg", "route": "iv"}],
    [{"drug": "ketamine", "amount": 2000, "unit": "mg", "route": "iv"}] * 10,
    [{"drug": "ketamine", "amount": 250, "unit": "mg", "route": "iv", "every": "15 min", "count": 100}],
], ids=["5000-mg/kg", "ten-2000-mg", "25-g-a-day"])
def test_jobs_refuse_what_simulate_refuses(client, doses):
    sim = client.post("/api/simulate", json=scenario(doses=doses))
    job = client.post("/api/jobs", json={"scenario": scenario(doses=doses)})
    assert sim.status_code == 422 and job.status_code == 422, (sim.text, job.text)
    assert "far beyond" in sim.json()["detail"] and "far beyond" in job.json()["detail"]
    assert client.get("/api/health").json()["jobs_pending"] == 0


def test_true_is_not_a_number(client):
    r = client.post("/api/simulate", json=scenario(seed=True))
    assert r.status_code == 422 and "seed" in r.json()["detail"]


# --------------------------------------------------------------------------- body limit
def test_large_bodies_are_refused_before_parsing(make_client):
    c = make_client(max_body_bytes=10_000)
    big = json.dumps(scenario(name="x" * 20_000)).encode()
    r = c.post("/api/simulate", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["detail"]

    def chunks():  # no Content-Length: counted while it is read
        for _ in range(50):
            yield b" " * 1000

    r = c.post("/api/jobs", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert c.post("/api/simulate", json=scenario()).status_code == 200


# --------------------------------------------------------------------------- response size
def test_responses_carry_at_most_the_point_cap(make_client):
    c = make_client(max_response_points=500)
    doses = [{**INFUSION, "over": "1 min", "at": f"{i * 0.37:.2f} h", "every": "1 d", "count": 6} for i in range(5)]
    r = c.post("/api/simulate", json=scenario(doses=doses, duration="6 d"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["time_h"]) <= 500 < out["time_points_total"]
    assert all(len(s["median"]) == len(out["time_h"]) for s in out["series"].values())
    assert any("time points" in w for w in out["warnings"])
    # the thinned series keep their peak, and the summary is that of the full run
    peak = max(v for v in out["series"]["ketamine_ng_ml"]["median"] if v is not None)
    assert peak == pytest.approx(out["summary"]["ketamine_ng_ml"]["cmax"], rel=1e-9)


def test_the_largest_allowed_request_is_bounded_in_size(client):
    doses = [{"drug": "ketamine", "amount": 10, "unit": "mg", "route": "iv", "over": "1 min",
              "at": f"{i * 2.1:.1f} h", "every": "4 h", "count": 20} for i in range(ws.MAX_DOSES)]
    r = client.post("/api/simulate", json=scenario(doses=doses, duration=f"{ws.MAX_DURATION_D:g} d"))
    assert r.status_code == 200, r.text
    assert len(r.json()["time_h"]) <= ws.MAX_RESPONSE_POINTS
    assert len(r.content) < 5_000_000


def test_many_doses_inline_are_sent_to_the_job_queue(client):
    doses = [{**INFUSION, "every": "4 h", "count": ws.MAX_REPEATS}] * 3
    r = client.post("/api/simulate", json=scenario(doses=doses, duration="60 d"))
    assert r.status_code == 422 and "/api/jobs" in r.json()["detail"]


# --------------------------------------------------------------------------- heavy slots, health, cheap routes
@pytest.fixture
def blocking_server(monkeypatch):
    """A live server with one inline slot, whose simulation waits until released."""
    import uvicorn

    from ketasim.web import create_app

    entered, release = threading.Event(), threading.Event()
    real = services.run_scenario

    def slow(cfg, **kw):
        entered.set()
        release.wait(60)
        return real(cfg, **kw)

    monkeypatch.setattr(services, "run_scenario", slow)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(max_concurrent_sync=1), host="127.0.0.1", port=port,
                                           log_level="warning", ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", entered, release
    release.set()
    server.should_exit = True
    thread.join(10)


def _request(url, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_health_and_cheap_routes_answer_while_the_heavy_slots_are_full(blocking_server):
    base, entered, release = blocking_server
    heavy = {}
    t = threading.Thread(target=lambda: heavy.update(r=_request(base + "/api/simulate", scenario(), timeout=90)))
    t.start()
    assert entered.wait(60), "the heavy request never started"
    # the slot is held for as long as the test wants: everything below answers while it is
    status, headers, _ = _request(base + "/api/simulate", scenario(), timeout=10)
    assert status == 429 and headers["Retry-After"]
    for _ in range(30):
        status, _, body = _request(base + "/api/health", timeout=10)
        assert status == 200 and json.loads(body)["status"] == "ok"
    for path in ("/api/options", "/api/trials", "/api/parameters", "/"):
        assert _request(base + path, timeout=10)[0] == 200, path
    assert t.is_alive()  # still held
    release.set()
    t.join(90)
    assert heavy["r"][0] == 200


# --------------------------------------------------------------------------- Host, token, headers
def test_foreign_host_headers_are_refused(make_client):
    c = make_client(allowed_hosts=["127.0.0.1", "localhost", "::1"])
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example"):
        r = c.get("/api/options", headers={"host": host})
        assert r.status_code == 400 and "host name" in r.json()["detail"], host
    for host in ("127.0.0.1:8765", "localhost", "[::1]:8765", "LOCALHOST:1"):
        assert c.get("/api/health", headers={"host": host}).status_code == 200, host


def test_the_token_is_required_and_the_printed_url_sets_it(make_client):
    c = make_client(token="s3cret")
    assert c.get("/api/health").status_code == 200  # liveness stays open
    assert c.get("/static/app.js").status_code == 200  # the page's own code
    for path in ("/api/options", "/api/parameters", "/openapi.json"):
        assert c.get(path).status_code == 401, path
    assert c.post("/api/simulate", json=scenario()).status_code == 401
    assert c.get("/").status_code == 401 and "token" in c.get("/").text
    assert c.get("/api/options", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/api/options", headers={"authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/api/options", headers={"x-ketasim-token": "s3cret"}).status_code == 200
    r = c.get("/?token=s3cret", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/").status_code == 200  # the cookie now rides along, as the page's own fetches do
    assert c.post("/api/simulate", json=scenario()).status_code == 200


def test_the_page_has_security_headers(client):
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert client.get("/api/options").headers["x-content-type-options"] == "nosniff"


# --------------------------------------------------------------------------- ketasim serve
@pytest.mark.parametrize("args, words", [
    (["--host", "0.0.0.0"], ["not a loopback", "--allow-remote"]),
    (["--host", "192.168.1.10"], ["not a loopback", "--allow-remote"]),
    (["--host", "0.0.0.0", "--allow-remote", "--no-token"], ["--no-token", "loopback"]),
])
def test_serve_refuses_unsafe_binds(args, words):
    from typer.testing import CliRunner

    from ketasim.cli.main import app

    r = CliRunner().invoke(app, ["serve", *args, "--port", "1"])
    assert r.exit_code == 2, r.output
    line = r.stderr.strip()
    assert line.startswith("error:") and len(line.splitlines()) == 1
    for w in words:
        assert w in line, line


def test_bound_host_names():
    from ketasim.web.app import bound_host_names, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert "evil.example" not in bound_host_names("127.0.0.1")
    assert {"127.0.0.1", "localhost", "::1", "10.1.2.3"} <= set(bound_host_names("10.1.2.3"))
