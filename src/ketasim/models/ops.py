"""The operations a model node may use besides arithmetic (NumPy backend).

Node functions are written once and run on floats, NumPy arrays, pint quantities (the unit check) and the
symbols of the SBML exporter; the compiled population kernel runs them with the scalar twins of these functions
(`ketasim.solvers._kernel_ops`, same names, same results). So a node function may use only arithmetic,
comparisons inside `where`, and the functions here, called as `ops.NAME(...)`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["exp", "log", "maximum", "minimum", "clip", "where", "hill", "positive_part", "saturating"]


def exp(x):
    return np.exp(x)


def log(x):
    return np.log(x)


def maximum(a, b):
    return np.maximum(a, b)


def minimum(a, b):
    return np.minimum(a, b)


def clip(x, low, high):
    """x limited to [low, high]."""
    return np.minimum(np.maximum(x, low), high)


def where(condition, a, b):
    return np.where(condition, a, b)


def hill(x, half, n):
    """x^n / (half^n + x^n): the Hill (sigmoid Emax) curve with half-effect `half` and coefficient n."""
    xn = x ** n
    return xn / (half ** n + xn)


def positive_part(x):
    """max(x, 0)."""
    return np.maximum(x, 0.0)


def saturating(x):
    """x / (1 + x): the hyperbolic saturation of a ligand-to-Ki ratio or a stimulus."""
    return x / (1.0 + x)
