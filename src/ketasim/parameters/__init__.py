"""Parameters as data: value, unit, source, evidence, uncertainty range."""

from ._parameter import EVIDENCE_MEANING, Parameter, Uncertainty
from ._parameter_set import ParameterSet, default_parameters, load_parameter_file, parameters_from_toml

__all__ = ["EVIDENCE_MEANING", "Parameter", "ParameterSet", "Uncertainty", "default_parameters",
           "load_parameter_file", "parameters_from_toml"]
