"""Project files: a spec plus whatever settings the app stores beside it, as versioned JSON.

Saving is atomic (write a temporary file in the same folder, flush to disk,
then rename over the target), so a crash mid-save leaves the old file intact.
Loading either returns a complete, validated spec or raises ``ProjectError``
saying what is wrong with which file; never a partial spec.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from gradviz.core.atomic_files import write_atomically
from gradviz.core.layers import validate_network
from gradviz.core.spec import NetworkSpec, ShapeError, SpecError

FORMAT = "gradviz-project"
FORMAT_VERSION = 1
SUFFIX = ".gvz.json"


class ProjectError(Exception):
    """A project file that cannot be read (missing, corrupt, truncated, too new, invalid)."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None


@dataclass
class Project:
    """What ``load_project`` returns: the network and the extra settings saved with it."""

    spec: NetworkSpec
    extra: dict = field(default_factory=dict)
    path: Path | None = None
    version: int = FORMAT_VERSION


def project_to_json(spec: NetworkSpec, **extra) -> str:
    document = {"format": FORMAT, "version": FORMAT_VERSION, "spec": spec.to_dict(), "extra": extra}
    return json.dumps(document, indent=2, allow_nan=False)


def save_project(path: str | os.PathLike, spec: NetworkSpec, **extra) -> Path:
    """Write ``spec`` and ``extra`` (JSON-serialisable settings) to ``path`` atomically.

    A ``path`` that is a symbolic link keeps being one: the file it points to is
    replaced. An ``OSError`` names ``path``, never the hidden temporary file.
    """
    path = Path(path)
    for _, layer in spec.walk():
        for key, value in layer.params.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ProjectError(
                    f"cannot save {path}: layer {layer.name!r} has {key} = {value}, which is not a finite number; fix it first", path
                )
    try:
        text = project_to_json(spec, **extra)
    except (TypeError, ValueError) as exc:
        raise ProjectError(f"cannot save {path}: the extra settings are not JSON-serialisable ({exc})", path) from None
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    remove_stale_temp_files(target.parent if str(target.parent) else Path("."), target.name)
    try:
        write_atomically(target, text)
    except OSError as exc:
        raise _naming(exc, path) from None
    return path


def _naming(exc: OSError, path: Path) -> OSError:
    """The same error about the user's ``path`` (not our temporary file); same OSError subclass."""
    if exc.errno is not None:
        return OSError(exc.errno, exc.strerror or str(exc), str(path))
    return type(exc)(f"cannot save {path}: {exc}")


# A temporary file is ".<file name>.<8 hex digits>.tmp" beside the file it will replace.
_TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.tmp$")
STALE_TEMP_AGE_S = 60.0  # a save takes milliseconds: older temporary files are left by a killed save


def remove_stale_temp_files(folder: str | os.PathLike, name: str | None = None, *, older_than_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Delete the temporary files that saves killed mid-write (kill -9, power loss) left in ``folder``.

    Only our own pattern (``.<name>.<8 hex>.tmp``), only for ``name`` when given,
    and only files older than ``older_than_s`` (a save running in another
    gradviz right now keeps its file). Returns what was removed; never raises.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_PATTERN.match(entry.name)
        if not match or (name is not None and match.group("name") != name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False) or now - entry.stat(follow_symlinks=False).st_mtime < older_than_s:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def load_project(path: str | os.PathLike) -> Project:
    """Read a project file; ``ProjectError`` names the file and the problem."""
    path = Path(path)
    try:
        # utf-8-sig: files saved by editors that write a byte-order mark load too.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: cannot be read ({exc})", path) from None
    return project_from_json(text, path)


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str):
    # json.loads accepts NaN and Infinity, which are not JSON and cannot be saved back.
    raise _NonFinite(f"the file holds {name}, which is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NonFinite(f"the number {text[:40]} is too large for a float")
    return value


def project_from_json(text: str, path: str | os.PathLike | None = None) -> Project:
    where = str(path) if path is not None else "project"
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ProjectError(f"{where}: the file is empty", path)
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ProjectError(
            f"{where}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); the file is corrupt or truncated", path
        ) from None
    except _NonFinite as exc:
        raise ProjectError(f"{where}: {exc}; use a finite number", path) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ProjectError(f"{where}: a value in the file cannot be read ({exc})", path) from None
    except RecursionError:
        raise ProjectError(f"{where}: the JSON is nested too deeply to read", path) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ProjectError(f"{where}: not a gradviz project file (no \"format\": \"{FORMAT}\")", path)
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProjectError(f"{where}: invalid format version {version!r}", path)
    if version > FORMAT_VERSION:
        raise ProjectError(
            f"{where}: written by a newer gradviz (format version {version}; this version reads up to {FORMAT_VERSION}). "
            "Update gradviz to open it.",
            path,
        )
    extra = document.get("extra", {})
    if not isinstance(extra, dict):
        raise ProjectError(f"{where}: 'extra' must be an object", path)
    try:
        spec = NetworkSpec.from_dict(document.get("spec"))
        validate_network(spec)
    except (SpecError, ShapeError) as exc:
        raise ProjectError(f"{where}: invalid network: {exc}", path) from None
    if path is not None:  # leftovers of a killed save of this file sit beside the real file, not a link to it
        real = Path(os.path.realpath(path))
        remove_stale_temp_files(real.parent, real.name)
    return Project(spec=spec, extra=extra, path=Path(path) if path is not None else None, version=version)
