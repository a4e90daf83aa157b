"""OutputPanel: what the network answered for the first sample, against what it should have.

After ``forward`` the loss has not run yet, but the class can already see the
two things it will compare: one bar per output value (LeNet: 10) beside the
target's value, or, for a class loss, the outputs as scores with the target
class marked and the predicted class (the largest score) named. Everything
comes from the iteration's record (``output_sample``, ``target_sample``).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gradviz.core.vocabulary import PHASES
from gradviz.core.display.tensor_values import plotted_values
from gradviz.ui import theme

TARGET_COLOUR = "#15803d"  # the graph's output/loss green: the target is what the loss compares with
MISS_COLOUR = "#b45309"
EMPTY_MESSAGE = "Run forward to see the network's output for the first sample"


class OutputPanel(QWidget):
    """objectNames ``outputPanel``, ``outputPlot``, ``outputCaption``.

    :meth:`show_record` shows a record as it was right after a phase;
    ``values()`` gives ``(outputs, targets)`` drawn (None when nothing is),
    ``predicted_class()`` the class named for a class loss.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("outputPanel")
        self._outputs: np.ndarray | None = None
        self._targets: np.ndarray | None = None
        self._predicted: int | None = None
        self._record = None
        self._phase: str | None = None

        c = theme.colours()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.setSpacing(2)
        self.title = QLabel("Output vs target · first sample")
        self.title.setProperty("role", "sectionTitle")
        self.caption = QLabel(EMPTY_MESSAGE)
        self.caption.setObjectName("outputCaption")
        self.caption.setWordWrap(True)
        self.plot_widget = _Chart(background=c["base"])
        self.plot_widget.setObjectName("outputPlot")
        self.plot_widget.setMinimumHeight(120)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(y=True, alpha=0.25)
        self.output_bars = pg.BarGraphItem(x=[], height=[], width=0.38)
        self.target_bars = pg.BarGraphItem(x=[], height=[], width=0.38)
        self.plot.addItem(self.output_bars)
        self.plot.addItem(self.target_bars)
        self.zero_line = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(c["muted"], width=1))
        self.plot.addItem(self.zero_line)
        self.legend = self.plot.addLegend(offset=(-6, 2), labelTextColor=c["text"], colCount=2)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        layout.addWidget(self.title)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.caption)
        self.apply_theme()
        self.clear()

    def apply_theme(self) -> None:
        """Colours and text sizes from the current theme and zoom (after a change)."""
        c = theme.colours()
        self.plot_widget.setBackground(c["base"])
        font = QFont(self.font())
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setTextPen(c["text"])
            axis.setPen(c["muted"])
            axis.setStyle(tickFont=font)
        self.plot.getAxis("bottom").label.setFont(font)
        self._draw()

    # -- API ---------------------------------------------------------------------------
    def show_record(self, record, phase: str | None) -> None:
        """``record`` as it was right after ``phase``: nothing before forward, then the first sample."""
        self._record, self._phase = record, phase
        self._draw()

    def clear(self, message: str = EMPTY_MESSAGE) -> None:
        self._record = self._phase = None
        self._draw(message)

    def values(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return self._outputs, self._targets

    def predicted_class(self) -> int | None:
        return self._predicted

    # -- drawing -------------------------------------------------------------------------
    def _axis_title(self, text: str) -> None:
        # as large as the tick numbers' text and a little more: read from the back of a room
        c = theme.colours()
        self.plot.setLabel("bottom", text, **{"font-size": f"{self.font().pointSizeF() * 1.15:.1f}pt", "color": c["text"]})

    def _draw(self, message: str = EMPTY_MESSAGE) -> None:
        record, phase = self._record, self._phase
        done = PHASES.index(phase) if phase in PHASES else -1
        outputs = getattr(record, "output_sample", None) if record is not None else None
        if outputs is None or done < PHASES.index("forward"):
            self._outputs = self._targets = self._predicted = None
            self.output_bars.setOpts(x=[], height=[])
            self.target_bars.setOpts(x=[], height=[])
            self.legend.clear()
            self.plot.getAxis("bottom").setTicks([[]])
            self.plot.setLabel("bottom", "")
            self.caption.setText(message)
            return
        c = theme.colours()
        outputs = _numpy(outputs)
        targets = _numpy(getattr(record, "target_sample", None))
        classes = getattr(record, "target_kind", "values") == "classes"
        size = int(getattr(record, "output_sample_size", 0) or outputs.size)
        xs = np.arange(outputs.size, dtype=float)
        self._outputs, self._targets = outputs, targets
        self.legend.clear()
        shown = f"first {outputs.size} of {size} values" if size > outputs.size else f"{size} values"
        loss = getattr(record, "loss", None) if done >= PHASES.index("loss") else None
        loss_text = f" · loss = {loss:.4g}" if loss is not None else ""
        if classes:
            target = int(targets[0]) if targets is not None and targets.size and math.isfinite(targets[0]) else None
            finite = np.where(np.isfinite(outputs), outputs, -np.inf)
            self._predicted = int(np.argmax(finite)) if np.isfinite(finite).any() else None
            brushes = [pg.mkBrush(TARGET_COLOUR if i == target else c["accent"]) for i in range(outputs.size)]
            self.output_bars.setOpts(x=xs, height=outputs, width=0.7, brushes=brushes, pens=[pg.mkPen(None)] * outputs.size)
            self.target_bars.setOpts(x=[], height=[])
            self.legend.addItem(self.output_bars, "score per class (target class green)")
            self._axis_title("class")
            hit = self._predicted == target
            verdict = "right" if hit else "wrong"
            colour = c["ok"] if hit else MISS_COLOUR
            self.caption.setText(
                f"predicted class <b>{self._predicted}</b> · target class <b>{target}</b> · "
                f"<span style='color:{colour}'><b>{verdict}</b></span>{loss_text}"
            )
        else:
            self._predicted = None
            self.output_bars.setOpts(x=xs - 0.2, height=outputs, width=0.38, brush=pg.mkBrush(c["accent"]),
                                     brushes=None, pens=None, pen=pg.mkPen(None))
            if targets is not None and targets.size:
                tx = np.arange(targets.size, dtype=float) + 0.2
                self.target_bars.setOpts(x=tx, height=targets, width=0.38, brush=pg.mkBrush(TARGET_COLOUR),
                                         pen=pg.mkPen(None))
            self.legend.addItem(self.output_bars, "output")
            self.legend.addItem(self.target_bars, "target")
            self._axis_title("output index")
            self.caption.setText(f"the loss compares these {shown}{loss_text}")
        step = max(1, math.ceil(outputs.size / 16))  # at most ~16 tick labels: they must not overlap
        self.plot.getAxis("bottom").setTicks([[(i, str(i)) for i in range(0, outputs.size, step)]])
        self.plot.setXRange(-0.6, outputs.size - 0.4, padding=0)
        heights = np.concatenate([outputs, targets if (targets is not None and not classes) else np.zeros(0)])
        finite = heights[np.isfinite(heights)]
        low, high = (min(0.0, float(finite.min())), max(0.0, float(finite.max()))) if finite.size else (-1.0, 1.0)
        span = (high - low) or 1.0
        self.plot.setYRange(low - 0.05 * span, high + 0.25 * span, padding=0)  # room for the legend


class _Chart(pg.PlotWidget):
    """A plot that asks for little room: in the Training step panel it shares
    the height with the code and the history, and grows with the dock."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(320, 170)


def _numpy(tensor) -> np.ndarray | None:
    if tensor is None:
        return None
    return plotted_values(tensor).reshape(-1)
