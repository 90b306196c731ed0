"""Virtual clinical trials: designs (YAML), runner, hypothesis scoring and power analysis."""

from ._design import TrialConfig, TrialError, builtin_trials, load_trial
from ._run import run_trial

__all__ = ["TrialConfig", "TrialError", "builtin_trials", "load_trial", "run_trial"]
