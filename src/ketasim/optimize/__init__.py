"""Regimen optimisation: multi-objective search (NSGA-II, pymoo) over regimens for a virtual population under one
or several mechanism hypotheses, with objectives and constraints named by the model's metrics."""

from .problem import Constraint, Objective, Problem, ProblemError, load_problem, metric_names
from .search import Interrupted, SearchResult, non_dominated, pareto_front, run_search, standard_designs
from .space import Design, SearchSpace

__all__ = ["Constraint", "Design", "Interrupted", "Objective", "Problem", "ProblemError", "SearchResult",
           "SearchSpace", "load_problem", "metric_names", "non_dominated", "pareto_front", "run_search",
           "standard_designs"]
