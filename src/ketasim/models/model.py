"""The composed model: state layout, per-subject compilation and the named outputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketasim.parameters import ParameterSet
from ketasim.regimens import Regimen
from ketasim.units import umol_per_l_to_ng_per_ml

from . import pk
from .spec import OutputInfo

# Plasma concentration outputs: species -> (molar-mass key, label); each is also resolved by enantiomer
_RACEMIC_SPECIES = {"ketamine": "ketamine", "norketamine": "norketamine", "hnk": "2,6-HNK", "dhnk": "DHNK"}
_OTHER_SPECIES = {"naltrexone": "naltrexone", "naltrexol": "6\u03b2-naltrexol"}


def _plasma(name: str, label: str, detail: bool = False) -> OutputInfo:
    return OutputInfo(name, "ng/mL", "L1", "L1 plasma", label, f"venous plasma concentration of {label}", detail)


PK_OUTPUTS: tuple[OutputInfo, ...] = tuple(
    [_plasma(f"{sp}_ng_ml", lab) for sp, lab in _RACEMIC_SPECIES.items()]
    + [_plasma(f"{sp}_ng_ml", lab) for sp, lab in _OTHER_SPECIES.items()]
    + [_plasma(f"{sp}_{e}_ng_ml", f"{lab} ({e})", detail=True) for sp, lab in _RACEMIC_SPECIES.items()
       for e in pk.ENANTIOMERS])


@dataclass(frozen=True)
class StateLayout:
    names: tuple[str, ...]
    blocks: dict[str, np.ndarray]

    @property
    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}


def pk_layout(compounds=()) -> StateLayout:
    blocks = pk.pk_state_blocks(compounds)
    names: list[str] = []
    idx_blocks = {}
    for bname, states in blocks.items():
        idx_blocks[bname] = np.arange(len(names), len(names) + len(states))
        names += states
    return StateLayout(tuple(names), idx_blocks)


class KetamineModel:
    """Layer L1 (pharmacokinetics). Later layers add states and outputs on top of these. `compounds`: the
    compounds (ketasim.compounds) whose PK blocks this variant holds, after the built-in ones."""

    def __init__(self, compounds=()):
        self.compounds = tuple(compounds)
        self.layout = pk_layout(self.compounds)
        self.index = self.layout.index

    @classmethod
    def for_mechanism(cls, mechanism) -> "KetamineModel":
        """The PK layer a model variant needs (its compounds' blocks)."""
        return cls(getattr(mechanism, "compounds", ()))

    def compile_subject(self, params: ParameterSet, cov: pk.Covariates, eta=None):
        ind = pk.individual_pk(params, cov, eta, self.compounds)
        A = pk.build_pk_matrix(ind, self.index)
        return ind, A

    def inputs(self, regimen: Regimen, ind: pk.PKIndividual, weight_kg: float) -> list[pk.Input]:
        out = []
        for dose in regimen.realize():
            out += pk.dose_inputs(dose, ind, weight_kg)
        return out + pk.session_inputs(regimen)

    def effect_sites(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Effect-site concentrations (µM, plasma-equivalent) that the receptor layer reads. 6β-naltrexol's
        already carries its brain-access fraction (biophase.naltrexol_brain_fraction, applied to the uptake
        of its brain pools in pk.build_pk_matrix)."""
        ix = self.index
        g = lambda n: X[..., ix[n]]  # noqa: E731
        return {
            "ce_ketamine_S": g("ce.ketamine_S"), "ce_ketamine_R": g("ce.ketamine_R"),
            "ce_norketamine_S": g("ce.norketamine_S"), "ce_norketamine_R": g("ce.norketamine_R"),
            "ce_hnk": g("ce.hnk_S") + g("ce.hnk_R"),
            "ce_naltrexone": g("ce.naltrexone_fast") + g("ce.naltrexone_slow"),
            "ce_naltrexol": g("ce.naltrexol_fast") + g("ce.naltrexol_slow"),
            "session_memory": g(pk.SESSION_STATE),
            **{k: v for c in self.compounds for k, v in c.effect_sites(X, ix).items()},
        }

    def pk_outputs(self) -> list[OutputInfo]:
        return list(PK_OUTPUTS) + [o for c in self.compounds for o in c.pk_outputs()]

    def plasma_columns(self) -> list[str]:
        return [o.name for o in self.pk_outputs()]

    def plasma_outputs(self, X: np.ndarray, ind: pk.PKIndividual) -> dict[str, np.ndarray]:
        """Venous plasma concentrations (ng/mL) from state amounts (µmol)."""
        ix = self.index
        out: dict[str, np.ndarray] = {}
        volume = {"ketamine": "V1", "norketamine": "NK_V1", "hnk": "HNK_V1", "dhnk": "DHNK_V"}
        for sp in _RACEMIC_SPECIES:
            total = 0.0
            for e in pk.ENANTIOMERS:
                c = X[..., ix[f"{sp}_{e}.central"]] / ind[f"{e}.{volume[sp]}"]
                ng = umol_per_l_to_ng_per_ml(c, sp)
                out[f"{sp}_{e}_ng_ml"] = ng
                total = total + ng
            out[f"{sp}_ng_ml"] = total
        out["naltrexone_ng_ml"] = umol_per_l_to_ng_per_ml(X[..., ix["naltrexone.central"]] / ind["NTX_V"],
                                                          "naltrexone")
        out["naltrexol_ng_ml"] = umol_per_l_to_ng_per_ml(X[..., ix["naltrexol.central"]] / ind["NXL_V"],
                                                         "naltrexol")
        for c in self.compounds:
            out.update(c.plasma_outputs(X, ix, ind))
        return out
