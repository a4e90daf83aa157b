"""A plot axis whose numbers never stand on each other.

pyqtgraph always draws its major tick labels, at least three of them, however short
the axis: on the 40 px tall loss curve of a short dock "0.898", "0.897" and "0.896"
were printed over each other. :class:`FittingAxis` widens the spacing of its ticks
(to the next 1, 2, 5 × 10ⁿ step) until every label has a line of text to itself.
"""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QFontMetricsF

# A label's share of the axis: its text's height (a vertical axis) or its width (a
# horizontal one) times this, so neighbours keep a gap.
LABEL_ROOM = 1.1
NICE_STEPS = (1.0, 2.0, 5.0)


class FittingAxis(pg.AxisItem):
    """A :class:`pyqtgraph.AxisItem` that keeps as many major ticks as fit (see the module docstring)."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N802 (pyqtgraph API)
        levels = super().tickSpacing(minVal, maxVal, size)
        if not levels or self._tickSpacing is not None or size <= 0:
            return levels
        low, high = min(minVal, maxVal), max(minVal, maxVal)
        span = high - low
        least = self._label_extent(low, high) * span / size  # the closest two labels may stand, in values
        spacing = first = levels[0][0]
        if spacing >= least:
            return levels
        while spacing < least:
            spacing = _next_nice(spacing)
        if _ticks_within(low, high, spacing):
            return [(spacing, 0.0)]  # (minor levels would only be thinned away again)
        # No step that wide has a tick on the axis: one label, the first step's tick nearest
        # the middle, alone (a step far wider than the axis, starting there).
        middle = round((low + high) / 2 / first) * first
        return [(max(span, first) * 10, middle)]

    def _label_extent(self, low: float, high: float) -> float:
        """The room one label takes along the axis, in px."""
        font = self.style.get("tickFont") or self.font()
        metrics = QFontMetricsF(font)
        if self.orientation in ("left", "right"):
            return metrics.height() * LABEL_ROOM
        texts = self.tickStrings([low, high], 1.0, abs(high - low) / 4 or 1.0)
        return max(metrics.horizontalAdvance(text) for text in texts) * LABEL_ROOM


def _next_nice(step: float) -> float:
    """The next step of 1, 2, 5 × 10ⁿ above ``step``."""
    power = 10.0 ** math.floor(math.log10(step))
    for nice in NICE_STEPS + (10.0,):
        if nice * power > step * (1 + 1e-9):
            return nice * power
    return 10.0 * power


def _ticks_within(low: float, high: float, step: float) -> int:
    """How many multiples of ``step`` lie in ``[low, high]``."""
    return max(0, math.floor(high / step + 1e-9) - math.ceil(low / step - 1e-9) + 1)

