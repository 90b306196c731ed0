"""Scale-out: a Dask LocalCluster gives results identical to the in-process run; no Dask import by default."""

import socket
import subprocess
import sys

import numpy as np
import pandas as pd
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


# --------------------------------------------------------------------------- Dask: streamed, bounded, clean failures
import hashlib  # noqa: E402
import os  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with get_executor("local:2", quiet=True) as ex:
        yield ex


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dask_streams_the_same_bytes_as_in_process(tmp_path, cluster):
    import ketasim.services as services
    from ketasim.io.schemas import ScenarioConfig

    cfg = ScenarioConfig(doses=["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"],
                         duration="2 d", subjects=11, seed=5)
    services.write_population_scenario_streamed(cfg, tmp_path / "serial", chunk_size=3)
    services.write_population_scenario_streamed(cfg, tmp_path / "dask", chunk_size=3, executor=cluster)
    for name in ("timecourse.parquet", "summary.json"):
        assert _digest(tmp_path / "serial" / name) == _digest(tmp_path / "dask" / name), name


def test_dask_summary_only_and_outputs_as_in_process(tmp_path, cluster):
    # the population output options on a cluster: the same endpoints and summary as in-process, no time course
    import ketasim.services as services
    from ketasim.io.schemas import ScenarioConfig

    cfg = ScenarioConfig(doses=["ketamine 0.5 mg/kg iv over 40 min"], duration="1 d", subjects=7, seed=3)
    for name, ex in (("serial", None), ("dask", cluster)):
        services.write_population_scenario_streamed(cfg, tmp_path / name, chunk_size=3, outputs="madrs,cadss",
                                                    summary_only=True, executor=ex)
        assert not (tmp_path / name / "timecourse.parquet").exists()
    serial = pd.read_parquet(tmp_path / "serial" / "endpoints.parquet")
    assert len(serial) == 7 and "cadss.cmax" in serial.columns and not any(c.startswith("ketamine") for c in serial)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask" / "endpoints.parquet"), serial, check_exact=True)
    assert _digest(tmp_path / "serial" / "summary.json") == _digest(tmp_path / "dask" / "summary.json")


def test_scheduler_no_longer_switches_off_streaming(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import ketasim.services as services
    from ketasim.cli.main import app

    calls = []
    real = services.write_population_scenario_streamed

    def spy(cfg, out, progress=None, chunk_size=None, times=None, executor=None, **options):
        calls.append(type(executor).__name__)
        return real(cfg, out, progress=progress, chunk_size=3, times=times, executor=executor, **options)

    monkeypatch.setattr(services, "STREAM_ABOVE_SUBJECTS", 5)
    monkeypatch.setattr(services, "write_population_scenario_streamed", spy)
    args = ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects", "8", "--seed", "2",
            "--duration", "1 d", "--quiet"]
    r = CliRunner().invoke(app, [*args, "--scheduler", "local:1", "--out", str(tmp_path / "dask")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "serial")])
    assert r.exit_code == 0, r.output
    assert calls == ["DaskExecutor", "SerialExecutor"]
    assert _digest(tmp_path / "dask" / "timecourse.parquet") == _digest(tmp_path / "serial" / "timecourse.parquet")


def test_results_in_flight_are_bounded(cluster):
    held = []
    for i, value in enumerate(cluster.imap(abs, range(-20, 0), window=3)):
        held.append(len(cluster.client.futures))
        assert value == 20 - i
    assert max(held) <= 3, held


def test_a_task_that_kills_every_worker_is_one_error(cluster):
    from ketasim.parallel import ExecutorError

    cluster.client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
    with pytest.raises(ExecutorError, match="lost a worker"):
        list(cluster.imap(os._exit, [3, 3]))
    with pytest.raises(ExecutorError, match="lost a worker"):
        cluster.map(os._exit, [3])


@pytest.mark.slow
def test_a_scheduler_killed_mid_run_is_one_error():
    import socket
    import time

    from ketasim.parallel import ExecutorError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dask_cli = os.path.join(os.path.dirname(sys.executable), "dask")
    env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "critical"}
    sched = subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    worker = subprocess.Popen([dask_cli, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ex = DaskExecutor(f"tcp://127.0.0.1:{port}", quiet=True)
                if ex.client.wait_for_workers(1, timeout=30) is None:
                    break
            except (ValueError, OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        results = ex.imap(time.sleep, [2] * 4, window=1)
        next(results)
        sched.kill()
        with pytest.raises(ExecutorError, match="stopped answering"):
            list(results)
        ex.close()
    finally:
        sched.kill()
        worker.kill()
        sched.wait(10)
        worker.wait(10)
