"""Where population work runs: in-process (default, no Dask import) or on a Dask cluster."""

from ._executors import DaskExecutor, ExecutorError, SerialExecutor, get_executor

__all__ = ["DaskExecutor", "ExecutorError", "SerialExecutor", "get_executor"]
