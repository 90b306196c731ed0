"""Populations too large to hold in memory: simulate chunk by chunk, append each chunk to one Parquet file and
keep only per-subject numbers (Cmax, Tmax, AUC, mood at the summary times) for the summary.

The file has the layout of `PopulationResult.to_pandas()` (one row per subject x time: id, time_h, columns) and
the summary has the structure and values of `PopulationResult.summary()`.

With an executor (ketasim.parallel, e.g. a Dask cluster) the chunks are computed there, a bounded number at a time,
and written here in order as they arrive: the same chunks, the same writer, so the file is byte for byte the one
the in-process run writes, and memory stays bounded by a few chunks on either side."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ketasim.mechanisms import Mechanism
from ketasim.models import outputs as output_catalogue
from ketasim.models.model import KetamineModel
from ketasim.parameters import ParameterSet
from ketasim.regimens import Regimen

from ._simulate import simulate_chunk
from ._summary import SummaryAccumulator


def _stream_job(job):
    """One chunk, picklable for a cluster worker (the worker builds its own model)."""
    regimen, chunk, parameters, mechanism, t, expectation, oral_ad_start_h, columns = job
    return simulate_chunk(regimen, chunk, parameters, mechanism, t, expectation, oral_ad_start_h, list(columns))


def simulate_population_to_parquet(regimen: Regimen, subjects: pd.DataFrame, parameters: ParameterSet,
                                   mechanism: Mechanism, t: np.ndarray, path, columns=None,
                                   chunk_size: int = 1000, progress: Callable[[int, int], None] | None = None,
                                   expectation: str = "active", oral_ad_start_h: float | None = None,
                                   compression: str = "snappy", float32: bool = False, keep=None,
                                   summary_doses=None, endpoints_path=None, executor=None,
                                   window: int | None = None) -> dict:
    """Simulate `subjects` chunk by chunk into one Parquet file at `path` (written whole or not at all: a
    temporary file beside it is renamed at the end). Memory stays bounded by one chunk (about
    chunk_size x len(t) x (len(columns) + 2) x 8 bytes, twice over while a chunk is converted). Returns the
    summary dict of PopulationResult.summary(). `float32` stores the output columns in single precision.
    `keep` (a boolean mask over t) writes and summarises only those times; the model is still solved on all of
    t (a user's output step with the solver's fine windows after each dose). `summary_doses`
    (default: the regimen's own doses, as in PopulationResult.summary) makes the summary's times count from the
    preceding dose; () counts them from time zero. `path` None writes no time
    course (summary only); `endpoints_path` writes the per-subject metrics behind the summary (one row per
    subject, SummaryAccumulator.per_subject) as Parquet.
    `executor` (ketasim.parallel) computes the chunks elsewhere, at most `window` at a time (default: twice its
    workers); results are identical to the in-process run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if chunk_size < 1:
        raise ValueError("chunk size must be at least 1")
    from ketasim.compounds import with_compounds

    mechanism = with_compounds(mechanism, regimen)
    columns = list(columns) if columns is not None else list(output_catalogue.columns(mechanism))
    t = np.asarray(t, float)
    path = Path(path) if path is not None else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    model = KetamineModel.for_mechanism(mechanism)
    given = regimen.realize()
    sessions = [d.time_h for d in given if d.is_session]
    keep = np.ones(len(t), bool) if keep is None else np.asarray(keep, bool)
    t_out = t[keep]
    acc = SummaryAccumulator(t_out, columns, min(sessions) if sessions else 0.0, output_catalogue.units(mechanism),
                             given if summary_doses is None else summary_doses)
    ftype = pa.float32() if float32 else pa.float64()
    schema = pa.schema([("id", pa.int64()), ("time_h", pa.float64())] + [(c, ftype) for c in columns])
    n = len(subjects)
    n_chunks = (n + chunk_size - 1) // chunk_size
    ids = subjects["id"].to_numpy(np.int64)
    T = len(t_out)
    bounds = [(c * chunk_size, min((c + 1) * chunk_size, n)) for c in range(n_chunks)]
    from ketasim.parallel import SerialExecutor

    if executor is None or isinstance(executor, SerialExecutor):
        chunks = (simulate_chunk(regimen, subjects.iloc[a:b], parameters, mechanism, t, expectation, oral_ad_start_h,
                                 columns, model) for a, b in bounds)
    else:
        jobs = ((regimen, subjects.iloc[a:b], parameters, mechanism, t, expectation, oral_ad_start_h, tuple(columns))
                for a, b in bounds)
        chunks = executor.imap(_stream_job, jobs, total=n_chunks, window=window)
    if path is None:   # summary only: no time course
        try:
            for c, out in enumerate(chunks):
                acc.add({col: out[col][keep] for col in columns} if T < len(t) else out)
                del out
                if progress:
                    progress(c + 1, n_chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        _write_endpoints(acc, ids, endpoints_path)
        return acc.summary()
    try:
        # dictionary encoding only where values repeat (ids, times): on the output columns it falls back to
        # plain encoding anyway, after building dictionaries whose memory the allocator keeps chunk after chunk
        with pq.ParquetWriter(tmp, schema, compression=compression, use_dictionary=["id", "time_h"]) as writer:
            for c, ((a, b), out) in enumerate(zip(bounds, chunks)):
                if T < len(t):
                    out = {col: out[col][keep] for col in columns}
                acc.add(out)
                m = b - a
                arrays = [pa.array(np.repeat(ids[a:b], T)), pa.array(np.tile(t_out, m))]
                for col in columns:
                    flat = out[col].T.reshape(-1)
                    arrays.append(pa.array(flat.astype(np.float32) if float32 else flat))
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                del out, arrays
                pa.default_memory_pool().release_unused()
                if progress:
                    progress(c + 1, n_chunks)
        os.replace(tmp, path)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a failed write stops the cluster's remaining work
        if tmp.exists():
            tmp.unlink()
    _write_endpoints(acc, ids, endpoints_path)
    return acc.summary()


def _write_endpoints(acc: SummaryAccumulator, ids: np.ndarray, path) -> None:
    if path is None:
        return
    table = acc.per_subject()
    table.insert(0, "id", ids)
    table.to_parquet(path, index=False)
