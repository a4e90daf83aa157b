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


class DecadeAxis(FittingAxis):
    """An axis over log10 values, labelled with powers of ten (``1e-6``), as many as fit:
    every decade, or every k-th where the axis is short (28 decades on 360 px stood on
    each other). Spans of two decades or less also get 2× and 5× marks (``2e-3``).
    :meth:`set_decades` (False) turns it into a plain :class:`FittingAxis`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.decades = True

    def set_decades(self, on: bool) -> None:
        if on != self.decades:
            self.decades = on
            self.picture = None
            self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: N802 (pyqtgraph API)
        if not self.decades or self._tickLevels is not None:
            return super().tickValues(minVal, maxVal, size)
        low, high = min(minVal, maxVal), max(minVal, maxVal)
        first, last = math.ceil(low - 1e-9), math.floor(high + 1e-9)
        if last < first or size <= 0:
            return []
        px_per_decade = size / max(high - low, 1e-12)
        step = max(1, math.ceil(self._label_extent(first, last) / px_per_decade))
        major = [float(e) for e in range(first, last + 1) if e % step == 0] or [float(first)]
        levels = [(float(step), major)]
        if high - low <= 2:
            minor = [e + math.log10(m) for e in range(math.floor(low), math.ceil(high)) for m in (2, 5)]
            levels.append((1.0, [v for v in minor if low <= v <= high]))
        return levels

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph API)
        if not self.decades or self._tickLevels is not None:
            return super().tickStrings(values, scale, spacing)
        texts = []
        for value in values:
            exponent = math.floor(value + 1e-9)
            mantissa = round(10 ** (value - exponent))
            texts.append(f"1e{exponent}" if mantissa == 1 else f"{mantissa}e{exponent}")
        return texts

    def _label_extent(self, low: float, high: float) -> float:
        if not self.decades or self.orientation in ("left", "right"):  # (a line of text, whatever it says)
            return super()._label_extent(low, high)
        metrics = QFontMetricsF(self.style.get("tickFont") or self.font())
        return max(metrics.horizontalAdvance(f"1e{int(e)}") for e in (low, high)) * LABEL_ROOM
