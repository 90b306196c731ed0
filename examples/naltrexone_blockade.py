"""Ketamine with and without naltrexone under two mechanism hypotheses (typical subject)."""

import ketasim as ks

KETAMINE = "ketamine 0.5 mg/kg iv over 40 min"
NALTREXONE = "naltrexone 50 mg oral at -45 min"

for hypothesis in ("opioid", "glutamate"):
    alone = ks.simulate(KETAMINE, hypothesis=hypothesis, duration="3 d").summary()
    blocked = ks.simulate([KETAMINE, NALTREXONE], hypothesis=hypothesis, duration="3 d").summary()
    print(f"{hypothesis:10s} MADRS change at 24 h: {alone['madrs']['change_24h']:+.1f} alone, "
          f"{blocked['madrs']['change_24h']:+.1f} with naltrexone; peak CADSS "
          f"{alone['cadss']['cmax']:.1f} vs {blocked['cadss']['cmax']:.1f}")
