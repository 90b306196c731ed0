"""The shared typer application, consoles, the one-line error contract and progress display."""

from __future__ import annotations

import functools
import sys

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from ketasim import __version__


def _no_value_shown(option) -> None:
    # typer shows every option's type (`--log <bool>`); a flag takes no value, so show none
    if option is not None and getattr(option, "is_flag", False):
        option.metavar = ""


class KetasimCommand(TyperCommand):
    """A command whose flags are shown as flags (`--quiet`, not `--quiet <bool>`), with -h as --help."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            _no_value_shown(param)

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        _no_value_shown(option)
        return option


class KetasimGroup(TyperGroup):
    """Typer's group, with flags shown as flags, and the argument parser's errors (an option out of range, an
    unknown option) as one plain line on stderr and exit status 2, like every other error of ketasim."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            _no_value_shown(param)

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        _no_value_shown(option)
        return option

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except Exception as exc:  # noqa: BLE001 - the parser's exceptions (typer may vendor its own click)
            kind = type(exc).__name__
            if kind == "NoArgsIsHelpError":
                click.echo(exc.ctx.get_help())
                sys.exit(2)
            if kind == "Abort":
                err_console.print("Aborted.", highlight=False)
                sys.exit(1)
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            err_console.print(f"[bold red]error:[/] {escape(plain_words(exc.format_message()))}{escape(hint)}",
                              highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


def plain_words(message: str) -> str:
    """A parser message without the validation library's phrasing ('Input should be greater than or equal to 1')."""
    from ketasim.io.schemas import plain_text

    return plain_text(" ".join(message.split()))


class _App(typer.Typer):
    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or KetasimCommand, **kwargs)


app = _App(cls=KetasimGroup, add_completion=False, no_args_is_help=True,
           context_settings={"help_option_names": ["-h", "--help"]},
           help="ketasim: research simulator of ketamine's NMDA and opioid actions. "
                "Research software, not a dosing tool.")
console = Console(width=None if sys.stdout.isatty() else 110)
err_console = Console(stderr=True)


def _print_version(value: bool):
    if value:
        console.print(f"ketasim {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_print_version,
                                       help="print ketasim's version and exit")):
    # the options of `ketasim` itself; the help text is the app's
    pass


USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError)


MAX_MESSAGE = 400  # characters: a message names the input, it never echoes a long one back whole


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= MAX_MESSAGE else line[: MAX_MESSAGE - 1] + "…"


def failure_message(exc: BaseException) -> str | None:
    """The one line for an expected failure, or None for a bug (which keeps its traceback)."""
    from ketasim.io.export import describe_os_error
    from ketasim.parallel import ExecutorError

    if isinstance(exc, USER_ERRORS) and not (isinstance(exc, FileNotFoundError) and exc.filename):
        return _one_line(exc)
    if isinstance(exc, ExecutorError):
        return _one_line(exc)
    if isinstance(exc, OSError):  # disk full, permission, a path that vanished: said, not dumped
        return describe_os_error(exc)
    if isinstance(exc, MemoryError):
        return ("not enough memory for this run; use fewer subjects, a shorter duration or a longer "
                "--output-step (nothing was written)")
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read (nothing was written)"
    return None


def user_errors(fn):
    """Turn every expected failure into one line on stderr and exit status 2; never a traceback. A bug (any
    other exception) keeps its traceback, so it can be reported."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as exc:  # noqa: BLE001 - sorted by failure_message; bugs re-raised
            msg = failure_message(exc)
            if msg is None:
                raise
            err_console.print(f"[bold red]error:[/] {escape(msg)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def warn(message: str):
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def say(message: str, quiet: bool = False):
    if not quiet:
        console.print(message, highlight=False)


def progress(description: str, quiet: bool):
    """Progress of long work as a callback(done, total): a bar with percentage and time left on a terminal, a
    plain line per tenth of the work when stderr is not a terminal (logs, CI, pipes); silent with --quiet."""
    if quiet:
        return _NoProgress()
    if err_console.is_terminal:
        return _ProgressBar(description)
    return _ProgressLines(description)


class _NoProgress:
    def __enter__(self):
        return lambda done, total: None

    def __exit__(self, *exc):
        return False


class _ProgressBar:
    def __init__(self, description: str):
        self.description = description

    def __enter__(self):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.p = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                          MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                          console=err_console, transient=True)
        self.p.__enter__()
        self.task = self.p.add_task(self.description, total=None)
        return lambda done, total: self.p.update(self.task, completed=done, total=total)

    def __exit__(self, *exc):
        return self.p.__exit__(*exc)


class _ProgressLines:
    """One line per tenth of the work (and at the end), e.g. 'simulating population: 40 % (4 of 10 parts)'."""

    def __init__(self, description: str):
        self.description = description
        self.shown = -1

    def __enter__(self):
        return self.update

    def update(self, done, total):
        try:
            done, total = int(done), int(total)
        except (TypeError, ValueError):
            return
        if total <= 0:
            return
        tenth = min(10, 10 * done // total)
        if tenth <= self.shown:
            return
        self.shown = tenth
        err_console.print(f"{escape(self.description)}: {100 * done // total} % ({done} of {total} parts)",
                          highlight=False, soft_wrap=True)

    def __exit__(self, *exc):
        return False
