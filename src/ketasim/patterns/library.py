"""Patterns of use as scenarios: the built-in library (YAML files shipped in the package) and user files written
the same way.

A pattern is a scenario (regimen text, duration, expectation, subject) plus what makes a pattern of use: whether it
is clinical or recreational, the product (street intranasal powder differs from a nasal spray), the sources its
doses and timing rest on, and what in it is a modelling choice rather than a measurement.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ketasim.io.schemas import ScenarioConfig, ScenarioError, SubjectConfig, validate_yaml
from ketasim.regimens import Regimen

# Intranasal products: parameter values that replace the default spray's, each taken from a sourced parameter
PRODUCTS: dict[str, dict[str, str]] = {
    "spray": {},
    "street_powder": {"route.nasal_fraction_other": "street.nasal_fraction",
                      "route.nasal_reference_mg": "street.nasal_reference_mg",
                      "route.nasal_dose_exponent": "street.nasal_dose_exponent"},
}
PRODUCT_NOTES = {
    "spray": "intranasal doses as a nasal spray (the default parameters)",
    "street_powder": ("insufflated street powder: no bioavailability study of powder exists; the nasal share "
                      "(0.21 at 50 mg, total F about 0.35) and its fall with dose are a modelling choice derived "
                      "from sprays, with 50 % between-subject variation"),
}


class PatternError(ScenarioError):
    """A use-pattern file or name that cannot be used as written."""


class UsePattern(BaseModel):
    """A pattern of use: a scenario with its kind, product and sources."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    title: str
    kind: Literal["clinical", "recreational"]
    description: str = ""
    doses: list[str] = Field(..., min_length=1, description="regimen text lines")
    product: Literal["spray", "street_powder"] = "spray"
    duration: str = "7 d"
    expectation: Literal["none", "saline", "active"] = "none"
    subject: SubjectConfig = Field(default_factory=SubjectConfig)
    sources: list[str] = Field(..., min_length=1, description="CITATIONS.bib keys the pattern rests on")
    modelling_choices: list[str] = Field(default_factory=list)

    @field_validator("doses")
    @classmethod
    def _doses(cls, v):
        Regimen.from_text(*v)   # one clear error naming the line
        return v

    @field_validator("sources")
    @classmethod
    def _sources(cls, v):
        from ketasim.citations import bibliography

        unknown = [k for k in v if k not in bibliography()]
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}: sources are citation keys of ketasim's bibliography")
        return v

    def regimen(self) -> Regimen:
        return Regimen.from_text(*self.doses)

    def parameters(self, base=None):
        """The default parameters with this pattern's product applied."""
        from ketasim.parameters import default_parameters

        p = base or default_parameters()
        swap = PRODUCTS[self.product]
        return p.replace_many({k: p[src].value for k, src in swap.items()}) if swap else p

    def scenario(self, subjects: int = 1, seed: int = 1, hypothesis: str = "opioid",
                 opioid_source: str | None = None, duration: str | None = None,
                 expectation: str | None = None) -> ScenarioConfig:
        return ScenarioConfig(name=self.name, doses=list(self.doses), duration=duration or self.duration,
                              subject=self.subject, subjects=subjects, seed=seed, hypothesis=hypothesis,
                              opioid_source=opioid_source, expectation=expectation or self.expectation)

    def summary(self) -> dict:
        nasal = any(d.route == "intranasal" and d.drug != "esketamine" for d in self.regimen().doses)
        product = self.product if nasal else "-"
        return {"name": self.name, "title": self.title, "kind": self.kind, "doses": list(self.doses),
                "product": product, "product_note": PRODUCT_NOTES[self.product] if nasal else
                "no intranasal ketamine in this pattern", "duration": self.duration,
                "expectation": self.expectation, "sources": list(self.sources),
                "modelling_choices": list(self.modelling_choices), "description": self.description.strip()}


def _builtin_dir():
    return resources.files("ketasim.patterns") / "builtin"


def builtin_patterns() -> list[str]:
    """Names of the built-in patterns, clinical first, in library order."""
    names = [e.name[:-5] for e in _builtin_dir().iterdir() if e.name.endswith(".yaml")]
    pats = [load_pattern(n) for n in names]
    order = {"clinical": 0, "recreational": 1}
    return [p.name for p in sorted(pats, key=lambda p: (order[p.kind], _RANK.get(p.name, 99), p.name))]


# reading order of the library (clinical, then recreational from one night to months of use)
_RANK = {n: i for i, n in enumerate(("clinical_iv_single", "clinical_iv_course", "clinic_esketamine_56",
                                     "clinic_esketamine_84", "low_dose_sublingual", "street_bumps",
                                     "street_binge", "im_injection", "street_weekly", "street_daily"))}


def load_pattern(name_or_path: str | Path) -> UsePattern:
    """A built-in pattern by name, or a YAML file of the same form."""
    text_name = str(name_or_path)
    entry = _builtin_dir() / f"{text_name}.yaml"
    if not text_name.endswith((".yaml", ".yml")) and entry.is_file():
        return validate_yaml(UsePattern, entry.read_text(encoding="utf-8"), f"built-in pattern {text_name}",
                             PatternError)
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise PatternError(f"pattern file {path} does not exist")
        return validate_yaml(UsePattern, path.read_text(encoding="utf-8"), f"pattern file {path.name}", PatternError)
    known = ", ".join(sorted(e.name[:-5] for e in _builtin_dir().iterdir() if e.name.endswith(".yaml")))
    raise PatternError(f"unknown use pattern {text_name!r}; built-in: {known} (or give a .yaml file)")
