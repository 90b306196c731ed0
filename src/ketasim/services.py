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


def run_scenario(cfg: ScenarioConfig, progress=None, chunk_size: int = 256, executor=None):
    """Simulate the typical subject (subjects = 1) or a virtual population of a scenario; out-of-range
    warnings are kept on the result."""
    if cfg.subjects > 1:
        return run_population_scenario(cfg, progress=progress, chunk_size=chunk_size, executor=executor)
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


def _population_setup(cfg: ScenarioConfig):
    """Regimen, subjects (drawn once from the scenario's seed), parameters, mechanism, grid and options."""
    from ketasim.population import PopulationSpec, population_grid, sample_subjects
    from ketasim.simulation import parse_duration

    regimen = Regimen.from_text(*cfg.doses)
    duration_h = parse_duration(cfg.duration)
    w = cfg.subject.weight_kg()
    spec = PopulationSpec(weight_mean_kg=w, weight_min_kg=max(35.0, w - 40), weight_max_kg=min(200.0, w + 60),
                          female_fraction={"female": 1.0, "male": 0.0}.get(cfg.subject.sex, 0.5),
                          baseline_madrs_mean=cfg.baseline_madrs or 32.0)
    params = default_parameters()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ValidatedRangeWarning)
        regimen.check_validated_range(w)
    subjects = sample_subjects(spec, cfg.subjects, cfg.seed, params)
    step = to_hours(cfg.output_step, "output step") if cfg.output_step else (0.25 if duration_h <= 7 * 24 else 1.0)
    t = population_grid(regimen, duration_h, step_h=step)
    ad = to_hours(cfg.oral_antidepressant_start, "oral antidepressant start") if cfg.oral_antidepressant_start \
        else None
    options = dict(expectation=cfg.expectation, oral_ad_start_h=ad)
    found = [str(x.message) for x in caught if issubclass(x.category, ValidatedRangeWarning)]
    return regimen, subjects, params, get_mechanism(cfg.hypothesis, cfg.opioid_source), t, options, found


def run_population_scenario(cfg: ScenarioConfig, progress=None, chunk_size: int = 256, executor=None):
    """A virtual population around the scenario's subject: weight distribution centred on its weight,
    between-subject variability on, seed from the scenario (subjects drawn before any chunking)."""
    from ketasim.population import simulate_population

    regimen, subjects, params, mech, t, options, found = _population_setup(cfg)
    res = simulate_population(regimen, subjects, params, mech, t, chunk_size=chunk_size, progress=progress,
                              executor=executor, **options)
    res.warnings = found
    res.meta.update(scenario=cfg.name, seed=cfg.seed, subjects=cfg.subjects)
    return res


STREAM_ABOVE_SUBJECTS = 5000
FIGURE_SUBJECTS = 500


def write_population_scenario_streamed(cfg: ScenarioConfig, out_dir, progress=None, chunk_size: int = 1000) -> dict:
    """Large populations: stream every subject's time course to timecourse.parquet chunk by chunk (memory bounded
    by one chunk), summary.json computed on the fly, the figure drawn from the first 500 subjects. All files are
    written to a temporary folder and moved into out_dir only when complete."""
    import json

    from ketasim import __version__
    from ketasim.io.export import atomic_output_dir
    from ketasim.population import simulate_population, simulate_population_to_parquet

    regimen, subjects, params, mech, t, options, found = _population_setup(cfg)
    with atomic_output_dir(out_dir) as tmp:
        summary = simulate_population_to_parquet(regimen, subjects, params, mech, t, tmp / "timecourse.parquet",
                                                 chunk_size=chunk_size, progress=progress, **options)
        sample = simulate_population(regimen, subjects.iloc[:FIGURE_SUBJECTS], params, mech, t, **options)
        sample.plot(tmp / "timecourse.png")
        meta = {"ketasim_version": __version__, "regimen": regimen.to_text(), "hypothesis": mech.label(),
                "seed": cfg.seed, "subjects": cfg.subjects, "scenario": cfg.name,
                "figure": f"median and 5-95 % bands of the first {min(FIGURE_SUBJECTS, cfg.subjects)} subjects"}
        doc = {"summary": summary, "subjects": cfg.subjects, "provenance": meta, "warnings": found,
               "note": "Research software, not a dosing tool."}
        (tmp / "summary.json").write_text(json.dumps(doc, indent=2, default=str))
    doc["warnings"] = found
    return doc


def list_trials() -> list[dict]:
    """The built-in trials with their titles, designs and arms."""
    from ketasim.trials import builtin_trials, load_trial

    out = []
    for name in builtin_trials():
        cfg = load_trial(name)
        from ketasim.trials._design import arm_size

        out.append({"name": name, "title": cfg.title, "design": cfg.design, "arms": list(cfg.arms),
                    "arm_sizes": {a: arm_size(cfg, a) for a in cfg.arms},
                    "n_per_arm": cfg.n_per_arm, "duration": cfg.duration, "citation": cfg.citation,
                    "has_observed": cfg.observed is not None})
    return out


def run_trial_report(name: str, hypothesis: str = "opioid", opioid_source: str | None = None,
                     replicates: int = 10, seed: int = 1, progress=None) -> tuple[dict, str]:
    """Run a built-in trial (or a YAML file path) and return (trial.json document, report.html text)."""
    from ketasim.trials import load_trial, run_trial
    from ketasim.trials._report import _trial_html

    cfg = load_trial(name)
    res = run_trial(cfg, hypothesis, opioid_source, replicates=replicates, seed=seed, progress=progress)
    doc = res.to_json_dict()
    return doc, _trial_html([res], [doc])
