"""Autosave to a recovery file, and finding the files a crashed run left behind.

Every few seconds, if the document changed since the last autosave and is not
saved, the project is written (atomically) to ``recovery-<pid>-<n>.gvz.json``
in the config folder. A clean save or exit deletes it; a crash leaves it, and
the next start offers it ("Recover unsaved work?"). The pid in the name keeps
two running instances from offering each other's live autosaves.
"""
from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from gradviz.core.project import ProjectError, load_project, save_project
from gradviz.ui import settings
from gradviz.ui.builder.project_files import ProjectFiles
from gradviz.ui.builder.prompts import Prompts
from gradviz.ui.errors import show_error

AUTOSAVE_INTERVAL_MS = 3000
_PREFIX, _SUFFIX = "recovery-", ".gvz.json"
_counter = itertools.count(1)
_live: set[Path] = set()  # recovery files owned by windows of this process


@dataclass
class RecoveryFile:
    path: Path
    saved_at: float

    def describe(self) -> str:
        when = time.strftime("%d %b %Y, %H:%M", time.localtime(self.saved_at))
        return f"Unsaved work from {when} was kept."


class Autosaver(QObject):
    def __init__(self, files: ProjectFiles, interval_ms: int = AUTOSAVE_INTERVAL_MS, parent: QObject | None = None):
        super().__init__(parent)
        self.files = files
        self.document = files.document
        self.path = settings.config_dir() / f"{_PREFIX}{os.getpid()}-{next(_counter)}{_SUFFIX}"
        _live.add(self.path)
        self._saved_revision = self.document.revision
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.autosave)
        self.timer.start()
        files.saved.connect(self.discard)

    def autosave(self) -> bool:
        """Write the recovery file if there is unsaved work it does not hold yet."""
        if not self.document.is_modified:
            self.discard()  # saved, or undone back to the saved state
            return False
        if self.document.revision == self._saved_revision and self.path.exists():
            return False
        extra = dict(self.files.extra())
        extra["recovery_of"] = str(self.files.path) if self.files.path else None
        try:
            save_project(self.path, self.document.spec, **extra)
        except (ProjectError, OSError) as exc:
            self.files.message.emit(f"Autosave failed: {exc}")
            return False
        self._saved_revision = self.document.revision
        return True

    def discard(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            pass  # read-only config folder: nothing we can do, nothing lost
        self._saved_revision = -1

    def stop(self) -> None:
        """Clean exit: the work is saved or deliberately discarded."""
        self.timer.stop()
        self.discard()
        _live.discard(self.path)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def orphaned_files() -> list[RecoveryFile]:
    """Recovery files no running gradviz owns, newest first."""
    found = []
    for path in settings.config_dir().glob(f"{_PREFIX}*{_SUFFIX}"):
        if path in _live:
            continue
        try:
            pid = int(path.name[len(_PREFIX):].split("-")[0])
        except ValueError:
            pid = -1
        if pid != os.getpid() and pid > 0 and _pid_alive(pid):
            continue  # another instance is running and autosaving here
        try:
            found.append(RecoveryFile(path, path.stat().st_mtime))
        except OSError:
            continue
    return sorted(found, key=lambda item: item.saved_at, reverse=True)


def offer_recovery(files: ProjectFiles, prompts: Prompts) -> bool:
    """Offer the newest orphaned autosave back ("Recover unsaved work?").

    Recovered work opens as unsaved changes to the file it came from (or untitled).
    The offered file is deleted either way: our own autosaver keeps recovered work
    safe from here on, and a declined offer should not come back every start.
    """
    orphans = orphaned_files()
    if not orphans:
        return False
    newest = orphans[0]
    recovered = False
    if prompts.ask_recover(newest.describe()):
        try:
            project = load_project(newest.path)
        except ProjectError as exc:
            show_error(files.parent_widget, "Cannot recover", f"The recovery file is damaged: {exc}")
        else:
            extra = dict(project.extra)
            original = extra.pop("recovery_of", None)
            files.document.reset(project.spec, extra, modified=True)
            files._set_path(Path(original) if original else None)
            files.message.emit("Recovered your unsaved work — save it to keep it")
            recovered = True
    try:
        newest.path.unlink()
    except OSError:
        pass
    return recovered
