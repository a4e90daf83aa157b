"""Notice when a run file grows: a QFileSystemWatcher plus a short debounce.

SQLite in WAL mode appends each committed iteration to ``<run>-wal`` and
copies it into ``<run>`` at checkpoints; when the writer closes, the WAL may
be folded into the main file and deleted. So the watcher watches both files
and their folder (which says when the ``-wal`` file appears or goes away, and
re-adds it: a deleted file drops out of QFileSystemWatcher).

A training loop commits many times a second; ``changed`` fires at most once
per :data:`DEBOUNCE_MS` (the first change starts the timer, later ones ride
along), so the viewer reads once per burst and a new iteration shows in well
under a second.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

__all__ = ["DEBOUNCE_MS", "POLL_MS", "RunFileWatcher"]

DEBOUNCE_MS = 150
# Fallback only: where the OS refuses to watch the file (inotify watch limit
# reached, a file system without change notification), a 1 s timer asks the
# run for new iterations instead. The query is one indexed SELECT, so polling
# costs the training nothing; it is just less prompt and never idle.
POLL_MS = 1000


class RunFileWatcher(QObject):
    """Emits ``changed`` soon after ``path`` (or its ``-wal``) changes on disk.

    ``polling`` is True when watching failed and the 1 s timer stands in;
    ``force_polling`` starts in that mode (tests, and file systems known not
    to report changes).
    """

    changed = Signal()

    def __init__(self, path: str | os.PathLike, parent: QObject | None = None, *, force_polling: bool = False):
        super().__init__(parent)
        self.path = os.path.abspath(os.fspath(path))
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self.changed)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.changed)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._on_change)
        self._watcher.directoryChanged.connect(self._on_directory_change)
        if force_polling or not self._watch():
            self._poll.start()

    @property
    def polling(self) -> bool:
        return self._poll.isActive()

    def stop(self) -> None:
        self._debounce.stop()
        self._poll.stop()
        watched = self._watcher.files() + self._watcher.directories()
        if watched:
            self._watcher.removePaths(watched)

    # -- internals ----------------------------------------------------------------------
    def _watch(self) -> bool:
        """Watch the file, its WAL and its folder; False when nothing could be watched."""
        wanted = [p for p in (self.path, self.path + "-wal") if os.path.exists(p)]
        folder = os.path.dirname(self.path)
        new = [p for p in wanted if p not in self._watcher.files()]
        if folder not in self._watcher.directories():
            new.append(folder)
        if new:
            self._watcher.addPaths(new)  # returns the paths it could NOT watch
        return self.path in self._watcher.files()

    def _on_change(self, _path: str = "") -> None:
        if not self._debounce.isActive():
            self._debounce.start()

    def _on_directory_change(self, _path: str) -> None:
        # The -wal file appeared or went away (a writer opened or closed the run).
        if self._poll.isActive():
            return
        self._watch()
        self._on_change()
