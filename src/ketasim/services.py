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


def check_output_dir(out_dir, what: str = "--out") -> Path:
    """Before any work: `out_dir` can be written as an output folder (one plain error otherwise)."""
    from ketasim.io.export import check_output_dir as _check

    return _check(out_dir, what)


def check_output_file(path, what: str = "output file", example: str | None = None) -> Path:
    """Before any work: `path` can be written as a file (one plain error otherwise)."""
    from ketasim.io.export import check_output_file as _check

    return _check(path, what, example)


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
# A population held in memory costs subjects x output times x 16 outputs x 8 bytes, about three times over while
# it is written; above this many subject x time rows it streams to Parquet chunk by chunk instead.
STREAM_ABOVE_ROWS = 4_000_000
# One streamed chunk's outputs (subjects x times x outputs x 8 bytes) stay below this; the chunk shrinks for very
# long grids (the default 1000 subjects fit every grid up to ~4,000 output times).
STREAM_CHUNK_BYTES = 512 * 2**20


def streams(cfg: ScenarioConfig) -> bool:
    """Whether a population scenario is written chunk by chunk (bounded memory) rather than held in memory; the
    same for every executor, so a cluster run writes exactly what the in-process run writes."""
    if cfg.subjects <= 1:
        return False
    return cfg.subjects > STREAM_ABOVE_SUBJECTS or cfg.subjects * cfg.time_points() > STREAM_ABOVE_ROWS


def stream_chunk_size(n_times: int, n_columns: int, chunk_size: int = 1000) -> int:
    return max(1, min(chunk_size, STREAM_CHUNK_BYTES // max(1, n_times * n_columns * 8)))


def write_population_scenario_streamed(cfg: ScenarioConfig, out_dir, progress=None, chunk_size: int = 1000,
                                       executor=None) -> dict:
    """Large populations: stream every subject's time course to timecourse.parquet chunk by chunk (memory bounded
    by a few chunks; on `executor`, e.g. a Dask cluster, the chunks are computed there), summary.json computed on
    the fly, the figure drawn from the first 500 subjects. All files are written to a temporary folder and moved
    into out_dir only when complete."""
    import json

    from ketasim import __version__
    from ketasim.io.export import atomic_output_dir
    from ketasim.population import simulate_population, simulate_population_to_parquet
    from ketasim.population._simulate import DEFAULT_COLUMNS

    regimen, subjects, params, mech, t, options, found = _population_setup(cfg)
    chunk = stream_chunk_size(len(t), len(DEFAULT_COLUMNS), chunk_size)
    with atomic_output_dir(out_dir) as tmp:
        summary = simulate_population_to_parquet(regimen, subjects, params, mech, t, tmp / "timecourse.parquet",
                                                 chunk_size=chunk, progress=progress, executor=executor, **options)
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
    from ketasim.trials import arm_size, builtin_trials, load_trial

    out = []
    for name in builtin_trials():
        cfg = load_trial(name)
        out.append({"name": name, "title": cfg.title, "design": cfg.design, "arms": list(cfg.arms),
                    "arm_sizes": {a: arm_size(cfg, a) for a in cfg.arms},
                    "n_per_arm": cfg.n_per_arm, "duration": cfg.duration, "citation": cfg.citation,
                    "has_observed": cfg.observed is not None})
    return out


def run_trial_report(name: str, hypothesis: str = "opioid", opioid_source: str | None = None,
                     replicates: int = 10, seed: int = 1, progress=None) -> tuple[dict, str]:
    """Run a built-in trial (or a YAML file path) and return (trial.json document, report.html text)."""
    from ketasim.trials import load_trial, run_trial, trial_html

    cfg = load_trial(name)
    res = run_trial(cfg, hypothesis, opioid_source, replicates=replicates, seed=seed, progress=progress)
    doc = res.to_json_dict()
    return doc, trial_html([res], [doc])


# ----------------------------------------------------------------------------------------------------------
# What the command line and the web API ask for, beyond single scenarios


def scenario_config(doses, scenario_file=None, **options) -> ScenarioConfig:
    """A scenario from a YAML file or from regimen lines plus options (CLI spelling); one plain error otherwise."""
    from pydantic import ValidationError

    from ketasim.io.schemas import ScenarioError, SubjectConfig, format_validation_error, original_error

    if scenario_file and doses:
        raise ScenarioError("give either --dose or --scenario, not both")
    if scenario_file:
        return ScenarioConfig.from_yaml(scenario_file)
    if not doses:
        raise ScenarioError("nothing to simulate: give at least one --dose or a --scenario file")
    subject = {k: options.pop(k) for k in ("weight", "age", "sex", "cyp2b6")}
    try:
        return ScenarioConfig(doses=list(doses), subject=SubjectConfig(**subject), **options)
    except ValidationError as exc:
        # one problem: the package's own message (it names the dose or option); several: all of them, by key
        raise (original_error(exc) or ScenarioError(format_validation_error(exc))) from None


def load_trial(name_or_path):
    from ketasim.trials import load_trial as _load

    return _load(name_or_path)


def parse_hypotheses(hypothesis: str, opioid_source: str | None = None) -> list[tuple[str, str | None]]:
    """'opioid', 'opioid[endogenous]', a comma list of these, or 'all' -> [(hypothesis, opioid source)]."""
    from ketasim.mechanisms import parse_variant
    from ketasim.trials import DEFAULT_VARIANTS

    if hypothesis == "all":
        if opioid_source:
            raise ValueError("--opioid-source goes with one hypothesis, not 'all'")
        return list(DEFAULT_VARIANTS)
    out = []
    for h in hypothesis.split(","):
        hyp, src = parse_variant(h)
        out.append((hyp, src or opioid_source))
    return out


def resize_trial(cfg, subjects: str | None):
    """The trial with `subjects` per arm (text from the command line), or unchanged when None."""
    from ketasim.trials import with_size

    if not subjects:
        return cfg
    from ketasim.units import excerpt

    try:
        n = int(subjects)
    except ValueError:
        raise ValueError(f"--subjects must be a whole number (or MIN:MAX with --power), got "
                         f"{excerpt(subjects, 30)}") from None
    if not 2 <= n <= MAX_TRIAL_SUBJECTS_PER_ARM:
        raise ValueError(f"--subjects must be 2-{MAX_TRIAL_SUBJECTS_PER_ARM:,} per arm, got {n:,}")
    return with_size(cfg, n).model_copy(update={"observed": cfg.observed})


MAX_TRIAL_SUBJECTS_PER_ARM = 100_000
# A trial arm is simulated whole (replicates x subjects x output times, three outputs kept): this many rows are
# about 1.2 GB.
MAX_TRIAL_ROWS_PER_ARM = 50_000_000


def check_trial_size(cfg, replicates: int) -> None:
    """Before any work: the trial's arms fit in memory (replicates x subjects x output times per arm)."""
    from ketasim.population import population_grid
    from ketasim.trials import arm_size

    for arm_name, arm in cfg.arms.items():
        regimen = arm.regimen()
        first = min((d.time_h for d in regimen.realize()), default=0.0)
        n_t = len(population_grid(regimen, max(0.0, first) + cfg.duration_h()))
        subjects = replicates * arm_size(cfg, arm_name)
        if subjects * n_t > MAX_TRIAL_ROWS_PER_ARM:
            most = max(1, MAX_TRIAL_ROWS_PER_ARM // max(1, n_t * arm_size(cfg, arm_name)))
            raise ValueError(f"trial {cfg.name}, arm {arm_name}: {replicates} replicates x {arm_size(cfg, arm_name):,} "
                             f"subjects x {n_t:,} output times is {subjects * n_t:,} rows; at most "
                             f"{MAX_TRIAL_ROWS_PER_ARM:,} fit in memory: use at most {most} replicates or fewer "
                             f"subjects")


def run_trial(cfg, hypothesis="opioid", opioid_source=None, **kwargs):
    from ketasim.trials import run_trial as _run

    check_trial_size(cfg, kwargs.get("replicates", 20))
    return _run(cfg, hypothesis, opioid_source, **kwargs)


def write_trials(results, out_dir) -> Path:
    from ketasim.trials import write_trial_outputs

    return write_trial_outputs(results, out_dir)


def run_power(cfg, subjects: str | None, compare: str, replicates: int = 20, seed: int = 1, progress=None):
    """Power over a MIN:MAX range of subjects per arm (six log-spaced sizes) for two hypotheses."""
    import numpy as np

    from ketasim.trials import power_analysis

    if not subjects or ":" not in subjects:
        raise ValueError("--power needs --subjects MIN:MAX, e.g. 10:200")
    try:
        lo, hi = (int(x) for x in subjects.split(":", 1))
    except ValueError:
        raise ValueError(f"--subjects MIN:MAX must be two whole numbers, got {subjects!r}") from None
    if not (2 <= lo < hi <= 5000):
        raise ValueError("--subjects MIN:MAX must satisfy 2 <= MIN < MAX <= 5000")
    sizes = sorted({int(round(x)) for x in np.geomspace(lo, hi, 6)})
    pair = parse_hypotheses(compare)
    if len(pair) != 2:
        raise ValueError("--compare takes exactly two hypotheses, e.g. 'opioid,glutamate'")
    rows = power_analysis(cfg, sizes, pair[0], pair[1], replicates=replicates, seed=seed, progress=progress)
    labels = tuple(h if s is None else f"{h}[{s}]" for h, s in pair)
    return rows, labels


def write_power(rows, labels, trial: str, out_dir) -> Path:
    from ketasim.trials import write_power_outputs

    return write_power_outputs(rows, labels, trial, out_dir)


def score_hypotheses(trials=None, replicates: int = 20, seed: int = 1, include_unverified: bool = False,
                     progress=None, executor=None, uncertainty: bool = False) -> dict:
    """The hypotheses.json document: every hypothesis scored against the trials (default: every built-in)."""
    from ketasim.trials import builtin_trials, score_hypotheses as _score, scores_to_json

    cfgs = [load_trial(t) for t in (trials or builtin_trials())]
    scores = _score(cfgs, replicates=replicates, seed=seed, include_unverified=include_unverified,
                    progress=progress, executor=executor, uncertainty=uncertainty)
    return scores_to_json(scores, cfgs, replicates, seed)


def write_hypotheses(doc: dict, out_dir) -> Path:
    from ketasim.trials import write_hypothesis_outputs

    return write_hypothesis_outputs(doc, out_dir)


def required_affinity_text() -> str:
    p = default_parameters()
    ki = p["opioid.hnk_Ki_mor"]
    return (f"Under the opioid hypothesis with --opioid-source hnk_mor and efficacy tau = "
            f"{p.value('opioid.hnk_tau'):g}, HNK would need a MOR affinity of Ki = {ki.value:.3g} {ki.unit} to "
            f"produce the -16.5-point 24-h MADRS change of Murrough 2013. Measured binding found no "
            f"opioid-receptor affinity for (2R,6R)-HNK (Bonaventura 2022).")


def parameter_table(prefix: str | None = None):
    df = default_parameters().to_frame()
    if prefix:
        df = df[df.key.str.startswith(prefix)]
    return df


def write_parameter_table(df, path) -> Path:
    """The parameter table as CSV, written whole or not at all."""
    from ketasim.io.export import atomic_write_text

    return atomic_write_text(path, df.to_csv(index=False))


def run_validation(out_dir) -> list[dict]:
    from ketasim.validation.report import write_report
    from ketasim.validation.targets import run_validation as _run

    rows = _run()
    write_report(rows, out_dir)
    return rows


def export_sbml_file(path, doses, scenario_file, hypothesis=None, opioid_source=None, weight="70 kg"):
    from ketasim.sbml import export_sbml_file as _export

    return _export(path, doses, scenario_file, hypothesis, opioid_source, weight)
