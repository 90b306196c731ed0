"""Layer grouping by the outputs' declared panels and population bands in the JSON the page draws."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ketasim.models.outputs import catalogue
from ketasim.web.present import layer_of, layers_for, result_to_json

INFO = {o.name: o for o in catalogue()}


def test_columns_group_into_layers_by_declared_panel():
    cols = ["ketamine_ng_ml", "hnk_ng_ml", "nmda_occupancy", "mor_occupancy", "kor_occupancy", "cadss",
            "euphoria", "madrs", "hamd17", "plasticity", "opioid_signal", "mor_agonist_signal", "brand_new"]
    assert [layer_of(c, INFO) for c in cols] == [
        "concentrations", "concentrations", "occupancy", "occupancy", "occupancy", "effects", "effects", "mood",
        "mood", "mediators", "mediators", "mediators", "other"]
    keys = [layer["key"] for layer in layers_for(cols, INFO)]
    assert keys == ["concentrations", "occupancy", "effects", "mood", "mediators", "other"]
    # the four core layers are always listed (empty where the package has no output yet); others only if used
    assert [layer["key"] for layer in layers_for(["ketamine_ng_ml"], INFO)] == ["concentrations", "occupancy",
                                                                                "effects", "mood"]


class FakePopulation:
    """Stands in for a population Result: several ids on one time grid."""

    def __init__(self, n=41, t=np.linspace(0, 10, 11)):
        rng = np.random.default_rng(0)
        rows = []
        for i in range(n):
            scale = rng.lognormal(0, 0.3)
            rows.append(pd.DataFrame({"id": i, "time_h": t, "ketamine_ng_ml": scale * np.exp(-t / 3),
                                      "nmda_occupancy": np.clip(scale * 0.3 * np.exp(-t / 3), 0, 1),
                                      "madrs": 30 - scale * t}))
        self.frame = pd.concat(rows, ignore_index=True)
        self.units = {"ketamine_ng_ml": "ng/mL", "nmda_occupancy": "1", "madrs": "points"}
        self.output_info = INFO
        self.warnings = ["a dose outside the validated range"]

    def to_pandas(self):
        return self.frame

    def summary(self):
        return {"ketamine_ng_ml": {"cmax": float("nan"), "tmax_h": 0.0, "auc": 1.0, "unit": "ng/mL"},
                "responders": 0.4}


def test_population_median_and_band():
    out = result_to_json(FakePopulation(), ["ketamine 1 mg iv"], 10.0, "pop")
    assert out["n_subjects"] == 41
    assert len(out["time_h"]) == 11
    s = out["series"]["ketamine_ng_ml"]
    lo, med, hi = (np.array(s[k]) for k in ("p05", "median", "p95"))
    assert np.all(lo <= med) and np.all(med <= hi) and np.any(lo < hi)
    assert out["series"]["madrs"]["layer"] == "mood"
    assert out["summary"]["ketamine_ng_ml"]["cmax"] is None  # NaN is not JSON
    assert out["summary"]["responders"] == 0.4
    assert out["warnings"] == ["a dose outside the validated range"]


def test_population_on_ragged_grids_falls_back_to_groupby():
    pop = FakePopulation(n=5)
    pop.frame = pop.frame.drop(index=[3])  # one subject misses a time point
    out = result_to_json(pop, [], 10.0, "ragged")
    assert len(out["time_h"]) == 11
    assert all(v is None or math.isfinite(v) for v in out["series"]["madrs"]["median"])


def test_real_population_median_and_band():
    """The band logic on the package's own PopulationResult (not a stand-in)."""
    from ketasim import services
    from ketasim.io.schemas import ScenarioConfig

    cfg = ScenarioConfig.model_validate({"name": "pop", "doses": ["ketamine 0.5 mg/kg iv over 40 min"],
                                         "duration": "2 d", "subjects": 20, "seed": 7})
    res = services.run_scenario(cfg)
    df = res.to_pandas()
    out = result_to_json(res, cfg.doses, 48.0, cfg.name)
    assert out["n_subjects"] == 20 == df["id"].nunique()
    n_t = len(df) // 20
    assert len(out["time_h"]) == n_t
    assert [layer["key"] for layer in out["layers"]][:4] == ["concentrations", "occupancy", "effects", "mood"]
    for col in ("ketamine_ng_ml", "nmda_occupancy", "cadss", "madrs"):
        s = out["series"][col]
        lo, med, hi = (np.array(s[k], dtype=float) for k in ("p05", "median", "p95"))
        assert np.all(lo <= med + 1e-12) and np.all(med <= hi + 1e-12), col
        # the median at each time point is the median of the 20 subjects there
        at = df.groupby("time_h")[col].median().to_numpy()
        assert np.allclose(med, at, equal_nan=True), col
    ket = out["series"]["ketamine_ng_ml"]
    assert max(h - lo for h, lo in zip(ket["p95"], ket["p05"])) > 10
    assert out["series"]["madrs"]["unit"] and out["series"]["madrs"]["layer"] == "mood"
    assert out["summary"]["ketamine_ng_ml"]["cmax_percentiles"]["p5"] <= \
        out["summary"]["ketamine_ng_ml"]["cmax_percentiles"]["p95"]
    assert 0 <= out["summary"]["madrs"]["responders_24h"] <= 1
