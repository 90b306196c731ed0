"""A small, bounded background-job queue: one worker thread, at most `max_pending` jobs waiting or
running, and at most `keep_finished` finished results held in memory (oldest dropped first)."""

from __future__ import annotations

import inspect
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable


class QueueFull(RuntimeError):
    """The job queue is at capacity; the client should retry later (HTTP 429)."""


@dataclass
class JobOutput:
    """What a job function may return instead of a bare result: the JSON result shown by
    GET /api/jobs/{id}, and named files (e.g. a report) served by their own routes, not in the JSON."""

    result: Any
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (text, media type)


@dataclass
class Job:
    id: str
    work: float
    fn: Callable[[Callable[[float, str], None]], Any]
    kind: str = "scenario"
    status: str = "queued"
    progress: float = 0.0
    message: str = "waiting for a free worker"
    result: Any = None
    error: str | None = None
    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    created: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def view(self) -> dict:
        done = self.status == "done"
        return {"id": self.id, "kind": self.kind, "status": self.status, "progress": self.progress,
                "message": self.message, "work": self.work, "result": self.result if done else None,
                "error": self.error,
                "files": {name: f"/api/jobs/{self.id}/{name}" for name in self.files} if done else {}}


class JobManager:
    def __init__(self, max_pending: int = 4, keep_finished: int = 16, workers: int = 1):
        self.max_pending = max_pending
        self.keep_finished = keep_finished
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[Job] = deque()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._running = 0
        self._closed = False
        self._threads = [threading.Thread(target=self._worker, name=f"ketasim-job-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()

    # -- public ---------------------------------------------------------------------------------------
    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + self._running

    def submit(self, fn: Callable, work: float, kind: str = "scenario") -> Job:
        with self._lock:
            if self._closed:
                raise QueueFull("the job queue is shut down")
            if len(self._queue) + self._running >= self.max_pending:
                raise QueueFull(f"the job queue is full ({self.max_pending} jobs waiting or running); "
                                f"try again when one has finished")
            job = Job(id=uuid.uuid4().hex[:16], work=work, fn=fn, kind=kind)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._trim()
            self._wake.notify()
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job; a running job finishes (its result is then dropped)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.status == "queued":
                self._queue.remove(job)
                job.status, job.message, job.finished = "cancelled", "cancelled before it started", \
                    time.monotonic()
            elif job.status == "running":
                job.message = "cancel requested; the result will be discarded"
                job.status = "cancelled"
            return job

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify_all()

    # -- internals ------------------------------------------------------------------------------------
    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if j.status in ("done", "failed", "cancelled")
                    and j.finished is not None]
        for j in finished[: max(0, len(finished) - self.keep_finished)]:
            self._jobs.pop(j.id, None)

    def _worker(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                job.status, job.message, job.progress = "running", "simulating", 0.05
                self._running += 1

            def report(fraction: float, message: str = "", _job=job) -> None:
                with self._lock:
                    if _job.status == "running":
                        try:
                            f = float(fraction)
                        except (TypeError, ValueError):
                            return
                        if f == f:  # not NaN
                            _job.progress = min(max(f, _job.progress, 0.0), 0.99)  # never goes back
                        if message:
                            _job.message = str(message)

            try:
                value = job.fn(report)
                error = None
            except Exception as exc:  # noqa: BLE001 - reported to the client, never raised
                value, error = None, _message(exc)
            with self._lock:
                self._running -= 1
                job.finished = time.monotonic()
                if job.status == "cancelled":
                    job.message = "cancelled"
                elif error is None:
                    if isinstance(value, JobOutput):
                        value, job.files = value.result, dict(value.files)
                    job.status, job.progress, job.result, job.message = "done", 1.0, value, "finished"
                else:
                    job.status, job.error, job.message = "failed", error, "failed"
                self._trim()


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
