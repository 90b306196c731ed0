"""Layers L3-L5 on top of effect-site concentrations: receptor occupancy (competitive, all ligands at once),
MOR agonist signal (operational model), slow mediators (L4) and outcomes (L5).

Every function works on arrays over time (and, for populations, over subjects in the last axis), so one
code path serves a typical subject and a population. The slow states are linear in themselves given their
drive, so they are integrated exactly for drives interpolated by a parabola on each step between grid points
(from the neighbouring grid values: no extra evaluations; see `relax_reference`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from ketasim.mechanisms import MEDIATORS, Mechanism

LN2 = math.log(2.0)
SESSION_DRUGS = ("ketamine", "esketamine", "arketamine", "placebo")


def relax(t: np.ndarray, target: np.ndarray, k, x0) -> np.ndarray:
    """Solve dx/dt = k (u(t) - x) with u interpolated by a parabola on each step between grid points (k > 0,
    scalar or per subject); the convolution with e^{-k t} is integrated exactly on every step (phi-functions),
    so the only error is the interpolation of u: third/fourth order in the step where u is smooth, never
    interpolated across a kink. See `relax_reference` for the rule.

    Large arrays (or any array once numba is loaded) go through the compiled loop of
    `ketasim.solvers._numba_kernels.relax_kernel`; `relax_reference` is the same recurrence in NumPy and the
    reference it is tested against (agreement to rounding)."""
    target = np.asarray(target)
    if target.ndim in (1, 2) and len(target) > 1 and (target.size >= 50_000 or "numba" in sys.modules):
        try:
            from ketasim.solvers._numba_kernels import relax_compiled
        except ImportError:  # pragma: no cover - numba is a dependency
            return relax_reference(t, target, k, x0)
        out = relax_compiled(t, target, k, x0)
        if out is not None:
            return out
    return relax_reference(t, target, k, x0)


PHI_TAYLOR = 0.1  # |z| below which phi_1..4 come from their Taylor series (9 terms: error < 1e-15 relative)


def relax_coefficients(k, h):
    """(A1, A2, A3, rho) of one step of `relax` (length h, rate k; broadcasts): with z = -k h and phi_n the
    phi-functions, A1 = k h phi1(z), A2 = k h^2 phi2(z), A3 = k h^3 (2 phi3(z) - phi2(z)) (the weights of
    u_{i-1} - x_{i-1}, the slope and the curvature), and rho = h (6 phi4 - 2 phi3) / (2 phi3 - phi2) (-> h/2 as
    k h -> 0), which sets the weights of the two curvature estimates that reproduce the cubic."""
    kh = np.asarray(k, float) * np.asarray(h, float)
    h = np.asarray(h, float)
    z = -kh
    small = np.abs(z) < PHI_TAYLOR
    zs = np.where(small, z, 0.0)
    # Taylor series phi_n(z) = sum_j z^j / (j + n)!, Horner
    p1 = p2 = p3 = p4 = 0.0
    for j in range(8, -1, -1):
        p1 = p1 * zs + 1.0 / math.factorial(j + 1)
        p2 = p2 * zs + 1.0 / math.factorial(j + 2)
        p3 = p3 * zs + 1.0 / math.factorial(j + 3)
        p4 = p4 * zs + 1.0 / math.factorial(j + 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        zl = np.where(small, 1.0, z)
        q1 = np.expm1(zl) / zl
        q2 = (q1 - 1.0) / zl
        q3 = (q2 - 0.5) / zl
        q4 = (q3 - 1.0 / 6.0) / zl
    p1 = np.where(small, p1, q1)
    p2 = np.where(small, p2, q2)
    p3 = np.where(small, p3, q3)
    p4 = np.where(small, p4, q4)
    c2 = 2.0 * p3 - p2
    return kh * p1, kh * h * p2, kh * h * h * c2, h * (6.0 * p4 - 2.0 * p3) / c2


def relax_reference(t: np.ndarray, target: np.ndarray, k, x0) -> np.ndarray:
    """`relax` as a plain NumPy loop over time (the reference).

    On the step [t_{i-1}, t_i] (length h, slope s of u) u is taken as the parabola
    u_{i-1} + s tau + c tau (tau - h), and x_i = x_{i-1} + A1 (u_{i-1} - x_{i-1}) + A2 s + A3 c
    (`relax_coefficients`) is exact for it. c blends the second divided differences cb of (t_{i-2}, t_{i-1}, t_i)
    and cf of (t_{i-1}, t_i, t_{i+1}): c = (gb |cf| cb + gf |cb| cf) / (gb |cf| + gf |cb|) with
    gf = (t_{i-1} - t_{i-2} + rho) / (t_{i+1} - t_{i-2}), gb = 1 - gf. The weights gb, gf make gb cb + gf cf
    reproduce the cubic through the four points (fourth order) where cb ~ cf (smooth u); where one of them is
    much larger (a kink in the drive at t_{i-1} or t_i, e.g. an infusion's start or end) its weight vanishes,
    and c is 0 where they differ in sign (a van Leer harmonic mean: |c| <= max(1/gb, 1/gf) min(|cb|, |cf|), so
    a kink is never interpolated across). One-sided steps (first, last, next to a zero-length step) use the one
    parabola available; a single step, the linear rule."""
    t = np.asarray(t, float)
    u = np.asarray(target, float)
    x = np.empty_like(u)
    T = len(t)
    if T == 0:
        return x
    x[0] = x0
    k = np.asarray(k, float)
    for i in range(1, T):
        h = t[i] - t[i - 1]
        if h <= 0:
            x[i] = x[i - 1]
            continue
        a1, a2, a3, rho = relax_coefficients(k, h)
        s = (u[i] - u[i - 1]) / h
        back = i >= 2 and t[i - 1] - t[i - 2] > 0
        fwd = i + 1 < T and t[i + 1] - t[i] > 0
        if back:
            cb = (s - (u[i - 1] - u[i - 2]) / (t[i - 1] - t[i - 2])) / (t[i] - t[i - 2])
        if fwd:
            cf = ((u[i + 1] - u[i]) / (t[i + 1] - t[i]) - s) / (t[i + 1] - t[i - 1])
        if back and fwd:
            gf = np.clip((t[i - 1] - t[i - 2] + rho) / (t[i + 1] - t[i - 2]), 0.0, 1.0)
            wb = (1.0 - gf) * np.abs(cf)
            wf = gf * np.abs(cb)
            den = wb + wf
            c = np.where(den > 0, (wb * cb + wf * cf) / np.where(den > 0, den, 1.0), 0.0)
        elif back:
            c = cb
        elif fwd:
            c = cf
        else:
            c = 0.0
        x[i] = x[i - 1] + a1 * (u[i - 1] - x[i - 1]) + a2 * s + a3 * c
    return x


def accumulate(t, drive, k_form, k_decay, baseline=1.0):
    """dX/dt = k_form * drive(t) - k_decay (X - baseline), X(t0) = baseline."""
    return relax(t, baseline + k_form * drive / k_decay, k_decay, baseline)


@dataclass(frozen=True)
class PDParams:
    v: dict

    def __getitem__(self, k):
        return self.v[k]


def pd_parameters(p, mech: Mechanism) -> PDParams:
    g = p.value
    src = mech.opioid_source
    v = {
        "bf": g("biophase.brain_factor"),
        "Ki_nmda_S": g("nmda.Ki_S_ketamine"), "Ki_nmda_R": g("nmda.Ki_R_ketamine"),
        "Ki_nmda_NKS": g("nmda.Ki_S_norketamine"), "Ki_nmda_NKR": g("nmda.Ki_R_norketamine"),
        "Ki_nmda_HNK": g("nmda.IC50_hnk"),
        "Ki_mor_S": g("mor.Ki_S_ketamine"), "Ki_mor_R": g("mor.Ki_R_ketamine"),
        "Ki_kor_S": g("kor.Ki_S_ketamine"), "Ki_kor_R": g("kor.Ki_R_ketamine"),
        "Ki_mor_ntx": g("mor.Ki_naltrexone"),
        "Ki_mor_nxl": g("mor.Ki_naltrexone") * g("mor.naltrexol_Ki_ratio"),
        "Ki_kor_ntx": g("mor.Ki_naltrexone") * g("kor.naltrexone_Ki_ratio"),
        "Ki_kor_nxl": g("mor.Ki_naltrexone") * g("mor.naltrexol_Ki_ratio") * g("kor.naltrexol_Ki_ratio"),
        "glu_occ50": g("glutamate.occupancy50"), "glu_hill": g("glutamate.hill"),
        "k_form": g("mediator.formation_rate"), "k_med": LN2 / g("mediator.t_half"),
        "ampa_EC50": g("hnk_ampa.EC50"),
        "basal": g("opioid.basal_tone"), "tau_endo": g("opioid.tau_endogenous"),
        "k_endo": LN2 / g("opioid.endogenous_t_half"),
        # MOR drive by source: measured pharmacology unless the hypothesis says otherwise
        "tau_ket": g("opioid.tau_ketamine_measured"), "hnk_binds": 0.0, "Ki_mor_HNK": 1.0, "tau_hnk": 0.0,
        "endo_gain": 0.0,
        "X50": {"plasticity_glutamate": g("glutamate.X50"), "plasticity_hnk": g("hnk_ampa.X50"),
                "opioid_signal": g("opioid.X50")},
        "weights": mech.weights(p),
        "plasticity_source": mech.plasticity_source,
        "cadss_Emax": g("dissociation.Emax"), "cadss_occ50": g("dissociation.occupancy50"),
        "cadss_hill": g("dissociation.hill"), "tol_max": g("dissociation.tolerance_max"),
        "k_tol": LN2 / g("dissociation.tolerance_t_half"),
        "eu_C50": g("euphoria.C50"), "eu_R": g("euphoria.R_potency"),
        "hamd_per_madrs": g("mood.hamd_per_madrs"), "k_mood": LN2 / g("mood.response_t_half"),
        "mood_Emax": g("mood.Emax"),
        "pl_saline": g("placebo.saline"), "pl_active": g("placebo.active"),
        "k_pl": LN2 / g("placebo.onset_t_half"),
        "pl_oral_ad": g("placebo.oral_ad"), "k_ad": LN2 / g("placebo.oral_ad_t_half"),
    }
    if src == "hnk_mor":
        v.update(hnk_binds=1.0, Ki_mor_HNK=g("opioid.hnk_Ki_mor"), tau_hnk=g("opioid.hnk_tau"))
    elif src == "ketamine_mor":
        v.update(tau_ket=g("opioid.ketamine_tau"))
    elif src == "endogenous":
        v.update(endo_gain=g("opioid.endogenous_gain"))
    return PDParams(v)


@dataclass(frozen=True)
class Context:
    """What surrounds the drug: expectation level, when sessions happen, background oral antidepressant."""

    expectation: str = "active"          # 'none', 'saline', 'active'
    session_times_h: tuple[float, ...] = ()
    oral_ad_start_h: float | None = None
    baseline_madrs: float | None = None  # None: the parameter's typical value


def compute_pd(t: np.ndarray, ce: dict[str, np.ndarray], q: PDParams, ctx: Context,
               baseline_madrs) -> dict[str, np.ndarray]:
    """All L3-L5 outputs on the grid t. `ce` holds effect-site concentrations in µM (plasma-equivalent):
    ketamine_S, ketamine_R, norketamine_S, norketamine_R, hnk, naltrexone, naltrexol."""
    bf = q["bf"]
    kS, kR = bf * ce["ketamine_S"], bf * ce["ketamine_R"]
    nkS, nkR, hnk = bf * ce["norketamine_S"], bf * ce["norketamine_R"], bf * ce["hnk"]
    ntx, nxl = ce["naltrexone"], ce["naltrexol"]  # apparent brain concentrations (calibrated with their Ki)

    # L3 NMDA: channel blockers compete for the PCP site
    x_nmda = kS / q["Ki_nmda_S"] + kR / q["Ki_nmda_R"] + nkS / q["Ki_nmda_NKS"] + nkR / q["Ki_nmda_NKR"] \
        + hnk / q["Ki_nmda_HNK"]
    nmda_occ = x_nmda / (1.0 + x_nmda)
    h = q["glu_hill"]
    surge = nmda_occ ** h / (q["glu_occ50"] ** h + nmda_occ ** h)

    # endogenous opioid tone (baseline 1), raised by the surge only under the 'endogenous' account
    endo = accumulate(t, surge * q["endo_gain"], q["k_endo"], q["k_endo"], baseline=1.0)

    # L3 MOR: agonists (ketamine S/R, HNK if it binds, endogenous) and antagonists compete
    x_ket = kS / q["Ki_mor_S"] + kR / q["Ki_mor_R"]
    x_hnk = q["hnk_binds"] * hnk / q["Ki_mor_HNK"]
    x_endo = q["basal"] * endo
    y_ant = ntx / q["Ki_mor_ntx"] + nxl / q["Ki_mor_nxl"]
    denom = 1.0 + x_ket + x_hnk + x_endo + y_ant
    stim = (q["tau_ket"] * x_ket + q["tau_hnk"] * x_hnk + q["tau_endo"] * x_endo) / denom
    effect = stim / (1.0 + stim)
    stim0 = q["tau_endo"] * q["basal"] / (1.0 + q["basal"])
    effect0 = stim0 / (1.0 + stim0)
    mor_signal = effect / effect0
    mor_occ = (x_ket + x_hnk + y_ant) / (1.0 + x_ket + x_hnk + x_endo + y_ant)
    x_kor = kS / q["Ki_kor_S"] + kR / q["Ki_kor_R"] + ntx / q["Ki_kor_ntx"] + nxl / q["Ki_kor_nxl"]
    kor_occ = x_kor / (1.0 + x_kor)

    # L4 mediators (baseline 1)
    kf, km = q["k_form"], q["k_med"]
    p_glu = accumulate(t, surge, kf, km)
    ampa = hnk / (q["ampa_EC50"] + hnk)
    p_hnk = accumulate(t, ampa, kf, km)
    opioid = accumulate(t, np.maximum(mor_signal - 1.0, 0.0), kf, km)
    mediators = {"plasticity_glutamate": p_glu, "plasticity_hnk": p_hnk, "opioid_signal": opioid}

    # L5 immediate effects
    hc = q["cadss_hill"]
    diss_drive = nmda_occ ** hc / (q["cadss_occ50"] ** hc + nmda_occ ** hc)
    tol = accumulate(t, diss_drive, 1.0, q["k_tol"], baseline=0.0)
    cadss = q["cadss_Emax"] * q.v.get("cadss_scale", 1.0) * diss_drive * (1.0 - q["tol_max"] * tol / (1.0 + tol))
    s_eq = kS + q["eu_R"] * kR
    euphoria = 100.0 * s_eq / (q["eu_C50"] + s_eq)

    # L5 mood: the mechanism's weighted, normalised mediator excess drives a fractional reduction
    z = np.zeros_like(p_glu)
    for m, w in q["weights"].items():
        if m not in MEDIATORS:
            raise ValueError(f"mechanism weight on unknown mediator {m!r}")
        z = z + w * (mediators[m] - 1.0) / q["X50"][m]
    z = z * q.v.get("drive_scale", 1.0)  # between-subject sensitivity to the mediator (populations)
    drug_effect = q["mood_Emax"] * z / (1.0 + z)
    expectation = _expectation(t, q, ctx, population=np.ndim(p_glu) == 2)
    target = baseline_madrs * (1.0 - expectation) * (1.0 - drug_effect)
    madrs = relax(t, target, q["k_mood"], baseline_madrs)
    return {
        "nmda_occupancy": nmda_occ, "mor_occupancy": mor_occ, "kor_occupancy": kor_occ,
        "mor_agonist_signal": mor_signal, "plasticity": mediators[q["plasticity_source"]],
        "opioid_signal": opioid, "cadss": cadss, "euphoria": euphoria, "madrs": madrs,
        "hamd17": madrs * q["hamd_per_madrs"],
        # internal, useful for reports
        "glutamate_surge": surge, "plasticity_glutamate": p_glu, "plasticity_hnk": p_hnk,
        "endogenous_opioid": endo, "antidepressant_drive": drug_effect, "expectation": expectation,
    }


def _expectation(t, q, ctx: Context, population: bool = False):
    """Fractional severity reduction from expectation and background treatment. Levels may be per subject."""
    tt = t[:, None] if population else t
    scale = q.v.get("placebo_scale", 1.0)
    frac = np.zeros_like(tt * np.asarray(scale), dtype=float)
    level = {"none": 0.0, "saline": q["pl_saline"], "active": q["pl_active"]}[ctx.expectation]
    if ctx.session_times_h and ctx.expectation != "none":
        t0 = min(ctx.session_times_h)
        rise = np.where(tt >= t0, 1.0 - np.exp(-q["k_pl"] * np.clip(tt - t0, 0, None)), 0.0)
        frac = np.clip(level * scale, 0.0, 0.95) * rise
    if ctx.oral_ad_start_h is not None:
        t_ad = ctx.oral_ad_start_h
        rise = np.where(tt >= t_ad, 1.0 - np.exp(-q["k_ad"] * np.clip(tt - t_ad, 0, None)), 0.0)
        ad = np.clip(q["pl_oral_ad"] * scale, 0.0, 0.95) * rise
        frac = 1.0 - (1.0 - frac) * (1.0 - ad)
    return frac
