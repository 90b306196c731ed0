"""`ketasim fit` (FOCE-I): the closed-form predictions against ketasim's exact solver, and one replicate of the
simulation-re-estimation benchmark (benchmarks/bench_fit.py runs ten)."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ketasim.cli.main import app
from ketasim.estimation.models import Design, PKModel
from ketasim.estimation.simulate import (TRUE_3CMT, TRUE_OMEGA, TRUE_SIGMA, mammillary_concentrations,
                                         simulate_study)
from ketasim.regimens import Regimen


@pytest.mark.parametrize("n_cmt", [1, 2, 3])
def test_closed_form_matches_the_exact_linear_solver(n_cmt):
    names = {1: ("CL", "V1"), 2: ("CL", "V1", "Q2", "V2"), 3: tuple(TRUE_3CMT)}[n_cmt]
    p = {k: TRUE_3CMT[k] for k in names}
    reg = Regimen.from_text("ketamine 35 mg iv over 40 min", "ketamine 10 mg iv at 5 h")
    t = np.array([0.1, 0.5, 2 / 3, 1, 2, 5, 5.5, 8, 24])
    ref = mammillary_concentrations(p, reg, 70.0, t)
    d = Design(np.array([1]), np.zeros(len(t), np.int64), t, np.zeros(len(t)), np.array([0, 0]), np.array([0.0, 5.0]),
               np.array([35.0, 10.0]), np.array([2 / 3, 0.0]))
    got = PKModel(n_cmt).predict(d, {k: np.array([v]) for k, v in p.items()})
    np.testing.assert_allclose(got, ref, rtol=1e-10)


@pytest.mark.slow
def test_one_replicate_of_simulation_re_estimation(tmp_path):
    data = tmp_path / "study.csv"
    true = pd.DataFrame(simulate_study(data, 60, 1))
    out = tmp_path / "fit"
    res = CliRunner().invoke(app, ["fit", str(data), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    est = pd.read_csv(out / "estimates.csv").set_index("parameter")
    for k, v in TRUE_3CMT.items():
        assert est.loc[k, "estimate"] == pytest.approx(v, rel=0.10), k
    # variances against the variance of the random effects this data set actually drew (60 subjects)
    for k in TRUE_OMEGA:
        realised = float(np.var(np.log(true[k] / TRUE_3CMT[k])))
        assert est.loc[f"omega2_{k}", "estimate"] == pytest.approx(realised, rel=0.35), k
    assert est.loc["sigma_prop", "estimate"] == pytest.approx(TRUE_SIGMA["prop"], rel=0.15)
    truth = {**TRUE_3CMT, **{f"omega2_{k}": v for k, v in TRUE_OMEGA.items()},
             "sigma_prop": TRUE_SIGMA["prop"], "sigma_add": TRUE_SIGMA["add"]}
    covered = [est.loc[k, "ci95_low"] <= v <= est.loc[k, "ci95_high"] for k, v in truth.items()]
    assert np.mean(covered) >= 0.8
    shrink = est.loc["omega2_CL", "shrinkage_pct"]
    assert 0 <= shrink < 30
    ebe = pd.read_csv(out / "individual_pk.csv")
    assert len(ebe) == 60 and np.corrcoef(np.log(ebe["CL"]), np.log(true["CL"]))[0, 1] > 0.9
    for f in ("report.html", "gof_pk.png", "residuals_pk.csv"):
        assert (out / f).exists()


def test_fit_refuses_what_its_model_cannot_take(tmp_path):
    f = tmp_path / "oral.csv"
    f.write_text("ID,TIME,EVID,AMT,CMT,DV,MDV\n1,0,1,50,2,.,1\n1,1,0,0,1,20,0\n1,2,0,0,1,10,0\n")
    res = CliRunner().invoke(app, ["fit", str(f), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "IV ketamine" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = CliRunner().invoke(app, ["fit", str(f), "--compartments", "4", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2


@pytest.mark.slow
def test_pd_endpoint_fit_recovers_an_emax_model():
    from ketasim.estimation.focei import FitSpec, fit_focei
    from ketasim.estimation.models import EmaxPDModel

    rng = np.random.default_rng(5)
    n = 30
    pk = {"CL": 80 * np.exp(rng.normal(0, .3, n)), "V1": 30 * np.exp(rng.normal(0, .3, n)),
          **{k: np.full(n, TRUE_3CMT[k]) for k in ("Q2", "V2", "Q3", "V3")}}
    t = np.array([10, 20, 40, 60, 90, 120, 180, 240]) / 60
    d = Design(np.arange(n), np.repeat(np.arange(n), len(t)), np.tile(t, n), np.zeros(n * len(t)), np.arange(n),
               np.zeros(n), np.full(n, 35.0), np.full(n, 2 / 3))
    model = EmaxPDModel(pk, 3)
    f = model.predict(d, {"KE0": np.full(n, 6.0), "EMAX": 40 * np.exp(rng.normal(0, .3, n)),
                          "EC50": 300 * np.exp(rng.normal(0, .3, n))})
    d.dv = f + rng.normal(size=f.size)
    r = fit_focei(model, d, FitSpec({"KE0": 3, "EMAX": 30, "EC50": 200}, {"EMAX": .1, "EC50": .1}, None, 2.0))
    assert r.theta["KE0"] == pytest.approx(6.0, rel=0.1)
    assert r.theta["EMAX"] == pytest.approx(40, rel=0.15) and r.theta["EC50"] == pytest.approx(300, rel=0.2)
    assert r.sigma["add"] == pytest.approx(1.0, rel=0.15)
