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
def pk_kernel(step_idx, out_row, bolus_ev, rate_ev, chans, bol_amt, rat_chg, Phi, GamT, rows, ptr, st, coef, Y):
    """Exact propagation over the grid, one subject per iteration: x <- Phi x + Gamma r between grid points,
    boluses added at their time, rates changed after (as solvers.linear.solve_linear);
    read-outs Y[rows[q], s, out_row] += sum over z in ptr[q]:ptr[q+1] of coef[s, z] x[st[z]].
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
def _hill(o, h, c_h):
    """o^h / (c^h + o^h) with c_h = c^h."""
    if h == 2.0:
        oh = o * o
    elif h == 4.0:
        o2 = o * o
        oh = o2 * o2
    elif h == 1.0:
        oh = o
    else:
        oh = o ** h
    return oh / (c_h + oh)


@njit(inline="always")
def _relax_coefs(k, h):
    """models.pd.relax_coefficients for scalars: (A1, A2, A3, rho)."""
    kh = k * h
    z = -kh
    if abs(z) < 0.1:  # models.pd.PHI_TAYLOR: 9-term Taylor series
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


@njit(inline="always")
def _curvature(t, u, i, s, T, rho):
    """The blended second divided difference c of models.pd.relax_reference for the step [t_{i-1}, t_i]."""
    back = i >= 2 and t[i - 1] - t[i - 2] > 0
    fwd = i + 1 < T and t[i + 1] - t[i] > 0
    cb = 0.0
    cf = 0.0
    if back:
        cb = (s - (u[i - 1] - u[i - 2]) / (t[i - 1] - t[i - 2])) / (t[i] - t[i - 2])
    if fwd:
        cf = ((u[i + 1] - u[i]) / (t[i + 1] - t[i]) - s) / (t[i + 1] - t[i - 1])
    if back and fwd:
        gf = min(max((t[i - 1] - t[i - 2] + rho) / (t[i + 1] - t[i - 2]), 0.0), 1.0)
        wb = (1.0 - gf) * abs(cf)
        wf = gf * abs(cb)
        den = wb + wf
        if den > 0:
            return (wb * cb + wf * cf) / den
        return 0.0
    if back:
        return cb
    return cf


@njit(inline="always")
def _relax_line(u, x0, A1, A2, A3, GF, IH, IW, MODE, x):
    """models.pd.relax for one series u (T,) on a grid described by relax_geometry (in fast.py): IH[i] = 1/h_i
    (0 for a zero-length step), IW[j] = 1/(t_{j+1} - t_{j-1}), MODE[i] = which curvature estimates step i has
    (1 backward, 2 forward, 3 both); A1..A3, GF[i] = the step's coefficients and forward weight gf."""
    T = u.shape[0]
    x[0] = x0
    for i in range(1, T):
        ih = IH[i]
        if ih == 0.0:
            x[i] = x[i - 1]
            continue
        s = (u[i] - u[i - 1]) * ih
        m = MODE[i]
        c = 0.0
        if m == 3:
            cb = (s - (u[i - 1] - u[i - 2]) * IH[i - 1]) * IW[i - 1]
            cf = ((u[i + 1] - u[i]) * IH[i + 1] - s) * IW[i]
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


@njit(inline="always")
def _put(out, out_map, j, s, i, v):
    o = out_map[j]
    if o >= 0:
        out[o, s, i] = v


@njit(parallel=True, cache=True)
def pd_kernel(IH, IW, MODE, ce, sc, A1, A2, A3, GF, w_idx, w_val, w_x50, plast, rise_pl, has_pl, rise_ad, has_ad,
              baseline, drive_scale, cadss_scale, placebo_scale, out_map, out):
    """models.pd.compute_pd term by term, one subject per iteration (a few passes over time: the slow states
    are integrated by _relax_line once their whole drive is known); outputs in the order of PD_NAMES in fast.py.
    ce (7, N, T): effect sites in fast.CE_NAMES order; IH, IW, MODE: the grid (fast.relax_geometry); A1..A3, GF (4, T): relax coefficients per rate (endo, mediators,
    tolerance, mood); out (n_wanted, N, T)."""
    N = ce.shape[1]
    T = ce.shape[2]
    bf, Ki_nS, Ki_nR, Ki_nNKS, Ki_nNKR, Ki_nHNK = sc[0], sc[1], sc[2], sc[3], sc[4], sc[5]
    glu_hill, glu_occ50, endo_gain, k_endo = sc[6], sc[7], sc[8], sc[9]
    Ki_mS, Ki_mR, hnk_binds, Ki_mHNK, basal, Ki_mntx, Ki_mnxl = sc[10], sc[11], sc[12], sc[13], sc[14], sc[15], sc[16]
    tau_ket, tau_hnk, tau_endo = sc[17], sc[18], sc[19]
    Ki_kS, Ki_kR, Ki_kntx, Ki_knxl = sc[20], sc[21], sc[22], sc[23]
    kf, km, ampa_EC50, cadss_hill, cadss_occ50, k_tol = sc[24], sc[25], sc[26], sc[27], sc[28], sc[29]
    cadss_Emax, tol_max, eu_R, eu_C50, mood_Emax, hamd_per = sc[30], sc[31], sc[32], sc[33], sc[34], sc[35]
    level, pl_oral_ad = sc[36], sc[37]
    glu_c = glu_occ50 ** glu_hill
    cad_c = cadss_occ50 ** cadss_hill
    stim0 = tau_endo * basal / (1.0 + basal)
    effect0 = stim0 / (1.0 + stim0)
    nw = w_idx.shape[0]
    for s in prange(N):
        D = np.empty(T)         # the dissociative drive
        U = np.empty((6, T))    # drives (targets) of endo, p_glu, p_hnk, opi, tol, madrs
        X = np.empty((6, T))    # the slow states
        a_pl = min(max(level * placebo_scale[s], 0.0), 0.95)
        a_ad = min(max(pl_oral_ad * placebo_scale[s], 0.0), 0.95)
        base = baseline[s]
        # pass 1: everything that needs no slow state; the drives of endo, mediators and tolerance
        for i in range(T):
            kS = bf * ce[0, s, i]
            kR = bf * ce[1, s, i]
            nkS = bf * ce[2, s, i]
            nkR = bf * ce[3, s, i]
            hnk = bf * ce[4, s, i]
            ntx = ce[5, s, i]
            nxl = ce[6, s, i]
            x_nmda = kS / Ki_nS + kR / Ki_nR + nkS / Ki_nNKS + nkR / Ki_nNKR + hnk / Ki_nHNK
            nmda_occ = x_nmda / (1.0 + x_nmda)
            surge = _hill(nmda_occ, glu_hill, glu_c)
            U[0, i] = 1.0 + k_endo * (surge * endo_gain) / k_endo
            U[1, i] = 1.0 + kf * surge / km
            ampa = hnk / (ampa_EC50 + hnk)
            U[2, i] = 1.0 + kf * ampa / km
            diss = _hill(nmda_occ, cadss_hill, cad_c)
            U[4, i] = 0.0 + 1.0 * diss / k_tol
            x_kor = kS / Ki_kS + kR / Ki_kR + ntx / Ki_kntx + nxl / Ki_knxl
            s_eq = kS + eu_R * kR
            _put(out, out_map, 0, s, i, nmda_occ)
            _put(out, out_map, 2, s, i, x_kor / (1.0 + x_kor))
            D[i] = diss   # cadss once tolerance is known
            _put(out, out_map, 7, s, i, 100.0 * s_eq / (eu_C50 + s_eq))
            _put(out, out_map, 10, s, i, surge)
        _relax_line(U[0], 1.0, A1[0], A2[0], A3[0], GF[0], IH, IW, MODE, X[0])
        _relax_line(U[1], 1.0, A1[1], A2[1], A3[1], GF[1], IH, IW, MODE, X[1])
        _relax_line(U[2], 1.0, A1[1], A2[1], A3[1], GF[1], IH, IW, MODE, X[2])
        _relax_line(U[4], 0.0, A1[2], A2[2], A3[2], GF[2], IH, IW, MODE, X[4])
        # pass 2: MOR (needs endo); the opioid mediator's drive; CADSS (needs tolerance)
        for i in range(T):
            kS = bf * ce[0, s, i]
            kR = bf * ce[1, s, i]
            hnk = bf * ce[4, s, i]
            ntx = ce[5, s, i]
            nxl = ce[6, s, i]
            x_ket = kS / Ki_mS + kR / Ki_mR
            x_hnk = hnk_binds * hnk / Ki_mHNK
            x_endo = basal * X[0, i]
            y_ant = ntx / Ki_mntx + nxl / Ki_mnxl
            denom = 1.0 + x_ket + x_hnk + x_endo + y_ant
            stim = (tau_ket * x_ket + tau_hnk * x_hnk + tau_endo * x_endo) / denom
            effect = stim / (1.0 + stim)
            mor_signal = effect / effect0
            _put(out, out_map, 1, s, i, (x_ket + x_hnk + y_ant) / (1.0 + x_ket + x_hnk + x_endo + y_ant))
            _put(out, out_map, 3, s, i, mor_signal)
            U[3, i] = 1.0 + kf * max(mor_signal - 1.0, 0.0) / km
            tol = X[4, i]
            _put(out, out_map, 6, s, i, cadss_Emax * cadss_scale[s] * D[i] * (1.0 - tol_max * tol / (1.0 + tol)))
        _relax_line(U[3], 1.0, A1[1], A2[1], A3[1], GF[1], IH, IW, MODE, X[3])
        # pass 3: the mood drive, then MADRS
        for i in range(T):
            p_glu = X[1, i]
            p_hnk = X[2, i]
            opi = X[3, i]
            z = 0.0
            for j in range(nw):
                mj = w_idx[j]
                med = p_glu if mj == 0 else (p_hnk if mj == 1 else opi)
                z = z + w_val[j] * (med - 1.0) / w_x50[j]
            z = z * drive_scale[s]
            drug = mood_Emax * z / (1.0 + z)
            frac = 0.0
            if has_pl:
                frac = a_pl * rise_pl[i]
            if has_ad:
                frac = 1.0 - (1.0 - frac) * (1.0 - a_ad * rise_ad[i])
            U[5, i] = base * (1.0 - frac) * (1.0 - drug)
            _put(out, out_map, 4, s, i, p_glu if plast == 0 else (p_hnk if plast == 1 else opi))
            _put(out, out_map, 5, s, i, opi)
            _put(out, out_map, 11, s, i, p_glu)
            _put(out, out_map, 12, s, i, p_hnk)
            _put(out, out_map, 13, s, i, X[0, i])
            _put(out, out_map, 14, s, i, drug)
            _put(out, out_map, 15, s, i, frac)
        _relax_line(U[5], base, A1[3], A2[3], A3[3], GF[3], IH, IW, MODE, X[5])
        for i in range(T):
            _put(out, out_map, 8, s, i, X[5, i])
            _put(out, out_map, 9, s, i, X[5, i] * hamd_per)


@njit(cache=True)
def relax_kernel(t, target, k, x0, x):
    """models.pd.relax on target (T, M): k and x0 have length M, or k length 1 (one rate for all)."""
    T, M = target.shape
    one_k = k.shape[0] == 1
    for j in range(M):
        x[0, j] = x0[j]
    for i in range(1, T):
        h = t[i] - t[i - 1]
        if h <= 0:
            for j in range(M):
                x[i, j] = x[i - 1, j]
            continue
        a1, a2, a3, rho = _relax_coefs(k[0], h)
        for j in range(M):
            if not one_k:
                a1, a2, a3, rho = _relax_coefs(k[j], h)
            u = target[:, j]
            s = (u[i] - u[i - 1]) / h
            c = _curvature(t, u, i, s, T, rho)
            x[i, j] = x[i - 1, j] + a1 * (u[i - 1] - x[i - 1, j]) + a2 * s + a3 * c


def relax_compiled(t, target, k, x0):
    """Arguments as models.pd.relax; None where the shapes are not the (T,) or (T, M) cases the kernel handles."""
    t = np.asarray(t, float)
    target = np.asarray(target, float)
    T = target.shape[0]
    if t.shape != (T,) or target.ndim not in (1, 2):
        return None
    tail = target.shape[1:]
    M = int(np.prod(tail))
    try:
        k_arr = np.asarray(k, float)
        k_arr = k_arr.reshape(1) if k_arr.ndim == 0 else np.broadcast_to(k_arr, tail).reshape(M)
        x0_arr = np.broadcast_to(np.asarray(x0, float), tail).reshape(M)
    except ValueError:
        return None
    x = np.empty((T, M))
    relax_kernel(t, np.ascontiguousarray(target.reshape(T, M)), np.ascontiguousarray(k_arr),
                 np.ascontiguousarray(x0_arr), x)
    return x.reshape(target.shape)
