"""Who: virtual populations (covariates, between-subject variability) and their simulation."""

from ._population import PopulationSpec, sample_subjects
from ._simulate import PopulationResult, population_grid, simulate_population

__all__ = ["PopulationResult", "PopulationSpec", "population_grid", "sample_subjects", "simulate_population"]
