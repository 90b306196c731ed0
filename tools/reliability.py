"""Reliability under abuse: adversarial inputs to the command line, scenario and trial files and the web API,
interrupts, Dask faults, and a bounded local load test of `ketasim serve`. Prints the counts.

    .venv/bin/python tools/reliability.py                 # everything (about 10-15 min on 2 cores)
    .venv/bin/python tools/reliability.py --only cli,web  # some sections: cli, files, web, interrupts, dask, load
    .venv/bin/python tools/reliability.py --dask-100k     # also: 100,000 subjects on local:2 vs in-process

Everything runs on this machine, on the loopback interface only; every loop is bounded and every child process is
stopped at the end. Each input carries what it must produce:
  refuse  one plain line 'error: ...' and exit status 2 (CLI), or a 4xx with a readable detail (web); no library
          wording, nothing written;
  warn    it runs, and says why the result is an extrapolation;
  accept  it runs.
Outcomes: clean refusal, accepted (expected), warned (expected), traceback (an exception escaped, a 5xx, a hang),
silent acceptance (a refuse or warn input that ran without a word), unclean refusal (refused, but several lines,
library wording, or something left behind).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KETASIM = Path(sys.executable).with_name("ketasim")
LIBRARY_WORDING = ("Value error,", "Input should be", "Dictionary should have", "List should have",
                   "after validation", "Traceback", "pydantic", "errors.pydantic.dev")
CASE_TIMEOUT_S = 60


@dataclass
class Tally:
    name: str
    outcomes: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)

    def add(self, outcome: str, label: str, detail: str = ""):
        self.outcomes[outcome] += 1
        if outcome in ("traceback", "silent acceptance", "unclean refusal", "wrongly refused") and \
                len(self.examples) < 40:
            self.examples[label[:120]] = f"{outcome}: {detail[:300]}"

    @property
    def tried(self) -> int:
        return sum(self.outcomes.values())


class _Hang(BaseException):
    """Raised by the alarm: a case that ran past CASE_TIMEOUT_S (never caught by `except Exception`)."""


def _alarm(_sig, _frame):
    raise _Hang()


# ---------------------------------------------------------------------------------------------------- the CLI
@dataclass
class Case:
    args: list
    expect: str  # refuse | warn | accept
    label: str = ""
    out_check: bool = True   # the --out given must not exist after a refusal


def dose_cases() -> list[Case]:
    refuse = [
        "ketamine -5 mg iv", "ketamine 0 mg iv", "ketamine nan mg iv", "ketamine inf mg iv", "ketamine -inf mg iv",
        "ketamine 1e400 mg iv", "ketamine 0x10 mg iv", "ketamine 1,5 mg iv", "ketamine five mg iv",
        "ketamine 3000 mg iv", "esketamine 2500 mg intranasal", "arketamine 2001 mg im", "naltrexone 1500 mg oral",
        "ketamine 5000 mg/kg iv", "ketamine 40 mg/kg iv", "ketamine 1 kg iv", "ketamine 0.002 kg/g iv",
        "ketamine 0.5 um/m iv", "ketamine 0.0005 mL/L iv", "ketamine 5e-13 kg/mg iv", "ketamine 50 percent iv",
        "ketamine 0.5 mg/mg iv", "ketamine 0.5 mol/mol iv", "ketamine 5 parsecs iv", "ketamine 5 mL iv",
        "ketamine 5 mol iv", "ketamine 5 degC iv", "ketamine 5 mg/kg/h iv", "ketamine 5 mg*kg iv", "ketamine 5 mg^2 iv",
        "ketamine 5 mg/h iv", "ketamine 5 s iv", "ketamine 5 iv", "ketamine mg iv", "ketamine 5 mg", "ketamine",
        "5 mg iv ketamine", "ketamine 5 mg oral over 10 min", "ketamine 5 mg intranasal over 1 h",
        "ketamine 5 mg iv over 15 d", "ketamine 5 mg iv over -1 h", "ketamine 5 mg iv over 5 kg",
        "ketamine 5 mg iv every 1 h", "ketamine 5 mg iv every 1 h for 0 doses", "ketamine 5 mg iv every 1 h for 1001 doses",
        "ketamine 5 mg iv every 1 h for 1.5 doses", "ketamine 5 mg iv every 1 h for -3 doses",
        "ketamine 5 mg iv every 0 h for 3 doses", "ketamine 5 mg iv every -1 h for 3 doses",
        "ketamine 5 mg iv every 1 kg for 3 doses", "ketamine 5 mg iv at 400 d", "ketamine 5 mg iv at -400 d",
        "ketamine 5 mg iv at 5 kg", "ketamine 5 mg iv every 1 d for 1000 doses at 10 h",
        "ketamine 5 mg iv over 2 h every 1 h for 3 doses", "ketamine 2000 mg iv over 2 h",
        "ketamine 2000 mg iv every 1e-300 h for 1000 doses", "ketamine 250 mg iv every 15 min for 1000 doses",
        "ketamine 550 mg oral every 1 h for 24 doses", "ketamine 1000 mg oral every 1 d for 365 doses",
        "naltrexone 500 mg oral every 4 h for 6 doses", "naltrexone 50 mg iv", "naltrexone 50 mg intranasal",
        "cocaine 5 mg iv", "heroin 5 mg iv", "Ketamine; rm -rf / 5 mg iv", "ketamine 5 mg rectal",
        "ketamine 5 mg transdermal", "ketamine 5 mg iv iv", "ketamine 9**9**9 mg iv", "ketamine 5 mg**9 iv",
        "ketamine 1e999999 mg iv", "ketamine 35 MG iv", "ketamine 5 mg iv over 9**9**9 h", "ketamine 5 mg iv at 1e308 h",
        "ketamine 5 mg iv every 1e-320 h for 2 doses at 1e308 h", "ketamine $(reboot) mg iv",
        "ketamine `id` mg iv", "ketamine {0} mg iv", "ketamine %s%s%s mg iv", "ketamine 5 mg iv\nketamine 5 mg iv",
        "ketamine 5 mg iv\x00", "\x00", "", "   ", "ketamine 5 µµ iv", "ketamine 5 u iv", "ketamine 5 Da iv",
        "ketamine 1e-9 mg iv", "ketamine 5 ng iv", "ketamine 5 grain iv every 1 h for 1000 doses", "ketamine 5 ㎎ iv", "кетамин 5 mg iv",
"ketamine 5 mg iv " + "x" * 1000, "ketamine 5 mg iv " + "x" * 100_000,
        "k" * 100_000 + " 5 mg iv", "ketamine " + "9" * 5000 + " mg iv", "ketamine 5 " + "m" * 5000 + " iv",
        "ketamine 5 mg iv over " + "1" * 400 + " min", "ketamine 5 mg iv at " + "-" * 100 + "1 h",
        "placebo -1 mg iv", "placebo 5 mg iv every 1 h for 1001 doses", "ketamine 0.5 mg/kg iv over 40 min at",
        "ketamine 0.5 mg/kg iv over 40 min every", "ketamine 0.5 mg/kg iv over", "ketamine 0.5 mg/kg",
    ]
    from ketasim.regimens._regimen import DRUG_ROUTES, DRUGS, HARD_LIMIT_MG, ROUTES

    # every drug by every route with units that are not doses, and amounts beyond the hard limits either way
    for drug in DRUGS:
        for route in ROUTES:
            for unit in ("mL", "um/m", "mL/L", "kg/mg", "percent", "mol", "s", "mg/h"):
                refuse.append(f"{drug} 5 {unit} {route}")
            if drug != "placebo":
                if route in DRUG_ROUTES[drug]:
                    refuse += [f"{drug} {HARD_LIMIT_MG[drug] * 1.5:g} mg {route}", f"{drug} 1e-7 mg {route}"]
                else:
                    refuse.append(f"{drug} 5 mg {route}")
    cases = [Case(["simulate", "--dose", d, "--duration", "1 d", "--output-step", "1 h"], "refuse", f"dose {d[:60]!r}")
             for d in refuse]
    multi = {
        "ten 2000 mg at once": ["ketamine 2000 mg iv"] * 10,
        "five 2000 mg at once": ["ketamine 2000 mg iv"] * 5,
        "eleven 250 mg intranasal at once": ["ketamine 250 mg intranasal"] * 11,
        "201 lines": ["ketamine 1 mg iv"] * 201,
        "6000 doses": ["ketamine 1 mg iv every 1 h for 1000 doses"] * 6,
    }
    for label, lines in multi.items():
        args = ["simulate", "--duration", "1 d", "--output-step", "1 h"]
        for line in lines:
            args += ["--dose", line]
        cases.append(Case(args, "refuse", label))
    warn = ["ketamine 300 mg oral", "ketamine 0.5 mg iv", "naltrexone 200 mg oral", "esketamine 150 mg intranasal",
            "ketamine 4 mg/kg iv over 2 h", "ketamine 250 mg oral every 2 h for 12 doses"]
    for d in warn:
        cases.append(Case(["simulate", "--dose", d, "--duration", "1 d", "--output-step", "1 h"], "warn", f"warn {d}"))
    cases.append(Case(["simulate", "--duration", "1 d", "--output-step", "1 h"] +
                      [x for _ in range(5) for x in ("--dose", "ketamine 100 mg intranasal")], "warn", "5 x 100 mg at once"))
    cases.append(Case(["simulate", "--duration", "1 d", "--output-step", "1 h"] +
                      [x for i in range(200) for x in ("--dose", f"ketamine 15 mg iv at {i} min")], "warn",
                      "200 x 15 mg, a minute apart"))
    accept = ["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min",
              "esketamine 56 mg intranasal every 3.5 d for 8 doses", "ketamine 100 mg intranasal at 2 h",
              "ketamine 500 ug/kg iv over 40 min", "placebo 0 mg iv over 40 min", "arketamine 35 mg im",
              "ketamine ５ mg iv", "KETAMINE 35 mg IV", "ketamine 35 mg IV at 0"]
    for d in accept:
        cases.append(Case(["simulate", "--dose", d, "--duration", "1 d", "--output-step", "1 h"], "accept", f"ok {d}"))
    return cases


def option_cases() -> list[Case]:
    base = ["simulate", "--dose", "ketamine 35 mg iv", "--duration", "1 d", "--output-step", "1 h"]
    bad = {
        "--duration": ["5 y", "1000 d", "2 yr", "181 d", "-1 d", "0 d", "7", "nan d", "inf d", "1e400 d", "7 kg", "",
                       "9**9 h", "1 d; rm -rf /", "x" * 10_000, "1e-300 d", "0.0000001 s"],
        "--weight": ["500 kg", "0 kg", "-70 kg", "70", "70 parsec", "nan kg", "1e400 kg", "19 kg", "251 kg", "70 kg kg",
                     "", "x" * 10_000, "true"],
        "--age": ["5 yr", "101 yr", "40", "-1 yr", "40 kg", "nan yr", ""],
        "--sex": ["x", "", "FEMALE ", "other", "x" * 10_000],
        "--cyp2b6": ["*9/*9", "", "1/1", "*1/*1 "],
        "--output-step": ["0 min", "-1 h", "1e-9 h", "nan h", "5 kg", "2 d", "x"],
        "--subjects": ["0", "-1", "100001", "abc", "1000000000", "1.5", ""],
        "--seed": ["-1", "abc", "1.5", ""],
        "--hypothesis": ["unknown", "", "../x", "opioid,glutamate", "x" * 10_000, "OPIOID"],
        "--opioid-source": ["moonlight", "", "x" * 1000],
        "--expectation": ["maybe", "", "ACTIVE"],
        "--baseline-madrs": ["0", "-5", "61", "nan", "abc", "inf"],
        "--scheduler": ["local:0", "local:abc", "local:999", "local:", "local:-1"],
    }
    cases = []
    for opt, values in bad.items():
        for v in values:
            extra = ["--subjects", "3"] if opt == "--scheduler" else []
            cases.append(Case(base + [opt, v] + extra, "refuse", f"{opt} {v[:40]!r}"))
    cases.append(Case(base + ["--duration", "180 d", "--output-step", "1 s"], "refuse", "1 s over 180 d"))
    cases.append(Case(base + ["--hypothesis", "glutamate", "--opioid-source", "hnk_mor"], "refuse",
                      "opioid source with glutamate"))
    cases.append(Case(["simulate", "--dose", "ketamine 35 mg iv", "--scenario", str(REPO / "examples/scenario.yaml")],
                      "refuse", "--dose and --scenario"))
    cases.append(Case(["simulate"], "refuse", "nothing to simulate"))
    for v in ("1 d", "48 h", "3 d"):
        cases.append(Case(base + ["--duration", v], "accept", f"--duration {v}"))
    for h in ("opioid", "glutamate", "hnk_ampa", "mixed", "null"):
        cases.append(Case(base + ["--duration", "1 d", "--hypothesis", h], "accept", f"hypothesis {h}"))
    return cases


def out_cases(tmp: Path) -> list[Case]:
    afile = tmp / "afile"
    afile.write_text("mine")
    outs = {"existing file": (afile, False), "/dev/null": (Path("/dev/null"), False),
            "under a file": (afile / "sub", False), "unwritable /proc": (Path("/proc/ketasim/x"), False),
            "unwritable /sys": (Path("/sys/kernel/ketasim"), False),
            "name too long": (tmp / ("x" * 5000), True), "component too long": (tmp / ("y" * 300) / "o", True)}
    cmds = {"simulate": ["simulate", "--dose", "ketamine 35 mg iv", "--duration", "1 d"],
            "population": ["simulate", "--dose", "ketamine 35 mg iv", "--duration", "1 d", "--subjects", "4"],
            "trial": ["trial", "williams2018", "--replicates", "1"],
            "power": ["trial", "williams2018", "--power", "--subjects", "4:8", "--replicates", "2"],
            "hypotheses": ["hypotheses", "--trial", "williams2018", "--replicates", "2"],
            "validate": ["validate"]}
    cases = []
    for cname, cmd in cmds.items():
        for oname, (out, check) in outs.items():
            cases.append(Case(cmd + ["--out", str(out)], "refuse", f"{cname} --out {oname}", out_check=check))
    for name, path in (("folder", tmp), ("under a file", afile / "x.csv"), ("/dev/null", Path("/dev/null"))):
        cases.append(Case(["params", "--format", "csv", "--out", str(path)], "refuse", f"params --out {name}", False))
        cases.append(Case(["export-sbml", str(path), "--dose", "ketamine 35 mg iv"], "refuse",
                          f"export-sbml {name}", False))
    cases.append(Case(["params", "--format", "xml"], "refuse", "params --format xml"))
    cases.append(Case(["params", "--format", "csv", "--out", str(tmp / "p.csv")], "accept", "params csv", False))
    cases.append(Case(["export-sbml", str(tmp / "m.xml"), "--dose", "ketamine 2000 mg iv", "--dose",
                       "ketamine 2000 mg iv"], "refuse", "export-sbml 4 g at once", False))
    cases.append(Case(["export-sbml", str(tmp / "ok.xml"), "--dose", "ketamine 35 mg iv"], "accept", "sbml", False))
    return cases


def trial_cases(tmp: Path) -> list[Case]:
    cases = []
    for name in ("unknown", ".", "../../etc/passwd", "", "x" * 5000, "/dev/null", "/dev/zero", str(tmp / "no.yaml"),
                 "williams2018.yml"):
        cases.append(Case(["trial", name, "--replicates", "1"], "refuse", f"trial {name[:40]!r}"))
    for args in (["--subjects", "1000000000"], ["--subjects", "abc"], ["--subjects", "0"], ["--subjects", "-5"],
                 ["--subjects", "1"], ["--subjects", "1:2"], ["--power", "--subjects", "abc"],
                 ["--power", "--subjects", "5:2"], ["--power", "--subjects", "1:100000"], ["--power"],
                 ["--replicates", "0"], ["--replicates", "2001"], ["--hypothesis", "unknown"],
                 ["--hypothesis", "all", "--opioid-source", "hnk_mor"], ["--chunk-size", "0"],
                 ["--power", "--subjects", "4:8", "--compare", "opioid"], ["--scheduler", "local:0"],
                 ["--subjects", "100000", "--replicates", "2000"]):
        cases.append(Case(["trial", "williams2018", *args], "refuse", "trial " + " ".join(args)[:60]))
    for args in (["--trial", "unknown"], ["--trial", "."], ["--replicates", "1"], ["--replicates", "99999"]):
        cases.append(Case(["hypotheses", *args], "refuse", "hypotheses " + " ".join(args)[:60]))
    cases.append(Case(["trial", "williams2018", "--replicates", "1", "--subjects", "4"], "accept", "trial small"))
    return cases


PYTHON_TAGS = [
    "!!python/object/apply:os.system ['echo pwned > /tmp/ketasim_pwned']",
    "!!python/object/new:os.system ['echo pwned > /tmp/ketasim_pwned']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:os.PathLike {}",
    "!!python/object/apply:subprocess.check_output [['id']]",
]


def file_texts() -> dict[str, tuple[str | bytes, str]]:
    ok = "doses: [ketamine 35 mg iv]\nduration: 1 d\noutput_step: 1 h\n"
    texts: dict[str, tuple[str | bytes, str]] = {}
    for i, tag in enumerate(PYTHON_TAGS):
        texts[f"python tag {i}"] = (f"doses: [ketamine 35 mg iv]\nname: {tag}\n", "refuse")
        texts[f"python tag {i} top"] = (f"{tag}\n", "refuse")
    for key, val in (("seed", "true"), ("seed", "false"), ("subjects", "yes"), ("subjects", "on"),
                     ("baseline_madrs", "true"), ("seed", "1.5"), ("seed", "-1"), ("seed", "1e400"), ("seed", "abc"),
                     ("subjects", "0"), ("subjects", "100001"), ("subjects", "1e9"), ("duration", "7"),
                     ("duration", "1000 d"), ("duration", "[1, 2]"), ("duration", "{a: 1}"), ("name", "{a: 1}"),
                     ("name", "'" + "n" * 300 + "'"), ("hypothesis", "unknown"), ("expectation", "maybe"),
                     ("output_step", "1e-9 h"), ("output_step", "'1 s'\nduration: 180 d"), ("sex", "x"),
                     ("subject", "3"), ("subject", "{weight: 70}"), ("subject", "{weight: true}"),
                     ("subject", "{weight: 70 kg, weight: 80 kg}"), ("subject", "{height: 180 cm}"),
                     ("oral_antidepressant_start", "5 kg"), ("colour", "red"), ("doses", "[]"),
                     ("doses", "'ketamine 35 mg iv'"), ("doses", "[[ketamine 35 mg iv]]"), ("doses", "[35]"),
                     ("doses", "[null]"), ("doses", "{a: 1}"), ("doses", "[ketamine 2000 mg iv, ketamine 2000 mg iv]"),
                     ("doses", "[ketamine 0.5 um/m iv]"), ("doses", "['ketamine 250 mg iv every 15 min for 1000 doses']")):
        texts[f"{key}: {val[:30]}"] = (f"doses: [ketamine 35 mg iv]\n{key}: {val}\n"
                                       if key != "doses" else f"{key}: {val}\n", "refuse")
    texts["duplicate top key"] = ("doses: [ketamine 35 mg iv]\nseed: 3\nseed: 4\n", "refuse")
    texts["duplicate doses"] = ("doses: [ketamine 35 mg iv]\ndoses: [ketamine 2000 mg iv]\n", "refuse")
    texts["deep 40"] = ("doses: " + "[" * 40 + "]" * 40 + "\n", "refuse")
    texts["deep 3000"] = ("doses: " + "[" * 3000 + "]" * 3000 + "\n", "refuse")
    texts["deep 100000"] = ("doses: " + "[" * 100_000 + "]" * 100_000 + "\n", "refuse")
    texts["deep maps"] = ("doses: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n", "refuse")
    texts["deep block"] = ("doses:\n" + "".join("  " * i + "-\n" for i in range(500)), "refuse")
    texts["billion laughs"] = ("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" +
                               "".join(f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n"
                                       for p, c in zip("abcdefgh", "bcdefghi")) + "doses: *i\n", "refuse")
    texts["many nodes"] = ("doses: [" + ",".join(["1"] * 250_000) + "]\n", "refuse")
    texts["list top"] = ("- ketamine 35 mg iv\n", "refuse")
    texts["scalar top"] = ("ketamine\n", "refuse")
    texts["empty"] = ("", "refuse")
    texts["comment only"] = ("# nothing\n", "refuse")
    texts["tab indent"] = ("doses:\n\t- ketamine 35 mg iv\n", "refuse")
    texts["malformed"] = ("doses: [ketamine 35 mg iv\n", "refuse")
    texts["binary"] = (bytes(range(256)) * 10, "refuse")
    texts["not utf-8"] = (b"doses: [ketamine 35 mg iv]\nname: \xff\xfe\n", "refuse")
    texts["utf-16"] = (ok.encode("utf-16"), "refuse")
    texts["bom"] = (b"\xef\xbb\xbf" + ok.encode(), "accept")
    texts["1.4 million dose lines"] = ("doses:\n" + "- ketamine 1 mg iv at 1 min\n" * 1_400_000, "refuse")
    texts["2 MB comment"] = (ok + "#" + "x" * 2_000_000 + "\n", "refuse")
    texts["201 dose lines"] = ("doses:\n" + "- ketamine 1 mg iv\n" * 201, "refuse")
    texts["ok"] = (ok, "accept")
    texts["ok anchors"] = ("name: &d ketamine 35 mg iv\ndoses: [*d]\nduration: 1 d\noutput_step: 1 h\n", "accept")
    texts["unknown key via anchor"] = ("x: &d ketamine 35 mg iv\ndoses: [*d]\n", "refuse")
    texts["warn 300 mg"] = ("doses: [ketamine 300 mg oral]\nduration: 1 d\noutput_step: 1 h\n", "warn")
    return texts


def trial_file_texts() -> dict[str, tuple[str, str]]:
    import yaml

    from ketasim.trials import load_trial

    base = load_trial("zarate2006").model_dump(mode="json", exclude_none=True)
    arm = next(iter(base["arms"]))

    def variant(**changes):
        d = json.loads(json.dumps(base))
        for path, value in changes.items():
            node = d
            keys = path.split(".")
            for k in keys[:-1]:
                node = node[k]
            if value is None:            # None: leave the key out
                node.pop(keys[-1], None)
            else:
                node[keys[-1]] = value
        return yaml.safe_dump(d)

    texts = {
        "ok": (variant(n_per_arm=4), "accept"),
        "n_per_arm true": (variant(n_per_arm=True), "refuse"),
        "n_per_arm 1e9": (variant(n_per_arm=10**9), "refuse"),
        "n_per_arm 0": (variant(n_per_arm=0), "refuse"),
        "duration 1000 d": (variant(duration="1000 d"), "refuse"),
        "duration 7": (variant(duration=7), "refuse"),
        "arm absurd total": (variant(**{f"arms.{arm}.doses": ["ketamine 2000 mg iv"] * 10}), "refuse"),
        "arm um/m": (variant(**{f"arms.{arm}.doses": ["ketamine 0.5 um/m iv"]}), "refuse"),
        "arm 201 lines": (variant(**{f"arms.{arm}.doses": ["ketamine 1 mg iv"] * 201}), "refuse"),
        # a single-arm series is a design (parallel with one arm; a crossover needs two)
        "one arm": (variant(arms={arm: base["arms"][arm]}, design="parallel", washout=None, comparisons=[],
                            observed=None),
                    "accept"),
        "one-arm crossover": (variant(arms={arm: base["arms"][arm]}, design="crossover"), "refuse"),
        "design x": (variant(design="x"), "refuse"),
        "washout 1 d": (variant(washout="1 d"), "refuse"),
        "female_fraction 2": (variant(**{"population.female_fraction": 2}), "refuse"),
        "female_fraction true": (variant(**{"population.female_fraction": True}), "refuse"),
        "unknown key": (variant(colour="red"), "refuse"),
        "endpoint outside": (variant(**{f"endpoints.{next(iter(base['endpoints']))}.at": "900 d"}), "refuse"),
        "duplicate key": ("name: a\nname: b\n", "refuse"),
        "deep": ("name: " + "[" * 3000 + "]" * 3000 + "\n", "refuse"),
        "python tag": (f"name: {PYTHON_TAGS[0]}\n", "refuse"),
    }
    return texts


def file_cases(tmp: Path) -> list[Case]:
    cases = []
    folder = tmp / "files"
    folder.mkdir()
    for i, (label, (text, expect)) in enumerate(file_texts().items()):
        f = folder / f"s{i}.yaml"
        f.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        cases.append(Case(["simulate", "--scenario", str(f)], expect, f"scenario {label}"))
    for i, (label, (text, expect)) in enumerate(trial_file_texts().items()):
        f = folder / f"t{i}.yaml"
        f.write_text(text)
        cases.append(Case(["trial", str(f), "--replicates", "1"], expect, f"trial file {label}"))
    fifo = folder / "fifo.yaml"
    os.mkfifo(fifo)
    loop = folder / "loop.yaml"
    loop.symlink_to(loop)
    for label, path in (("a folder", folder), ("a FIFO", fifo), ("/dev/zero", Path("/dev/zero")),
                        ("a symlink loop", loop), ("missing", folder / "absent.yaml"), ("/etc/shadow", Path("/etc/shadow"))):
        cases.append(Case(["simulate", "--scenario", str(path)], "refuse", f"scenario is {label}"))
        cases.append(Case(["trial", str(path) if str(path).endswith(".yaml") else str(path), "--replicates", "1"],
                          "refuse", f"trial file is {label}"))
        cases.append(Case(["export-sbml", str(tmp / "m.xml"), "--scenario", str(path)], "refuse",
                          f"sbml scenario is {label}", False))
    return cases


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:
        return False


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except OSError:
        return False


USAGE_ERRORS = ("Invalid value", "No such option", "Missing option", "Missing argument", "Got unexpected extra",
                "requires an argument", "No such command")


def _classify_cli(result, case: Case, out: Path | None, folders: list[Path]) -> tuple[str, str]:
    text = (result.output or "") + (result.stderr or "")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return "traceback", f"{type(result.exception).__name__}: {result.exception}"
    if "Traceback" in text:
        return "traceback", text[-300:]
    code = result.exit_code
    leftovers = [p.name for f in folders if _is_dir(f) for p in f.iterdir() if p.name.startswith(".ketasim")]
    if case.expect == "refuse":
        if code == 0:
            return "silent acceptance", (result.stderr or result.output)[-200:] or "exit 0"
        lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
        usage = code == 2 and any(w in result.stderr for w in USAGE_ERRORS)  # the argument parser's own box
        one_line = len(lines) == 1 and lines[0].startswith("error:")
        unclean = code != 2 or not (one_line or usage) or any(w in text for w in LIBRARY_WORDING) or leftovers or \
            (case.out_check and out is not None and _exists(out))
        if unclean:
            return "unclean refusal", f"exit {code}; {result.stderr[:250]!r}; leftovers {leftovers}"
        return ("clean refusal (usage)" if usage and not one_line else "clean refusal"), ""
    if code != 0:
        return ("wrongly refused" if code == 2 else "traceback"), result.stderr[:300]
    if case.expect == "warn":
        return ("warned", "") if "warning:" in result.stderr else ("silent acceptance", "ran without a warning")
    return "accepted", ""


def run_cli_cases(cases: list[Case], tally: Tally, base: Path, quick: bool = False):
    from typer.testing import CliRunner

    from ketasim.cli.main import app

    runner = CliRunner()
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i, case in enumerate(cases):
            if quick and i % 4:
                continue
            work = base / f"c{i}"
            work.mkdir()
            args = list(case.args)
            out = None
            if "--out" not in args and args[0] in ("simulate", "trial", "hypotheses", "validate"):
                out = work / "out"
                args += ["--out", str(out)]
            elif "--out" in args:
                out = Path(args[args.index("--out") + 1])
            cwd = os.getcwd()
            os.chdir(work)
            t0 = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = runner.invoke(app, [str(a) for a in args])
                signal.setitimer(signal.ITIMER_REAL, 0)
                folders = [work, base] + ([out.parent] if out is not None and str(out) else [])
                outcome, detail = _classify_cli(result, case, out, folders)
            except _Hang:
                outcome, detail = "traceback", f"no answer within {CASE_TIMEOUT_S} s (hang)"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                os.chdir(cwd)
            tally.add(outcome, case.label or " ".join(map(str, args))[:100], detail)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        signal.signal(signal.SIGALRM, old)
    if Path("/tmp/ketasim_pwned").exists():
        tally.add("traceback", "YAML executed code", "/tmp/ketasim_pwned was written")


# ---------------------------------------------------------------------------------------------------- web API
def web_cases() -> list[tuple[str, str, object, dict, str, str]]:
    """(method, path, body, headers, expect, label); body: dict (JSON) or bytes."""
    dose = {"drug": "ketamine", "amount": 0.5, "unit": "mg/kg", "route": "iv", "over": "40 min"}
    good = {"doses": [dose], "duration": "1 d"}
    cases = []
    bad_values = [None, True, False, [], {}, "", "x" * 100_000, -1, 0, 1e308, -1e308, "NaN", "Infinity", 2**70,
                  "9**9**9 h", "../../etc/passwd", "<script>alert(1)</script>", "\u0000", {"$gt": 1}]
    # values that are legal for a field (optional fields may be null or blank; seed 0 is a seed; a short name is
    # any text): expected to run
    legal = {("over", None), ("over", ""), ("at", None), ("at", ""), ("every", None), ("every", ""), ("name", ""),
             ("hypothesis", None), ("opioid_source", None), ("expectation", None), ("baseline_madrs", None),
             ("seed", 0), ("name", "../../etc/passwd"), ("name", "<script>alert(1)</script>"), ("name", "\u0000"),
             ("name", "9**9**9 h"), ("name", "NaN"), ("name", "Infinity")}
    for fld in ("drug", "amount", "unit", "route", "over", "at", "every", "count"):
        for v in bad_values:
            d = {**dose, fld: v}
            if fld == "count" and v not in (None, True, False):
                d["every"] = "1 d"
            expect = "accept" if not isinstance(v, (list, dict, bool)) and (fld, v) in legal else "refuse"
            cases.append(("POST", "/api/simulate", {**good, "doses": [d]}, {}, expect, f"dose.{fld}={str(v)[:20]}"))
    for fld in ("name", "duration", "weight_kg", "age_years", "sex", "cyp2b6", "hypothesis", "opioid_source",
                "expectation", "baseline_madrs", "subjects", "seed", "doses"):
        for v in bad_values:
            expect = "accept" if not isinstance(v, (list, dict, bool)) and (fld, v) in legal else "refuse"
            cases.append(("POST", "/api/simulate", {**good, fld: v}, {}, expect, f"{fld}={str(v)[:20]}"))
    totals = {"ten 2000 mg": [{**dose, "amount": 2000, "unit": "mg", "over": None}] * 10,
              "5000 mg/kg": [{**dose, "amount": 5000}], "250 mg q15min": [{**dose, "amount": 250, "unit": "mg",
                                                                           "over": None, "every": "15 min",
                                                                           "count": 100}],
              "um/m": [{**dose, "unit": "um/m"}], "11 lines": [dose] * 11}
    for label, doses in totals.items():
        for path in ("/api/simulate", "/api/jobs"):
            body = {**good, "doses": doses}
            cases.append(("POST", path, {"scenario": body} if path == "/api/jobs" else body, {}, "refuse",
                          f"{path} {label}"))
    raw = {"invalid JSON": b"{", "deep arrays": b"[" * 100_000 + b"]" * 100_000,
           "deep objects": b'{"a":' * 20_000 + b"1" + b"}" * 20_000, "2 MB body": b'{"doses": "' + b"x" * 2_000_000 + b'"}',
           "100 MB declared": None, "not UTF-8": b"\xff\xfe", "empty": b"", "a list": b"[]", "a number": b"1",
           "null": b"null", "NaN amount": b'{"doses": [{"drug": "ketamine", "amount": NaN, "unit": "mg", "route": "iv"}]}'}
    for label, body in raw.items():
        headers = {"content-type": "application/json"}
        if body is None:
            body, headers = b"{}", {**headers, "content-length": str(100 * 2**20)}
        for path in ("/api/simulate", "/api/jobs", "/api/trials/run"):
            cases.append(("POST", path, body, headers, "refuse", f"{path} {label}"))
    cases.append(("POST", "/api/simulate", b"doses=1", {"content-type": "application/x-www-form-urlencoded"},
                  "refuse", "form body"))
    for fld in ("trial", "hypothesis", "opioid_source", "replicates", "seed"):
        for v in bad_values:
            if fld in ("hypothesis", "opioid_source") and v is None or fld == "seed" and v == 0 and \
                    not isinstance(v, bool):
                continue  # legal: the package default, seed 0
            cases.append(("POST", "/api/trials/run", {"trial": "williams2018", "replicates": 1, fld: v}, {}, "refuse",
                          f"trial {fld}={str(v)[:20]}"))
    for v in bad_values:
        cases.append(("POST", "/api/jobs", {"scenario": v}, {}, "refuse", f"job scenario={str(v)[:20]}"))
        cases.append(("POST", "/api/jobs", {"scenario": good, "extra": v}, {}, "refuse", f"job extra={str(v)[:20]}"))
    for body in ({"trial": "unknown"}, {"trial": "../williams2018"}, {"trial": "williams2018", "replicates": 0},
                 {"trial": "williams2018", "replicates": 51}, {"trial": "williams2018", "replicates": True},
                 {"trial": "williams2018", "hypothesis": "x"}, {"trial": "williams2018", "seed": -1},
                 {"trial": "/etc/passwd"}, {"trial": "williams2018", "extra": 1}, {}):
        cases.append(("POST", "/api/trials/run", body, {}, "refuse", f"trial {json.dumps(body)[:40]}"))
    for path in ("/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/api/jobs/../../etc/passwd",
                 "/api/jobs/" + "x" * 5000, "/api/jobs/nope", "/api/jobs/nope/report", "/api/unknown", "/../../etc",
                 "/api/parameters?format=xml", "/api/parameters?format=" + "x" * 5000):
        cases.append(("GET", path, None, {}, "refuse", f"GET {path[:50]}"))
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "", "localhost@evil.example"):
        cases.append(("GET", "/api/options", None, {"host": host}, "refuse", f"Host {host!r}"))
    for method, path in (("PUT", "/api/simulate"), ("DELETE", "/api/options"), ("PATCH", "/api/jobs"),
                         ("GET", "/api/simulate")):
        cases.append((method, path, None, {}, "refuse", f"{method} {path}"))
    cases.append(("POST", "/api/simulate", good, {}, "accept", "good scenario"))
    cases.append(("GET", "/api/options", None, {}, "accept", "options"))
    cases.append(("GET", "/", None, {}, "accept", "page"))
    return cases


def run_web_cases(tally: Tally):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from ketasim.web import create_app

    app = create_app(token=None, allowed_hosts=["127.0.0.1", "localhost", "::1", "testserver"])
    client = TestClient(app, raise_server_exceptions=False)
    try:
        for method, path, body, headers, expect, label in web_cases():
            try:
                kw = {"headers": headers}
                if isinstance(body, (bytes, bytearray)):
                    kw["content"] = body
                elif body is not None:
                    kw["content"] = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
                    kw["headers"] = {"content-type": "application/json", **headers}
                r = client.request(method, path, **kw)
            except Exception as exc:  # noqa: BLE001 - counted
                tally.add("traceback", label, f"{type(exc).__name__}: {exc}")
                continue
            status = r.status_code
            detail = ""
            with contextlib.suppress(Exception):
                detail = r.json().get("detail", "")
            if status >= 500:
                tally.add("traceback", label, f"{status} {r.text[:200]}")
            elif expect == "refuse":
                if status < 400:
                    tally.add("silent acceptance", label, f"{status}")
                elif not isinstance(detail, str) or not detail or any(w in detail for w in LIBRARY_WORDING):
                    tally.add("unclean refusal", label, f"{status} {r.text[:200]}")
                else:
                    tally.add("clean refusal", label)
            else:
                tally.add("accepted" if status < 400 else "unclean refusal", label, f"{status} {r.text[:200]}")
    finally:
        app.state.jobs.shutdown()
        client.close()


# ---------------------------------------------------------------------------------------------------- processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".ketasim")]


def _long_run(out: Path, extra=()) -> subprocess.Popen:
    return subprocess.Popen([str(KETASIM), "simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects",
                             "20000", "--duration", "7 d", "--quiet", "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_part(folder: Path, proc: subprocess.Popen, timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(list(t.glob("*.part")) for t in _temporaries(folder)):
            return True
        time.sleep(0.05)
    return False


def run_interrupts(tally: Tally, base: Path):
    folder = base / "interrupts"
    folder.mkdir()
    out = folder / "out"
    r = subprocess.run([str(KETASIM), "simulate", "--dose", "ketamine 35 mg iv", "--duration", "6 h", "--quiet",
                        "--out", str(out)], capture_output=True, text=True, timeout=300)
    before = (out / "summary.json").read_bytes() if r.returncode == 0 else None
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL):
        label = f"{sig.name} during a streamed run"
        proc = _long_run(out)
        try:
            if not _wait_for_part(folder, proc):
                tally.add("traceback", label, "no part file appeared: " + (proc.stderr.read() if proc.poll() else ""))
                continue
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        kept = before is not None and (out / "summary.json").read_bytes() == before
        if sig == signal.SIGKILL:
            left = _temporaries(folder)
            nxt = subprocess.run([str(KETASIM), "simulate", "--dose", "ketamine 35 mg iv", "--duration", "6 h",
                                  "--quiet", "--out", str(folder / "next")], capture_output=True, text=True, timeout=300)
            clean = bool(left) and nxt.returncode == 0 and not _temporaries(folder) and kept
            tally.add("clean refusal" if clean else "unclean refusal", label + " (next run cleans up)",
                      f"left {[p.name for p in left]}, after {[p.name for p in _temporaries(folder)]}")
            continue
        clean = "Traceback" not in err and not _temporaries(folder) and kept and proc.returncode != 0
        tally.add("clean refusal" if clean else ("traceback" if "Traceback" in err else "unclean refusal"), label,
                  f"exit {proc.returncode}; {err[-200:]!r}; left {[p.name for p in _temporaries(folder)]}")


def _start_dask(n_workers: int):
    port = _free_port()
    cli = str(Path(sys.executable).with_name("dask"))
    env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "critical"}
    sched = subprocess.Popen([cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    workers = [subprocess.Popen([cli, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-dashboard",
                                 "--nworkers", "1", "--no-nanny", "--host", "127.0.0.1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
               for _ in range(n_workers)]
    address = f"tcp://127.0.0.1:{port}"
    from distributed import Client

    deadline = time.monotonic() + 90
    while True:
        try:
            with Client(address, timeout="5s") as c:
                c.wait_for_workers(n_workers, timeout=60)
            return address, sched, workers
        except Exception:  # noqa: BLE001 - retried until the deadline
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _stop(*procs):
    for p in procs:
        if p is not None and p.poll() is None:
            p.kill()
    for p in procs:
        if p is not None:
            with contextlib.suppress(Exception):
                p.wait(10)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def run_dask_faults(tally: Tally, base: Path):
    folder = base / "dask"
    folder.mkdir()
    sim = ["simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects", "6000", "--duration", "2 d",
           "--quiet", "--seed", "4"]
    ref = subprocess.run([str(KETASIM), *sim, "--out", str(folder / "ref")], capture_output=True, text=True, timeout=600)
    ref_digest = _digest(folder / "ref" / "timecourse.parquet") if ref.returncode == 0 else None
    # 1. a worker killed mid-run: the scheduler reruns its part; the result is unchanged
    address, sched, workers = _start_dask(2)
    try:
        proc = subprocess.Popen([str(KETASIM), *sim, "--scheduler", address, "--out", str(folder / "killed")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if _wait_for_part(folder, proc):
            time.sleep(0.5)
            workers[0].kill()
        _, err = proc.communicate(timeout=600)
        same = proc.returncode == 0 and ref_digest == _digest(folder / "killed" / "timecourse.parquet")
        tally.add("accepted" if same else "traceback", "a worker killed mid-run (same bytes as in-process)",
                  f"exit {proc.returncode} {err[-300:]!r}")
        # 2. the scheduler killed mid-run: one line, exit 2, nothing written
        proc = subprocess.Popen([str(KETASIM), *sim, "--scheduler", address, "--out", str(folder / "nosched")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if _wait_for_part(folder, proc):
            sched.kill()
        _, err = proc.communicate(timeout=600)
        lines = err.strip().splitlines()
        clean = proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and \
            not (folder / "nosched").exists() and not _temporaries(folder)
        tally.add("clean refusal" if clean else ("traceback" if "Traceback" in err else "unclean refusal"),
                  "the scheduler killed mid-run", f"exit {proc.returncode} {err[-300:]!r}")
    finally:
        _stop(sched, *workers)
    # 3. a task that kills every worker it lands on
    from ketasim.parallel import ExecutorError, get_executor

    with get_executor("local:2", quiet=True) as ex:
        ex.client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 1))
        try:
            list(ex.imap(os._exit, [3, 3, 3]))
            tally.add("silent acceptance", "a task that kills every worker", "no error")
        except ExecutorError as exc:
            tally.add("clean refusal", "a task that kills every worker", str(exc))
        except Exception as exc:  # noqa: BLE001 - counted
            tally.add("traceback", "a task that kills every worker", f"{type(exc).__name__}: {exc}")
    # 4. nobody there
    r = subprocess.run([str(KETASIM), *sim[:-2], "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "--out",
                        str(folder / "none")], capture_output=True, text=True, timeout=300)
    lines = r.stderr.strip().splitlines()
    tally.add("clean refusal" if r.returncode == 2 and len(lines) == 1 else "unclean refusal",
              "an unreachable scheduler", r.stderr[-300:])


# ---------------------------------------------------------------------------------------------------- load test
def _rss_tree(pid: int) -> int:
    import psutil

    try:
        p = psutil.Process(pid)
        return p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
    except psutil.Error:
        return 0


def run_load(report: dict, clients: int = 20, seconds: float = 60.0):
    port = _free_port()
    diag = os.environ.get("KETASIM_RELIABILITY_STACKS")  # a file: the server dumps its threads there on SIGUSR1
    cmd = [str(KETASIM), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if diag:
        cmd = [sys.executable, "-c", "import faulthandler, signal, sys; f = open(sys.argv[1], 'w'); "
               "faulthandler.register(signal.SIGUSR1, file=f, all_threads=True); sys.argv = sys.argv[1:]; "
               "from ketasim.cli.main import main; main()", diag, *cmd[1:]]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        # keep reading what the server prints (its access log): a full pipe would stop its event loop
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        m = re.search(r"\?token=(\S+)", line)
        if not m:
            raise RuntimeError(f"ketasim serve printed no token URL: {line!r}")
        token, base = m.group(1), f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        failures: list[str] = []
        lock = threading.Lock()
        t_origin = time.monotonic()

        def call(method, path, body=None, timeout=120):
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    r.read()
                    status = r.status
            except urllib.error.HTTPError as e:
                e.read()
                status = e.code
            except (urllib.error.URLError, OSError) as exc:
                status = -1
                with lock:
                    failures.append(f"{time.monotonic() - t_origin:.1f}s {method} {path}: {type(exc).__name__}: "
                                    f"{str(exc)[:80]}")
            return status, time.monotonic() - t0

        deadline = time.monotonic() + 60
        while call("GET", "/api/health", timeout=2)[0] != 200:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("ketasim serve did not come up")
            time.sleep(0.2)
        failures.clear()  # refused connections while the server started are not failures
        dose = {"drug": "ketamine", "amount": 0.5, "unit": "mg/kg", "route": "iv", "over": "40 min"}
        small = {"doses": [dose], "duration": "1 d"}
        heavy = {"doses": [dose, {"drug": "naltrexone", "amount": 50, "unit": "mg", "route": "oral",
                                  "at": "-45 min"}], "duration": "10 d", "subjects": 10}
        long_one = {"doses": [{**dose, "every": "1 d", "count": 60}], "duration": "90 d"}
        # warm up every kind of request, then measure the server's memory
        for body in (small, heavy, long_one):
            call("POST", "/api/simulate", body)
        call("GET", "/api/parameters")
        call("GET", "/api/trials")
        time.sleep(1)
        rss_before = _rss_tree(proc.pid)
        stats: dict[str, list] = {"cheap": [], "simulate": [], "heavy": [], "job": []}
        codes: Counter = Counter()
        health_full: list[float] = []
        health_all: list[float] = []
        in_heavy = [0]
        stop_at = time.monotonic() + seconds

        def client(k: int):
            i = 0
            while time.monotonic() < stop_at and i < 10_000:
                i += 1
                r = (k * 7919 + i * 104729) % 100
                if r < 55:
                    kind, res = "cheap", call("GET", ("/api/health", "/api/options", "/api/trials", "/")[i % 4])
                elif r < 80:
                    kind, res = "simulate", call("POST", "/api/simulate", small)
                elif r < 95:
                    with lock:
                        in_heavy[0] += 1
                    try:
                        kind, res = "heavy", call("POST", "/api/simulate", heavy if i % 2 else long_one)
                    finally:
                        with lock:
                            in_heavy[0] -= 1
                else:
                    kind, res = "job", call("POST", "/api/jobs", {"scenario": small})
                with lock:
                    stats[kind].append(res[1])
                    codes[res[0]] += 1

        def prober():
            while time.monotonic() < stop_at:
                with lock:
                    full = in_heavy[0] >= 2
                status, dt = call("GET", "/api/health", timeout=30)
                (health_full if full else health_all).append(dt)
                time.sleep(0.1)

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
        threads.append(threading.Thread(target=prober, daemon=True))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 300)
        wall = time.monotonic() - t0
        # let queued jobs finish, then measure again
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(urllib.request.Request(base + "/api/health"), timeout=5) as r:
                    if json.loads(r.read())["jobs_pending"] == 0:
                        break
            except OSError:
                pass
            time.sleep(0.5)
        time.sleep(1)
        rss_after = _rss_tree(proc.pid)
        every = [x for v in stats.values() for x in v]

        def pct(v, p):
            return round(statistics.quantiles(v, n=100)[p - 1], 3) if len(v) >= 2 else (round(v[0], 3) if v else None)

        report.update({
            "clients": clients, "seconds": round(wall, 1), "requests": len(every),
            "status_codes": {str(k): v for k, v in sorted(codes.items())},
            "server_errors_5xx": sum(v for k, v in codes.items() if k >= 500),
            "connection_failures": codes.get(-1, 0), "failure_examples": failures[:10],
            "latency_s": {k: {"n": len(v), "p50": pct(v, 50), "p95": pct(v, 95)} for k, v in stats.items()},
            "all_p50_s": pct(every, 50), "all_p95_s": pct(every, 95),
            "health_while_heavy_slots_full_s": {"n": len(health_full), "p50": pct(health_full, 50),
                                                "p95": pct(health_full, 95),
                                                "max": round(max(health_full), 3) if health_full else None},
            "health_otherwise_s": {"n": len(health_all), "p95": pct(health_all, 95)},
            "server_rss_mb_before": round(rss_before / 2**20, 1), "server_rss_mb_after": round(rss_after / 2**20, 1),
            "rss_ratio": round(rss_after / rss_before, 2) if rss_before else None,
        })
    finally:
        _stop(proc)


# ---------------------------------------------------------------------------------------------------- 100,000 on Dask
def run_dask_100k(report: dict, base: Path, subjects: int = 100_000):
    """Peak RSS of the whole process tree (the CLI and its Dask workers), sampled every 0.2 s, and the file's bytes
    against the in-process run."""
    import psutil

    folder = base / "dask100k"
    folder.mkdir()
    runs = {}
    for label, extra in (("in-process", []), ("local:2", ["--scheduler", "local:2"])):
        out = folder / label.replace(":", "")
        t0 = time.monotonic()
        proc = subprocess.Popen([str(KETASIM), "simulate", "--dose", "ketamine 0.5 mg/kg iv over 40 min", "--subjects",
                                 str(subjects), "--duration", "7 d", "--seed", "1", "--quiet", "--out", str(out), *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _rss_tree(proc.pid))
            time.sleep(0.2)
            if time.monotonic() - t0 > 3600:
                proc.kill()
        err = proc.stderr.read()
        runs[label] = {"exit": proc.returncode, "wall_s": round(time.monotonic() - t0, 1),
                       "peak_rss_mb_tree": round(peak / 2**20, 1), "stderr": err[-300:]}
        if proc.returncode == 0:
            runs[label]["parquet_sha256"] = _digest(out / "timecourse.parquet")
            runs[label]["parquet_mb"] = round((out / "timecourse.parquet").stat().st_size / 2**20, 1)
            runs[label]["summary_sha256"] = _digest(out / "summary.json")
    a, b = runs.get("in-process", {}), runs.get("local:2", {})
    report.update({"subjects": subjects, "runs": runs,
                   "identical_parquet": a.get("parquet_sha256") is not None and
                   a.get("parquet_sha256") == b.get("parquet_sha256"),
                   "identical_summary": a.get("summary_sha256") is not None and
                   a.get("summary_sha256") == b.get("summary_sha256"),
                   "psutil": psutil.__version__})
    shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="cli,files,web,interrupts,dask,load",
                    help="comma list of sections: cli, files, web, interrupts, dask, load")
    ap.add_argument("--dask-100k", action="store_true", help="also 100,000 subjects on local:2 vs in-process")
    ap.add_argument("--quick", action="store_true", help="a quarter of the CLI cases, a 20-s load test")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0, help="load test duration")
    ap.add_argument("--json", type=Path, default=None, help="also write the counts to this file")
    args = ap.parse_args(argv)
    sections = set(args.only.split(","))
    t_start = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="ketasim-reliability-"))
    tallies: list[Tally] = []
    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count()}
    with contextlib.suppress(FileNotFoundError):
        os.unlink("/tmp/ketasim_pwned")
    try:
        if "cli" in sections:
            t = Tally("command line (dose text, options, --out, trials)")
            run_cli_cases(dose_cases() + option_cases() + out_cases(base) + trial_cases(base), t, base, args.quick)
            tallies.append(t)
        if "files" in sections:
            t = Tally("scenario and trial files")
            run_cli_cases(file_cases(base), t, base)
            tallies.append(t)
        if "web" in sections:
            t = Tally("web API")
            run_web_cases(t)
            tallies.append(t)
        if "interrupts" in sections:
            t = Tally("interrupts (SIGINT, SIGTERM, SIGHUP, SIGKILL)")
            run_interrupts(t, base)
            tallies.append(t)
        if "dask" in sections:
            t = Tally("Dask faults")
            run_dask_faults(t, base)
            tallies.append(t)
        if "load" in sections:
            report["load"] = {}
            run_load(report["load"], args.clients, 20.0 if args.quick else args.seconds)
        if args.dask_100k:
            report["dask_100k"] = {}
            run_dask_100k(report["dask_100k"], base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    total = Counter()
    report["sections"] = {}
    for t in tallies:
        total.update(t.outcomes)
        report["sections"][t.name] = {"tried": t.tried, **dict(t.outcomes), "examples": t.examples}
    report["totals"] = {"inputs tried": sum(total.values()), **dict(total)}
    report["wall_s"] = round(time.monotonic() - t_start, 1)

    print(f"ketasim reliability ({report['started']}, {report['cpus']} CPUs, {report['wall_s']} s)")
    for t in tallies:
        o = t.outcomes
        print(f"  {t.name}: {t.tried} tried; clean refusals {o['clean refusal'] + o['clean refusal (usage)']} "
              f"(of which argument-parser usage errors {o['clean refusal (usage)']}), accepted {o['accepted']}, "
              f"warned {o['warned']}, tracebacks {o['traceback']}, silent acceptances {o['silent acceptance']}, "
              f"unclean refusals {o['unclean refusal']}, wrongly refused {o['wrongly refused']}")
        for label, what in t.examples.items():
            print(f"      ! {label}: {what}")
    print(f"  TOTAL: {report['totals']['inputs tried']} inputs tried; clean refusals "
          f"{total['clean refusal'] + total['clean refusal (usage)']}; tracebacks {total['traceback']}; silent "
          f"acceptances {total['silent acceptance']}; unclean refusals {total['unclean refusal']}; wrongly refused "
          f"{total['wrongly refused']}; accepted/warned as expected {total['accepted'] + total['warned']}")
    if "load" in report and report["load"]:
        L = report["load"]
        print(f"  load: {L['clients']} clients x {L['seconds']} s: {L['requests']} requests, p50 {L['all_p50_s']} s, "
              f"p95 {L['all_p95_s']} s, 5xx {L['server_errors_5xx']}, connection failures {L['connection_failures']}, "
              f"status {L['status_codes']}")
        print(f"        per kind: {json.dumps(L['latency_s'])}")
        for f in L["failure_examples"]:
            print(f"        ! {f}")
        h = L["health_while_heavy_slots_full_s"]
        print(f"        /api/health while both heavy slots were busy: n {h['n']}, p50 {h['p50']} s, p95 {h['p95']} s, "
              f"max {h['max']} s; server RSS {L['server_rss_mb_before']} MB before, {L['server_rss_mb_after']} MB "
              f"after ({L['rss_ratio']}x)")
    if "dask_100k" in report:
        D = report["dask_100k"]
        for label, r in D["runs"].items():
            print(f"  {D['subjects']:,} subjects {label}: exit {r['exit']}, {r['wall_s']} s, peak RSS (process tree) "
                  f"{r['peak_rss_mb_tree']} MB, file {r.get('parquet_mb')} MB")
        print(f"        identical Parquet bytes: {D['identical_parquet']}; identical summary.json: "
              f"{D['identical_summary']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    bad = total["traceback"] + total["silent acceptance"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
