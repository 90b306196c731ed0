"""Scale-out: a Dask LocalCluster gives results identical to the in-process run; no Dask import by default."""

import socket
import subprocess
import sys

import numpy as np
import pytest

from ketasim.parallel import DaskExecutor, SerialExecutor, get_executor
from ketasim.trials import load_trial, run_trial


def test_default_path_does_not_import_dask_distributed():
    # pint imports dask's core for its own optional arrays; ketasim's in-process path must not start or even
    # import the distributed scheduler
    code = ("import sys, ketasim as ks; ks.simulate('ketamine 0.5 mg/kg iv over 40 min', duration='1 d');"
            "from ketasim.trials import load_trial, run_trial; run_trial(load_trial('williams2018'), replicates=1);"
            "print('distributed' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture
def dask_default_dashboard_port_taken():
    """Another program holds 8787, Dask's default dashboard port (a user's notebook cluster, a second test run).
    ketasim must not depend on it: a warning about it would be an error under the suite's filterwarnings."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        holder.bind(("", 8787))
        holder.listen()
    except OSError:  # already held by something else: the condition under test holds anyway
        pass
    try:
        yield
    finally:
        holder.close()


def test_dask_local_cluster_identical_to_in_process(dask_default_dashboard_port_taken):
    cfg = load_trial("williams2018")
    ref = run_trial(cfg, "opioid", replicates=3, seed=9, chunk_size=256, executor=SerialExecutor())
    with get_executor("local:2") as ex:
        assert isinstance(ex, DaskExecutor)
        dist = run_trial(cfg, "opioid", replicates=3, seed=9, chunk_size=5, executor=ex)
    assert ref.to_json_dict() == dist.to_json_dict()
    np.testing.assert_array_equal(ref.subjects.filter(like="_value").to_numpy(),
                                  dist.subjects.filter(like="_value").to_numpy())


def test_uncertainty_outer_loop_widens_the_spread():
    cfg = load_trial("williams2018")
    fixed = run_trial(cfg, "glutamate", replicates=12, seed=4, keep_timecourses=False)
    unc = run_trial(cfg, "glutamate", replicates=12, seed=4, keep_timecourses=False, uncertainty=True)
    d_fixed = fixed.per_replicate.query("arm == 'ketamine_placebo' and endpoint == 'hamd17_day1'")["mean"]
    d_unc = unc.per_replicate.query("arm == 'ketamine_placebo' and endpoint == 'hamd17_day1'")["mean"]
    assert d_unc.std() > d_fixed.std()


def test_large_population_streams_to_parquet(tmp_path, monkeypatch):
    import json

    import pandas as pd
    from typer.testing import CliRunner

    import ketasim.services as services
    from ketasim.cli.main import app

    monkeypatch.setattr(services, "STREAM_ABOVE_SUBJECTS", 5)
    args = ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects", "8", "--seed", "2",
            "--duration", "2 d", "--quiet"]
    r = CliRunner().invoke(app, args + ["--out", str(tmp_path / "streamed")])
    assert r.exit_code == 0, r.output
    monkeypatch.setattr(services, "STREAM_ABOVE_SUBJECTS", 10_000)
    r = CliRunner().invoke(app, args + ["--out", str(tmp_path / "memory")])
    assert r.exit_code == 0, r.output
    a = pd.read_parquet(tmp_path / "streamed" / "timecourse.parquet")
    b = pd.read_parquet(tmp_path / "memory" / "timecourse.parquet")
    assert a.id.nunique() == 8 and len(a) == len(b)
    np.testing.assert_allclose(a.madrs.to_numpy(), b.madrs.to_numpy(), rtol=1e-12)
    sa = json.loads((tmp_path / "streamed" / "summary.json").read_text())["summary"]
    sb = json.loads((tmp_path / "memory" / "summary.json").read_text())["summary"]
    assert abs(sa["madrs"]["change_24h"] - sb["madrs"]["change_24h"]) < 1e-9
