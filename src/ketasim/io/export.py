"""Writing outputs: a folder is filled completely or not at all.

Outputs are written into a hidden temporary folder beside the destination, `.ketasim-PID-HOST-XXXX`, and moved
into place only when complete. A process killed outright (SIGKILL, power loss) cannot remove its folder; the next
run writing beside it removes folders whose process (PID on this host) is gone.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ketasim.units import excerpt

TMP_PREFIX = ".ketasim-"
_TMP_NAME = re.compile(r"^\.ketasim-(\d+)-([0-9a-f]{8})-")


class OutputError(ValueError):
    """An output path that cannot be written (an existing file, a path under a file, an unwritable folder)."""


def _name(path: Path) -> str:
    return excerpt(str(path), 80)[1:-1]


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _nearest_existing(path: Path) -> Path:
    p = path
    while True:
        try:
            p.lstat()
            return p
        except FileNotFoundError:
            if p.parent == p:
                return p
            p = p.parent
        except NotADirectoryError:
            # a component above is a file: report that one
            p = p.parent


def _writable_folder(folder: Path, what: str, target: Path) -> None:
    if not folder.is_dir():
        raise OutputError(f"{what} {_name(target)}: {_name(folder)} is a file, not a folder; choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {_name(target)}: no permission to write in {_name(folder)}; choose another path")
    try:  # access() says yes to root everywhere, and knows nothing of read-only or virtual file systems
        probe = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}probe-", dir=folder)
    except OSError as exc:
        raise OutputError(f"{what} {_name(target)}: cannot write in {_name(folder)} "
                          f"({exc.strerror or type(exc).__name__}); choose another path") from None
    os.rmdir(probe)


def _checked(what: str, target: Path, fn):
    try:
        return fn()
    except OSError as exc:  # a name too long, a loop of links, a path we may not look into
        raise OutputError(f"{what} {_name(target)} cannot be used ({exc.strerror or type(exc).__name__}); "
                          f"choose another path") from None
    except ValueError as exc:  # an embedded NUL
        raise OutputError(f"{what} {_name(target)} is not a usable path ({exc})") from None


def check_output_dir(out_dir, what: str = "--out") -> Path:
    """Check, before any work, that `out_dir` can be written as an output folder: it is a folder or does not exist
    yet, no part of its path is a file, and the nearest existing folder accepts new files. Nothing is left behind."""
    out = Path(out_dir)
    if str(out_dir).strip() == "":
        raise OutputError(f"{what} is empty; give a folder, e.g. {what} out/run")
    return _checked(what, out, lambda: _check_output_dir(out, what))


def _check_output_dir(out: Path, what: str) -> Path:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{what} {_name(out)} exists and is not a folder; give a folder (new or existing)")
    if out.is_dir():
        _writable_folder(out, what, out)
        _writable_folder(out.resolve().parent, what, out)
        return out
    _writable_folder(_nearest_existing(out.parent if out.parent != Path("") else Path(".")), what, out)
    return out


def check_output_file(path, what: str = "output file", example: str | None = None) -> Path:
    """Check, before any work, that `path` can be written as a file (it is not a folder, its folder can be made)."""
    p = Path(path)
    if str(path).strip() == "":
        raise OutputError(f"{what} is empty; give a file name")
    return _checked(what, p, lambda: _check_output_file(p, what, example))


def _check_output_file(p: Path, what: str, example: str | None) -> Path:
    if p.is_dir():
        raise OutputError(f"{what} {_name(p)} is a folder; give a file name, e.g. "
                          f"{_name(p / (example or 'output.txt'))}")
    if p.exists() and not p.is_file():
        raise OutputError(f"{what} {_name(p)} exists and is not a regular file; give another file name")
    _writable_folder(_nearest_existing(p.parent if str(p.parent) else Path(".")), what, p)
    return p


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # pragma: no cover - be conservative: keep what we cannot judge
        return True
    return True


def remove_stale_temporaries(folder) -> list[Path]:
    """Remove `.ketasim-PID-HOST-*` folders in `folder` left by processes of this host that are gone. Folders of
    live processes, of other hosts (a shared file system) and of older ketasim versions (no PID) are kept."""
    removed = []
    folder = Path(folder)
    host = _host_tag()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TMP_NAME.match(entry.name)
        if not m or m.group(2) != host:
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
                removed.append(entry)
        except OSError:
            pass
    return removed


@contextmanager
def atomic_output_dir(out_dir) -> Iterator[Path]:
    """Yield a temporary folder beside `out_dir`; when the block ends without error its files move into
    `out_dir`. On an error (or an interrupt) nothing reaches `out_dir` and the temporary folder is removed."""
    out = Path(out_dir)
    check_output_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-{_host_tag()}-", dir=out.parent))
    try:
        yield tmp
        out.mkdir(parents=True, exist_ok=True)
        for f in tmp.iterdir():
            shutil.move(str(f), out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def atomic_output_file(path) -> Iterator[Path]:
    """Yield a temporary path for one file; when the block ends without error it replaces `path` (through
    `atomic_output_dir`, so a single file is written the same way as a folder of outputs, with the usual mode)."""
    path = Path(path)
    check_output_file(path, example=f"output{path.suffix or '.txt'}")
    with atomic_output_dir(path.parent) as tmp:
        yield tmp / path.name


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write a text file whole or not at all."""
    p = Path(path)
    with atomic_output_file(p) as tmp:
        tmp.write_text(text, encoding=encoding)
    return p


def describe_os_error(exc: OSError) -> str:
    """An OSError as one sentence: what failed, where, and what to do."""
    where = f" {_name(Path(exc.filename))}" if getattr(exc, "filename", None) else ""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.ENOSPC:
        return f"no space left on the device while writing{where}; free some space or choose another --out " \
               f"(nothing was changed in the output folder)"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded while writing{where}; free some space or choose another --out"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write{where} ({reason}); choose another output path"
    return f"cannot read or write{where}: {reason}"
