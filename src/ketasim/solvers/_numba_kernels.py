"""Compiled loops of the fast population path (numba). Each subject's arithmetic is independent of the others'
(parallel over subjects), so results do not depend on chunk size or the number of threads."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def propagators_from_eig(lam, V, Vinv, hs, ok, reach, chans, Phi, GamT):
    """For each ok subject s and step h_k: Phi[s, k, i, j] of Phi(h) = V diag(e^{lam h}) V^-1 (zero where j cannot
    reach i), GamT[s, k, c, i] = Gamma[i, chans[c]] of Gamma(h) = V diag((e^{lam h} - 1) / lam) V^-1.
    lam (N, n), V and Vinv (N, n, n); Phi (N, K, n, n), GamT (N, K, nc, n)."""
    N, n = lam.shape
    K = hs.shape[0]
    nc = chans.shape[0]
    for s in prange(N):
        if not ok[s]:
            continue
        e = np.empty(n)
        g = np.empty(n)
        for k in range(K):
            h = hs[k]
            for j in range(n):
                lj = lam[s, j]
                lh = lj * h
                e[j] = math.exp(lh)
                g[j] = math.expm1(lh) / lj if lj != 0.0 else h
            for i in range(n):
                for m in range(n):
                    a = 0.0
                    if reach[i, m]:
                        for j in range(n):
                            a += V[s, i, j] * Vinv[s, j, m] * e[j]
                    Phi[s, k, i, m] = a
                for c in range(nc):
                    m = chans[c]
                    a = 0.0
                    if reach[i, m]:
                        for j in range(n):
                            a += V[s, i, j] * Vinv[s, j, m] * g[j]
                    GamT[s, k, c, i] = a


@njit(parallel=True, cache=True)
def pk_kernel(step_idx, out_row, pre_row, bolus_ev, rate_ev, chans, bol_amt, rat_chg, Phi, GamT, rows, ptr, st, coef,
              Y):
    """Exact propagation over the grid, one subject per iteration: x <- Phi x + Gamma r between grid points,
    boluses added at their time, rates changed after (as solvers.linear.solve_linear);
    read-outs Y[rows[q], s, out_row] += sum over z in ptr[q]:ptr[q+1] of coef[s, z] x[st[z]], and at pre_row (an
    output row just before the grid point's boluses, -1 for none) the same read-outs before the boluses.
    bol_amt (N, nb, nc), rat_chg (N, nr, nc), Phi (N, K, n, n), GamT (N, K, nc, n), coef (N, nnz), Y (cols, N, T)."""
    N = Phi.shape[0]
    n = Phi.shape[2]
    M = step_idx.shape[0]
    nc = chans.shape[0]
    R = rows.shape[0]
    for s in prange(N):
        x = np.zeros(n)
        xn = np.zeros(n)
        r = np.zeros(nc)
        active = False
        for m in range(M):
            k = step_idx[m]
            if k >= 0:
                P = Phi[s, k]
                for i in range(n):
                    a = 0.0
                    for j in range(n):
                        a += P[i, j] * x[j]
                    xn[i] = a
                if active:
                    for c in range(nc):
                        rc = r[c]
                        for i in range(n):
                            xn[i] += GamT[s, k, c, i] * rc
                for i in range(n):
                    x[i] = xn[i]
            o = pre_row[m]
            if o >= 0:
                for q in range(R):
                    a = 0.0
                    for z in range(ptr[q], ptr[q + 1]):
                        a += coef[s, z] * x[st[z]]
                    Y[rows[q], s, o] += a
            b = bolus_ev[m]
            if b >= 0:
                for c in range(nc):
                    x[chans[c]] += bol_amt[s, b, c]
            ev = rate_ev[m]
            if ev >= 0:
                active = False
                for c in range(nc):
                    r[c] += rat_chg[s, ev, c]
                    if abs(r[c]) < 1e-15:
                        r[c] = 0.0
                    else:
                        active = True
            o = out_row[m]
            if o >= 0:
                for q in range(R):
                    a = 0.0
                    for z in range(ptr[q], ptr[q + 1]):
                        a += coef[s, z] * x[st[z]]
                    Y[rows[q], s, o] += a


@njit(inline="always")
def _relax_coefs(k, h):
    """solvers.relax.relax_coefficients for scalars: (A1, A2, A3, rho)."""
    kh = k * h
    z = -kh
    if abs(z) < 0.1:  # solvers.relax.PHI_TAYLOR: 9-term Taylor series
        p1 = 0.0
        p2 = 0.0
        p3 = 0.0
        p4 = 0.0
        f1 = 3628800.0     # 10!
        f2 = 39916800.0    # 11!
        f3 = 479001600.0   # 12!
        f4 = 6227020800.0  # 13!
        for j in range(8, -1, -1):
            f1 /= j + 2
            f2 /= j + 3
            f3 /= j + 4
            f4 /= j + 5
            p1 = p1 * z + 1.0 / f1
            p2 = p2 * z + 1.0 / f2
            p3 = p3 * z + 1.0 / f3
            p4 = p4 * z + 1.0 / f4
    else:
        p1 = math.expm1(z) / z
        p2 = (p1 - 1.0) / z
        p3 = (p2 - 0.5) / z
        p4 = (p3 - 1.0 / 6.0) / z
    c2 = 2.0 * p3 - p2
    return kh * p1, kh * h * p2, kh * h * h * c2, h * (6.0 * p4 - 2.0 * p3) / c2


import inspect  # noqa: E402

from . import relax as _relax  # noqa: E402
from . import switches as _switches  # noqa: E402
from .switches import SWITCH_NOISE  # noqa: E402
from .relax import KINK_RATIO, SHOWN_KINK_RATIO  # noqa: E402


def _compiled_twin(fn, **names):
    """A function of solvers.relax compiled from its own source, its global names bound to `names`."""
    ns = {"math": math, **names}
    exec(inspect.getsource(fn), ns)  # noqa: S102 - our own module's source
    return njit(inline="always")(ns[fn.__name__])


_phi123 = _compiled_twin(_relax.phi123, PHI_TAYLOR=_relax.PHI_TAYLOR)
_kink_step = _compiled_twin(_relax.kink_step, phi123=_phi123)
_kink_at_step = _compiled_twin(_relax.kink_at_step, phi123=_phi123)
_crossing_time = _compiled_twin(_switches.crossing_time)


@njit
def crossing_series(SW, idx, TW, TS):
    """solvers.switches.crossings for one subject: TS[i] = the crossing time inside step i of the first switch
    argument SW[idx[q]] (rows over the grid TW) that changes sign there, nan elsewhere."""
    T = TW.shape[0]
    for i in range(T):
        TS[i] = math.nan
    for q in range(idx.shape[0]):
        a = SW[idx[q]]
        scale = 0.0
        for i in range(T):
            v = abs(a[i])
            if v > scale:
                scale = v
        for i in range(1, T):
            b = a[i - 1]
            c = a[i]
            if not (b * c < 0.0) or not (TW[i] > TW[i - 1]) or TS[i] == TS[i]:
                continue
            if max(abs(b), abs(c)) <= SWITCH_NOISE * scale:
                continue
            if i >= 2 and i + 1 < T and TW[i - 2] < TW[i - 1] and TW[i + 1] > TW[i]:
                TS[i] = _crossing_time(TW[i - 2], TW[i - 1], TW[i], TW[i + 1], a[i - 2], b, c, a[i + 1], True)
            else:
                TS[i] = _crossing_time(TW[i - 1], TW[i - 1], TW[i], TW[i], 0.0, b, c, 0.0, False)


@njit(inline="always")
def _six(IH, i, T):
    """Step i has the six-point stencil t_{i-3..i+2}, every step in it of positive length."""
    if i < 3 or i + 2 > T - 1:
        return False
    return IH[i - 2] != 0.0 and IH[i - 1] != 0.0 and IH[i] != 0.0 and IH[i + 1] != 0.0 and IH[i + 2] != 0.0


@njit(inline="always")
def _shows(u, IH, IW, i):
    """solvers.relax.kink_shows for step i of the compiled loop (the six-point stencil exists)."""
    s = (u[i] - u[i - 1]) * IH[i]
    sl = (u[i - 1] - u[i - 2]) * IH[i - 1]
    sr = (u[i + 1] - u[i]) * IH[i + 1]
    cb = (s - sl) * IW[i - 1]
    cf = (sr - s) * IW[i]
    cbb = (sl - (u[i - 2] - u[i - 3]) * IH[i - 2]) * IW[i - 2]
    cff = ((u[i + 2] - u[i + 1]) * IH[i + 2] - sr) * IW[i + 1]
    return max(abs(cb), abs(cf)) > SHOWN_KINK_RATIO * max(abs(cbb), abs(cff))


@njit(inline="always")
def _known(KN, i, T):
    """relax_reference's `known`: a located kink inside step i that shows in the drive."""
    return i >= 0 and i < T and KN[i]


@njit(inline="always")
def _is_kink(u, IH, IW, i, T, s):
    """solvers.relax.kinks for step i of the compiled loop."""
    if i < 3 or i + 2 > T - 1:
        return False
    if IH[i - 2] == 0.0 or IH[i - 1] == 0.0 or IH[i + 1] == 0.0 or IH[i + 2] == 0.0:
        return False
    sl = (u[i - 1] - u[i - 2]) * IH[i - 1]
    sr = (u[i + 1] - u[i]) * IH[i + 1]
    cb = (s - sl) * IW[i - 1]
    cf = (sr - s) * IW[i]
    if cb * cf <= 0.0:
        return False
    cbb = (sl - (u[i - 2] - u[i - 3]) * IH[i - 2]) * IW[i - 2]
    cff = ((u[i + 2] - u[i + 1]) * IH[i + 2] - sr) * IW[i + 1]
    return max(abs(cb), abs(cf)) > KINK_RATIO * max(abs(cbb), abs(cff))


# not cached on disk: these inline solvers.relax's kink_step, whose changes numba's cache (keyed on this file)
# would not see; the generated PD kernels that call relax_line are cached under a name that hashes relax.py
@njit
def relax_line(u, x0, k, A1, A2, A3, GF, IH, IW, MODE, TW, TS, x):
    """solvers.relax.relax for one series u (T,) on a grid described by relax.relax_geometry: IH[i] = 1/h_i
    (0 for a zero-length step), IW[j] = 1/(t_{j+1} - t_{j-1}), MODE[i] = which curvature estimates step i has
    (1 backward, 2 forward, 3 both); k the rate; A1..A3, GF[i] = the step's coefficients and forward weight gf;
    TW the grid times (for a kink inside a step); TS[i] the located kink inside step i (nan for none)."""
    T = u.shape[0]
    x[0] = x0
    KN = np.zeros(T, np.bool_)     # located kinks that show in the drive (relax_reference's `known`)
    for i in range(T):
        if TS[i] == TS[i] and _six(IH, i, T) and _shows(u, IH, IW, i):
            KN[i] = True
    kp = False                     # a kink inside the previous step, this one, the next one
    kc = T > 1 and MODE[1] == 3 and (_known(KN, 1, T) or _is_kink(u, IH, IW, 1, T, (u[1] - u[0]) * IH[1]))
    for i in range(1, T):
        kn = False
        if i + 1 < T and MODE[i + 1] == 3:
            kn = _known(KN, i + 1, T) or _is_kink(u, IH, IW, i + 1, T, (u[i + 1] - u[i]) * IH[i + 1])
        ih = IH[i]
        if ih == 0.0:
            x[i] = x[i - 1]
            kp, kc = kc, kn
            continue
        s = (u[i] - u[i - 1]) * ih
        m = MODE[i]
        c = 0.0
        if m == 3:
            if kc and KN[i]:
                if not (KN[i - 2] or KN[i - 1] or _known(KN, i + 1, T) or _known(KN, i + 2, T)):
                    x[i] = _kink_at_step(x[i - 1], k, TW[i - 3:i + 3], u[i - 3], u[i - 2], u[i - 1], u[i], u[i + 1],
                                         u[i + 2], TS[i])
                    kp, kc = kc, kn
                    continue
            elif kc:
                xs = _kink_step(x[i - 1], k, TW[i - 3:i + 3], u[i - 3], u[i - 2], u[i - 1], u[i], u[i + 1], u[i + 2])
                if xs == xs:
                    x[i] = xs
                    kp, kc = kc, kn
                    continue
            cb = (s - (u[i - 1] - u[i - 2]) * IH[i - 1]) * IW[i - 1]
            cf = ((u[i + 1] - u[i]) * IH[i + 1] - s) * IW[i]
            if kn and not kp:      # the forward estimate spans the next step's kink
                c = cb
            elif kp and not kn:
                c = cf
            else:
                gf = GF[i]
                wb = (1.0 - gf) * abs(cf)
                wf = gf * abs(cb)
                den = wb + wf
                if den > 0:
                    c = (wb * cb + wf * cf) / den
        elif m == 1:
            c = (s - (u[i - 1] - u[i - 2]) * IH[i - 1]) * IW[i - 1]
        elif m == 2:
            c = ((u[i + 1] - u[i]) * IH[i + 1] - s) * IW[i]
        x[i] = x[i - 1] + A1[i] * (u[i - 1] - x[i - 1]) + A2[i] * s + A3[i] * c
        kp, kc = kc, kn


@njit(parallel=True)
def relax_columns(U, x0, k, A1, A2, A3, GF, IH, IW, MODE, TW, TS, X):
    """relax_line for each column j of U (M, T) with its own x0[j], k[j], coefficient rows A1[j]... (M, T) and
    located kinks TS[j]."""
    for j in prange(U.shape[0]):
        relax_line(U[j], x0[j], k[j], A1[j], A2[j], A3[j], GF[j], IH, IW, MODE, TW, TS[j], X[j])


def relax_compiled(t, target, k, x0, crossings=None):
    """Arguments as solvers.relax.relax; None where the shapes are not the (T,) or (T, M) cases the kernel handles."""
    from .relax import relax_coefficients, relax_geometry

    t = np.asarray(t, float)
    target = np.asarray(target, float)
    T = target.shape[0]
    if t.shape != (T,) or target.ndim not in (1, 2):
        return None
    tail = target.shape[1:]
    M = int(np.prod(tail))
    try:
        k_arr = np.broadcast_to(np.asarray(k, float), tail).reshape(M)
        x0_arr = np.broadcast_to(np.asarray(x0, float), tail).reshape(M)
    except ValueError:
        return None
    IH, IW, MODE, hb, span = relax_geometry(t)
    dt = np.concatenate([[0.0], np.maximum(np.diff(t), 0.0)])
    A1, A2, A3, rho = relax_coefficients(k_arr[:, None], dt[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        GF = np.where(MODE[None, :] == 3, np.clip((hb[None, :] + rho) / span[None, :], 0.0, 1.0), 0.0)
    A1, A2, A3, GF = (np.ascontiguousarray(np.broadcast_to(a, (M, T)), dtype=float) for a in (A1, A2, A3, GF))
    if crossings is None:
        TS = np.full((M, T), np.nan)
    else:
        try:
            TS = np.ascontiguousarray(np.broadcast_to(np.asarray(crossings, float), target.shape).reshape(T, M).T)
        except ValueError:
            return None
    X = np.empty((M, T))
    relax_columns(np.ascontiguousarray(target.reshape(T, M).T), np.ascontiguousarray(x0_arr),
                  np.ascontiguousarray(k_arr), A1, A2, A3, GF, IH, IW, MODE, t, TS, X)
    return X.T.reshape(target.shape)
