"""Layer L1: pharmacokinetics of ketamine (S and R tracked apart), its metabolites and naltrexone.

Structure (each block's source is in the parameter files it reads):
- ketamine, per enantiomer: two-compartment disposition (Clements 1981, Kamp-consistent), absorption
  depots by route (nasal, IM, sublingual, two gut depots), a well-stirred first-pass liver compartment
  for swallowed doses (Perez-Ruixo 2021);
- norketamine (Otto 2021), 2,6-HNK (Simons 2022) and DHNK (assumed) formed in sequence, each with its
  own disposition; metabolite formation in the gut wall and liver during first pass, so oral doses give
  high norketamine/ketamine ratios;
- naltrexone (oral) -> 6beta-naltrexol, with first-pass formation of the metabolite;
- a sink per species collects what is eliminated, so dosed = in body + eliminated (mass balance, in µmol).

Everything here is linear in the amounts: the system is dx/dt = A x + u(t) with piecewise-constant
inputs u, which the solvers integrate exactly between dose events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ketasim.parameters import ParameterSet
from ketasim.regimens import Dose
from ketasim.units import mass_to_umol

ENANTIOMERS = ("S", "R")
# drug -> share of each enantiomer in the dose
DRUG_ENANTIOMERS = {"ketamine": {"S": 0.5, "R": 0.5}, "esketamine": {"S": 1.0}, "arketamine": {"R": 1.0}}

KETAMINE_STATES = ("gut_oral", "gut_swallowed", "liver", "nasal", "im", "sublingual", "central",
                   "peripheral", "eliminated")
METABOLITE_STATES = {
    "norketamine": ("central", "peripheral", "eliminated"),
    "hnk": ("central", "peripheral", "eliminated"),
    "dhnk": ("central", "eliminated"),
}
NALTREXONE_STATES = ("naltrexone.gut", "naltrexone.central", "naltrexone.eliminated",
                     "naltrexol.central", "naltrexol.eliminated",
                     # the extended-release intramuscular depot (microspheres): a burst and a two-step release
                     "naltrexone.im_burst", "naltrexone.im_hydrating", "naltrexone.im_releasing")
# The memory of treatment sessions (not an amount): each session adds 1, which fades with the waning of
# expectation. It lives here because sessions are dose events, so it is propagated exactly with the PK.
SESSION_STATE = "marker.session"
from ketasim.regimens import SESSION_DRUGS  # noqa: E402,F401  (the built-in session drugs)


def _ket(e: str, s: str) -> str:
    return f"ketamine_{e}.{s}"


def _met(sp: str, e: str, s: str) -> str:
    return f"{sp}_{e}.{s}"


def pk_state_blocks(compounds=()) -> dict[str, list[str]]:
    """Independent blocks of states (no flow between blocks): S chain, R chain, naltrexone, the session marker,
    then one block per compound (`ketasim.compounds`: its own states)."""
    blocks = {}
    for e in ENANTIOMERS:
        names = [_ket(e, s) for s in KETAMINE_STATES]
        for sp, states in METABOLITE_STATES.items():
            names += [_met(sp, e, s) for s in states]
        # virtual effect-site (brain) concentrations, µM: not amounts, excluded from mass balance
        names += [f"ce.ketamine_{e}", f"ce.norketamine_{e}", f"ce.hnk_{e}"]
        blocks[f"ketamine_{e}"] = names
    blocks["naltrexone"] = list(NALTREXONE_STATES) + ["ce.naltrexone_fast", "ce.naltrexone_slow",
                                                      "ce.naltrexol_fast", "ce.naltrexol_slow"]
    blocks["session"] = [SESSION_STATE]
    for c in compounds:
        blocks[f"compound.{c.name}"] = list(c.states())
    return blocks


def is_marker_state(name: str) -> bool:
    """States that count events (the session memory), dimensionless, not amounts or concentrations."""
    return name.startswith("marker.")


def is_amount_state(name: str) -> bool:
    """Amounts (µmol, mass balance) as opposed to effect-site concentrations and the session marker."""
    return not (name.startswith("ce.") or is_marker_state(name))


@dataclass(frozen=True)
class Covariates:
    """Who the subject is. Defaults are the typical subject of the parameter sets."""

    weight_kg: float = 70.0
    age_y: float = 40.0
    sex: str = "unspecified"  # 'female', 'male' or 'unspecified'
    cyp2b6: str = "*1/*1"     # '*1/*1', '*1/*6', '*6/*6'

    def __post_init__(self):
        if not (math.isfinite(self.weight_kg) and 20.0 <= self.weight_kg <= 250.0):
            raise ValueError(f"body weight must be 20-250 kg, got {self.weight_kg!r} kg")
        if not (math.isfinite(self.age_y) and 12.0 <= self.age_y <= 100.0):
            raise ValueError(f"age must be 12-100 years, got {self.age_y!r}")
        if self.sex not in SEXES:
            raise ValueError(f"sex must be female, male or unspecified, got {self.sex!r}")
        if self.cyp2b6 not in CYP2B6_GENOTYPES:
            raise ValueError(f"CYP2B6 genotype must be *1/*1, *1/*6 or *6/*6, got {self.cyp2b6!r}")


@dataclass
class PKIndividual:
    """Individual PK parameters in internal units (L, L/h, 1/h, fractions); `compounds` are the compounds whose
    PK blocks (states, flows, dose inputs) the model variant holds."""

    values: dict[str, float] = field(default_factory=dict)
    compounds: tuple = ()

    def __getitem__(self, k: str) -> float:
        return self.values[k]


# Multiplicative between-subject effects that a population may apply (key -> applies to)
PK_ETA_KEYS = ("ketamine.CL", "ketamine.V1", "norketamine.CL", "hnk.CL", "route.Fgut", "route.nasal_ka",
               "route.esketamine_FRn", "naltrexone.CL", "route.nasal_fraction_other")
SEXES = ("female", "male", "unspecified")
CYP2B6_GENOTYPES = ("*1/*1", "*1/*6", "*6/*6")


@dataclass(frozen=True)
class CovariateArrays:
    """Covariates of many subjects, one array entry per subject (the batched form of `Covariates`)."""

    weight_kg: np.ndarray
    age_y: np.ndarray
    sex: np.ndarray
    cyp2b6: np.ndarray

    @classmethod
    def from_frame(cls, subjects) -> "CovariateArrays":
        """From a subject table with columns weight_kg, age_y, sex, cyp2b6 (population.sample_subjects)."""
        weight = subjects["weight_kg"].to_numpy(float)
        age = subjects["age_y"].to_numpy(float)
        sex = subjects["sex"].astype(str).to_numpy()
        cyp = subjects["cyp2b6"].astype(str).to_numpy()
        for name, col, allowed in (("sex", sex, SEXES), ("CYP2B6 genotype", cyp, CYP2B6_GENOTYPES)):
            bad = set(col) - set(allowed)
            if bad:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {sorted(bad)[0]!r}")
        if not (np.all(np.isfinite(weight)) and np.all((weight >= 20.0) & (weight <= 250.0))):
            raise ValueError("body weight must be 20-250 kg")
        if not (np.all(np.isfinite(age)) and np.all((age >= 12.0) & (age <= 100.0))):
            raise ValueError("age must be 12-100 years")
        return cls(weight, age, sex, cyp)


def _each(f, x):
    """A scalar function (math.exp, float pow) element by element: the same bits for one subject and many."""
    if np.ndim(x) == 0:
        return f(float(x)) if isinstance(x, (int, float, np.number)) else f(x)
    return np.fromiter((f(float(v)) for v in x), float, len(x))


def _sqrt(x):
    return math.sqrt(x) if isinstance(x, (int, float, np.number)) else x ** 0.5


def _maximum(a, b):
    return np.maximum(a, b) if np.ndim(a) or np.ndim(b) else max(a, b)


def _minimum(a, b):
    return np.minimum(a, b) if np.ndim(a) or np.ndim(b) else min(a, b)


def _lookup(table: dict, keys):
    return table[keys] if isinstance(keys, str) else np.array([table[k] for k in keys])


def individual_pk(p: ParameterSet, cov: "Covariates | CovariateArrays",
                  eta: dict[str, float] | None = None, compounds=()) -> PKIndividual:
    """Typical values + covariates (+ between-subject multipliers `eta`, each exp(eta_i)), for one subject
    (`Covariates`, scalar entries) or many (`CovariateArrays` and arrays of eta, array entries where the value
    depends on the subject). The same operations either way, so one subject of a batch has the bits of the
    single-subject path. `p` needs only `.value(key)`: the SBML export passes symbols to read dependencies."""
    eta = eta or {}
    m = lambda k: _each(math.exp, eta.get(k, 0.0))  # noqa: E731
    g = p.value
    w = cov.weight_kg / 70.0
    expo = g("ketamine.CL_allometric_exponent")
    fcl = _each(lambda x: x ** expo, w)
    fv = w
    ff = g("ketamine.female_CL_factor")
    sex = _lookup({"female": _sqrt(ff), "male": 1.0 / _sqrt(ff), "unspecified": 1.0}, cov.sex)
    cyp = _lookup({"*1/*1": 1.0, "*1/*6": g("ketamine.cyp2b6_1_6_factor"),
                   "*6/*6": g("ketamine.cyp2b6_6_6_factor")}, cov.cyp2b6)
    v: dict = {}
    fm_nk = g("norketamine.fm")
    # CYP2B6 scales the norketamine-forming part of clearance only
    cl_scale = (1.0 - fm_nk) + fm_nk * cyp
    v["fm_nk"] = fm_nk * cyp / cl_scale
    qh = _maximum(g("route.Qh") - g("ketamine.age_Qh_slope") * _maximum(0.0, cov.age_y - 60.0), 10.0)
    for e in ENANTIOMERS:
        clf, vf = g(f"ketamine.{e}_CL_factor"), g(f"ketamine.{e}_V_factor")
        v[f"{e}.CL"] = g("ketamine.CL") * clf * fcl * sex * cl_scale * m("ketamine.CL")
        v[f"{e}.V1"] = g("ketamine.V1") * vf * fv * m("ketamine.V1")
        v[f"{e}.Q"] = g("ketamine.Q") * vf * fcl
        v[f"{e}.V2"] = g("ketamine.V2") * vf * fv
        # Otto 2021 norketamine values are apparent (fm = 1): true volume/clearance = apparent x fm; the
        # published fit's scaling uses the typical fm, not the genotype-changed one
        fm = fm_nk
        v[f"{e}.NK_V1"] = g("norketamine.V1_apparent") * fm * fv
        v[f"{e}.NK_CL"] = g("norketamine.CL_apparent") * fm * fcl * sex * m("norketamine.CL")
        v[f"{e}.NK_V2"] = g("norketamine.V2_apparent") * fm * fv
        v[f"{e}.NK_Q"] = g("norketamine.Q_apparent") * fm * fcl
        v[f"{e}.HNK_V1"] = g("hnk.V1") * fv
        v[f"{e}.HNK_V2"] = g("hnk.V2") * fv
        v[f"{e}.HNK_Q"] = g("hnk.Q") * fcl
        v[f"{e}.HNK_CL"] = g(f"hnk.{e}_CL") * fcl * m("hnk.CL")
        v[f"{e}.DHNK_V"] = g("dhnk.V") * fv
        v[f"{e}.DHNK_CL"] = g("dhnk.CL") * fcl
    v["fm_hnk"] = g("hnk.fm")
    v["fm_dhnk"] = g("dhnk.fm")
    if v["fm_hnk"] + v["fm_dhnk"] > 1.0:
        raise ValueError("hnk.fm + dhnk.fm exceed 1: norketamine cannot form more than itself")
    v["Qh"] = qh * fcl
    v["Vh"] = g("route.Vh") * fv
    v["k_hep"] = g("route.k_hepatic") * cl_scale
    v["Fgut"] = _minimum(g("route.Fgut") * m("route.Fgut"), 1.0)
    v["oral_ka"] = g("route.oral_ka")
    v["oral_D"] = g("route.oral_D")
    v["nasal_ka"] = g("route.nasal_ka") * m("route.nasal_ka")
    v["FRn"] = _minimum(g("route.esketamine_FRn") * m("route.esketamine_FRn"), 1.0)
    v["FRn_later"] = g("route.esketamine_FRn_later_factor")
    v["device_mg"] = g("route.esketamine_device_mg")
    v["device_interval"] = g("route.esketamine_device_interval")
    v["swallowed_D"] = g("route.swallowed_D")
    v["swallowed_ka"] = g("route.swallowed_ka")
    v["nasal_fraction_other"] = _minimum(g("route.nasal_fraction_other") * m("route.nasal_fraction_other"), 1.0)
    v["nasal_reference_mg"] = g("route.nasal_reference_mg")
    v["nasal_dose_exponent"] = g("route.nasal_dose_exponent")
    v["im_F"] = g("route.im_F")
    v["im_ka"] = g("route.im_ka")
    v["sl_fraction"] = g("route.sublingual_mucosal_fraction")
    v["sl_ka"] = g("route.sublingual_ka")
    v["sl_D"] = g("route.sublingual_D")
    # naltrexone: one compartment each, V from clearance and half-life
    v["NTX_CL"] = g("naltrexone.CL") * fcl * m("naltrexone.CL")
    v["NTX_V"] = g("naltrexone.CL") * fcl * g("naltrexone.t_half") / math.log(2.0) * 1.0
    v["NTX_F"] = g("naltrexone.F")
    v["NTX_ka"] = g("naltrexone.ka")
    v["NXL_fm"] = g("naltrexol.fm")
    v["NXL_CL"] = g("naltrexol.CL") * fcl
    v["NXL_V"] = g("naltrexol.CL") * fcl * g("naltrexol.t_half") / math.log(2.0)
    # extended-release depot: availability, burst share and rate, hydration and release half-times
    v["XR_F"] = g("naltrexone_xr.F")
    v["XR_burst"] = g("naltrexone_xr.burst_fraction")
    v["XR_burst_ka"] = g("naltrexone_xr.burst_ka")
    v["XR_k_hydration"] = math.log(2.0) / g("naltrexone_xr.hydration_t_half")
    v["XR_k_release"] = math.log(2.0) / g("naltrexone_xr.release_t_half")
    # biophase (L2): equilibration rate constants
    v["ke0_ket"] = math.log(2.0) / g("biophase.ketamine_t_half_ke0")
    v["ke0_nk"] = math.log(2.0) / g("biophase.norketamine_t_half_ke0")
    v["ke0_hnk"] = math.log(2.0) / g("biophase.hnk_t_half_ke0")
    v["ke0_ntx_fast"] = math.log(2.0) / g("biophase.naltrexone_t_half_fast")
    v["k_ntx_slow_in"] = g("biophase.naltrexone_slow_k_in")
    v["k_ntx_slow_out"] = g("biophase.naltrexone_slow_k_out")
    # 6beta-naltrexol crosses the blood-brain barrier poorly (peripherally selective): its brain pools fill at
    # this fraction of naltrexone's uptake rate, so its effect site is this fraction of the naltrexone-like one
    v["NXL_brain"] = g("biophase.naltrexol_brain_fraction")
    # the session marker fades as expectation wanes without a new session
    v["k_session"] = math.log(2.0) / g("placebo.waning_t_half")
    for c in compounds:
        v.update(c.individual(p, cov))
    return PKIndividual(v, tuple(compounds))


def subject_slice(ind: PKIndividual, i: int) -> PKIndividual:
    """Subject i of a batch of individual parameters (scalar entries)."""
    return PKIndividual({k: (float(x[i]) if np.ndim(x) else x) for k, x in ind.values.items()}, ind.compounds)


class LinearBuilder:
    """Collects first-order flows into a rate matrix A (dx/dt = A x).

    Rate constants may be arrays of one shape (a batch of subjects): A then has that shape followed by
    (n, n), and every entry is computed with the same operations as for scalars."""

    def __init__(self, index: dict[str, int], batch_shape: tuple[int, ...] = (), dtype=float):
        self.index = index
        self.A = np.zeros(tuple(batch_shape) + (len(index), len(index)), dtype=dtype)
        self.numeric = dtype is float

    def flow(self, src: str, k: float, targets: dict[str, float]):
        """Amount leaves `src` at rate k*x_src and arrives split among targets (fractions summing to 1)."""
        if self.numeric:  # symbolic entries (the SBML export's tracing) carry their numbers, checked on export
            if np.any(np.asarray(k) < 0) or not np.all(np.isfinite(k)):
                raise ValueError(f"rate constant for {src} must be finite and >= 0, got {k}")
            total = sum(targets.values())
            if np.any(np.abs(total - 1.0) > 1e-12):
                raise ValueError(f"flow split from {src} sums to {total}, not 1")
        i = self.index[src]
        self.A[..., i, i] -= k
        for dst, f in targets.items():
            if np.any(f):
                self.A[..., self.index[dst], i] += k * f


def build_pk_matrix(ind: PKIndividual, index: dict[str, int]) -> np.ndarray:
    """The rate matrix A. With array-valued individual parameters (one entry per subject, e.g. from
    `ketasim.solvers.fast.individual_pk_batch`) it returns the stack of the subjects' matrices."""
    batch = np.broadcast_shapes(*(np.shape(v) for v in ind.values.values()))
    numeric = all(isinstance(v, (int, float, np.number, np.ndarray)) for v in ind.values.values())
    b = LinearBuilder(index, batch, float if numeric else object)
    fm_nk, fm_hnk, fm_dhnk = ind["fm_nk"], ind["fm_hnk"], ind["fm_dhnk"]
    for e in ENANTIOMERS:
        K = lambda s: _ket(e, s)  # noqa: E731
        NK = lambda s: _met("norketamine", e, s)  # noqa: E731
        H = lambda s: _met("hnk", e, s)  # noqa: E731
        D = lambda s: _met("dhnk", e, s)  # noqa: E731
        metab = {NK("central"): fm_nk, K("eliminated"): 1.0 - fm_nk}
        V1, V2, CL, Q = ind[f"{e}.V1"], ind[f"{e}.V2"], ind[f"{e}.CL"], ind[f"{e}.Q"]
        # absorption: swallowed drug passes the gut wall (Fgut survives) into the first-pass liver
        for gut, ka in (("gut_oral", ind["oral_ka"]), ("gut_swallowed", ind["swallowed_ka"])):
            b.flow(K(gut), ka, {K("liver"): ind["Fgut"], NK("central"): (1 - ind["Fgut"]) * fm_nk,
                                K("eliminated"): (1 - ind["Fgut"]) * (1 - fm_nk)})
        # well-stirred first-pass compartment: out to the circulation with Qh, metabolised with k_hep
        k_out = ind["Qh"] / ind["Vh"]
        k_hep = ind["k_hep"]
        kl = k_out + k_hep
        b.flow(K("liver"), kl, {K("central"): k_out / kl, NK("central"): k_hep / kl * fm_nk,
                                K("eliminated"): k_hep / kl * (1 - fm_nk)})
        b.flow(K("nasal"), ind["nasal_ka"], {K("central"): 1.0})
        b.flow(K("im"), ind["im_ka"], {K("central"): 1.0})
        b.flow(K("sublingual"), ind["sl_ka"], {K("central"): 1.0})
        # disposition
        b.flow(K("central"), CL / V1, metab)
        b.flow(K("central"), Q / V1, {K("peripheral"): 1.0})
        b.flow(K("peripheral"), Q / V2, {K("central"): 1.0})
        nv1, nv2, ncl, nq = ind[f"{e}.NK_V1"], ind[f"{e}.NK_V2"], ind[f"{e}.NK_CL"], ind[f"{e}.NK_Q"]
        b.flow(NK("central"), ncl / nv1, {H("central"): fm_hnk, D("central"): fm_dhnk,
                                          NK("eliminated"): 1.0 - fm_hnk - fm_dhnk})
        b.flow(NK("central"), nq / nv1, {NK("peripheral"): 1.0})
        b.flow(NK("peripheral"), nq / nv2, {NK("central"): 1.0})
        hv1, hv2, hcl, hq = ind[f"{e}.HNK_V1"], ind[f"{e}.HNK_V2"], ind[f"{e}.HNK_CL"], ind[f"{e}.HNK_Q"]
        b.flow(H("central"), hcl / hv1, {H("eliminated"): 1.0})
        b.flow(H("central"), hq / hv1, {H("peripheral"): 1.0})
        b.flow(H("peripheral"), hq / hv2, {H("central"): 1.0})
        b.flow(D("central"), ind[f"{e}.DHNK_CL"] / ind[f"{e}.DHNK_V"], {D("eliminated"): 1.0})
    # naltrexone: gut absorption splits into systemic (F), first-pass naltrexol, other metabolites
    F, fmx = ind["NTX_F"], ind["NXL_fm"]
    b.flow("naltrexone.gut", ind["NTX_ka"], {"naltrexone.central": F, "naltrexol.central": (1 - F) * fmx,
                                              "naltrexone.eliminated": (1 - F) * (1 - fmx)})
    b.flow("naltrexone.central", ind["NTX_CL"] / ind["NTX_V"],
           {"naltrexol.central": fmx, "naltrexone.eliminated": 1 - fmx})
    b.flow("naltrexol.central", ind["NXL_CL"] / ind["NXL_V"], {"naltrexol.eliminated": 1.0})
    # extended-release depot: the burst absorbs within hours, the rest hydrates and is released over weeks
    b.flow("naltrexone.im_burst", ind["XR_burst_ka"], {"naltrexone.central": 1.0})
    b.flow("naltrexone.im_hydrating", ind["XR_k_hydration"], {"naltrexone.im_releasing": 1.0})
    b.flow("naltrexone.im_releasing", ind["XR_k_release"], {"naltrexone.central": 1.0})
    for c in ind.compounds:
        c.add_flows(b, ind)
    # L2 effect sites: dCe/dt = k_in * C_plasma - k_out * Ce (µM); they take nothing from plasma
    A, ix = b.A, index

    def effect_site(ce: str, central: str, volume: float, k_in: float, k_out: float):
        A[..., ix[ce], ix[central]] += k_in / volume
        A[..., ix[ce], ix[ce]] -= k_out

    for e in ENANTIOMERS:
        effect_site(f"ce.ketamine_{e}", _ket(e, "central"), ind[f"{e}.V1"], ind["ke0_ket"], ind["ke0_ket"])
        effect_site(f"ce.norketamine_{e}", _met("norketamine", e, "central"), ind[f"{e}.NK_V1"], ind["ke0_nk"],
                    ind["ke0_nk"])
        effect_site(f"ce.hnk_{e}", _met("hnk", e, "central"), ind[f"{e}.HNK_V1"], ind["ke0_hnk"], ind["ke0_hnk"])
    # the brain-access fraction scales only the uptake (linear, zero start: the effect site scales by it), so
    # every path built from this matrix (reference, compiled fast path, SBML export) carries it
    for sp, vol, access in (("naltrexone", ind["NTX_V"], 1.0), ("naltrexol", ind["NXL_V"], ind["NXL_brain"])):
        effect_site(f"ce.{sp}_fast", f"{sp}.central", vol, ind["ke0_ntx_fast"] * access, ind["ke0_ntx_fast"])
        effect_site(f"ce.{sp}_slow", f"{sp}.central", vol, ind["k_ntx_slow_in"] * access, ind["k_ntx_slow_out"])
    A[..., ix[SESSION_STATE], ix[SESSION_STATE]] -= ind["k_session"]
    for c in ind.compounds:
        c.add_effect_sites(A, ix, ind)
    return A


@dataclass(frozen=True)
class Input:
    """Amount (µmol) entering a state, as a bolus (duration 0) or at a constant rate over `duration_h`."""

    state: str
    amount_umol: float
    time_h: float
    duration_h: float = 0.0


def session_inputs(regimen) -> list[Input]:
    """One unit into the session marker at each time a session drug is given (several lines at one time are
    one session)."""
    times = sorted({d.time_h for d in regimen.realize() if d.is_session})
    return [Input(SESSION_STATE, 1.0, t) for t in times]


def nasal_fraction(ind: PKIndividual, mg):
    """Share of a non-device intranasal dose absorbed through the nasal mucosa (the rest is swallowed): the
    individual share at the reference dose, falling with dose as (reference / dose)^exponent (exponent 0: the same
    share at every dose), at most 1."""
    f = ind["nasal_fraction_other"]
    exponent = ind["nasal_dose_exponent"]
    if np.all(np.asarray(exponent) == 0.0):
        return f
    return _minimum(f * (ind["nasal_reference_mg"] / mg) ** exponent, 1.0)


def dose_inputs(dose: Dose, ind: PKIndividual, weight_kg: float) -> list[Input]:
    """Translate one administration into inputs to absorption depots or the circulation."""
    mg = dose.amount_mg(weight_kg)
    t = dose.time_h
    out: list[Input] = []
    if dose.drug == "placebo":
        return []
    if dose.drug == "naltrexone":
        umol = mass_to_umol(mg, "naltrexone")
        if dose.route == "im":  # the extended-release depot; the unavailable part is lost at the injection site
            F, burst = ind["XR_F"], ind["XR_burst"]
            return [Input("naltrexone.im_burst", umol * F * burst, t),
                    Input("naltrexone.im_hydrating", umol * F * (1 - burst), t),
                    Input("naltrexone.eliminated", umol * (1 - F), t)]
        return [Input("naltrexone.gut", umol, t)]
    if dose.drug == "hnk":  # (2R,6R)-HNK infused: it joins the HNK that R-ketamine forms
        return [Input(_met("hnk", "R", "central"), mass_to_umol(mg, "hnk"), t, dose.duration_h)]
    if dose.drug not in DRUG_ENANTIOMERS:
        for c in ind.compounds:
            if c.name == dose.drug:
                return c.dose_inputs(dose, ind, weight_kg)
        raise ValueError(f"{dose.drug} is not part of this model variant (its PK block is missing); simulate it "
                         f"through ketasim.simulate or a population run, which add the regimen's compounds")
    for e, share in DRUG_ENANTIOMERS[dose.drug].items():
        umol = mass_to_umol(mg * share, "ketamine")
        K = lambda s: _ket(e, s)  # noqa: E731
        if dose.route == "iv":
            out.append(Input(K("central"), umol, t, dose.duration_h))
        elif dose.route == "im":
            out.append(Input(K("im"), umol * ind["im_F"], t))
            # the non-available part is treated as lost at the injection site
            out.append(Input(K("eliminated"), umol * (1 - ind["im_F"]), t))
        elif dose.route == "oral":
            out.append(Input(K("gut_oral"), umol, t, ind["oral_D"]))
        elif dose.route == "sublingual":
            f = ind["sl_fraction"]
            out.append(Input(K("sublingual"), umol * f, t))
            out.append(Input(K("gut_oral"), umol * (1 - f), t, ind["sl_D"]))
        elif dose.route == "intranasal":
            if dose.drug == "esketamine":
                # Spravato devices of 28 mg, 5 min apart; later devices absorb less nasally
                n_dev = max(1, int(round(mg / ind["device_mg"])))
                per = umol / n_dev
                for j in range(n_dev):
                    frn = ind["FRn"] * (ind["FRn_later"] if j > 0 else 1.0)
                    tj = t + j * ind["device_interval"]
                    out.append(Input(K("nasal"), per * frn, tj))
                    out.append(Input(K("gut_swallowed"), per * (1 - frn), tj, ind["swallowed_D"]))
            else:
                f = nasal_fraction(ind, mg)
                out.append(Input(K("nasal"), umol * f, t))
                out.append(Input(K("gut_swallowed"), umol * (1 - f), t, ind["swallowed_D"]))
        else:  # pragma: no cover - Dose validates routes
            raise ValueError(dose.route)
    return out
