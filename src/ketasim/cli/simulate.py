"""`ketasim simulate`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._app import app, progress, say, user_errors, warn
from ._render import print_streamed_summary, print_summary
from ._render_patterns import print_liability


@app.command()
@user_errors
def simulate(
    dose: list[str] = typer.Option(None, "--dose", help="regimen text, repeatable: "
                                   "'ketamine 0.5 mg/kg iv over 40 min', 'naltrexone 50 mg oral at -45 min'"),
    scenario: Optional[Path] = typer.Option(None, "--scenario", help="scenario YAML file"),
    data: Optional[Path] = typer.Option(None, "--data", help="NONMEM-style data set (ID, TIME h, EVID, AMT mg, "
                                        "RATE, II, ADDL, SS, CMT/DVID, DV, covariates): simulate its subjects "
                                        "through their own records, at their sampling times"),
    weight: str = typer.Option("70 kg", "--weight", help="body weight with unit (a population's mean weight)"),
    age: Optional[str] = typer.Option(None, "--age", help="age with unit (default 40 yr; for a population: "
                                      "every subject's age)"),
    sex: str = typer.Option("unspecified", "--sex", help="female, male or unspecified"),
    cyp2b6: Optional[str] = typer.Option(None, "--cyp2b6", help="CYP2B6 genotype: *1/*1 (default), *1/*6, *6/*6 "
                                         "(for a population: every subject's genotype; unset: drawn)"),
    age_range: Optional[str] = typer.Option(None, "--age-range", help="population: ages drawn within, "
                                            "e.g. '18-65 yr' (default 18-65 yr)"),
    female_fraction: Optional[float] = typer.Option(None, "--female-fraction", min=0, max=1,
                                                    help="population: share of women, 0-1 (default 0.5)"),
    weight_sd: Optional[str] = typer.Option(None, "--weight-sd", help="population: SD of body weight, e.g. '15 kg'"),
    weight_range: Optional[str] = typer.Option(None, "--weight-range", help="population: weights truncated to, "
                                               "e.g. '45-150 kg'"),
    covariates: Optional[Path] = typer.Option(None, "--covariates", help="CSV, one row per subject: weight_kg, "
                                              "age_y, sex, cyp2b6, baseline_madrs (any subset)"),
    carry_out: Optional[str] = typer.Option(None, "--carry-out", help="population: subject columns copied into "
                                            "every row of the table, e.g. 'weight_kg,eta_ketamine_CL'"),
    duration: str = typer.Option("7 d", "--duration", help="simulated time with unit, e.g. '7 d'"),
    output_step: Optional[str] = typer.Option(None, "--output-step", help="the table's uniform time step, "
                                              "e.g. '15 min' (the model is still solved finely after doses)"),
    times: Optional[str] = typer.Option(None, "--times", help="the table's exact sampling times, "
                                        "e.g. '0, 0.5, 1, 2, 4, 24 h'"),
    outputs: Optional[str] = typer.Option(None, "--outputs", help="population: only these output columns, "
                                          "e.g. 'madrs,cadss' (default: every output)"),
    summary_only: bool = typer.Option(False, "--summary-only", help="population: no time course; "
                                      "endpoints.parquet (per-subject endpoints) and summary.json only"),
    float32: bool = typer.Option(False, "--float32", help="population: time course stored in single precision "
                                 "(relative rounding error at most 6e-8; half the file)"),
    fmt: str = typer.Option("parquet", "--format", help="parquet (timecourse.parquet), or nonmem: also "
                            "dataset.csv, a NONMEM-style data set (TIME h, AMT mg, DV per DVID)"),
    observe: Optional[str] = typer.Option(None, "--observe", help="--format nonmem: outputs written as "
                                          "observation records, e.g. 'ketamine_ng_ml,madrs'"),
    observed: Optional[Path] = typer.Option(None, "--observed", help="observed data drawn on the figure: a CSV "
                                            "(time_h, output, value[, sd]) or a NONMEM-style data set"),
    typical: bool = typer.Option(False, "--typical", help="--data: typical subjects (no between-subject "
                                 "variability): population predictions"),
    subjects: int = typer.Option(1, "--subjects", min=1, max=100_000, help="1: typical subject; more: a population"),
    seed: int = typer.Option(1, "--seed", min=0, help="random seed for the population"),
    hypothesis: str = typer.Option("opioid", "--hypothesis", help="mechanism hypothesis (ketasim hypotheses --list)"),
    opioid_source: Optional[str] = typer.Option(None, "--opioid-source",
                                                help="opioid/mixed only: hnk_mor (default), ketamine_mor, endogenous"),
    expectation: str = typer.Option("active", "--expectation",
                                    help="expectation context: none, saline, spray, active, open_label"),
    baseline_madrs: Optional[float] = typer.Option(None, "--baseline-madrs", help="baseline MADRS (points)"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address, or local:N "
                                            "(default: in-process)"),
    out: Path = typer.Option(Path("out/simulate"), "--out", help="output folder"),
    log: bool = typer.Option(False, "--log", help="log-scale concentration axis in the figure"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors"),
):
    """Simulate one subject (or a population, --subjects N; or a data set, --data): timecourse.parquet,
    summary.json, timecourse.png."""
    from ketasim import services
    from ketasim.parallel import get_executor

    if fmt not in ("parquet", "nonmem"):
        raise ValueError(f"--format must be parquet or nonmem, not {fmt!r}")
    nonmem = fmt == "nonmem"
    if data is not None:
        if dose or scenario:
            raise ValueError("--data carries its own doses: give it without --dose or --scenario")
        if outputs is not None or summary_only or float32:
            raise ValueError("--outputs, --summary-only and --float32 are for generated populations "
                             "(--subjects N), not for --data")
        services.check_output_dir(out)  # before any work
        with progress("simulating the data set", quiet) as cb:
            run = services.run_dataset(data, hypothesis, opioid_source, seed, variability=not typical,
                                       expectation=expectation, progress=cb)
        services.write_dataset_run(run, out, nonmem=nonmem)
        for w in run["warnings"]:
            warn(w)
        say(f"{len(run['dataset'].subjects)} subjects of {data.name} simulated; wrote {out}/timecourse.parquet, "
            "summary.json, figure.png, subjects.csv" + (", observed_vs_predicted.csv"
                                                        if len(run["observed_vs_predicted"]) else "")
            + (", dataset.csv" if nonmem else ""), quiet)
        return
    cfg = services.scenario_config(dose, scenario, weight=weight, age=age, sex=sex, cyp2b6=cyp2b6,
                                   duration=duration, output_step=output_step, hypothesis=hypothesis,
                                   opioid_source=opioid_source, expectation=expectation,
                                   baseline_madrs=baseline_madrs, subjects=subjects, seed=seed,
                                   age_range=age_range, female_fraction=female_fraction, weight_sd=weight_sd,
                                   weight_range=weight_range, covariates_file=covariates)
    services.check_output_dir(out)  # before any work: an unwritable --out fails now, not after the run
    sample = services.sampling_times(cfg, times)
    obs = services.read_observed(observed) if observed is not None else None
    population_options = outputs is not None or summary_only or float32
    if population_options and cfg.subjects <= 1:
        raise ValueError("--outputs, --summary-only and --float32 are for populations: add --subjects N (N > 1)")
    if services.streams(cfg) or population_options:
        if nonmem or obs is not None or carry_out:
            raise ValueError(f"--format nonmem, --observed and --carry-out work up to "
                             f"{services.STREAM_ABOVE_SUBJECTS} subjects and {services.STREAM_ABOVE_ROWS:,} "
                             f"subject x time rows, without --outputs, --summary-only or --float32 (those "
                             f"populations are streamed); use fewer subjects or a longer --output-step")
        # large populations stream to Parquet: memory bounded by a few chunks, summary computed on the fly; on a
        # cluster the chunks are computed there and written here, in order, as they arrive
        with get_executor(scheduler, quiet=True) as ex, progress("simulating population (streamed)", quiet) as cb:
            doc = services.write_population_scenario_streamed(cfg, out, progress=cb, times=sample, outputs=outputs,
                                                              summary_only=summary_only, float32=float32,
                                                              executor=ex)
        if not quiet:
            print_streamed_summary(doc, cfg.subjects, out)
        return
    population = cfg.subjects > 1 or (cfg.population is not None and cfg.population.covariates_file)
    with get_executor(scheduler if population else None, quiet=True) as ex, \
            progress("simulating population", quiet or not population) as cb:
        result = services.run_scenario(cfg, progress=cb, executor=ex, times=sample)
    liability = services.liability_of(result)
    services.write_scenario(result, out, log_plot=log, nonmem=nonmem, observe=observe, observed=obs,
                            carry_out=carry_out, liability=liability)
    print_summary(result, quiet, services.result_summary(result))
    print_liability(liability, quiet)
    extra = (", subjects.csv" if population else "") + (", dataset.csv" if nonmem else "") \
        + (", abuse.json" if liability else "")
    say(f"wrote {out}/timecourse.parquet, summary.json, timecourse.png{extra}", quiet)
