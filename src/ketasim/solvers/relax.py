"""The integrator of the slow states: dx/dt = k (u(t) - x) for a drive u known on a grid.

The slow states are linear in themselves given their drive, so they are integrated exactly for drives
interpolated by a parabola on each step between grid points (from the neighbouring grid values: no extra
evaluations; see `relax_reference`).
"""

from __future__ import annotations

import math
import sys

import numpy as np


def relax(t: np.ndarray, target: np.ndarray, k, x0, crossings: np.ndarray | None = None) -> np.ndarray:
    """Solve dx/dt = k (u(t) - x) with u interpolated by a parabola on each step between grid points (k > 0,
    scalar or per subject); the convolution with e^{-k t} is integrated exactly on every step (phi-functions),
    so the only error is the interpolation of u: third/fourth order in the step where u is smooth, never
    interpolated across a kink. See `relax_reference` for the rule. `crossings` (shaped as target, nan where
    none): where the drive has a kink inside a step, located from the model's switches (`solvers.switches`).

    Large arrays (or any array once numba is loaded) go through the compiled loop of
    `ketasim.solvers._numba_kernels.relax_kernel`; `relax_reference` is the same recurrence in NumPy and the
    reference it is tested against (agreement to rounding)."""
    target = np.asarray(target)
    if target.ndim in (1, 2) and len(target) > 1 and (target.size >= 50_000 or "numba" in sys.modules):
        try:
            from ketasim.solvers._numba_kernels import relax_compiled
        except ImportError:  # pragma: no cover - numba is a dependency
            return relax_reference(t, target, k, x0, crossings)
        out = relax_compiled(t, target, k, x0, crossings)
        if out is not None:
            return out
    return relax_reference(t, target, k, x0, crossings)


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


def relax_reference(t: np.ndarray, target: np.ndarray, k, x0, crossings: np.ndarray | None = None) -> np.ndarray:
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
    parabola available; a single step, the linear rule.

    A step with a known kink inside (`crossings[i]` finite: a switch of the model crossing zero there, located by
    `solvers.switches`) is integrated in two pieces by `kink_at_step`, where the six-point stencil around it has
    no other such kink; its neighbours leave out the curvature estimate that spans it. Elsewhere a kink inside a
    step is recognised from the drive alone (`kinks`) and integrated by `kink_step`."""
    t = np.asarray(t, float)
    u = np.asarray(target, float)
    x = np.empty_like(u)
    T = len(t)
    if T == 0:
        return x
    x[0] = x0
    k = np.asarray(k, float)
    # steps with a kink inside (False where a step lacks the stencil)
    cross = None if crossings is None else np.broadcast_to(np.asarray(crossings, float), u.shape)
    six = np.zeros(T, bool)   # step i has the stencil t_{i-3..i+2}, every step in it of positive length
    for i in range(3, T - 2):
        six[i] = bool(np.all(np.diff(t[i - 3:i + 3]) > 0))
    known = np.zeros(u.shape, bool) if cross is None else \
        np.isfinite(cross) & six.reshape((T,) + (1,) * (u.ndim - 1))
    for i in np.flatnonzero(known.reshape(T, -1).any(axis=1)):   # only kinks that show in the drive
        known[i] &= np.broadcast_to(kink_shows(t, u, i, (u[i] - u[i - 1]) / (t[i] - t[i - 1])), known[i].shape)
    kinked = [np.zeros(np.shape(u[0]), bool)]
    for i in range(1, T):
        h = t[i] - t[i - 1]
        full = h > 0 and i >= 2 and t[i - 1] - t[i - 2] > 0 and i + 1 < T and t[i + 1] - t[i] > 0
        kk = kinks(t, u, i, (u[i] - u[i - 1]) / h) if full else None
        kk = np.zeros(np.shape(u[0]), bool) if kk is None else np.broadcast_to(kk, np.shape(u[0]))
        kinked.append(kk | known[i])
    kinked.append(np.zeros(np.shape(u[0]), bool))
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
            kp, kn = kinked[i - 1], kinked[i + 1]   # an estimate that spans a neighbouring step's kink is left out
            c = np.where(kn & ~kp, cb, np.where(kp & ~kn, cf, c))
        elif back:
            c = cb
        elif fwd:
            c = cf
        else:
            c = 0.0
        step = np.asarray(x[i - 1] + a1 * (u[i - 1] - x[i - 1]) + a2 * s + a3 * c, float)
        kink = kinked[i]
        if np.any(kink):
            shape = np.shape(x[i])
            step = np.array(np.broadcast_to(step, shape), float, ndmin=1).reshape(-1)
            kk = np.broadcast_to(k, shape).reshape(-1)
            x0 = np.broadcast_to(x[i - 1], shape).reshape(-1)
            window = [np.broadcast_to(u[m], shape).reshape(-1) for m in range(i - 3, i + 3)]
            if cross is not None:   # kinked[i] holds only where the six-point stencil exists
                at = np.broadcast_to(cross[i], shape).reshape(-1)
                lone = np.broadcast_to(~(known[i - 2] | known[i - 1] | known[i + 1] | known[i + 2]),
                                       shape).reshape(-1)
            else:
                at = np.full(int(np.prod(shape, dtype=int)), np.nan)
                lone = np.zeros(len(at), bool)
            for j in np.flatnonzero(np.broadcast_to(kink, shape)):
                args = (float(x0[j]), float(kk[j]), t[i - 3:i + 3], *(float(w[j]) for w in window))
                if at[j] == at[j]:   # a located kink
                    if lone[j]:
                        step[j] = kink_at_step(*args, float(at[j]))
                    continue
                xs = kink_step(*args)
                if xs == xs:   # not nan: the two sides meet inside the step
                    step[j] = xs
            step = step.reshape(shape)
        x[i] = step
    return x


KINK_RATIO = 4.0  # a step's curvature this many times its neighbours' on both sides: a kink inside the step
SHOWN_KINK_RATIO = 1.0   # a located kink (solvers.switches) counts where the step's curvature exceeds this times
                         # its neighbours' (else the drive is smooth enough there for the parabolas, and the
                         # one-sided continuations of the two-piece rule would only add error)


def _curvatures(t, u, i, s, h):
    """Curvature estimates around step i of slope s: the two spanning the step (cb, cf) and those of the
    neighbouring stencils t_{i-3..i-1} and t_{i..i+2} (cbb, cff); h = the six-point stencil's steps."""
    sl = (u[i - 1] - u[i - 2]) / h[1]
    sr = (u[i + 1] - u[i]) / h[3]
    cb = (s - sl) / (t[i] - t[i - 2])
    cf = (sr - s) / (t[i + 1] - t[i - 1])
    cbb = (sl - (u[i - 2] - u[i - 3]) / h[0]) / (t[i - 1] - t[i - 3])
    cff = ((u[i + 2] - u[i + 1]) / h[4] - sr) / (t[i + 2] - t[i])
    return cb, cf, cbb, cff


def kink_shows(t, u, i, s):
    """Whether a located kink inside step i shows in the drive: the larger of the curvature estimates spanning
    the step (cb, cf) exceeds SHOWN_KINK_RATIO times the larger of its neighbouring stencils' (cbb, cff). The
    six-point stencil must exist (as for `kinks`)."""
    cb, cf, cbb, cff = _curvatures(t, u, i, s, np.diff(t[i - 3:i + 3]))
    return np.maximum(np.abs(cb), np.abs(cf)) > SHOWN_KINK_RATIO * np.maximum(np.abs(cbb), np.abs(cff))


def kinks(t, u, i, s):
    """Where the drive has a kink inside step i (a node's max(0, x) crossing zero between grid points): True per
    column, None where the step lacks the neighbours the test needs.

    A kink inside the step shows as the two curvature estimates that span it (cb, cf) having the same sign and
    both exceeding KINK_RATIO times those of the neighbouring stencils (t_{i-3..i-1} and t_{i..i+2}), which lie
    wholly on one side of it; `kink_step` then integrates the step with the drive continued from each side. A
    kink at a grid point (an infusion's start or end) leaves one of cb, cf small: not a kink inside a step."""
    T = len(t)
    if i < 3 or i + 2 > T - 1:
        return None
    h = np.diff(t[i - 3:i + 3])
    if np.any(h <= 0):
        return None
    cb, cf, cbb, cff = _curvatures(t, u, i, s, h)
    side = np.maximum(np.abs(cbb), np.abs(cff))
    return (cb * cf > 0) & (np.maximum(np.abs(cb), np.abs(cf)) > KINK_RATIO * side)


def phi123(z):
    """phi_1..3(z) for a scalar z (as relax_coefficients)."""
    if abs(z) < PHI_TAYLOR:
        p1 = p2 = p3 = 0.0
        f1, f2, f3 = 3628800.0, 39916800.0, 479001600.0   # 10!, 11!, 12!
        for j in range(8, -1, -1):
            f1 /= j + 2
            f2 /= j + 3
            f3 /= j + 4
            p1 = p1 * z + 1.0 / f1
            p2 = p2 * z + 1.0 / f2
            p3 = p3 * z + 1.0 / f3
        return p1, p2, p3
    p1 = math.expm1(z) / z
    p2 = (p1 - 1.0) / z
    p3 = (p2 - 0.5) / z
    return p1, p2, p3


def kink_step(x0, k, tw, u0, u1, u2, u3, u4, u5):
    """x_i for a step [t_{i-1}, t_i] = [tw[2], tw[3]] with a kink inside (scalars; tw and u0..u5 the times and
    drive values t_{i-3..i+2}). The drive is the parabola through the three points before the step, continued,
    until it meets the parabola through the three points after it (the kink), then that one; the response to
    these two pieces is exact (phi-functions). nan where the two parabolas do not meet inside the step.
    Pure Python on floats: the compiled kernels compile this same function."""
    h0, h1, h = tw[1] - tw[0], tw[2] - tw[1], tw[3] - tw[2]
    h3, h4 = tw[4] - tw[3], tw[5] - tw[4]
    sl = (u2 - u1) / h1
    sr = (u4 - u3) / h3
    cl = (sl - (u1 - u0) / h0) / (h0 + h1)
    cr = ((u5 - u4) / h4 - sr) / (h3 + h4)
    dl = sl + cl * h1                # slope of the left parabola at t_{i-1}
    dr = sr - cr * h3                # slope of the right parabola at t_i
    # g(tau) = right - left piece at t_{i-1} + tau
    qa = cr - cl
    qb = dr - 2.0 * cr * h - dl
    qc = u3 - dr * h + cr * h * h - u2
    g0 = qc
    gh = (qa * h + qb) * h + qc
    if not g0 * gh < 0.0:
        return math.nan
    lo, hi = 0.0, h
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        gm = (qa * mid + qb) * mid + qc
        if (gm < 0.0) == (g0 < 0.0):
            lo = mid
        else:
            hi = mid
    ts = 0.5 * (lo + hi)
    L = h - ts
    p1, p2, p3 = phi123(-k * h)
    x = x0 + k * h * p1 * (u2 - x0) + k * h * h * p2 * (dl + cl * h) + k * h ** 3 * (2.0 * p3 - p2) * cl
    q1, q2, q3 = phi123(-k * L)
    return x + (2.0 * qa * ts + qb) * k * L * L * q2 + qa * 2.0 * k * L ** 3 * q3


def kink_at_step(x0, k, tw, u0, u1, u2, u3, u4, u5, ts):
    """x_i for a step [t_{i-1}, t_i] = [tw[2], tw[3]] with a kink at the known time ts inside it (scalars; tw and
    u0..u5 the times and drive values t_{i-3..i+2}). The drive's value at the kink comes from the parabolas
    through the three points on each side, continued to ts (weighted towards the side that is continued less:
    weights (distance to the other side)^3); the drive is then the parabola through t_{i-2}, t_{i-1} and the kink
    up to ts, and the one through the kink, t_i and t_{i+1} after it: interpolation on both pieces, each
    integrated exactly (phi-functions). Pure Python on floats: the compiled kernels compile this same function."""
    h0, h1, h = tw[1] - tw[0], tw[2] - tw[1], tw[3] - tw[2]
    h3, h4 = tw[4] - tw[3], tw[5] - tw[4]
    sl = (u2 - u1) / h1
    sr = (u4 - u3) / h3
    cl = (sl - (u1 - u0) / h0) / (h0 + h1)
    cr = ((u5 - u4) / h4 - sr) / (h3 + h4)
    s = ts - tw[2]
    if s < 0.0:
        s = 0.0
    elif s > h:
        s = h
    L = h - s
    left = u2 + (sl + cl * h1) * s + cl * s * s            # the left parabola at the kink
    right = u3 + (sr - cr * h3) * (-L) + cr * L * L        # the right one
    wl = L * L * L
    wr = s * s * s
    uk = (wl * left + wr * right) / (wl + wr)
    x = x0
    if s > 1e-12 * h:     # t_{i-1} .. ts: the parabola through t_{i-2}, t_{i-1}, ts
        S = (uk - u2) / s
        C = (S - sl) / (s + h1)
        p1, p2, p3 = phi123(-k * s)
        x = x + k * s * p1 * (u2 - x) + k * s * s * p2 * S + k * s ** 3 * (2.0 * p3 - p2) * C
    if L > 1e-12 * h:     # ts .. t_i: the parabola through ts, t_i, t_{i+1}
        S = (u3 - uk) / L
        C = (sr - S) / (L + h3)
        q1, q2, q3 = phi123(-k * L)
        x = x + k * L * q1 * (uk - x) + k * L * L * q2 * S + k * L ** 3 * (2.0 * q3 - q2) * C
    return x


def relax_geometry(t: np.ndarray):
    """The grid's part of relax_reference for the compiled relax_line: IH[i] = 1/(t_i - t_{i-1}) (0 if
    not > 0), IW[j] = 1/(t_{j+1} - t_{j-1}), MODE[i] = 1 (backward curvature only), 2 (forward only), 3 (both),
    0 (linear); hb[i] = t_{i-1} - t_{i-2} and span[i] = t_{i+1} - t_{i-2} where MODE is 3."""
    T = len(t)
    dt = np.diff(t)
    IH = np.zeros(T)
    IW = np.zeros(T)
    pos = dt > 0
    IH[1:][pos] = 1.0 / dt[pos]
    if T > 2:
        IW[1:-1] = 1.0 / (t[2:] - t[:-2])
    ok = np.concatenate([[False], pos])          # step i has positive length
    back = np.zeros(T, bool)
    fwd = np.zeros(T, bool)
    back[2:] = ok[2:] & ok[1:-1]
    fwd[1:-1] = ok[1:-1] & ok[2:]
    MODE = (back * 1 + fwd * 2).astype(np.int64)
    MODE[~ok] = 0
    hb = np.zeros(T)
    span = np.ones(T)
    hb[2:] = t[1:-1] - t[:-2]
    span[2:-1] = t[3:] - t[:-3]
    return IH, IW, MODE, hb, span
