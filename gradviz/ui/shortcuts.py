"""Help → Keyboard shortcuts: the list read from the actions themselves, so it cannot
fall behind them (the main window and the run window both show one)."""
from __future__ import annotations

from typing import Iterable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QWidget

__all__ = ["shortcut_rows", "show_shortcuts_dialog"]


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """``(what, keys)`` for every action with a shortcut, each action once, in order."""
    rows, seen = [], set()
    for action in actions:
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty())
        if keys and id(action) not in seen:
            seen.add(id(action))
            rows.append((action.text().replace("&", "").rstrip("…") or action.objectName(), keys))
    return rows


def show_shortcuts_dialog(parent: QWidget, rows: list[tuple[str, str]], object_name: str) -> QMessageBox:
    """A non-modal list of ``rows``; it deletes itself when closed."""
    lines = "".join(f"<tr><td>{name}</td><td>&nbsp;&nbsp;<b>{keys}</b></td></tr>" for name, keys in rows)
    box = QMessageBox(parent)
    box.setObjectName(object_name)
    box.setWindowTitle("Keyboard shortcuts")
    box.setText(f"<table>{lines}</table>")
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box
