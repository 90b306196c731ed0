"""Layers L2-L5, declared once as nodes of `ketasim.models.spec`: brain concentrations, receptor occupancy
(competitive, all ligands at once), the MOR agonist signal (operational model), slow mediators (L4) and outcomes
(L5). The sources of every value are in the parameter files each node reads; docs/model.md has the equations.

A mechanism hypothesis contributes its own nodes (`Mechanism.nodes()`): at least the `mediator_drive` (which
mediators carry the antidepressant effect), and any pathway of its own; a node that replaces a core node says so
(`replaces=True`, or `Node.rebind` for the same equation with other parameters). `pd_model(mechanism)` assembles
and checks the variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from . import ops
from .pk import SESSION_DRUGS  # noqa: F401  (re-exported)
from .spec import Node, PDModel, Source, derived, immediate_drive, linear_drive, signal, state
LN2 = 0.6931471805599453  # math.log(2), written out: node functions take no globals

SOURCES = (
    Source("time", "time", "h", "time"),
    Source("ce_ketamine_S", "effect_site", "uM", "S-ketamine, effect site (plasma-equivalent)"),
    Source("ce_ketamine_R", "effect_site", "uM", "R-ketamine, effect site (plasma-equivalent)"),
    Source("ce_norketamine_S", "effect_site", "uM", "S-norketamine, effect site"),
    Source("ce_norketamine_R", "effect_site", "uM", "R-norketamine, effect site"),
    Source("ce_hnk", "effect_site", "uM", "2,6-HNK (S + R), effect site"),
    Source("ce_naltrexone", "effect_site", "uM", "naltrexone, apparent brain concentration (fast + slow pools)"),
    Source("ce_naltrexol", "effect_site", "uM", "6beta-naltrexol, apparent brain concentration"),
    Source("session_memory", "effect_site", "dimensionless", "treatment sessions, each fading as expectation wanes"),
    Source("baseline_madrs", "subject", "MADRS_point", "baseline MADRS", default="mood.baseline_madrs"),
    Source("drive_scale", "subject", "dimensionless", "sensitivity to the antidepressant drive", default=1.0),
    Source("cadss_scale", "subject", "dimensionless", "sensitivity of dissociation", default=1.0),
    Source("placebo_scale", "subject", "dimensionless", "strength of expectation", default=1.0),
)
EFFECT_SITE_SOURCES = tuple(s.name for s in SOURCES if s.kind == "effect_site")
SUBJECT_SOURCES = tuple(s.name for s in SOURCES if s.kind == "subject")

# what surrounds the drug, as numbers (see Context.values)
EXPECTATIONS = ("none", "saline", "spray", "active", "open_label")
CONTEXT_UNITS = {
    **{f"context.expectation_{e}": "dimensionless" for e in EXPECTATIONS if e != "none"},
    "context.oral_ad_start_h": "h", "context.has_oral_ad": "dimensionless",
}


@dataclass(frozen=True)
class Context:
    """What surrounds the drug: expectation level, when sessions happen, background oral antidepressant."""

    expectation: str = "active"          # one of EXPECTATIONS: what the sessions lead a subject to expect
    session_times_h: tuple[float, ...] = ()
    oral_ad_start_h: float | None = None
    baseline_madrs: float | None = None  # None: the parameter's typical value

    def values(self) -> dict[str, float]:
        if self.expectation not in EXPECTATIONS:
            raise ValueError(f"expectation must be one of {', '.join(EXPECTATIONS)}, not {self.expectation!r}")
        return {
            **{f"context.expectation_{e}": 1.0 if self.expectation == e else 0.0 for e in EXPECTATIONS
               if e != "none"},
            "context.oral_ad_start_h": 0.0 if self.oral_ad_start_h is None else float(self.oral_ad_start_h),
            "context.has_oral_ad": 0.0 if self.oral_ad_start_h is None else 1.0,
        }


def context_for(regimen, expectation: str = "active", oral_ad_start_h: float | None = None,
                baseline_madrs: float | None = None) -> Context:
    sessions = tuple(d.time_h for d in regimen.realize() if d.is_session)
    return Context(expectation, sessions, oral_ad_start_h, baseline_madrs)


# ---------------------------------------------------------------------------------------------------------
# derived values (computed once per parameter set and context)

def k_from_half_life(t_half, ln2):
    return ln2 / t_half


def product(a, b):
    return a * b


def product3(a, b, c):
    return a * b * c


def baseline_mor_effect(tau, basal):
    """Operational-model effect of the endogenous tone alone (the MOR signal's baseline)."""
    stim = tau * basal / (1.0 + basal)
    return stim / (1.0 + stim)


def expectation_level(saline, spray, active, open_label, level_saline, level_spray, level_active, level_open_label):
    return saline * level_saline + spray * level_spray + active * level_active + open_label * level_open_label


def gated(flag, value):
    return flag * value


def _k(name, half_life_key, what):
    return derived(name, k_from_half_life, params={"t_half": half_life_key, "ln2": LN2},
                   unit="1/h", description=f"rate constant of {what} (ln 2 / half-life)")


DERIVED = [
    derived("mor.Ki_naltrexol", product, params={"a": "mor.Ki_naltrexone", "b": "mor.naltrexol_Ki_ratio"},
            unit="uM", description="6beta-naltrexol Ki at MOR"),
    derived("kor.Ki_naltrexone", product, params={"a": "mor.Ki_naltrexone", "b": "kor.naltrexone_Ki_ratio"},
            unit="uM", description="naltrexone Ki at KOR"),
    derived("kor.Ki_naltrexol", product3, params={"a": "mor.Ki_naltrexone", "b": "mor.naltrexol_Ki_ratio",
                                                  "c": "kor.naltrexol_Ki_ratio"},
            unit="uM", description="6beta-naltrexol Ki at KOR"),
    _k("mediator.k_decay", "mediator.t_half", "mediator decay"),
    _k("opioid.k_endogenous", "opioid.endogenous_t_half", "endogenous opioid tone"),
    _k("dissociation.k_tolerance", "dissociation.tolerance_t_half", "acute dissociation tolerance"),
    _k("tolerance.k_acute", "tolerance.acute_t_half", "acute (within-session) tolerance of subjective effects"),
    _k("tolerance.k_heavy_use", "tolerance.heavy_use_t_half", "the heavy-use exposure memory"),
    _k("mood.k_response", "mood.response_t_half", "the mood rating's response"),
    _k("placebo.k_onset", "placebo.onset_t_half", "expectation onset"),
    _k("consolidation.k_decay", "consolidation.t_half", "the consolidated (long-term) antidepressant state"),
    _k("consolidation.k_sustain", "consolidation.sustain_t_half", "the sustained induced potency"),
    _k("placebo.k_oral_ad", "placebo.oral_ad_t_half", "the oral antidepressant's build-up"),
    derived("mor.baseline_effect", baseline_mor_effect,
            params={"tau": "opioid.tau_endogenous", "basal": "opioid.basal_tone"}, unit="dimensionless",
            description="MOR effect of the endogenous tone alone"),
    derived("placebo.level", expectation_level,
            params={"saline": "context.expectation_saline", "spray": "context.expectation_spray",
                    "active": "context.expectation_active", "open_label": "context.expectation_open_label",
                    "level_saline": "placebo.saline", "level_spray": "placebo.spray",
                    "level_active": "placebo.active", "level_open_label": "placebo.open_label"},
            unit="dimensionless",
            description="expectation potency of one session in this context (none, saline, placebo spray, active "
                        "placebo or blinded active drug, open label)"),
    derived("placebo.oral_ad_level", gated, params={"flag": "context.has_oral_ad", "value": "placebo.oral_ad"},
            unit="dimensionless", description="background oral antidepressant's share, where one is given"),
]


# ---------------------------------------------------------------------------------------------------------
# L2 brain concentrations


def brain(effect_site, brain_factor):
    return brain_factor * effect_site


def _brain(species: str, label: str) -> Node:
    return signal(f"brain_{species}", brain, inputs={"effect_site": f"ce_{species}"},
                  params={"brain_factor": "biophase.brain_factor"}, unit="uM", layer="L2",
                  label=f"{label}, brain", description="effect-site concentration times the brain factor")


# L3 receptors

def nmda_ketamine_ratio(brain_ketamine_S, brain_ketamine_R, brain_norketamine_S, brain_norketamine_R, brain_hnk,
                        Ki_S, Ki_R, Ki_NK_S, Ki_NK_R, IC50_hnk):
    """Ligand-to-Ki ratio of ketamine and its metabolites at the PCP site."""
    return brain_ketamine_S / Ki_S + brain_ketamine_R / Ki_R + brain_norketamine_S / Ki_NK_S \
        + brain_norketamine_R / Ki_NK_R + brain_hnk / IC50_hnk


def nmda_occupancy(nmda_ketamine_ratio, nmda_extra_ratio):
    """Channel blockers compete for the PCP site: ketamine's family and any other blocker (the extension input,
    0 without compounds)."""
    x = nmda_ketamine_ratio + nmda_extra_ratio
    return x / (1.0 + x)


def hill_of(occupancy, half, n):
    return ops.hill(occupancy, half, n)


def ketamine_ratio(brain_ketamine_S, brain_ketamine_R, Ki_S, Ki_R):
    """Ligand-to-Ki ratio of S- and R-ketamine at a receptor."""
    return brain_ketamine_S / Ki_S + brain_ketamine_R / Ki_R


def no_binding():
    return 0.0


def endogenous_ratio(endogenous_opioid, basal_tone):
    return basal_tone * endogenous_opioid


def antagonist_ratio(ce_naltrexone, ce_naltrexol, Ki_naltrexone, Ki_naltrexol):
    return ce_naltrexone / Ki_naltrexone + ce_naltrexol / Ki_naltrexol


def mor_agonist_signal(mor_ketamine_ratio, mor_hnk_ratio, mor_endogenous_ratio, mor_antagonist_ratio,
                       mor_extra_ratio, mor_extra_stimulus, tau_ketamine, tau_hnk, tau_endogenous, baseline_effect):
    """Operational model over every agonist, with competition from the antagonists; baseline 1. Other ligands
    enter through the extension inputs (their ligand/Ki sum and their tau x ligand/Ki sum; 0 without them)."""
    denom = 1.0 + mor_ketamine_ratio + mor_hnk_ratio + mor_endogenous_ratio + mor_antagonist_ratio + mor_extra_ratio
    stim = (tau_ketamine * mor_ketamine_ratio + tau_hnk * mor_hnk_ratio
            + tau_endogenous * mor_endogenous_ratio + mor_extra_stimulus) / denom
    effect = stim / (1.0 + stim)
    return effect / baseline_effect


def mor_occupancy(mor_ketamine_ratio, mor_hnk_ratio, mor_endogenous_ratio, mor_antagonist_ratio, mor_extra_ratio):
    """Share of MOR held by exogenous ligands (agonists and antagonists)."""
    exogenous = mor_ketamine_ratio + mor_hnk_ratio + mor_antagonist_ratio + mor_extra_ratio
    return exogenous / (1.0 + mor_ketamine_ratio + mor_hnk_ratio + mor_endogenous_ratio + mor_antagonist_ratio
                        + mor_extra_ratio)


def kor_occupancy(brain_ketamine_S, brain_ketamine_R, ce_naltrexone, ce_naltrexol, kor_extra_ratio, Ki_S, Ki_R,
                  Ki_naltrexone, Ki_naltrexol):
    x = brain_ketamine_S / Ki_S + brain_ketamine_R / Ki_R + ce_naltrexone / Ki_naltrexone \
        + ce_naltrexol / Ki_naltrexol + kor_extra_ratio
    return x / (1.0 + x)


# L4 mediators

def no_release():
    return 1.0


def formation_target(drive, k_form, k_decay):
    """Target of a mediator dX/dt = k_form drive - k_decay (X - 1): 1 + k_form drive / k_decay."""
    return 1.0 + k_form * drive / k_decay


def ampa_activation(brain_hnk, ampa_extra_ratio, EC50):
    """HNK at its AMPA-dependent target, with other AMPA potentiators adding as ligand/EC50 (0 without them)."""
    extra = EC50 * ampa_extra_ratio
    return (brain_hnk + extra) / (EC50 + brain_hnk + extra)


def excess(signal):
    """A signal's excess over its baseline of 1 (never negative)."""
    return ops.positive_part(signal - 1.0)


def shown(mediator):
    return mediator


# L5 immediate effects: dissociation, euphoria and drug liking, with acute and chronic (heavy-use) tolerance.
# Tolerance acts on the immediate effects only, never on the mood pathway (weekly maintenance keeps its effect,
# Phillips 2019; SUSTAIN-3).

def chronic_tolerance(heavy_use_exposure, tolerance_max, exposure50, n):
    """Chronic tolerance as a potency shift: 1 + this is the fold rise in concentration needed for the same
    immediate effect. A steep function of the averaged exposure: frequent heavy use builds it, clinical dosing
    twice a week hardly does."""
    return tolerance_max * ops.hill(heavy_use_exposure, exposure50, n)


def dissociative_occupancy(nmda_ketamine_ratio, nmda_extra_ratio, nmda_extra_dissociative_ratio, chronic_tolerance):
    """NMDA occupancy as the dissociative pathway reads it: the block that closed channels keep (trapped block;
    ketamine's family counts in full, another blocker by its trapping relative to ketamine's, through
    `nmda_extra_dissociative_ratio`, all competing for the same site), then the potency shift of chronic
    tolerance: the ligand/Ki ratio occ / (1 - occ) divided by (1 + tolerance), written so that it stays finite at
    full occupancy. Without compounds the trapped block is the NMDA occupancy."""
    trapped = (nmda_ketamine_ratio + nmda_extra_dissociative_ratio) / (1.0 + nmda_ketamine_ratio + nmda_extra_ratio)
    return trapped / (trapped + (1.0 - trapped) * (1.0 + chronic_tolerance))


def tolerance_target(dissociative_drive, k_form, k_tolerance):
    return k_form * dissociative_drive / k_tolerance


def cadss(dissociative_drive, dissociation_tolerance, cadss_scale, Emax, tolerance_max):
    return Emax * cadss_scale * dissociative_drive * (1.0 - tolerance_max * dissociation_tolerance
                                                      / (1.0 + dissociation_tolerance))


def s_equivalent(brain_ketamine_S, brain_ketamine_R, R_potency):
    """S-ketamine-equivalent brain concentration for the subjective effects (R is less potent)."""
    return brain_ketamine_S + R_potency * brain_ketamine_R


def subjective_drive(s_equivalent, C50):
    """The drug high before any tolerance (0-1): what acute and chronic tolerance build from."""
    return s_equivalent / (C50 + s_equivalent)


def acute_tolerance_target(subjective_drive, tolerance_max):
    """Acute tolerance of the subjective effects builds with the high itself and fades within hours."""
    return tolerance_max * subjective_drive


def exposure_target(subjective_drive):
    """The heavy-use exposure memory follows the untolerated high, averaged over weeks (dM/dt = k (drive - M)):
    how often and how long a person is high, not how much drug lingers between sessions."""
    return subjective_drive


def euphoria(s_equivalent, acute_tolerance, chronic_tolerance, scale_max, C50):
    """Drug high on a unipolar 0-100 VAS (0 = none), of the tolerance-shifted concentration."""
    shifted = s_equivalent / ((1.0 + acute_tolerance) * (1.0 + chronic_tolerance))
    return scale_max * shifted / (C50 + shifted)


def drug_liking(s_equivalent, acute_tolerance, chronic_tolerance, neutral, scale_max, C50, n):
    """Drug liking on the bipolar 0-100 VAS of abuse-potential studies (50 = neutral): a sigmoid Emax from the
    neutral point up to the top of the scale, which it can approach but never pass (the ceiling)."""
    ratio = s_equivalent / ((1.0 + acute_tolerance) * (1.0 + chronic_tolerance) * C50)
    return neutral + (scale_max - neutral) * ops.hill(ratio, 1.0, n)


# L5 mood

def induced_drive(mediator_drive, n):
    """The intermediate layer: the mediator drive z acts through an induction step with a threshold, z^n (n >= 1:
    weak drives induce disproportionately little, so a low dose repeated stays below a full one)."""
    return ops.positive_part(mediator_drive) ** n


def sustained_target(induced_drive):
    """The induced potency P averaged over days (dY/dt = k (P - Y)): what a series holds up, which one infusion,
    whose P lasts a day or two, reaches only in part however high its peak."""
    return induced_drive


def consolidation_target(sustained_induction, k_form, k_decay, threshold):
    """The long-term layer's store C: dC/dt = k_form (Y - threshold)+ - k_decay C, Y the induced potency sustained
    over days. Only sustained potency above a threshold builds it: a session well below a full dose adds nothing
    however often it is repeated (Abdallah 2022), and one infusion, even in a subject of high exposure, adds little
    (its separation from saline is lost by days 10-12, Kishimoto 2016), while a series builds it; without sessions
    it fades over weeks."""
    return k_form * ops.positive_part(sustained_induction - threshold) / k_decay


def consolidated_potency(consolidation, ceiling):
    """The long-term layer's potency, saturating in the store: ceiling C / (1 + C). Weekly maintenance holds a full
    store (Phillips 2019); after the last session the effect holds while the store is large and is lost as it
    falls below 1 (relapse over weeks)."""
    return ceiling * consolidation / (1.0 + consolidation)


def antidepressant_drive(immediate_drive, induced_drive, consolidation, consolidated_potency, drive_scale):
    """The drug's antidepressant potency from its three layers (immediate: minutes-hours; intermediate: hours-days;
    long-term: days-weeks), times the subject's sensitivity (a responder or not: the same at every session).

    The long-term layer takes over from the intermediate one as its store fills: with w = C / (1 + C) the share of
    the store's capacity in use, the intermediate potency counts (1 - w) times and the long-term potency ceiling w.
    A series therefore adds durability rather than size (twice weekly = thrice weekly, Singh 2016), and after the
    last session the effect is carried by the store and fades with it (relapse over weeks), while one infusion,
    whose store stays nearly empty, keeps the intermediate layer's time course (separation lost by days 10-12)."""
    in_use = consolidation / (1.0 + consolidation)
    return drive_scale * (immediate_drive + (1.0 - in_use) * induced_drive + consolidated_potency)


def expectation_target(session_memory, placebo_scale, level, renewal_half):
    """Sessions renew expectation with diminishing returns: one fresh session gives `level`, many at most
    (1 + renewal_half) times it."""
    renewed = session_memory * (1.0 + renewal_half) / (session_memory + renewal_half)
    return level * placebo_scale * renewed


def rise(time, start, k):
    """1 - e^{-k (t - start)} from `start` on, 0 before."""
    return ops.where(time >= start, 1.0 - ops.exp(-ops.positive_part(k * (time - start))), 0.0)


def background_treatment(oral_ad_rise, placebo_scale, level):
    return level * placebo_scale * oral_ad_rise


def improvement(expectation, background_treatment, antidepressant_drive, Rmax):
    """Every treatment acts on one final common pathway: their potencies add, and the fractional improvement
    saturates at Rmax (so the drug adds less where expectation and background treatment already do much)."""
    s = expectation + background_treatment + antidepressant_drive
    return Rmax * s / (1.0 + s)


def madrs_target(baseline_madrs, improvement):
    return baseline_madrs * (1.0 - improvement)


def scaled(x, factor):
    return x * factor


MEDIATOR_PARAMS = {"k_form": "mediator.formation_rate", "k_decay": "mediator.k_decay"}
# Inputs through which other ligands reach the receptor nodes: 0 here; a model variant with compounds replaces
# each with a generated sum over the ligands present (ketasim.compounds)
EXTENSION_INPUTS = (
    ("nmda_extra_ratio", "other ligands at NMDA (ligand/Ki)", "other channel blockers' ligand/Ki"),
    ("nmda_extra_dissociative_ratio", "other ligands' trapped NMDA block", "their ligand/Ki weighted by trapping"),
    ("mor_extra_ratio", "other ligands at MOR (ligand/Ki)", "other MOR ligands' ligand/Ki"),
    ("mor_extra_stimulus", "other MOR agonists' stimulus", "their tau x ligand/Ki"),
    ("kor_extra_ratio", "other ligands at KOR (ligand/Ki)", "other KOR ligands' ligand/Ki"),
    ("ampa_extra_ratio", "other AMPA potentiators (ligand/EC50)", "other AMPA potentiators' ligand/EC50"),
)
FRACTION, RELATIVE = "fraction", "relative to baseline"

CORE = [
    *(_brain(sp, lab) for sp, lab in (("ketamine_S", "S-ketamine"), ("ketamine_R", "R-ketamine"),
                                      ("norketamine_S", "S-norketamine"), ("norketamine_R", "R-norketamine"),
                                      ("hnk", "2,6-HNK"))),
    signal("nmda_ketamine_ratio", nmda_ketamine_ratio, params={
        "Ki_S": "nmda.Ki_S_ketamine", "Ki_R": "nmda.Ki_R_ketamine", "Ki_NK_S": "nmda.Ki_S_norketamine",
        "Ki_NK_R": "nmda.Ki_R_norketamine", "IC50_hnk": "nmda.IC50_hnk"},
        layer="L3", label="ketamine and metabolites at NMDA (ligand/Ki)"),
    *(signal(name, no_binding, layer="L3", label=label, description=f"extension input: {what} (0 in the core "
                                                                     "model; compounds replace it)")
      for name, label, what in EXTENSION_INPUTS),
    signal("nmda_occupancy", nmda_occupancy, layer="L3", label="NMDA", output=True, display_unit=FRACTION,
           description="NMDA receptor occupancy"),
    signal("glutamate_surge", hill_of, inputs={"occupancy": "nmda_occupancy"},
           params={"half": "glutamate.occupancy50", "n": "glutamate.hill"}, layer="L4", label="glutamate surge"),
    state("endogenous_opioid", no_release, rate="opioid.k_endogenous", initial=1.0, layer="L4",
          label="endogenous opioid tone", description="baseline 1; raised only where a hypothesis says so"),
    signal("mor_ketamine_ratio", ketamine_ratio, params={"Ki_S": "mor.Ki_S_ketamine", "Ki_R": "mor.Ki_R_ketamine"},
           layer="L3", label="ketamine at MOR (ligand/Ki)"),
    signal("mor_hnk_ratio", no_binding, layer="L3", label="HNK at MOR (ligand/Ki)",
           description="0: measured binding finds no MOR affinity for HNK"),
    signal("mor_endogenous_ratio", endogenous_ratio, params={"basal_tone": "opioid.basal_tone"}, layer="L3",
           label="endogenous opioids at MOR (ligand/Ki)"),
    signal("mor_antagonist_ratio", antagonist_ratio, params={"Ki_naltrexone": "mor.Ki_naltrexone",
                                                             "Ki_naltrexol": "mor.Ki_naltrexol"},
           layer="L3", label="naltrexone and 6beta-naltrexol at MOR (ligand/Ki)"),
    signal("mor_occupancy", mor_occupancy, layer="L3", label="MOR", output=True, display_unit=FRACTION,
           description="mu-opioid receptor occupancy by all exogenous ligands"),
    signal("kor_occupancy", kor_occupancy, params={
        "Ki_S": "kor.Ki_S_ketamine", "Ki_R": "kor.Ki_R_ketamine", "Ki_naltrexone": "kor.Ki_naltrexone",
        "Ki_naltrexol": "kor.Ki_naltrexol"},
        layer="L3", label="KOR", output=True, display_unit=FRACTION, description="kappa-opioid receptor occupancy"),
    signal("mor_agonist_signal", mor_agonist_signal, params={
        "tau_ketamine": "opioid.tau_ketamine_measured", "tau_hnk": 0.0, "tau_endogenous": "opioid.tau_endogenous",
        "baseline_effect": "mor.baseline_effect"},
        layer="L3", panel="L4 mediators", label="MOR agonist signal", output=True, display_unit=RELATIVE,
        description="MOR agonist signal (operational model), baseline 1"),
    state("plasticity_glutamate", formation_target, rate="mediator.k_decay", initial=1.0,
          inputs={"drive": "glutamate_surge"}, params=MEDIATOR_PARAMS, layer="L4", label="plasticity (glutamate)",
          description="glutamate surge -> BDNF/mTOR-like plasticity state, baseline 1"),
    signal("ampa_activation", ampa_activation, params={"EC50": "hnk_ampa.EC50"}, layer="L4",
           label="HNK AMPA activation"),
    state("plasticity_hnk", formation_target, rate="mediator.k_decay", initial=1.0,
          inputs={"drive": "ampa_activation"}, params=MEDIATOR_PARAMS, layer="L4", label="plasticity (HNK/AMPA)",
          description="HNK -> AMPA-dependent plasticity state, baseline 1"),
    signal("plasticity", shown, inputs={"mediator": "plasticity_glutamate"}, layer="L4", label="plasticity",
           output=True, display_unit=RELATIVE, description="the plasticity state of the hypothesis, baseline 1"),
    signal("opioid_excess", excess, inputs={"signal": "mor_agonist_signal"}, layer="L3",
           label="MOR agonist signal above baseline"),
    state("opioid_signal", formation_target, rate="mediator.k_decay", initial=1.0,
          inputs={"drive": "opioid_excess"}, params=MEDIATOR_PARAMS,
          layer="L4", label="opioid signalling", output=True, display_unit=RELATIVE,
          description="opioid-signalling state built by MOR agonist signal above baseline, baseline 1"),
    # -- immediate effects and their tolerance (one block) -------------------------------------------------
    signal("dissociative_occupancy", dissociative_occupancy, layer="L5",
           label="NMDA occupancy after chronic tolerance"),
    signal("dissociative_drive", hill_of, inputs={"occupancy": "dissociative_occupancy"},
           params={"half": "dissociation.occupancy50", "n": "dissociation.hill"}, layer="L5",
           label="dissociative drive"),
    state("dissociation_tolerance", tolerance_target, rate="dissociation.k_tolerance", initial=0.0,
          params={"k_form": "dissociation.tolerance_formation_rate", "k_tolerance": "dissociation.k_tolerance"},
          layer="L5", label="acute dissociation tolerance"),
    signal("cadss", cadss, params={"Emax": "dissociation.Emax", "tolerance_max": "dissociation.tolerance_max"},
           unit="CADSS_point", layer="L5", panel="L5 immediate", label="dissociation (CADSS)", output=True,
           display_unit="CADSS points", description="dissociation (CADSS total)"),
    signal("s_equivalent", s_equivalent, params={"R_potency": "euphoria.R_potency"}, unit="uM", layer="L5",
           label="S-ketamine-equivalent brain concentration"),
    signal("subjective_drive", subjective_drive, params={"C50": "euphoria.C50"}, layer="L5",
           label="untolerated subjective drive"),
    signal("euphoria", euphoria, params={"scale_max": "euphoria.scale_max", "C50": "euphoria.C50"},
           unit="VAS_point", layer="L5", panel="L5 immediate", label="euphoria / drug high (VAS)", output=True,
           display_unit="VAS 0-100", description="euphoria / drug high (unipolar 0-100 VAS, 0 = none)"),
    signal("drug_liking", drug_liking, params={"neutral": "liking.neutral", "scale_max": "euphoria.scale_max",
                                               "C50": "liking.C50", "n": "liking.hill"},
           unit="VAS_point", layer="L5", panel="L5 immediate", label="drug liking (bipolar VAS)", output=True,
           display_unit="VAS 0-100, 50 neutral",
           description="drug liking at the moment (bipolar 0-100 VAS of abuse-potential studies, 50 = neutral)"),
    state("acute_tolerance", acute_tolerance_target, rate="tolerance.k_acute", initial=0.0,
          params={"tolerance_max": "tolerance.acute_max"}, layer="L5",
          panel="L5 tolerance", label="acute tolerance of subjective effects", output=True,
          display_unit="potency shift (fold - 1)",
          description="within-session tolerance of euphoria and liking, as a potency shift (fades within hours)"),
    state("heavy_use_exposure", exposure_target, rate="tolerance.k_heavy_use", initial=0.0, layer="L5",
          label="heavy-use exposure memory", description="the untolerated high averaged over weeks (0 = drug-naive)"),
    signal("chronic_tolerance", chronic_tolerance, params={
        "tolerance_max": "tolerance.heavy_use_max", "exposure50": "tolerance.heavy_use_exposure50",
        "n": "tolerance.heavy_use_hill"}, layer="L5", panel="L5 tolerance", label="chronic (heavy-use) tolerance",
        output=True, display_unit="potency shift (fold - 1)",
        description="chronic tolerance of the immediate effects: 1 + this = fold dose needed for the same effect"),
    # -- end of the immediate-effect block -------------------------------------------------------------------
    signal("immediate_drive", no_binding, layer="L5", label="immediate antidepressant potency",
           description="0 unless the mechanism declares an immediate layer (its pathway signal acting at once)"),
    signal("induced_drive", induced_drive, params={"n": "mood.induction_hill"}, layer="L4",
           label="induced antidepressant potency (intermediate layer)",
           description="the mediator drive through the induction threshold"),
    state("sustained_induction", sustained_target, rate="consolidation.k_sustain", initial=0.0, layer="L4",
          label="induced potency sustained over days",
          description="the intermediate layer's induced potency averaged over days: held up by a series of "
                      "sessions, reached only in part by one"),
    state("consolidation", consolidation_target, rate="consolidation.k_decay", initial=0.0,
          params={"k_form": "consolidation.formation_rate", "k_decay": "consolidation.k_decay",
                  "threshold": "consolidation.threshold"}, layer="L4",
          label="consolidated antidepressant store",
          description="long-term layer: built by induced potency above a threshold over repeated sessions, fades "
                      "over weeks without them"),
    signal("consolidated_potency", consolidated_potency, params={"ceiling": "consolidation.ceiling"}, layer="L5",
           label="long-term antidepressant potency",
           description="the long-term layer's antidepressant potency (saturating in the consolidated store)"),
    signal("antidepressant_drive", antidepressant_drive, layer="L5",
           label="antidepressant potency",
           description="the drug's antidepressant potency (immediate, intermediate and long-term layers, times "
                       "sensitivity)"),
    state("expectation", expectation_target, rate="placebo.k_onset", initial=0.0,
          params={"level": "placebo.level", "renewal_half": "placebo.renewal_half"}, layer="L5",
          label="expectation (placebo) potency",
          description="rises within hours of a session, wanes over days, renewed by each session"),
    signal("oral_ad_rise", rise, params={"start": "context.oral_ad_start_h", "k": "placebo.k_oral_ad"},
           layer="L5", label="oral antidepressant build-up"),
    signal("background_treatment", background_treatment, params={"level": "placebo.oral_ad_level"}, layer="L5",
           label="background oral antidepressant potency"),
    signal("improvement", improvement, params={"Rmax": "mood.Rmax"}, layer="L5",
           label="fractional improvement (all treatments)"),
    state("madrs", madrs_target, rate="mood.k_response", initial="baseline_madrs", unit="MADRS_point", layer="L5",
          panel="L5 mood", label="MADRS", output=True, display_unit="MADRS points",
          description="depression severity (MADRS)"),
    signal("hamd17", scaled, inputs={"x": "madrs"}, params={"factor": "mood.hamd_per_madrs"}, unit="HAMD17_point",
           layer="L5", panel="L5 mood", label="HAM-D17", output=True, display_unit="HAM-D17 points",
           description="depression severity (HAM-D17, linked from MADRS)"),
]
CORE_BY_NAME: Mapping[str, Node] = {n.name: n for n in CORE}


def core_node(name: str) -> Node:
    return CORE_BY_NAME[name]


def mechanism_drives(terms: Mapping[str, tuple[str | float, str]]) -> list[Node]:
    """A mechanism's antidepressant drive from core mediators (see `linear_drive`): the mediator drive and the
    immediate layer, the same pathway signals acting at once."""
    drivers = {m: core_node(m).inputs["drive"] for m in terms}
    return [linear_drive(terms), immediate_drive(terms, drivers)]


@lru_cache(maxsize=64)
def _assemble(mechanism) -> PDModel:
    nodes = list(DERIVED) + list(CORE) + list(mechanism.nodes())
    extra = tuple(getattr(mechanism, "extra_sources", lambda: ())())   # e.g. compounds' effect sites
    return PDModel(SOURCES + extra, nodes, CONTEXT_UNITS, label=mechanism.label())


_CHECKED: set = set()


def pd_model(mechanism, parameters=None) -> PDModel:
    """The PD layers under `mechanism`: core nodes plus the mechanism's, ordered and checked (inputs, cycles,
    parameter keys and units against `parameters`, once per mechanism and parameter set)."""
    model = _assemble(mechanism)
    if parameters is not None:
        key = (model.signature(), parameters.content_hash(), tuple(sorted(parameters)))
        if key not in _CHECKED:
            model.check(parameters)
            mechanism.validate(parameters)
            _CHECKED.add(key)
    return model
