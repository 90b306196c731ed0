"""Sensitivity of an outcome to the model's parameters: local (normalised elasticities, and one-at-a-time
low/high of each parameter's range for a tornado figure) and global (Sobol first-order and total indices
with bootstrap confidence intervals, by SALib's Saltelli/Sobol sampling and estimator).

Every parameter is varied over the uncertainty range and distribution `ketasim params` gives it (uniform,
log-uniform, or log-normal with the range as its 95 % interval). Each parameter set is one model run for the
chosen subjects (by default the typical subject, without between-subject variability). Parameter sets are
evaluated in chunks, in-process or on Dask; a chunk is one batch of the population fast path
(`population.simulate_parameter_sets`: the model built once, every set's subjects in one PK propagation), with
the same numbers as one `simulate_population` per set (`outcomes_one_at_a_time`, the reference in the tests).
The result does not depend on how the chunks are spread (the samples are drawn before the work is split).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from ketasim.analysis.metrics import trapezoid


@dataclass(frozen=True)
class Outcome:
    name: str
    description: str
    unit: str
    columns: tuple[str, ...]
    horizon_h: float | None       # how long after the first session the run must last (None: whole duration)


OUTCOMES = {o.name: o for o in (
    Outcome("madrs_change_day1", "MADRS change from baseline 24 h after the first session", "MADRS points",
            ("madrs",), 24.0),
    Outcome("madrs_change_day7", "MADRS change from baseline 7 days after the first session", "MADRS points",
            ("madrs",), 168.0),
    Outcome("cadss_peak", "peak CADSS (dissociation)", "CADSS points", ("cadss",), 24.0),
    Outcome("euphoria_peak", "peak drug liking", "VAS 0-100", ("euphoria",), 24.0),
    Outcome("ketamine_cmax", "peak plasma ketamine", "ng/mL", ("ketamine_ng_ml",), 24.0),
    Outcome("hnk_auc", "plasma 2,6-HNK AUC over the run", "ng·h/mL", ("hnk_ng_ml",), None),
    Outcome("days_in_response", "days with MADRS at or below half its baseline", "d", ("madrs",), None),
)}

EXCLUDED_PREFIXES = ("bsv.", "population.", "residual.")


def outcome_values(name: str, t: np.ndarray, out: dict[str, np.ndarray], first_session_h: float) -> np.ndarray:
    """Per-subject values of an outcome from population outputs (T, N)."""
    if name.startswith("madrs_change_day"):
        y = out["madrs"]
        tt = first_session_h + 24.0 * int(name[len("madrs_change_day"):])
        return np.array([np.interp(tt, t, y[:, i]) for i in range(y.shape[1])]) - y[0]
    if name == "cadss_peak":
        return out["cadss"].max(axis=0)
    if name == "euphoria_peak":
        return out["euphoria"].max(axis=0)
    if name == "ketamine_cmax":
        return out["ketamine_ng_ml"].max(axis=0)
    if name == "hnk_auc":
        return trapezoid(out["hnk_ng_ml"], t)
    if name == "days_in_response":
        y = out["madrs"]
        resp = (y <= 0.5 * y[0]).astype(float)
        return trapezoid(resp, t) / 24.0
    raise KeyError(name)


def default_parameter_keys(parameters, regimen, mechanism) -> list[str]:
    """The PK and PD parameters that can move the outcome for this regimen and hypothesis: every parameter with
    a range, except between-subject variability and population settings; naltrexone's only with naltrexone in
    the regimen; route parameters only for the routes used; hypothesis-specific ones only for that hypothesis."""
    drugs = regimen.drugs()
    routes = {d.route for d in regimen.doses if d.drug != "placebo"}
    label = mechanism.label()
    keys = []
    for k, p in parameters.items():
        if k.startswith(EXCLUDED_PREFIXES) or p.low == p.high or p.uncertainty_kind == "fixed":
            continue
        if k.startswith(("naltrexone.", "naltrexol.")) or "naltrex" in k.split(".", 1)[1].lower():
            if "naltrexone" not in drugs:
                continue
        if k.startswith("route."):
            if routes <= {"iv"}:
                continue
        if k.startswith("mixed.") and not label.startswith("mixed"):
            continue
        if k.startswith("hnk_ampa.") and not label.startswith(("hnk_ampa", "mixed")):
            continue
        keys.append(k)
    return keys


def _inverse_cdf(p, u: np.ndarray) -> np.ndarray:
    lo, hi = p.low, p.high
    kind = p.uncertainty_kind
    if kind == "uniform":
        return lo + u * (hi - lo)
    if kind == "loguniform":
        return np.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    if kind == "lognormal":
        mu = 0.5 * (math.log(lo) + math.log(hi))
        sigma = (math.log(hi) - math.log(lo)) / (2 * 1.959964)
        return np.exp(mu + sigma * norm.ppf(np.clip(u, 1e-12, 1 - 1e-12)))
    raise ValueError(f"unknown distribution {kind!r}")


@dataclass
class Setup:
    regimen: object
    parameters: object
    mechanism: object
    t: np.ndarray
    subjects: pd.DataFrame
    outcome: str
    first_session_h: float
    expectation: str = "active"


# parameter pairs whose sum the model requires to stay below 1 (fractions of one flux): scaled down together
SUM_BELOW_ONE = (("hnk.fm", "dhnk.fm"),)


def constrained(parameters, values: dict) -> dict:
    """Values with the model's joint constraints enforced (a pair of fractions summing above 1 is scaled to
    0.999 in total, keeping their ratio): the sample stays a valid model instead of a failed run."""
    out = dict(values)
    for a, b in SUM_BELOW_ONE:
        if a in out or b in out:
            va = out.get(a, parameters[a].value)
            vb = out.get(b, parameters[b].value)
            if va + vb > 0.999:
                f = 0.999 / (va + vb)
                out[a], out[b] = va * f, vb * f
    return out


def _job(args):
    """Outcome (mean over subjects) for a chunk of parameter rows, the rows as one batch of the population fast
    path (population.simulate_parameter_sets); numba on one thread per worker."""
    setup, keys, rows = args
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return _outcomes_batched(setup, keys, rows)
    finally:
        numba.set_num_threads(before)


def _parameter_sets(setup: Setup, keys: list[str], rows: np.ndarray) -> list:
    """One parameter set per row, with the model's joint constraints enforced (the sets
    `replace_many(constrained(...))` gives, converted column by column); None for a row with a value that is not
    finite."""
    p = setup.parameters
    rows = np.asarray(rows, float)
    if not len(keys):
        return [p] * len(rows)
    # a varied fraction of a constrained pair may scale its partner too: the partner joins the columns
    paired = [pair for pair in SUM_BELOW_ONE if any(x in keys for x in pair)]
    full = list(keys) + [k for pair in paired for k in pair if k not in keys]
    if paired:
        rows = np.array([[c.get(k, p[k].value) for k in full]
                         for c in (constrained(p, dict(zip(keys, r))) for r in rows)], float)
    finite = np.all(np.isfinite(rows), axis=1)
    it = iter(p.replace_rows(full, rows[finite]))
    return [next(it) if f else None for f in finite]


def _outcomes_batched(setup: Setup, keys: list[str], rows: np.ndarray) -> np.ndarray:
    from ketasim.population import simulate_parameter_sets

    sets = _parameter_sets(setup, keys, rows)
    out = np.full(len(rows), np.nan)
    valid = [i for i, s in enumerate(sets) if s is not None]
    if not valid:
        return out
    res, ok = simulate_parameter_sets(setup.regimen, setup.subjects, [sets[i] for i in valid], setup.mechanism,
                                      setup.t, expectation=setup.expectation,
                                      columns=OUTCOMES[setup.outcome].columns)
    T, M, N = next(iter(res.values())).shape
    flat = {c: v.reshape(T, M * N) for c, v in res.items()}
    with np.errstate(invalid="ignore"):
        y = outcome_values(setup.outcome, setup.t, flat, setup.first_session_h).reshape(M, N).mean(axis=1)
    out[valid] = np.where(ok, y, np.nan)   # a combination the model refuses (e.g. fractions summing above 1)
    return out


def outcomes_one_at_a_time(setup: Setup, keys: list[str], rows: np.ndarray) -> np.ndarray:
    """The outcome for each parameter row by one full population simulation per row (the reference the batched
    path is tested against; slow)."""
    from ketasim.population import simulate_population

    cols = OUTCOMES[setup.outcome].columns
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        p = setup.parameters.replace_many(constrained(setup.parameters, dict(zip(keys, row)))) if len(keys) \
            else setup.parameters
        try:
            res = simulate_population(setup.regimen, setup.subjects, p, setup.mechanism, setup.t,
                                      expectation=setup.expectation, columns=cols)
            out[i] = float(np.mean(outcome_values(setup.outcome, setup.t, res.outputs, setup.first_session_h)))
        except (ValueError, FloatingPointError):
            out[i] = np.nan   # a combination the model refuses (e.g. fractions summing above 1)
    return out


def evaluate(setup: Setup, keys: list[str], rows: np.ndarray, executor=None, chunk: int = 256,
             progress=None) -> np.ndarray:
    from ketasim.parallel import SerialExecutor

    import warnings

    jobs = [(setup, keys, rows[i:i + chunk]) for i in range(0, len(rows), chunk)]
    with warnings.catch_warnings():
        # every job carries its parameter rows by design (they are the work); Dask's hint about large graphs
        # is not for the user of this command
        warnings.filterwarnings("ignore", message=".*large graph.*")
        parts = (executor or SerialExecutor()).map(_job, jobs, progress)
    return np.concatenate(parts) if parts else np.zeros(0)


def make_setup(regimen, parameters, mechanism, outcome: str, duration_h: float | None = None, subjects=None,
               expectation: str = "active") -> Setup:
    from ketasim.data.sampling import typical_subjects
    from ketasim.population import population_grid

    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; choose from {', '.join(OUTCOMES)}")
    o = OUTCOMES[outcome]
    sessions = [d.time_h for d in regimen.realize() if d.is_session]
    t0 = min(sessions) if sessions else 0.0
    end = duration_h if duration_h is not None else (t0 + o.horizon_h + 2.0 if o.horizon_h else 7 * 24.0)
    if o.horizon_h and end < t0 + o.horizon_h:
        raise ValueError(f"outcome {outcome} needs the run to last {o.horizon_h:g} h after the first session")
    t = population_grid(regimen, end, step_h=1.0, fine_step_h=5 / 60, fine_window_h=6.0)
    subj = subjects if subjects is not None else typical_subjects(1)
    return Setup(regimen, parameters, mechanism, t, subj, outcome, t0, expectation)


def local_sensitivity(setup: Setup, keys: list[str], rel_step: float = 0.01, executor=None, progress=None):
    """Normalised elasticities (dY/Y)/(dp/p) by central differences (+-rel_step), and the outcome at each
    parameter's range ends, one at a time (the others at their values)."""
    p = setup.parameters
    base = np.array([p[k].value for k in keys])
    rows = [base]
    for j, k in enumerate(keys):
        for v in (base[j] * (1 + rel_step), base[j] * (1 - rel_step), p[k].low, p[k].high):
            r = base.copy()
            r[j] = v
            rows.append(r)
    Y = evaluate(setup, keys, np.array(rows), executor, progress=progress)
    y0 = Y[0]
    out = []
    for j, k in enumerate(keys):
        up, dn, lo, hi = Y[1 + 4 * j: 5 + 4 * j]
        dydp = (up - dn) / (2 * rel_step * base[j]) if base[j] != 0 else math.nan
        elast = dydp * base[j] / y0 if y0 != 0 else math.nan
        out.append({"parameter": k, "unit": p[k].unit, "value": base[j], "low": p[k].low, "high": p[k].high,
                    "elasticity": elast, "outcome_at_low": lo, "outcome_at_high": hi, "outcome_at_value": y0})
    return pd.DataFrame(out), y0


def sobol_sensitivity(setup: Setup, keys: list[str], n_base: int = 1024, seed: int = 1, executor=None,
                      progress=None, conf_level: float = 0.95):
    """Sobol first-order (S1) and total (ST) indices with bootstrap intervals; N (D + 2) model runs."""
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if n_base < 2 or n_base & (n_base - 1):
        raise ValueError(f"--samples must be a power of 2 (Sobol sequences), got {n_base}")
    p = setup.parameters
    # screen: a parameter that moves the outcome at neither end of its range (all others at their values) does
    # not enter this outcome's computation; it gets S1 = ST = 0 without spending N runs on it
    base = np.array([p[k].value for k in keys])
    rows = [base]
    for j, k in enumerate(keys):
        for v in (p[k].low, p[k].high):
            r = base.copy()
            r[j] = v
            rows.append(r)
    Y0 = evaluate(setup, keys, np.array(rows), executor)
    scale = max(abs(Y0[0]), 1e-12)
    moved = [bool(np.any(np.abs(Y0[1 + 2 * j: 3 + 2 * j] - Y0[0]) > 1e-9 * scale)) for j in range(len(keys))]
    inert = [k for k, m in zip(keys, moved) if not m]
    keys = [k for k, m in zip(keys, moved) if m]
    if not keys:
        raise ValueError("no parameter moves the outcome: nothing to analyse")
    problem = {"num_vars": len(keys), "names": keys, "bounds": [[0.0, 1.0]] * len(keys)}
    U = sobol_sample.sample(problem, n_base, calc_second_order=False, scramble=True, seed=seed)
    X = np.column_stack([_inverse_cdf(p[k], U[:, j]) for j, k in enumerate(keys)])
    Y = evaluate(setup, keys, X, executor, progress=progress)
    bad = ~np.isfinite(Y)
    if bad.any():
        Y = np.where(bad, np.nanmean(Y), Y)
    Si = sobol_analyze.analyze(problem, Y, calc_second_order=False, num_resamples=200, conf_level=conf_level,
                               seed=seed)
    df = pd.DataFrame({"parameter": keys, "unit": [p[k].unit for k in keys], "value": [p[k].value for k in keys],
                       "low": [p[k].low for k in keys], "high": [p[k].high for k in keys],
                       "distribution": [p[k].uncertainty_kind for k in keys],
                       "S1": Si["S1"], "S1_conf": Si["S1_conf"], "ST": Si["ST"], "ST_conf": Si["ST_conf"]})
    df["screened_out"] = False
    if inert:
        df = pd.concat([df, pd.DataFrame({"parameter": inert, "unit": [p[k].unit for k in inert],
                                          "value": [p[k].value for k in inert], "low": [p[k].low for k in inert],
                                          "high": [p[k].high for k in inert],
                                          "distribution": [p[k].uncertainty_kind for k in inert],
                                          "S1": 0.0, "S1_conf": 0.0, "ST": 0.0, "ST_conf": 0.0,
                                          "screened_out": True})], ignore_index=True)
    info = {"runs": int(len(Y) + len(Y0)), "sobol_runs": int(len(Y)), "screening_runs": int(len(Y0)),
            "failed_runs": int(bad.sum()), "parameters_varied": len(keys), "parameters_screened_out": inert,
            "outcome_mean": float(np.mean(Y)), "outcome_sd": float(np.std(Y)), "sum_S1": float(np.sum(Si["S1"])),
            "sum_ST": float(np.sum(Si["ST"]))}
    return df, info


def plot_tornado(df: pd.DataFrame, outcome: str, unit: str, y0: float, path, top: int = 20):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = df.assign(span=(df["outcome_at_high"] - df["outcome_at_low"]).abs()).sort_values("span").tail(top)
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(d) + 1.6))
    for i, r in enumerate(d.itertuples()):
        ax.barh(i, r.outcome_at_low - y0, left=y0, color="C0", alpha=0.8)
        ax.barh(i, r.outcome_at_high - y0, left=y0, color="C3", alpha=0.8)
    ax.set_yticks(range(len(d)))
    ax.set_yticklabels([f"{r.parameter} (e={r.elasticity:.2g})" for r in d.itertuples()], fontsize=7)
    ax.axvline(y0, color="k", lw=0.8)
    ax.set_xlabel(f"{outcome} ({unit}); blue: parameter at the low end of its range, red: high end")
    ax.set_title("one-at-a-time sensitivity (tornado); e = normalised elasticity at the default",
                 fontsize=9, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sobol(df: pd.DataFrame, outcome: str, path, top: int = 20):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = df.sort_values("ST").tail(top)
    y = np.arange(len(d))
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(d) + 1.6))
    ax.barh(y - 0.2, d["S1"], 0.4, xerr=d["S1_conf"], label="first order S1", color="C0", capsize=2)
    ax.barh(y + 0.2, d["ST"], 0.4, xerr=d["ST_conf"], label="total ST", color="C1", capsize=2)
    ax.set_yticks(y)
    ax.set_yticklabels(d["parameter"], fontsize=7)
    ax.set_xlabel(f"Sobol index of {outcome} (bars: 95 % bootstrap intervals)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
