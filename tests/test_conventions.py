"""Conventions of the suite and of the product's own words, checked rather than hoped for.

- No test asserts a wall-clock limit: speed goals live in benchmarks/ (`make bench`). In tests a clock is read
  only to bound a wait (`deadline = time.monotonic() + ...`, `... > deadline`), never to judge speed.
- User-facing text (README, docs, CLI help, dashboard, reports) speaks for itself: no issue numbers, no
  "mission", no files outside the repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
CLOCK = re.compile(r"\btime\.(monotonic|perf_counter|time|process_time)(_ns)?\(")
INTERNAL = re.compile(r"\bissue[- ]?#?\d|\bmission\b|\.\./shared|\bshared/|design\.md|\bHELPER_BRIEF", re.I)


def test_no_test_reads_a_clock_except_to_bound_a_wait():
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if path == Path(__file__):
            continue
        for no, line in enumerate(path.read_text().splitlines(), start=1):
            if CLOCK.search(line) and "deadline" not in line:
                offenders.append(f"{path.relative_to(REPO)}:{no}: {line.strip()}")
            if re.search(r"\belapsed\b|\bseconds_taken\b", line):
                offenders.append(f"{path.relative_to(REPO)}:{no}: {line.strip()}")
    assert not offenders, "timing belongs in benchmarks/, not in tests:\n" + "\n".join(offenders)


def test_the_convention_check_finds_a_timed_assertion(tmp_path):
    """The check above would catch the pattern it exists for."""
    line = "    elapsed = time.monotonic() - t0"
    assert CLOCK.search(line) and "deadline" not in line


def _internal_references(text: str) -> list[str]:
    return sorted({m.group(0) for m in INTERNAL.finditer(text)})


USER_FILES = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")),
              *sorted(str(p.relative_to(REPO)) for p in (REPO / "src/ketasim/web/static").iterdir()),
              "Makefile"]


@pytest.mark.parametrize("name", USER_FILES)
def test_user_facing_files_speak_for_themselves(name):
    path = REPO / name
    if path.suffix in (".png", ".ico"):
        pytest.skip("binary")
    assert _internal_references(path.read_text(errors="replace")) == [], name


def _commands():
    from ketasim.cli.main import app
    import typer.main

    group = typer.main.get_command(app)
    return [[]] + [[name] for name in group.commands]


@pytest.mark.parametrize("args", _commands(), ids=lambda a: " ".join(a) or "ketasim")
def test_cli_help_speaks_for_itself(args):
    from ketasim.cli.main import app

    r = CliRunner().invoke(app, [*args, "--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert _internal_references(r.output) == []


def test_api_schema_speaks_for_itself(make_client_for_schema):
    schema = make_client_for_schema.get("/openapi.json").text
    assert _internal_references(schema) == []


@pytest.fixture
def make_client_for_schema():
    import warnings

    from ketasim.web import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    c = TestClient(create_app())
    yield c
    c.app.state.jobs.shutdown()
    c.close()


def test_hypothesis_descriptions_speak_for_themselves():
    """What `ketasim hypotheses --list` prints and the dashboard shows."""
    from ketasim import services

    assert _internal_references(json.dumps(services.list_hypotheses())) == []


def test_reports_speak_for_themselves(tmp_path):
    from ketasim.cli.main import app

    out = tmp_path / "t"
    r = CliRunner().invoke(app, ["trial", "williams2018", "--hypothesis", "glutamate", "--replicates", "2",
                                 "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    for name in ("report.html", "trial.json"):
        assert _internal_references((out / name).read_text()) == [], name
