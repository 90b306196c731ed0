"""The bibliography shipped with ketasim: keys and entries of CITATIONS.bib (no global registry)."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

_ENTRY = re.compile(r"@(\w+)\{([^,]+),(.*?)\}\s*$", re.MULTILINE | re.DOTALL)


@lru_cache(maxsize=1)
def bibliography() -> dict[str, str]:
    """Citation key -> full BibTeX entry text."""
    text = (resources.files("ketasim") / "CITATIONS.bib").read_text(encoding="utf-8")
    entries = {}
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"@\w+\{([^,]+),", line)
        if m:
            entries[m.group(1).strip()] = line
    return entries


def bibtex(keys) -> str:
    bib = bibliography()
    return "\n".join(bib[k] for k in sorted(set(keys)) if k in bib)
