"""`ketasim` command line (typer). Thin: parse, call ketasim.services, print. Errors are one line.

One module per command (or command group) registers on the shared app of `_app`; `_render` prints tables."""

from __future__ import annotations

from . import export_sbml, hypotheses, params, serve, simulate, trial, validate  # noqa: F401  (registration)
from . import fit, nca, sensitivity, vpc  # noqa: F401  (registration)
from . import optimize, scenarios  # noqa: F401  (registration: use patterns, regimen optimisation)
from . import compound  # noqa: F401  (registration)
from ._app import app

__all__ = ["app", "main"]


def main():  # entry point
    app()


if __name__ == "__main__":
    main()
