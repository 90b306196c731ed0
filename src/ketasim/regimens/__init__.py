"""What is given, when and how: Dose, Regimen and the regimen text language."""

from ._regimen import (DRUGS, ROUTES, SESSION_DRUGS, DrugInfo, Dose, Regimen, RegimenError, ValidatedRangeWarning,
                       drug_routes, is_session_drug, known_drugs, parse_dose, register_drug)

__all__ = ["DRUGS", "ROUTES", "SESSION_DRUGS", "DrugInfo", "Dose", "Regimen", "RegimenError",
           "ValidatedRangeWarning", "drug_routes", "is_session_drug", "known_drugs", "parse_dose", "register_drug"]
