"""Use-cases shared by the CLI, the web API and Python users. Adapters call only these."""

from __future__ import annotations

import warnings
from pathlib import Path

from ketasim.io.schemas import ScenarioConfig
from ketasim.mechanisms import available, get_mechanism
from ketasim.units import to_hours
from ketasim.models.pk import Covariates
from ketasim.parameters import default_parameters
from ketasim.regimens import Regimen, ValidatedRangeWarning
from ketasim.results import Result
from ketasim.simulation import Simulation


def run_scenario(cfg: ScenarioConfig) -> Result:
    """Simulate the typical subject of a scenario; out-of-range warnings are kept on the result."""
    regimen = Regimen.from_text(*cfg.doses)
    cov = Covariates(weight_kg=cfg.subject.weight_kg(), age_y=cfg.subject.age_y(), sex=cfg.subject.sex,
                     cyp2b6=cfg.subject.cyp2b6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ValidatedRangeWarning)
        mech = get_mechanism(cfg.hypothesis, cfg.opioid_source)
        ad = to_hours(cfg.oral_antidepressant_start, "oral antidepressant start") \
            if cfg.oral_antidepressant_start else None
        result = Simulation(regimen, default_parameters(), mechanism=mech, expectation=cfg.expectation,
                            oral_antidepressant_start_h=ad, baseline_madrs=cfg.baseline_madrs,
                            ).solve(cfg.duration, cov, cfg.output_step)
    result.warnings = [str(w.message) for w in caught if issubclass(w.category, ValidatedRangeWarning)]
    result.meta["scenario"] = cfg.name
    return result


def write_scenario(result: Result, out_dir: str | Path, log_plot: bool = False) -> Path:
    return result.write(out_dir, log_plot=log_plot)


def list_hypotheses() -> list[dict]:
    """Every registered hypothesis with its description, sources and naltrexone prediction."""
    out = []
    for key, cls in available().items():
        out.append({"key": key, "title": cls.title, "description": cls.description, "sources": list(cls.sources),
                    "naltrexone_prediction": cls.naltrexone_prediction,
                    "options": {"opioid_source": ["hnk_mor", "ketamine_mor", "endogenous"]}
                    if "source" in getattr(cls, "__dataclass_fields__", {}) else {}})
    return out
