"""A non-modal banner over the top of the main window's central area.

Used when NaN/Inf appears (it says where) or a phase fails. It never blocks:
training can go on (or be reset) while it shows; ✕ hides it.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from gradviz.ui import theme


class Banner(QFrame):
    """objectName ``nonfiniteBanner``; text in ``bannerText``, close button ``bannerClose``."""

    def __init__(self, host: QWidget, anchor_source=None):
        super().__init__(host)
        self.setObjectName("nonfiniteBanner")
        # The banner lies over ``anchor_source()`` (the central widget); following
        # the host's resizes keeps it there.
        self._anchor_source = anchor_source or (lambda: host)
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
        host.installEventFilter(self)
        self.kind = "error"
        self.hide()

    def show_message(self, html: str, kind: str = "error") -> None:
        """Show ``html``; ``kind`` ``"error"`` (red) or ``"info"``."""
        self.kind = kind
        c = theme.colours()
        background = c["error"] if kind == "error" else c["accent"]
        size = self.font().pointSizeF() * 1.2
        self.setStyleSheet(
            f"QFrame#nonfiniteBanner {{ background: {background}; border-radius: 6px; }}"
            f"QFrame#nonfiniteBanner QLabel {{ color: white; font-size: {size:.1f}pt; font-weight: 600; }}"
            f"QFrame#nonfiniteBanner QToolButton {{ color: white; font-size: {size:.1f}pt; border: none; }}"
        )
        self.text.setText(html)
        self.show()
        self._place()
        self.raise_()

    def message(self) -> str:
        return self.text.text() if self.isVisible() else ""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.LayoutRequest) and self.isVisible():
            self._place()
        return False

    def _place(self) -> None:
        anchor = self._anchor_source()
        if anchor is None:
            return
        host = self.parentWidget()
        top_left = anchor.mapTo(host, anchor.rect().topLeft()) if anchor is not host else anchor.rect().topLeft()
        margin = 12
        width = max(200, anchor.width() - 2 * margin)
        self.setFixedWidth(width)
        self.adjustSize()
        self.move(top_left.x() + margin, top_left.y() + margin)
        self.raise_()
