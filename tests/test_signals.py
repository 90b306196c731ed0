"""A run stopped by SIGTERM or SIGHUP ends as Ctrl-C does: the previous result kept, no temporary folder left.
SIGKILL cannot be handled; the next run writing beside it removes the dead process's temporary folder."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

KETASIM = Path(sys.executable).with_name("ketasim")
# streamed (more than 5000 subjects): the run spends seconds writing its hidden .part file
LONG_RUN = ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects", "20000", "--duration", "7 d",
            "--quiet"]


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".ketasim")]


def start_and_wait_for_part_file(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen([str(KETASIM), *LONG_RUN, "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(list(t.glob("*.part")) for t in temporaries(out.parent)):
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before writing: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no .part file appeared")


@pytest.fixture
def previous(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([str(KETASIM), "simulate", "--dose", "ketamine 35 mg iv", "--duration", "6 h", "--quiet",
                        "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out, (out / "summary.json").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_terminate_and_hangup_clean_up_like_ctrl_c(tmp_path, previous, sig):
    out, before = previous
    proc = start_and_wait_for_part_file(out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert "Traceback" not in err
    assert temporaries(tmp_path) == []
    assert (out / "summary.json").read_bytes() == before
    assert json.loads(before)["summary"]


@pytest.mark.slow
def test_the_next_run_removes_what_a_killed_run_left(tmp_path, previous):
    out, before = previous
    proc = start_and_wait_for_part_file(out)
    proc.kill()
    proc.wait(timeout=30)
    left = temporaries(tmp_path)
    assert left and str(proc.pid) in left[0].name  # SIGKILL cannot be handled: the folder stays, named by PID
    assert (out / "summary.json").read_bytes() == before
    r = subprocess.run([str(KETASIM), "simulate", "--dose", "ketamine 35 mg iv", "--duration", "6 h", "--quiet",
                        "--out", str(tmp_path / "other")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert temporaries(tmp_path) == []
