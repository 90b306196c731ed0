"""Bad input, tried adversarially: each is one plain sentence, exit status 2, checked before work starts, nothing
written; library wording never reaches the user."""

import errno
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ketasim.cli.main import app

LIBRARY_WORDING = ("Value error,", "Input should be", "Dictionary should have", "List should have",
                   "after validation", "Traceback")
DOSE = ["--dose", "ketamine 35 mg iv"]


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line_error(r, *words) -> str:
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    for w in LIBRARY_WORDING:
        assert w not in r.output, r.output
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    return lines[0]


def no_leftovers(folder: Path):
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".ketasim")]


# --------------------------------------------------------------------------- --out checked before work
@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "afile"
    f.write_text("mine")
    return f


@pytest.mark.parametrize("cmd", [
    ["simulate", *DOSE, "--duration", "1 d"],
    ["simulate", *DOSE, "--duration", "1 d", "--subjects", "6"],
    ["trial", "williams2018", "--replicates", "1"],
    ["trial", "williams2018", "--power", "--subjects", "4:8", "--replicates", "2"],
    ["hypotheses", "--trial", "williams2018", "--replicates", "2"],
    ["validate"],
], ids=["simulate", "population", "trial", "power", "hypotheses", "validate"])
@pytest.mark.parametrize("where", ["existing-file", "under-a-file", "dev-null"])
def test_out_that_cannot_be_a_folder(tmp_path, a_file, monkeypatch, cmd, where):
    import ketasim.services as services

    def never(*a, **k):  # the check must come before any work
        raise AssertionError("work started before --out was checked")

    for name in ("run_scenario", "write_population_scenario_streamed", "run_trial", "run_power",
                 "score_hypotheses", "run_validation"):
        monkeypatch.setattr(services, name, never)
    out = {"existing-file": a_file, "under-a-file": a_file / "sub", "dev-null": Path("/dev/null")}[where]
    line = one_line_error(run(*cmd, "--out", out))
    assert "afile" in line or "/dev/null" in line
    assert a_file.read_text() == "mine"
    no_leftovers(tmp_path)


def test_unwritable_out(tmp_path):
    # /proc refuses new folders even to root; os.access alone would say yes
    one_line_error(run("simulate", *DOSE, "--out", "/proc/ketasim-test/out"), "cannot write")


def test_streamed_population_to_a_file(tmp_path, a_file, monkeypatch):
    import ketasim.services as services

    monkeypatch.setattr(services, "STREAM_ABOVE_SUBJECTS", 5)
    one_line_error(run("simulate", *DOSE, "--subjects", "8", "--duration", "1 d", "--out", a_file), "not a folder")


@pytest.mark.parametrize("cmd, words", [
    (["trial", "."], ["is a folder"]),
    (["simulate", "--scenario", "."], ["is a folder"]),
    (["params", "--format", "csv", "--out", "."], ["is a folder"]),
    (["export-sbml", ".", *DOSE], ["is a folder"]),
    (["hypotheses", "--trial", ".", "--replicates", "2"], ["is a folder"]),
])
def test_a_folder_where_a_file_belongs(tmp_path, monkeypatch, cmd, words):
    monkeypatch.chdir(tmp_path)
    one_line_error(run(*cmd, *(["--out", tmp_path / "o"] if cmd[0] in ("trial", "simulate", "hypotheses") else [])),
                   *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_export_sbml_under_a_file(tmp_path, a_file):
    one_line_error(run("export-sbml", a_file / "model.xml", *DOSE), "afile", "not a folder")


def test_params_to_a_file_is_written_whole(tmp_path):
    out = tmp_path / "p.csv"
    r = run("params", "--format", "csv", "--out", out)
    assert r.exit_code == 0, r.output
    assert out.read_text().startswith("key,value,unit")
    no_leftovers(tmp_path)


# --------------------------------------------------------------------------- YAML files
@pytest.mark.parametrize("text, words", [
    ("doses: [ketamine 35 mg iv]\nseed: 3\nseed: 4\n", ["duplicate key 'seed'", "line 3"]),
    ("doses: [ketamine 35 mg iv]\nsubject: {weight: 70 kg, weight: 80 kg}\n", ["duplicate key 'weight'"]),
    ("doses: [ketamine 35 mg iv]\nseed: true\n", ["seed", "not a number"]),
    ("doses: [ketamine 35 mg iv]\nsubjects: yes\n", ["subjects", "not a number"]),
    ("doses: [ketamine 35 mg iv]\nbaseline_madrs: true\n", ["baseline_madrs", "not a number"]),
    ("doses: " + "[" * 3000 + "]" * 3000 + "\n", ["nesting deeper"]),
    ("doses: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n", ["nesting deeper"]),
    ("doses: [ketamine 35 mg iv]\nsubjects: 1.5\n", ["subjects", "whole number"]),
    ("doses: {a: 1}\n", ["doses", "must be a list"]),
    ("doses: [ketamine 35 mg iv]\nsex: {a: 1}\n", ["sex"]),
    ("doses: [[ketamine 35 mg iv]]\n", ["doses.0", "must be text"]),
    ("doses: [ketamine 35 mg iv]\nexpectation: maybe\n", ["expectation", "must be one of"]),
    ("doses: [ketamine 35 mg iv]\nsubjects: 0\n", ["subjects", "at least 1"]),
    ("doses: [ketamine 35 mg iv]\noutput_step: 1 s\nduration: 180 d\n", ["output_step", "output times"]),
    ("doses: [ketamine 35 mg iv]\noutput_step: 1e-9 h\n", ["output_step", "output times"]),
    ("doses: [ketamine 35 mg iv]\n? [a, b]\n: 1\n", ["key"]),
], ids=["duplicate", "duplicate-nested", "seed-true", "subjects-yes", "madrs-true", "deep-3000", "deep-100000",
        "float-subjects", "dict-doses", "dict-sex", "nested-dose", "bad-literal", "zero-subjects", "1s-180d", "1e-9h",
        "list-key"])
def test_bad_scenario_files(tmp_path, text, words):
    f = tmp_path / "s.yaml"
    f.write_text(text)
    line = one_line_error(run("simulate", "--scenario", f, "--out", tmp_path / "out"), "s.yaml", *words)
    assert len(line) < 400
    assert not (tmp_path / "out").exists()


def test_oversized_scenario_file_is_refused_unread(tmp_path):
    f = tmp_path / "big.yaml"
    with f.open("w") as fh:  # 1.4 million dose lines, 50 MB: used to hang
        fh.write("doses:\n")
        line = "- ketamine 1 mg iv at 1 min\n"
        fh.write(line * (50_000_000 // len(line)))
    one_line_error(run("simulate", "--scenario", f, "--out", tmp_path / "out"), "big.yaml", "at most")


def test_not_utf8(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_bytes(b"doses: [ketamine 35 mg iv]\nname: \xff\xfe\n")
    one_line_error(run("simulate", "--scenario", f, "--out", tmp_path / "out"), "UTF-8")


def test_trial_file_duplicate_keys(tmp_path):
    from ketasim.trials import TrialError, load_trial

    f = tmp_path / "t.yaml"
    f.write_text("name: x\nname: y\n")
    with pytest.raises(TrialError, match="duplicate key 'name'"):
        load_trial(f)


def test_trial_subjects_checked_up_front(tmp_path):
    one_line_error(run("trial", "williams2018", "--subjects", "1000000000", "--out", tmp_path / "o"), "--subjects")
    one_line_error(run("trial", "transform2", "--subjects", "100000", "--replicates", "2000", "--out",
                       tmp_path / "o"), "fit in memory")


def test_output_step_over_the_cli(tmp_path):
    one_line_error(run("simulate", *DOSE, "--duration", "180 d", "--output-step", "1 s", "--out", tmp_path / "o"),
                   "output times")


def test_validation_wording_is_plain():
    from pydantic import ValidationError

    from ketasim.io.schemas import ScenarioConfig, format_validation_error
    from ketasim.trials import TrialConfig

    for model, raw in ((ScenarioConfig, {"doses": "x", "seed": "a", "subject": 3}),
                       (TrialConfig, {"name": "x", "design": "parallel", "n_per_arm": 5, "duration": "1 d",
                                      "arms": {"a": {"doses": ["ketamine 35 mg iv"]}}, "endpoints": {}})):
        with pytest.raises(ValidationError) as info:
            model.model_validate(raw)
        text = format_validation_error(info.value)
        for w in LIBRARY_WORDING:
            assert w not in text, text


# --------------------------------------------------------------------------- failures while writing
def test_disk_full_is_one_line_and_keeps_the_previous_result(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert run("simulate", *DOSE, "--duration", "12 h", "--out", out).exit_code == 0
    before = (out / "summary.json").read_bytes()

    import ketasim.services as services

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".ketasim-x" / "timecourse.parquet"))

    monkeypatch.setattr(services, "write_scenario", full)
    one_line_error(run("simulate", *DOSE, "--duration", "1 d", "--out", out), "no space left")
    assert (out / "summary.json").read_bytes() == before


def test_memory_error_is_one_line(tmp_path, monkeypatch):
    import ketasim.services as services

    def oom(*a, **k):
        raise MemoryError()

    monkeypatch.setattr(services, "run_scenario", oom)
    one_line_error(run("simulate", *DOSE, "--out", tmp_path / "o"), "not enough memory")


def test_cluster_failure_is_one_line(tmp_path, monkeypatch):
    import ketasim.services as services
    from ketasim.parallel import ExecutorError

    def lost(*a, **k):
        raise ExecutorError("the Dask cluster (local:2) lost a worker each time it ran one part of this work")

    monkeypatch.setattr(services, "run_scenario", lost)
    one_line_error(run("simulate", *DOSE, "--subjects", "3", "--out", tmp_path / "o"), "lost a worker")


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    import ketasim.services as services

    def bug(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(services, "run_scenario", bug)
    r = run("simulate", *DOSE, "--out", tmp_path / "o")
    assert r.exit_code == 1 and isinstance(r.exception, ZeroDivisionError)


# --------------------------------------------------------------------------- temporary folders
def test_stale_temporary_folders_of_dead_processes_are_removed(tmp_path):
    import subprocess
    import sys

    from ketasim.io.export import _host_tag, atomic_output_dir, remove_stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".ketasim-{pid}-{_host_tag()}-abc123"
    stale.mkdir()
    (stale / ".timecourse.parquet.part").write_bytes(b"x" * 1000)
    alive = tmp_path / f".ketasim-{1}-{_host_tag()}-abc123"  # PID 1 never goes away
    alive.mkdir()
    other_host = tmp_path / f".ketasim-{pid}-00000000-abc123"
    other_host.mkdir()
    old_style = tmp_path / ".ketasim-q1w2e3r4"
    old_style.mkdir()
    with atomic_output_dir(tmp_path / "out") as tmp:
        assert tmp.name.startswith(f".ketasim-{__import__('os').getpid()}-")
        (tmp / "f.txt").write_text("ok")
    assert not stale.exists()
    assert alive.exists() and other_host.exists() and old_style.exists()
    assert (tmp_path / "out" / "f.txt").read_text() == "ok"
    assert remove_stale_temporaries(tmp_path) == []


def test_outputs_summary_is_valid_after_a_run(tmp_path):
    out = tmp_path / "out"
    assert run("simulate", *DOSE, "--duration", "6 h", "--out", out).exit_code == 0
    assert json.loads((out / "summary.json").read_text())["summary"]
    no_leftovers(tmp_path)


# --------------------------------------------------------------------------- the argument parser's own errors
@pytest.mark.parametrize("args, words", [
    (["simulate", "--subjects", "-1"], ["--subjects", "at least 1"]),
    (["simulate", "--seed", "1.5"], ["--seed", "whole number"]),
    (["hypotheses", "--replicates", "1"], ["--replicates", "at least 2"]),
    (["trial", "williams2018", "--replicates", "0"], ["--replicates", "at least 1"]),
    (["simulate", "--bogus"], ["no such option", "--bogus"]),
    (["simul"], ["no such command"]),
    (["trial"], ["missing argument"]),
])
def test_parser_errors_are_one_plain_line(args, words):
    one_line_error(run(*args), *words)


def test_no_arguments_prints_the_help():
    r = run()
    assert "Usage" in r.output and "simulate" in r.output


@pytest.mark.parametrize("dose, words", [
    ("ketamine 5 mg iv over " + "1" * 400 + " min", ["infusion duration", "finite"]),
    ("ketamine 5 uu iv", ["far below"]),  # five micro-daltons to the unit library
    ("ketamine 1e-9 mg iv", ["far below"]),
])
def test_absurd_numbers_and_tiny_doses(tmp_path, dose, words):
    line = one_line_error(run("simulate", "--dose", dose, "--out", tmp_path / "o"), *words)
    assert len(line) < 300
