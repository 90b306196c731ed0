"""Relapse as an outcome: per subject, the time from response to loss of response, and the Kaplan-Meier
summary of a population (lifelines' estimator, not a hand-written one).

Definition (as the ketamine series trials define it): a subject *responds* when MADRS is at most (1 - r) times
its baseline at the response time (r = 0.5: a >= 50 % reduction); it *relapses* at the first later time its
MADRS is above that threshold again (loss of response). Subjects who do not respond are left out; subjects who
have not relapsed by the end are censored there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

RELAPSE_DEFINITION = ("response: MADRS <= (1 - {r:g}) x baseline at the response time; relapse: the first later "
                      "time MADRS is above that threshold again (loss of response); non-responders excluded, "
                      "no relapse by the end = censored")


@dataclass
class RelapseSummary:
    definition: str
    response_time_h: float
    responders: int
    subjects: int
    events: int
    median_days: float | None          # None where fewer than half relapsed by the end
    median_ci95_days: tuple[float | None, float | None]
    relapsed_by: dict[str, float]     # e.g. {"28 d": 0.4, "180 d": 0.9} (Kaplan-Meier)
    curve: pd.DataFrame               # time_d, survival, ci_lower, ci_upper, at_risk, events
    per_subject: pd.DataFrame         # id, responder, time_d, relapsed

    def to_dict(self) -> dict:
        return {"definition": self.definition, "response_time_h": self.response_time_h,
                "responders": self.responders, "subjects": self.subjects, "relapses": self.events,
                "median_time_to_relapse_d": self.median_days,
                "median_ci95_d": list(self.median_ci95_days), "relapsed_by": self.relapsed_by}


def relapse_times(t: np.ndarray, madrs: np.ndarray, response_time_h: float, reduction: float = 0.5):
    """(responder, time from response to relapse in days, relapsed) per subject; madrs is (T, N), baseline its
    first row."""
    t = np.asarray(t, float)
    y = np.asarray(madrs, float)
    if y.ndim == 1:
        y = y[:, None]
    base = y[0]
    threshold = (1.0 - reduction) * base
    i0 = int(np.argmin(np.abs(t - response_time_h)))
    responder = y[i0] <= threshold
    after = y[i0:] > threshold[None, :]
    relapsed = after.any(axis=0) & responder
    first = np.where(relapsed, after.argmax(axis=0), len(t) - 1 - i0)
    time_d = (t[i0 + first] - t[i0]) / 24.0
    return responder, time_d, relapsed


def relapse_summary(t, madrs, ids, response_time_h: float, reduction: float = 0.5,
                    at_days=(28, 90, 180)) -> RelapseSummary:
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    responder, time_d, relapsed = relapse_times(t, madrs, response_time_h, reduction)
    per = pd.DataFrame({"id": np.asarray(ids), "responder": responder, "time_d": time_d, "relapsed": relapsed})
    resp = per[per.responder]
    definition = RELAPSE_DEFINITION.format(r=reduction)
    if resp.empty:
        empty = pd.DataFrame(columns=["time_d", "survival", "ci_lower", "ci_upper", "at_risk", "events"])
        return RelapseSummary(definition, response_time_h, 0, len(per), 0, None, (None, None), {}, empty, per)
    km = KaplanMeierFitter()
    km.fit(resp.time_d, event_observed=resp.relapsed, label="no relapse")
    sf = km.survival_function_["no relapse"]
    ci = km.confidence_interval_survival_function_
    table = km.event_table
    curve = pd.DataFrame({"time_d": sf.index.to_numpy(float), "survival": sf.to_numpy(float),
                          "ci_lower": ci.iloc[:, 0].to_numpy(float), "ci_upper": ci.iloc[:, 1].to_numpy(float),
                          "at_risk": table["at_risk"].reindex(sf.index).to_numpy(),
                          "events": table["observed"].reindex(sf.index).to_numpy()})
    med = float(km.median_survival_time_)
    med_ci = median_survival_times(km.confidence_interval_)
    lo, hi = (float(med_ci.iloc[0, 0]), float(med_ci.iloc[0, 1]))
    # follow-up runs from the response time to the end of the simulation: a share is known up to there even where
    # every responder relapsed long before (the curve is flat at 0 after the last event)
    horizon = (float(np.asarray(t, float)[-1]) - response_time_h) / 24.0
    relapsed_by = {f"{d:g} d": float(1.0 - km.predict(d)) for d in at_days if d <= horizon + 1e-9}
    finite = lambda x: x if np.isfinite(x) else None  # noqa: E731
    return RelapseSummary(definition, response_time_h, int(responder.sum()), len(per), int(resp.relapsed.sum()),
                          finite(med), (finite(lo), finite(hi)), relapsed_by, curve, per)


def plot_relapse(summary: RelapseSummary, path=None, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    c = summary.curve
    if len(c):
        ax.step(c.time_d, c.survival, where="post", color="C0", lw=1.6, label="Kaplan-Meier")
        ax.fill_between(c.time_d, c.ci_lower, c.ci_upper, step="post", color="C0", alpha=0.2, lw=0,
                        label="95 % interval")
    if summary.median_days is not None:
        ax.axvline(summary.median_days, color="0.4", ls=":", lw=1)
        ax.text(summary.median_days, 0.52, f" median {summary.median_days:.0f} d", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("days since response")
    ax.set_ylabel("share still in response")
    ax.set_title(title or f"Relapse after response ({summary.responders} of {summary.subjects} responded)",
                 fontsize=9, loc="left")
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, "Research software, not a dosing tool.", fontsize=6, color="0.4")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
