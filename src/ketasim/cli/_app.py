"""The shared typer application, consoles, the one-line error contract and progress display."""

from __future__ import annotations

import functools
import sys

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ketasim: research simulator of ketamine's NMDA and opioid actions. "
                       "Research software, not a dosing tool.")
console = Console(width=None if sys.stdout.isatty() else 110)
err_console = Console(stderr=True)

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError)


def user_errors(fn):
    """Turn every expected user error into one line on stderr and exit status 2; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except USER_ERRORS as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def warn(message: str):
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def say(message: str, quiet: bool = False):
    if not quiet:
        console.print(message, highlight=False)


def progress(description: str, quiet: bool):
    """A rich progress bar as a callback(done, total); silent with --quiet."""
    from rich.progress import Progress

    if quiet:
        class _Null:
            def __enter__(self):
                return lambda done, total: None

            def __exit__(self, *a):
                return False
        return _Null()

    class _Bar:
        def __enter__(self):
            self.p = Progress(console=err_console, transient=True)
            self.p.__enter__()
            self.task = self.p.add_task(description, total=None)
            return lambda done, total: self.p.update(self.task, completed=done, total=total)

        def __exit__(self, *a):
            return self.p.__exit__(*a)
    return _Bar()
