"""The server's background jobs: a bounded queue, fair across clients, run by a pool of worker processes.

- `workers` jobs run at once (the server sizes it to the machine: os.cpu_count(), at least 1). With
  `processes=True` each runs in a worker process of its own, so a long trial neither holds the only worker nor
  takes the server's interpreter (its GIL) from the cheap routes; with `processes=False` they run in threads of the
  server process (what the tests use when they substitute a package function, which a child process would not see).
- Fair scheduling: a free worker takes the oldest queued job of the client that has the fewest jobs running (and,
  among those, was served longest ago), so one client's batch does not starve another's single job.
- Limits: at most `max_pending` jobs waiting or running in all (beyond that `QueueFull`, HTTP 429), at most
  `max_per_client` of them from one client (`ClientLimit`, HTTP 429), and at most `keep_finished` finished results
  held in memory (oldest dropped first).
- Cancellation: a queued job is cancelled at once; a running one in a worker process has that process stopped
  (a fresh one replaces it for the next job); a running one in a thread stops at its next progress report (the
  package reports between chunks).
"""

from __future__ import annotations

import inspect
import multiprocessing
import os
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

FINISHED = ("done", "failed", "cancelled")
POLL_S = 0.1  # how often a dispatcher looks for a cancel request while its worker process computes


class QueueFull(RuntimeError):
    """The job queue is at capacity; the client should retry later (HTTP 429)."""


class ClientLimit(QueueFull):
    """This client already has as many jobs waiting or running as one client may (HTTP 429)."""


class JobCancelled(Exception):
    """Raised inside a job running in a thread, at its next progress report, once it has been cancelled."""


def default_workers() -> int:
    """Jobs run at once: one per CPU of the machine, at least 1."""
    return max(1, os.cpu_count() or 1)


@dataclass
class JobOutput:
    """What a job function may return instead of a bare result: the JSON result shown by
    GET /api/jobs/{id}, and named files (e.g. a report) served by their own routes, not in the JSON."""

    result: Any
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (text, media type)


@dataclass(eq=False)  # jobs are compared by identity (kept in sets)
class Job:
    id: str
    work: float
    fn: Callable[..., Any]          # fn(report, *args); module level when it runs in a worker process
    args: tuple = ()
    kind: str = "scenario"
    client: str = "local"
    status: str = "queued"
    progress: float = 0.0
    message: str = "waiting for a free worker"
    result: Any = None
    error: str | None = None
    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)
    finished: float | None = None
    cancel_requested: bool = False

    def view(self) -> dict:
        done = self.status == "done"
        return {"id": self.id, "kind": self.kind, "status": self.status, "progress": self.progress,
                "message": self.message, "work": self.work, "result": self.result if done else None,
                "error": self.error,
                "files": {name: f"/api/jobs/{self.id}/{name}" for name in self.files} if done else {}}


def _child_main(conn, threads: int) -> None:
    """A worker process: run (fn, args) tasks from the pipe one at a time, sending progress and the outcome back.
    `threads`: the compiled kernels' threads in this process (the machine's CPUs shared among the workers)."""
    try:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    except Exception:  # noqa: BLE001 - numba missing or unusable: the package falls back on its own
        pass
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        fn, args = task

        def report(fraction, message=""):
            conn.send(("progress", fraction, message))

        try:
            outcome = ("done", fn(report, *args))
        except Exception as exc:  # noqa: BLE001 - reported to the client, never raised
            outcome = ("error", _message(exc))
        try:
            conn.send(outcome)
        except Exception as exc:  # noqa: BLE001 - a result that cannot be sent back
            conn.send(("error", _message(exc)))


class _WorkerProcess:
    """One worker process (spawned, so it shares no locks or threads with the server) and the server's end of its
    pipe. Started on first use; stopped on cancel or shutdown and then replaced on the next job."""

    def __init__(self, threads: int):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child_end = ctx.Pipe()
        self.proc = ctx.Process(target=_child_main, args=(child_end, threads), name="ketasim-job-worker",
                                daemon=True)
        self.proc.start()
        child_end.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.is_alive()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()
        self.proc.join(5)
        try:
            self.conn.close()
        except OSError:
            pass


class JobManager:
    def __init__(self, max_pending: int = 4, keep_finished: int = 16, workers: int = 1, processes: bool = False,
                 max_per_client: int | None = None):
        self.max_pending = int(max_pending)
        self.keep_finished = int(keep_finished)
        self.workers = max(1, int(workers))
        self.processes = bool(processes)
        self.max_per_client = None if max_per_client is None else max(1, int(max_per_client))
        self.threads_per_worker = max(1, (os.cpu_count() or 1) // self.workers)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[Job] = deque()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._running: set[Job] = set()
        self._last_start: dict[str, int] = {}   # client -> order of its latest job start (fair scheduling)
        self._starts = 0
        self._closed = False
        self._procs: list[_WorkerProcess | None] = [None] * self.workers
        self._threads = [threading.Thread(target=self._dispatch, args=(i,), name=f"ketasim-job-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()

    # -- public ---------------------------------------------------------------------------------------
    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._running)

    def submit(self, fn: Callable, work: float, kind: str = "scenario", args: tuple = (),
               client: str = "local") -> Job:
        """Queue fn(report, *args). In a worker process fn and args are pickled: fn must be module level."""
        with self._lock:
            if self._closed:
                raise QueueFull("the job queue is shut down")
            if len(self._queue) + len(self._running) >= self.max_pending:
                raise QueueFull(f"the job queue is full ({self.max_pending} jobs waiting or running); "
                                f"try again when one has finished")
            if self.max_per_client is not None:
                mine = sum(1 for j in (*self._queue, *self._running) if j.client == client)
                if mine >= self.max_per_client:
                    raise ClientLimit(f"you already have {mine} jobs waiting or running, the most one client may "
                                      f"have on this server; wait for one to finish or cancel one "
                                      f"(DELETE /api/jobs/ID)")
            job = Job(id=uuid.uuid4().hex[:16], work=work, fn=fn, args=tuple(args), kind=kind, client=client)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._trim()
            self._wake.notify()
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a job: a queued one at once; a running one has its worker process stopped (within POLL_S) or,
        in a thread, stops at its next progress report. None: no such job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.status == "queued":
                self._queue.remove(job)
                job.status, job.message, job.finished = "cancelled", "cancelled before it started", \
                    time.monotonic()
                self._trim()
            elif job.status == "running":
                job.cancel_requested = True
                job.status = "cancelled"
                job.message = "cancelled; stopping its worker"
            return job

    def worker_pids(self) -> list[int]:
        """Process ids of the worker processes now alive (none in thread mode)."""
        with self._lock:
            return [w.pid for w in self._procs if w is not None and w.alive() and w.pid is not None]

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            for job in self._running:
                job.cancel_requested = True
            self._wake.notify_all()
            procs, self._procs = list(self._procs), [None] * self.workers
        for w in procs:
            if w is not None:
                w.stop()

    # -- internals ------------------------------------------------------------------------------------
    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in FINISHED and j.finished is not None]
        for j in finished[: max(0, len(finished) - self.keep_finished)]:
            self._jobs.pop(j.id, None)

    def _next_job(self) -> Job:
        """Fair choice (round robin over clients): the oldest queued job of the client with the fewest jobs
        running, and among those the client whose last job started longest ago (or never)."""
        running: dict[str, int] = {}
        for j in self._running:
            running[j.client] = running.get(j.client, 0) + 1
        best = min(range(len(self._queue)), key=lambda i: (running.get(self._queue[i].client, 0),
                                                          self._last_start.get(self._queue[i].client, -1), i))
        job = self._queue[best]
        del self._queue[best]
        self._starts += 1
        self._last_start[job.client] = self._starts
        return job

    def _reporter(self, job: Job) -> Callable[[float, str], None]:
        def report(fraction: float, message: str = "") -> None:
            if job.cancel_requested and not self.processes:
                raise JobCancelled(job.id)
            with self._lock:
                if job.status == "running":
                    try:
                        f = float(fraction)
                    except (TypeError, ValueError):
                        return
                    if f == f:  # not NaN
                        job.progress = min(max(f, job.progress, 0.0), 0.99)  # never goes back
                    if message:
                        job.message = str(message)
        return report

    def _dispatch(self, slot: int) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job = self._next_job()
                job.status, job.message, job.progress = "running", "simulating", 0.05
                self._running.add(job)
            report = self._reporter(job)
            outcome, value = self._in_process(slot, job, report) if self.processes else self._in_thread(job, report)
            with self._lock:
                self._running.discard(job)
                job.finished = time.monotonic()
                if job.status == "cancelled" or outcome == "cancelled":
                    job.status = "cancelled"
                    job.message = ("cancelled while running; its worker process was stopped" if self.processes
                                   else "cancelled while running")
                elif outcome == "done":
                    if isinstance(value, JobOutput):
                        value, job.files = value.result, dict(value.files)
                    job.status, job.progress, job.result, job.message = "done", 1.0, value, "finished"
                else:
                    job.status, job.error, job.message = "failed", value, "failed"
                self._trim()

    def _in_thread(self, job: Job, report) -> tuple[str, Any]:
        try:
            return "done", job.fn(report, *job.args)
        except JobCancelled:
            return "cancelled", None
        except Exception as exc:  # noqa: BLE001 - reported to the client, never raised
            return "error", _message(exc)

    def _in_process(self, slot: int, job: Job, report) -> tuple[str, Any]:
        with self._lock:
            w = self._procs[slot]
            if w is None or not w.alive():
                if w is not None:
                    w.stop()
                if self._closed:
                    return "cancelled", None
                job.message = "starting a worker process"
                w = self._procs[slot] = _WorkerProcess(self.threads_per_worker)
        try:
            w.conn.send((job.fn, job.args))
        except Exception as exc:  # noqa: BLE001 - a job that cannot be sent to a worker process
            return "error", _message(exc)
        while True:
            if job.cancel_requested:
                self._replace(slot, w)
                return "cancelled", None
            try:
                if not w.conn.poll(POLL_S):
                    if w.alive():
                        continue
                    raise EOFError
                message = w.conn.recv()
            except (EOFError, OSError):
                if job.cancel_requested:
                    continue
                code = w.proc.exitcode
                self._replace(slot, w)
                return "error", (f"the worker process stopped unexpectedly (exit status {code}), perhaps out of "
                                 f"memory; try a smaller run")
            if message[0] == "progress":
                report(*message[1:])
                continue
            return message[0], message[1]

    def _replace(self, slot: int, w: _WorkerProcess) -> None:
        """Stop a worker process; the next job on this slot starts a fresh one."""
        w.stop()
        with self._lock:
            if self._procs[slot] is w:
                self._procs[slot] = None


def _message(exc: Exception) -> str:
    if isinstance(exc, ValueError):
        return str(exc)
    return f"internal error ({type(exc).__name__}); the inputs were valid but the simulation failed"


def package_progress(report: Callable[[float, str], None], what: str, start: float = 0.05,
                     end: float = 0.95) -> Callable[[int, int], None]:
    """The package's progress(done, total) callback, mapped onto a job's report(fraction, message) between
    `start` and `end` (the rest is kept for formatting the result)."""

    def progress(done, total) -> None:
        try:
            d, t = float(done), float(total)
        except (TypeError, ValueError):
            return
        if not t > 0:
            return
        frac = min(max(d / t, 0.0), 1.0)
        report(start + (end - start) * frac, f"{what}: {int(d)} of {int(t)} parts done")

    return progress


def accepts_progress(fn: Callable) -> bool:
    try:
        return "progress" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
