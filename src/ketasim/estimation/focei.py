"""FOCE with interaction (FOCE-I) for nonlinear mixed-effects models, written for ketasim's estimation models.

Model: individual parameters P_ik = theta_k exp(eta_ik) (eta only on the parameters with between-subject
variability), eta_i ~ N(0, Omega) with Omega diagonal; observations y_ij = f_ij + eps, Var(eps) = R_ij =
sigma_add^2 + sigma_prop^2 f_ij^2 (combined error; proportional or additive alone by fixing one at 0).

Objective (NONMEM's FOCE-I, Wang 2007 J Pharmacokinet Pharmacodyn 34:575): per subject, at the mode eta^_i,
    OFV_i = sum_j [log R_ij + (y_ij - f_ij)^2 / R_ij] + eta^' Omega^-1 eta^ + log|Omega| + log|G' R^-1 G + Omega^-1|
with G = df/deta at eta^ and R evaluated at eta^ (the interaction); the constant n log 2 pi is left out, as
NONMEM does. The modes are found for all subjects at once (Levenberg-damped Gauss-Newton with the expected
information of the variance terms); the population parameters (log theta, log omega^2, log sigma) by L-BFGS-B;
standard errors from the inverse of the numerical Hessian of the OFV (Cov = 2 H^-1, NONMEM's R matrix) on the
log scale, so intervals are exp(log estimate +- 1.96 SE). Diagnostics: eta- and epsilon-shrinkage, PRED, IPRED,
IWRES and CWRES (FOCE conditional weighted residuals).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from .models import Design

Z95 = 1.959963984540054


@dataclass
class FitSpec:
    """What is estimated and where it starts. Values on the natural scale (the model's units)."""

    theta0: dict[str, float]
    omega0: dict[str, float]                     # variances of eta (log scale), e.g. 0.09 for a 30 % CV
    sigma_prop0: float | None = 0.1              # None: no proportional error
    sigma_add0: float | None = 1.0               # None: no additive error
    units: dict[str, str] = field(default_factory=dict)


@dataclass
class FitResult:
    estimates: pd.DataFrame
    ofv: float
    ebe: pd.DataFrame
    residuals: pd.DataFrame
    shrinkage: dict
    converged: bool
    message: str
    iterations: int
    evaluations: int
    wall_s: float
    covariance_ok: bool
    theta: dict = field(default_factory=dict)
    omega: dict = field(default_factory=dict)
    sigma: dict = field(default_factory=dict)
    individual: dict = field(default_factory=dict)


class FOCEI:
    """The FOCE-I objective of one model on one design."""

    def __init__(self, model, design: Design, spec: FitSpec):
        self.model = model
        self.design = design
        self.spec = spec
        self.names = tuple(model.names)
        missing = [n for n in self.names if n not in spec.theta0]
        if missing:
            raise ValueError(f"no initial value for {missing[0]}")
        self.eta_names = tuple(n for n in self.names if n in spec.omega0)
        self.q = len(self.eta_names)
        self.eta_cols = [self.names.index(n) for n in self.eta_names]
        self.has_prop = spec.sigma_prop0 is not None
        self.has_add = spec.sigma_add0 is not None
        if not (self.has_prop or self.has_add):
            raise ValueError("at least one residual error (proportional or additive) is needed")
        self.N = design.n_subjects
        self.eta = np.zeros((self.N, self.q))
        self.evaluations = 0
        self._rep = None
        self.y = design.dv
        self.s = design.obs_subject

    # parameter vector x = [log theta (p), log omega^2 (q), log sigma_prop?, log sigma_add?]
    def x0(self) -> np.ndarray:
        sp = self.spec
        x = [math.log(sp.theta0[n]) for n in self.names] + [math.log(sp.omega0[n]) for n in self.eta_names]
        if self.has_prop:
            x.append(math.log(sp.sigma_prop0))
        if self.has_add:
            x.append(math.log(sp.sigma_add0))
        return np.array(x)

    def unpack(self, x):
        p = len(self.names)
        theta = x[:p]
        omega = np.exp(x[p:p + self.q])
        k = p + self.q
        sp = math.exp(x[k]) if self.has_prop else 0.0
        sa = math.exp(x[k + int(self.has_prop)]) if self.has_add else 0.0
        return theta, omega, sp, sa

    def params(self, log_theta: np.ndarray, eta: np.ndarray) -> dict[str, np.ndarray]:
        phi = np.repeat(log_theta[None, :], self.N, axis=0)
        phi[:, self.eta_cols] += eta
        return {n: np.exp(phi[:, i]) for i, n in enumerate(self.names)}

    def f(self, log_theta, eta) -> np.ndarray:
        return self.model.predict(self.design, self.params(log_theta, eta))

    def jac(self, log_theta, eta, f0, h=1e-6):
        """df/deta by forward differences, the q shifted parameter sets predicted in one stacked model call."""
        q, N = self.q, self.N
        if self._rep is None:
            self._rep = self.design.replicate(q)
        etas = np.concatenate([eta + h * np.eye(q)[k] for k in range(q)], axis=0)
        phi = np.repeat(log_theta[None, :], N * q, axis=0)
        phi[:, self.eta_cols] += etas
        fk = self.model.predict(self._rep, {n: np.exp(phi[:, i]) for i, n in enumerate(self.names)})
        return ((fk.reshape(q, -1) - f0[None, :]) / h).T

    def _per_subject(self, v):
        return np.bincount(self.s, weights=v, minlength=self.N)

    def _subject_obj(self, f, R, eta, omega):
        r = self.y - f
        return self._per_subject(np.log(R) + r * r / R) + np.sum(eta * eta / omega, axis=1)

    def _grad_info(self, log_theta, eta, omega, sp, sa, f=None):
        """Per-subject gradient g (N, q) of the conditional objective and its Gauss-Newton information H."""
        q, N = self.q, self.N
        if f is None:
            f = self.f(log_theta, eta)
        R = sa * sa + sp * sp * f * f
        G = self.jac(log_theta, eta, f)
        r = self.y - f
        dR = 2 * sp * sp * f[:, None] * G
        gobs = -2 * (r / R)[:, None] * G + ((1 / R - r * r / R ** 2)[:, None]) * dR
        g = np.stack([self._per_subject(gobs[:, k]) for k in range(q)], axis=1) + 2 * eta / omega
        Hobs = (2 * G[:, :, None] * G[:, None, :] / R[:, None, None]
                + dR[:, :, None] * dR[:, None, :] / (R * R)[:, None, None])
        H = self._per_subject_matrix(Hobs) + 2 * np.eye(q)[None] / omega[None, :, None]
        return g, H, f, R

    def _per_subject_matrix(self, Mobs):
        """Sum (M, q, q) per subject -> (N, q, q)."""
        q = Mobs.shape[1]
        flat = Mobs.reshape(len(Mobs), q * q)
        out = np.stack([self._per_subject(flat[:, k]) for k in range(q * q)], axis=1)
        return out.reshape(self.N, q, q)

    def modes(self, log_theta, omega, sp, sa, eta0, iters=40, tol=1e-5):
        """The conditional modes eta^ of all subjects, vectorised over subjects: damped Gauss-Newton steps, then
        Newton steps with the Hessian from finite differences of the gradient (Gauss-Newton alone converges
        slowly where residuals are large); stops when no subject's step exceeds `tol` (eta units)."""
        eta = eta0.copy()
        q, N = self.q, self.N
        eye = np.eye(q)[None]
        lam = np.full(N, 1e-4)
        f = self.f(log_theta, eta)
        R = sa * sa + sp * sp * f * f
        obj = self._subject_obj(f, R, eta, omega)
        done = np.zeros(N, bool)
        for it in range(iters):
            g, H, f, R = self._grad_info(log_theta, eta, omega, sp, sa, f)
            if it >= 3:  # Newton: Hessian from differences of the gradient, where positive definite
                h = 1e-5
                Hn = np.zeros((N, q, q))
                for k in range(q):
                    e = eta.copy()
                    e[:, k] += h
                    gk, *_ = self._grad_info(log_theta, e, omega, sp, sa)
                    Hn[:, :, k] = (gk - g) / h
                Hn = 0.5 * (Hn + np.swapaxes(Hn, 1, 2))
                pd_ok = np.all(np.linalg.eigvalsh(Hn) > 0, axis=1)
                H = np.where(pd_ok[:, None, None], Hn, H)
            diag = np.maximum(np.diagonal(H, axis1=1, axis2=2), 1e-12)
            pending = ~done
            for _try in range(10):
                Hd = H + lam[:, None, None] * eye * diag[:, :, None]
                step = -np.linalg.solve(Hd, g[:, :, None])[:, :, 0]
                step[~pending] = 0.0
                trial = eta + step
                ft = self.f(log_theta, trial)
                Rt = sa * sa + sp * sp * ft * ft
                ot = self._subject_obj(ft, Rt, trial, omega)
                better = pending & np.isfinite(ot) & (ot <= obj + 1e-12 * np.abs(obj))
                small = np.max(np.abs(step), axis=1) < tol
                eta = np.where(better[:, None], trial, eta)
                f = np.where(better[self.s], ft, f)
                obj = np.where(better, ot, obj)
                lam = np.where(better, np.maximum(lam / 10, 1e-8), np.where(pending, lam * 10, lam))
                done |= small & (better | pending)
                pending &= ~better & ~done
                if not pending.any():
                    break
            done |= lam > 1e8
            if done.all():
                break
        R = sa * sa + sp * sp * f * f
        return eta, f, R

    def ofv(self, x, eta0=None, full=False):
        self.evaluations += 1
        log_theta, omega, sp, sa = self.unpack(x)
        eta, f, R = self.modes(log_theta, omega, sp, sa, self.eta if eta0 is None else eta0)
        if not np.all(np.isfinite(f)) or not np.all(R > 0):
            return 1e30
        G = self.jac(log_theta, eta, f)
        r = self.y - f
        B = self._per_subject_matrix(G[:, :, None] * G[:, None, :] / R[:, None, None])
        B += np.eye(self.q)[None] / omega[None, :, None] * np.eye(self.q)[None]
        sign, logdet = np.linalg.slogdet(B)
        if np.any(sign <= 0):
            return 1e30
        per = self._per_subject(np.log(R) + r * r / R) + np.sum(eta * eta / omega, axis=1) \
            + np.sum(np.log(omega)) + logdet
        total = float(np.sum(per))
        if full:
            return total, eta, f, R, G
        return total


def fit_focei(model, design: Design, spec: FitSpec, maxiter: int = 500, covariance: bool = True,
              progress=None) -> FitResult:
    """Estimate theta, Omega (diagonal) and the residual error by FOCE-I; standard errors from the R matrix."""
    t0 = time.perf_counter()
    prob = FOCEI(model, design, spec)
    x0 = prob.x0()
    best = {"x": x0, "ofv": prob.ofv(x0), "eta": prob.eta.copy()}
    prob.eta = best["eta"]

    def fun(x):
        val = prob.ofv(x, eta0=best["eta"])
        if val < best["ofv"]:
            best.update(x=x.copy(), ofv=val)
        return val

    iteration = [0]

    def callback(xk):
        iteration[0] += 1
        _, eta, *_ = prob.ofv(xk, eta0=best["eta"], full=True)
        best["eta"] = eta
        if progress:
            progress(iteration[0], maxiter)

    opt = minimize(fun, x0, method="L-BFGS-B", callback=callback,
                   options={"maxiter": maxiter, "eps": 1e-5, "ftol": 1e-10, "gtol": 1e-4})
    x = opt.x if opt.fun <= best["ofv"] + 1e-9 else best["x"]
    ofv, eta, f, R, G = prob.ofv(x, eta0=best["eta"], full=True)
    cov_ok, se = False, np.full(len(x), np.nan)
    if covariance:
        H = _hessian(lambda z: prob.ofv(z, eta0=eta), x)
        try:
            cov = 2.0 * np.linalg.inv(H)
            d = np.diag(cov)
            if np.all(d > 0) and np.all(np.isfinite(d)):
                se, cov_ok = np.sqrt(d), True
        except np.linalg.LinAlgError:
            pass
    return _result(prob, x, se, ofv, eta, f, R, G, opt, cov_ok, time.perf_counter() - t0)


def _hessian(fun, x, h=1e-3):
    n = len(x)
    H = np.zeros((n, n))
    f0 = fun(x)
    fp = np.zeros(n)
    fm = np.zeros(n)
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        fp[i], fm[i] = fun(x + e), fun(x - e)
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h ** 2
    for i in range(n):
        for j in range(i + 1, n):
            ei = np.zeros(n)
            ej = np.zeros(n)
            ei[i] = h
            ej[j] = h
            H[i, j] = H[j, i] = (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej) + fun(x - ei - ej)) / (4 * h * h)
    return H


def _result(prob: FOCEI, x, se, ofv, eta, f, R, G, opt, cov_ok, wall) -> FitResult:
    log_theta, omega, sp, sa = prob.unpack(x)
    rows = []
    p, q = len(prob.names), prob.q
    units = prob.spec.units
    for i, n in enumerate(prob.names):
        rows.append(_row(n, "theta", x[i], se[i], units.get(n, "")))
    sd_eta = eta.std(axis=0, ddof=0)
    shrink = {}
    for k, n in enumerate(prob.eta_names):
        row = _row(f"omega2_{n}", "omega", x[p + k], se[p + k], "variance of log(parameter)")
        row["cv_pct"] = 100 * math.sqrt(math.expm1(float(omega[k])))
        shrink[n] = 1.0 - float(sd_eta[k] / math.sqrt(omega[k]))
        row["shrinkage_pct"] = 100 * shrink[n]
        rows.append(row)
    k = p + q
    sigma = {}
    if prob.has_prop:
        rows.append(_row("sigma_prop", "sigma", x[k], se[k], "fraction (SD)"))
        sigma["prop"] = sp
        k += 1
    if prob.has_add:
        rows.append(_row("sigma_add", "sigma", x[k], se[k], f"SD, {units.get('DV', 'DV unit')}"))
        sigma["add"] = sa
    est = pd.DataFrame(rows)
    d = prob.design
    params = prob.params(log_theta, eta)
    ebe = pd.DataFrame({"id": d.ids})
    for k2, n in enumerate(prob.eta_names):
        ebe[f"eta_{n}"] = eta[:, k2]
    for n in prob.names:
        ebe[n] = params[n]
    pred = prob.f(log_theta, np.zeros_like(eta))
    res = pd.DataFrame({"id": d.ids[d.obs_subject], "time_h": d.obs_time, "dv": d.dv, "pred": pred, "ipred": f,
                        "iwres": (d.dv - f) / np.sqrt(R)})
    res["cwres"] = _cwres(prob, eta, f, R, G, omega)
    eps_shrink = 1.0 - float(np.std(res["iwres"], ddof=0))
    shrink["epsilon"] = eps_shrink
    theta = {n: float(math.exp(log_theta[i])) for i, n in enumerate(prob.names)}
    return FitResult(est, float(ofv), ebe, res, shrink, bool(opt.success), str(opt.message), int(opt.nit),
                     prob.evaluations, wall, cov_ok, theta=theta,
                     omega={n: float(omega[k2]) for k2, n in enumerate(prob.eta_names)}, sigma=sigma,
                     individual={n: params[n] for n in prob.names})


def _row(name, kind, log_est, log_se, unit):
    est = math.exp(log_est)
    ok = np.isfinite(log_se)
    return {"parameter": name, "kind": kind, "estimate": est, "unit": unit,
            "se": est * log_se if ok else math.nan, "rse_pct": 100 * log_se if ok else math.nan,
            "ci95_low": math.exp(log_est - Z95 * log_se) if ok else math.nan,
            "ci95_high": math.exp(log_est + Z95 * log_se) if ok else math.nan}


def _cwres(prob, eta, f, R, G, omega):
    """FOCE conditional weighted residuals: C^-1/2 (y - f + G eta^), C = G Omega G' + diag(R), per subject."""
    out = np.zeros(len(f))
    y = prob.y
    Om = np.diag(omega)
    for i in range(prob.N):
        m = np.flatnonzero(prob.s == i)
        if len(m) == 0:
            continue
        Gi = G[m]
        C = Gi @ Om @ Gi.T + np.diag(R[m])
        mean = f[m] - Gi @ eta[i]
        L = np.linalg.cholesky(C)
        out[m] = np.linalg.solve(L, y[m] - mean)
    return out
