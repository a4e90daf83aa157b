"""Remember which Python model files the user agreed to run.

Opening a ``.py`` model executes it. The Open Model dialog says so before the
first run of each file and remembers the answer per path *and* modification
time: an edited file (or one replaced by something else under the same name)
asks again.

Keys are a hash of the resolved path, so paths with slashes or non-ASCII
characters cannot clash with QSettings' group separators.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from gradviz.ui import settings

_GROUP = "openModel/trustedFiles"


def _key(path: Path) -> str:
    digest = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{_GROUP}/{digest}"


def _stamp(path: Path) -> str | None:
    try:
        return str(path.stat().st_mtime_ns)
    except OSError:
        return None


def is_trusted(path: str | Path) -> bool:
    """True when the user accepted running this file as it is now (same modification time)."""
    path = Path(path)
    stamp = _stamp(path)
    return stamp is not None and settings.value(_key(path)) == stamp


def trust(path: str | Path) -> None:
    """Remember that the user accepted running ``path`` in its current version."""
    path = Path(path)
    stamp = _stamp(path)
    if stamp is not None:
        settings.set_value(_key(path), stamp)
