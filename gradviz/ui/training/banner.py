"""A non-modal banner above the main window's graph area.

Used when NaN/Inf appears (it says where) or a phase fails. It never blocks:
training can go on (or be reset) while it shows; ✕ hides it. It sits in the
window's layout (``WindowHost.add_message_bar``), so it pushes the graph down
rather than covering its toolbar and top rows.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from gradviz.ui import theme


class Banner(QFrame):
    """objectName ``nonfiniteBanner``; text in ``bannerText``, close button ``bannerClose``."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("nonfiniteBanner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 8, 8)
        self.icon = QLabel("⚠")
        self.text = QLabel()
        self.text.setObjectName("bannerText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setObjectName("bannerClose")
        self.close_button.setText("✕")
        self.close_button.setToolTip("Hide this message")
        self.close_button.clicked.connect(self.hide)
        layout.addWidget(self.icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.close_button)
        self.kind = "error"
        self.hide()

    def show_message(self, html: str, kind: str = "error") -> None:
        """Show ``html``; ``kind`` ``"error"`` (red) or ``"info"``."""
        self.kind = kind
        c = theme.colours()
        background = c["error"] if kind == "error" else c["accent"]
        size = self.font().pointSizeF() * 1.2
        self.setStyleSheet(
            f"QFrame#nonfiniteBanner {{ background: {background}; }}"
            f"QFrame#nonfiniteBanner QLabel {{ color: white; font-size: {size:.1f}pt; font-weight: 600; }}"
            f"QFrame#nonfiniteBanner QToolButton {{ color: white; font-size: {size:.1f}pt; border: none; }}"
        )
        self.text.setText(html)
        self.show()

    def message(self) -> str:
        return self.text.text() if self.isVisible() else ""
