"""`ketasim fit`: from a NONMEM-style data set to population estimates, individual estimates and diagnostics.

PK: plasma racemic ketamine (observations with DVID/CMT 1, ng/mL) after IV doses (bolus or infusion; CMT 1),
1-3 compartment mammillary model, between-subject variability on the chosen parameters, combined residual
error. PD (optional, sequential): one immediate effect endpoint (CADSS, drug liking or NMDA occupancy) driven by
the effect-site concentration of each subject's estimated PK (empirical Bayes estimates fixed), E = EMAX Ce /
(EC50 + Ce), dCe/dt = KE0 (C - Ce), between-subject variability on EMAX and EC50, additive error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .focei import FitResult, FitSpec, fit_focei
from .models import DESCRIPTIONS, PK_PARAMETERS, UNITS, Design, EmaxPDModel, PKModel

PD_ENDPOINTS = {"cadss": "CADSS points", "euphoria": "VAS 0-100", "nmda_occupancy": "fraction"}


class FitError(ValueError):
    """A data set or option the fit cannot use, as one plain sentence."""


def design_from_dataset(ds, output: str = "ketamine_ng_ml") -> Design:
    """Observations of `output` (MDV 0) and the IV doses of each subject (first segment; resets are refused)."""
    rec = ds.records
    ids, o_s, o_t, dv, d_s, d_t, d_mg, d_dur = [], [], [], [], [], [], [], []
    for i, sd in enumerate(ds.subjects):
        if len(sd.segments) > 1:
            raise FitError(f"ID {sd.id} has a reset (EVID 3/4 or SS 1): the fit takes one dosing history per subject")
        seg = sd.segments[0]
        rows = rec.loc[seg.rows]
        obs = rows[(rows["EVID"] == 0) & rows["MDV"].isin([0]) & (rows["output"] == output)]
        ids.append(sd.id)
        o_s += [i] * len(obs)
        o_t += list(obs["TIME"])
        dv += list(obs["DV"])
        for d in seg.regimen().realize():
            if d.drug == "placebo":
                continue
            if d.drug not in ("ketamine", "esketamine", "arketamine") or d.route != "iv":
                raise FitError(f"ID {sd.id}: the fit's PK model takes IV ketamine doses (CMT 1), not {d.to_text()}")
            d_s.append(i)
            d_t.append(d.time_h)
            d_mg.append(d.amount_mg(sd.covariates.get("weight_kg", 70.0)))
            d_dur.append(d.duration_h)
    if not o_t:
        raise FitError(f"the data set has no {output} observations (MDV 0) to fit")
    return Design(np.array(ids), np.array(o_s, np.int64), np.array(o_t, float), np.array(dv, float),
                  np.array(d_s, np.int64), np.array(d_t, float), np.array(d_mg, float), np.array(d_dur, float))


def initial_pk(design: Design, n_cmt: int) -> dict[str, float]:
    """Starting values from each subject's NCA (CL = dose / AUCinf, Vz = CL / lambda_z; medians), split over
    the compartments in fixed shares."""
    from ketasim.analysis.nca import auc_linear_up_log_down, lambda_z

    cls, vzs = [], []
    for i in range(design.n_subjects):
        m = design.obs_subject == i
        t, c = design.obs_time[m], design.dv[m]
        dose = design.dose_mg[design.dose_subject == i].sum()
        if m.sum() < 4 or dose <= 0:
            continue
        o = np.argsort(t)
        t, c = t[o], np.clip(c[o], 0, None)
        lz = lambda_z(t, c, t[np.argmax(c)])["lambda_z_per_h"]
        if not np.isfinite(lz):
            continue
        auc = auc_linear_up_log_down(np.r_[0.0, t], np.r_[0.0, c]) + c[-1] / lz
        cls.append(1000 * dose / auc)
        vzs.append(cls[-1] / lz)
    cl = float(np.median(cls)) if cls else 80.0
    vz = float(np.median(vzs)) if vzs else 300.0
    shares = {1: {"V1": 1.0}, 2: {"V1": 0.3, "V2": 0.7}, 3: {"V1": 0.1, "V2": 0.25, "V3": 0.65}}[n_cmt]
    out = {"CL": cl, **{k: s * vz for k, s in shares.items()}}
    if n_cmt >= 2:
        out["Q2"] = 2.0 * cl
    if n_cmt == 3:
        out["Q3"] = 0.5 * cl
    return out


def _parse_pairs(text, what) -> dict[str, float]:
    out = {}
    for part in [p.strip() for p in (text or "").split(",") if p.strip()]:
        if "=" not in part:
            raise FitError(f"{what} takes NAME=VALUE pairs, e.g. 'CL=80,V1=30', got {part!r}")
        k, v = part.split("=", 1)
        try:
            out[k.strip().upper()] = float(v)
        except ValueError:
            raise FitError(f"{what}: {v!r} is not a number") from None
        if not out[k.strip().upper()] > 0:
            raise FitError(f"{what}: {k} must be positive")
    return out


def fit_dataset(ds, n_cmt: int = 3, bsv: str | None = None, init: str | None = None, endpoint: str | None = None,
                progress=None) -> dict:
    """Fit the PK layer (and, with `endpoint`, one PD endpoint) to a read data set."""
    if n_cmt not in PK_PARAMETERS:
        raise FitError(f"--compartments must be 1, 2 or 3, got {n_cmt}")
    design = design_from_dataset(ds)
    names = PK_PARAMETERS[n_cmt]
    theta0 = initial_pk(design, n_cmt)
    given = _parse_pairs(init, "--init")
    bad = [k for k in given if k not in names]
    if bad:
        raise FitError(f"--init: {bad[0]} is not a parameter of the {n_cmt}-compartment model ({', '.join(names)})")
    theta0.update(given)
    default_bsv = {1: "CL,V1", 2: "CL,V1,V2", 3: "CL,V1,V2,V3"}[n_cmt]
    eta = [b.strip().upper() for b in (bsv or default_bsv).split(",") if b.strip()]
    bad = [b for b in eta if b not in names]
    if bad:
        raise FitError(f"--bsv: {bad[0]} is not a parameter of the {n_cmt}-compartment model ({', '.join(names)})")
    med = float(np.median(design.dv[design.dv > 0])) if np.any(design.dv > 0) else 1.0
    spec = FitSpec(theta0=theta0, omega0={b: 0.1 for b in eta}, sigma_prop0=0.15, sigma_add0=max(0.02 * med, 1e-3),
                   units={**UNITS, "DV": "ng/mL"})
    pk = fit_focei(PKModel(n_cmt), design, spec, progress=progress)
    out = {"pk": pk, "pk_design": design, "n_cmt": n_cmt, "pk_spec": spec}
    if endpoint:
        if endpoint not in PD_ENDPOINTS:
            raise FitError(f"--endpoint must be one of {', '.join(PD_ENDPOINTS)} (an immediate effect driven by the "
                           f"effect-site concentration), not {endpoint!r}")
        pdd = design_from_dataset(ds, endpoint)
        index = {sid: i for i, sid in enumerate(design.ids)}
        missing = [sid for sid in pdd.ids if sid not in index]
        if missing:
            raise FitError(f"ID {missing[0]} has {endpoint} but no ketamine observations for its PK")
        rows = [index[sid] for sid in pdd.ids]
        ind = {k: np.asarray(v)[rows] for k, v in pk.individual.items()}
        emax0 = float(np.max(pdd.dv)) * 1.2 if np.max(pdd.dv) > 0 else 1.0
        pspec = FitSpec(theta0={"KE0": 5.0, "EMAX": emax0, "EC50": med}, omega0={"EMAX": 0.1, "EC50": 0.1},
                        sigma_prop0=None, sigma_add0=max(0.05 * emax0, 1e-3),
                        units={**UNITS, "EMAX": PD_ENDPOINTS[endpoint], "DV": PD_ENDPOINTS[endpoint]})
        out["pd"] = fit_focei(EmaxPDModel(ind, n_cmt), pdd, pspec, progress=progress)
        out["pd_design"] = pdd
        out["endpoint"] = endpoint
    return out


def estimates_table(fit: dict) -> pd.DataFrame:
    parts = []
    for layer in ("pk", "pd"):
        if layer in fit:
            t = fit[layer].estimates.copy()
            t.insert(0, "layer", layer.upper() if layer == "pk" else f"PD:{fit['endpoint']}")
            t.insert(3, "description", [DESCRIPTIONS.get(p, _describe(p)) for p in t["parameter"]])
            parts.append(t)
    return pd.concat(parts, ignore_index=True)


def _describe(p: str) -> str:
    if p.startswith("omega2_"):
        return f"between-subject variance of log {p[7:]}"
    return {"sigma_prop": "proportional residual error (SD of the fraction)",
            "sigma_add": "additive residual error (SD)"}.get(p, p)


def gof_figure(res: pd.DataFrame, ebe: pd.DataFrame, title: str, unit: str, path):
    """Goodness of fit: DV vs PRED and IPRED (log axes for concentrations), CWRES vs time and PRED, IWRES vs
    IPRED, and the empirical Bayes estimates of eta."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 3, figsize=(12, 7.5))
    lim = [max(1e-3, float(np.nanmin(res[["dv", "pred", "ipred"]].clip(lower=1e-3).to_numpy()))),
           float(np.nanmax(res[["dv", "pred", "ipred"]].to_numpy())) * 1.1]
    for a, col, lab in ((ax[0, 0], "pred", "population prediction (PRED)"),
                        (ax[0, 1], "ipred", "individual prediction (IPRED)")):
        a.plot(res[col], res["dv"], "o", ms=2.5, alpha=0.5)
        a.plot(lim, lim, "k-", lw=0.8)
        if unit == "ng/mL":
            a.set_xscale("log")
            a.set_yscale("log")
        a.set_xlabel(f"{lab}, {unit}")
        a.set_ylabel(f"observed (DV), {unit}")
    for a, x, lab, y in ((ax[0, 2], "time_h", "time (h)", "cwres"), (ax[1, 0], "pred", f"PRED, {unit}", "cwres"),
                         (ax[1, 1], "ipred", f"IPRED, {unit}", "iwres")):
        a.plot(res[x], res[y], "o", ms=2.5, alpha=0.5)
        a.axhline(0, color="k", lw=0.8)
        for z in (-2, 2):
            a.axhline(z, color="0.5", lw=0.6, ls="--")
        a.set_xlabel(lab)
        a.set_ylabel(y.upper())
        if x != "time_h" and unit == "ng/mL":
            a.set_xscale("log")
    etas = [c for c in ebe.columns if c.startswith("eta_")]
    for c in etas:
        ax[1, 2].hist(ebe[c], bins=15, alpha=0.5, label=c[4:])
    ax[1, 2].set_xlabel("empirical Bayes estimate of eta")
    ax[1, 2].legend(fontsize=7)
    for a in ax.flat:
        a.grid(alpha=0.3)
    fig.suptitle(f"{title}: goodness of fit (research software, not dosing advice)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report_html(fit: dict, data_name: str) -> str:
    import html

    e = html.escape
    est = estimates_table(fit)
    parts = [f"<h1>ketasim fit: {e(data_name)}</h1><p>FOCE-I (first-order conditional estimation with "
             "interaction). Research software, not a dosing tool: estimates describe this data set under this model."
             "</p>"]
    for layer in ("pk", "pd"):
        if layer not in fit:
            continue
        r: FitResult = fit[layer]
        name = f"PK ({fit['n_cmt']}-compartment, plasma racemic ketamine)" if layer == "pk" else \
            f"PD endpoint {fit['endpoint']} (effect compartment, Emax; each subject's PK fixed at its estimate)"
        d = fit[f"{layer}_design"]
        parts.append(f"<h2>{e(name)}</h2><p>{d.n_subjects} subjects, {len(d.dv)} observations; OFV "
                     f"{r.ofv:.3f} (-2 log-likelihood without the constant n log 2π); "
                     f"{'converged' if r.converged else 'NOT converged'} ({e(r.message)}), {r.iterations} iterations, "
                     f"{r.evaluations} objective evaluations, {r.wall_s:.1f} s; covariance step "
                     f"{'successful' if r.covariance_ok else 'FAILED (no standard errors)'}. Shrinkage: "
                     + ", ".join(f"{k} {100 * v:.1f} %" for k, v in r.shrinkage.items()) + ".</p>"
                     f"<img src='gof_{layer}.png' style='max-width:100%'>")
    table = est.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>ketasim fit</title><style>body{font-family:"
            "sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;"
            "font-size:13px}</style></head><body>" + "".join(parts[:1]) + "<h2>Estimates</h2>" + table
            + "".join(parts[1:]) + "</body></html>")


def write_fit(fit: dict, data_name: str, out_dir):
    from pathlib import Path

    from ketasim.io.export import atomic_output_dir

    with atomic_output_dir(out_dir) as tmp:
        estimates_table(fit).to_csv(tmp / "estimates.csv", index=False)
        for layer in ("pk", "pd"):
            if layer not in fit:
                continue
            r = fit[layer]
            r.ebe.to_csv(tmp / f"individual_{layer}.csv", index=False)
            r.residuals.to_csv(tmp / f"residuals_{layer}.csv", index=False)
            unit = "ng/mL" if layer == "pk" else PD_ENDPOINTS[fit["endpoint"]]
            gof_figure(r.residuals, r.ebe, layer.upper() if layer == "pk" else fit["endpoint"], unit,
                       tmp / f"gof_{layer}.png")
        (tmp / "report.html").write_text(report_html(fit, data_name))
    return Path(out_dir)


def summary_lines(fit: dict) -> list[str]:
    lines = []
    for layer in ("pk", "pd"):
        if layer in fit:
            r = fit[layer]
            lines.append(f"{layer.upper()}: OFV {r.ofv:.2f}, {'converged' if r.converged else 'not converged'}, "
                         f"{r.wall_s:.1f} s, shrinkage " + ", ".join(f"{k} {100 * v:.0f} %"
                                                                     for k, v in r.shrinkage.items()))
    return lines


