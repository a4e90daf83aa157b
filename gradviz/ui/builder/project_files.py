"""New / Open / Save / Save As / Export for the builder's document.

The actions call the dialog-free methods (``open_project(path)``,
``save_project_as(path)``, ``export_python(path)``) after asking ``Prompts``
for a path, so tests call those methods directly. Opening never touches the
current work unless the file loaded completely; every failure becomes a
readable error dialog, never a traceback.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from gradviz.core.atomic_files import write_atomically
from gradviz.core.codegen import to_python
from gradviz.core.project import SUFFIX, ProjectError, load_project, save_project
from gradviz.core.spec import SpecError
from gradviz.ui import settings
from gradviz.ui.builder.document import NetworkDocument, empty_spec
from gradviz.ui.builder.prompts import Prompts
from gradviz.ui.errors import show_error


class ProjectFiles(QObject):
    """``pathChanged`` after open/save-as/new; ``message(text)`` for the status bar."""

    pathChanged = Signal()
    message = Signal(str)
    saved = Signal()

    def __init__(self, document: NetworkDocument, prompts: Prompts, parent_widget: QWidget | None = None):
        super().__init__(parent_widget)
        self.document = document
        self.prompts = prompts
        self.parent_widget = parent_widget
        self.path: Path | None = None

    @property
    def display_name(self) -> str:
        return self.path.name if self.path else "untitled"

    def extra(self) -> dict:
        """What is saved beside the spec: the training settings."""
        return dict(self.document.settings)

    # -- questions ----------------------------------------------------------------------
    def confirm_discard(self) -> bool:
        """True when the current work may be replaced (saved, discarded, or unchanged)."""
        if not self.document.is_modified:
            return True
        answer = self.prompts.ask_save_changes(self.display_name)
        if answer == "save":
            return self.save()
        return answer == "discard"

    # -- actions (with dialogs) ------------------------------------------------------------
    def new(self) -> bool:
        if not self.confirm_discard():
            return False
        self.document.reset(empty_spec())
        self._set_path(None)
        self.message.emit("New network")
        return True

    def open_dialog(self) -> bool:
        if not self.confirm_discard():
            return False
        path = self.prompts.open_path()
        return self.open_project(path) if path else False

    def open_recent(self, path: str) -> bool:
        if not self.confirm_discard():
            return False
        return self.open_project(path)

    def save(self) -> bool:
        if self.path is None:
            return self.save_as_dialog()
        return self.save_project_as(self.path)

    def save_as_dialog(self) -> bool:
        folder = self.path.parent if self.path else Path(settings.last_directory())
        suggested = str(folder / (self.path.name if self.path else f"{self.document.spec.name.lower()}{SUFFIX}"))
        path = self.prompts.save_path(suggested)
        return self.save_project_as(path) if path else False

    def export_dialog(self) -> bool:
        stem = self.path.name.removesuffix(SUFFIX).removesuffix(".json") if self.path else self.document.spec.name.lower()
        folder = self.path.parent if self.path else Path(settings.last_directory())
        path = self.prompts.export_path(str(folder / f"{stem}.py"))
        return self.export_python(path) if path else False

    # -- dialog-free operations ---------------------------------------------------------------
    def open_project(self, path) -> bool:
        """Load ``path``; on any problem show why and leave the current work as it was."""
        try:
            project = load_project(path)
            self.document.reset(project.spec, project.extra)  # all or nothing: a failure changes nothing
        except (ProjectError, SpecError) as exc:
            show_error(self.parent_widget, "Cannot open project", str(exc))
            self.message.emit(f"Could not open {Path(path).name}; your current network is unchanged")
            return False
        self._set_path(Path(path).resolve())
        settings.add_recent_file(self.path)
        settings.remember_directory(self.path)
        self.message.emit(f"Opened {self.path.name}")
        return True

    def open_example(self, path) -> bool:
        """Open a bundled example as a new, untitled project (Save asks where, so the
        example itself is never overwritten)."""
        if not self.confirm_discard():
            return False
        try:
            project = load_project(path)
            self.document.reset(project.spec, project.extra)
        except (ProjectError, SpecError) as exc:
            show_error(self.parent_widget, "Cannot open example", str(exc))
            return False
        self._set_path(None)
        self.message.emit(f"Opened example {Path(path).name.removesuffix(SUFFIX)}")
        return True

    def save_project_as(self, path) -> bool:
        path = Path(path)
        try:
            save_project(path, self.document.spec, **self.extra())
        except (ProjectError, OSError) as exc:
            show_error(self.parent_widget, "Cannot save project", f"{path}: {exc}" if isinstance(exc, OSError) else str(exc))
            return False
        self.document.mark_saved()
        self._set_path(path.resolve())
        settings.add_recent_file(self.path)
        settings.remember_directory(self.path)
        self.message.emit(f"Saved {self.path.name}")
        self.saved.emit()
        return True

    def export_python(self, path) -> bool:
        analysis = self.document.analysis
        if not analysis.valid:
            show_error(self.parent_widget, "Cannot export", f"Fix the network first: {analysis.error}")
            return False
        path = Path(path)
        try:
            write_atomically(path, to_python(self.document.spec))
        except Exception as exc:  # noqa: BLE001 - OSError, or a spec codegen cannot express
            show_error(self.parent_widget, "Cannot export as Python", f"{path}: {exc}")
            return False
        settings.remember_directory(path)
        self.message.emit(f"Exported {path.name}")
        return True

    def _set_path(self, path: Path | None) -> None:
        self.path = path
        self.pathChanged.emit()
