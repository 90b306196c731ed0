"""The composed model: state layout, per-subject compilation and the named outputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketasim.parameters import ParameterSet
from ketasim.regimens import Regimen
from ketasim.units import umol_per_l_to_ng_per_ml

from . import pk

# Plasma concentration outputs: column -> (species prefix, molar-mass key)
PLASMA_OUTPUTS = {
    "ketamine_ng_ml": ("ketamine", "ketamine"),
    "norketamine_ng_ml": ("norketamine", "norketamine"),
    "hnk_ng_ml": ("hnk", "hnk"),
    "dhnk_ng_ml": ("dhnk", "dhnk"),
}
PD_OUTPUT_UNITS = {
    "nmda_occupancy": "fraction", "mor_occupancy": "fraction", "kor_occupancy": "fraction",
    "mor_agonist_signal": "relative to baseline", "plasticity": "relative to baseline",
    "opioid_signal": "relative to baseline", "cadss": "CADSS points", "euphoria": "VAS 0-100",
    "madrs": "MADRS points", "hamd17": "HAM-D17 points",
}
OUTPUT_UNITS = {**PD_OUTPUT_UNITS,
    "ketamine_ng_ml": "ng/mL", "norketamine_ng_ml": "ng/mL", "hnk_ng_ml": "ng/mL", "dhnk_ng_ml": "ng/mL",
    "naltrexone_ng_ml": "ng/mL", "naltrexol_ng_ml": "ng/mL",
}
for _sp in ("ketamine", "norketamine", "hnk", "dhnk"):
    for _e in pk.ENANTIOMERS:
        OUTPUT_UNITS[f"{_sp}_{_e}_ng_ml"] = "ng/mL"


@dataclass(frozen=True)
class StateLayout:
    names: tuple[str, ...]
    blocks: dict[str, np.ndarray]

    @property
    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}


def pk_layout() -> StateLayout:
    blocks = pk.pk_state_blocks()
    names: list[str] = []
    idx_blocks = {}
    for bname, states in blocks.items():
        idx_blocks[bname] = np.arange(len(names), len(names) + len(states))
        names += states
    return StateLayout(tuple(names), idx_blocks)


class KetamineModel:
    """Layer L1 (pharmacokinetics). Later layers add states and outputs on top of these."""

    def __init__(self):
        self.layout = pk_layout()
        self.index = self.layout.index

    def compile_subject(self, params: ParameterSet, cov: pk.Covariates, eta=None):
        ind = pk.individual_pk(params, cov, eta)
        A = pk.build_pk_matrix(ind, self.index)
        return ind, A

    def inputs(self, regimen: Regimen, ind: pk.PKIndividual, weight_kg: float) -> list[pk.Input]:
        out = []
        for dose in regimen.realize():
            out += pk.dose_inputs(dose, ind, weight_kg)
        return out

    def effect_sites(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Effect-site concentrations (µM, plasma-equivalent) that the receptor layer reads."""
        ix = self.index
        g = lambda n: X[..., ix[n]]  # noqa: E731
        return {
            "ketamine_S": g("ce.ketamine_S"), "ketamine_R": g("ce.ketamine_R"),
            "norketamine_S": g("ce.norketamine_S"), "norketamine_R": g("ce.norketamine_R"),
            "hnk": g("ce.hnk_S") + g("ce.hnk_R"),
            "naltrexone": g("ce.naltrexone_fast") + g("ce.naltrexone_slow"),
            "naltrexol": g("ce.naltrexol_fast") + g("ce.naltrexol_slow"),
        }

    def plasma_outputs(self, X: np.ndarray, ind: pk.PKIndividual) -> dict[str, np.ndarray]:
        """Venous plasma concentrations (ng/mL) from state amounts (µmol)."""
        ix = self.index
        out: dict[str, np.ndarray] = {}
        volume = {"ketamine": "V1", "norketamine": "NK_V1", "hnk": "HNK_V1", "dhnk": "DHNK_V"}
        for col, (sp, mw) in PLASMA_OUTPUTS.items():
            total = 0.0
            for e in pk.ENANTIOMERS:
                c = X[..., ix[f"{sp}_{e}.central"]] / ind[f"{e}.{volume[sp]}"]
                ng = umol_per_l_to_ng_per_ml(c, mw)
                out[f"{sp}_{e}_ng_ml"] = ng
                total = total + ng
            out[col] = total
        out["naltrexone_ng_ml"] = umol_per_l_to_ng_per_ml(X[..., ix["naltrexone.central"]] / ind["NTX_V"],
                                                          "naltrexone")
        out["naltrexol_ng_ml"] = umol_per_l_to_ng_per_ml(X[..., ix["naltrexol.central"]] / ind["NXL_V"],
                                                         "naltrexol")
        return out
