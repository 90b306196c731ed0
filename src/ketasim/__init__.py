"""ketasim: research simulator of ketamine's NMDA and opioid actions, from dose to mood.

Research software, not a dosing tool.
"""

from ketasim._version import __version__  # noqa: E402

from ketasim.models.pk import Covariates  # noqa: E402
from ketasim.parameters import ParameterSet, default_parameters  # noqa: E402
from ketasim.regimens import Dose, Regimen, parse_dose  # noqa: E402
from ketasim.results import Result  # noqa: E402
from ketasim.simulation import Simulation, simulate  # noqa: E402
from ketasim import compounds as _compounds  # noqa: E402

_compounds._library._load_library()   # library compounds are drugs of the regimen language from the start

__all__ = ["Covariates", "Dose", "ParameterSet", "Regimen", "Result", "Simulation", "default_parameters",
           "parse_dose", "simulate", "__version__"]
