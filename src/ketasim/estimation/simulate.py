"""Simulated studies for simulation-re-estimation: subjects from ketasim's population sampler, the regimen
language, ketasim's exact linear solver (`models.pk.LinearBuilder` + `solvers.linear.solve_linear`), residual
error, and the NONMEM-style writer; the fit then reads the file back like any user's data set."""

from __future__ import annotations

import numpy as np

from ketasim.data.nonmem import dataset_records, write_nonmem
from ketasim.models.pk import Input, LinearBuilder
from ketasim.population import PopulationSpec, sample_subjects
from ketasim.regimens import Regimen
from ketasim.solvers.linear import solve_linear

RICH_SAMPLING_H = np.array([5, 10, 20, 30, 40, 45, 50, 60, 80, 100, 120, 180, 240, 360, 480, 720, 1440]) / 60.0
TRUE_3CMT = {"CL": 80.0, "V1": 30.0, "Q2": 150.0, "V2": 90.0, "Q3": 40.0, "V3": 250.0}
TRUE_OMEGA = {"CL": 0.09, "V1": 0.09, "V2": 0.0625, "V3": 0.0625}
TRUE_SIGMA = {"prop": 0.10, "add": 0.5}


def mammillary_concentrations(p: dict[str, float], regimen: Regimen, weight_kg: float, times) -> np.ndarray:
    """Plasma concentration (ng/mL) of one subject, exact (matrix exponentials between events)."""
    n = 1 + sum(k in p for k in ("V2", "V3"))
    names = ["central", "p2", "p3"][:n] + ["eliminated"]
    index = {s: i for i, s in enumerate(names)}
    b = LinearBuilder(index)
    b.flow("central", p["CL"] / p["V1"], {"eliminated": 1.0})
    for j, (q, v) in enumerate((("Q2", "V2"), ("Q3", "V3"))[: n - 1], start=1):
        b.flow("central", p[q] / p["V1"], {names[j]: 1.0})
        b.flow(names[j], p[q] / p[v], {"central": 1.0})
    inputs = [Input("central", d.amount_mg(weight_kg), d.time_h, d.duration_h) for d in regimen.realize()]
    X = solve_linear(b.A, inputs, np.asarray(times, float), index)
    return 1000.0 * X[:, 0] / p["V1"]


def simulate_study(path, n_subjects: int = 60, seed: int = 1, truth=TRUE_3CMT, omega=TRUE_OMEGA, sigma=TRUE_SIGMA,
                   times=RICH_SAMPLING_H, regimen_text: str = "ketamine 0.5 mg/kg iv over 40 min"):
    """Write a NONMEM-style data set of `n_subjects` with log-normal between-subject variability and combined
    residual error; returns the subjects' true individual parameters."""
    rng = np.random.default_rng(seed)
    regimen = Regimen.from_text(regimen_text)
    subjects = sample_subjects(PopulationSpec(variability=False), n_subjects, seed)
    subjects["id"] = np.arange(1, n_subjects + 1)
    etas = {k: rng.normal(0.0, np.sqrt(v), n_subjects) for k, v in omega.items()}
    conc = np.zeros((len(times), n_subjects))
    true = []
    for s in range(n_subjects):
        p = {k: v * np.exp(etas[k][s]) if k in etas else v for k, v in truth.items()}
        true.append({"id": int(subjects["id"].iloc[s]), **p})
        f = mammillary_concentrations(p, regimen, float(subjects["weight_kg"].iloc[s]), times)
        conc[:, s] = f * (1 + sigma["prop"] * rng.normal(size=len(f))) + sigma["add"] * rng.normal(size=len(f))
    recs = dataset_records(subjects, regimen, np.asarray(times), {"ketamine_ng_ml": conc})
    write_nonmem(path, recs, ["ketamine_ng_ml"],
                 note=f"simulated study (seed {seed}): {len(truth)}-parameter mammillary model, combined error")
    return true
