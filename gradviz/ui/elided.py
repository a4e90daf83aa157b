"""A label and a combo box that shorten their text with "…" when their column is
too narrow, instead of cutting it at the edge, and then carry the whole text in
their tooltip.

Panels beside the graph share a column whose width the graph decides; in lecture
mode their text is 1.6–2× larger. A label cut mid-word ("conv1.weigh") reads as a
different name; "conv1.wei…" says there is more, and hovering shows all of it.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QComboBox, QLabel, QSizePolicy, QStyle, QStyledItemDelegate, QStyleOptionComboBox, QStylePainter,
)


class ElidedLabel(QLabel):
    """A one-line plain-text label: ``text()`` is always the whole text; it is drawn
    elided at the right when the label is narrower, with the whole text as tooltip.
    ``is_elided()`` says which (for tests and callers that want to know)."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        # Takes what the row leaves it, never widens the column.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._own_tip = ""

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self._sync_tip()

    def setToolTip(self, tip: str) -> None:  # noqa: N802 - Qt override: a caller's tip wins over ours
        self._own_tip = tip
        super().setToolTip(tip)

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.text()) > self.contentsRect().width()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(self.fontMetrics().horizontalAdvance("…") * 3, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._sync_tip()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override (font changes: zoom, lecture mode)
        super().changeEvent(event)
        self._sync_tip()

    def _sync_tip(self) -> None:
        tip = self._own_tip or (self.text() if self.is_elided() else "")
        if self.toolTip() != tip:
            super().setToolTip(tip)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        rect = self.contentsRect()
        text = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        self.style().drawItemText(painter, rect, int(self.alignment()), self.palette(), self.isEnabled(), text,
                                  self.foregroundRole())


class ElidedComboBox(QComboBox):
    """A combo box whose closed face shows its current text elided ("conv1.we…")
    when narrower than the text, with the whole text as tooltip; its list shows
    every item whole. Takes the width its row gives it (down to a few characters)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(4)
        self.currentIndexChanged.connect(self._sync_tip)
        self._own_tip = ""

    def setToolTip(self, tip: str) -> None:  # noqa: N802 - Qt override: a caller's tip is kept, ours added
        self._own_tip = tip
        self._sync_tip()

    def _text_rect_width(self) -> int:
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        return self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                           QStyle.SubControl.SC_ComboBoxEditField, self).width() - 2

    def is_elided(self) -> bool:
        return self.fontMetrics().horizontalAdvance(self.currentText()) > self._text_rect_width()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override: wide enough for the longest item when there is room
        hint = super().sizeHint()
        widest = max((self.fontMetrics().horizontalAdvance(self.itemText(i)) for i in range(self.count())), default=0)
        return QSize(max(hint.width(), widest + hint.width() - self._text_rect_width() + 4), hint.height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._sync_tip()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        self._sync_tip()

    def _sync_tip(self, *_args) -> None:
        whole = self.currentText() if self.is_elided() else ""
        tip = "\n".join(t for t in (whole, self._own_tip) if t)
        if self.toolTip() != tip:
            super().setToolTip(tip)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.fontMetrics().elidedText(option.currentText, Qt.TextElideMode.ElideRight,
                                                           self._text_rect_width())
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)


def elide_dotted(name: str, fits: Callable[[str], bool]) -> str:
    """``name`` (a dotted parameter or module name) shortened by whole parts until
    ``fits``: "blocks.0.attn.qkv.weight" → "blocks.0…qkv.weight". Letters cut
    from the middle ("blocks.….weight") drop exactly the part that tells one
    block's tensors apart, so parts go, the first and the last kept longest, and
    among as many parts kept, those balanced between the head (which block) and
    the tail (which tensor). The shortest form if none fits (the caller elides it)."""
    if fits(name):
        return name
    parts = name.split(".")
    n = len(parts)
    candidates = sorted(
        ((head, tail) for head in range(1, n - 1) for tail in range(1, n - head)),
        key=lambda ht: (-(ht[0] + ht[1]), abs(ht[1] - ht[0]), -ht[1]))
    for head, tail in candidates:
        text = ".".join(parts[:head]) + "…" + ".".join(parts[n - tail:])  # "blocks.0.…" would read as four dots
        if fits(text):
            return text
    return "…" + parts[-1] if n > 1 else name


def item_text_margins(view) -> int:
    """Both side margins (px) an item view's style keeps around a cell's text."""
    return 2 * (view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1)


class DottedNameDelegate(QStyledItemDelegate):
    """Draws a column of dotted names shortened by :func:`elide_dotted` to the cell's
    width (what is left is elided by the view as usual); the model's tooltip keeps
    the whole name."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 - Qt override
        super().initStyleOption(option, index)
        room = option.rect.width()
        if option.widget is not None:  # the text rect, less the margins the style draws text inside it with
            style = option.widget.style()
            room = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, option.widget).width()
            room -= item_text_margins(option.widget)
        metrics = option.fontMetrics
        option.text = elide_dotted(option.text, lambda text: metrics.horizontalAdvance(text) <= room)
