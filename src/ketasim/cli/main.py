"""`ketasim` command line (typer). Thin: parse, call ketasim.services, print. Errors are one line.

One module per command (or command group) registers on the shared app of `_app`; `_render` prints tables."""

from __future__ import annotations

import signal
import sys

from . import export_sbml, hypotheses, params, serve, simulate, trial, validate  # noqa: F401  (registration)
from . import fit, nca, sensitivity, vpc  # noqa: F401  (registration)
from . import optimize, scenarios  # noqa: F401  (registration: use patterns, regimen optimisation)
from . import compound  # noqa: F401  (registration)
from ._app import app

__all__ = ["app", "main"]

_received: list[int] = []


def _terminate(signum, _frame):
    """SIGTERM and SIGHUP end a run as Ctrl-C does: the work stops, temporary outputs are removed, the previous
    result in --out is kept. A second signal while cleaning up is ignored, so the clean-up finishes."""
    _received.append(signum)
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


def main():  # entry point
    for sig in _SIGNALS:
        try:
            signal.signal(sig, _terminate)
        except (ValueError, OSError):  # pragma: no cover - not the main thread
            pass
    try:
        app()
    except SystemExit as exc:
        if _received:  # interrupted by a signal: the conventional status 128 + signal number
            name = signal.Signals(_received[0]).name
            sys.stderr.write(f"interrupted ({name}); an unfinished output folder is never left behind\n")
            raise SystemExit(128 + _received[0]) from None
        raise


if __name__ == "__main__":
    main()
