"""Virtual clinical trials: designs (YAML), runner, hypothesis scoring and power analysis."""

from ._design import TrialConfig, TrialError, arm_size, builtin_trials, load_trial
from ._report import trial_html, validation_figure, write_hypothesis_outputs, write_power_outputs, write_trial_outputs
from ._run import TrialResult, run_trial
from ._scoring import DEFAULT_VARIANTS, default_variants, power_analysis, score_hypotheses, scores_to_json, with_size

__all__ = ["DEFAULT_VARIANTS", "TrialConfig", "TrialError", "TrialResult", "arm_size", "builtin_trials",
           "default_variants", "trial_html", "validation_figure",
           "load_trial", "power_analysis", "run_trial", "score_hypotheses", "scores_to_json", "with_size",
           "write_hypothesis_outputs", "write_power_outputs", "write_trial_outputs"]
