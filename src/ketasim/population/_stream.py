"""Populations too large to hold in memory: simulate chunk by chunk, append each chunk to one Parquet file and
keep only per-subject numbers (Cmax, Tmax, AUC, mood at the summary times) for the summary.

The file has the layout of `PopulationResult.to_pandas()` (one row per subject x time: id, time_h, columns) and
the summary has the structure and values of `PopulationResult.summary()`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ketasim.mechanisms import Mechanism
from ketasim.models import outputs as output_catalogue
from ketasim.models.model import KetamineModel
from ketasim.models.pd import SESSION_DRUGS
from ketasim.parameters import ParameterSet
from ketasim.regimens import Regimen

from ._simulate import simulate_chunk
from ._summary import SummaryAccumulator

def simulate_population_to_parquet(regimen: Regimen, subjects: pd.DataFrame, parameters: ParameterSet,
                                   mechanism: Mechanism, t: np.ndarray, path, columns=None,
                                   chunk_size: int = 1000, progress: Callable[[int, int], None] | None = None,
                                   expectation: str = "active", oral_ad_start_h: float | None = None,
                                   compression: str = "snappy", float32: bool = False, keep=None,
                                   summary_doses=(), endpoints_path=None) -> dict:
    """Simulate `subjects` chunk by chunk into one Parquet file at `path` (written whole or not at all: a
    temporary file beside it is renamed at the end). Memory stays bounded by one chunk (about
    chunk_size x len(t) x (len(columns) + 2) x 8 bytes, twice over while a chunk is converted). Returns the
    summary dict of PopulationResult.summary(). `float32` stores the output columns in single precision.
    `keep` (a boolean mask over t) writes and summarises only those times; the model is still solved on all of
    t (a user's output step with the solver's fine windows after each dose). `summary_doses`
    (Regimen.realize()) makes the summary's times count from the preceding dose. `path` None writes no time
    course (summary only); `endpoints_path` writes the per-subject metrics behind the summary (one row per
    subject, SummaryAccumulator.per_subject) as Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if chunk_size < 1:
        raise ValueError("chunk size must be at least 1")
    columns = list(columns) if columns is not None else list(output_catalogue.columns(mechanism))
    t = np.asarray(t, float)
    path = Path(path) if path is not None else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    model = KetamineModel()
    sessions = [d.time_h for d in regimen.realize() if d.drug in SESSION_DRUGS]
    keep = np.ones(len(t), bool) if keep is None else np.asarray(keep, bool)
    t_out = t[keep]
    acc = SummaryAccumulator(t_out, columns, min(sessions) if sessions else 0.0, output_catalogue.units(mechanism),
                             summary_doses)
    ftype = pa.float32() if float32 else pa.float64()
    schema = pa.schema([("id", pa.int64()), ("time_h", pa.float64())] + [(c, ftype) for c in columns])
    n = len(subjects)
    n_chunks = (n + chunk_size - 1) // chunk_size
    ids = subjects["id"].to_numpy(np.int64)
    T = len(t_out)
    if path is None:
        for c in range(n_chunks):
            sl = slice(c * chunk_size, min((c + 1) * chunk_size, n))
            out = simulate_chunk(regimen, subjects.iloc[sl], parameters, mechanism, t, expectation,
                                 oral_ad_start_h, columns, model)
            acc.add({col: out[col][keep] for col in columns} if T < len(t) else out)
            del out
            if progress:
                progress(c + 1, n_chunks)
        _write_endpoints(acc, ids, endpoints_path)
        return acc.summary()
    try:
        # dictionary encoding only where values repeat (ids, times): on the output columns it falls back to
        # plain encoding anyway, after building dictionaries whose memory the allocator keeps chunk after chunk
        with pq.ParquetWriter(tmp, schema, compression=compression, use_dictionary=["id", "time_h"]) as writer:
            for c in range(n_chunks):
                sl = slice(c * chunk_size, min((c + 1) * chunk_size, n))
                out = simulate_chunk(regimen, subjects.iloc[sl], parameters, mechanism, t, expectation,
                                     oral_ad_start_h, columns, model)
                if T < len(t):
                    out = {col: out[col][keep] for col in columns}
                acc.add(out)
                m = sl.stop - sl.start
                arrays = [pa.array(np.repeat(ids[sl], T)), pa.array(np.tile(t_out, m))]
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
