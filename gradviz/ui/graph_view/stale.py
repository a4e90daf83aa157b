"""The "out of date" state of the graph view: a banner over the canvas and the graph dimmed.

The window marks the graph stale when the session it was drawn for is no longer
the active one (another network, File → New, a model opened or closed, another
loss); showing a new graph clears the mark. A graph is never silently a previous
network's: either it is current, or it says it is not.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

STALE_OPACITY = 0.3  # the dimmed graph: still readable, clearly not the live one


class StaleBanner(QLabel):
    """objectName ``graphStaleBanner``; centred at the top of the canvas."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("graphStaleBanner")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet(
            "#graphStaleBanner { background: #fff4cc; color: #5c4400; border: 1px solid #e0b400;"
            " border-radius: 6px; padding: 6px 12px; font-weight: 600; }"
        )
        self.hide()

    def place(self, area: QWidget) -> None:
        self.setFixedWidth(min(560, max(200, area.width() - 40)))
        self.adjustSize()
        self.move((area.width() - self.width()) // 2, 12)
