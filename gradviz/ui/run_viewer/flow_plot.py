"""GradientFlowPlot: each layer's gradient norm by depth, the selected iteration
in bold and a few earlier recorded ones faded behind it.

Depth runs down the plot (first layer on top, as in the norm bars and the
network list), so layer names stay horizontal and readable; the norm runs
along a log axis, where vanishing and exploding gradients are a slope.
The numbers come from :func:`gradviz.core.display.run_flow.layer_norms`.
"""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gradviz.ui import theme
from gradviz.core.display.run_flow import layer_norms
from gradviz.ui.plot_axes import DecadeAxis

__all__ = ["EARLIER_SHOWN", "GradientFlowPlot"]

EARLIER_SHOWN = 4  # faded curves of earlier recorded iterations: enough to see a trend, few enough to read


class GradientFlowPlot(QWidget):
    """objectName ``gradientFlowPlot``. :meth:`show_records` draws; ``curve_values()`` gives what is drawn."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("gradientFlowPlot")
        self._layers: list[tuple[str, float | None]] = []
        c = theme.colours()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.plot_widget = pg.PlotWidget(background=c["base"], axisItems={"bottom": DecadeAxis("bottom")})  # log10 norms
        self.plot_widget.setObjectName("gradientFlowPlotArea")
        layout.addWidget(self.plot_widget)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.invertY(True)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=False, alpha=0.25)
        self.plot.setLabel("bottom", "‖∂loss/∂w‖ per layer (log)")
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.earlier = [self.plot.plot([], []) for _ in range(EARLIER_SHOWN)]
        self.current = self.plot.plot([], [], symbol="o", symbolSize=8)
        self.empty = pg.TextItem("no gradients in this iteration", color=c["muted"], anchor=(0.5, 0.5))
        self.plot.addItem(self.empty)
        self.empty.hide()
        self.setToolTip("Gradient norm of each layer (all its parameters together), first layer on top.\n"
                        "Falling towards the input: vanishing gradients; rising: exploding.\n"
                        "Bold: the selected iteration; faded: the recorded iterations before it.")
        self._apply_style()

    def _apply_style(self) -> None:
        c = theme.colours()
        size = f"{self.font().pointSizeF() * 1.1:.0f}pt"
        self.plot_widget.setBackground(c["base"])
        self.plot.setTitle("gradient flow by depth", color=c["text"], size=size)
        font = QFont(self.font())
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setTextPen(c["text"])
            self.plot.getAxis(axis).setPen(c["muted"])
            self.plot.getAxis(axis).setStyle(tickFont=font)
        self.current.setPen(pg.mkPen(c["accent"], width=3))
        self.current.setSymbolBrush(c["accent"])
        self.current.setSymbolPen(None)
        faded = QColor(c["muted"])
        for i, curve in enumerate(self.earlier):
            faded.setAlphaF(0.55 - 0.1 * i)
            curve.setPen(pg.mkPen(QColor(faded), width=1.5))

    def apply_theme(self) -> None:
        self._apply_style()

    def show_records(self, param_names: list[str], selected, earlier: list) -> None:
        """``selected``: the record on screen (None: clear); ``earlier``: records before it, newest first."""
        self._layers = layer_norms(param_names, selected.grad_norms or {}) if selected is not None else []
        names = [layer for layer, _ in self._layers]
        self.plot.getAxis("left").setTicks([[(i, name) for i, name in enumerate(names)]])
        xs, ys = _points(self._layers)
        self.current.setData(xs, ys)
        for curve, record in zip(self.earlier, list(earlier)[:EARLIER_SHOWN] + [None] * EARLIER_SHOWN):
            if record is None:
                curve.setData([], [])
            else:
                curve.setData(*_points(layer_norms(param_names, record.grad_norms or {})))
        self.empty.setVisible(selected is not None and not xs)
        if names:
            self.plot.setYRange(-0.5, len(names) - 0.5, padding=0.02)
        if xs:
            low, high = min(xs), max(xs)
            for record in list(earlier)[:EARLIER_SHOWN]:
                more = _points(layer_norms(param_names, record.grad_norms or {}))[0]
                if more:
                    low, high = min(low, *more), max(high, *more)
            low, high = math.floor(low), math.ceil(high)
            if high <= low:
                high = low + 1
            self.plot.setXRange(low, high, padding=0.05)
            self.empty.setPos((low + high) / 2, (len(names) - 1) / 2)

    def curve_values(self) -> list[tuple[str, float | None]]:
        """``[(layer, norm), ...]`` of the selected iteration, as drawn."""
        return list(self._layers)


def _points(layers: list[tuple[str, float | None]]) -> tuple[list[float], list[int]]:
    """log10 norms and depths of the layers with a positive finite norm (a log axis has no 0, NaN or Inf)."""
    xs, ys = [], []
    for depth, (_, norm) in enumerate(layers):
        if norm is not None and math.isfinite(norm) and norm > 0:
            xs.append(math.log10(norm))
            ys.append(depth)
    return xs, ys
