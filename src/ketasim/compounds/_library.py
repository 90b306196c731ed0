"""The compound library shipped in the package, user compound files, and their registration as drugs of the
regimen language (the same checks as the built-in drugs: routes, validated dose range, hard limit)."""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from ketasim.regimens import DRUGS, DrugInfo, register_drug

from ._compound import Compound
from ._schema import CompoundError, CompoundFile, plain_error

_LOCK = threading.RLock()
_SPECS: dict[str, tuple[CompoundFile, str, str]] = {}   # name -> (spec, label, text)
_BUILT: dict[str, Compound] = {}
_LIBRARY_LOADED = False


def _library_folder():
    return resources.files("ketasim.compounds") / "library"


def library_names() -> list[str]:
    """The compounds shipped with ketasim (built-in drugs described by library files included)."""
    return sorted(e.name[:-5] for e in _library_folder().iterdir() if e.name.endswith(".yaml"))


def parse_compound(text: str, label: str) -> CompoundFile:
    """YAML text -> a validated compound file, or one CompoundError naming the field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CompoundError(f"{label} is not valid YAML: {first}") from None
    if not isinstance(raw, dict):
        raise CompoundError(f"{label} must be a mapping of keys (name, species, ...), got {type(raw).__name__}")
    try:
        return CompoundFile.model_validate(raw)
    except ValidationError as exc:
        raise CompoundError(plain_error(exc, label)) from None


def _load_library():
    global _LIBRARY_LOADED
    with _LOCK:
        if _LIBRARY_LOADED:
            return
        _LIBRARY_LOADED = True
        for name in library_names():
            text = (_library_folder() / f"{name}.yaml").read_text(encoding="utf-8")
            spec = parse_compound(text, f"library compound {name}.yaml")
            if spec.name != name:
                raise CompoundError(f"library compound {name}.yaml names itself {spec.name!r}")
            _register_spec(spec, f"library compound {name}", text)


def _register_spec(spec: CompoundFile, label: str, text: str):
    with _LOCK:
        old = _SPECS.get(spec.name)
        if old is not None and old[0] != spec:
            _BUILT.pop(spec.name, None)
        _SPECS[spec.name] = (spec, label, text)
        if spec.native is None and spec.name not in DRUGS:
            (lo, hi), limit = spec.doses.mg()
            register_drug(DrugInfo(spec.name, spec.routes(), (lo, hi), limit, spec.session))


def register_compound(compound: Compound) -> Compound:
    """Make a compound (e.g. from a user's file) a drug of the regimen language; the last one of a name wins."""
    _load_library()
    if compound.name in DRUGS and not compound.native:
        raise CompoundError(f"{compound.label}: {compound.name!r} is a built-in drug; give the compound another name")
    with _LOCK:
        _register_spec(compound.spec, compound.label, compound.text or "")
        _BUILT[compound.name] = compound
    return compound


def get_compound(name: str) -> Compound:
    """A registered compound by its drug name (library compounds are loaded on first use)."""
    _load_library()
    with _LOCK:
        hit = _BUILT.get(name)
        if hit is not None:
            return hit
        if name not in _SPECS:
            raise CompoundError(f"unknown compound {name!r}; library: {', '.join(library_names())}, or give a "
                                f"compound file (.yaml)")
        spec, label, text = _SPECS[name]
        c = _BUILT[name] = Compound(spec, label, text)
        return c


def is_compound_drug(drug: str) -> bool:
    """A drug of the regimen language that is a (non-native) compound."""
    _load_library()
    with _LOCK:
        entry = _SPECS.get(drug)
    return entry is not None and entry[0].native is None


def load_compound(name_or_path: str | Path) -> Compound:
    """A library compound by name, or a user's compound file (then registered as a drug)."""
    p = Path(str(name_or_path))
    if p.suffix in (".yaml", ".yml") or (p.exists() and p.is_file()):
        if not p.exists():
            raise CompoundError(f"compound file {p} does not exist")
        text = p.read_text(encoding="utf-8")
        return compound_from_text(text, f"compound file {p.name}")
    return get_compound(str(name_or_path))


def compound_from_text(text: str, label: str = "compound file") -> Compound:
    """A compound from YAML text (an uploaded file), registered as a drug."""
    _load_library()
    spec = parse_compound(text, label)
    if spec.native is not None:
        return get_compound(spec.name)
    with _LOCK:
        lib = _SPECS.get(spec.name)
        if lib is not None and lib[1].startswith("library") and lib[0] != spec:
            raise CompoundError(f"{label}: {spec.name!r} is a library compound; give your compound another name")
    return register_compound(Compound(spec, label, text))


def library_compounds() -> list[Compound]:
    return [get_compound(n) for n in library_names()]
