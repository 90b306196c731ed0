"""The multi-objective search: NSGA-II (pymoo) over the regimens of the search space, the first generation seeded
with the standard clinical regimens that lie in it, every evaluation recorded; the front is the set of feasible,
non-dominated regimens among everything evaluated (not only the last generation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .evaluate import Evaluator
from .problem import Problem
from .space import Design, SearchSpace

# Standard clinical regimens placed on every front they belong to (drug, route): label, design fields, source
STANDARD_REGIMENS = {
    ("ketamine", "iv"): [
        ("single infusion (Zarate 2006)", dict(dose=0.5, infusion_h=40 / 60, interval_h=0.0, doses=1)),
        ("twice weekly x 8 (Singh 2016)", dict(dose=0.5, infusion_h=40 / 60, interval_h=84.0, doses=8)),
        ("thrice weekly x 12 (Singh 2016)", dict(dose=0.5, infusion_h=40 / 60, interval_h=56.0, doses=12)),
        ("thrice weekly x 6, then weekly x 4 (Phillips 2019)",
         dict(dose=0.5, infusion_h=40 / 60, interval_h=56.0, doses=6, maintenance_interval_h=168.0,
              maintenance_doses=4, maintenance_fraction=1.0)),
    ],
    ("esketamine", "intranasal"): [
        ("56 mg twice weekly x 8 (label)", dict(dose=56.0, infusion_h=0.0, interval_h=84.0, doses=8)),
        ("84 mg twice weekly x 8 (label)", dict(dose=84.0, infusion_h=0.0, interval_h=84.0, doses=8)),
    ],
}


def standard_designs(problem: Problem, within_space_only: bool = False) -> list[tuple[str, Design]]:
    """The standard regimens of the problem's treatments (dose units must match), within the horizon."""
    out = []
    space = SearchSpace(problem)
    for i, t in enumerate(problem.treatments):
        for label, kw in STANDARD_REGIMENS.get((t.drug, t.route), []):
            unit = "mg/kg" if t.route == "iv" else "mg"
            if unit != t.dose_unit:
                continue
            full = {"maintenance_interval_h": 0.0, "maintenance_doses": 0, "maintenance_fraction": 1.0, **kw}
            d = Design(treatment=i, **full)
            last = (d.doses - 1) * d.interval_h + (d.maintenance_interval_h + (d.maintenance_doses - 1)
                                                   * d.maintenance_interval_h if d.maintenance_doses else 0)
            if last >= problem.horizon_h:
                continue
            if within_space_only and not space.contains(d):
                continue
            out.append((label, d))
    return out


class Interrupted(Exception):
    """The search was stopped (Ctrl-C); what was evaluated is kept."""

    def __init__(self, evaluations: int):
        super().__init__(f"search interrupted after {evaluations} evaluations")
        self.evaluations = evaluations


@dataclass
class SearchResult:
    problem: Problem
    evaluations: pd.DataFrame
    front: pd.DataFrame
    standards: pd.DataFrame
    seconds: float
    generations_run: int
    notes: list[str] = field(default_factory=list)


def non_dominated(F: np.ndarray) -> np.ndarray:
    """Indices of the rows of F (minimised) that no other row dominates (pymoo's non-dominated sorting)."""
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    if len(F) == 0:
        return np.array([], int)
    return np.asarray(NonDominatedSorting().do(np.asarray(F, float), only_non_dominated_front=True), int)


def run_search(problem: Problem, executor=None, progress: Callable[[int, int], None] | None = None,
               record_path=None, stop_after: int | None = None) -> SearchResult:
    """NSGA-II over the search space. `stop_after` ends the search after that many evaluations as an interruption
    would (for tests of the record); Ctrl-C does the same. Raises Interrupted with the record saved."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.core.repair import Repair
    from pymoo.optimize import minimize

    space = SearchSpace(problem)
    expected = problem.population_size * problem.generations
    ev = Evaluator(problem, executor, progress, record_path, expected_evaluations=expected, contains=space.contains)
    started = time.perf_counter()
    standards = standard_designs(problem)
    generations = {"n": 0}

    class _Stop(Exception):
        pass

    class RegimenProblem(PymooProblem):
        def __init__(self):
            super().__init__(n_var=space.n_var, n_obj=len(problem.objectives), n_ieq_constr=len(problem.constraints),
                             xl=space.xl, xu=space.xu)

        def _evaluate(self, X, out, *args, **kwargs):
            designs = [space.decode(x) for x in np.atleast_2d(X)]
            entries = ev.metrics(designs)
            if stop_after is not None and len(ev.rows) >= stop_after:
                raise _Stop
            F, G = ev.objectives_and_constraints(entries)
            out["F"] = F
            if problem.constraints:
                out["G"] = G
            generations["n"] += 1

    class SnapToGrid(Repair):
        def _do(self, _problem, X, **kwargs):
            return space.snap(X)

    notes = []
    try:
        if space.n_var == 0:
            notes.append("the search space has one regimen only (every variable is fixed)")
            ev.metrics([space.decode(np.zeros(0))])
        else:
            initial = _initial_population(space, problem, [d for _, d in standards])
            algorithm = NSGA2(pop_size=problem.population_size, sampling=initial, repair=SnapToGrid(),
                              eliminate_duplicates=True)
            minimize(RegimenProblem(), algorithm, ("n_gen", problem.generations), seed=problem.seed, verbose=False)
    except (_Stop, KeyboardInterrupt):
        ev.save()
        raise Interrupted(len(ev.rows)) from None
    # the reference regimens, evaluated on the same subjects (they are not part of the search's record of origin)
    ref_entries = ev.metrics([d for _, d in standards], origin="standard") if standards else []
    ev.save()
    frame = ev.frame()
    front = pareto_front(frame, problem)
    std = _standards_frame(ev, standards, ref_entries, front)
    return SearchResult(problem, frame, front, std, time.perf_counter() - started, generations["n"], notes)


def _initial_population(space: SearchSpace, problem: Problem, standards: list[Design]) -> np.ndarray:
    from scipy.stats import qmc

    n = problem.population_size
    seeds = [space.encode(d) for d in standards if space.contains(d)][: n // 3]
    lhs = qmc.LatinHypercube(d=space.n_var, seed=problem.seed).random(n - len(seeds))
    X = space.xl + lhs * (space.xu - space.xl)
    return space.snap(np.vstack([np.array(seeds).reshape(-1, space.n_var), X]))


def pareto_front(frame: pd.DataFrame, problem: Problem) -> pd.DataFrame:
    """The feasible, non-dominated regimens of the search space in the record (one row per regimen; reference
    regimens outside the space are not candidates), best first by the first objective."""
    if frame.empty:
        return frame
    keep = frame["feasible"] & frame.get("in_search_space", True)
    rows = frame[keep].drop_duplicates("regimen")
    if rows.empty:
        return rows
    F = np.column_stack([(-1.0 if o.maximise else 1.0) * rows[o.label].to_numpy(float) for o in problem.objectives])
    idx = non_dominated(F)
    first = problem.objectives[0]
    return rows.iloc[idx].sort_values(first.label, ascending=not first.maximise).reset_index(drop=True)


def _standards_frame(ev: Evaluator, standards, entries, front: pd.DataFrame) -> pd.DataFrame:
    rows = []
    p = ev.problem
    F_front = np.column_stack([(-1.0 if o.maximise else 1.0) * front[o.label].to_numpy(float)
                               for o in p.objectives]) if len(front) else np.zeros((0, len(p.objectives)))
    for (label, _), entry in zip(standards, entries):
        row = {"standard": label, "regimen": entry["text"]}
        F, G = ev.objectives_and_constraints([entry])
        for o, f in zip(p.objectives, F[0]):
            row[o.label] = -f if o.maximise else f
        row["feasible"] = bool(np.all(G[0] <= 0))
        # is it dominated by a regimen of the front?
        row["dominated_by_front"] = bool(len(F_front) and np.any(np.all(F_front <= F[0], axis=1)
                                                                 & np.any(F_front < F[0], axis=1)))
        rows.append(row)
    return pd.DataFrame(rows)
