"""JSON API: validation (422 with a readable message, never a 500), caps, the bounded job queue."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ketasim import services
from ketasim.web import limits as ws

INFUSION = {"drug": "ketamine", "amount": 0.5, "unit": "mg/kg", "route": "iv", "over": "40 min"}
NALTREXONE = {"drug": "naltrexone", "amount": 50, "unit": "mg", "route": "oral", "at": "-45 min"}


def scenario(**kw):
    body = {"name": "t", "doses": [INFUSION], "duration": "2 d"}
    body.update(kw)
    return body


def assert_422(r, *words):
    assert r.status_code == 422, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail
    for w in words:
        assert w.lower() in detail.lower(), detail
    return detail


# --- the happy path ------------------------------------------------------------------------------------
def test_health_options_and_schema(client):
    assert client.get("/api/health").json()["status"] == "ok"
    opts = client.get("/api/options").json()
    assert "ketamine" in opts["drugs"] and "naltrexone" in opts["drugs"]
    assert opts["hypotheses"] and opts["default_hypothesis"] in opts["hypotheses"]
    schema = client.get("/openapi.json").json()
    for path in ("/api/simulate", "/api/jobs", "/api/jobs/{job_id}", "/api/parameters", "/api/health"):
        assert path in schema["paths"]


def test_simulate_naltrexone_scenario(client):
    r = client.post("/api/simulate", json=scenario(doses=[INFUSION, NALTREXONE]))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["n_subjects"] == 1
    assert out["doses"] == ["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"]
    keys = [layer["key"] for layer in out["layers"]]
    assert keys[:4] == ["concentrations", "occupancy", "effects", "mood"]
    conc = out["layers"][0]["columns"]
    assert "ketamine_ng_ml" in conc and "naltrexone_ng_ml" in conc
    t = np.array(out["time_h"])
    assert len(t) > 100 and np.all(np.diff(t) > 0) and t[0] <= -0.75 and t[-1] == pytest.approx(48.0)
    ket = np.array(out["series"]["ketamine_ng_ml"]["median"], dtype=float)
    assert len(ket) == len(t) and 100 < ket.max() < 300  # Zarate 2006 level, ~180 ng/mL at end of infusion
    assert max(out["series"]["naltrexone_ng_ml"]["median"]) > 1
    assert out["summary"]["ketamine_ng_ml"]["unit"] == "ng/mL"
    assert "not dosing advice" in out["note"]


def test_parameters_json_and_csv(client):
    rows = client.get("/api/parameters").json()
    assert len(rows) > 10
    assert {"key", "value", "unit", "source", "evidence", "low", "high", "description"} <= set(rows[0])
    assert all(r["source"] for r in rows)
    csv = client.get("/api/parameters?format=csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == "key,value,unit,source,evidence,low,high,description"
    assert_422(client.get("/api/parameters?format=xml"), "format")


def test_params_is_an_alias_of_parameters(client):
    assert client.get("/api/params").json() == client.get("/api/parameters").json()
    assert client.get("/api/params?format=csv").text == client.get("/api/parameters?format=csv").text
    assert_422(client.get("/api/params?format=xml"), "format")
    assert "/api/params" in client.get("/openapi.json").json()["paths"]


def test_page_and_offline_plotly(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "Research software, not dosing advice" in page.text
    assert 'src="/static/plotly.min.js"' in page.text
    assert "cdn" not in page.text.lower()
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    for path in ("/static/app.js", "/static/app.css"):
        assert client.get(path).status_code == 200


# --- readable 422s ---------------------------------------------------------------------------------------
def test_negative_dose(client):
    d = assert_422(client.post("/api/simulate", json=scenario(doses=[{**INFUSION, "amount": -1}])), "amount")
    assert "more than 0" in d and "Input should" not in d


def test_unknown_drug(client):
    assert_422(client.post("/api/simulate", json=scenario(doses=[{**INFUSION, "drug": "cocaine"}])),
               "unknown drug 'cocaine'", "ketamine")


def test_parsecs(client):
    assert_422(client.post("/api/simulate", json=scenario(duration="5 parsecs")), "duration", "length")
    assert_422(client.post("/api/simulate", json=scenario(doses=[{**INFUSION, "over": "5 parsecs"}])),
               "doses[0].over", "length")
    assert_422(client.post("/api/simulate", json=scenario(doses=[{**INFUSION, "unit": "parsecs"}])),
               "doses[0].unit")


def test_duration_over_limit(client):
    assert_422(client.post("/api/simulate", json=scenario(duration="91 d")), "90-day limit")
    assert_422(client.post("/api/simulate", json=scenario(duration="-1 h")), "positive")


def test_subjects_over_cap(client):
    assert_422(client.post("/api/simulate", json=scenario(subjects=ws.MAX_SUBJECTS + 1)), "subjects")


def test_malformed_json_and_wrong_shapes(client):
    r = client.post("/api/simulate", content=b'{"doses": [', headers={"content-type": "application/json"})
    assert_422(r, "not valid JSON")
    assert_422(client.post("/api/simulate", json=[1, 2]), "")
    assert_422(client.post("/api/simulate", json=scenario(colour="red")), "colour", "unknown field")
    assert_422(client.post("/api/simulate", json={"duration": "1 d"}), "doses", "missing")
    assert_422(client.post("/api/simulate", json=scenario(doses=[])), "doses")


@pytest.mark.parametrize("bad", [
    {"at": "9**9**9 h"},             # would make the unit parser evaluate a huge power
    {"at": "1e999 h"},
    {"over": "40 min", "route": "oral"},
    {"amount": 1900.0},              # mg/kg: far beyond any studied dose
    {"every": "1 d"},                # 'every' without count > 1 is fine ...
    {"count": 3},                    # ... but count > 1 without 'every' is not
    {"route": "rectal"},
    {"amount": "NaN"},
])
def test_bad_doses_are_422_never_500(client, bad):
    r = client.post("/api/simulate", json=scenario(doses=[{**INFUSION, **bad}]))
    if bad == {"every": "1 d"}:
        assert r.status_code == 200
    else:
        assert_422(r)


def test_weight_bounds(client):
    assert_422(client.post("/api/simulate", json=scenario(weight_kg=10)), "weight_kg")
    assert_422(client.post("/api/simulate", json=scenario(weight_kg=300)), "weight_kg")
    assert client.post("/api/simulate", json=scenario(weight_kg=20)).status_code == 200


def test_unknown_hypothesis(client):
    assert_422(client.post("/api/simulate", json=scenario(hypothesis="astrology")), "hypothesis", "astrology")
    ok = client.post("/api/simulate", json=scenario(hypothesis=client.get("/api/options").json()["default_hypothesis"]))
    assert ok.status_code == 200, ok.text


def test_hypothesis_options_and_their_errors(client):
    opts = client.get("/api/options").json()
    for h in opts["hypotheses"]:
        body = scenario(hypothesis=h, duration="1 d")
        assert client.post("/api/simulate", json=body).status_code == 200, h
    takes = [h for h, i in opts["hypothesis_info"].items() if i["takes_opioid_source"]]
    refuses = [h for h, i in opts["hypothesis_info"].items() if not i["takes_opioid_source"]]
    if opts["opioid_sources"] and takes and refuses:
        src = opts["opioid_sources"][-1]
        assert client.post("/api/simulate", json=scenario(hypothesis=takes[0], opioid_source=src)).status_code == 200
        assert_422(client.post("/api/simulate", json=scenario(hypothesis=refuses[0], opioid_source=src)),
                   "opioid source")
    assert_422(client.post("/api/simulate", json=scenario(opioid_source="moonlight")), "moonlight")
    assert_422(client.post("/api/simulate", json=scenario(expectation="sugar")), "expectation")


def test_package_errors_are_422(client, monkeypatch):
    from ketasim.regimens import RegimenError
    from ketasim.simulation import SimulationError
    from ketasim.units import UnitError

    for exc in (RegimenError("no such regimen"), UnitError("bad unit"), SimulationError("cannot simulate")):
        def boom(cfg, _exc=exc):
            raise _exc
        monkeypatch.setattr(services, "run_scenario", boom)
        assert_422(client.post("/api/simulate", json=scenario()), str(exc))


# --- caps ------------------------------------------------------------------------------------------------
def test_sync_work_cap_points_to_jobs(make_client):
    c = make_client(sync_work_cap=1.0)
    assert c.post("/api/simulate", json=scenario(duration="1 d")).status_code == 200
    assert_422(c.post("/api/simulate", json=scenario(duration="2 d")), "subject-days", "/api/jobs")


def test_job_work_cap(make_client):
    c = make_client(job_work_cap=10.0)
    assert_422(c.post("/api/jobs", json={"scenario": scenario(duration="20 d")}), "subject-days")


def test_largest_allowed_sync_request_is_bounded(client):
    """Ten dose lines of 100 repeats over the longest allowed run: more doses than one inline answer takes, so it
    is sent to the job queue (the size of what is answered inline: test_hardened_server)."""
    doses = [{"drug": "ketamine", "amount": 10, "unit": "mg", "route": "iv", "over": "1 min",
              "at": f"{i * 21.6:.1f} h", "every": "4 h", "count": ws.MAX_REPEATS} for i in range(ws.MAX_DOSES)]
    r = client.post("/api/simulate", json=scenario(doses=doses, duration=f"{ws.MAX_DURATION_D:g} d"))
    assert_422(r, "/api/jobs")
    assert_422(client.post("/api/simulate", json=scenario(doses=doses * 2)), "doses")
    assert_422(client.post("/api/simulate", json=scenario(doses=[{**INFUSION, "every": "1 d",
                                                                   "count": ws.MAX_REPEATS + 1}])), "count")


# --- jobs -------------------------------------------------------------------------------------------------
def wait_job(c, job_id, timeout=600.0):
    """Poll until the job has finished. The bound only stops a hung job from hanging the suite: a first
    population run may include compiling the fast path, and the machine may be busy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = c.get(f"/api/jobs/{job_id}").json()
        if j["status"] in ("done", "failed", "cancelled"):
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish within {timeout:g} s: {j}")


def test_job_runs_and_reports(client):
    r = client.post("/api/jobs", json={"scenario": scenario(doses=[INFUSION, NALTREXONE])})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "done") and 0 <= job["progress"] <= 1
    done = wait_job(client, job["id"])
    assert done["status"] == "done" and done["progress"] == 1
    assert "naltrexone_ng_ml" in done["result"]["series"]
    assert client.get("/api/jobs/nope").status_code == 404


def test_job_failure_is_reported_not_raised(make_client, monkeypatch):
    client = make_client(job_processes=False)  # the substitute below exists in this process only

    def boom(cfg):
        raise ValueError("the model cannot do that")
    monkeypatch.setattr(services, "run_scenario", boom)
    job = client.post("/api/jobs", json={"scenario": scenario()}).json()
    done = wait_job(client, job["id"])
    assert done["status"] == "failed" and "cannot do that" in done["error"]


def test_job_queue_is_bounded(make_client, monkeypatch):
    """With the worker busy, the queue accepts `max_pending_jobs` and then answers 429."""
    gate = threading.Event()
    real = services.run_scenario

    def slow(cfg):
        gate.wait(600)
        return real(cfg)
    monkeypatch.setattr(services, "run_scenario", slow)
    c = make_client(max_pending_jobs=2, job_processes=False, job_workers=1)  # one worker; substitutes seen
    try:
        first = c.post("/api/jobs", json={"scenario": scenario()})
        second = c.post("/api/jobs", json={"scenario": scenario()})
        assert first.status_code == 202 and second.status_code == 202
        third = c.post("/api/jobs", json={"scenario": scenario()})
        assert third.status_code == 429 and "queue is full" in third.json()["detail"]
        assert third.headers.get("retry-after")
        # cancelling the queued job frees a place
        cancelled = c.delete(f"/api/jobs/{second.json()['id']}").json()
        assert cancelled["status"] == "cancelled"
        assert c.post("/api/jobs", json={"scenario": scenario()}).status_code == 202
    finally:
        gate.set()
    assert wait_job(c, first.json()["id"])["status"] == "done"


def test_finished_jobs_are_forgotten_beyond_the_keep_limit(make_client):
    c = make_client(keep_finished_jobs=2, max_pending_jobs=1)
    ids = []
    for _ in range(4):
        r = c.post("/api/jobs", json={"scenario": scenario(duration="1 h")})
        assert r.status_code == 202, r.text
        assert wait_job(c, r.json()["id"])["status"] == "done"
        ids.append(r.json()["id"])
    assert c.get(f"/api/jobs/{ids[0]}").status_code == 404
    assert c.get(f"/api/jobs/{ids[-1]}").status_code == 200


# --- populations -----------------------------------------------------------------------------------------
def test_population_job_with_bands(client):
    r = client.post("/api/jobs", json={"scenario": scenario(subjects=20, duration="2 d", seed=3)})
    assert r.status_code == 202, r.text
    done = wait_job(client, r.json()["id"])
    assert done["status"] == "done", done
    out = done["result"]
    assert out["n_subjects"] == 20
    s = out["series"]["ketamine_ng_ml"]
    lo, med, hi = (np.array(s[k], dtype=float) for k in ("p05", "median", "p95"))
    assert len(med) == len(out["time_h"]) > 100
    assert np.all(lo <= med + 1e-9) and np.all(med <= hi + 1e-9) and np.nanmax(hi - lo) > 10
    assert out["summary"]["madrs"]["responders_24h"] is not None
    # the same seed gives the same population
    again = wait_job(client, client.post("/api/jobs", json={"scenario": scenario(subjects=20, duration="2 d",
                                                                                  seed=3)}).json()["id"])
    assert again["result"]["series"]["ketamine_ng_ml"]["p95"] == s["p95"]


def test_small_population_inline_and_work_cap(make_client):
    c = make_client(sync_work_cap=10.0, job_work_cap=40.0)
    r = c.post("/api/simulate", json=scenario(subjects=5, duration="1 d"))
    assert r.status_code == 200, r.text
    assert r.json()["n_subjects"] == 5 and r.json()["series"]["madrs"]["p05"] is not None
    assert_422(c.post("/api/simulate", json=scenario(subjects=20, duration="1 d")), "20 subject-days", "/api/jobs")
    assert_422(c.post("/api/jobs", json={"scenario": scenario(subjects=21, duration="2 d")}), "42 subject-days",
               "at most 40")


def test_job_progress_from_the_package_is_a_fraction_and_a_sentence(make_client, monkeypatch):
    """The package reports progress(done, total); the job shows a fraction in [0, 1] and a text message."""
    client = make_client(job_processes=False)  # the substitute below exists in this process only
    gate, reached = threading.Event(), threading.Event()
    real = services.run_scenario

    def chunked(cfg, progress=None):
        progress(1, 4)
        reached.set()
        gate.wait(600)
        progress(4, 4)
        return real(cfg)
    monkeypatch.setattr(services, "run_scenario", chunked)
    job = client.post("/api/jobs", json={"scenario": scenario(subjects=2, duration="1 d")}).json()
    try:
        assert reached.wait(600)
        r = client.get(f"/api/jobs/{job['id']}")
        assert r.status_code == 200, r.text
        j = r.json()
        assert j["status"] == "running" and 0.05 < j["progress"] < 0.5 and "1 of 4" in j["message"]
    finally:
        gate.set()
    assert wait_job(client, job["id"])["status"] == "done"


# --- trials ------------------------------------------------------------------------------------------------
def test_trials_list(client):
    trials = client.get("/api/trials").json()
    names = [t["name"] for t in trials]
    assert "williams2018" in names and names == sorted(names)
    w = next(t for t in trials if t["name"] == "williams2018")
    assert w["design"] == "crossover" and w["arms"] == ["ketamine_placebo", "ketamine_naltrexone"]
    assert w["work_per_replicate"] == pytest.approx(12 * 2 * 7)
    opts = client.get("/api/options").json()
    assert opts["limits"]["max_trial_replicates"] == ws.MAX_REPLICATES
    schema = client.get("/openapi.json").json()
    for path in ("/api/trials", "/api/trials/run", "/api/jobs/{job_id}/report"):
        assert path in schema["paths"]


@pytest.mark.parametrize("body, words", [
    ({"trial": "nope"}, ("unknown trial 'nope'", "williams2018")),
    ({"trial": "../../../etc/passwd.yaml"}, ("unknown trial",)),           # never a file path
    ({"trial": "williams2018", "replicates": ws.MAX_REPLICATES + 1}, ("replicates", "at most 50")),
    ({"trial": "williams2018", "replicates": 0}, ("replicates",)),
    ({"trial": "williams2018", "seed": -1}, ("seed",)),
    ({"trial": "williams2018", "hypothesis": "astrology"}, ("hypothesis", "astrology")),
    ({"trial": "williams2018", "opioid_source": "moonlight"}, ("moonlight",)),
    ({"trial": "williams2018", "hypothesis": "glutamate", "opioid_source": "hnk_mor"}, ("takes no opioid source",)),
    ({"trial": "williams2018", "arms": 3}, ("arms", "unknown field")),
    ({"replicates": 2}, ("trial", "missing")),
])
def test_trial_requests_are_validated(client, body, words):
    assert_422(client.post("/api/trials/run", json=body), *words)


def test_trial_caps(make_client):
    c = make_client(max_trial_replicates=3, trial_work_cap=400.0)
    assert_422(c.post("/api/trials/run", json={"trial": "williams2018", "replicates": 4}), "at most 3")
    assert_422(c.post("/api/trials/run", json={"trial": "transform2", "replicates": 1}), "subject-days",
               "too large")
    assert_422(c.post("/api/trials/run", json={"trial": "williams2018", "replicates": 3}), "504 subject-days",
               "at most 2 replicates")
    assert c.get("/api/options").json()["limits"]["trial_work_cap_subject_days"] == 400.0


def test_trial_runs_with_summary_and_report(client):
    r = client.post("/api/trials/run", json={"trial": "williams2018", "hypothesis": "opioid",
                                             "opioid_source": "hnk_mor", "replicates": 2, "seed": 5})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "trial" and job["work"] == pytest.approx(2 * 168)
    done = wait_job(client, job["id"])
    assert done["status"] == "done", done
    out = done["result"]
    assert out["trial"] == "williams2018" and out["replicates"] == 2 and out["seed"] == 5
    assert out["hypothesis"].startswith("opioid")
    assert set(out["arms"]) == {"ketamine_placebo", "ketamine_naltrexone"}
    assert {"hamd17_day1", "cadss_peak"} <= set(out["arms"]["ketamine_placebo"]["endpoints"])
    assert [c["endpoint"] for c in out["comparisons"]] == ["hamd17_day1", "hamd17_day3", "cadss_peak"]
    assert any(o["quantity"] == "responders" for o in out["observed_vs_model"])
    url = out["report_url"]
    assert url == done["files"]["report"] == f"/api/jobs/{job['id']}/report"
    rep = client.get(url)
    assert rep.status_code == 200 and rep.headers["content-type"].startswith("text/html")
    assert rep.text.lstrip().lower().startswith("<!doctype html") and "Williams" in rep.text
    assert rep.text.count("data:image/png;base64,") >= 1
    assert "default-src 'none'" in rep.headers["content-security-policy"]
    dl = client.get(url, params={"download": "true"})
    assert "attachment" in dl.headers["content-disposition"] and dl.text == rep.text


def test_report_errors(make_client, monkeypatch):
    client = make_client(job_processes=False)  # the substitute below exists in this process only
    assert client.get("/api/jobs/nope/report").status_code == 404
    scen = client.post("/api/jobs", json={"scenario": scenario(duration="1 h")}).json()
    wait_job(client, scen["id"])
    assert "only trial runs have a report" in client.get(f"/api/jobs/{scen['id']}/report").json()["detail"]
    gate = threading.Event()

    def slow(*a, **kw):
        gate.wait(600)
        raise ValueError("the trial could not be run")
    monkeypatch.setattr(services, "run_trial_report", slow)
    job = client.post("/api/trials/run", json={"trial": "williams2018", "replicates": 1}).json()
    try:
        r = client.get(f"/api/jobs/{job['id']}/report")
        assert r.status_code == 409 and "no report" in r.json()["detail"]
    finally:
        gate.set()
    failed = wait_job(client, job["id"])
    assert failed["status"] == "failed" and "could not be run" in failed["error"] and failed["result"] is None
    assert "could not be run" in client.get(f"/api/jobs/{job['id']}/report").json()["detail"]
