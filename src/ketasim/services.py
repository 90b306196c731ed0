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


def run_scenario(cfg: ScenarioConfig, progress=None, chunk_size: int = 256, executor=None, parameters=None):
    """Simulate the typical subject (subjects = 1) or a virtual population of a scenario; out-of-range
    warnings are kept on the result. `parameters`: another parameter set than the defaults (a use pattern's
    product)."""
    if cfg.subjects > 1:
        return run_population_scenario(cfg, progress=progress, chunk_size=chunk_size, executor=executor,
                                       parameters=parameters)
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
    return result


def write_scenario(result: Result, out_dir: str | Path, log_plot: bool = False, liability: dict | None = None) -> Path:
    """The run's files (timecourse.parquet, summary.json, timecourse.png) and, where the run has the immediate-effect
    columns, its abuse-liability table (abuse.json, and the `abuse_liability` section of summary.json); all or
    nothing."""
    import json

    from ketasim.io.export import atomic_output_dir

    if liability is None:
        return result.write(out_dir, log_plot=log_plot)
    with atomic_output_dir(out_dir) as tmp:
        result.write(tmp, log_plot=log_plot)
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
    spec = PopulationSpec(weight_mean_kg=w, weight_min_kg=max(35.0, w - 40), weight_max_kg=min(200.0, w + 60),
                          female_fraction={"female": 1.0, "male": 0.0}.get(cfg.subject.sex, 0.5),
                          baseline_madrs_mean=cfg.baseline_madrs or 32.0)
    params = parameters or default_parameters()
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


def run_population_scenario(cfg: ScenarioConfig, progress=None, chunk_size: int = 256, executor=None,
                            parameters=None):
    """A virtual population around the scenario's subject: weight distribution centred on its weight,
    between-subject variability on, seed from the scenario (subjects drawn before any chunking)."""
    from ketasim.population import simulate_population

    regimen, subjects, params, mech, t, options, found = _population_setup(cfg, parameters)
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

    from ketasim._version import __version__
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

    from ketasim.io.schemas import ScenarioError, SubjectConfig, format_validation_error

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
        raise ScenarioError(format_validation_error(exc)) from None


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
    try:
        n = int(subjects)
    except ValueError:
        raise ValueError(f"--subjects must be a whole number (or MIN:MAX with --power), got {subjects!r}") from None
    return with_size(cfg, n).model_copy(update={"observed": cfg.observed})


def run_trial(cfg, hypothesis="opioid", opioid_source=None, **kwargs):
    from ketasim.trials import run_trial as _run

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
    """Every parameter with value, unit, source, evidence and range, and where the model reads it: its layer and
    the model nodes that use it (over every registered hypothesis), from the declarations."""
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
    return df


def run_validation(out_dir) -> list[dict]:
    from ketasim.validation.report import write_report
    from ketasim.validation.targets import run_validation as _run

    rows = _run()
    write_report(rows, out_dir)
    return rows


def export_sbml_file(path, doses, scenario_file, hypothesis=None, opioid_source=None, weight="70 kg"):
    from ketasim.sbml import export_sbml_file as _export

    return _export(path, doses, scenario_file, hypothesis, opioid_source, weight)


# ----------------------------------------------------------------------------------------------------------
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
