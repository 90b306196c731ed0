"""Analyses on top of simulations and data sets: summary metrics, non-compartmental analysis (NCA), visual
predictive checks and sensitivity analysis. Each module imports what it needs when it is used."""
