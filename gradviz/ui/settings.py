"""Remembered settings (QSettings) and where gradviz keeps its own files.

Everything the app remembers between runs goes through these helpers so that
keys are spelled once and tests can point the whole app at a temporary folder
(``XDG_CONFIG_HOME`` for QSettings, ``GRADVIZ_CONFIG_DIR`` for recovery files).
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

ORGANISATION = "gradviz"
APPLICATION = "gradviz"
MAX_RECENT_FILES = 8

# keys
THEME = "ui/theme"
FONT_SCALE = "ui/fontScale"
WINDOW_GEOMETRY = "window/geometry"
WINDOW_STATE = "window/state"
# The dock arrangement's version: a state saved by an older arrangement is not
# restored (the new default wins); bump it whenever the default layout changes.
LAYOUT_VERSION = 2
RECENT_FILES = "files/recent"
LAST_DIRECTORY = "files/lastDirectory"


def settings() -> QSettings:
    """The app's settings store. Named explicitly (not from QCoreApplication's
    names) so that tests and scripts that never call ``app.main`` share the same
    store as the app."""
    return QSettings(ORGANISATION, APPLICATION)


def value(key: str, default=None, type_=None):
    """Read one setting; a missing or unreadable value gives ``default``."""
    store = settings()
    if not store.contains(key):
        return default
    try:
        raw = store.value(key, default, type=type_) if type_ is not None else store.value(key, default)
    except (TypeError, ValueError):  # a hand-edited or foreign value
        return default
    return default if raw is None else raw


def set_value(key: str, data) -> None:
    settings().setValue(key, data)


def config_dir() -> Path:
    """Folder for gradviz's own files (recovery autosaves).

    ``GRADVIZ_CONFIG_DIR`` wins (tests, portable installs); otherwise the
    platform's per-user application-data folder.
    """
    override = os.environ.get("GRADVIZ_CONFIG_DIR")
    if override:
        folder = Path(override)
    else:
        location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        folder = Path(location) if location else Path.home() / ".local" / "share" / APPLICATION
        # Without an application name Qt gives the bare data folder; keep our files apart.
        if folder.name.lower() != APPLICATION:
            folder = folder / APPLICATION
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- recent files ------------------------------------------------------------

def recent_files() -> list[str]:
    """Most recent first; files that no longer exist are dropped."""
    stored = value(RECENT_FILES, [])
    if isinstance(stored, str):  # QSettings returns a single-item list as a string on some backends
        stored = [stored]
    if not isinstance(stored, (list, tuple)):
        return []
    return [path for path in stored if isinstance(path, str) and Path(path).is_file()][:MAX_RECENT_FILES]


def add_recent_file(path: str | os.PathLike) -> list[str]:
    path = str(Path(path).resolve())
    files = [path] + [p for p in recent_files() if p != path]
    files = files[:MAX_RECENT_FILES]
    set_value(RECENT_FILES, files)
    return files


def clear_recent_files() -> None:
    set_value(RECENT_FILES, [])


def last_directory() -> str:
    folder = value(LAST_DIRECTORY, "")
    return folder if isinstance(folder, str) and folder and Path(folder).is_dir() else str(Path.home())


def remember_directory(path: str | os.PathLike) -> None:
    set_value(LAST_DIRECTORY, str(Path(path).resolve().parent))
