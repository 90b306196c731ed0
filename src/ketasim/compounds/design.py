"""Inverse design: which receptor profile (and dose) would give the most lasting antidepressant benefit while
dissociation (CADSS peak) and drug liking stay below thresholds, under each hypothesis and robustly (the worst
hypothesis). A multi-objective search (NSGA-II, pymoo) over NMDA block (potency and trapping), MOR binding and
efficacy, AMPA potentiation and dose, for a compound with a template's pharmacokinetics.

The answer is only as good as the hypothesis it assumes: under the glutamate account the best profile blocks NMDA
without trapping; under the opioid accounts it agonises MOR; under the null account nothing helps.

How it is fast: the template's PK is linear, so its effect-site time course is solved once for 1 mg and scaled by
each candidate's dose; the candidates are the "subjects" of one vectorised evaluation of the PD layers per
hypothesis (their profile numbers are per-subject sources of a design variant of the model).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ketasim.mechanisms import Mechanism
from ketasim.models.spec import Node, Source, signal

from ._variant import compound_liking, liking_ratio_node

NOTE = ("The best profile under a hypothesis is what that hypothesis rewards: the answer is only as good as the "
        "hypothesis it assumes (and the template's PK and the assumed relations of dissociation and liking). "
        "Robust mode asks for the profile whose worst case over the drug hypotheses is best. Research software, "
        "not a dosing tool.")

# decision variables: name, low, high, what
VARIABLES = (
    ("log10_dose_mg", 0.0, 3.0, "dose per session (log10 mg)"),
    ("log10_nmda_ki_uM", -1.5, 3.5, "NMDA channel-block potency (log10 uM; 3.5: practically none)"),
    ("nmda_trapping", 0.2, 0.95, "NMDA trapping (share of blocked channels kept on closing)"),
    ("log10_mor_ki_uM", -4.0, 2.5, "MOR binding (log10 uM; 2.5: practically none)"),
    ("mor_tau", 0.0, 8.0, "MOR operational efficacy (0 antagonist; endogenous opioids 5)"),
    ("log10_ampa_ec50_uM", -2.0, 3.5, "AMPA potentiation half-effect concentration (log10 uM; 3.5: none)"),
)


def design_brain(ce_design, brain_factor):
    return brain_factor * ce_design


def times_source(brain_design, weight):
    return brain_design * weight


def times_two(brain_design, a, b):
    return brain_design * a * b


DESIGN_SOURCES = (
    Source("ce_design", "effect_site", "uM", "designed compound, effect site (plasma-equivalent)"),
    Source("design_nmda", "subject", "1/uM", "designed compound: 1 / NMDA Ki", default=0.0),
    Source("design_nmda_weight", "subject", "dimensionless", "designed compound: trapped-block weight",
           default=0.0),
    Source("design_mor", "subject", "1/uM", "designed compound: 1 / MOR Ki", default=0.0),
    Source("design_mor_tau", "subject", "dimensionless", "designed compound: MOR efficacy", default=0.0),
    Source("design_ampa", "subject", "1/uM", "designed compound: 1 / AMPA EC50", default=0.0),
)


def design_nodes(brain_factor_key: str) -> list[Node]:
    r = dict(layer="L3", replaces=True)
    return [
        signal("brain_design", design_brain, params={"brain_factor": brain_factor_key}, unit="uM", layer="L2",
               label="designed compound, brain (unbound)"),
        signal("nmda_extra_ratio", times_source, inputs={"weight": "design_nmda"}, label="designed compound at NMDA",
               **r),
        signal("nmda_extra_dissociative_ratio", times_two, inputs={"a": "design_nmda", "b": "design_nmda_weight"},
               label="designed compound's trapped block", **r),
        signal("mor_extra_ratio", times_source, inputs={"weight": "design_mor"}, label="designed compound at MOR",
               **r),
        signal("mor_extra_stimulus", times_two, inputs={"a": "design_mor", "b": "design_mor_tau"},
               label="designed compound's MOR stimulus", **r),
        signal("ampa_extra_ratio", times_source, inputs={"weight": "design_ampa"},
               label="designed compound's AMPA potentiation", **r),
        signal("compound_liking", compound_liking,
               params={"scale_max": "euphoria.scale_max", "ratio50": "liking.nmda_ratio50",
                       "stimulus50": "liking.mor_stimulus50"}, unit="VAS_point", layer="L5", label="drug liking"),
    ]


@dataclass(frozen=True)
class DesignVariant(Mechanism):
    """A hypothesis with a designed compound whose receptor profile is a per-subject input (one candidate per
    subject)."""

    base: Mechanism = None
    brain_factor_key: str = ""

    def nodes(self):
        return list(self.base.nodes()) + design_nodes(self.brain_factor_key) + [liking_ratio_node()]

    def extra_sources(self):
        return DESIGN_SOURCES

    def parameters(self):
        return self.base.parameters()

    def label(self):
        return self.base.label()


@dataclass
class DesignProblem:
    """The default problem: a template's PK, a regimen of sessions, thresholds, the hypotheses."""

    template: str = "lanicemine"
    sessions: str = "every 3.5 d for 4 doses"
    infusion: str = "40 min"
    duration_h: float = 14 * 24.0
    cadss_max: float = 4.0
    liking_max: float = 20.0
    population: int = 40
    generations: int = 25
    seed: int = 1
    hypotheses: tuple = ()
    notes: list = field(default_factory=list)


class _Evaluator:
    """Every candidate's outcomes under one hypothesis in one vectorised PD evaluation."""

    def __init__(self, problem: DesignProblem):
        import ketasim.solvers._numba_kernels  # noqa: F401  (compiled integrator of the slow states)
        from ketasim.compounds import get_compound
        from ketasim.mechanisms import get_mechanism
        from ketasim.parameters import default_parameters
        from ketasim.population import population_grid
        from ketasim.regimens import Regimen
        from ketasim.simulation import Simulation

        tpl = get_compound(problem.template)
        if tpl.native:
            raise ValueError(f"--template must be a compound with its own PK (not the built-in {tpl.name})")
        sp = next((s for s in tpl.components if s.spec.brain is not None), None)
        if sp is None:
            raise ValueError(f"template {tpl.name} has no species with a brain (effect-site) description")
        route = "iv" if "iv" in tpl.routes() else tpl.routes()[0]
        over = f" over {problem.infusion}" if route == "iv" else ""
        self.regimen_text = f"{tpl.name} DOSE mg {route}{over} {problem.sessions}".strip()
        regimen = Regimen.from_text(self.regimen_text.replace("DOSE", "1"))
        self.params = default_parameters() | tpl.parameters()
        null = get_mechanism("null")
        sim = Simulation(regimen, self.params)
        t = population_grid(regimen, problem.duration_h, step_h=1.0)
        with warnings.catch_warnings():   # 1 mg of the template: the PK is linear, every dose scales it
            warnings.simplefilter("ignore")
            pk = sim.pk_solution(f"{problem.duration_h} h", mechanism=null)
        self.t = t
        ce = {k: np.interp(t, pk.time_h, np.asarray(v, float)) for k, v in pk.effect_sites.items()}
        self.ce_unit = ce[sp.source_name]          # µM per mg
        self.session_memory = ce["session_memory"]
        self.factor_key = f"{tpl.key(sp.name)}.brain.factor"
        self.factor_value = self.params.value(sp.keys["brain.free_fraction"]) * self.params.value(
            sp.keys["brain.partition"])
        self.params_with_factor = self.params | _factor_set(self.factor_key, self.factor_value)
        self.native_sources = [k for k in ce if k not in (sp.source_name,)]
        # placebo: the same sessions without pharmacology (expectation only), the same for every candidate
        placebo = sim.pd_outputs(pk, null, wanted=["madrs"])
        self.placebo_madrs = np.interp(t, pk.time_h, placebo["madrs"])
        self.ctx = sim.context().values()
        self.first = min(d.time_h for d in regimen.realize())
        self.template = tpl

    def outcomes(self, X: np.ndarray, mechanism) -> dict[str, np.ndarray]:
        from ketasim.compounds._compound import trapped_block_weight
        from ketasim.models.pd import pd_model
        from ketasim.solvers.reference import evaluate, subject_values

        N = len(X)
        dose = 10.0 ** X[:, 0]
        mech = DesignVariant(mechanism, self.factor_key)
        params = mech.with_parameters(self.params_with_factor)
        pdm = pd_model(mech, params)
        values = pdm.values(params, self.ctx)
        T = len(self.t)
        es = {k: np.zeros((T, N)) for k in self.native_sources}
        es["session_memory"] = np.broadcast_to(self.session_memory[:, None], (T, N)).copy()
        es["ce_design"] = self.ce_unit[:, None] * dose[None, :]
        w = trapped_block_weight(X[:, 2], self.params.value("nmda.trapping_ketamine"),
                                 self.params.value("dissociation.block_per_opening"))
        subj = {"design_nmda": 10.0 ** -X[:, 1], "design_nmda_weight": w, "design_mor": 10.0 ** -X[:, 3],
                "design_mor_tau": X[:, 4], "design_ampa": 10.0 ** -X[:, 5]}
        out = evaluate(pdm, self.t, es, subject_values(pdm, subj, values), values,
                       wanted=["madrs", "cadss", "compound_liking", "nmda_occupancy", "mor_occupancy",
                               "mor_agonist_signal", "ampa_activation", "mor_extra_ratio"])
        benefit = out["madrs"][-1] - self.placebo_madrs[-1]
        return {"benefit": benefit, "cadss_peak": out["cadss"].max(axis=0),
                "liking_peak": np.minimum(out["compound_liking"].max(axis=0), 100.0),
                "nmda_occupancy_peak": out["nmda_occupancy"].max(axis=0),
                "mor_occupancy_peak": out["mor_occupancy"].max(axis=0),
                "ampa_peak": out["ampa_activation"].max(axis=0),
                "mor_ratio_peak": out["mor_extra_ratio"].max(axis=0),
                "opioid_load_h": np.trapezoid(np.maximum(out["mor_agonist_signal"] - 1.0, 0.0), self.t, axis=0)}


def _factor_set(key: str, value: float):
    from ketasim.parameters import Parameter, ParameterSet

    return ParameterSet({key: Parameter(key, value, "dimensionless", "assumption", "derived", value, value,
                                        "template species: free fraction x partition", "fixed", value)},
                        ("design template",))


def _solve(ev: _Evaluator, mechs: list, problem: DesignProblem, robust: bool, progress=None, done=0, total=1):
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.optimize import minimize

    lo = np.array([v[1] for v in VARIABLES])
    hi = np.array([v[2] for v in VARIABLES])
    record = {}

    class _P(Problem):
        def __init__(self):
            super().__init__(n_var=len(VARIABLES), n_obj=2, n_ieq_constr=2, xl=lo, xu=hi)

        def _evaluate(self, X, out, *args, **kwargs):
            results = [ev.outcomes(X, m) for m in mechs]
            benefit = np.max([r["benefit"] for r in results], axis=0)     # robust: the worst hypothesis
            cadss = np.max([r["cadss_peak"] for r in results], axis=0)
            liking = np.max([r["liking_peak"] for r in results], axis=0)
            side = np.maximum(cadss / problem.cadss_max, liking / problem.liking_max)
            out["F"] = np.column_stack([benefit, side])
            out["G"] = np.column_stack([cadss - problem.cadss_max, liking - problem.liking_max])
            record["last"] = (X, results)
            if progress:
                record["n"] = record.get("n", 0) + 1
                progress(min(done + record["n"], total), total)

    res = minimize(_P(), NSGA2(pop_size=problem.population), ("n_gen", problem.generations), seed=problem.seed,
                   verbose=False)
    X = res.X if res.X is not None else np.empty((0, len(VARIABLES)))
    X = np.atleast_2d(X)
    rows = []
    if len(X):
        results = [ev.outcomes(X, m) for m in mechs]
        for i, x in enumerate(X):
            row = {v[0]: float(x[j]) for j, v in enumerate(VARIABLES)}
            row["dose_mg"] = float(10 ** x[0])
            row["nmda_ki_uM"] = float(10 ** x[1])
            row["mor_ki_uM"] = float(10 ** x[3])
            row["ampa_ec50_uM"] = float(10 ** x[5])
            for key in ("benefit", "cadss_peak", "liking_peak", "nmda_occupancy_peak", "mor_occupancy_peak",
                        "opioid_load_h", "ampa_peak", "mor_ratio_peak"):
                # robust mode: the worst hypothesis (occupancies do not depend on it but for HNK at MOR)
                row[key] = float(max(r[key][i] for r in results))
            rows.append(row)
    rows.sort(key=lambda r: r["benefit"])
    return rows


FEATURES = {"NMDA block": (1, 3.5), "MOR action": (3, 2.5), "AMPA potentiation": (5, 3.5)}


def _benefit(ev, mechs, X) -> np.ndarray:
    return np.max([ev.outcomes(X, m)["benefit"] for m in mechs], axis=0)


def needed_features(ev, mechs, rows: list[dict]) -> dict[str, float]:
    """For each receptor action: the share of the profiles in `rows` whose benefit shrinks by more than a tenth
    (and half a MADRS point) when that action is removed (its potency set to 'practically none')."""
    X = np.array([[r[v[0]] for v in VARIABLES] for r in rows])
    base = _benefit(ev, mechs, X)
    out = {}
    for name, (col, off) in FEATURES.items():
        Xo = X.copy()
        Xo[:, col] = off
        loss = _benefit(ev, mechs, Xo) - base      # > 0: worse without it
        out[name] = float(np.mean((loss > 0.5) & (loss > 0.1 * np.abs(base))))
    return out


def summarise(rows: list[dict], problem: DesignProblem, ev=None, mechs=()) -> dict:
    """What the best feasible profiles (the best quarter of the feasible front) have in common: the receptor
    actions they need (removing one costs more than a tenth of the benefit in at least three quarters of them),
    described by the medians of those that have them."""
    feasible = [r for r in rows if r["cadss_peak"] <= problem.cadss_max + 1e-9 and
                r["liking_peak"] <= problem.liking_max + 1e-9]
    if not feasible:
        return {"n_front": len(rows), "n_feasible": 0, "text": "no profile met the thresholds"}
    best = sorted(feasible, key=lambda r: r["benefit"])[:max(1, len(feasible) // 4)]
    med = {k: float(np.median([r[k] for r in best])) for k in best[0]}
    doc = {"n_front": len(rows), "n_feasible": len(feasible), "best_median": med,
           "best_benefit_madrs": float(min(r["benefit"] for r in feasible))}
    if med["benefit"] > -0.5:
        doc["text"] = ("no profile beats placebo by half a MADRS point: the hypothesis gives the drug's "
                       "pharmacology no antidepressant role")
        return doc
    need = needed_features(ev, mechs, best) if ev is not None else {}
    doc["needed_share"] = need
    parts = []
    for name, share in need.items():
        if share < 0.75:
            parts.append(f"no {name}" if share <= 0.25 else f"{name} in some ({100 * share:.0f} %)")
            continue
        if name == "NMDA block":
            trap = med["nmda_trapping"]
            parts.append(f"NMDA block to a peak occupancy of about {med['nmda_occupancy_peak']:.2f}, trapping about "
                         f"{trap:.2f}" + (" (low: little dissociation)" if trap < 0.6 else ""))
        elif name == "MOR action":
            tau = med["mor_tau"]
            kind = "antagonism" if tau < 0.3 else ("partial agonism" if tau < 5.0 else "agonism")
            parts.append(f"MOR {kind}" + (f", tau about {tau:.1f}" if tau >= 0.3 else "")
                         + f", peak MOR occupancy about {med['mor_occupancy_peak']:.2f}")
        else:
            parts.append(f"AMPA potentiation (peak activation about {med['ampa_peak']:.2f})")
    binding = []
    if med["cadss_peak"] >= 0.9 * problem.cadss_max:
        binding.append("the CADSS threshold binds")
    if med["liking_peak"] >= 0.9 * problem.liking_max:
        binding.append("the liking threshold binds")
    if binding:
        parts.append(" and ".join(binding))
    doc["text"] = "; ".join(parts)
    return doc


def design(problem: DesignProblem | None = None, progress=None) -> dict:
    """The front and its summary under each hypothesis and in robust mode (the worst over the drug hypotheses)."""
    from ketasim.mechanisms import get_mechanism
    from ketasim.trials import default_variants

    problem = problem or DesignProblem()
    t0 = time.perf_counter()
    ev = _Evaluator(problem)
    variants = problem.hypotheses or tuple(default_variants())
    labelled = [(h if s is None else f"{h}[{s}]", get_mechanism(h, s)) for h, s in variants]
    drug = [(lab, m) for lab, m in labelled if m.key != "null"]
    runs = [(lab, [m]) for lab, m in labelled] + [("robust", [m for _, m in drug])]
    total = len(runs) * (problem.generations + 1)
    out = {}
    for i, (lab, mechs) in enumerate(runs):
        rows = _solve(ev, mechs, problem, lab == "robust", progress, i * (problem.generations + 1), total)
        out[lab] = {"front": rows, "summary": summarise(rows, problem, ev, mechs)}
    return {
        "problem": {"template": problem.template, "regimen": ev.regimen_text, "duration_h": problem.duration_h,
                    "cadss_max": problem.cadss_max, "liking_max": problem.liking_max,
                    "population": problem.population, "generations": problem.generations, "seed": problem.seed,
                    "variables": [{"name": v[0], "low": v[1], "high": v[2], "what": v[3]} for v in VARIABLES],
                    "objectives": ["benefit: MADRS minus placebo at the end (minimise; negative = better; robust: "
                                   "the worst drug hypothesis)",
                                   "side-effect load: max(CADSS peak / its threshold, liking peak / its threshold)"],
                    "constraints": [f"CADSS peak <= {problem.cadss_max:g} points",
                                    f"drug liking peak <= {problem.liking_max:g} (VAS 0-100)"],
                    "robust": "the worst over " + ", ".join(lab for lab, _ in drug)},
        "hypotheses": out, "wall_s": time.perf_counter() - t0, "note": NOTE,
    }


def plot_design(doc: dict, path=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hyps = doc["hypotheses"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    for i, (lab, h) in enumerate(hyps.items()):
        fr = h["front"]
        if not fr:
            continue
        x = [r["cadss_peak"] for r in fr]
        y = [r["benefit"] for r in fr]
        ax.plot(x, y, "o-" if lab == "robust" else ".-", color="k" if lab == "robust" else f"C{i}", lw=1.0,
                ms=4, label=lab)
    ax.axvline(doc["problem"]["cadss_max"], color="0.5", ls=":", lw=0.8)
    ax.set_xlabel("CADSS peak (points)")
    ax.set_ylabel("MADRS vs placebo at the end (points; lower = better)")
    ax.set_title("Front: lasting benefit against dissociation (liking within its threshold)", fontsize=9, loc="left")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[1]
    ax.axis("off")
    lines = [f"{lab}: {h['summary']['text']}" for lab, h in hyps.items()]
    ax.text(0.0, 1.0, "What the best profiles have in common\n\n" + "\n\n".join(lines), va="top", fontsize=7.5,
            wrap=True, transform=ax.transAxes)
    fig.suptitle(f"Inverse design ({doc['problem']['regimen'].replace('DOSE', 'D')}, {doc['problem']['template']} "
                 "PK). The answer is only as good as the hypothesis it assumes. Research software, not dosing advice.",
                 fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
