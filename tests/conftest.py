import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def pytest_configure(config):
    """The trial cache of this test session lives in its own temporary folder: tests start cold and never read or
    write a user's ~/.cache."""
    import os
    import tempfile

    os.environ["KETASIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="ketasim-test-cache-")
