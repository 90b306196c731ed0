"""Parameter estimation from NONMEM-style data sets: FOCE-I population fits of the PK layer (1-3 compartment
racemic ketamine) and of one PD endpoint (effect compartment + Emax), with standard errors, individual
estimates and diagnostics."""

from .focei import FitResult, FitSpec, fit_focei
from .models import Design, EmaxPDModel, PKModel

__all__ = ["Design", "EmaxPDModel", "FitResult", "FitSpec", "PKModel", "fit_focei"]
