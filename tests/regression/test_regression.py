"""Every stored regression case is reproduced by today's code to 1e-10 relative (see cases.py)."""

import numpy as np
import pandas as pd
import pytest

from cases import DATA, all_cases, compute  # noqa: I001  (tests/regression is on sys.path under pytest)

CASES = all_cases()
RTOL = 1e-10


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_match_stored_fixture(name):
    kind, case = CASES[name]
    stored = pd.read_parquet(DATA / f"{name}.parquet")
    now = compute(kind, case)
    assert list(now.columns) == list(stored.columns)
    assert len(now) == len(stored)
    for col in stored.columns:
        a, b = now[col].to_numpy(float), stored[col].to_numpy(float)
        scale = np.maximum(np.abs(b), 1e-12 * max(np.abs(b).max(), 1e-300))
        err = np.max(np.abs(a - b) / scale) if len(b) else 0.0
        assert err <= RTOL, f"{name}.{col}: max relative difference {err:.3g}"
