"""Content-addressed cache of trial results, shared by `ketasim hypotheses`, the optimiser and the web.

A trial run is a pure function of the trial (its whole checked content), the parameter set (every value and, for
runs over parameter uncertainty, every range), the hypothesis (its nodes and settings), the seed, the number of
replicates, the options that change results and ketasim's version and code (a digest of the package's files). The key is a SHA-256 over all of them, so a
changed trial file, parameter or version can never return an old result, and the same request in another process
gets the stored one. Results are written to a temporary file and renamed into place (atomic on one file system),
so concurrent writers of the same key leave one whole file and readers never see half a file; an unreadable
entry is a miss and is recomputed.

Where: $KETASIM_CACHE_DIR, else $XDG_CACHE_HOME/ketasim/trials, else ~/.cache/ketasim/trials.
KETASIM_CACHE=off turns the cache off (every call runs).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from functools import lru_cache
from pathlib import Path

from ketasim._version import __version__

FORMAT = 1  # bump when TrialResult's stored shape changes


def cache_dir() -> Path | None:
    """The cache folder, or None when the cache is turned off."""
    if os.environ.get("KETASIM_CACHE", "").lower() in ("off", "0", "no", "false"):
        return None
    if os.environ.get("KETASIM_CACHE_DIR"):
        return Path(os.environ["KETASIM_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ketasim" / "trials"


@lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of ketasim's own code and data files: a changed model equation never meets an old result, even
    between releases (computed once per process, a few milliseconds)."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".toml", ".yaml", ".yml", ".json") and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _parameters_digest(parameters, with_ranges: bool) -> str:
    items = {}
    for key in parameters:
        p = parameters[key]
        items[key] = [p.value, p.low, p.high, getattr(p, "distribution", None)] if with_ranges else p.value
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()


def _mechanism_digest(mechanism) -> str:
    """A hypothesis by what it computes: its label, its settings and the source of its nodes' functions."""
    import inspect

    parts = [mechanism.label(), json.dumps(mechanism.to_dict(), sort_keys=True, default=str)]
    for node in mechanism.nodes():
        parts.append(json.dumps([node.name, node.kind, dict(node.params), dict(node.inputs)], sort_keys=True,
                                default=str))
        try:
            parts.append(inspect.getsource(node.fn))
        except (OSError, TypeError):   # no source file: the compiled code itself
            parts.append(node.fn.__code__.co_code.hex() + repr(node.fn.__code__.co_consts))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def trial_key(cfg, mechanism, parameters, replicates: int, seed: int, uncertainty: bool = False) -> str:
    blob = json.dumps({
        "format": FORMAT, "ketasim": __version__, "code": code_digest(),
        "trial": cfg.model_dump(mode="json"),
        "mechanism": _mechanism_digest(mechanism),
        "parameters": _parameters_digest(parameters, with_ranges=uncertainty),
        "replicates": int(replicates), "seed": int(seed), "uncertainty": bool(uncertainty),
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def load(key: str):
    """The stored result for `key`, or None (no cache, no entry, or an entry that cannot be read)."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"{key}.pkl"
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception:  # a truncated or foreign file: recompute and overwrite
        return None


def store(key: str, result) -> None:
    """Write `result` under `key` atomically; a cache that cannot be written is skipped, never an error."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".part", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, folder / f"{key}.pkl")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        return


def cached_run_trial(cfg, hypothesis="opioid", opioid_source=None, replicates: int = 20, seed: int = 1,
                     parameters=None, uncertainty: bool = False, **kwargs):
    """`run_trial` without time courses, answered from the cache when the same run was stored before.

    Options that cannot change the numbers (executor, chunk_size, progress) are passed through and are not part
    of the key: results are identical serial, chunked or on Dask."""
    from ketasim.mechanisms import get_mechanism
    from ketasim.parameters import default_parameters
    from ketasim.trials._run import run_trial

    kwargs.pop("keep_timecourses", None)
    progress = kwargs.get("progress")
    p = parameters or default_parameters()
    mech = get_mechanism(hypothesis, opioid_source)
    key = trial_key(cfg, mech, p, replicates, seed, uncertainty)
    hit = load(key)
    if hit is not None:
        if progress:
            progress(1, 1)
        return hit
    result = run_trial(cfg, mech, None, replicates=replicates, seed=seed, parameters=p, uncertainty=uncertainty,
                       keep_timecourses=False, **kwargs)
    store(key, result)
    return result
