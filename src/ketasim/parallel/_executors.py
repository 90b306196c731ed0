"""Executors map a picklable function over work items (chunks of subjects) and return results in order.

Random effects are drawn before work is split (population.sample_subjects), so every executor and every
chunk size gives identical numbers for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


class SerialExecutor:
    """In-process, in order."""

    name = "in-process"

    def map(self, fn: Callable, items: Sequence, progress: Callable[[int, int], None] | None = None) -> list:
        out = []
        for i, item in enumerate(items):
            out.append(fn(item))
            if progress:
                progress(i + 1, len(items))
        return out

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class DaskExecutor:
    """A Dask distributed client: `address` is a scheduler ('tcp://host:8786') or 'local:N' to start a
    LocalCluster with N single-threaded worker processes (closed again by `close`)."""

    name = "dask"

    def __init__(self, address: str):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - declared dependency
            raise ValueError("--scheduler needs dask[distributed]; install ketasim with its dependencies") from None
        self.cluster = None
        if address.startswith("local:"):
            try:
                n = int(address.split(":", 1)[1])
            except ValueError:
                raise ValueError(f"--scheduler local:N needs a whole number of workers, got {address!r}") from None
            if not 1 <= n <= 64:
                raise ValueError(f"--scheduler local:N needs 1-64 workers, got {n}")
            # ":0": the dashboard on a free port. None would mean Dask's default 8787, and when another program
            # holds that port Dask warns and moves elsewhere anyway.
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise ValueError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None
        self.name = f"dask ({address})"

    def map(self, fn: Callable, items: Sequence, progress: Callable[[int, int], None] | None = None) -> list:
        from dask.distributed import as_completed

        futures = self.client.map(fn, list(items), pure=False)
        if progress:
            for done, _ in enumerate(as_completed(futures), start=1):
                progress(done, len(futures))
        return self.client.gather(futures)  # in submission order

    def close(self):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def get_executor(scheduler: str | None):
    """None or '' -> in-process; otherwise a DaskExecutor (Dask imported only then)."""
    if not scheduler:
        return SerialExecutor()
    return DaskExecutor(scheduler)
