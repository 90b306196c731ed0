"""Patterns of use: clinical and recreational scenarios, abuse-liability and lasting-benefit metrics, and the
comparison of what each pattern does to the immediate effects, the antidepressant pathway and liability."""

from .library import PRODUCTS, PatternError, UsePattern, builtin_patterns, load_pattern
from .metrics import BENEFIT_METRICS, LIABILITY_METRICS, METRICS, benefit_values, liability_table, liability_values

__all__ = ["BENEFIT_METRICS", "LIABILITY_METRICS", "METRICS", "PRODUCTS", "PatternError", "UsePattern",
           "benefit_values", "builtin_patterns", "liability_table", "liability_values", "load_pattern"]
