"""The naltrexone-blockade crossover (Williams 2018) as a virtual trial, and what it says about the hypotheses."""

from ketasim.trials import load_trial, run_trial

trial = load_trial("williams2018")
for hypothesis in ("opioid", "glutamate"):
    result = run_trial(trial, hypothesis, replicates=10, seed=1)
    arms = result.arm_summary()
    responders = {arm: a["endpoints"]["hamd17_day1"]["responders"] for arm, a in arms.items()}
    print(hypothesis, "mean responders on day 1 (of 12):", {k: round(v, 1) for k, v in responders.items()})
