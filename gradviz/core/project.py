"""Project files: a spec plus whatever settings the app stores beside it, as versioned JSON.

Saving is atomic (write a temporary file in the same folder, flush to disk,
then rename over the target), so a crash mid-save leaves the old file intact.
Loading either returns a complete, validated spec or raises ``ProjectError``
saying what is wrong with which file; never a partial spec.
"""
from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

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
    """Write ``spec`` and ``extra`` (JSON-serialisable settings) to ``path`` atomically."""
    path = Path(path)
    try:
        text = project_to_json(spec, **extra)
    except (TypeError, ValueError) as exc:
        raise ProjectError(f"cannot save {path}: the extra settings are not JSON-serialisable ({exc})", path) from None
    _atomic_write(path, text)
    return path


def _atomic_write(path: Path, text: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    # os.open with 0o666 lets the umask decide, like a plain open(): mkstemp would make it private.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o666
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        if path.exists():
            os.chmod(tmp, mode)  # keep the permissions the user gave the file
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def load_project(path: str | os.PathLike) -> Project:
    """Read a project file; ``ProjectError`` names the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: cannot be read ({exc})", path) from None
    return project_from_json(text, path)


def project_from_json(text: str, path: str | os.PathLike | None = None) -> Project:
    where = str(path) if path is not None else "project"
    if not text.strip():
        raise ProjectError(f"{where}: the file is empty", path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError(
            f"{where}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}); the file is corrupt or truncated", path
        ) from None
    except RecursionError:  # json's parser recurses once per nested array or object
        raise ProjectError(f"{where}: the JSON nests too deep to read; this is not a project gradviz wrote", path) from None
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
        spec.validate()
    except (SpecError, ShapeError) as exc:
        raise ProjectError(f"{where}: invalid network: {exc}", path) from None
    return Project(spec=spec, extra=extra, path=Path(path) if path is not None else None, version=version)
