"""Scalar twins of `ketasim.models.ops` for the compiled population kernel (numba). Same names, same results:
tests/test_model_spec.py compares them on random inputs. The generated kernel module imports this module as `ops`,
so node functions run unchanged."""

from __future__ import annotations

import math

from numba import njit


@njit(inline="always", cache=True)
def exp(x):
    return math.exp(x)


@njit(inline="always", cache=True)
def log(x):
    return math.log(x)


@njit(inline="always", cache=True)
def maximum(a, b):
    return a if a >= b else b


@njit(inline="always", cache=True)
def minimum(a, b):
    return a if a <= b else b


@njit(inline="always", cache=True)
def clip(x, low, high):
    y = x if x >= low else low
    return y if y <= high else high


@njit(inline="always", cache=True)
def where(condition, a, b):
    return a if condition else b


@njit(inline="always", cache=True)
def hill(x, half, n):
    # integer coefficients by multiplication: the same value as pow to rounding, much cheaper
    if n == 1.0:
        xn = x
        hn = half
    elif n == 2.0:
        xn = x * x
        hn = half * half
    elif n == 4.0:
        x2 = x * x
        xn = x2 * x2
        h2 = half * half
        hn = h2 * h2
    else:
        xn = x ** n
        hn = half ** n
    return xn / (hn + xn)


@njit(inline="always", cache=True)
def positive_part(x):
    return x if x > 0.0 else 0.0


@njit(inline="always", cache=True)
def saturating(x):
    return x / (1.0 + x)


# marked switches (solvers.switches): the same value, the switch argument stored in sw[j]
@njit(inline="always", cache=True)
def sw_positive_part(sw, j, x):
    sw[j] = x
    return x if x > 0.0 else 0.0


@njit(inline="always", cache=True)
def sw_maximum(sw, j, a, b):
    sw[j] = a - b
    return a if a >= b else b


@njit(inline="always", cache=True)
def sw_minimum(sw, j, a, b):
    sw[j] = a - b
    return a if a <= b else b
