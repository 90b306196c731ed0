"""SBML Level 3 Version 2 export of the typical-subject model (`ketasim export-sbml`).

Parts: `symbols` (ketasim's functions evaluated on expressions), `provenance` (which parameters each number
depends on, read from the declarations), `document` (libsbml, units, notes and annotations), `export` (the mapping
of the PK layer, dosing and every declared PD node to SBML)."""

from .document import PROVENANCE_NS, Dependency
from .export import SBMLExport, export_sbml, export_sbml_file
from .symbols import SBMLExportError, Sym

__all__ = ["PROVENANCE_NS", "Dependency", "SBMLExport", "SBMLExportError", "Sym", "export_sbml", "export_sbml_file"]
