"""Plot titles that fit their plot: pyqtgraph cuts a title wider than its plot at
the edge, so "iteration 68" could read "iteration 6", a false number."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetricsF

TITLE_SCALE = 1.1  # a plot title's size relative to the panel's text
TITLE_MARGIN_PX = 12  # what a title needs beside its text in the plot's width


def title_size(font: QFont) -> str:
    """The pyqtgraph ``size`` of a title for a panel whose text is ``font``."""
    return f"{font.pointSizeF() * TITLE_SCALE:.0f}pt"


def set_fitting_title(plot: pg.PlotItem, candidates: list[str], font: QFont, color: str) -> str:
    """Set the first of ``candidates`` (longest first) that fits ``plot``'s width as
    its title, else the last, whose end may be cut; return the one set."""
    title_font = QFont(font)
    title_font.setPointSizeF(round(font.pointSizeF() * TITLE_SCALE))
    metrics = QFontMetricsF(title_font)
    # The title stands over the data, right of the left axis, and the plot can be no
    # wider than its widget shows (a long title made it wider: cut at the edge).
    view = plot.getViewWidget()
    shown = view.width() if view is not None else plot.width()
    left = plot.getAxis("left")
    room = shown - (left.width() if left.isVisible() else 0) - TITLE_MARGIN_PX
    chosen = next((text for text in candidates if room <= 0 or metrics.horizontalAdvance(text) <= room), candidates[-1])
    size, label = title_size(font), plot.titleLabel
    # Called on every resize of the plot: setting the same title again re-measures
    # the label and lays the plot out anew (which resizes it again)
    if not (label.isVisible() and label.text == chosen and label.opts.get("color") == color
            and label.opts.get("size") == size):
        plot.setTitle(chosen, color=color, size=size)
    return chosen
