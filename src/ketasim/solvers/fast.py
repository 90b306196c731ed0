"""Fast population path: the same model as `Simulation.solve`, computed for a chunk of subjects at once.

What makes it fast (each step checked against the reference path in tests/test_fast_path.py):
- individual parameters are computed for all subjects as arrays (`pk.individual_pk` on `CovariateArrays`, the
  same operations as for one subject) and the rate matrices as one stack (`pk.build_pk_matrix` on array-valued
  parameters);
- each independent PK block is reduced to the states that the inputs reach and that the requested outputs
  read (sinks and unused depots drop out), and the outputs are linear read-outs of those states;
- the exact propagators of each distinct step, Phi = e^{Ah} and Gamma = int_0^h e^{As} ds, come from one
  eigendecomposition per subject and block (A = V diag(lambda) V^-1); a subject whose eigenvector matrix
  is ill-conditioned (nearly coinciding rates) or whose eigenvalues are complex gets the matrix-exponential
  propagators of the reference path instead;
- the propagation over the grid and the receptor/mediator/outcome layers run in compiled loops (numba),
  parallel over subjects; every subject's arithmetic is independent of the others', so results do not
  depend on chunk size or thread count.
- the model is solved on the internal grid of `solvers.grid` (each bolus time twice, so a jump in a drive is a
  jump; 1-minute steps for the first hour after each dose start) and read back at the output times.
The PD kernel is generated from the declared model (`solvers.kernel`); the reference is `solvers.reference`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

from ketasim.models import pk
from ketasim.models.model import KetamineModel
from ketasim.models.pd import context_for, pd_model
from ketasim.parameters import ParameterSet
from ketasim.regimens import Regimen

from ._numba_kernels import pk_kernel, propagators_from_eig
from .grid import internal_grid
from .kernel import compiled

COND_LIMIT = 1e7  # eigenvector matrices worse than this use matrix exponentials (error ~ cond x 1e-16)


# ----------------------------------------------------------------------------------------------------------
# dosing inputs for many subjects
@dataclass(frozen=True)
class BatchInput:
    state: str
    amount_umol: np.ndarray  # (N,)
    time_h: float
    duration_h: float


def batch_inputs(regimen: Regimen, ind: pk.PKIndividual, weight_kg: np.ndarray) -> list[BatchInput]:
    """`pk.dose_inputs` for every subject. Vectorised where the dose's timing does not depend on the subject
    (all built-in routes with the built-in parameters), subject by subject otherwise."""
    N = len(weight_kg)
    out: list[BatchInput] = []
    for dose in regimen.realize():
        try:
            inputs = pk.dose_inputs(dose, ind, weight_kg)
            uniform = all(np.ptp(np.atleast_1d(i.time_h)) == 0 and np.ptp(np.atleast_1d(i.duration_h)) == 0
                          for i in inputs)
        except (TypeError, ValueError):
            uniform = False
        if uniform:
            for i in inputs:
                out.append(BatchInput(i.state, np.broadcast_to(np.asarray(i.amount_umol, float), (N,)).copy(),
                                      float(np.atleast_1d(i.time_h)[0]), float(np.atleast_1d(i.duration_h)[0])))
            continue
        merged: dict[tuple, np.ndarray] = {}
        for s in range(N):
            for i in pk.dose_inputs(dose, pk.subject_slice(ind, s), float(weight_kg[s])):
                key = (i.state, float(i.time_h), float(i.duration_h))
                merged.setdefault(key, np.zeros(N))[s] += i.amount_umol
        out += [BatchInput(k[0], a, k[1], k[2]) for k, a in merged.items()]
    out += [BatchInput(i.state, np.full(N, i.amount_umol), i.time_h, i.duration_h) for i in pk.session_inputs(regimen)]
    return out


# ----------------------------------------------------------------------------------------------------------
# PK blocks: reduction, propagators, propagation
def _closure(adj: np.ndarray, start: np.ndarray) -> np.ndarray:
    """States reachable from `start` along adj[i, j] (edge i -> j)."""
    seen = start.copy()
    frontier = start.copy()
    while frontier.any():
        nxt = adj[frontier].any(axis=0) & ~seen
        seen |= nxt
        frontier = nxt
    return seen


def block_propagators(A: np.ndarray, hs: np.ndarray, reach: np.ndarray, chans: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, int]:
    """Propagators of each subject's A (N, n, n) for each step h (K,): Phi[s, k] = e^{A h_k}, GamT[s, k, c, i] = Gamma[i, chans[c]] of
    Gamma(h) = int_0^h e^{A s} ds; entries where state j cannot reach state i (`reach[i, j]` False) are exactly 0.
    Eigendecomposition per subject; the matrix exponential of the augmented matrix [[A, I], [0, 0]] h (as
    solvers.linear) for subjects whose eigenvectors are ill-conditioned (cond_1 >= COND_LIMIT) or whose
    eigenvalues are complex. Returns (Phi, GamT, number of subjects that needed the matrix exponentials)."""
    N, n, _ = A.shape
    K = len(hs)
    lam, V = np.linalg.eig(A)
    ok = np.all(lam.imag == 0, axis=1) & np.all(np.isfinite(lam.real), axis=1)
    lam_r = np.ascontiguousarray(lam.real)
    V_r = np.ascontiguousarray(V.real)
    Vinv = np.zeros_like(V_r)
    cond = np.full(N, np.inf)
    for s in (np.flatnonzero(ok),) if ok.all() else [[s] for s in np.flatnonzero(ok)]:
        try:
            Vinv[s] = np.linalg.inv(V_r[s])
        except np.linalg.LinAlgError:
            continue
        cond[s] = np.abs(V_r[s]).sum(axis=1).max(axis=1) * np.abs(Vinv[s]).sum(axis=1).max(axis=1)
    ok &= np.isfinite(cond) & (cond < COND_LIMIT)
    Phi = np.zeros((N, K, n, n))
    GamT = np.zeros((N, K, len(chans), n))
    propagators_from_eig(lam_r, V_r, Vinv, np.asarray(hs, float), ok, reach, chans, Phi, GamT)
    bad = np.flatnonzero(~ok)
    if len(bad):
        aug = np.zeros((len(bad), 2 * n, 2 * n))
        aug[:, :n, :n] = A[bad]
        aug[:, :n, n:] = np.eye(n)
        for k, h in enumerate(hs):
            E = expm(aug * h)
            Phi[bad, k] = np.where(reach, E[:, :n, :n], 0.0)
            GamT[bad, k] = np.where(reach[:, chans], E[:, :n, n + chans], 0.0).transpose(0, 2, 1)
    return Phi, GamT, len(bad)


def _reach(pattern: np.ndarray) -> np.ndarray:
    """reach[i, j]: state j reaches state i (or i == j) along pattern[i, j] (flow j -> i)."""
    R = pattern | np.eye(len(pattern), dtype=bool)
    while True:
        R2 = R | ((R.astype(np.int64) @ R.astype(np.int64)) > 0)
        if (R2 == R).all():
            return R
        R = R2


@dataclass
class ChunkStats:
    fallback_subjects: int = 0


def _pk_outputs(model: KetamineModel, ind: pk.PKIndividual, N: int, pk_cols: list[str]) -> np.ndarray:
    """Read-out coefficients (N, n_cols, n_states): each PK column is linear in the states."""
    n = len(model.layout.names)
    I = np.eye(n)[:, None, :]  # "times" = unit states, subjects broadcast
    plasma = model.plasma_outputs(I, ind)
    ce = model.effect_sites(I)
    C = np.zeros((N, len(pk_cols), n))
    for j, c in enumerate(pk_cols):
        arr = ce[c] if c in ce else plasma[c]
        C[:, j, :] = np.broadcast_to(np.asarray(arr, float).reshape(n, -1), (n, N)).T
    return C


def propagate_pk(model: KetamineModel, A_full: np.ndarray, inputs: list[BatchInput], C: np.ndarray,
                 t: np.ndarray, stats: ChunkStats | None = None) -> np.ndarray:
    """PK read-outs Y (n_cols, N, T): Y[j] = sum over blocks of C[:, j] . x(t)."""
    N = A_full.shape[0]
    n_cols = C.shape[1]
    T = len(t)
    Y = np.zeros((n_cols, N, T))
    names = model.layout.names
    index = model.index
    for bname, idx in model.layout.blocks.items():
        idx = np.asarray(idx)
        local = {names[j]: k for k, j in enumerate(idx)}
        binp = [i for i in inputs if i.state in local]
        if not binp:
            continue
        Ab = A_full[:, idx[:, None], idx[None, :]]
        pattern = np.any(Ab != 0, axis=0)       # pattern[i, j]: flow j -> i
        np.fill_diagonal(pattern, False)
        start = np.zeros(len(idx), bool)
        for i in binp:
            start[local[i.state]] = True
        fwd = _closure(pattern.T, start)        # reached by some input
        Cb = C[:, :, idx]
        read = np.any(Cb != 0, axis=(0, 1))
        bwd = _closure(pattern, read)           # read by some output
        keep = np.flatnonzero(fwd & bwd)
        if len(keep) == 0:
            continue
        red = {int(k): r for r, k in enumerate(keep)}
        Ar = np.ascontiguousarray(Ab[:, keep[:, None], keep[None, :]])
        # grid: output times and this block's input events (as solvers.linear.event_grid)
        pts = [np.asarray(t, float)] + [np.array([i.time_h, i.time_h + i.duration_h]) for i in binp]
        grid = np.unique(np.concatenate(pts))
        h = np.diff(grid)
        keys = np.round(h, 12)
        uniq, first, step_of = np.unique(keys, return_index=True, return_inverse=True)
        hs = h[first]
        step_idx = np.concatenate([[-1], step_of.astype(np.int64)])
        # each output time at its grid point; an earlier copy of a repeated output time (solvers.grid) is read
        # just before that point's boluses
        pos = np.searchsorted(grid, t)
        out_row = np.full(len(grid), -1, np.int64)
        pre_row = np.full(len(grid), -1, np.int64)
        last = np.ones(T, bool)
        last[:-1] = pos[1:] != pos[:-1]
        out_row[pos[last]] = np.flatnonzero(last)
        pre_row[pos[~last]] = np.flatnonzero(~last)
        # inputs to kept states, aggregated per grid time and channel
        chans = sorted({red[local[i.state]] for i in binp if local[i.state] in red})
        if not chans:
            continue
        ch = {c: j for j, c in enumerate(chans)}
        bol: dict[float, np.ndarray] = {}
        rat: dict[float, np.ndarray] = {}
        for i in binp:
            r = red.get(local[i.state])
            if r is None:
                continue
            if i.duration_h <= 0:
                bol.setdefault(i.time_h, np.zeros((N, len(chans))))[:, ch[r]] += i.amount_umol
            else:
                rate = i.amount_umol / i.duration_h
                rat.setdefault(i.time_h, np.zeros((N, len(chans))))[:, ch[r]] += rate
                rat.setdefault(i.time_h + i.duration_h, np.zeros((N, len(chans))))[:, ch[r]] -= rate
        bolus_ev = np.full(len(grid), -1, np.int64)
        rate_ev = np.full(len(grid), -1, np.int64)
        bol_amt = np.zeros((N, max(len(bol), 1), len(chans)))
        rat_chg = np.zeros((N, max(len(rat), 1), len(chans)))
        for e, (tt, a) in enumerate(sorted(bol.items())):
            bolus_ev[np.searchsorted(grid, tt)] = e
            bol_amt[:, e] = a
        for e, (tt, a) in enumerate(sorted(rat.items())):
            rate_ev[np.searchsorted(grid, tt)] = e
            rat_chg[:, e] = a
        # read-out rows (the columns that read some kept state), row-compressed
        rows, ptr, st = [], [0], []
        for j in range(n_cols):
            nz = np.flatnonzero(np.any(Cb[:, j, keep] != 0, axis=0))
            if len(nz):
                rows.append(j)
                st += nz.tolist()
                ptr.append(len(st))
        if not rows:
            continue
        coef = np.zeros((N, len(st)))
        for r, j in enumerate(rows):
            nz = st[ptr[r]:ptr[r + 1]]
            coef[:, ptr[r]:ptr[r + 1]] = Cb[:, j, keep[nz]]
        chans_a = np.asarray(chans, np.int64)
        reach = _reach(pattern[np.ix_(keep, keep)])
        Phi, GamT, nbad = block_propagators(Ar, hs, reach, chans_a)
        if stats is not None:
            stats.fallback_subjects += nbad
        pk_kernel(step_idx, out_row, pre_row, bolus_ev, rate_ev, chans_a, bol_amt, rat_chg, Phi, GamT,
                  np.asarray(rows, np.int64), np.asarray(ptr, np.int64), np.asarray(st, np.int64), coef, Y)
    return Y


# ----------------------------------------------------------------------------------------------------------
def _split_columns(pdm, model, columns):
    """The wanted columns split into PD nodes and plasma read-outs: (PD nodes, effect sites, the PK columns to
    propagate (plasma read-outs first, then the effect sites where PD is wanted), number of plasma read-outs).
    An unknown column is a KeyError naming it."""
    dynamic = {n.name for n in pdm.dynamic}
    plasma_names = model.plasma_columns()
    unknown = [c for c in columns if c not in dynamic and c not in plasma_names]
    if unknown:
        raise KeyError(unknown[0])
    pd_wanted = [c for c in columns if c in dynamic]
    effect_sites = [s.name for s in pdm.sources.values() if s.kind == "effect_site"]
    pk_cols = list(dict.fromkeys(c for c in columns if c in plasma_names))
    n_plasma = len(pk_cols)
    if pd_wanted:
        pk_cols += effect_sites
    return pd_wanted, effect_sites, pk_cols, n_plasma


def simulate_chunk_fast(regimen: Regimen, covariates: pk.CovariateArrays, eta: dict[str, np.ndarray],
                        subject: dict[str, np.ndarray], parameters: ParameterSet, mechanism, t: np.ndarray,
                        expectation: str = "active", oral_ad_start_h: float | None = None, columns=(),
                        model: KetamineModel | None = None, stats: ChunkStats | None = None) -> dict[str, np.ndarray]:
    """Outputs (T, N) for one chunk of subjects: covariates and PK random effects (eta key -> array) per subject,
    `subject` the per-subject PD sources (baseline MADRS, sensitivity scales). The same results as the
    reference paths (population._simulate)."""
    model = model or KetamineModel.for_mechanism(mechanism)   # the variant's compounds (if any) have PK blocks
    t = np.asarray(t, float)
    columns = list(columns)
    N = len(covariates.weight_kg)
    parameters = mechanism.with_parameters(parameters)
    pdm = pd_model(mechanism, parameters)
    pd_wanted, effect_sites, pk_cols, n_plasma = _split_columns(pdm, model, columns)
    ind = pk.individual_pk(parameters, covariates, eta, model.compounds)
    A = pk.build_pk_matrix(ind, model.index)
    if A.ndim == 2:
        A = np.broadcast_to(A, (N,) + A.shape)
    inputs = batch_inputs(regimen, ind, covariates.weight_kg)
    C = _pk_outputs(model, ind, N, pk_cols)
    # the solvers' grid (bolus times twice, fine steps after dose starts), read back at the output times
    grid, at = internal_grid(t, inputs)
    uat, back = np.unique(at, return_inverse=True)   # repeated output times read one grid point
    Y = propagate_pk(model, A, inputs, C, grid, stats)
    res = {c: Y[j].T[at] for j, c in enumerate(pk_cols[:n_plasma])}
    if pd_wanted:
        ctx = context_for(regimen, expectation, oral_ad_start_h)
        values = pdm.values(parameters, ctx.values())
        pd_out = compiled(pdm).run(grid, Y[n_plasma:], subject, values, pd_wanted, at=uat)
        res.update({k: (v if len(uat) == len(at) else v[back]) for k, v in pd_out.items()})
    return {c: res[c] for c in columns}


# ----------------------------------------------------------------------------------------------------------
def _concat_individuals(inds: list[pk.PKIndividual], S: int) -> pk.PKIndividual:
    """The individual parameters of several parameter sets (S subjects each) as one batch of len(inds) x S
    subjects, set by set."""
    values = {}
    for k in inds[0].values:
        column = [i.values[k] for i in inds]
        if all(np.ndim(v) == 0 for v in column):     # the same for every subject of a set
            values[k] = np.repeat(np.array(column, float), S)
        else:
            values[k] = np.empty(len(inds) * S)
            for g, v in enumerate(column):
                values[k][g * S:(g + 1) * S] = v
    return pk.PKIndividual(values, inds[0].compounds)


def _tile_covariates(cov: pk.CovariateArrays, M: int) -> pk.CovariateArrays:
    return pk.CovariateArrays(np.tile(cov.weight_kg, M), np.tile(cov.age_y, M), np.tile(cov.sex, M),
                              np.tile(cov.cyp2b6, M))


def _event_signature(inputs: list[BatchInput]) -> tuple:
    return tuple(sorted({(i.state, i.time_h, i.duration_h) for i in inputs}))


def simulate_parameter_sets_fast(regimen: Regimen, covariates: pk.CovariateArrays, eta: dict[str, np.ndarray],
                                 subject: dict[str, np.ndarray], parameter_sets: list[ParameterSet], mechanism,
                                 t: np.ndarray, expectation: str = "active", oral_ad_start_h: float | None = None,
                                 columns=(), model: KetamineModel | None = None, stats: ChunkStats | None = None
                                 ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Outputs {column: (T, M, S)} of the same S subjects under each of M parameter sets (sets that differ in
    values only, as a sensitivity analysis draws them), and ok (M,): False for a set the model refuses (a
    ValueError, e.g. fractions of one flux summing above 1), its outputs NaN.

    The numbers are those of `simulate_chunk_fast` called once per set (tests/test_sensitivity.py), without its
    per-call costs: the model, the PD declaration and its unit check are built once; every set's subjects join
    one batch through the PK propagation (one stack of rate matrices; sets whose dose events fall at different
    times, e.g. a varied device interval, are batched apart, so each set keeps its own solver grid); the compiled
    PD kernel runs once per set, as its parameters are shared by the subjects of one call, with the step
    coefficients of each rate and the subject-independent signals computed once per distinct value of what they
    read (a Sobol design repeats most values row after row)."""
    model = model or KetamineModel.for_mechanism(mechanism)
    t = np.asarray(t, float)
    columns = list(columns)
    S = len(covariates.weight_kg)
    M = len(parameter_sets)
    out = {c: np.full((len(t), M, S), np.nan) for c in columns}
    ok = np.zeros(M, bool)
    ctx = context_for(regimen, expectation, oral_ad_start_h).values()
    pdm = None
    per_set: dict[int, tuple] = {}
    groups: dict[tuple, list[int]] = {}
    for m, params in enumerate(parameter_sets):
        try:
            params = mechanism.with_parameters(params)
            if pdm is None:
                pdm = pd_model(mechanism, params)    # structure and units: the same for every set
            mechanism.validate(params)
            values = pdm.values(params, ctx)
            ind = pk.individual_pk(params, covariates, eta, model.compounds)
            sig = _event_signature(batch_inputs(regimen, ind, covariates.weight_kg))
        except (ValueError, FloatingPointError):
            continue
        per_set[m] = (ind, values)
        groups.setdefault(sig, []).append(m)
    if pdm is None:
        return out, ok
    pd_wanted, effect_sites, pk_cols, n_plasma = _split_columns(pdm, model, columns)
    kernel = compiled(pdm) if pd_wanted else None
    for members in groups.values():
        G = len(members)
        ind = _concat_individuals([per_set[m][0] for m in members], S)
        weight = np.tile(covariates.weight_kg, G)
        A = pk.build_pk_matrix(ind, model.index)
        if A.ndim == 2:
            A = np.broadcast_to(A, (G * S,) + A.shape)
        inputs = batch_inputs(regimen, ind, weight)
        C = _pk_outputs(model, ind, G * S, pk_cols)
        grid, at = internal_grid(t, inputs)
        uat, back = np.unique(at, return_inverse=True)
        Y = propagate_pk(model, A, inputs, C, grid, stats)
        memo: dict = {}      # this grid's rate coefficients and shared signals, by the values they read
        for g, m in enumerate(members):
            sl = slice(g * S, (g + 1) * S)
            for j, c in enumerate(pk_cols[:n_plasma]):
                out[c][:, m, :] = Y[j, sl].T[at]
            if pd_wanted:
                pd_out = kernel.run(grid, Y[n_plasma:, sl], subject, per_set[m][1], pd_wanted, at=uat, memo=memo)
                for c, v in pd_out.items():
                    out[c][:, m, :] = v if len(uat) == len(at) else v[back]
            ok[m] = True
    return out, ok
