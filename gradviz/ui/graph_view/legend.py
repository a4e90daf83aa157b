"""The legend: what each box colour means, as a strip under the drawing.

It sits in the view's layout below the canvas, not over it, so it never covers
a node (issue 13: "the legend never covers nodes"). Entries run left to right
and wrap onto more rows when the pane is narrow (height for width).

Where the drawing needs every px of height (the view's stage mode: lecture mode
on a short screen), the legend *floats* instead: a framed box in a corner of the
drawing that no node box, note or overview covers (:func:`free_corner`), moving
to another corner as the view changes, and stepping aside (hidden) while no
corner is free."""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, QSizeF, Qt
from PySide6.QtGui import QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import style

SWATCH_W, SWATCH_H = 22, 13
ROW_GAP = 4
ENTRY_GAP = 18  # between one entry's text and the next swatch
PAD = 6
FLOAT_INSET = 8  # px between a floating legend and the drawing's edge

# (fill, border, dashed) of the state rows
STATE_ROWS = {
    "active": ("active (computing)", style.ACTIVE_FILL, style.ACTIVE_BORDER),
    "visited": ("visited", style.VISITED_FILL, style.VISITED_BORDER),
    "flagged": ("NaN / Inf", style.FLAG_FILL, style.FLAG_BORDER),
    "path": ("path to loss", "#ffffff", style.PATH),
    "weights": ("edge width: gradient", style.WEIGHT_HIGH, style.WEIGHT_HIGH),
}


class Legend(QWidget):
    """Lists the node kinds present in the graph (and active highlight states), in a row."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("graphLegend")
        self.setAttribute(Qt.WA_TransparentForMouseEvents, True)
        policy = QSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self._rows: list[tuple[str, str, str, bool]] = []
        self._floating = False
        self.hide()  # until there is something to explain

    @property
    def floating(self) -> bool:
        """Drawn over the drawing in a free corner (its owner places it), not as a strip."""
        return self._floating

    def set_floating(self, on: bool) -> None:
        self._floating = bool(on)
        self.update()

    def has_content(self) -> bool:
        """Whether there is anything to explain (a floating legend may still be put aside)."""
        return bool(self._rows)

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
            if not self._floating:  # a floating one is shown where its owner finds room
                self.setVisible(bool(rows))
            self.updateGeometry()
            self.update()

    def titles(self) -> list[str]:
        """The entries shown, in order (for tests and screen readers)."""
        return [row[0] for row in self._rows]

    def _row_height(self) -> int:
        return max(SWATCH_H, QFontMetrics(self.font()).height())

    def _places(self, width: int) -> list[tuple[int, int]]:
        """Top-left of each entry when the strip is ``width`` px wide (wrapping)."""
        metrics = QFontMetrics(self.font())
        row_h = self._row_height()
        x, y, places = PAD, PAD, []
        for title, *_ in self._rows:
            entry = SWATCH_W + 6 + metrics.horizontalAdvance(title)
            if x > PAD and x + entry > width - PAD:
                x, y = PAD, y + row_h + ROW_GAP
            places.append((x, y))
            x += entry + ENTRY_GAP
        return places

    def floating_widths(self) -> list[int]:
        """Widths to try for a floating legend, widest first: one row, about two
        rows, one entry a row (the narrowest; it fits beside a graph's last boxes)."""
        if not self._rows:
            return []
        metrics = QFontMetrics(self.font())
        entries = [SWATCH_W + 6 + metrics.horizontalAdvance(r[0]) for r in self._rows]
        row = self.sizeHint().width()
        column = max(entries) + 2 * PAD
        return sorted({row, max(column, (row + column) // 2), column}, reverse=True)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        places = self._places(width)
        return (places[-1][1] + self._row_height() + PAD) if places else 0

    def sizeHint(self) -> QSize:  # noqa: N802
        metrics = QFontMetrics(self.font())
        width = sum(SWATCH_W + 6 + metrics.horizontalAdvance(r[0]) + ENTRY_GAP for r in self._rows) + 2 * PAD
        return QSize(width, self.heightForWidth(max(width, self.width())))

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(0, self.heightForWidth(max(1, self.width())))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.height() != self.heightForWidth(self.width()):
            self.updateGeometry()  # wrapped onto more (or fewer) rows

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing, True)
        if self._floating:  # a framed card over the drawing
            painter.setPen(QPen(style.color("#94a3b8"), 1))
            painter.setBrush(style.color("#f8fafc"))
            painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
        else:
            painter.fillRect(self.rect(), style.color("#f8fafc"))
            painter.setPen(QPen(style.color("#cbd5e1"), 1))
            painter.drawLine(0, 0, self.width(), 0)
        metrics = QFontMetrics(self.font())
        row_h = self._row_height()
        for (title, fill, border, dashed), (x, y) in zip(self._rows, self._places(self.width())):
            pen = QPen(style.color(border), 1.5)
            if dashed:
                pen.setStyle(Qt.DashLine)
            painter.setPen(pen)
            painter.setBrush(style.color(fill))
            painter.drawRoundedRect(QRectF(x, y + (row_h - SWATCH_H) / 2, SWATCH_W, SWATCH_H), 3, 3)
            painter.setPen(style.color("#1f2937"))
            text_w = metrics.horizontalAdvance(title) + 2
            painter.drawText(QRectF(x + SWATCH_W + 6, y, text_w, row_h), Qt.AlignVCenter | Qt.AlignLeft, title)


def free_corner(area: QRectF, size: QSizeF, is_free) -> QRectF | None:
    """The first corner of ``area`` (bottom left, bottom right, top left, top right)
    where a box of ``size``, FLOAT_INSET from the edges, satisfies ``is_free(rect)``;
    None when none does. Bottom first: an autograd graph ends in one loss node, so
    its bottom corners are the emptiest."""
    width, height = size.width(), size.height()
    if width > area.width() - 2 * FLOAT_INSET or height > area.height() - 2 * FLOAT_INSET:
        return None
    left, right = area.left() + FLOAT_INSET, area.right() - FLOAT_INSET - width
    top, bottom = area.top() + FLOAT_INSET, area.bottom() - FLOAT_INSET - height
    for x, y in ((left, bottom), (right, bottom), (left, top), (right, top)):
        rect = QRectF(x, y, width, height)
        if is_free(rect):
            return rect
    return None
