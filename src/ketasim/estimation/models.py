"""Estimation models: linear mammillary PK (1-3 compartments, racemic ketamine in plasma) with an optional effect
compartment and an Emax PD endpoint, predicted in closed form for many subjects at once.

The system is the one `ketasim.models.pk.LinearBuilder` builds and `ketasim.solvers.linear.solve_linear`
integrates exactly (tests check the two agree to 1e-10); here each subject's rate matrix is diagonalised once,
A = V diag(lambda) V^-1, and every observation is a sum over doses and exponentials, so one prediction of
60 subjects with rich sampling takes well under a millisecond. Units: dose mg, volume L, clearance L/h,
concentration ng/mL (1000 x mg/L).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PK_PARAMETERS = {1: ("CL", "V1"), 2: ("CL", "V1", "Q2", "V2"), 3: ("CL", "V1", "Q2", "V2", "Q3", "V3")}
UNITS = {"CL": "L/h", "V1": "L", "Q2": "L/h", "V2": "L", "Q3": "L/h", "V3": "L", "KE0": "1/h", "EMAX": "points",
         "EC50": "ng/mL", "E0": "points"}
DESCRIPTIONS = {"CL": "clearance", "V1": "central volume", "Q2": "intercompartmental clearance, compartment 2",
                "V2": "volume of compartment 2", "Q3": "intercompartmental clearance, compartment 3",
                "V3": "volume of compartment 3", "KE0": "effect-site equilibration rate",
                "EMAX": "maximum effect", "EC50": "effect-site concentration at half the maximum", "E0": "baseline"}


@dataclass
class Design:
    """Observations and doses of many subjects, flattened. Times in h on each subject's clock."""

    ids: np.ndarray                 # (N,) subject ids
    obs_subject: np.ndarray         # (M,) index 0..N-1
    obs_time: np.ndarray            # (M,)
    dv: np.ndarray                  # (M,)
    dose_subject: np.ndarray        # (D,)
    dose_time: np.ndarray           # (D,)
    dose_mg: np.ndarray             # (D,)
    dose_duration: np.ndarray       # (D,) 0 = bolus
    pair_obs: np.ndarray = field(default=None)   # (P,) observation of each (observation, earlier dose) pair
    pair_dose: np.ndarray = field(default=None)  # (P,)

    def __post_init__(self):
        po, pd_ = [], []
        for d in range(len(self.dose_time)):
            m = np.flatnonzero((self.obs_subject == self.dose_subject[d]) & (self.obs_time >= self.dose_time[d]))
            po.append(m)
            pd_.append(np.full(len(m), d))
        self.pair_obs = np.concatenate(po) if po else np.zeros(0, np.int64)
        self.pair_dose = np.concatenate(pd_) if pd_ else np.zeros(0, np.int64)

    def replicate(self, k: int) -> "Design":
        """k stacked copies (subjects c*N + i): one model call predicts k parameter sets, e.g. for derivatives."""
        N, D = self.n_subjects, len(self.dose_time)
        rep = Design.__new__(Design)
        rep.ids = np.tile(self.ids, k)
        rep.obs_subject = np.concatenate([self.obs_subject + c * N for c in range(k)])
        rep.obs_time = np.tile(self.obs_time, k)
        rep.dv = np.tile(self.dv, k)
        rep.dose_subject = np.concatenate([self.dose_subject + c * N for c in range(k)])
        rep.dose_time = np.tile(self.dose_time, k)
        rep.dose_mg = np.tile(self.dose_mg, k)
        rep.dose_duration = np.tile(self.dose_duration, k)
        M = len(self.obs_time)
        rep.pair_obs = np.concatenate([self.pair_obs + c * M for c in range(k)])
        rep.pair_dose = np.concatenate([self.pair_dose + c * D for c in range(k)])
        return rep

    @property
    def n_subjects(self) -> int:
        return len(self.ids)

    def counts(self) -> np.ndarray:
        return np.bincount(self.obs_subject, minlength=self.n_subjects)


def pk_matrix(params: dict[str, np.ndarray], n_cmt: int, ke0: np.ndarray | None = None) -> np.ndarray:
    """Rate matrices (N, n, n) of amounts (central, peripheral 2, peripheral 3) plus an effect-site state
    (a concentration, ng/mL-equivalent) when ke0 is given: dCe/dt = ke0 (C - Ce)."""
    cl, v1 = params["CL"], params["V1"]
    N = len(cl)
    n = n_cmt + (1 if ke0 is not None else 0)
    A = np.zeros((N, n, n))
    A[:, 0, 0] = -cl / v1
    for j, (q, v) in enumerate((("Q2", "V2"), ("Q3", "V3"))[: n_cmt - 1], start=1):
        A[:, 0, 0] -= params[q] / v1
        A[:, j, 0] = params[q] / v1
        A[:, 0, j] = params[q] / params[v]
        A[:, j, j] = -params[q] / params[v]
    if ke0 is not None:
        A[:, -1, 0] = ke0 / v1 * 1000.0   # mg/L -> ng/mL
        A[:, -1, -1] = -ke0
    return A


def response(A: np.ndarray, readout: np.ndarray):
    """Eigenvalues (N, n) and weights (N, n) of the response r . x(t) to a unit input into state 0."""
    lam, V = np.linalg.eig(A)
    if np.iscomplexobj(lam):
        if np.max(np.abs(lam.imag)) > 1e-9 * np.max(np.abs(lam.real)):
            raise FloatingPointError("complex eigenvalues: not a mammillary system")
        lam, V = lam.real, V.real
    Vinv = np.linalg.inv(V)
    w = np.einsum("sk,ski,si->si", readout, V, Vinv[:, :, 0])
    return lam, w


def predict(design: Design, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
    """r . x at every observation: the sum over earlier doses of bolus or constant-rate responses."""
    po, pdose = design.pair_obs, design.pair_dose
    s = design.obs_subject[po]
    L, W = lam[s], w[s]                                    # (P, n)
    dt = (design.obs_time[po] - design.dose_time[pdose])[:, None]
    T = design.dose_duration[pdose][:, None]
    amt = design.dose_mg[pdose][:, None]
    bolus = T <= 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e_now = np.exp(L * dt)
        m = np.minimum(dt, np.where(bolus, 0.0, T))
        infused = (e_now - np.exp(L * (dt - m))) / L * (amt / np.where(bolus, 1.0, T))
    contrib = np.where(bolus, amt * e_now, infused)
    return np.bincount(po, weights=np.sum(W * contrib, axis=1), minlength=len(design.obs_time))


@dataclass
class PKModel:
    """Plasma racemic ketamine (ng/mL) of an n-compartment mammillary model with IV (bolus or infusion) doses."""

    n_cmt: int = 3

    @property
    def names(self) -> tuple[str, ...]:
        return PK_PARAMETERS[self.n_cmt]

    def predict(self, design: Design, params: dict[str, np.ndarray]) -> np.ndarray:
        lam, w = mammillary_response(params, self.n_cmt)
        return predict(design, lam, w)


def mammillary_response(params: dict[str, np.ndarray], n_cmt: int):
    """Eigenvalues and plasma-concentration weights of a mammillary model from a symmetric eigenproblem:
    with S = diag(V^-1/2), S A S^-1 is symmetric (flows Q between volumes), so A = S^-1 U diag(lambda) U' S."""
    A = pk_matrix(params, n_cmt)
    vols = [params["V1"]] + [params[v] for v in ("V2", "V3")[: n_cmt - 1]]
    s = np.stack([1.0 / np.sqrt(v) for v in vols], axis=1)          # (N, n)
    B = s[:, :, None] * A / s[:, None, :]
    B = 0.5 * (B + np.swapaxes(B, 1, 2))
    lam, U = np.linalg.eigh(B)
    # weights of (1000 / V1) * x_central for a unit input into the central amount: V[0, i] Vinv[i, 0]
    w = (U[:, 0, :] / s[:, :1]) * (U[:, 0, :] * s[:, :1]) * (1000.0 / params["V1"])[:, None]
    return lam, w


@dataclass
class EmaxPDModel:
    """An effect endpoint driven by the effect-site concentration of fixed individual PK:
    E = E0 + EMAX Ce / (EC50 + Ce), dCe/dt = KE0 (C - Ce)."""

    pk_params: dict[str, np.ndarray]    # each subject's PK (e.g. empirical Bayes estimates), (N,) each
    n_cmt: int = 3
    e0: float | None = 0.0              # fixed baseline (None: estimated as E0)

    @property
    def names(self) -> tuple[str, ...]:
        return ("KE0", "EMAX", "EC50") + (("E0",) if self.e0 is None else ())

    def predict(self, design: Design, params: dict[str, np.ndarray]) -> np.ndarray:
        ke0 = params["KE0"]
        # stacked copies of the subjects (derivatives) repeat each subject's fixed PK
        pk = {k: np.tile(np.asarray(v, float), len(ke0) // len(v)) for k, v in self.pk_params.items()}
        A = pk_matrix(pk, self.n_cmt, ke0)
        r = np.zeros((len(ke0), A.shape[1]))
        r[:, -1] = 1.0
        lam, w = response(A, r)
        ce = np.maximum(predict(design, lam, w), 0.0)
        s = design.obs_subject
        e0 = params["E0"][s] if self.e0 is None else self.e0
        return e0 + params["EMAX"][s] * ce / (params["EC50"][s] + ce)
