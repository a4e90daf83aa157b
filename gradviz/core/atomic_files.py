"""Write a file all at once or not at all: a failed or interrupted write (disk full, a
file size limit, a crash) leaves the file that was there before, never half of a new one.

The data goes to a hidden temporary file beside the target, is flushed to disk, and
then replaces the target in one rename (``os.replace``, atomic on one file system).
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["replaced_atomically", "write_atomically"]


@contextmanager
def replaced_atomically(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to (with any writer that takes a path:
    networkx, Pillow, Qt); on leaving the block without an error it replaces ``path``,
    keeping the permissions ``path`` had; on an error it is removed and ``path`` is
    untouched."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    # os.open with 0o666 lets the umask decide, like a plain open(): mkstemp would make it private.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    try:
        if path.exists():
            os.chmod(tmp, mode)  # keep the permissions the user gave the file
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_atomically(path: str | os.PathLike, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` all at once or not at all."""
    with replaced_atomically(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
