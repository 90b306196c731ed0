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


def chunk_size_for_progress(n_subjects: int, smallest: int = 128, largest: int = 256, parts: int = 10) -> int:
    """Subjects per work unit so that progress moves in about `parts` steps. Each unit has a fixed cost, so
    units stay at least `smallest` subjects; at most `largest` bounds memory. Results do not depend on it
    (subjects are drawn before the work is split)."""
    return int(min(largest, max(smallest, -(-n_subjects // parts))))


def _start(progress, n_subjects: int, chunk_size: int):
    """Tell the progress display the number of parts before the first is done (a determinate bar from the
    start, not a pulse)."""
    if progress:
        progress(0, -(-n_subjects // chunk_size))


def run_scenario(cfg: ScenarioConfig, progress=None, chunk_size: int | None = None, executor=None,
                 times=None, parameters=None):
    """Simulate the typical subject (subjects = 1) or a virtual population of a scenario; out-of-range
    warnings are kept on the result. `times` (h): exact sampling times of the table (default: the scenario's
    output step, `sampling_times`); `parameters`: another parameter set than the defaults (a use pattern's
    product)."""
    if times is None:
        times = sampling_times(cfg)
    if cfg.subjects > 1 or cfg.population is not None and cfg.population.covariates_file:
        return run_population_scenario(cfg, progress=progress, chunk_size=chunk_size, executor=executor,
                                       times=times, parameters=parameters)
    if cfg.population is not None:
        raise ValueError("population options (--age-range, --female-fraction, --weight-sd, --weight-range) "
                         "describe a population: add --subjects N (N > 1)")
    regimen = Regimen.from_text(*cfg.doses)
    cov = Covariates(weight_kg=cfg.subject.weight_kg(), age_y=cfg.subject.age_y(), sex=cfg.subject.sex,
                     cyp2b6=cfg.subject.cyp2b6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ValidatedRangeWarning)
        mech = get_mechanism(cfg.hypothesis, cfg.opioid_source)
        ad = to_hours(cfg.oral_antidepressant_start, "oral antidepressant start") \
            if cfg.oral_antidepressant_start else None
        result = Simulation(regimen, parameters or default_parameters(), mechanism=mech, expectation=cfg.expectation,
                            oral_antidepressant_start_h=ad, baseline_madrs=cfg.baseline_madrs,
                            ).solve(cfg.duration, cov, cfg.output_step)
    result.warnings = [str(w.message) for w in caught if issubclass(w.category, ValidatedRangeWarning)]
    result.meta["scenario"] = cfg.name
    if times is not None:
        result.sampled = _sample_single(result, regimen, cov, mech, cfg, times)
    return result


def check_output_dir(out_dir, what: str = "--out") -> Path:
    """Before any work: `out_dir` can be written as an output folder (one plain error otherwise)."""
    from ketasim.io.export import check_output_dir as _check

    return _check(out_dir, what)


def check_output_file(path, what: str = "output file", example: str | None = None) -> Path:
    """Before any work: `path` can be written as a file (one plain error otherwise)."""
    from ketasim.io.export import check_output_file as _check

    return _check(path, what, example)


def _only_requested_times(result, times):
    """A Result (one subject: arrays by time) or PopulationResult (arrays time x subject) on the given times only
    (they are points of its grid: the grid was joined with them)."""
    import dataclasses

    import numpy as np

    m = np.isin(np.round(np.asarray(result.time_h, float), 8), np.round(np.asarray(times, float), 8))
    changes = {"time_h": np.asarray(result.time_h)[m], "outputs": {k: v[m] for k, v in result.outputs.items()}}
    if getattr(result, "states", None) is not None:
        changes["states"] = result.states[m]
    if getattr(result, "internal", None):
        changes["internal"] = {k: v[m] for k, v in result.internal.items()}
    return dataclasses.replace(result, **changes)


def write_scenario(result: Result, out_dir: str | Path, log_plot: bool = False, nonmem: bool = False,
                   observe=None, observed=None, carry_out=(), liability: dict | None = None) -> Path:
    """timecourse.parquet (at the sampling times when the run has them), summary.json (times after the dose),
    timecourse.png (with `observed` points), subjects.csv for populations (covariates, random effects,
    individual parameters), dataset.csv with `nonmem`, and, where given, the abuse-liability table (abuse.json,
    and the `abuse_liability` section of summary.json). Everything or nothing."""
    import json

    from ketasim.io.export import atomic_output_dir

    plain = not (nonmem or observed is not None or carry_out or getattr(result, "sample_times", None) is not None
                 or getattr(result, "sampled", None) is not None or getattr(result, "subjects", None) is not None)

    def write(folder):
        if plain:
            return result.write(folder, log_plot=log_plot)
        return _write_run(result, folder, log_plot, nonmem, observe, observed, carry_out)

    if liability is None:
        return write(out_dir)
    with atomic_output_dir(out_dir) as tmp:
        write(tmp)
        summary = json.loads((tmp / "summary.json").read_text())
        summary["abuse_liability"] = liability["metrics"]
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        (tmp / "abuse.json").write_text(json.dumps(liability, indent=2, default=str))
    return Path(out_dir)


def liability_of(result, parameters=None, scenario: str | None = None) -> dict | None:
    """The abuse-liability table of a run (one subject or a population), or None where the run lacks the
    immediate-effect columns (a run without ketamine still has them: its liking stays neutral)."""
    from ketasim.patterns.metrics import has_liability_columns, liability_table

    if not has_liability_columns(result.outputs):
        return None
    params = parameters or getattr(result, "parameters", None) or default_parameters()
    subjects = getattr(result, "subjects", None)
    if subjects is not None and "weight_kg" in subjects:
        weight = subjects["weight_kg"].to_numpy()
    else:
        cov = getattr(result, "covariates", None)
        weight = cov.weight_kg if cov is not None else None
    return liability_table(result.time_h, result.outputs, result.regimen, params, weight,
                           hypothesis=result.meta.get("hypothesis"), scenario=scenario or result.meta.get("scenario"))


def list_hypotheses() -> list[dict]:
    """Every registered hypothesis with its description, sources and naltrexone prediction."""
    out = []
    for key, cls in available().items():
        out.append({"key": key, "title": cls.title, "description": cls.description, "sources": list(cls.sources),
                    "naltrexone_prediction": cls.naltrexone_prediction,
                    "options": {"opioid_source": ["hnk_mor", "ketamine_mor", "endogenous"]}
                    if "source" in getattr(cls, "__dataclass_fields__", {}) else {}})
    return out


def _population_setup(cfg: ScenarioConfig, parameters=None):
    """Regimen, subjects (drawn once from the scenario's seed), parameters, mechanism, grid and options."""
    from ketasim.population import PopulationSpec, population_grid, sample_subjects
    from ketasim.simulation import parse_duration

    regimen = Regimen.from_text(*cfg.doses)
    duration_h = parse_duration(cfg.duration)
    w = cfg.subject.weight_kg()
    spec = population_spec(cfg)
    params = parameters or default_parameters()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ValidatedRangeWarning)
        regimen.check_validated_range(w)
    subjects = population_subjects(cfg, spec, params)
    step = to_hours(cfg.output_step, "output step") if cfg.output_step else (0.25 if duration_h <= 7 * 24 else 1.0)
    t = population_grid(regimen, duration_h, step_h=step)
    ad = to_hours(cfg.oral_antidepressant_start, "oral antidepressant start") if cfg.oral_antidepressant_start \
        else None
    options = dict(expectation=cfg.expectation, oral_ad_start_h=ad)
    found = [str(x.message) for x in caught if issubclass(x.category, ValidatedRangeWarning)]
    return regimen, subjects, params, get_mechanism(cfg.hypothesis, cfg.opioid_source), t, options, found


def run_population_scenario(cfg: ScenarioConfig, progress=None, chunk_size: int | None = None, executor=None,
                            times=None, parameters=None):
    """A virtual population around the scenario's subject: weight distribution centred on its weight,
    between-subject variability on, seed from the scenario (subjects drawn before any chunking)."""
    import numpy as np

    from ketasim.population import simulate_population

    regimen, subjects, params, mech, t, options, found = _population_setup(cfg, parameters)
    chunk_size = chunk_size or chunk_size_for_progress(len(subjects))
    _start(progress, len(subjects), chunk_size)
    if times is not None:
        t = np.union1d(t, np.round(times, 10))
    res = simulate_population(regimen, subjects, params, mech, t, chunk_size=chunk_size, progress=progress,
                              executor=executor, **options)
    res.warnings = found
    res.meta.update(scenario=cfg.name, seed=cfg.seed, subjects=len(subjects))
    res.sample_times = times
    res.parameters = params
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


FLOAT32_NOTE = "output columns stored as float32: relative rounding error at most 2^-24 (6.0e-8)"


def write_population_scenario_streamed(cfg: ScenarioConfig, out_dir, progress=None,
                                       chunk_size: int | None = None, times=None, outputs=None,
                                       summary_only: bool = False, float32: bool = False, executor=None) -> dict:
    """Large populations: stream every subject's time course to timecourse.parquet chunk by chunk (memory bounded
    by a few chunks; on `executor`, e.g. a Dask cluster, the chunks are computed there), summary.json computed on
    the fly, the figure drawn from the first 500 subjects. All files are written to a temporary folder and moved
    into out_dir only when complete. `outputs`: the columns (default every output); `summary_only`: no time
    course, only endpoints.parquet (one row per subject) and the summary; `float32`: the time course in single
    precision (FLOAT32_NOTE). endpoints.parquet is written in every case."""
    import json

    from ketasim._version import __version__
    from ketasim.io.export import atomic_output_dir
    from ketasim.models import outputs as output_catalogue
    from ketasim.population import simulate_population, simulate_population_to_parquet

    regimen, subjects, params, mech, t, options, found = _population_setup(cfg)
    columns = output_columns(mech, outputs)
    # streamed chunks are larger (fewer Parquet row groups); memory stays bounded by a few chunks, and a chunk
    # shrinks for very long grids
    import numpy as np

    times = sampling_times(cfg) if times is None else times
    keep = None
    if times is not None:
        t = np.union1d(t, np.round(times, 10))
        keep = np.isin(np.round(t, 8), np.round(times, 8))
    chunk_size = chunk_size or chunk_size_for_progress(len(subjects), smallest=256, largest=1000, parts=20)
    chunk_size = stream_chunk_size(len(t), len(columns), chunk_size)
    _start(progress, len(subjects), chunk_size)
    with atomic_output_dir(out_dir) as tmp:
        summary = simulate_population_to_parquet(regimen, subjects, params, mech, t,
                                                 None if summary_only else tmp / "timecourse.parquet",
                                                 columns=columns, chunk_size=chunk_size, progress=progress,
                                                 keep=keep, summary_doses=regimen.realize(), float32=float32,
                                                 endpoints_path=tmp / "endpoints.parquet", executor=executor,
                                                 **options)
        sample = simulate_population(regimen, subjects.iloc[:FIGURE_SUBJECTS], params, mech, t, columns=columns,
                                     **options)
        if times is not None:
            sample = _only_requested_times(sample, times)
        sample.plot(tmp / "timecourse.png")
        meta = {"ketasim_version": __version__, "regimen": regimen.to_text(), "hypothesis": mech.label(),
                "seed": cfg.seed, "subjects": cfg.subjects, "scenario": cfg.name,
                "figure": f"median and 5-95 % bands of the first {min(FIGURE_SUBJECTS, cfg.subjects)} subjects",
                "outputs": list(columns), "time_course": "none (summary only)" if summary_only else
                ("timecourse.parquet, " + (FLOAT32_NOTE if float32 else "float64"))}
        doc = {"summary": summary, "subjects": cfg.subjects, "provenance": meta, "warnings": found,
               "note": "Research software, not a dosing tool."}
        (tmp / "summary.json").write_text(json.dumps(doc, indent=2, default=str))
    doc["warnings"] = found
    return doc


def output_columns(mech, outputs=None) -> list[str]:
    """The output columns a user asked for ('madrs,cadss' or a list), checked against the model's outputs."""
    from ketasim.models import outputs as output_catalogue

    known = list(output_catalogue.columns(mech))
    if outputs is None:
        return known
    names = [o.strip() for o in (outputs.split(",") if isinstance(outputs, str) else outputs) if o.strip()]
    if not names:
        raise ValueError("--outputs is empty: give output names separated by commas, e.g. 'madrs,cadss'")
    for name in names:
        if name not in known:
            raise ValueError(f"--outputs: unknown output {name!r}; the outputs are {', '.join(known)}")
    return list(dict.fromkeys(names))


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
    subject = {k: v for k, v in subject.items() if v is not None}   # unset: the typical subject's value
    population = {k: options.pop(k) for k in ("age_range", "female_fraction", "weight_sd", "weight_range",
                                              "covariates_file") if k in options}
    population = {k: (str(v) if k == "covariates_file" else v) for k, v in population.items() if v is not None}
    try:
        if population:
            from ketasim.io.schemas import PopulationConfig

            options["population"] = PopulationConfig(**population)
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
    from ketasim.trials import default_variants

    if hypothesis == "all":
        if opioid_source:
            raise ValueError("--opioid-source goes with one hypothesis, not 'all'")
        return list(default_variants())
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
                     progress=None, executor=None, uncertainty: bool = False, share_points: int = 11,
                     priors: dict | None = None) -> dict:
    """The hypotheses.json document: every hypothesis scored against the trials (default: every built-in), their
    posterior probabilities, and the opioid share implied by `mixed` (profile over `share_points` weights; 0:
    not estimated)."""
    from ketasim.trials import builtin_trials, opioid_share_profile, score_hypotheses as _score, scores_to_json
    from ketasim.trials._scoring import _has_contrast, _variant_label, default_variants

    labels = [_variant_label(h, src) for h, src in default_variants()]
    unknown = [k for k in (priors or {}) if k not in labels]
    if unknown:   # before any work
        raise ValueError(f"--prior names {unknown[0]!r}, which is not among the hypotheses scored "
                         f"({', '.join(labels)})")
    if trials:
        cfgs = [load_trial(t) for t in trials]
    else:   # every built-in trial but those marked as too long to score by default (named with --trial)
        cfgs = [c for c in (load_trial(t) for t in builtin_trials()) if c.scored_by_default]
    if share_points and share_points < 3:
        raise ValueError(f"--share-points must be 0 (not estimated) or at least 3, got {share_points}")
    # one progress over both parts, its total known before any work: the hypotheses, then the share profile
    first = len(default_variants()) * sum(1 for c in cfgs if c.observed is not None)
    later = share_points * sum(1 for c in cfgs if _has_contrast(c, include_unverified)) if share_points else 0

    def part(offset):
        return (lambda done, _total: progress(offset + done, first + later)) if progress else None

    scores = _score(cfgs, replicates=replicates, seed=seed, include_unverified=include_unverified,
                    progress=part(0), executor=executor, uncertainty=uncertainty)
    share = None
    if share_points:
        share = opioid_share_profile(cfgs, points=share_points, replicates=replicates, seed=seed,
                                     include_unverified=include_unverified, progress=part(first),
                                     executor=executor)
    return scores_to_json(scores, cfgs, replicates, seed, priors=priors, share=share)


def parse_priors(texts) -> dict[str, float]:
    """'opioid[hnk_mor]=2' (repeatable) -> {label: weight}; unnamed hypotheses keep weight 1."""
    from ketasim.mechanisms import MechanismError, get_mechanism, parse_variant

    out = {}
    for text in texts or ():
        label, sep, value = str(text).partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not (weight >= 0 and weight < float("inf")):
            raise ValueError(f"--prior {text!r}: write HYPOTHESIS=WEIGHT with a non-negative number, "
                             "e.g. --prior 'opioid[hnk_mor]=2'")
        try:
            label = get_mechanism(*parse_variant(label.strip())).label()
        except MechanismError as exc:
            raise ValueError(f"--prior {text!r}: {exc}") from None
        out[label] = weight
    return out


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


def compound_parameter_table(name_or_path):
    """A compound's parameters: its file's numbers (a compound), or the model's own keys that describe it (a
    built-in drug), with value, unit, source, evidence and range."""
    import pandas as pd

    c = load_compound(name_or_path)
    if not c.native:
        df = c.parameters().to_frame()
        df.insert(1, "compound", c.name)
        return df
    params = default_parameters()
    wanted = c.spec.native.parameters
    keys = [k for k in params if any(k == w or (w.endswith(".") and k.startswith(w)) for w in wanted)]
    df = params.to_frame()
    df = df[df.key.isin(keys)].reset_index(drop=True)
    df.insert(1, "compound", c.name)
    return pd.DataFrame(df)


def parameter_table(prefix: str | None = None):
    """Every parameter with value, unit, source, evidence and range, and where the model reads it: its layer and
    the model nodes that use it (over every registered hypothesis), from the declarations. With `prefix`, only
    the keys that start with it; an unknown prefix is an error that names the prefixes there are."""
    import difflib

    from ketasim.mechanisms import OPIOID_SOURCES
    from ketasim.models.pd import pd_model
    from ketasim.models.pk import Covariates, individual_pk

    params = default_parameters()
    layer, used_by = {}, {}
    variants = []
    for key, cls in available().items():
        takes_source = "source" in getattr(cls, "__dataclass_fields__", {})
        variants += [get_mechanism(key, src) for src in OPIOID_SOURCES] if takes_source else [get_mechanism(key)]
    for mech in variants:
        model = pd_model(mech)
        for key, nodes in model.parameter_users().items():
            used_by.setdefault(key, [])
            used_by[key] += [n for n in nodes if n not in used_by[key]]
            layer.setdefault(key, model.nodes[nodes[0]].layer)
        for src in model.sources.values():
            if isinstance(src.default, str):
                layer.setdefault(src.default, "L5")
                used_by.setdefault(src.default, [src.name])

    class _Recorder:
        read: list = []

        def value(self, key):
            self.read.append(key)
            return params.value(key)

    rec = _Recorder()
    individual_pk(rec, Covariates())
    for key in rec.read:
        layer.setdefault(key, "L1")
        used_by.setdefault(key, ["individual PK parameters"])
    # values the liability metrics and the use patterns read (not model nodes)
    for key in params:
        if key not in layer and (key.startswith(("abuse.", "harm.")) or key == "liking.take_again_gain"):
            layer[key], used_by[key] = "liability metrics", ["abuse.json (ketasim.patterns.metrics)"]
        elif key not in layer and key.startswith("street."):
            layer[key], used_by[key] = "use patterns", ["street_powder product (ketasim.patterns)"]
    for key in params:
        group = key.split(".")[0]
        if key not in layer and group in ("bsv", "population", "residual"):
            layer[key] = {"bsv": "population", "population": "population", "residual": "trials"}[group]
    df = params.to_frame()
    df["layer"] = [layer.get(k, "") for k in df.key]
    df["used_by"] = [", ".join(used_by.get(k, [])) for k in df.key]
    if prefix:
        df = df[df.key.str.startswith(prefix)]
        if df.empty:
            groups = sorted({k.split(".")[0] for k in default_parameters()})
            close = difflib.get_close_matches(prefix.rstrip("."), groups, n=1)
            hint = f" (did you mean {close[0]}.?)" if close else ""
            raise ValueError(f"no parameter key starts with {prefix!r}{hint}; keys start with: "
                             + ", ".join(f"{g}." for g in groups))
    return df


def write_parameter_table(df, path) -> Path:
    """The parameter table as CSV, written whole or not at all."""
    from ketasim.io.export import atomic_write_text

    return atomic_write_text(path, df.to_csv(index=False))


def write_text_file(path, text: str) -> Path:
    """A text output (a table as CSV or JSON), written whole or not at all."""
    from ketasim.io.export import atomic_write_text

    return atomic_write_text(path, text)


def run_validation(out_dir) -> list[dict]:
    from ketasim.trials import validation_figure
    from ketasim.validation.report import write_report
    from ketasim.validation.targets import relapse_after_series, run_validation as _run, trial_results

    rows = _run()
    figures = {name: validation_figure(res) for name, res in trial_results().items()}
    write_report(rows, out_dir, figures, relapse_after_series())
    return rows


def export_sbml_file(path, doses, scenario_file, hypothesis=None, opioid_source=None, weight="70 kg"):
    from ketasim.sbml import export_sbml_file as _export

    return _export(path, doses, scenario_file, hypothesis, opioid_source, weight)


# ----------------------------------------------------------------------------------------------------------
# Working with data: summaries, NONMEM-style data sets, exact sampling times, NCA, fit, sensitivity, VPC


def result_summary(result) -> dict:
    """The summary.json metrics of a single-subject Result or a PopulationResult, with times after the dose."""
    # both measure times from the preceding dose (PopulationResult.summary passes the realised doses). A run with
    # sampling times (--output-step, --times) is summarised on the points it writes, as the streamed path does.
    import dataclasses

    if getattr(result, "sampled", None) is None and getattr(result, "sample_times", None) is None:
        return result.summary()
    _, t, vals = _table_at_samples(result)
    one = getattr(result, "subjects", None) is None
    outputs = {k: (vals[k][:, 0] if one else vals[k]) for k in result.outputs if k in vals}
    return dataclasses.replace(result, time_h=np.asarray(t, float), outputs=outputs).summary()


def _range(text: str, unit: str, what: str) -> tuple[float, float]:
    """'18-65 yr' -> (18, 65) in `unit`; one plain error otherwise."""
    from ketasim.units import UnitError, to_unit

    body = str(text).strip()
    parts = body.rsplit(" ", 1)
    if len(parts) != 2 or "-" not in parts[0].strip("-"):
        raise UnitError(f"{what} {text!r} must read MIN-MAX UNIT, e.g. '18-65 yr'")
    lo_text, hi_text = parts[0].split("-", 1)
    lo, hi = (to_unit(f"{x.strip()} {parts[1]}", unit, what) for x in (lo_text, hi_text))
    if not lo <= hi:
        raise UnitError(f"{what} {text!r}: the minimum exceeds the maximum")
    return lo, hi


def population_spec(cfg: ScenarioConfig):
    """The covariate distributions of a scenario's population: centred on its subject, with the population
    options (age range, share of women, weight SD/range); an explicitly given age fixes every subject's age."""
    from ketasim.population import PopulationSpec
    from ketasim.units import to_unit

    pop = cfg.population
    given = cfg.subject.model_fields_set
    w = cfg.subject.weight_kg()
    kw = dict(weight_mean_kg=w, weight_min_kg=max(35.0, w - 40), weight_max_kg=min(200.0, w + 60),
              female_fraction={"female": 1.0, "male": 0.0}.get(cfg.subject.sex, 0.5),
              baseline_madrs_mean=cfg.baseline_madrs or 32.0)
    if pop is not None:
        if pop.age_range:
            if "age" in given:
                raise ValueError("give either --age (every subject that age) or --age-range, not both")
            kw["age_min_y"], kw["age_max_y"] = _range(pop.age_range, "year", "age range")
        if pop.female_fraction is not None:
            if cfg.subject.sex != "unspecified":
                raise ValueError("give either --sex or --female-fraction for a population, not both")
            kw["female_fraction"] = pop.female_fraction
        if pop.weight_sd:
            kw["weight_sd_kg"] = to_unit(pop.weight_sd, "kg", "weight SD")
        if pop.weight_range:
            kw["weight_min_kg"], kw["weight_max_kg"] = _range(pop.weight_range, "kg", "weight range")
            if not kw["weight_min_kg"] <= w <= kw["weight_max_kg"]:
                raise ValueError(f"the mean weight {w:g} kg lies outside the weight range {pop.weight_range}")
    if "age" in given:
        kw["age_min_y"] = kw["age_max_y"] = cfg.subject.age_y()
    return PopulationSpec(**kw)


def population_subjects(cfg: ScenarioConfig, spec, params):
    """Subjects drawn from `spec` with the scenario's seed; an explicit CYP2B6 genotype is every subject's;
    a covariate file gives each subject's covariates (its rows are the subjects; random effects still drawn)."""
    from ketasim.population import sample_subjects

    pop = cfg.population
    table = None
    n = cfg.subjects
    if pop is not None and pop.covariates_file:
        from ketasim.data.covariates import read_covariates

        table = read_covariates(pop.covariates_file)
        if cfg.subjects not in (1, len(table)):
            raise ValueError(f"--subjects {cfg.subjects} disagrees with the {len(table)} subjects of "
                             f"{Path(pop.covariates_file).name}; leave --subjects out")
        n = len(table)
    subjects = sample_subjects(spec, n, cfg.seed, params)
    if "cyp2b6" in cfg.subject.model_fields_set:
        subjects["cyp2b6"] = cfg.subject.cyp2b6
    if table is not None:
        for col in table.columns:
            subjects[col] = table[col].to_numpy()
    return subjects


def sampling_times(cfg: ScenarioConfig, times: str | None = None):
    """The table's exact sampling times (h): `--times` text, or the uniform `--output-step` grid from the first
    dose (or 0) to the end of the run; None for the default simulation grid."""
    import numpy as np

    from ketasim.data.sampling import parse_times
    from ketasim.simulation import parse_duration

    end = parse_duration(cfg.duration)
    if times:
        t = parse_times(times)
        start = min(0.0, Regimen.from_text(*cfg.doses).first_time_h())
        if t[0] < start - 1e-9 or t[-1] > end + 1e-9:
            raise ValueError(f"sampling times must lie within the run ({start:g} to {end:g} h), got "
                             f"{t[0]:g} to {t[-1]:g} h")
        return t
    if cfg.output_step:
        step = to_hours(cfg.output_step, "output step")
        if not 0 < step <= end:
            raise ValueError(f"output step must be positive and at most the duration, got {cfg.output_step!r}")
        start = min(0.0, Regimen.from_text(*cfg.doses).first_time_h())
        n = int(np.floor((end - start) / step + 1e-9))
        t = start + step * np.arange(n + 1)
        return np.unique(np.round(np.append(t, end), 10))
    return None


def _sample_single(result, regimen, cov, mech, cfg, times):
    """The typical subject's outputs at exact times: the population path for one subject without variability,
    on the dense grid joined with the times (the reference and fast paths agree to ~1e-12 on one grid)."""
    import pandas as pd

    from ketasim.data.sampling import dense_grid, select_times, typical_subjects
    from ketasim.population import simulate_population

    subj = typical_subjects(1, {"weight_kg": cov.weight_kg, "age_y": cov.age_y, "sex": cov.sex,
                                "cyp2b6": cov.cyp2b6, "baseline_madrs": result.meta["baseline_madrs"]})
    t = dense_grid(regimen, float(result.time_h[-1]), times)
    t = t[t >= min(float(result.time_h[0]), float(times[0]))]
    cols = [c for c in result.outputs]
    ad = to_hours(cfg.oral_antidepressant_start, "oral antidepressant start") if cfg.oral_antidepressant_start \
        else None
    res = simulate_population(regimen, subj, result.parameters, mech, t, expectation=cfg.expectation,
                              oral_ad_start_h=ad, columns=cols)
    pos = select_times(t, times)
    table = {"id": np.zeros(len(times), np.int64), "time_h": np.asarray(times, float)}
    for c in cols:
        table[c] = res.outputs[c][pos, 0]
    return pd.DataFrame(table)


import numpy as np  # noqa: E402  (used by the data helpers below)


def subjects_table(result) -> "pd.DataFrame":
    """A population's subjects: covariates, random effects (eta_*, PD scales) and individual PK parameters
    (CL L/h, V L of each enantiomer; naltrexone CL), one row per subject (as mrgsolve's carry_out)."""
    from ketasim.models.pk import CovariateArrays, individual_pk
    from ketasim.population._population import eta_arrays

    subj = result.subjects.copy()
    params = getattr(result, "parameters", None) or default_parameters()
    ind = individual_pk(params, CovariateArrays.from_frame(subj), eta_arrays(subj))
    n = len(subj)
    names = {"S.CL": "ketamine_S_CL_L_h", "S.V1": "ketamine_S_V1_L", "S.Q": "ketamine_S_Q_L_h",
             "S.V2": "ketamine_S_V2_L", "R.CL": "ketamine_R_CL_L_h", "R.V1": "ketamine_R_V1_L",
             "S.NK_CL": "norketamine_S_CL_L_h", "S.HNK_CL": "hnk_S_CL_L_h", "NTX_CL": "naltrexone_CL_L_h",
             "Fgut": "Fgut_fraction", "FRn": "esketamine_nasal_F_fraction"}
    for key, col in names.items():
        subj[col] = np.broadcast_to(np.asarray(ind[key], float), (n,))
    return subj.drop(columns=["rating_seed"], errors="ignore")


def _table_at_samples(result):
    """(table DataFrame, times, values {col: (T, N)}) at the run's sampling times (or its whole grid)."""
    import pandas as pd

    from ketasim.data.sampling import select_times

    sampled = getattr(result, "sampled", None)
    if sampled is not None:
        t = sampled["time_h"].to_numpy(float)
        vals = {c: sampled[c].to_numpy(float)[:, None] for c in sampled.columns if c not in ("id", "time_h")}
        return sampled, t, vals
    times = getattr(result, "sample_times", None)
    if getattr(result, "subjects", None) is None:
        df = result.to_pandas(resolved=True)
        vals = {c: df[c].to_numpy(float)[:, None] for c in df.columns if c not in ("id", "time_h")}
        return df, result.time_h, vals
    t = result.time_h if times is None else np.asarray(times, float)
    pos = np.arange(len(result.time_h)) if times is None else select_times(result.time_h, t)
    vals = {c: v[pos] for c, v in result.outputs.items()}
    T, N = len(t), len(result.subjects)
    cols = {"id": np.repeat(result.subjects["id"].to_numpy(), T), "time_h": np.tile(t, N)}
    for k, v in vals.items():
        cols[k] = v.T.reshape(-1)
    return pd.DataFrame(cols), t, vals


DEFAULT_OBSERVE = ("ketamine_ng_ml", "norketamine_ng_ml", "hnk_ng_ml", "naltrexone_ng_ml", "cadss", "madrs")


def _observe_columns(observe, vals) -> list[str]:
    from ketasim.data.nonmem import OUTPUT_ID_OF

    if observe:
        cols = [c.strip() for c in (observe.split(",") if isinstance(observe, str) else observe) if c.strip()]
        bad = [c for c in cols if c not in OUTPUT_ID_OF or c not in vals]
        if bad:
            raise ValueError(f"--observe: {bad[0]!r} is not an output of this run; choose from "
                             + ", ".join(c for c in vals if c in OUTPUT_ID_OF))
        return cols
    return [c for c in DEFAULT_OBSERVE if c in vals and np.nanmax(np.abs(vals[c])) > 0]


def _write_run(result, out_dir, log_plot, nonmem, observe, observed, carry_out):
    import json

    from ketasim.data.nonmem import dataset_records, write_nonmem
    from ketasim.data.sampling import typical_subjects
    from ketasim.io.export import atomic_output_dir

    table, t, vals = _table_at_samples(result)
    population = getattr(result, "subjects", None) is not None
    subj = subjects_table(result) if population else None
    if carry_out:
        if not population:
            raise ValueError("--carry-out adds per-subject columns to a population's table; use it with --subjects")
        wanted = [c.strip() for c in (carry_out.split(",") if isinstance(carry_out, str) else carry_out)]
        bad = [c for c in wanted if c not in subj.columns or c == "id"]
        if bad:
            raise ValueError(f"--carry-out: {bad[0]!r} is not a subject column; choose from "
                             + ", ".join(c for c in subj.columns if c != "id"))
        table = table.merge(subj[["id", *wanted]], on="id", how="left")
    summary = result_summary(result)
    with atomic_output_dir(out_dir) as tmp:
        table.to_parquet(tmp / "timecourse.parquet", index=False)
        if population:
            from ketasim import __version__
            prov = {"ketasim_version": __version__,
                    "regimen": result.regimen.to_text() if result.regimen else [], **result.meta}
            doc = {"summary": summary, "subjects": int(len(result.subjects)), "provenance": prov}
            subj.to_csv(tmp / "subjects.csv", index=False)
        else:
            doc = {"summary": summary, "provenance": result.provenance()}
        if getattr(result, "sample_times", None) is not None or getattr(result, "sampled", None) is not None:
            doc["sampling_times_h"] = [float(x) for x in t]
        doc.update(warnings=result.warnings, note="Research software, not a dosing tool.")
        (tmp / "summary.json").write_text(json.dumps(doc, indent=2, default=str))
        from ketasim.plotting import plot_timecourse

        plot_timecourse(result, tmp / "timecourse.png", log=log_plot, observed=observed)
        if nonmem:
            cols = _observe_columns(observe, vals)
            who = subj if population else typical_subjects(1, {
                "weight_kg": result.covariates.weight_kg, "age_y": result.covariates.age_y,
                "sex": result.covariates.sex, "cyp2b6": result.covariates.cyp2b6,
                "baseline_madrs": result.meta.get("baseline_madrs", 32.0)})
            recs = dataset_records(who, result.regimen, t, {c: vals[c] for c in cols})
            write_nonmem(tmp / "dataset.csv", recs, cols,
                         note="DV = model prediction (no residual error); simulated, not observed")
    return Path(out_dir)


def read_observed(path):
    """Observed points for figures (ketasim.data.covariates.read_observed)."""
    from ketasim.data.covariates import read_observed as _read

    return _read(path)


def read_dataset(path, time_unit: str | None = None):
    """A NONMEM-style data set, checked (ketasim.data.read_nonmem); DatasetError names line and column."""
    from ketasim.data import read_nonmem

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        ds = read_nonmem(path, time_unit=time_unit)
    ds.warnings = [str(w.message) for w in caught]
    return ds


def run_dataset(path, hypothesis: str = "opioid", opioid_source: str | None = None, seed: int = 1,
                variability: bool = True, expectation: str = "active", time_unit: str | None = None,
                progress=None) -> dict:
    """Simulate every subject of a NONMEM-style data set through its own records: its doses (ADDL, SS, RATE,
    resets), at its sampling times, with its covariates; between-subject variability drawn from `seed` unless
    `variability` is off (typical subjects: population predictions). Returns the run (data set, subjects,
    predictions, observed-vs-predicted)."""
    from ketasim.data.sampling import dataset_subjects, simulate_dataset

    ds = read_dataset(path, time_unit)
    params = default_parameters()
    mech = get_mechanism(hypothesis, opioid_source)
    subjects = dataset_subjects(ds, seed, variability, params)
    pred = simulate_dataset(ds, params, mech, subjects, expectation=expectation, progress=progress)
    obs = ds.observations()
    rec = ds.records
    ovp = []
    if len(obs):
        r = rec[(rec["EVID"] == 0) & rec["MDV"].isin([0, 100]) & rec["output"].notna()]
        m = pred.set_index("row")
        for pos, row in r.iterrows():
            ovp.append({"line": int(row["line"]), "id": int(row["ID"]), "time_h": float(row["TIME"]),
                        "output": row["output"], "observed": float(row["DV"]),
                        "predicted": float(m.loc[pos, row["output"]])})
    import pandas as pd

    return {"dataset": ds, "subjects": subjects, "predictions": pred, "observed_vs_predicted": pd.DataFrame(ovp),
            "hypothesis": mech.label(), "seed": seed, "variability": variability, "warnings": ds.warnings}


def write_dataset_run(run: dict, out_dir, nonmem: bool = False) -> Path:
    """timecourse.parquet (id, time_h and every output at the data set's record times), observed_vs_predicted.csv,
    subjects.csv, summary.json, figure.png; with `nonmem`, dataset.csv: the input's records with DV replaced by
    the simulated values."""
    import json

    from ketasim import __version__
    from ketasim.data.figures import plot_dataset_run
    from ketasim.io.export import atomic_output_dir

    pred = run["predictions"]
    ds = run["dataset"]
    cols = [c for c in pred.columns if c not in ("row", "id", "segment", "time_h")]
    table = pred.drop_duplicates(subset=["id", "segment", "time_h"]).drop(columns=["row"])
    if len(table) == 0 or table["segment"].max() == 0:
        table = table.drop(columns=["segment"])
    ovp = run["observed_vs_predicted"]
    summary = {}
    for out, g in (ovp.groupby("output") if len(ovp) else []):
        res = g["observed"] - g["predicted"]
        summary[out] = {"n": int(len(g)), "mean_error": float(res.mean()),
                        "rmse": float(np.sqrt(np.mean(res ** 2))),
                        "median_ratio_observed_predicted": float(np.median(g["observed"] / g["predicted"]))
                        if (g["predicted"] > 0).all() else None}
    with atomic_output_dir(out_dir) as tmp:
        table.to_parquet(tmp / "timecourse.parquet", index=False)
        run["subjects"].drop(columns=["rating_seed"], errors="ignore").to_csv(tmp / "subjects.csv", index=False)
        if len(ovp):
            ovp.to_csv(tmp / "observed_vs_predicted.csv", index=False)
        doc = {"data_set": Path(ds.path).name, "subjects": len(ds.subjects), "records": int(len(ds.records)),
               "time_unit_of_file": ds.time_unit, "hypothesis": run["hypothesis"], "seed": run["seed"],
               "between_subject_variability": run["variability"], "observed_vs_predicted": summary,
               "ketasim_version": __version__, "warnings": run["warnings"],
               "note": "Research software, not a dosing tool."}
        (tmp / "summary.json").write_text(json.dumps(doc, indent=2))
        plot_dataset_run(pred, ds.observations(), ovp, tmp / "figure.png")
        if nonmem:
            from ketasim.data.nonmem import write_dataset_like

            write_dataset_like(ds, pred, tmp / "dataset.csv")
    return Path(out_dir)


def run_nca(source, outputs=None, time_unit: str | None = None):
    """NCA (ketasim.analysis.nca) of a NONMEM-style data set's observations, or of a `ketasim simulate` output
    folder (its timecourse.parquet, regimen and subjects' weights); one row per subject, output and dose."""
    import json

    import pandas as pd

    from ketasim.analysis import nca

    cols = [c.strip() for c in outputs.split(",")] if isinstance(outputs, str) else outputs
    src = Path(source)
    if src.is_dir():
        tc, sj = src / "timecourse.parquet", src / "summary.json"
        if not (tc.exists() and sj.exists()):
            raise FileNotFoundError(f"{src} is not a ketasim simulate output folder (timecourse.parquet and "
                                    "summary.json expected)")
        doc = json.loads(sj.read_text())
        texts = doc.get("provenance", {}).get("regimen") or []
        if not texts:
            raise ValueError(f"{sj} names no regimen: NCA needs the doses")
        doses = Regimen.from_text(*texts).realize()
        table = pd.read_parquet(tc)
        weights = {}
        if (src / "subjects.csv").exists():
            s = pd.read_csv(src / "subjects.csv")
            weights = dict(zip(s["id"], s["weight_kg"]))
        else:
            w = (doc["provenance"].get("covariates") or {}).get("weight_kg", 70.0)
            weights = {i: w for i in table["id"].unique()}
        df = nca.nca_table(table, {i: doses for i in table["id"].unique()}, weights, cols)
    else:
        df = nca.nca_dataset(read_dataset(src, time_unit), cols)
    if len(df) == 0:
        raise ValueError(f"nothing to analyse in {src.name}: no output with a dose before it")
    from ketasim.models.outputs import unit

    df.insert(3, "unit", [unit(o) for o in df["output"]])
    return df


def nca_of(result, outputs=None):
    """NCA of a Result or PopulationResult in memory."""
    from ketasim.analysis.nca import nca_result

    return nca_result(result, outputs)


def write_nca(df, out_dir) -> Path:
    """nca.csv (one row per subject, output and dose; units in the column names or the unit column) and a
    summary by output and dose (mean, 5th and 95th percentile) in nca_summary.csv."""
    from ketasim.io.export import atomic_output_dir

    num = [c for c in df.columns if c not in ("id", "output", "unit", "dose", "auc_unit", "dose_index", "segment")
           and df[c].dtype.kind in "fi"]
    g = df.groupby(["output", "dose_index"])[num]
    summ = g.mean().add_suffix("_mean").join(g.quantile(0.05).add_suffix("_p5")).join(
        g.quantile(0.95).add_suffix("_p95")).reset_index()
    with atomic_output_dir(out_dir) as tmp:
        df.to_csv(tmp / "nca.csv", index=False)
        summ.to_csv(tmp / "nca_summary.csv", index=False)
    return Path(out_dir)


def fit_dataset(path, compartments: int = 3, bsv: str | None = None, init: str | None = None,
                endpoint: str | None = None, time_unit: str | None = None, progress=None) -> dict:
    """Population fit (FOCE-I) of a NONMEM-style data set: PK, and optionally one PD endpoint."""
    from ketasim.estimation.run import fit_dataset as _fit

    return _fit(read_dataset(path, time_unit), compartments, bsv, init, endpoint, progress=progress)


def write_fit(fit: dict, data_name: str, out_dir) -> Path:
    """estimates.csv, individual_*.csv (EBEs), residuals_*.csv, gof_*.png, report.html."""
    from ketasim.estimation.run import write_fit as _write

    return _write(fit, data_name, out_dir)


def run_sensitivity(doses, outcome: str = "madrs_change_day1", method: str = "sobol", samples: int = 1024,
                    hypothesis: str = "opioid", opioid_source: str | None = None, parameters: str | None = None,
                    duration: str | None = None, seed: int = 1, executor=None, progress=None) -> dict:
    """Local (elasticities, one-at-a-time ranges) or global (Sobol S1/ST with intervals) sensitivity of an
    outcome of the typical subject to the parameters (default: those the regimen and hypothesis use)."""
    from ketasim.analysis import sensitivity as sa
    from ketasim.simulation import parse_duration

    if method not in ("local", "sobol", "both"):
        raise ValueError(f"--method must be local, sobol or both, not {method!r}")
    regimen = Regimen.from_text(*(doses or ["ketamine 0.5 mg/kg iv over 40 min"]))
    params = default_parameters()
    mech = get_mechanism(hypothesis, opioid_source)
    if parameters:
        keys = []
        for item in [x.strip() for x in parameters.split(",") if x.strip()]:
            match = [k for k in params if k == item or k.startswith(item.rstrip(".") + ".")]
            if not match:
                raise ValueError(f"--parameters: no parameter is or starts with {item!r} (see ketasim params)")
            keys += [k for k in match if params[k].low < params[k].high and k not in keys]
    else:
        keys = sa.default_parameter_keys(params, regimen, mech)
    setup = sa.make_setup(regimen, params, mech, outcome, parse_duration(duration) if duration else None)
    doc = {"outcome": outcome, "description": sa.OUTCOMES[outcome].description, "unit": sa.OUTCOMES[outcome].unit,
           "regimen": regimen.to_text(), "hypothesis": mech.label(), "parameters": keys, "method": method,
           "seed": seed}
    import time

    t0 = time.perf_counter()
    if method in ("local", "both"):
        local, y0 = sa.local_sensitivity(setup, keys, executor=executor, progress=progress)
        doc.update(local=local, outcome_at_default=y0)
    if method in ("sobol", "both"):
        glob, info = sa.sobol_sensitivity(setup, keys, samples, seed, executor=executor, progress=progress)
        doc.update(sobol=glob, sobol_info={**info, "base_samples": samples})
    doc["wall_s"] = time.perf_counter() - t0
    return doc


def write_sensitivity(doc: dict, out_dir) -> Path:
    """sensitivity.csv (one row per parameter: unit, range, elasticity and range-end outcomes and/or S1, ST with
    95 % intervals), sensitivity.json, tornado.png and/or sobol.png."""
    import json

    import pandas as pd

    from ketasim.analysis import sensitivity as sa
    from ketasim.io.export import atomic_output_dir

    tables = [doc[k] for k in ("local", "sobol") if k in doc]
    table = tables[0] if len(tables) == 1 else tables[0].merge(
        tables[1][["parameter", "distribution", "S1", "S1_conf", "ST", "ST_conf"]], on="parameter")
    table.insert(0, "outcome", doc["outcome"])
    table.insert(1, "outcome_unit", doc["unit"])
    with atomic_output_dir(out_dir) as tmp:
        table.to_csv(tmp / "sensitivity.csv", index=False)
        if "local" in doc:
            sa.plot_tornado(doc["local"], doc["outcome"], doc["unit"], doc["outcome_at_default"], tmp / "tornado.png")
        if "sobol" in doc:
            sa.plot_sobol(doc["sobol"], doc["outcome"], tmp / "sobol.png")
        meta = {k: v for k, v in doc.items() if not isinstance(v, pd.DataFrame)}
        meta["note"] = "Research software, not a dosing tool."
        (tmp / "sensitivity.json").write_text(json.dumps(meta, indent=2, default=float))
    return Path(out_dir)


# Patterns of use (clinical and recreational) and their liability


def list_patterns() -> list[dict]:
    """The built-in use patterns: name, title, kind, regimen, product, sources."""
    from ketasim.patterns import builtin_patterns, load_pattern

    return [load_pattern(n).summary() for n in builtin_patterns()]


def pattern_info(name_or_path) -> dict:
    from ketasim.patterns import load_pattern

    return load_pattern(name_or_path).summary()


def run_pattern(name_or_path, subjects: int = 1, seed: int = 1, hypothesis: str = "opioid",
                opioid_source: str | None = None, duration: str | None = None, progress=None, executor=None):
    """Simulate a use pattern (built-in name or YAML file): (result, abuse-liability table)."""
    from ketasim.patterns import load_pattern
    from ketasim.patterns.typical import FAST_ABOVE_ADMINISTRATIONS, simulate_typical_fast

    pat = load_pattern(name_or_path)
    cfg = pat.scenario(subjects=subjects, seed=seed, hypothesis=hypothesis, opioid_source=opioid_source,
                       duration=duration)
    params = pat.parameters()
    regimen = pat.regimen()
    if subjects == 1 and len(regimen.realize()) > FAST_ABOVE_ADMINISTRATIONS:
        # months of sessions: the typical subject on the compiled path (same model, seconds instead of minutes)
        from ketasim.simulation import parse_duration

        cov = Covariates(weight_kg=cfg.subject.weight_kg(), age_y=cfg.subject.age_y(), sex=cfg.subject.sex,
                         cyp2b6=cfg.subject.cyp2b6)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ValidatedRangeWarning)
            regimen.check_validated_range(cov.weight_kg)
        result = simulate_typical_fast(regimen, params, get_mechanism(hypothesis, opioid_source),
                                       parse_duration(cfg.duration), cfg.expectation, cov)
        result.warnings = [str(w.message) for w in caught if issubclass(w.category, ValidatedRangeWarning)]
        result.meta["scenario"] = pat.name
    else:
        result = run_scenario(cfg, progress=progress, executor=executor, parameters=params)
    result.meta["pattern"] = pat.name
    result.meta["product"] = pat.product
    return result, liability_of(result, params, scenario=pat.name)


def compare_patterns(names=None, hypothesis: str = "opioid,glutamate", subjects: int = 50, seed: int = 1,
                     progress=None, executor=None) -> list[dict]:
    """For each pattern (default: every built-in) and hypothesis: liability and lasting-benefit metrics."""
    from ketasim.patterns import builtin_patterns
    from ketasim.patterns.compare import compare_patterns as _compare

    return _compare(list(names or builtin_patterns()), parse_hypotheses(hypothesis), subjects=subjects, seed=seed,
                    progress=progress, executor=executor)


def write_pattern_comparison(rows: list[dict], out_dir) -> Path:
    """patterns.csv, patterns.json and patterns.png (the figure), all or nothing."""
    import json

    import pandas as pd

    from ketasim.io.export import atomic_output_dir
    from ketasim.patterns.compare import plot_comparison
    from ketasim.patterns.metrics import METRICS, NOTE

    with atomic_output_dir(out_dir) as tmp:
        pd.DataFrame(rows).to_csv(tmp / "patterns.csv", index=False)
        units = {k: m.unit for k, m in METRICS.items()}
        (tmp / "patterns.json").write_text(json.dumps({"rows": rows, "units": units, "note": NOTE,
                                                       "expectation": "none (the drug's own effect)"}, indent=2))
        plot_comparison(rows, tmp / "patterns.png")
    return Path(out_dir)


def run_vpc(path, replicates: int = 50, seed: int = 1, hypothesis: str = "opioid", opioid_source: str | None = None,
            expectation: str = "active", time_unit: str | None = None, progress=None) -> dict:
    """A visual predictive check of the model (its between-subject variability) against a data set."""
    import pandas as pd

    from ketasim.analysis.vpc import vpc_table
    from ketasim.data.sampling import dataset_subjects, simulate_dataset

    if not 5 <= replicates <= 1000:
        raise ValueError(f"--replicates must be 5-1000, got {replicates}")
    ds = read_dataset(path, time_unit)
    obs = ds.observations()
    if not len(obs):
        raise ValueError(f"{Path(path).name} has no observations (EVID 0, MDV 0) to check against")
    params = default_parameters()
    mech = get_mechanism(hypothesis, opioid_source)
    rec = ds.records
    obs_rows = rec.index[(rec["EVID"] == 0) & rec["MDV"].isin([0, 100]) & rec["output"].notna()]
    sims = []
    import numpy as np

    seeds = np.random.SeedSequence(seed).spawn(replicates)   # one stream per replicate, drawn up front
    for r in range(replicates):
        subj = dataset_subjects(ds, seeds[r], True, params)
        pred = simulate_dataset(ds, params, mech, subj, expectation=expectation).set_index("row")
        vals = [float(pred.loc[i, rec.loc[i, "output"]]) for i in obs_rows]
        sims.append(pd.DataFrame({"id": rec.loc[obs_rows, "ID"].to_numpy(), "time_h": rec.loc[obs_rows, "TIME"],
                                  "output": rec.loc[obs_rows, "output"].to_numpy(), "value": vals}))
        if progress:
            progress(r + 1, replicates)
    table = vpc_table(obs, sims)
    return {"table": table, "observed": obs, "dataset": Path(path).name, "replicates": replicates, "seed": seed,
            "hypothesis": mech.label(), "warnings": ds.warnings}


def write_vpc(doc: dict, out_dir) -> Path:
    import json

    from ketasim.analysis.vpc import plot_vpc
    from ketasim.io.export import atomic_output_dir

    with atomic_output_dir(out_dir) as tmp:
        doc["table"].to_csv(tmp / "vpc.csv", index=False)
        plot_vpc(doc["table"], doc["observed"], tmp / "vpc.png",
                 f"{doc['dataset']}: {doc['replicates']} simulated replicates, hypothesis {doc['hypothesis']}")
        t = doc["table"]
        share = {o: float((g["share_outside_90pct"] * g["n_observed"]).sum() / g["n_observed"].sum())
                 for o, g in t.groupby("output")}
        meta = {k: v for k, v in doc.items() if k not in ("table", "observed")}
        meta["share_of_observations_outside_the_simulated_90pct_band"] = share
        meta["note"] = ("Between-subject variability only: ketasim's model has no residual error on plasma "
                        "concentrations. Research software, not a dosing tool.")
        (tmp / "vpc.json").write_text(json.dumps(meta, indent=2))
    return Path(out_dir)


# ----------------------------------------------------------------------------------------------------------
# Regimen optimisation


def optimization_problem(problem_file=None, **overrides):
    """The checked optimisation problem from a YAML file and/or command-line values (None: not given)."""
    from ketasim.optimize import load_problem

    return load_problem(problem_file, **overrides)


def run_optimization(problem, out_dir, progress=None, executor=None, stop_after: int | None = None):
    """Search, then write pareto.csv, pareto.png, report.md and problem.json into out_dir; evaluations.parquet is
    kept up to date while the search runs, so an interrupted search (optimize.Interrupted) keeps its work."""
    from ketasim.optimize import run_search
    from ketasim.optimize.report import write_outputs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res = run_search(problem, executor=executor, progress=progress, record_path=out / "evaluations.parquet",
                     stop_after=stop_after)
    write_outputs(res, out)
    return res


# ----------------------------------------------------------------------------------------------------------
# Compounds: profiles, inverse design, the library


def load_compound(name_or_path):
    """A library compound by name, or a user's compound file (registered as a drug of the regimen language)."""
    from ketasim.compounds import load_compound as _load

    return _load(name_or_path)


def compound_from_text(text: str, label: str = "uploaded compound file"):
    from ketasim.compounds import compound_from_text as _from_text

    return _from_text(text, label)


def list_compounds() -> list[dict]:
    """The compound library: name, title, whether it is a built-in drug, routes, species and receptors."""
    from ketasim.compounds import library_compounds

    out = []
    for c in library_compounds():
        out.append({"name": c.name, "title": c.title, "native": c.native,
                    "routes": list(c.routes()) if not c.native else [],
                    "species": list(c.species) if not c.native else [c.name],
                    "receptors": sorted({r for s in c.receptor_species() for r in s.spec.receptors.present()})
                    if not c.native else [], "description": c.spec.description.strip()})
    return out


def compound_profile(name_or_path, doses=None, duration: str = "14 d", progress=None, compound=None):
    """(profile.json document, time courses for the figure) of a compound's regimen (default: its own) under
    every hypothesis, beside ketamine 0.5 mg/kg IV."""
    from ketasim.compounds.profile import compound_profile as _profile

    c = compound if compound is not None else load_compound(name_or_path)
    return _profile(c, doses or None, duration, progress=progress)


def check_compound_text(text: str, label: str = "uploaded compound file"):
    """A compound file's text validated by the same schema as `ketasim compound FILE` (one CompoundError naming the
    field), without registering it as a drug: (name, title) of the compound it describes."""
    from ketasim.compounds import Compound, get_compound
    from ketasim.compounds._library import parse_compound

    spec = parse_compound(text, label)
    if spec.native is not None:
        c = get_compound(spec.name)
        return c.name, c.title
    c = Compound(spec, label, text)
    return c.name, c.title


def _thin_indices(n: int, series, max_points: int | None):
    """Evenly spaced time indices plus each series' highest and lowest point (peaks survive thinning)."""
    import numpy as np

    if max_points is None or n <= max_points:
        return np.arange(n)
    keep = set(np.linspace(0, n - 1, max(2, max_points - 2 * len(series))).round().astype(int).tolist())
    for y in series:
        keep.update((int(np.argmax(y)), int(np.argmin(y))))
    return np.array(sorted(keep))


def compound_comparison(name: str | None = None, text: str | None = None, hypothesis: str = "opioid",
                        opioid_source: str | None = None, doses=None, duration: str = "14 d",
                        label: str = "uploaded compound file", max_points: int | None = None,
                        progress=None) -> dict:
    """A compound (a library name, or a compound file's YAML text) beside ketamine 0.5 mg/kg IV under one
    hypothesis, as one JSON-ready document: the profile numbers of both (CADSS, liking, opioid-pathway load, MADRS
    vs placebo sessions, receptor occupancy), the dissociation at ketamine's NMDA occupancy, and both time courses
    (at most `max_points` time points each, peaks kept). Typical subject; research software, not a dosing tool."""
    import math

    from ketasim.compounds.profile import SERIES, compound_profile as _profile, profile_series
    from ketasim.mechanisms import get_mechanism

    if (name is None) == (text is None):
        raise ValueError("give either a library compound or a compound file, not both or neither")
    c = load_compound(name) if text is None else compound_from_text(text, label)
    mech = get_mechanism(hypothesis, opioid_source)
    hyp_label = hypothesis if opioid_source is None else f"{hypothesis}[{opioid_source}]"
    doc, courses = _profile(c, list(doses) if doses else None, duration, progress=progress,
                            variants=[(hyp_label, mech)])

    def course(res, placebo) -> dict:
        ys = profile_series(res, placebo)
        idx = _thin_indices(len(res.time_h), list(ys.values()), max_points)
        clean = lambda v: [float(x) if math.isfinite(x) else None for x in v[idx]]  # noqa: E731
        return {"time_h": clean(res.time_h), "time_points_total": len(res.time_h),
                "series": {k: clean(ys[k]) for k, _, _ in SERIES}}

    doc = {k: v for k, v in doc.items() if k != "best_hypothesis_for_benefit"}
    doc["hypothesis"] = hyp_label
    doc["metrics"] = doc.pop("hypotheses")[hyp_label]
    doc["series_info"] = {k: {"unit": u, "label": lab} for k, u, lab in SERIES}
    doc["courses"] = {"compound": course(courses["runs"][hyp_label], courses["placebo"]),
                      "ketamine": course(courses["ref_runs"][hyp_label], courses["ref_placebo"])}
    return doc


def write_compound_profile(doc: dict, courses: dict, out_dir) -> Path:
    """profile.json and profile.png, all or nothing."""
    import json

    from ketasim import __version__
    from ketasim.compounds.profile import plot_profile
    from ketasim.io.export import atomic_output_dir

    with atomic_output_dir(out_dir) as tmp:
        (tmp / "profile.json").write_text(json.dumps({**doc, "ketasim_version": __version__}, indent=2,
                                                     default=float))
        plot_profile(doc, courses, tmp / "profile.png")
    return Path(out_dir)


def compound_design(template: str = "lanicemine", cadss_max: float = 4.0, liking_max: float = 20.0,
                    population: int = 40, generations: int = 25, seed: int = 1, hypothesis: str | None = None,
                    progress=None) -> dict:
    """Inverse design (ketasim.compounds.design): the front under each hypothesis and in robust mode."""
    from ketasim.compounds.design import DesignProblem, design

    if not (0 < cadss_max <= 92):
        raise ValueError(f"--max-cadss must be 0-92 CADSS points, got {cadss_max:g}")
    if not (0 < liking_max <= 100):
        raise ValueError(f"--max-liking must be 0-100 (VAS), got {liking_max:g}")
    if not (8 <= population <= 400):
        raise ValueError(f"--population must be 8-400, got {population}")
    if not (1 <= generations <= 500):
        raise ValueError(f"--generations must be 1-500, got {generations}")
    hyps = tuple(parse_hypotheses(hypothesis)) if hypothesis else ()
    load_compound(template)
    return design(DesignProblem(template=template, cadss_max=cadss_max, liking_max=liking_max,
                                population=population, generations=generations, seed=seed, hypotheses=hyps),
                  progress=progress)


def write_compound_design(doc: dict, out_dir) -> Path:
    """front.csv (every front profile under every hypothesis), design.json, design.png."""
    import json

    import pandas as pd

    from ketasim import __version__
    from ketasim.compounds.design import plot_design
    from ketasim.io.export import atomic_output_dir

    rows = [{"hypothesis": h, **r} for h, v in doc["hypotheses"].items() for r in v["front"]]
    with atomic_output_dir(out_dir) as tmp:
        pd.DataFrame(rows).to_csv(tmp / "front.csv", index=False)
        meta = {**doc, "hypotheses": {h: {"summary": v["summary"], "front_size": len(v["front"])}
                                      for h, v in doc["hypotheses"].items()}, "ketasim_version": __version__}
        (tmp / "design.json").write_text(json.dumps(meta, indent=2, default=float))
        plot_design(doc, tmp / "design.png")
    return Path(out_dir)


def compound_checks(names=None) -> list[dict]:
    """Every library compound's checks against published PK numbers (typical subject)."""
    from ketasim.compounds import get_compound, library_names
    from ketasim.compounds.checks import run_checks

    rows = []
    for n in names or library_names():
        rows += run_checks(get_compound(n))
    return rows
