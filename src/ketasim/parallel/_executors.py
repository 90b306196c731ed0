"""Executors map a picklable function over work items (chunks of subjects) and return results in order.

Random effects are drawn before work is split (population.sample_subjects), so every executor and every
chunk size gives identical numbers for the same seed.

`map` returns every result at once; `imap` yields them one by one, in order, with at most `window` items in flight,
so a caller that writes each result away (the streamed Parquet writer) holds a bounded number of them, on a
cluster as in-process. A lost cluster (a worker killed again and again, the scheduler gone) is an ExecutorError
with one sentence, never a Dask traceback.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence


class ExecutorError(RuntimeError):
    """The cluster could not finish the work (workers lost, scheduler unreachable); nothing was written."""


class SerialExecutor:
    """In-process, in order."""

    name = "in-process"
    workers = 1

    def map(self, fn: Callable, items: Sequence, progress: Callable[[int, int], None] | None = None) -> list:
        return list(self.imap(fn, items, progress))

    def imap(self, fn: Callable, items: Iterable, progress: Callable[[int, int], None] | None = None,
             total: int | None = None, window: int | None = None) -> Iterator:
        items = list(items) if total is None else items
        n = len(items) if total is None else total
        for i, item in enumerate(items):
            out = fn(item)
            if progress:
                progress(i + 1, n)
            yield out

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _dask_failures() -> tuple[type[BaseException], ...]:
    from concurrent.futures import CancelledError

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    return (KilledWorker, CancelledError, CommClosedError, TimeoutError, OSError)


def _explain(exc: BaseException, address: str) -> ExecutorError:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return ExecutorError(f"the Dask cluster ({address}) lost a worker each time it ran one part of this work, "
                             f"so it gave up (KilledWorker: a worker ran out of memory or crashed); nothing was "
                             f"written. Try fewer workers per machine, more memory, or run in-process")
    return ExecutorError(f"the Dask cluster ({address}) stopped answering before the work was done "
                         f"({type(exc).__name__}: the scheduler or its workers went away); nothing was written. "
                         f"Check the cluster and run again")


class DaskExecutor:
    """A Dask distributed client: `address` is a scheduler ('tcp://host:8786') or 'local:N' to start a
    LocalCluster with N single-threaded worker processes on this machine's loopback interface (closed again by
    `close`). `quiet` keeps Dask's own log lines (and their tracebacks) off stderr: failures still end in one
    ExecutorError; set DASK_LOGGING__DISTRIBUTED=warning to see them."""

    name = "dask"

    def __init__(self, address: str, quiet: bool = False):
        import logging
        import os

        self._log_levels: dict[str, int] = {}
        if quiet:
            # read by the worker processes a LocalCluster starts (they inherit the environment)
            os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - declared dependency
            raise ValueError("--scheduler needs dask[distributed]; install ketasim with its dependencies") from None
        if quiet:  # this process: distributed's loggers (each child has its own level), and the event loop's
            names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("distributed", "tornado")]
            for name in {"distributed", "distributed.client", "tornado", "asyncio", *names}:
                logger = logging.getLogger(name)
                self._log_levels[name] = logger.level
                logger.setLevel(logging.CRITICAL)
        self.cluster = None
        self.address = address
        if address.startswith("local:"):
            try:
                n = int(address.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"--scheduler local:N needs a whole number of workers, got {address!r}") from None
            if not 1 <= n <= 64:
                raise ValueError(f"--scheduler local:N needs 1-64 workers, got {n}")
            # loopback only; the dashboard on a free port ("0"): Dask's default 8787 may be held by another program
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address="127.0.0.1:0")
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(address, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ValueError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None
        self.name = f"dask ({address})"

    @property
    def workers(self) -> int:
        try:
            return max(1, len(self.client.scheduler_info().get("workers", {})))
        except Exception:  # noqa: BLE001 - a count for sizing the window only
            return 1

    def map(self, fn: Callable, items: Sequence, progress: Callable[[int, int], None] | None = None) -> list:
        from dask.distributed import as_completed

        futures = self.client.map(fn, list(items), pure=False)
        try:
            if progress:
                for done, _ in enumerate(as_completed(futures), start=1):
                    progress(done, len(futures))
            return self.client.gather(futures)  # in submission order
        except _dask_failures() as exc:
            self._cancel(futures)
            raise _explain(exc, self.address) from None
        except BaseException:
            self._cancel(futures)
            raise

    def imap(self, fn: Callable, items: Iterable, progress: Callable[[int, int], None] | None = None,
             total: int | None = None, window: int | None = None) -> Iterator:
        """Results in submission order, at most `window` (default: twice the workers) submitted and not yet
        collected: the cluster holds a bounded number of results, and so does the caller."""
        items = iter(items)
        window = max(1, window or 2 * self.workers)
        pending: deque = deque()
        done = 0
        try:
            for item in items:
                pending.append(self.client.submit(fn, item, pure=False))
                if len(pending) >= window:
                    yield self._collect(pending.popleft())
                    done += 1
                    if progress:
                        progress(done, total or done)
            while pending:
                yield self._collect(pending.popleft())
                done += 1
                if progress:
                    progress(done, total or done)
        finally:
            self._cancel(list(pending))

    def _collect(self, future):
        try:
            out = future.result()
        except _dask_failures() as exc:
            raise _explain(exc, self.address) from None
        future.release()
        return out

    def _cancel(self, futures) -> None:
        if not futures:
            return
        try:
            self.client.cancel(futures)
        except Exception:  # noqa: BLE001 - the cluster may already be gone; nothing left to free then
            pass

    def close(self):
        for part in (self.client, self.cluster):
            if part is None:
                continue
            try:
                part.close()
            except Exception:  # noqa: BLE001 - closing a cluster that died must not hide why it died
                pass
        import logging

        for name, level in self._log_levels.items():
            logging.getLogger(name).setLevel(level)
        self._log_levels = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def get_executor(scheduler: str | None, quiet: bool = False):
    """None or '' -> in-process; otherwise a DaskExecutor (Dask imported only then)."""
    if not scheduler:
        return SerialExecutor()
    return DaskExecutor(scheduler, quiet=quiet)
