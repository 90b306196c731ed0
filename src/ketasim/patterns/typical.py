"""The typical subject of a long pattern of use on the compiled population path.

Months of daily sessions are thousands of administrations; the reference path (`Simulation.solve`) resolves each
dose on a 1-min grid for 4 h and takes minutes for one subject. The compiled path computes the same model (tested
against the reference in tests/test_fast_path.py) for a one-row subject table holding exactly the typical subject
(no random effects, sensitivity 1), and the result is returned as a one-subject `Result`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ketasim.models.pk import Covariates

FAST_ABOVE_ADMINISTRATIONS = 60


def typical_table(cov: Covariates, baseline_madrs: float) -> pd.DataFrame:
    from ketasim.population._population import PD_SCALES, PK_RANDOM_EFFECTS

    row = {"id": 0, "weight_kg": cov.weight_kg, "age_y": cov.age_y, "sex": cov.sex, "cyp2b6": cov.cyp2b6,
           "baseline_madrs": baseline_madrs, **{c: 0.0 for c in PK_RANDOM_EFFECTS}, **{c: 1.0 for c in PD_SCALES}}
    return pd.DataFrame([row])


def simulate_typical_fast(regimen, parameters, mechanism, duration_h: float, expectation: str, cov: Covariates,
                          baseline_madrs: float | None = None, step_h: float = 0.25):
    from ketasim.population import population_grid, simulate_population
    from ketasim.results import Result

    base = parameters.value("mood.baseline_madrs") if baseline_madrs is None else baseline_madrs
    t = population_grid(regimen, duration_h, step_h=step_h, fine_step_h=2 / 60, fine_window_h=4.0)
    res = simulate_population(regimen, typical_table(cov, base), parameters, mechanism, t, expectation=expectation)
    outputs = {k: np.asarray(v[:, 0]) for k, v in res.outputs.items()}
    out = Result.single(t, outputs, mechanism=mechanism, regimen=regimen, parameters=parameters, covariates=cov)
    sessions = [d.time_h for d in regimen.realize() if d.is_session]
    out.meta.update(hypothesis=mechanism.label(), expectation=expectation, baseline_madrs=base,
                    first_session_h=min(sessions) if sessions else 0.0,
                    solver="compiled population path (typical subject), output every "
                           f"{step_h * 60:g} min and every 2 min for 4 h after each dose")
    return out
