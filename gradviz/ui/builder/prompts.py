"""The questions the app asks (save changes? recover? which file?).

Kept in one replaceable object so tests substitute scripted answers instead of
driving modal dialogs (the test suite gives every window one that never blocks).
"""
from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from gradviz.core.project import SUFFIX
from gradviz.ui import settings

PROJECT_FILTER = f"gradviz projects (*{SUFFIX});;JSON files (*.json);;All files (*)"
PYTHON_FILTER = "Python files (*.py);;All files (*)"


class Prompts:
    def __init__(self, parent: QWidget | None = None):
        self.parent = parent

    def ask_save_changes(self, document_name: str) -> str:
        """"save", "discard" or "cancel"."""
        box = QMessageBox(self.parent)
        box.setObjectName("saveChangesBox")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Unsaved changes")
        box.setText(f"Save the changes to {document_name}?")
        box.setInformativeText("Your changes will be lost if you don't save them.")
        box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(
            QMessageBox.StandardButton(answer), "cancel"
        )

    def ask_recover(self, description: str) -> bool:
        box = QMessageBox(self.parent)
        box.setObjectName("recoverBox")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Recover unsaved work?")
        box.setText("Recover unsaved work?")
        box.setInformativeText(f"gradviz did not close cleanly last time. {description}")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Recover")
        box.button(QMessageBox.StandardButton.No).setText("Discard")
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        return box.exec() == QMessageBox.StandardButton.Yes

    def open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open project", settings.last_directory(), PROJECT_FILTER)
        return path or None

    def save_path(self, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save project", suggested, PROJECT_FILTER)
        if path and not path.endswith((SUFFIX, ".json")):
            path += SUFFIX
        return path or None

    def export_path(self, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self.parent, "Export as Python", suggested, PYTHON_FILTER)
        if path and not path.endswith(".py"):
            path += ".py"
        return path or None
