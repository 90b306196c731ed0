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
def _relax_step(x_prev, u0, u1, kh, e):
    """One step of models.pd.relax (exact for u linear over the step)."""
    sok = (u1 - u0) / kh
    return u1 - sok + (x_prev - u0 + sok) * e


@njit(parallel=True, cache=True)
def pd_kernel(t, dt, ce, sc, kh, ekh, w_idx, w_val, w_x50, plast, rise_pl, has_pl, rise_ad, has_ad,
              baseline, drive_scale, cadss_scale, placebo_scale, out_map, out):
    """models.pd.compute_pd term by term, one subject per iteration over time (outputs in the order of PD_NAMES
    in fast.py). ce (7, N, T): effect sites in fast.CE_NAMES order; out (n_wanted, N, T)."""
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
        v = np.empty(16)
        a_pl = min(max(level * placebo_scale[s], 0.0), 0.95)
        a_ad = min(max(pl_oral_ad * placebo_scale[s], 0.0), 0.95)
        base = baseline[s]
        endo = 1.0
        p_glu = 1.0
        p_hnk = 1.0
        opi = 1.0
        tol = 0.0
        madrs = base
        u_endo = u_glu = u_hnk = u_opi = u_tol = u_mood = 0.0
        for i in range(T):
            step = i > 0 and dt[i - 1] > 0
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
            # slow states: the targets of relax/accumulate, then one exact step from the previous grid point
            t_endo = 1.0 + k_endo * (surge * endo_gain) / k_endo
            t_glu = 1.0 + kf * surge / km
            ampa = hnk / (ampa_EC50 + hnk)
            t_hnk = 1.0 + kf * ampa / km
            if step:
                endo = _relax_step(endo, u_endo, t_endo, kh[0, i], ekh[0, i])
            x_ket = kS / Ki_mS + kR / Ki_mR
            x_hnk = hnk_binds * hnk / Ki_mHNK
            x_endo = basal * endo
            y_ant = ntx / Ki_mntx + nxl / Ki_mnxl
            denom = 1.0 + x_ket + x_hnk + x_endo + y_ant
            stim = (tau_ket * x_ket + tau_hnk * x_hnk + tau_endo * x_endo) / denom
            effect = stim / (1.0 + stim)
            mor_signal = effect / effect0
            mor_occ = (x_ket + x_hnk + y_ant) / (1.0 + x_ket + x_hnk + x_endo + y_ant)
            x_kor = kS / Ki_kS + kR / Ki_kR + ntx / Ki_kntx + nxl / Ki_knxl
            kor_occ = x_kor / (1.0 + x_kor)
            t_opi = 1.0 + kf * max(mor_signal - 1.0, 0.0) / km
            diss = _hill(nmda_occ, cadss_hill, cad_c)
            t_tol = 0.0 + 1.0 * diss / k_tol
            if step:
                p_glu = _relax_step(p_glu, u_glu, t_glu, kh[1, i], ekh[1, i])
                p_hnk = _relax_step(p_hnk, u_hnk, t_hnk, kh[1, i], ekh[1, i])
                opi = _relax_step(opi, u_opi, t_opi, kh[1, i], ekh[1, i])
                tol = _relax_step(tol, u_tol, t_tol, kh[2, i], ekh[2, i])
            cadss = cadss_Emax * cadss_scale[s] * diss * (1.0 - tol_max * tol / (1.0 + tol))
            s_eq = kS + eu_R * kR
            euph = 100.0 * s_eq / (eu_C50 + s_eq)
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
            t_mood = base * (1.0 - frac) * (1.0 - drug)
            if step:
                madrs = _relax_step(madrs, u_mood, t_mood, kh[3, i], ekh[3, i])
            u_endo, u_glu, u_hnk, u_opi, u_tol, u_mood = t_endo, t_glu, t_hnk, t_opi, t_tol, t_mood
            v[0] = nmda_occ
            v[1] = mor_occ
            v[2] = kor_occ
            v[3] = mor_signal
            v[4] = p_glu if plast == 0 else (p_hnk if plast == 1 else opi)
            v[5] = opi
            v[6] = cadss
            v[7] = euph
            v[8] = madrs
            v[9] = madrs * hamd_per
            v[10] = surge
            v[11] = p_glu
            v[12] = p_hnk
            v[13] = endo
            v[14] = drug
            v[15] = frac
            for j in range(16):
                o = out_map[j]
                if o >= 0:
                    out[o, s, i] = v[j]


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
        kh = k[0] * h
        e = math.exp(-kh)
        for j in range(M):
            if not one_k:
                kh = k[j] * h
                e = math.exp(-kh)
            u0 = target[i - 1, j]
            u1 = target[i, j]
            sok = (u1 - u0) / kh
            x[i, j] = u1 - sok + (x[i - 1, j] - u0 + sok) * e


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
