"""One pint registry for ketasim and the conversions at its boundary.

Internal units (used by every equation, never seen by users):
time in h, amount in µmol, volume in L, concentration in µM (µmol/L), affinity in µM,
body weight in kg. Every user-typed or file-read quantity is converted once, here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pint

ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
# "d" is not a day in pint's default registry in every version; make it one explicitly.
ureg.define("day_ = 24 * hour = d")
# Rating scales as dimensions of their own, so that a model adding CADSS points to MADRS points fails its unit check
ureg.define("MADRS_point = [madrs_score]")
ureg.define("HAMD17_point = [hamd17_score]")
ureg.define("CADSS_point = [cadss_score]")
ureg.define("VAS_point = [vas_score]")   # 0-100 visual analogue scale (drug liking)
Q_ = ureg.Quantity

INTERNAL_UNITS = {
    "time": "h",
    "amount": "umol",
    "volume": "L",
    "concentration": "uM",
    "affinity": "uM",
    "weight": "kg",
}


_QUANTITY_TEXT = re.compile(
    r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*(?:[A-Za-z_]+(?:\s*/\s*[A-Za-z_]+)*)?$")


class UnitError(ValueError):
    """A quantity with a missing, unknown or wrong-dimension unit."""


def excerpt(text, limit: int = 60) -> str:
    """`text` quoted for an error message, cut to about `limit` characters: a message names the input, it never
    echoes a 100-kB line back whole."""
    s = str(text)
    if len(s) > limit:
        s = s[: max(1, limit - 1)] + "…"
    return repr(s)


@dataclass(frozen=True)
class MolarMass:
    species: str
    g_per_mol: float
    source: str


# Free-base molar masses (g/mol). Source keys resolve in CITATIONS.bib.
MOLAR_MASSES: dict[str, MolarMass] = {
    m.species: m
    for m in (
        MolarMass("ketamine", 237.73, "PubChemKetamine"),
        MolarMass("norketamine", 223.70, "PubChemNorketamine"),
        MolarMass("hnk", 239.70, "PubChemHNK"),
        MolarMass("dhnk", 221.68, "PubChemDHNK"),
        MolarMass("naltrexone", 341.40, "PubChemNaltrexone"),
        MolarMass("naltrexol", 343.42, "PubChemNaltrexol"),
    )
}


def parse_quantity(text: str | float | int | pint.Quantity, what: str = "quantity") -> pint.Quantity:
    """Parse '40 min', '0.5 mg/kg', '5 µM' into a pint Quantity; a clear UnitError otherwise."""
    if isinstance(text, pint.Quantity):
        q = text
    elif isinstance(text, (int, float)):
        raise UnitError(f"{what}: {excerpt(text)} has no unit; write it with one, e.g. '{text} mg' or '{text} h'")
    else:
        s = str(text).strip().replace("µ", "u").replace("μ", "u")
        if not s:
            raise UnitError(f"{what}: empty value")
        if re.match(r"^[-+]?(nan|inf)", s, re.IGNORECASE):
            raise UnitError(f"{what}: {excerpt(text)} is not a number")
        if not _QUANTITY_TEXT.match(s):
            # pint evaluates arithmetic ("9**9**9 h" never returns): accept only NUMBER [UNIT]
            raise UnitError(f"{what}: cannot read {excerpt(text)} as a number followed by a unit, e.g. '40 min' or '0.5 mg/kg'")
        try:
            q = ureg.Quantity(s)
        except (pint.errors.UndefinedUnitError, pint.errors.DefinitionSyntaxError) as exc:
            raise UnitError(f"{what}: unknown unit in {excerpt(text)} ({excerpt(exc, 80)[1:-1]})") from None
        except Exception:  # noqa: BLE001 - pint raises a zoo of parser errors on garbage
            raise UnitError(f"{what}: cannot read {excerpt(text)} as a number with a unit") from None
    if not isinstance(q, pint.Quantity) or (q.dimensionless and str(q.units) in ("", "dimensionless")):
        raise UnitError(f"{what}: {excerpt(text)} has no unit")
    mag = q.magnitude
    try:
        finite = math.isfinite(float(mag))
    except (OverflowError, TypeError, ValueError):  # '1111...1 min' is an int too large for a float
        finite = False
    if not finite:
        raise UnitError(f"{what}: {excerpt(text)} is not a finite number")
    return q


def to_unit(q: str | pint.Quantity, unit: str, what: str = "quantity") -> float:
    """Convert to `unit` and return a float; wrong dimension is a UnitError naming both units."""
    q = parse_quantity(q, what) if not isinstance(q, pint.Quantity) else q
    try:
        value = float(q.to(unit).magnitude)
    except OverflowError:
        raise UnitError(f"{what}: {excerpt(q, 40)} is too large a number") from None
    except pint.errors.DimensionalityError:
        raise UnitError(
            f"{what}: {q:~P} has units of {q.dimensionality}, expected something convertible to {unit}"
        ) from None
    if not math.isfinite(value):
        raise UnitError(f"{what}: {excerpt(q, 40)} is too large a number")
    return value


def to_hours(q: str | pint.Quantity, what: str = "time") -> float:
    return to_unit(q, "h", what)


def mass_to_umol(mg: float, species: str) -> float:
    """mg of free base -> µmol."""
    return mg * 1000.0 / MOLAR_MASSES[species].g_per_mol


def umol_per_l_to_ng_per_ml(um: float, species: str):
    """µM -> ng/mL (works on arrays): µmol/L × g/mol = µg/L = ng/mL."""
    return um * MOLAR_MASSES[species].g_per_mol


def ng_per_ml_to_um(ng_ml, species: str):
    """ng/mL -> µM (works on arrays). 1 ng/mL = 1 µg/L; divide by g/mol gives µmol/L."""
    return ng_ml / MOLAR_MASSES[species].g_per_mol


def convert_parameter_value(value: float, unit: str, internal_unit: str, key: str) -> float:
    """Convert a parameter value from its declared unit to the internal unit (once, at load)."""
    try:
        return float(Q_(value, unit.replace("µ", "u")).to(internal_unit).magnitude)
    except pint.errors.DimensionalityError:
        raise UnitError(f"parameter {key}: unit {unit!r} is not convertible to {internal_unit!r}") from None
    except pint.errors.UndefinedUnitError as exc:
        raise UnitError(f"parameter {key}: unknown unit {unit!r} ({exc})") from None
