"""The regression cases: README commands and every hypothesis variant, as the reference path
(`Simulation.solve`) and the population fast path compute them.

`python tests/regression/cases.py --write` stores each case's outputs in tests/regression/data/ (regenerate
only in a change that explains why the numbers move); tests/regression/test_regression.py compares the current
code with the stored files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parents[2]

W_DOSES = ["ketamine 0.5 mg/kg iv over 40 min every 3.5 d for 8 doses", "naltrexone 50 mg oral at -45 min"]
VARIANTS = [("opioid", "hnk_mor"), ("opioid", "ketamine_mor"), ("opioid", "endogenous"), ("glutamate", None),
            ("hnk_ampa", None), ("mixed", "hnk_mor"), ("null", None)]


def single_cases():
    """name -> keyword arguments of ketasim.simulate (the typical subject, reference path)."""
    cases = {
        "demo_ketamine_alone": dict(doses=["ketamine 0.5 mg/kg iv over 40 min"], duration="7 d"),
        "demo_with_naltrexone": dict(doses=["ketamine 0.5 mg/kg iv over 40 min",
                                            "naltrexone 50 mg oral at -45 min"], duration="7 d"),
        "readme_endogenous_14d": dict(doses=["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"],
                                      hypothesis="opioid", opioid_source="endogenous", duration="14 d"),
        "routes_3d": dict(doses=["esketamine 84 mg intranasal", "ketamine 50 mg oral at 8 h",
                                 "ketamine 25 mg sublingual at 20 h", "arketamine 30 mg im at 30 h"],
                          duration="3 d", expectation="saline"),
        "oral_ad_28d": dict(doses=["esketamine 56 mg intranasal every 3.5 d for 8 doses"], duration="28 d",
                            output_step="1 h", oral_antidepressant_start="0 h", baseline_madrs=37.0),
        "no_expectation": dict(doses=["ketamine 0.5 mg/kg iv over 40 min"], duration="2 d", expectation="none",
                               weight=95.0),
        "scenario_example": dict(scenario="examples/scenario.yaml"),
    }
    for hyp, src in VARIANTS:
        cases[f"variant_{hyp}_{src or 'none'}"] = dict(
            doses=["naltrexone 50 mg oral at -45 min", "ketamine 0.5 mg/kg iv over 40 min at 3 d",
                   "ketamine 0.5 mg/kg iv over 40 min"], duration="7 d", output_step="15 min",
            hypothesis=hyp, opioid_source=src)
    return cases


def compute_single(kw) -> pd.DataFrame:
    import ketasim as ks

    kw = dict(kw)
    if "scenario" in kw:
        from ketasim.io.schemas import ScenarioConfig
        from ketasim.services import run_scenario

        return run_scenario(ScenarioConfig.from_yaml(ROOT / kw["scenario"])).to_pandas()
    doses = kw.pop("doses")
    res = ks.simulate(doses, **kw)
    return res.to_pandas()


def population_cases():
    """name -> (regimen lines, hypothesis, opioid source, expectation, oral AD start, days, subjects)."""
    cases = {"pop_W_opioid": (W_DOSES, "opioid", None, "active", None, 28, 6)}
    for hyp, src in VARIANTS:
        cases[f"pop_{hyp}_{src or 'none'}"] = (["ketamine 0.5 mg/kg iv over 40 min",
                                                 "naltrexone 50 mg oral at -45 min",
                                                 "esketamine 56 mg intranasal at 2 d"], hyp, src, "saline",
                                                None if hyp != "glutamate" else 0.0, 5, 5)
    return cases


def compute_population(case) -> pd.DataFrame:
    import ketasim as ks
    from ketasim.mechanisms import get_mechanism
    from ketasim.population import PopulationSpec, population_grid, sample_subjects, simulate_population
    from ketasim.regimens import Regimen

    doses, hyp, src, expectation, ad, days, n = case
    p = ks.default_parameters()
    reg = Regimen.from_text(*doses)
    t = population_grid(reg, days * 24.0, step_h=1.0)
    subjects = sample_subjects(PopulationSpec(), n, 2024, p)
    res = simulate_population(reg, subjects, p, get_mechanism(hyp, src), t, expectation=expectation,
                              oral_ad_start_h=ad)
    return res.to_pandas()


def all_cases():
    out = {name: ("single", kw) for name, kw in single_cases().items()}
    out.update({name: ("population", c) for name, c in population_cases().items()})
    return out


def compute(kind, case) -> pd.DataFrame:
    return compute_single(case) if kind == "single" else compute_population(case)


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: python tests/regression/cases.py --write")
    DATA.mkdir(exist_ok=True)
    for name, (kind, case) in all_cases().items():
        df = compute(kind, case)
        df.to_parquet(DATA / f"{name}.parquet", index=False, compression="zstd")
        print(name, df.shape)
