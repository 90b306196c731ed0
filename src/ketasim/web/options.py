"""What the dashboard may offer: drugs, routes, hypotheses and options, read from the package's own registries."""

from __future__ import annotations

import typing

from ketasim.io.schemas import ScenarioConfig, SubjectConfig
from ketasim.mechanisms import OPIOID_SOURCES, available
from ketasim.regimens import _regimen as regimen_text

from . import limits
from .errors import WebInputError


def _literal_args(annotation) -> list[str]:
    args = []
    for a in typing.get_args(annotation) or ():
        if isinstance(a, str):
            args.append(a)
        else:
            args.extend(_literal_args(a))
    return args


def choices(kind: str) -> list[str]:
    """Allowed values of `hypothesis` or `opioid_source`."""
    if kind == "hypothesis":
        return list(available())
    if kind == "opioid_source":
        return list(OPIOID_SOURCES)
    raise KeyError(kind)


def check_choice(kind: str, value: str) -> None:
    allowed = choices(kind)
    if value not in allowed:
        raise WebInputError(f"unknown {kind.replace('_', ' ')} {value!r}; known: {', '.join(allowed)}")


def hypothesis_info() -> dict[str, dict]:
    """Title, description and naltrexone prediction of each registered hypothesis."""
    from ketasim import services

    return {r["key"]: {"title": r["title"] or r["key"], "description": r["description"],
                       "naltrexone_prediction": r["naltrexone_prediction"],
                       "takes_opioid_source": "opioid_source" in r["options"]} for r in services.list_hypotheses()}


def options() -> dict:
    return {
        "drugs": list(regimen_text.DRUGS),
        "routes": list(regimen_text.ROUTES),
        "drug_routes": {k: list(v) for k, v in regimen_text.DRUG_ROUTES.items()},
        "units": ["mg/kg", "mg"],
        "sexes": _literal_args(SubjectConfig.model_fields["sex"].annotation),
        "cyp2b6": _literal_args(SubjectConfig.model_fields["cyp2b6"].annotation),
        "hypotheses": choices("hypothesis"),
        "default_hypothesis": ScenarioConfig.model_fields["hypothesis"].default,
        "hypothesis_info": hypothesis_info(),
        "opioid_sources": choices("opioid_source"),
        "expectations": _literal_args(ScenarioConfig.model_fields["expectation"].annotation),
        "limits": {
            "max_duration_d": limits.MAX_DURATION_D,
            "max_subjects": float(limits.MAX_SUBJECTS),
            "max_doses": float(limits.MAX_DOSES),
            "max_repeats": float(limits.MAX_REPEATS),
            "max_amount": limits.MAX_AMOUNT,
            "sync_work_cap_subject_days": limits.SYNC_WORK_CAP,
            "job_work_cap_subject_days": limits.JOB_WORK_CAP,
            "min_weight_kg": 20.0,
            "max_weight_kg": 250.0,
        },
    }
