"""Runs kept where they cannot be written (an archive, a read-only mount, someone else's directory).

``show``, ``report`` and ``analyze`` record the analyses' findings in the store they read. On a run they
may not write, they work on a private temporary copy of its store instead, so they still work there and
leave the original exactly as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selftaught.errors import RunStoreError
from selftaught.store.sqlite import DB_NAME


def checked(run_dir: Path) -> Path:
    """``run_dir`` if it holds a run store, else a one-line error."""
    if not (Path(run_dir) / DB_NAME).is_file():
        raise RunStoreError(f"{run_dir} is not a selftaught run (no {DB_NAME}); pass the directory a run printed")
    return Path(run_dir)


def writable(run_dir: Path) -> bool:
    return os.access(run_dir, os.W_OK) and os.access(Path(run_dir) / DB_NAME, os.W_OK)


@contextmanager
def readable(run_dir: Path) -> Iterator[Path]:
    """The run directory itself if it can be written, else a temporary copy of its store (the
    write-ahead log included: SQLite folds it in when the copy is opened)."""
    run_dir = checked(run_dir)
    if writable(run_dir):
        yield run_dir
        return
    with tempfile.TemporaryDirectory(prefix="selftaught-readonly-") as tmp:
        copy = Path(tmp) / run_dir.name
        copy.mkdir()
        for name in (DB_NAME, f"{DB_NAME}-wal"):
            if (run_dir / name).is_file():
                shutil.copyfile(run_dir / name, copy / name)
        yield copy
