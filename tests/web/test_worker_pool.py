"""The job pool: worker processes, cancellation (queued and running), per-client limits, fair order, and results
identical to the same work done in the server's own process. Functional checks only: no wall-clock limits."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ketasim import services
from ketasim.web import limits
from ketasim.web.jobs import JobManager, default_workers

INFUSION = {"drug": "ketamine", "amount": 0.5, "unit": "mg/kg", "route": "iv", "over": "40 min"}


def scenario(**kw):
    body = {"name": "t", "doses": [INFUSION], "duration": "1 d"}
    body.update(kw)
    return body


def wait_for(c, job_id, statuses, timeout=600.0):
    """Poll until the job's status is one of `statuses`. The bound only keeps a hung job from hanging the suite."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = c.get(f"/api/jobs/{job_id}").json()
        if j["status"] in statuses:
            return j
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {statuses}: {j}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a stopped child not yet reaped is a zombie: gone for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_the_pool_is_sized_to_the_machine(make_client):
    assert default_workers() == max(1, os.cpu_count() or 1)
    c = make_client()
    jobs = c.app.state.jobs
    assert jobs.workers == default_workers() and jobs.processes
    assert jobs.max_pending >= jobs.workers and jobs.max_per_client == limits.MAX_JOBS_PER_CLIENT
    assert jobs.worker_pids() == []  # worker processes start with the first job, not with the server


def test_unknown_job_is_404_for_status_and_cancel(client):
    for r in (client.get("/api/jobs/0123456789abcdef"), client.delete("/api/jobs/0123456789abcdef")):
        assert r.status_code == 404 and "no job" in r.json()["detail"]


def test_results_in_a_worker_process_equal_the_inline_ones(make_client):
    """The same scenario, run as a job in a worker process and inline in the server's process: the same answer."""
    c = make_client(job_workers=1)
    for body in (scenario(), scenario(subjects=3, seed=7)):
        inline = c.post("/api/simulate", json=body)
        assert inline.status_code == 200, inline.text
        job = c.post("/api/jobs", json={"scenario": body}).json()
        done = wait_for(c, job["id"], ("done", "failed", "cancelled"))
        assert done["status"] == "done", done
        assert done["result"] == inline.json()
    assert len(c.app.state.jobs.worker_pids()) == 1  # one process served both jobs


def test_cancel_a_running_job_stops_its_worker_process(make_client):
    """A long trial job is cancelled while running: its status reads cancelled, its process is gone, and the
    next job gets a fresh worker that works."""
    c = make_client(job_workers=1)
    trial = c.post("/api/trials/run", json={"trial": "transform2", "replicates": 50})
    assert trial.status_code == 202, trial.text
    wait_for(c, trial.json()["id"], ("running",))
    deadline = time.monotonic() + 600
    while not c.app.state.jobs.worker_pids():
        assert time.monotonic() < deadline, "the worker process never started"
        time.sleep(0.05)
    (pid,) = c.app.state.jobs.worker_pids()
    r = c.delete(f"/api/jobs/{trial.json()['id']}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["result"] is None
    done = wait_for(c, trial.json()["id"], ("cancelled",))
    while _alive(pid):
        assert time.monotonic() < deadline, "the cancelled job's worker process is still running"
        time.sleep(0.05)
    assert done["status"] == "cancelled" and "stopped" in wait_for(c, trial.json()["id"], ("cancelled",))["message"]
    after = c.post("/api/jobs", json={"scenario": scenario(duration="2 h")}).json()
    finished = wait_for(c, after["id"], ("done", "failed", "cancelled"))
    assert finished["status"] == "done", finished
    assert c.app.state.jobs.worker_pids() and c.app.state.jobs.worker_pids() != [pid]


def test_cancel_a_queued_job_at_once(make_client, monkeypatch):
    gate = threading.Event()
    real = services.run_scenario

    def held(cfg, **kw):
        gate.wait(600)
        return real(cfg, **kw)

    monkeypatch.setattr(services, "run_scenario", held)
    c = make_client(job_processes=False, job_workers=1)  # the substitute exists in this process only
    try:
        first = c.post("/api/jobs", json={"scenario": scenario()}).json()
        wait_for(c, first["id"], ("running",))
        queued = c.post("/api/jobs", json={"scenario": scenario()}).json()
        assert c.get(f"/api/jobs/{queued['id']}").json()["status"] == "queued"
        r = c.delete(f"/api/jobs/{queued['id']}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert c.get(f"/api/jobs/{queued['id']}").json()["message"] == "cancelled before it started"
        assert c.app.state.jobs.pending() == 1  # only the running one left
    finally:
        gate.set()
    assert wait_for(c, first["id"], ("done", "failed"))["status"] == "done"
    assert c.get(f"/api/jobs/{queued['id']}").json()["status"] == "cancelled"  # never ran


def test_a_running_job_in_a_thread_stops_at_its_next_progress_report(make_client, monkeypatch):
    reached, gate, after = threading.Event(), threading.Event(), []

    def chunked(cfg, progress=None):
        progress(1, 4)
        reached.set()
        gate.wait(600)
        progress(2, 4)      # cancelled meanwhile: the job stops here
        after.append("went on")
        raise AssertionError("not reached")

    monkeypatch.setattr(services, "run_scenario", chunked)
    c = make_client(job_processes=False, job_workers=1)
    job = c.post("/api/jobs", json={"scenario": scenario(subjects=2)}).json()
    assert reached.wait(600)
    assert c.delete(f"/api/jobs/{job['id']}").json()["status"] == "cancelled"
    gate.set()
    done = wait_for(c, job["id"], ("cancelled",))
    deadline = time.monotonic() + 600
    while c.app.state.jobs.pending():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert after == [] and done["result"] is None and done["error"] is None
    assert c.get(f"/api/jobs/{job['id']}").json()["message"] == "cancelled while running"


def test_per_client_limit_is_429_with_a_sentence(make_client, monkeypatch):
    gate = threading.Event()
    real = services.run_scenario

    def held(cfg, **kw):
        gate.wait(600)
        return real(cfg, **kw)

    monkeypatch.setattr(services, "run_scenario", held)
    c = make_client(job_processes=False, job_workers=1, max_pending_jobs=10, max_jobs_per_client=2)
    try:
        ids = [c.post("/api/jobs", json={"scenario": scenario()}).json()["id"] for _ in range(2)]
        r = c.post("/api/jobs", json={"scenario": scenario()})
        assert r.status_code == 429 and r.headers.get("retry-after")
        detail = r.json()["detail"]
        assert detail == ("you already have 2 jobs waiting or running, the most one client may have on this server; "
                          "wait for one to finish or cancel one (DELETE /api/jobs/ID)")
        assert c.post("/api/trials/run", json={"trial": "williams2018", "replicates": 1}).status_code == 429
        # cheap routes still answer, and cancelling one of the client's jobs frees a place
        assert c.get("/api/health").status_code == 200 and c.get("/api/parameters").status_code == 200
        assert c.delete(f"/api/jobs/{ids[1]}").json()["status"] == "cancelled"
        assert c.post("/api/jobs", json={"scenario": scenario()}).status_code == 202
    finally:
        gate.set()
    assert wait_for(c, ids[0], ("done", "failed"))["status"] == "done"


def test_a_free_worker_takes_the_job_of_the_least_served_client_first():
    """Client a queues three jobs, then b one: with a's first running, b's job runs before a's second."""
    order, gate = [], threading.Event()

    def record(report, name):
        gate.wait(600)
        order.append(name)
        return name

    jobs = JobManager(max_pending=10, workers=1, processes=False)
    try:
        a1 = jobs.submit(record, 1, args=("a1",), client="a")
        deadline = time.monotonic() + 600
        while a1.status != "running":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for name, who in (("a2", "a"), ("a3", "a"), ("b1", "b")):
            jobs.submit(record, 1, args=(name,), client=who)
        gate.set()
        while len(order) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        gate.set()
        jobs.shutdown()
    assert order == ["a1", "b1", "a2", "a3"]


@pytest.mark.parametrize("processes", [False, True])
def test_a_failing_job_is_reported_in_either_mode(processes):
    """The package's sentence comes back from a worker process as it does from a thread."""
    from ketasim.web import work
    from ketasim.web.requests import TrialIn

    unknown = TrialIn.model_construct(trial="no-such-trial", replicates=1, seed=1, hypothesis=None, opioid_source=None)
    jobs = JobManager(max_pending=2, workers=1, processes=processes)
    try:
        job = jobs.submit(work.run_trial, 1, kind="trial", args=(unknown,))
        deadline = time.monotonic() + 600
        while job.status not in ("done", "failed", "cancelled"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        jobs.shutdown()
    assert job.status == "failed" and "no-such-trial" in job.error and "internal error" not in job.error
