"""The legend in the canvas corner: what each box colour means."""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QWidget

from . import style

SWATCH_W, SWATCH_H = 22, 13
ROW_GAP = 4
PAD = 8

# (fill, border, dashed) of the state rows
STATE_ROWS = {
    "active": ("active (computing)", style.ACTIVE_FILL, style.ACTIVE_BORDER),
    "visited": ("visited", style.VISITED_FILL, style.VISITED_BORDER),
    "flagged": ("NaN / Inf", style.FLAG_FILL, style.FLAG_BORDER),
    "path": ("path to loss", "#ffffff", style.PATH),
    "weights": ("edge width: gradient", style.WEIGHT_HIGH, style.WEIGHT_HIGH),
}


class Legend(QWidget):
    """Lists the node kinds present in the graph (and active highlight states)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("graphLegend")
        self.setAttribute(Qt.WA_TransparentForMouseEvents, True)
        font = QFont(self.font())
        font.setPointSizeF(9.5)
        self.setFont(font)
        self._rows: list[tuple[str, str, str, bool]] = []

    def set_content(self, kinds, states=()) -> None:
        rows = []
        for kind in ("output", "op", "param", "leaf", "module"):
            if kind in kinds:
                look = style.KINDS[kind]
                rows.append((look.title, look.fill, look.border, kind == "leaf"))
        for state in states:
            if state in STATE_ROWS:
                title, fill, border = STATE_ROWS[state]
                rows.append((title, fill, border, False))
        if rows != self._rows:
            self._rows = rows
            self.setVisible(bool(rows))
            self.adjustSize()
            self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        metrics = QFontMetrics(self.font())
        row_h = max(SWATCH_H, metrics.height())
        width = max((metrics.horizontalAdvance(r[0]) for r in self._rows), default=0)
        return QSize(PAD * 2 + SWATCH_W + 8 + width, PAD * 2 + len(self._rows) * (row_h + ROW_GAP) - ROW_GAP)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(QPen(style.color("#cbd5e1"), 1))
        painter.setBrush(style.color("#ffffff", 0.92))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        metrics = QFontMetrics(self.font())
        row_h = max(SWATCH_H, metrics.height())
        y = PAD
        for title, fill, border, dashed in self._rows:
            pen = QPen(style.color(border), 1.5)
            if dashed:
                pen.setStyle(Qt.DashLine)
            painter.setPen(pen)
            painter.setBrush(style.color(fill))
            painter.drawRoundedRect(QRectF(PAD, y + (row_h - SWATCH_H) / 2, SWATCH_W, SWATCH_H), 3, 3)
            painter.setPen(style.color("#1f2937"))
            painter.drawText(QRectF(PAD + SWATCH_W + 8, y, 400, row_h), Qt.AlignVCenter | Qt.AlignLeft, title)
            y += row_h + ROW_GAP
