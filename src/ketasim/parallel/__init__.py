"""Where population work runs: in-process (default, no Dask import) or on a Dask cluster."""

from ._executors import DaskExecutor, SerialExecutor, get_executor

__all__ = ["DaskExecutor", "SerialExecutor", "get_executor"]
