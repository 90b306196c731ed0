"""Doses and regimens as immutable values, and the regimen text language
(DRUG AMOUNT UNIT ROUTE [over DURATION] [at TIME] [every INTERVAL for N doses]).

    DRUG AMOUNT UNIT ROUTE [over DURATION] [at TIME] [every INTERVAL for N doses] [, repeated every INTERVAL for M sessions]

e.g. "ketamine 0.5 mg/kg iv over 40 min", "naltrexone 50 mg oral at -45 min",
"esketamine 56 mg intranasal every 3.5 d for 8 doses",
"ketamine 50 mg intranasal every 20 min for 6 doses, repeated every 7 d for 12 sessions" (session blocks: `_sessions`).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from ketasim.units import UnitError, excerpt, parse_quantity, to_hours, ureg

from ._sessions import session_clause, session_offsets, session_problem, split_session_clause

DRUGS = ("ketamine", "esketamine", "arketamine", "hnk", "naltrexone", "placebo")
ROUTES = ("iv", "im", "intranasal", "oral", "sublingual")
ROUTE_ALIASES = {"in": "intranasal", "nasal": "intranasal", "po": "oral", "sl": "sublingual",
                 "intravenous": "iv", "intramuscular": "im", "insufflated": "intranasal"}
DRUG_ROUTES = {
    "ketamine": ROUTES,
    "esketamine": ROUTES,
    "arketamine": ROUTES,
    "hnk": ("iv",),       # (2R,6R)-hydroxynorketamine given as a drug (phase 1 infusions)
    "naltrexone": ("oral", "im"),   # im: the extended-release monthly depot (380 mg)
    "placebo": ROUTES,  # an inert session (saline infusion, placebo spray or pill): no drug, only expectation
}
# Drugs whose administration is a treatment session (it carries the session's expectation); naltrexone is a
# pretreatment or a maintenance drug, not a session of its own.
SESSION_DRUGS = ("ketamine", "esketamine", "arketamine", "hnk", "placebo")
# Per-dose amounts the default parameters were built from (mg for a 70 kg adult). Outside: a warning.
# Far outside (HARD_LIMIT_MG): an error, because no source describes the body's response there.
VALIDATED_MG = {
    "ketamine": (1.0, 250.0),      # 0.1-1 mg/kg IV in depression trials; recreational IN up to 250 mg
    "esketamine": (1.0, 112.0),    # label and abuse-liability study up to 112 mg IN
    "arketamine": (1.0, 100.0),
    "hnk": (7.0, 280.0),           # phase 1: 0.1-4 mg/kg IV over 40 min at 70 kg (Raja 2024)
    "naltrexone": (2.0, 150.0),    # PET and PK studies 2-150 mg oral
}
# Routes whose studied doses differ from the drug's oral or IV range: the extended-release naltrexone depot is
# 380 mg IM once a month (label).
VALIDATED_MG_BY_ROUTE = {("naltrexone", "im"): (190.0, 380.0)}
# Below a microgram no dose of these drugs has been studied: such an amount is a unit typed wrong ('5 uu' is five
# micro-daltons to the unit library), refused rather than simulated as a near-zero dose.
HARD_MIN_MG = 0.001
HARD_LIMIT_MG = {"ketamine": 2000.0, "esketamine": 2000.0, "arketamine": 2000.0, "hnk": 2000.0,
                 "naltrexone": 1000.0}


@dataclass(frozen=True)
class DrugInfo:
    """A drug added to the regimen language from outside this module (a compound of ketasim.compounds):
    its routes, the per-dose range its parameters rest on and the limit beyond which ketasim refuses, and
    whether a dose of it is a treatment session."""

    name: str
    routes: tuple[str, ...]
    validated_mg: tuple[float, float]
    hard_limit_mg: float
    session: bool = True


_REGISTERED: dict[str, DrugInfo] = {}


def register_drug(info: DrugInfo) -> None:
    """Make `info.name` a drug of the regimen language (the same checks as the built-in drugs)."""
    if info.name in DRUGS:
        raise RegimenError(f"{info.name!r} is a built-in drug and cannot be registered again")
    if not _DRUG_NAME.fullmatch(info.name):
        raise RegimenError(f"drug name {info.name!r} must start with a letter and use lower-case letters, digits "
                           f"and '_' only")
    bad = [r for r in info.routes if r not in ROUTES]
    if bad or not info.routes:
        raise RegimenError(f"drug {info.name}: routes must be some of {', '.join(ROUTES)}, got {bad or 'none'}")
    lo, hi = info.validated_mg
    if not (0 < lo <= hi <= info.hard_limit_mg):
        raise RegimenError(f"drug {info.name}: dose ranges must satisfy 0 < low <= high <= hard limit")
    _REGISTERED[info.name] = info


def known_drugs() -> tuple[str, ...]:
    return DRUGS + tuple(sorted(_REGISTERED))


def drug_routes(drug: str) -> tuple[str, ...]:
    return DRUG_ROUTES[drug] if drug in DRUG_ROUTES else _REGISTERED[drug].routes


def is_session_drug(drug: str) -> bool:
    return drug in SESSION_DRUGS or (drug in _REGISTERED and _REGISTERED[drug].session)


def _dose_range(drug: str, route: str | None = None) -> tuple[tuple[float, float], float]:
    if (drug, route) in VALIDATED_MG_BY_ROUTE:
        return VALIDATED_MG_BY_ROUTE[drug, route], HARD_LIMIT_MG[drug]
    if drug in VALIDATED_MG:
        return VALIDATED_MG[drug], HARD_LIMIT_MG[drug]
    info = _REGISTERED[drug]
    return info.validated_mg, info.hard_limit_mg
# Long infusions are judged by their rate (mg/h): anaesthesia and ICU sedation reach ~1-5 mg/kg/h.
VALIDATED_RATE_MG_H = 120.0   # up to ~1.7 mg/kg/h at 70 kg (ICU analgosedation 1.1-1.3 mg/kg/h)
HARD_LIMIT_RATE_MG_H = 700.0  # ~10 mg/kg/h: beyond anaesthetic infusion rates
# Totals of one drug, judged over every 24-h window and over the whole regimen: ten 2000-mg lines at one time, or
# 250 mg every 15 min, pass every per-dose check but describe nothing any source has studied.
# (validated, hard limit) in mg within any 24 h. Validated: the ICU analgosedation rate above (120 mg/h) for a whole
# day for the ketamines; the highest single doses studied for naltrexone. Hard: 2.5x the 1-4 g/day reported in
# dependent ketamine users (recalled, unverified; Morgan & Curran 2012); 2 g/day of naltrexone (twice the hard
# per-dose limit). These are guards against typing errors and absurd inputs, not statements about safety.
DAILY_LIMITS_MG = {
    "ketamine": (24 * VALIDATED_RATE_MG_H, 10_000.0),
    "esketamine": (24 * VALIDATED_RATE_MG_H, 10_000.0),
    "arketamine": (24 * VALIDATED_RATE_MG_H, 10_000.0),
    "hnk": (280.0, 10_000.0),
    "naltrexone": (150.0, 2_000.0),
}
# Whole-regimen hard limit (mg): 10 days at the daily hard limit (ketamines), 25 days (naltrexone).
TOTAL_HARD_LIMIT_MG = {"ketamine": 100_000.0, "esketamine": 100_000.0, "arketamine": 100_000.0,
                       "hnk": 100_000.0, "naltrexone": 50_000.0}


def _window_limits(drug: str) -> tuple[float, float, float, float]:
    """(validated single dose, hard at one time, (validated, hard) in any 24 h, hard over the regimen) in mg.
    A registered compound has only its per-dose range: its daily guard is five hard doses, its regimen guard fifty
    (guards against typing errors, like the rest, not statements about safety)."""
    (lo, hi), hard = _dose_range(drug)
    if drug in DAILY_LIMITS_MG:
        return hi, hard, DAILY_LIMITS_MG[drug], TOTAL_HARD_LIMIT_MG[drug]
    return hi, hard, (hi * 5, hard * 5), hard * 50
WINDOW_H = 24.0
ONE_TIME_H = 1.0  # doses within one hour are judged together against the per-dose limits
MAX_REPEATS = 1000
MAX_TIME_H = 24 * 365.0
# One regimen: at most this many lines and administrations (repeats expanded). Each administration refines the
# output grid after it; 20,000 lines took minutes and gigabytes before anything was refused.
MAX_DOSE_LINES = 200
MAX_ADMINISTRATIONS = 5000


class RegimenError(ValueError):
    """A dose or regimen that cannot be given as written."""


class ValidatedRangeWarning(UserWarning):
    """A dose outside the range the default parameters were built from."""


@dataclass(frozen=True, order=True)
class Dose:
    """One administration (or a repeated series of identical ones, optionally repeated as sessions).

    amount is in `amount_unit` ('mg' or 'mg/kg'); times are in hours. `count` doses `every_h` apart make one
    session; `sessions` sessions start `session_every_h` apart.
    """

    time_h: float
    drug: str
    amount: float
    amount_unit: str
    route: str
    duration_h: float = 0.0
    every_h: float = 0.0
    count: int = 1
    session_every_h: float = 0.0
    sessions: int = 1

    def __post_init__(self):
        if self.drug not in DRUGS and self.drug not in _REGISTERED:
            raise RegimenError(f"unknown drug {self.drug!r}; known: {', '.join(known_drugs())}")
        if self.route not in ROUTES:
            raise RegimenError(f"unknown route {self.route!r}; known: {', '.join(ROUTES)}")
        if self.route not in drug_routes(self.drug):
            raise RegimenError(f"{self.drug} by {self.route} is not modelled; routes for {self.drug}: "
                               f"{', '.join(drug_routes(self.drug))}")
        for name, v in (("amount", self.amount), ("time", self.time_h), ("duration", self.duration_h),
                        ("interval", self.every_h)):
            if not isinstance(v, (int, float)) or math.isnan(v) or math.isinf(v):
                raise RegimenError(f"dose {name} must be a finite number, got {v!r}")
        if self.amount < 0 or (self.amount == 0 and self.drug != "placebo"):
            raise RegimenError(f"dose amount must be positive, got {self.amount:g} {self.amount_unit}")
        if self.amount_unit not in ("mg", "mg/kg"):
            raise RegimenError(f"dose unit must be mass (mg) or mass per body weight (mg/kg), "
                               f"got {self.amount_unit!r}")
        if self.duration_h < 0:
            raise RegimenError(f"infusion duration must not be negative, got {self.duration_h:g} h")
        if self.duration_h > 0 and self.route != "iv":
            raise RegimenError(f"'over DURATION' is an infusion and applies to iv only, not {self.route}")
        if self.duration_h > 24 * 14:
            raise RegimenError(f"infusion duration {self.duration_h:g} h exceeds the 14-day limit")
        if not isinstance(self.count, int) or self.count < 1 or self.count > MAX_REPEATS:
            raise RegimenError(f"number of doses must be a whole number 1-{MAX_REPEATS}, got {self.count!r}")
        if self.count > 1 and self.every_h <= 0:
            raise RegimenError("repeated doses need a positive interval ('every 3.5 d for 8 doses')")
        if self.count > 1 and self.duration_h > self.every_h:
            raise RegimenError("infusion duration is longer than the dosing interval")
        if abs(self.time_h) > MAX_TIME_H or self.time_h + self.every_h * (self.count - 1) > MAX_TIME_H:
            raise RegimenError(f"dose times must lie within one year of time 0")
        problem = session_problem(self.time_h, self.every_h, self.count, self.duration_h, self.session_every_h,
                                  self.sessions, MAX_TIME_H)
        if problem:
            raise RegimenError(problem)

    @property
    def is_session(self) -> bool:
        """A treatment session (it carries the session's expectation)."""
        return is_session_drug(self.drug)

    def amount_mg(self, weight_kg: float | None) -> float:
        if self.amount_unit == "mg/kg":
            if weight_kg is None:
                raise RegimenError(f"{self.amount:g} mg/kg needs a body weight (--weight)")
            return self.amount * weight_kg
        return self.amount

    def realize(self) -> tuple["Dose", ...]:
        """The single administrations this dose stands for (repeats and sessions expanded)."""
        return tuple(replace(self, time_h=self.time_h + start + i * self.every_h, every_h=0.0, count=1,
                             session_every_h=0.0, sessions=1)
                     for start in session_offsets(self.session_every_h, self.sessions) for i in range(self.count))

    def to_text(self) -> str:
        parts = [self.drug, _fmt(self.amount), self.amount_unit, self.route]
        if self.duration_h > 0:
            parts += ["over", _fmt_time(self.duration_h)]
        if self.time_h != 0:
            parts += ["at", _fmt_time(self.time_h)]
        if self.count > 1:
            parts += ["every", _fmt_time(self.every_h), "for", str(self.count), "doses"]
        return " ".join(parts) + session_clause(self.session_every_h, self.sessions, _fmt_time)


def _fmt(x: float) -> str:
    # shortest text that reads back as the same float (so parse_dose(d.to_text()) == d)
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


def _fmt_time(h: float) -> str:
    # minutes or days where that reads back exactly, hours otherwise
    minutes = h * 60.0
    if abs(minutes - round(minutes)) < 1e-9 and abs(h) < 2 and h != int(h):
        text = f"{round(minutes)} min"
        if to_hours(text) == h:
            return text
    if abs(h) >= 48 and abs(h / 24 - round(h / 24, 6)) < 1e-9:
        text = f"{_fmt(round(h / 24, 6))} d"
        if to_hours(text) == h:
            return text
    return f"{_fmt(h)} h"


@dataclass(frozen=True)
class Regimen:
    """An immutable, sorted collection of doses. `+` joins regimens."""

    doses: tuple[Dose, ...] = field(default_factory=tuple)

    def __post_init__(self):
        _check_size(len(self.doses), sum(d.count * d.sessions for d in self.doses))
        object.__setattr__(self, "doses", tuple(sorted(self.doses)))

    @classmethod
    def none(cls) -> "Regimen":
        return cls(())

    @classmethod
    def from_text(cls, *texts: str) -> "Regimen":
        _check_size(len(texts), 0)  # before parsing anything: a file of a million lines is refused at once
        return cls(tuple(parse_dose(t) for t in texts))

    from_rx = from_text

    def __add__(self, other: "Regimen") -> "Regimen":
        return Regimen(self.doses + other.doses)

    def shift(self, hours: float) -> "Regimen":
        return Regimen(tuple(replace(d, time_h=d.time_h + hours) for d in self.doses))

    def realize(self) -> tuple[Dose, ...]:
        return tuple(sorted(x for d in self.doses for x in d.realize()))

    def to_text(self) -> list[str]:
        return [d.to_text() for d in self.doses]

    def drugs(self) -> set[str]:
        return {d.drug for d in self.doses}

    def first_time_h(self) -> float:
        return min((d.time_h for d in self.doses), default=0.0)

    def last_time_h(self) -> float:
        return max((x.time_h + x.duration_h for x in self.realize()), default=0.0)

    def check_limits(self, weight_kg: float | None) -> None:
        """Raise RegimenError for doses far outside anything studied: one dose, one infusion's rate, the total of a
        drug in any 24-h window, or over the whole regimen. Never warns (see check_validated_range)."""
        self._judge(weight_kg, warn=False)

    def check_validated_range(self, weight_kg: float | None) -> list[str]:
        """Raise for doses far outside anything studied (check_limits); warn (and return messages) for doses
        outside the range the default parameters rest on."""
        messages = self._judge(weight_kg, warn=True)
        for m in messages:
            warnings.warn(m, ValidatedRangeWarning, stacklevel=2)
        return messages

    def _judge(self, weight_kg: float | None, warn: bool) -> list[str]:
        messages: list[str] = []

        def note(msg: str):
            if warn and msg not in messages:
                messages.append(msg)

        # repeats of one Dose share amount and duration: judge (and name) the Dose as written, once
        for d in self.doses:
            if d.drug == "placebo":
                continue
            mg = d.amount_mg(weight_kg)
            if mg < HARD_MIN_MG:
                raise RegimenError(f"{d.to_text()}: {mg:g} mg is far below any studied dose of {d.drug} (at least "
                                   f"{HARD_MIN_MG:g} mg); check the amount and its unit")
            if d.duration_h >= 2.0 and d.drug in ("ketamine", "esketamine", "arketamine"):
                rate = mg / d.duration_h
                if rate > HARD_LIMIT_RATE_MG_H:
                    raise RegimenError(f"{d.to_text()}: {rate:g} mg/h is far beyond any studied infusion "
                                       f"rate (limit {HARD_LIMIT_RATE_MG_H:g} mg/h); refusing to extrapolate")
                if rate > VALIDATED_RATE_MG_H:
                    note(f"{d.to_text()}: {rate:g} mg/h lies above the {VALIDATED_RATE_MG_H:g} mg/h the "
                         f"default parameters rest on; results are an extrapolation")
                continue
            (lo, hi), hard = _dose_range(d.drug, d.route)
            if mg > hard:
                raise RegimenError(f"{d.to_text()}: {mg:g} mg is far beyond any studied dose of {d.drug} "
                                   f"(limit {hard:g} mg); refusing to extrapolate")
            if not (lo <= mg <= hi):
                note(f"{d.to_text()}: {mg:g} mg lies outside the {lo:g}-{hi:g} mg range the default "
                     f"{d.drug} parameters rest on; results are an extrapolation")
        # totals per drug: at one time (any hour, judged as one dose), in the worst 24-h window (infusions counted
        # at their rate over the part of the window they cover) and over the whole regimen
        for drug in sorted(self.drugs() - {"placebo"}):
            doses = [d for d in self.doses if d.drug == drug]
            given = [x for d in doses for x in d.realize()]
            validated_one, hard_one, (validated, hard), hard_total = _window_limits(drug)
            # a window holding a single dose restates the per-dose verdict above: only several doses add a finding
            single = max(d.amount_mg(weight_kg) for d in doses) * (1 + 1e-9)
            if len(given) > 1:
                worst, start = _max_window_mg(given, weight_kg, ONE_TIME_H)
                if worst > hard_one:
                    raise RegimenError(f"{drug}: {worst:g} mg within one hour (from {_fmt_time(start)}) is far beyond "
                                       f"any studied dose (limit {hard_one:g} mg at one time); refusing "
                                       f"to extrapolate. Check the amounts, the times and the dosing interval")
                if worst > validated_one and worst > single:
                    note(f"{drug}: {worst:g} mg within one hour (from {_fmt_time(start)}) lies above the "
                         f"{validated_one:g} mg single doses the default parameters rest on; results are "
                         f"an extrapolation")
            worst, start = _max_window_mg(given, weight_kg, WINDOW_H)
            if worst > hard:
                raise RegimenError(f"{drug}: {worst:g} mg within 24 h (from {_fmt_time(start)}) is far beyond any "
                                   f"studied daily amount (limit {hard:g} mg in any 24 h); refusing to "
                                   f"extrapolate. Check the amounts, the times and the dosing interval")
            if worst > validated and worst > single:
                note(f"{drug}: {worst:g} mg within 24 h (from {_fmt_time(start)}) lies above the {validated:g} mg a "
                     f"day the default parameters rest on; results are an extrapolation")
            total = sum(d.amount_mg(weight_kg) * d.count * d.sessions for d in doses)
            if total > hard_total:
                raise RegimenError(f"{drug}: {total:g} mg over the whole regimen is far beyond any studied amount "
                                   f"(limit {hard_total:g} mg); refusing to extrapolate. "
                                   f"Check the amounts and the number of doses")
        return messages


def _check_size(lines: int, administrations: int) -> None:
    if lines > MAX_DOSE_LINES:
        raise RegimenError(f"{lines} dose lines; a regimen has at most {MAX_DOSE_LINES}. Write a repeated dose as "
                           f"one line, e.g. 'esketamine 56 mg intranasal every 3.5 d for 8 doses'")
    if administrations > MAX_ADMINISTRATIONS:
        raise RegimenError(f"the regimen gives {administrations} doses in all; at most {MAX_ADMINISTRATIONS} can be "
                           f"simulated. Use fewer or shorter series of repeats")


def _max_window_mg(doses: list["Dose"], weight_kg: float | None, window_h: float) -> tuple[float, float]:
    """The largest amount (mg) given within any window of `window_h` hours, and where that window starts.

    Boluses count at their time, infusions at their rate over the part of the window they cover. The amount in
    [s, s + w) is piecewise linear in s, so its maximum lies where a window edge meets a dose start or end; each
    candidate is also evaluated as the window (s, s + w] so doses exactly one window apart are never added."""
    if not doses:
        return 0.0, 0.0
    mg = np.array([d.amount_mg(weight_kg) for d in doses], float)
    start = np.array([d.time_h for d in doses], float)
    dur = np.array([d.duration_h for d in doses], float)
    bolus = dur <= 0
    b_t = np.sort(start[bolus])
    b_cum = np.concatenate([[0.0], np.cumsum(mg[bolus][np.argsort(start[bolus], kind="stable")])])
    rate = np.where(bolus, 0.0, mg / np.where(bolus, 1.0, dur))
    inf_s, inf_e, inf_r = start[~bolus], (start + dur)[~bolus], rate[~bolus]
    o_s, o_e = np.argsort(inf_s), np.argsort(inf_e)
    s_sorted, e_sorted = inf_s[o_s], inf_e[o_e]
    rs_cum = np.concatenate([[0.0], np.cumsum(inf_r[o_s])])
    rss_cum = np.concatenate([[0.0], np.cumsum(inf_r[o_s] * inf_s[o_s])])
    re_cum = np.concatenate([[0.0], np.cumsum(inf_r[o_e])])
    ree_cum = np.concatenate([[0.0], np.cumsum(inf_r[o_e] * inf_e[o_e])])

    def infused(t):  # amount infused up to t: sum r (min(t, e) - s)+  =  sum_{s<t} r (t - s) - sum_{e<t} r (t - e)
        i, j = np.searchsorted(s_sorted, t), np.searchsorted(e_sorted, t)
        return (t * rs_cum[i] - rss_cum[i]) - (t * re_cum[j] - ree_cum[j])

    def bolused(t, side):  # boluses before t ('left') or up to and including t ('right')
        return b_cum[np.searchsorted(b_t, t, side=side)]

    ends = start + dur
    cand = np.unique(np.concatenate([start, ends, start - window_h, ends - window_h]))
    closed_left = bolused(cand + window_h, "left") - bolused(cand, "left")    # [s, s + w)
    closed_right = bolused(cand + window_h, "right") - bolused(cand, "right")  # (s, s + w]
    amounts = np.maximum(closed_left, closed_right) + infused(cand + window_h) - infused(cand)
    k = int(np.argmax(amounts))
    return float(amounts[k]), float(max(cand[k], start.min()))


def _excerpt(text: str, limit: int = 60) -> str:
    return excerpt(text, limit)


_DRUG_NAME = re.compile(r"[a-z][a-z0-9_]*")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TIME = rf"{_NUMBER}\s*[A-Za-zµμ]+"
_PATTERN = re.compile(
    rf"""^\s*(?P<drug>[A-Za-z][A-Za-z0-9_]*)\s+
    (?P<amount>\S+)\s+(?P<unit>[A-Za-zµμ/]+)\s+
    (?P<route>[A-Za-z]+)
    (?:\s+over\s+(?P<over>{_TIME}))?
    (?:\s+at\s+(?P<at>{_TIME}|[-+]?0))?
    (?:\s+every\s+(?P<every>{_TIME})\s+for\s+(?P<count>\S+)\s+doses?)?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_dose(text: str) -> Dose:
    """Parse one line of regimen text into a Dose; RegimenError/UnitError with a precise message."""
    if not isinstance(text, str) or not text.strip():
        raise RegimenError("empty dose text; expected e.g. 'ketamine 0.5 mg/kg iv over 40 min'")
    if len(text) > 1000:
        raise RegimenError(f"dose text of {len(text)} characters ({_excerpt(text, 40)}); one dose line is "
                           f"'DRUG AMOUNT UNIT ROUTE [over DURATION] [at TIME] [every INTERVAL for N doses]'")
    line, session_every, sessions = split_session_clause(text)
    if session_every is not None:
        return _with_sessions(parse_dose(line), session_every, sessions, text)
    m = _PATTERN.match(text)
    q_text = _excerpt(text)
    if not m:
        raise RegimenError(
            f"cannot read dose {q_text}; expected 'DRUG AMOUNT UNIT ROUTE [over DURATION] [at TIME] "
            f"[every INTERVAL for N doses]', e.g. 'ketamine 0.5 mg/kg iv over 40 min'")
    drug = m["drug"].lower()
    if drug not in DRUGS and drug not in _REGISTERED:
        raise RegimenError(f"unknown drug {_excerpt(m['drug'], 30)} in {q_text}; known: {', '.join(known_drugs())}")
    route = m["route"].lower()
    route = ROUTE_ALIASES.get(route, route)
    if route not in ROUTES:
        raise RegimenError(f"unknown route {_excerpt(m['route'], 30)} in {q_text}; known: {', '.join(ROUTES)}")
    try:
        amount_value = float(m["amount"])
    except ValueError:
        raise RegimenError(f"dose amount {_excerpt(m['amount'], 30)} in {q_text} is not a number") from None
    if math.isnan(amount_value) or math.isinf(amount_value):
        raise RegimenError(f"dose amount in {q_text} is not a finite number")
    unit_text = m["unit"].replace("µ", "u").replace("μ", "u")
    q = parse_quantity(f"{amount_value} {unit_text}", what=f"dose in {q_text}")
    if q.check("[mass]"):
        amount, unit = float(q.to("mg").magnitude), "mg"
    elif _is_per_body_weight(unit_text):
        # mg/kg, ug/kg: pint reduces mass/mass to dimensionless; keep it per kg. Other ratios that pint also
        # calls dimensionless (um/m, mL/L, percent) are not doses per body weight.
        amount, unit = float(q.to("mg/kg").magnitude), "mg/kg"
    elif q.dimensionless:
        raise UnitError(f"dose in {q_text}: {_excerpt(unit_text, 30)} is not a mass per kg of body weight; write "
                        f"the dose in mg, or per kg of body weight, e.g. '0.5 mg/kg' or '500 ug/kg'")
    else:
        raise UnitError(f"dose in {q_text}: {_excerpt(unit_text, 30)} is not a mass (mg) or a mass per kg of body "
                        f"weight (mg/kg)")
    duration = to_hours(m["over"], f"infusion duration in {q_text}") if m["over"] else 0.0
    at = to_hours(m["at"] if m["at"] not in ("0", "+0", "-0") else "0 h", f"dose time in {q_text}") \
        if m["at"] else 0.0
    every, count = 0.0, 1
    if m["every"]:
        every = to_hours(m["every"], f"dosing interval in {q_text}")
        try:
            count = int(m["count"])
        except ValueError:
            raise RegimenError(f"number of doses {_excerpt(m['count'], 30)} in {q_text} is not a whole number") from None
    return Dose(time_h=at, drug=drug, amount=amount, amount_unit=unit, route=route,
                duration_h=duration, every_h=every, count=count)


def _is_per_body_weight(unit_text: str) -> bool:
    """'mg/kg', 'ug/kg', 'mg/g': a mass of drug per mass of body weight, the body weight in a unit of at least a gram;
    nothing else (not 'kg/mg', not 'mL/L' or 'um/m', which pint also reduces to plain numbers)."""
    parts = unit_text.split("/")
    if len(parts) != 2 or not all(parts):
        return False
    try:
        num, den = (ureg.Quantity(1.0, x) for x in parts)
        return num.check("[mass]") and den.check("[mass]") and den.to("g").magnitude >= 1.0
    except Exception:  # noqa: BLE001 - an unknown unit is not a mass
        return False


def _with_sessions(dose: Dose, every_text: str, count_text: str, text: str) -> Dose:
    """A parsed dose line repeated as sessions ('..., repeated every 7 d for 12 sessions')."""
    every = to_hours(every_text, f"session interval in {_excerpt(text)}")
    try:
        count = int(count_text)
    except ValueError:
        raise RegimenError(f"number of sessions {_excerpt(count_text, 30)} in {_excerpt(text)} is not a whole "
                           f"number") from None
    if dose.sessions > 1:
        raise RegimenError(f"{_excerpt(text)} repeats its sessions twice; give one 'repeated every ... for ... "
                           f"sessions'")
    return replace(dose, session_every_h=every, sessions=count)
