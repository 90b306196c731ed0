"""Compounds: drugs that may not exist yet, described by their pharmacokinetics and receptor profile (YAML files,
validated; every number with unit and source), and the library of real ones shipped with ketasim.

A compound becomes a drug of the regimen language (`lanicemine 100 mg iv over 60 min`); a regimen that gives one
runs in the model variant (mechanism, compounds present): the compound's own PK block, its effect-site sources
and its PD nodes at NMDA, MOR, KOR, AMPA and GABA-A (docs/model.md, "Compounds").
"""

from ._compound import Compound, trapped_block_weight
from ._library import (compound_from_text, get_compound, is_compound_drug, library_compounds, library_names,
                       load_compound, register_compound)
from ._schema import CompoundError, CompoundFile
from ._variant import CompoundVariant, compound_nodes, compounds_in, with_compounds

__all__ = ["Compound", "CompoundError", "CompoundFile", "CompoundVariant", "compound_from_text", "compound_nodes",
           "compounds_in", "get_compound", "is_compound_drug", "library_compounds", "library_names", "load_compound",
           "register_compound", "trapped_block_weight", "with_compounds"]
