"""Who: virtual populations (covariates, between-subject variability) and their simulation."""

from ._population import PopulationSpec, sample_subjects
from ._relapse import RelapseSummary, plot_relapse, relapse_summary, relapse_times
from ._simulate import PopulationResult, population_grid, simulate_parameter_sets, simulate_population
from ._stream import simulate_population_to_parquet

__all__ = ["PopulationResult", "PopulationSpec", "RelapseSummary", "plot_relapse", "population_grid",
           "relapse_summary", "relapse_times", "sample_subjects", "simulate_parameter_sets", "simulate_population",
           "simulate_population_to_parquet"]
