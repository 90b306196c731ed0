"""The fast population path (ketasim.solvers.fast, compiled with numba) against the reference paths:
`Simulation.solve` (one subject, matrix exponentials, NumPy PD) and the batched NumPy population path.
Few subjects, short regimens: correctness, not speed (speed is benchmarks/bench_population.py)."""

import numpy as np
import pandas as pd
import pytest

import ketasim as ks
from ketasim.mechanisms import get_mechanism
from ketasim.models import pk
from ketasim.models.model import KetamineModel
from ketasim.models.outputs import columns as default_columns
from ketasim.population import (PopulationResult, PopulationSpec, population_grid, sample_subjects,
                                simulate_population, simulate_population_to_parquet)
from ketasim.population._population import eta_arrays, subject_etas
from ketasim.population._simulate import _simulate_chunk_reference, simulate_chunk
from ketasim.regimens import Regimen
from ketasim.simulation import Simulation
from ketasim.solvers import fast
from ketasim.solvers.relax import relax, relax_reference

DEFAULT_COLUMNS = default_columns()

P = ks.default_parameters()
PK_COLUMNS = ("ketamine_ng_ml", "norketamine_ng_ml", "hnk_ng_ml", "dhnk_ng_ml", "naltrexone_ng_ml",
              "naltrexol_ng_ml", "ketamine_S_ng_ml", "hnk_R_ng_ml")
PD_COLUMNS = ("nmda_occupancy", "mor_occupancy", "kor_occupancy", "mor_agonist_signal", "plasticity",
              "opioid_signal", "cadss", "euphoria", "madrs", "hamd17")

CASES = {
    "iv_naltrexone_opioid": (["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min"],
                             dict(hypothesis="opioid"), 48.0),
    "repeated_iv_endogenous": (["ketamine 0.5 mg/kg iv over 40 min every 1 d for 3 doses"],
                               dict(hypothesis="opioid", opioid_source="endogenous"), 96.0),
    "esketamine_glutamate": (["esketamine 56 mg intranasal every 1 d for 2 doses"], dict(hypothesis="glutamate"),
                             60.0),
    # every route, an inert first session, a bolus, saline expectation, oral antidepressant, mg/kg esketamine
    # (whose device count depends on the subject's weight: the per-subject input path)
    "routes_mixed": (["placebo 0 mg iv at -2 h", "ketamine 30 mg im at 1 h", "ketamine 50 mg oral at 6 h",
                      "arketamine 20 mg sublingual at 8 h", "ketamine 0.5 mg/kg iv at 12 h",
                      "ketamine 50 mg intranasal at 22 h", "esketamine 0.8 mg/kg intranasal at 30 h"],
                     dict(hypothesis="mixed", opioid_source="endogenous", expectation="saline", oral_ad=24.0), 72.0),
    "hnk_ampa_none": (["ketamine 0.5 mg/kg iv over 40 min"], dict(hypothesis="hnk_ampa", expectation="none"), 30.0),
    "ketamine_mor": (["ketamine 0.5 mg/kg iv over 40 min", "naltrexone 25 mg oral at -1 h"],
                     dict(hypothesis="opioid", opioid_source="ketamine_mor"), 30.0),
    "null": (["ketamine 0.5 mg/kg iv over 40 min"], dict(hypothesis="null"), 30.0),
}


def _subjects(n, seed, unit_scales=False):
    subj = sample_subjects(PopulationSpec(), n, seed, P)
    subj.loc[0, ["sex", "cyp2b6"]] = ["female", "*6/*6"]
    if n > 1:
        subj.loc[1, ["sex", "cyp2b6"]] = ["male", "*1/*6"]
    if unit_scales:  # Simulation.solve has no between-subject PD scales
        subj[["drive_scale", "cadss_scale", "placebo_scale"]] = 1.0
    return subj


def _close(a, b, rtol, floor=1e-12):
    """|a - b| <= rtol |b| + floor * max|b|: relative, with a floor where the column is ~0 against its peak."""
    a, b = np.asarray(a), np.asarray(b)
    tol = rtol * np.abs(b) + floor * max(np.max(np.abs(b)), 1e-300)
    worst = np.max(np.abs(a - b) / np.maximum(tol, 1e-300))
    return worst <= 1.0, worst


@pytest.mark.parametrize("case", list(CASES))
def test_fast_path_matches_single_subject_reference(case):
    doses, kw, duration_h = CASES[case]
    kw = dict(kw)
    oral_ad = kw.pop("oral_ad", None)
    expectation = kw.pop("expectation", "active")
    mech = get_mechanism(kw.pop("hypothesis"), kw.pop("opioid_source", None))
    reg = Regimen.from_text(*doses)
    subj = _subjects(3, 7, unit_scales=True)
    res = None
    for i, row in subj.iterrows():
        cov = ks.Covariates(weight_kg=row.weight_kg, age_y=row.age_y, sex=row.sex, cyp2b6=row.cyp2b6)
        sim = Simulation(reg, P, mechanism=mech, expectation=expectation, oral_antidepressant_start_h=oral_ad,
                         baseline_madrs=row.baseline_madrs)
        ref = sim.solve(f"{duration_h} h", cov, eta=subject_etas(row))
        if res is None:  # the reference's own grid, so that the PD recurrences see the same points
            res = simulate_population(reg, subj, P, mech, ref.time_h, expectation=expectation,
                                      oral_ad_start_h=oral_ad, columns=PK_COLUMNS + PD_COLUMNS)
        for col in PK_COLUMNS + PD_COLUMNS:
            ok, worst = _close(res.outputs[col][:, i], ref.outputs[col], 1e-8 if col in PK_COLUMNS else 1e-6)
            assert ok, (case, i, col, worst)


@pytest.mark.parametrize("case", ["iv_naltrexone_opioid", "routes_mixed"])
def test_fast_path_matches_batched_reference_with_pd_scales(case):
    doses, kw, duration_h = CASES[case]
    kw = dict(kw)
    oral_ad = kw.pop("oral_ad", None)
    expectation = kw.pop("expectation", "active")
    mech = get_mechanism(kw.pop("hypothesis"), kw.pop("opioid_source", None))
    reg = Regimen.from_text(*doses)
    subj = _subjects(9, 3)
    t = population_grid(reg, duration_h)
    cols = tuple(DEFAULT_COLUMNS) + ("glutamate_surge", "endogenous_opioid", "expectation", "dhnk_S_ng_ml")
    a = simulate_chunk(reg, subj, P, mech, t, expectation, oral_ad, cols)
    b = _simulate_chunk_reference(reg, subj, P, mech, t, expectation, oral_ad, cols)
    for col in cols:
        ok, worst = _close(a[col], b[col], 1e-8 if col.endswith("_ng_ml") else 1e-6)
        assert ok, (col, worst)
        assert a[col].shape == (len(t), len(subj))


def test_results_do_not_depend_on_chunk_size():
    reg = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min every 1 d for 2 doses", "naltrexone 50 mg oral at -45 min")
    subj = _subjects(11, 5)
    t = population_grid(reg, 72.0)
    mech = get_mechanism("opioid")
    runs = [simulate_population(reg, subj, P, mech, t, chunk_size=c) for c in (11, 4, 1)]
    for col in DEFAULT_COLUMNS:
        for other in runs[1:]:
            np.testing.assert_array_equal(runs[0].outputs[col], other.outputs[col])


def test_individual_parameters_and_matrices_identical_to_scalar_path():
    subj = _subjects(20, 1)
    ind = pk.individual_pk(P, pk.CovariateArrays.from_frame(subj), eta_arrays(subj))
    model = KetamineModel()
    A = pk.build_pk_matrix(ind, model.index)
    assert A.shape == (20, len(model.index), len(model.index))
    for i, row in subj.iterrows():
        cov = ks.Covariates(weight_kg=row.weight_kg, age_y=row.age_y, sex=row.sex, cyp2b6=row.cyp2b6)
        ref = pk.individual_pk(P, cov, subject_etas(row))
        assert set(ref.values) == set(ind.values)
        for k, v in ref.values.items():
            assert (ind[k][i] if np.ndim(ind[k]) else ind[k]) == v, k
        np.testing.assert_array_equal(A[i], pk.build_pk_matrix(ref, model.index))


def test_ill_conditioned_subjects_use_matrix_exponentials(monkeypatch):
    reg = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min")
    subj = _subjects(5, 2)
    t = population_grid(reg, 30.0)
    mech = get_mechanism("opioid")
    stats = fast.ChunkStats()
    a = simulate_chunk(reg, subj, P, mech, t, columns=DEFAULT_COLUMNS, stats=stats)
    assert stats.fallback_subjects == 0
    monkeypatch.setattr(fast, "COND_LIMIT", 0.0)   # every subject takes the fallback
    stats = fast.ChunkStats()
    b = simulate_chunk(reg, subj, P, mech, t, columns=DEFAULT_COLUMNS, stats=stats)
    assert stats.fallback_subjects == 4 * len(subj)   # blocks S, R, naltrexone and the session marker
    for col in DEFAULT_COLUMNS:
        ok, worst = _close(a[col], b[col], 1e-9)
        assert ok, (col, worst)


def test_nearly_coinciding_rates_take_the_reference_exponentials():
    # parent and metabolite elimination rates nearly coincide: ill-conditioned eigenvectors -> fallback
    eps = 1e-9
    A = np.array([[[-1.0, 0.0, 0.0], [1.0, -1.0 - eps, 0.0], [0.0, 1.0, -2.0]]])
    hs = np.array([0.5, 3.0])
    reach = np.tril(np.ones((3, 3), bool))
    Phi, GamT, nbad = fast.block_propagators(A, hs, reach, np.array([0]))
    assert nbad == 1
    from scipy.linalg import expm
    for k, h in enumerate(hs):
        aug = np.zeros((6, 6))
        aug[:3, :3] = A[0]
        aug[:3, 3:] = np.eye(3)
        E = expm(aug * h)   # what solvers.linear (the reference path) uses
        np.testing.assert_array_equal(Phi[0, k], E[:3, :3])
        np.testing.assert_array_equal(GamT[0, k, 0], E[:3, 3])
        exact_10 = np.exp(-h) * -np.expm1(-eps * h) / eps   # (e^{-h} - e^{-(1+eps)h}) / eps
        assert Phi[0, k, 1, 0] == pytest.approx(exact_10, rel=1e-8)


def test_compiled_relax_matches_numpy_reference():
    rng = np.random.default_rng(4)
    t = np.sort(np.concatenate([rng.random(400) * 50, [10.0, 10.0]]))  # a repeated point (h = 0)
    for target, k, x0 in ((rng.random(402), 0.3, 1.0), (rng.random((402, 6)), 0.05, rng.random(6)),
                          (rng.random((402, 6)), rng.random(6) + 0.1, 2.0)):
        np.testing.assert_allclose(relax(t, target, k, x0), relax_reference(t, target, k, x0), rtol=1e-12)


def test_unknown_column_is_an_error():
    reg = Regimen.from_text("ketamine 0.5 mg/kg iv")
    with pytest.raises(KeyError):
        simulate_chunk(reg, _subjects(2, 1), P, get_mechanism("opioid"), population_grid(reg, 5.0),
                       columns=("ketamine_ng_ml", "no_such_column"))


def test_streamed_parquet_matches_in_memory_result(tmp_path):
    import pyarrow.parquet as pq

    reg = Regimen.from_text("ketamine 0.5 mg/kg iv over 40 min every 3.5 d for 3 doses",
                            "naltrexone 50 mg oral at -45 min")
    subj = _subjects(13, 9)
    t = population_grid(reg, 24 * 9.0)
    mech = get_mechanism("opioid")
    mem = simulate_population(reg, subj, P, mech, t)
    calls = []
    summary = simulate_population_to_parquet(reg, subj, P, mech, t, tmp_path / "out" / "tc.parquet", chunk_size=5,
                                             progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert not list((tmp_path / "out").glob(".*"))
    ref = mem.summary()
    assert summary.keys() == ref.keys()

    def compare(a, b, where):
        if isinstance(b, dict):
            assert a.keys() == b.keys(), where
            for k in b:
                compare(a[k], b[k], f"{where}.{k}")
        elif isinstance(b, str):
            assert a == b, where
        else:
            assert a == pytest.approx(b, rel=1e-12, abs=1e-12), where

    compare(summary, ref, "summary")
    assert "change_24h" in summary["madrs"] and "change_day7" in summary["madrs"]
    table = pq.read_table(tmp_path / "out" / "tc.parquet")
    df = table.to_pandas()
    expected = mem.to_pandas()
    assert list(df.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(df, expected, check_exact=True)


def test_streamed_summary_from_population_result_structure(tmp_path):
    # the summary keys follow PopulationResult's for any column selection
    reg = Regimen.from_text("esketamine 56 mg intranasal")
    subj = _subjects(4, 1)
    t = population_grid(reg, 12.0)
    cols = ("ketamine_ng_ml", "cadss")
    s = simulate_population_to_parquet(reg, subj, P, get_mechanism("glutamate"), t, tmp_path / "a.parquet",
                                       columns=cols, chunk_size=3)
    mem = PopulationResult(t, simulate_chunk(reg, subj, P, get_mechanism("glutamate"), t, columns=cols),
                           subj.reset_index(drop=True), reg, {"first_session_h": 0.0})
    assert s.keys() == mem.summary().keys()
    assert s["cadss"]["cmax"] == pytest.approx(mem.summary()["cadss"]["cmax"], rel=1e-12)
