"""A labelled colour bar under a heatmap: the lowest value, 0 and the highest, and what they measure.

pyqtgraph's colour bar axis picks its own ticks and drops the labels that
would stick out past the bar's ends, so the two numbers a reader needs most
(how far the scale goes) were the ones missing. :class:`ScaleLabels` draws
them itself: the minimum at the bar's left end, the maximum at its right end,
``0`` where zero lies, and the unit centred below (``∂loss/∂w``). Labels never
overlap: with too little room the text gets smaller, then the ``0`` goes.
"""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter
from PySide6.QtWidgets import QGraphicsWidget, QSizePolicy

SCALE_TEXT = 1.2  # the numbers' size relative to the panel font: read from the back of a room
LABEL_GAP_PX = 6  # the least room between two numbers
SMALLEST_SCALE = 0.7  # text shrinks down to this share of the panel's font before the 0 is dropped


def format_value(value: float) -> str:
    """Three significant digits with the sign: ``-0.213``, ``0``, ``+2.1e-05``."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    return f"{value:+.3g}"


class ScaleLabels(QGraphicsWidget):
    """The numbers and unit under a horizontal colour bar (see the module docstring).

    Placed in the layout under the bar; it spans the bar's width and maps
    values linearly from ``low`` (left edge) to ``high`` (right edge).
    """

    def __init__(self, bar: pg.ColorBarItem, parent=None):
        super().__init__(parent)
        self._bar = bar
        self._low, self._high = -1.0, 1.0
        self._unit = ""
        self._ends: tuple[str, str] | None = None
        self._font = QFont()
        self._colour = QColor("#1f2328")
        self._muted = QColor("#5a636e")
        self._placed: list[tuple[str, QRectF]] = []
        self._fitted_font = QFont()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._update_height()

    # -- API ---------------------------------------------------------------------------
    def set_scale(self, low: float, high: float, unit: str, ends: tuple[str, str] | None = None) -> None:
        """``ends``: the texts at the two ends when the bar's values are not what
        a reader should see (a log-scaled count shows the counts)."""
        had_unit = bool(self._unit)
        self._low, self._high, self._unit, self._ends = float(low), float(high), unit, ends
        self._placed = []
        if had_unit != bool(unit):
            self._update_height()
        self.update()

    def set_style(self, font: QFont, text: str, muted: str) -> None:
        self._font = QFont(font)
        self._colour, self._muted = QColor(text), QColor(muted)
        self._update_height()
        self.update()

    def texts(self) -> list[str]:
        """The numbers drawn, left to right, then the unit."""
        return [text for text, _ in self.label_rects()]

    def label_rects(self) -> list[tuple[str, QRectF]]:
        """``(text, rect in scene coordinates)`` of every label as drawn now."""
        self._fit()
        return [(text, self.mapRectToScene(rect)) for text, rect in self._placed]

    # -- layout ------------------------------------------------------------------------
    def _height(self) -> float:
        """The numbers' line, and the unit's under it (none without a unit: a
        picture whose title already names the quantity saves that height)."""
        return (2 if self._unit else 1) * QFontMetricsF(self._font).height() + 2

    def _update_height(self) -> None:
        self.setMinimumHeight(self._height())
        self.setMaximumHeight(self._height())
        self.updateGeometry()

    def sizeHint(self, which, constraint=QSizeF()) -> QSizeF:  # noqa: N802 (Qt API)
        if which == Qt.SizeHint.MinimumSize:
            return QSizeF(10, self._height())
        return QSizeF(100, self._height())

    def setGeometry(self, rect) -> None:  # noqa: N802 (Qt API)
        super().setGeometry(rect)
        self._placed = []

    def _bar_span(self) -> tuple[float, float]:
        """Left and right ends of the colour gradient, in this widget's x."""
        rect = self._bar.mapRectToItem(self, self._bar.vb.boundingRect()) if hasattr(self._bar, "vb") else self.rect()
        return rect.left(), rect.right()

    def _fit(self) -> None:
        if self._placed:
            return
        left, right = self._bar_span()
        width = max(1.0, right - left)
        low, high = self._low, self._high
        low_text, high_text = self._ends or (format_value(low), format_value(high))
        numbers = [(low_text, 0.0)]
        if low < 0 < high:
            numbers.append(("0", (0 - low) / (high - low)))
        numbers.append((high_text, 1.0))
        base = self._font.pointSizeF() if self._font.pointSizeF() > 0 else 9.0
        font = QFont(self._font)
        placed = None
        for drop_zero in (False, True):
            wanted = [n for n in numbers if not (drop_zero and n[0] == "0")]
            scale = 1.0
            while scale >= SMALLEST_SCALE - 1e-9:
                font.setPointSizeF(base * scale)
                placed = _place(wanted, QFontMetricsF(font), left, width)
                if placed is not None:
                    break
                scale -= 0.1
            if placed is not None:
                break
        if placed is None:  # hardly any room: the two ends only, shortest form, smallest size
            font.setPointSizeF(base * SMALLEST_SCALE)
            metrics = QFontMetricsF(font)
            ends = [(f"{low:.1g}", 0.0), (f"{high:+.1g}", 1.0)] if self._ends is None else [(t, w) for t, w in numbers if t != "0"]
            placed = _place(ends, metrics, left, width) or _place(ends[1:], metrics, left, width) or []
        metrics = QFontMetricsF(font)
        line = metrics.height()
        if self._unit:
            unit_width = min(width, QFontMetricsF(self._font).horizontalAdvance(self._unit) + 2)
            placed.append((self._unit, QRectF(left + (width - unit_width) / 2, line + 1, unit_width, line)))
        self._fitted_font = font
        self._placed = placed

    def paint(self, painter: QPainter, option, widget=None) -> None:
        self._fit()
        numbers = self._placed[:-1] if self._unit else self._placed
        painter.setFont(self._fitted_font)
        painter.setPen(self._colour)
        for text, rect in numbers:
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        if self._unit and self._placed:
            text, rect = self._placed[-1]
            painter.setFont(self._font)
            painter.setPen(self._muted)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def _place(numbers: list[tuple[str, float]], metrics: QFontMetricsF, left: float, width: float):
    """Rects for the numbers (text, where 0…1 along the bar), the first left-aligned
    at the bar's start, the last right-aligned at its end, others centred; None when two overlap."""
    rects = []
    height = metrics.height()
    for i, (text, where) in enumerate(numbers):
        w = metrics.horizontalAdvance(text) + 2
        x = left + where * width
        if i == 0:
            start = left
        elif i == len(numbers) - 1:
            start = left + width - w
        else:
            start = x - w / 2
        rects.append((text, QRectF(start, 0, w, height)))
    for (_, a), (_, b) in zip(rects, rects[1:]):
        if a.right() + LABEL_GAP_PX > b.left():
            return None
    if rects and (rects[0][1].left() < left - 0.5 or rects[-1][1].right() > left + width + 0.5):
        return None
    return rects


def labelled_colour_bar(plot: pg.PlotItem, image: pg.ImageItem, cmap: pg.ColorMap, *, width: int = 11):
    """A horizontal colour bar for ``image`` under ``plot`` with :class:`ScaleLabels` under it.

    Returns ``(bar, labels)``. The bar's own axis keeps its tick marks at the
    minimum, 0 and maximum (set by :func:`set_levels`) but no numbers: the labels draw them.
    """
    bar = pg.ColorBarItem(values=(-1, 1), colorMap=cmap, interactive=False, orientation="horizontal",
                          width=width, colorMapMenu=False)
    bar.setImageItem(image, insert_in=plot)
    axis = bar.getAxis("bottom")
    axis.setStyle(showValues=False, tickLength=-5)  # marks inside the bar, clear of the numbers
    labels = ScaleLabels(bar)
    plot.layout.addItem(labels, 6, 1)
    return bar, labels


def set_levels(bar: pg.ColorBarItem, labels: ScaleLabels, low: float, high: float, unit: str,
               ends: tuple[str, str] | None = None) -> None:
    """The bar's range, its tick marks and the labels' numbers, in one call."""
    bar.setLevels(values=(low, high))
    ticks = [(low, ""), (high, "")] + ([(0.0, "")] if low < 0 < high else [])
    bar.getAxis("bottom").setTicks([ticks])
    labels.set_scale(low, high, unit, ends)


