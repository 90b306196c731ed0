"""Parameter: one value with unit, source, evidence and an uncertainty range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Evidence = Literal["estimate", "in_vitro", "label", "derived", "scaled", "assumed", "fitted_here"]
EVIDENCE_MEANING = {
    "estimate": "read in a source (population estimate, NCA or trial result)",
    "in_vitro": "read in a source (in-vitro binding or function)",
    "label": "read in a product label or regulatory document",
    "derived": "calculated from values read in sources (calculation in the description)",
    "scaled": "a source's value scaled or transformed (how, in the description)",
    "assumed": "assumption: no source gives it; wide range",
    "fitted_here": "calibrated by ketasim to the target named in the description (calibration, not validation)",
}


@dataclass(frozen=True)
class Uncertainty:
    """Distribution of what we do not know about a typical value (epistemic).

    kind: 'lognormal' (low/high are the 95 % interval), 'uniform', 'loguniform' or 'fixed'.
    """

    kind: str
    low: float
    high: float

    def sample(self, rng: np.random.Generator, size=None):
        if self.kind == "fixed" or self.low == self.high:
            return np.full(size, self.low) if size is not None else self.low
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high, size)
        if self.kind == "loguniform":
            return np.exp(rng.uniform(math.log(self.low), math.log(self.high), size))
        if self.kind == "lognormal":
            mu = 0.5 * (math.log(self.low) + math.log(self.high))
            sigma = (math.log(self.high) - math.log(self.low)) / (2 * 1.959964)
            return np.exp(rng.normal(mu, sigma, size))
        raise ValueError(f"unknown uncertainty kind {self.kind!r}")

    def interval(self) -> tuple[float, float]:
        return (self.low, self.high)


@dataclass(frozen=True)
class Parameter:
    key: str
    value: float
    unit: str
    source: str
    evidence: Evidence
    low: float
    high: float
    description: str
    uncertainty_kind: str = "uniform"
    internal_value: float = float("nan")  # value in ketasim's internal unit, filled at load

    @property
    def uncertainty(self) -> Uncertainty:
        return Uncertainty(self.uncertainty_kind, self.low, self.high)

    def with_value(self, value: float, internal_value: float) -> "Parameter":
        # dataclasses.replace() without its per-call cost (the class has no __post_init__ to run): a sensitivity
        # analysis makes millions of these copies
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__, value=value, internal_value=internal_value)
        return new

    @property
    def label(self) -> str:
        return f"{self.description.split(';')[0]} [{self.unit}]"
