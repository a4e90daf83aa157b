"""Help → Keyboard shortcuts: the list read from the actions themselves, so it cannot
fall behind them (the main window and the run window both show one)."""
from __future__ import annotations

from html import escape
from typing import Iterable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from gradviz.ui.on_screen import keep_on_screen, screen_room

__all__ = ["ShortcutsDialog", "shortcut_rows", "show_shortcuts_dialog"]


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """``(what, keys)`` for every action with a shortcut, each action once, in order."""
    rows, seen = [], set()
    for action in actions:
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty())
        if keys and id(action) not in seen:
            seen.add(id(action))
            rows.append((action.text().replace("&", "").rstrip("…") or action.objectName(), keys))
    return rows


class ShortcutsDialog(QDialog):
    """The list as two columns, what and keys. Taller than the screen allows (35
    rows, or lecture text on a 720p screen) it scrolls, and the dialog stays on
    the screen with its Close button: as a message box it ran off the bottom."""

    def __init__(self, parent: QWidget, rows: list[tuple[str, str]], object_name: str):
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setWindowTitle("Keyboard shortcuts")
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        lines = "".join(f"<tr><td>{escape(name)}</td><td>&nbsp;&nbsp;<b>{escape(keys)}</b></td></tr>"
                        for name, keys in rows)
        self.table = QLabel(f"<table>{lines}</table>")
        self.table.setObjectName("shortcutsTable")
        self.table.setTextFormat(Qt.TextFormat.RichText)
        self.table.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.table)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(buttons)
        self._fit_to_screen()

    def text(self) -> str:
        """The list as shown (rich text)."""
        return self.table.text()

    def _fit_to_screen(self) -> None:
        table = self.table.sizeHint()
        margins = self.layout().contentsMargins()
        chrome = self.layout().spacing() + self.layout().itemAt(1).widget().sizeHint().height()
        width = table.width() + self.scroll.verticalScrollBar().sizeHint().width() + margins.left() + margins.right()
        height = table.height() + chrome + margins.top() + margins.bottom()
        self.resize(width, min(height, screen_room(self.parentWidget() or self)))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        keep_on_screen(self)


def show_shortcuts_dialog(parent: QWidget, rows: list[tuple[str, str]], object_name: str) -> ShortcutsDialog:
    """A non-modal list of ``rows``; it deletes itself when closed."""
    box = ShortcutsDialog(parent, rows, object_name)
    box.show()
    return box
