"""What the installed ketasim offers (drugs, routes, hypotheses, ...), discovered rather than hard-coded,
so that the dashboard grows with the package."""

from __future__ import annotations

import importlib
import typing

from ketasim.io.schemas import ScenarioConfig, SubjectConfig
from ketasim.regimens import _regimen as regimen_text

DEFAULT_HYPOTHESIS = "opioid"
# Where a mechanism-hypothesis registry may live, and what it may be called. First hit wins.
_REGISTRY_MODULES = ("ketasim.models.mechanisms", "ketasim.mechanisms", "ketasim.hypotheses")
_REGISTRY_NAMES = {
    "hypothesis": ("available_hypotheses", "hypothesis_names", "HYPOTHESES", "MECHANISMS", "available", "registry",
                   "REGISTRY"),
    "opioid_source": ("available_opioid_sources", "opioid_source_names", "OPIOID_SOURCES"),
}


def supports(field: str) -> bool:
    """Does the installed ScenarioConfig take this field?"""
    return field in ScenarioConfig.model_fields


def _literal_args(annotation) -> list[str]:
    args = []
    for a in typing.get_args(annotation) or ():
        if isinstance(a, str):
            args.append(a)
        else:
            args.extend(_literal_args(a))
    return args


def _service_hypotheses() -> list[dict]:
    """`ketasim.services.list_hypotheses()` where the installed package has it."""
    try:
        from ketasim import services

        fn = getattr(services, "list_hypotheses", None)
        rows = fn() if fn is not None else []
        return [r for r in rows if isinstance(r, dict) and isinstance(r.get("key"), str)]
    except Exception:  # noqa: BLE001 - a half-written registry must not break the dashboard
        return []


def _from_registry(kind: str) -> list[str]:
    if kind == "hypothesis":
        rows = _service_hypotheses()
        if rows:
            return [r["key"] for r in rows]
    else:
        order = [s for r in _service_hypotheses() for s in (r.get("options") or {}).get(kind, [])]
        if order:
            return [str(x) for x in dict.fromkeys(order)]
    for mod_name in _REGISTRY_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except Exception:  # noqa: BLE001 - a half-written module must not break the dashboard
            continue
        for name in _REGISTRY_NAMES[kind]:
            obj = getattr(mod, name, None)
            if obj is None:
                continue
            try:
                obj = obj() if callable(obj) and not isinstance(obj, type) else obj
                names = [str(k) for k in (obj.keys() if hasattr(obj, "keys") else obj)]
            except Exception:  # noqa: BLE001
                continue
            if names and all(isinstance(n, str) for n in names):
                return names
    return []


def choices(kind: str) -> list[str]:
    """Allowed values of `hypothesis` or `opioid_source`."""
    if supports(kind):
        field = ScenarioConfig.model_fields[kind]
        lit = _literal_args(field.annotation)
        if lit:
            return lit
        found = _from_registry(kind)
        if found:
            return found
        if field.default is not None and isinstance(field.default, str):
            return [field.default]
    if kind == "hypothesis":
        return [DEFAULT_HYPOTHESIS]
    return []


def check_choice(kind: str, value: str) -> None:
    from ketasim.web.schemas import WebInputError

    allowed = choices(kind)
    if allowed and value not in allowed:
        label = kind.replace("_", " ")
        raise WebInputError(f"unknown {label} {value!r}; known: {', '.join(allowed)}")
    if not allowed:
        raise WebInputError(f"this version of ketasim has no {kind.replace('_', ' ')} choice")


def hypothesis_info() -> dict[str, dict]:
    """Title, description and naltrexone prediction of each registered hypothesis, where the registry has them."""
    rows = _service_hypotheses()
    if rows:
        return {r["key"]: {"title": str(r.get("title") or r["key"]), "description": str(r.get("description") or ""),
                           "naltrexone_prediction": str(r.get("naltrexone_prediction") or ""),
                           "takes_opioid_source": "opioid_source" in (r.get("options") or {})} for r in rows}
    try:
        mod = importlib.import_module("ketasim.mechanisms")
        reg = mod.available()
    except Exception:  # noqa: BLE001 - no registry yet: the page shows bare names
        return {}
    info = {}
    for key, cls in reg.items():
        info[str(key)] = {
            "title": str(getattr(cls, "title", key)),
            "description": str(getattr(cls, "description", "")),
            "naltrexone_prediction": str(getattr(cls, "naltrexone_prediction", "")),
            "takes_opioid_source": "source" in getattr(cls, "__dataclass_fields__", {}),
        }
    return info


def options() -> dict:
    from ketasim.web import schemas as s

    hyps = choices("hypothesis")
    default = DEFAULT_HYPOTHESIS if DEFAULT_HYPOTHESIS in hyps else hyps[0]
    if supports("hypothesis"):
        d = ScenarioConfig.model_fields["hypothesis"].default
        if isinstance(d, str) and d in hyps:
            default = d
    return {
        "drugs": list(regimen_text.DRUGS),
        "routes": list(regimen_text.ROUTES),
        "drug_routes": {k: list(v) for k, v in regimen_text.DRUG_ROUTES.items()},
        "units": ["mg/kg", "mg"],
        "sexes": _literal_args(SubjectConfig.model_fields["sex"].annotation),
        "cyp2b6": _literal_args(SubjectConfig.model_fields["cyp2b6"].annotation),
        "hypotheses": hyps,
        "default_hypothesis": default,
        "hypothesis_info": {k: v for k, v in hypothesis_info().items() if k in hyps},
        "opioid_sources": choices("opioid_source"),
        "expectations": _literal_args(ScenarioConfig.model_fields["expectation"].annotation)
        if supports("expectation") else [],
        "supports": {f: supports(f) for f in ("hypothesis", "opioid_source", "subjects", "expectation",
                                              "baseline_madrs")},
        "limits": {
            "max_duration_d": s.MAX_DURATION_D,
            "max_subjects": float(s.MAX_SUBJECTS if supports("subjects") else 1),
            "max_doses": float(s.MAX_DOSES),
            "max_repeats": float(s.MAX_REPEATS),
            "max_amount": s.MAX_AMOUNT,
            "sync_work_cap_subject_days": s.SYNC_WORK_CAP,
            "job_work_cap_subject_days": s.JOB_WORK_CAP,
            "min_weight_kg": 20.0,
            "max_weight_kg": 250.0,
        },
    }
