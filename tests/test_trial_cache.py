"""The content-addressed trial cache: a stored result comes back for the same run, never for a changed one."""
import os
import threading

import numpy as np
import pandas as pd
import pytest

import ketasim as ks
from ketasim.trials import load_trial
from ketasim.trials import _cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KETASIM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("KETASIM_CACHE", raising=False)
    return tmp_path / "cache"


def _small():
    cfg = load_trial("williams2018")
    return cfg.model_copy(update={"n_per_arm": 4})


def test_second_call_is_answered_from_the_cache_with_the_same_numbers(cache, monkeypatch):
    cfg = _small()
    first = _cache.cached_run_trial(cfg, "opioid", replicates=2, seed=3)
    assert len(list(cache.glob("*.pkl"))) == 1
    import ketasim.trials._run as run_mod

    def must_not_run(*a, **k):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(run_mod, "run_trial", must_not_run)
    again = _cache.cached_run_trial(cfg, "opioid", replicates=2, seed=3)
    pd.testing.assert_frame_equal(first.per_replicate, again.per_replicate)
    pd.testing.assert_frame_equal(first.subjects, again.subjects)


def test_any_change_of_trial_parameters_hypothesis_seed_or_replicates_is_a_new_key():
    cfg = _small()
    p = ks.default_parameters()
    from ketasim.mechanisms import get_mechanism

    mech = get_mechanism("opioid")
    base = _cache.trial_key(cfg, mech, p, 2, 3)
    assert base == _cache.trial_key(cfg, mech, p, 2, 3)
    changed = {
        _cache.trial_key(cfg.model_copy(update={"n_per_arm": 5}), mech, p, 2, 3),
        _cache.trial_key(cfg, mech, p.replace(**{"mood.Rmax": 0.9}), 2, 3),
        _cache.trial_key(cfg, get_mechanism("glutamate"), p, 2, 3),
        _cache.trial_key(cfg, get_mechanism("opioid", "endogenous"), p, 2, 3),
        _cache.trial_key(cfg, mech, p, 3, 3),
        _cache.trial_key(cfg, mech, p, 2, 4),
        _cache.trial_key(cfg, mech, p, 2, 3, uncertainty=True),
    }
    assert base not in changed and len(changed) == 7


def test_a_cached_result_equals_a_fresh_run(cache):
    cfg = _small()
    cached = _cache.cached_run_trial(cfg, "glutamate", replicates=2, seed=5)
    fresh = ks.trials.run_trial(cfg, "glutamate", replicates=2, seed=5, keep_timecourses=False)
    pd.testing.assert_frame_equal(cached.per_replicate, fresh.per_replicate)


def test_a_broken_entry_is_recomputed_and_concurrent_writers_leave_one_whole_file(cache):
    key = "k" * 64
    _cache.store(key, {"x": np.arange(3)})
    (cache / f"{key}.pkl").write_bytes(b"not a pickle")
    assert _cache.load(key) is None
    threads = [threading.Thread(target=_cache.store, args=(key, {"x": np.arange(100_000) + i})) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = _cache.load(key)
    assert got is not None and len(got["x"]) == 100_000
    assert not [f for f in os.listdir(cache) if f.endswith(".part")]


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("KETASIM_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("KETASIM_CACHE", "off")
    _cache.store("a" * 64, 1)
    assert _cache.load("a" * 64) is None and not (tmp_path / "c").exists()
