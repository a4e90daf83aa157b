"""Small panels drawn over the canvas: layout progress and the empty-graph hint."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QVBoxLayout, QWidget


class ProgressPanel(QFrame):
    """"Laying out N nodes…" with a progress bar, centred at the top of the canvas."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("graphLayoutProgress")
        self.setStyleSheet(
            "#graphLayoutProgress { background: rgba(255,255,255,235); border: 1px solid #cbd5e1;"
            " border-radius: 8px; } #graphLayoutProgress QLabel { color: #1f2937; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        self.label = QLabel("Laying out the graph…")
        self.bar = QProgressBar()
        self.bar.setObjectName("graphLayoutProgressBar")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.hide()

    def begin(self, text: str) -> None:
        self.label.setText(text)
        self.bar.setValue(0)
        self.show()
        self.raise_()

    def report(self, fraction: float, message: str) -> None:
        self.bar.setValue(int(fraction * 1000))
        if message:
            self.label.setText(f"Laying out the graph: {message}…")

    def place(self, area: QWidget) -> None:
        self.setFixedWidth(min(360, max(200, area.width() - 40)))
        self.adjustSize()
        self.move((area.width() - self.width()) // 2, 24)


def placeholder(parent: QWidget) -> QLabel:
    """The hint shown while there is no graph."""
    label = QLabel("No graph yet: run a forward pass to see what autograd records.", parent)
    label.setObjectName("graphPlaceholder")
    label.setAlignment(Qt.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet("color: #7c8594; font-size: 13pt;")
    return label
