"""What is given, when and how: Dose, Regimen and the regimen text language."""

from ._regimen import (DRUGS, ROUTES, Dose, Regimen, RegimenError, ValidatedRangeWarning, parse_dose)

__all__ = ["DRUGS", "ROUTES", "Dose", "Regimen", "RegimenError", "ValidatedRangeWarning", "parse_dose"]
