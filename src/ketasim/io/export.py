"""Writing outputs: a folder is filled completely or not at all."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_output_dir(out_dir) -> Iterator[Path]:
    """Yield a temporary folder beside `out_dir`; when the block ends without error its files move into
    `out_dir`. On an error nothing reaches `out_dir` and the temporary folder is removed."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ketasim-", dir=out.parent))
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
    `atomic_output_dir`, so a single file is written the same way as a folder of outputs)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name, e.g. {path / 'model.xml'}")
    with atomic_output_dir(path.parent) as tmp:
        yield tmp / path.name
