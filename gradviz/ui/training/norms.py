"""NormsPanel: gradient norms per parameter, the loss curve and weight histograms over time.

* Gradient norms: one horizontal bar per parameter (names readable, in model
  order), on a log scale by default so that vanishing (tiny, blue) and
  exploding (huge, red) gradients stand out at a glance; NaN/Inf bars are
  dark red and say so.
* Loss over the kept iterations, the iteration looked at marked.
* Histogram over time of the chosen parameter's weights or gradients: one
  column per iteration, brighter where more values fall (like TensorBoard's
  histograms, seen from above).

Everything is drawn from the session's records (``grad_norms``, ``loss``,
``params_after``, ``grads``).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QBoxLayout,
    QCheckBox,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from gradviz.core.display.tensor_values import plotted_values
from gradviz.ui import theme
from gradviz.ui.panel_shape import stacks
from gradviz.ui.plot_axes import DecadeAxis, FittingAxis
from gradviz.ui.plot_titles import set_fitting_title
from gradviz.ui.training.colour_scale import SCALE_TEXT, labelled_colour_bar, set_levels

# Display thresholds for the bar colours (what a class should notice, not a rule).
VANISHING = 1e-5
EXPLODING = 1e2
HIST_BINS = 48
LOSS_DOTS_MAX = 200  # loss curves with more points are drawn as a line only
# The least height of each plot's data area, in px: BAR_LINES of text a bar for
# the norms (None: up to BARS_AT_TEXT_SIZE bars, more share it and their text
# shrinks), enough for the loss curve's shape, a pixel a histogram bin. A dock
# too short for all three scrolls.
LEAST_DATA_PX = {"gradNormPlot": None, "lossPlot": 36, "histogramPlot": HIST_BINS}
BARS_AT_TEXT_SIZE = 12
# Each plot's text around its data, in lines of the panel's text, where not
# measured more (at 100 % 71, 71 and 133 px were measured, 15 px a line)
LINES_AROUND = {"gradNormPlot": 4.8, "lossPlot": 4.8, "histogramPlot": 9.0}
BAR_LINES = 1.05  # a bar's height in lines of text: its name at full size and a gap (see _fit_bar_text)
# Names and values are never drawn smaller than this (px): with more bars than that
# leaves room for, every k-th bar is named (and the axis says so). 122 bars in 170 px
# had their names drawn at 7 px over each other, a grey smear.
MIN_BAR_TEXT_PX = 9
COLOURS = {"normal": "#2f6fde", "vanishing": "#7fb2ff", "exploding": "#e8590c", "nonfinite": "#b00020"}


def bar_class(norm: float | None) -> str:
    if norm is None or not math.isfinite(norm):
        return "nonfinite"
    if norm < VANISHING:
        return "vanishing"
    if norm > EXPLODING:
        return "exploding"
    return "normal"


class NormsPanel(QWidget):
    """objectName ``normsPanel``; plots ``gradNormPlot``, ``lossPlot``, ``histogramPlot``."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("normsPanel")
        self._records: list = []
        self._selected = None
        self._names: list[str] = []
        self._hist_cache: dict[tuple, np.ndarray] = {}
        self.bar_values: dict[str, float | None] = {}
        self._bar_names: list[str] = []  # the bars, top to bottom
        self.bar_name_stride = 1  # every how many bars one is named (see _fit_bar_text)
        self._norm_iteration: int | None = None  # the iteration the norms' title names
        self._around: dict[str, float] = {}  # plot -> its text around the data, px, measured (_set_least_heights)

        c = theme.colours()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        controls = QHBoxLayout()
        self.log_check = QCheckBox("log scale")
        self.log_check.setObjectName("logScaleCheck")
        self.log_check.setChecked(True)
        self.log_check.toggled.connect(self._draw_bars)
        self.hist_param = QComboBox()
        self.hist_param.setObjectName("histParamCombo")
        self.hist_param.currentIndexChanged.connect(self._draw_histogram)
        self.hist_kind = QComboBox()
        self.hist_kind.setObjectName("histKindCombo")
        self.hist_kind.addItem("weights", "params_after")
        self.hist_kind.addItem("gradients", "grads")
        self.hist_kind.currentIndexChanged.connect(self._draw_histogram)
        controls.addWidget(self.log_check)
        controls.addStretch(1)
        self.hist_label = QLabel("Histogram of")
        controls.addWidget(self.hist_label)
        controls.addWidget(self.hist_kind)
        controls.addWidget(self.hist_param)
        layout.addLayout(controls)

        # Three plot widgets in a box layout: turning the box from a row into a
        # column is all it takes to fit a tall dock (see resizeEvent). Each keeps a
        # least height (_set_least_heights); a dock shorter than that scrolls.
        self.plots_scroll = QScrollArea()
        self.plots_scroll.setObjectName("normsPlotsScroll")
        self.plots_scroll.setWidgetResizable(True)
        self.plots_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.plots_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        plots = QWidget()
        self.plots_box = QBoxLayout(QBoxLayout.Direction.LeftToRight, plots)
        self.plots_box.setContentsMargins(0, 0, 0, 0)
        self.plots_scroll.setWidget(plots)
        layout.addWidget(self.plots_scroll, 1)
        size = f"{self.font().pointSizeF() * 1.1:.0f}pt"
        self.plot_widgets = {}
        for name, stretch in (("gradNormPlot", 3), ("lossPlot", 2), ("histogramPlot", 2)):
            # (the norms' names are placed by _fit_bar_text; the bars' lengths are log10 norms)
            axes = ({"bottom": DecadeAxis("bottom")} if name == "gradNormPlot"
                    else {side: FittingAxis(side) for side in ("left", "bottom")})
            widget = pg.PlotWidget(background=c["base"], axisItems=axes)
            widget.setObjectName(name)
            self.plot_widgets[name] = widget
            self.plots_box.addWidget(widget, stretch)

        self.norm_plot = self.plot_widgets["gradNormPlot"].getPlotItem()
        self.norm_plot.setTitle("‖gradient‖ per parameter", color=c["text"], size=size)
        self.norm_plot.invertY(True)  # first layer on top, like the network list
        self.norm_plot.vb.sigResized.connect(self._fit_norm_title)  # a narrower plot: a shorter title
        self.norm_plot.vb.sigResized.connect(lambda _vb: self._fit_bar_text())  # fewer names where bars get thinner
        self.norm_plot.setMouseEnabled(False, False)
        self.norm_plot.hideButtons()
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[])
        self.norm_plot.addItem(self.bars)
        self.bar_labels: list[pg.TextItem] = []
        self.empty_text = pg.TextItem("run backward to see\nthe gradient norms", color=c["muted"], anchor=(0.5, 0.5))
        self.norm_plot.addItem(self.empty_text)

        self.loss_plot = self.plot_widgets["lossPlot"].getPlotItem()
        self.loss_plot.setTitle("loss", color=c["text"], size=size)
        self.loss_plot.setLabel("bottom", "iteration")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.25)
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen(c["accent"], width=3), symbol="o",
                                              symbolSize=7, symbolBrush=c["accent"], symbolPen=None)
        self.loss_empty = pg.TextItem("one point per\nfinished iteration", color=c["muted"], anchor=(0.5, 0.5))
        self.loss_plot.addItem(self.loss_empty)
        self.loss_empty.setPos(0.5, 0.5)
        self.loss_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(c["error"], width=2, style=Qt.PenStyle.DashLine))
        self.loss_marker.hide()
        self.loss_plot.addItem(self.loss_marker)

        self.hist_plot = self.plot_widgets["histogramPlot"].getPlotItem()
        self.hist_plot.setTitle("histogram over iterations", color=c["text"], size=size)
        self.hist_plot.setLabel("bottom", "iteration")
        self.hist_plot.setLabel("left", "value")
        self.hist_image = pg.ImageItem(axisOrder="row-major")
        self.hist_image.setColorMap(pg.colormap.get("viridis"))
        self.hist_plot.addItem(self.hist_image)
        # How many values a colour stands for: the colour is log-scaled, the labels give counts.
        self.hist_bar, self.hist_scale = labelled_colour_bar(self.hist_plot, self.hist_image, pg.colormap.get("viridis"))
        self.hist_bar.hide()
        self.hist_scale.hide()
        self.hist_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(c["error"], width=2, style=Qt.PenStyle.DashLine))
        self.hist_marker.hide()
        self.hist_plot.addItem(self.hist_marker)
        for plot in (self.norm_plot, self.loss_plot, self.hist_plot):
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)  # "(x0.001)" only confuses
        self.apply_theme()
        self._vertical = False

    def apply_theme(self) -> None:
        """Colours and text sizes from the current theme and zoom (after a change)."""
        c = theme.colours()
        size = f"{self.font().pointSizeF() * 1.1:.0f}pt"
        for widget in self.plot_widgets.values():
            widget.setBackground(c["base"])
        for plot, title in ((self.loss_plot, "loss"), (self.hist_plot, "histogram over iterations")):
            plot.setTitle(title, color=c["text"], size=size)
        for plot in (self.norm_plot, self.loss_plot, self.hist_plot):
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(c["text"])
                plot.getAxis(axis).setPen(c["muted"])
        self.loss_curve.setPen(pg.mkPen(c["accent"], width=3))
        self.loss_curve.setSymbolBrush(c["accent"])
        for text in (self.empty_text, self.loss_empty):
            text.setColor(c["muted"])
        font = QFont(self.font())
        font.setPointSizeF(self.font().pointSizeF() * SCALE_TEXT)
        self.hist_scale.set_style(font, c["text"], c["muted"])
        self.hist_bar.getAxis("bottom").setPen(c["text"])
        self._around.clear()  # the text size may have changed: measured again
        self._set_least_heights()
        self._draw_bars()

    def _set_least_heights(self) -> None:
        """Each plot at least as tall as its text around the data (title, axes, the
        histogram's colour bar and labels) plus the least room for its data (see
        LEAST_DATA_PX): squeezed into a short dock the histogram was 5 px tall,
        its value ticks drawn over each other, and the bar names shrank to 7 px.

        The text around is estimated in lines (LINES_AROUND), or measured on a plot
        that is not squeezed where that is more (squeezed, pyqtgraph shrinks the
        text around too, and a measure taken then was too small)."""
        line = QFontMetrics(self.font()).height()
        bars = min(max(1, len(self._names)), BARS_AT_TEXT_SIZE)
        for name, data_px in LEAST_DATA_PX.items():
            widget = self.plot_widgets[name]
            least_data = data_px if data_px is not None else bars * line * BAR_LINES
            data = widget.getPlotItem().vb.height()
            whole = name != "histogramPlot" or self.hist_bar.isVisible()  # its colour bar comes with data
            if whole and widget.isVisible() and data >= least_data and widget.height() > data:
                self._around[name] = widget.height() - data
            # never under the estimate: a measure taken before the histogram had its
            # colour bar (no data yet) was 81 px, and with the bar its data got 0 px
            around = max(self._around.get(name, 0.0), LINES_AROUND[name] * line)
            least = round(around + least_data)
            if widget.minimumHeight() != least:
                widget.setMinimumHeight(least)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        size = event.size()
        vertical = stacks(size.width(), size.height(), self._vertical)
        if vertical != self._vertical:
            self._vertical = vertical
            self.plots_box.setDirection(QBoxLayout.Direction.TopToBottom if vertical else QBoxLayout.Direction.LeftToRight)
        self._set_least_heights()
        self._fit_bar_text()
        # once the plots have their new widths (a long title keeps the plot's own
        # width from shrinking with its widget, so the plot's resize may not come)
        QTimer.singleShot(0, self, self._fit_norm_title)  # (self: not after the panel is gone)

    # -- data ---------------------------------------------------------------------------
    def set_parameters(self, names: list[str]) -> None:
        current = self.hist_param.currentText()
        self._names = list(names)
        self.hist_param.blockSignals(True)
        self.hist_param.clear()
        self.hist_param.addItems(self._names)
        if current in self._names:
            self.hist_param.setCurrentText(current)
        self.hist_param.blockSignals(False)
        self._hist_cache.clear()
        self._set_least_heights()  # a bar a line of text
        self._draw_bars()
        self._draw_histogram()

    def set_histogram_shown(self, shown: bool) -> None:
        """Show or hide the histogram over iterations and its choosers (the run
        viewer hides it: it keeps whole tensors of the iteration on screen only)."""
        for widget in (self.hist_label, self.hist_kind, self.hist_param, self.plot_widgets["histogramPlot"]):
            widget.setVisible(shown)

    def set_histogram_param(self, name: str) -> None:
        if name in self._names:
            self.hist_param.setCurrentText(name)

    def set_records(self, records: list, selected=None) -> None:
        """All kept records (oldest first) and the one whose norms the bars show
        (default: the newest with gradients)."""
        self._records = [r for r in records if r is not None]
        self._selected = selected
        keep = {id(r) for r in self._records}
        self._hist_cache = {k: v for k, v in self._hist_cache.items() if k[0] in keep}
        self._draw_bars()
        self._draw_loss()
        self._draw_histogram()

    def set_selected(self, selected) -> None:
        """Show ``selected``'s norms and mark it on the curves, the records unchanged:
        cheaper than :meth:`set_records` for a long run (the loss curve is not rebuilt)."""
        self._selected = selected
        self._draw_bars()
        self._mark_loss()
        self._draw_histogram()

    def _bar_record(self):
        if self._selected is not None:
            return self._selected
        for record in reversed(self._records):
            if record.grad_norms:
                return record
        return None

    # -- drawing ------------------------------------------------------------------------
    def _draw_bars(self) -> None:
        record = self._bar_record()
        for label in self.bar_labels:
            label.hide()
        if record is None or not record.grad_norms:
            self.bar_values = {}
            self.bars.setOpts(x0=[], y=[], width=[], height=0.7)
            self._bar_names = []
            self.norm_plot.setLabel("left", "")
            self.norm_plot.getAxis("left").setTicks([[]])
            self.norm_plot.getAxis("bottom").set_decades(False)
            self.norm_plot.getAxis("bottom").setTicks([[]])
            self.norm_plot.setLabel("bottom", "")
            self.norm_plot.setXRange(0, 1, padding=0)
            self.norm_plot.setYRange(0, 1, padding=0)
            self.empty_text.setPos(0.5, 0.5)
            self.empty_text.show()
            return
        self.empty_text.hide()
        norms = dict(record.grad_norms)
        nonfinite = set(getattr(record, "nonfinite", None) or []) if record is not None else set()
        names = self._names or list(norms)
        self.bar_values = {name: norms.get(name) for name in names}
        log = self.log_check.isChecked()
        finite = [v for v in self.bar_values.values() if v is not None and math.isfinite(v) and v > 0]
        floor = math.floor(math.log10(min(finite))) - 1 if (log and finite) else 0.0
        starts, widths, brushes = [], [], []
        top = 0.0
        c = theme.colours()
        for i, name in enumerate(names):
            norm = self.bar_values[name]
            kind = "nonfinite" if name in nonfinite else bar_class(norm)
            if norm is None:
                width, text = 0.0, "no grad"
                kind = "normal"
            elif not math.isfinite(norm) or kind == "nonfinite":
                width, text = (max(finite) if finite else 1.0), "NaN/Inf"
                width = (math.log10(width) - floor) if log and finite else width
            else:
                width = (math.log10(norm) - floor) if (log and norm > 0) else norm
                text = f"{norm:.3g}"
            start = floor if log else 0.0
            starts.append(start)
            widths.append(max(0.0, width))
            brushes.append(pg.mkBrush(COLOURS[kind]))
            top = max(top, start + max(0.0, width))
            label = self._bar_label(i)
            label.setText(f" {text}", color=c["text"] if kind != "nonfinite" else COLOURS["nonfinite"])
            label.setPos(start + max(0.0, width), i)
            label.show()
        self.bars.setOpts(x0=starts, y=list(range(len(names))), width=widths, height=0.7, brushes=brushes,
                          pens=[pg.mkPen(None)] * len(names))
        self._bar_names = names
        decades = bool(log and finite)  # the bars' lengths are log10 norms: labelled 1eN
        self.norm_plot.getAxis("bottom").setTicks(None)
        self.norm_plot.getAxis("bottom").set_decades(decades)
        self.norm_plot.setLabel("bottom", "‖∂loss/∂w‖ (log scale)" if decades else "‖∂loss/∂w‖")
        if names:
            start = floor if log else 0.0
            self.norm_plot.setXRange(start, start + (top - start) * 1.35 + 1e-12, padding=0)
            self.norm_plot.setYRange(-0.6, len(names) - 0.4, padding=0)
        self._fit_bar_text()
        self._norm_iteration = getattr(record, "index", None)
        self._fit_norm_title()

    def _fit_norm_title(self) -> None:
        """The norms' title, shortened rather than cut where the plot is narrow."""
        iteration = self._norm_iteration
        if iteration is None:
            candidates = ["‖gradient‖ per parameter", "‖gradient‖"]
        else:
            candidates = [f"‖gradient‖ per parameter · iteration {iteration}", f"‖gradient‖ · iteration {iteration}",
                          f"iteration {iteration}"]
        set_fitting_title(self.norm_plot, candidates, self.font(), theme.colours()["text"])

    def _bar_label(self, i: int) -> pg.TextItem:
        # Labels are kept and reused: Qt items dropped on every refresh would be
        # left to Python's collector, which may run in a worker thread, where
        # destroying Qt objects is not safe.
        while len(self.bar_labels) <= i:
            label = pg.TextItem("", anchor=(0, 0.5))
            if getattr(self, "_bar_font", None) is not None:
                label.setFont(self._bar_font)
            self.norm_plot.addItem(label)
            self.bar_labels.append(label)
        return self.bar_labels[i]

    def _fit_bar_text(self) -> None:
        """Names and values as large as the app font, but no larger than a bar
        is tall: big lecture fonts in a short dock would overlap. Where bars are
        thinner than :data:`MIN_BAR_TEXT_PX`, every :attr:`bar_name_stride`-th bar
        is named and valued (the axis says which), the others are drawn plain."""
        count = max(1, len(self.bar_values))
        height = self.norm_plot.vb.height() or self.plot_widgets["gradNormPlot"].height() * 0.7
        per_bar = height / count * 0.9
        stride = max(1, math.ceil(MIN_BAR_TEXT_PX / max(per_bar, 1e-6)))
        font = QFont(self.font())
        size_px = min(QFontMetrics(font).height(), max(MIN_BAR_TEXT_PX / 0.8, per_bar * stride))
        font.setPixelSize(max(MIN_BAR_TEXT_PX, int(size_px * 0.8)))
        if font != getattr(self, "_bar_font", None):
            self._bar_font = font
            self.norm_plot.getAxis("left").setStyle(tickFont=font)
            for label in self.bar_labels:
                label.setFont(font)
        names = self._bar_names
        self.bar_name_stride = stride
        self.norm_plot.getAxis("left").setTicks([[(i, n) for i, n in enumerate(names) if i % stride == 0]])
        self.norm_plot.setLabel("left", f"every {_ordinal(stride)} parameter named" if stride > 1 and names else "")
        for i, label in enumerate(self.bar_labels[:len(names)]):
            label.setVisible(i % stride == 0)

    def _draw_loss(self) -> None:
        xs, ys = [], []
        for record in self._records:
            if record.loss is not None and math.isfinite(record.loss):
                xs.append(record.index)
                ys.append(record.loss)
        # A dot per iteration helps to count a few; hundreds only blur into the line
        # and cost most of the plot's drawing time.
        self.loss_curve.setSymbol("o" if len(xs) <= LOSS_DOTS_MAX else None)
        self.loss_curve.setData(xs, ys)
        self.loss_empty.setVisible(not xs)
        if not xs:
            self.loss_plot.setXRange(0, 1, padding=0)
            self.loss_plot.setYRange(0, 1, padding=0)
        else:
            # Whole iterations on x (autorange would pad one point to ±0.2).
            self.loss_plot.setXRange(min(xs) - 0.5, max(xs) + 0.5, padding=0.02)
            _integer_ticks(self.loss_plot, max(xs) - min(xs) + 1)
            self.loss_plot.enableAutoRange(axis="y")
        self._mark_loss()

    def _mark_loss(self) -> None:
        if self._selected is not None:
            self.loss_marker.setPos(self._selected.index)
            self.loss_marker.show()
        else:
            self.loss_marker.hide()

    def loss_points(self) -> tuple[list, list]:
        xs, ys = self.loss_curve.getData()
        return ([] if xs is None else list(xs)), ([] if ys is None else list(ys))

    def _values(self, record, kind: str, name: str) -> np.ndarray | None:
        tensors = getattr(record, kind, None) or {}
        tensor = tensors.get(name)
        if tensor is None:
            return None
        values = plotted_values(tensor).ravel()
        return values[np.isfinite(values)]

    def _draw_histogram(self) -> None:
        name, kind = self.hist_param.currentText(), self.hist_kind.currentData()
        records = [r for r in self._records if (getattr(r, kind, None) or {}).get(name) is not None]
        if not name or not records:
            self.hist_image.clear()
            self.hist_marker.hide()
            self.hist_bar.hide()
            self.hist_scale.hide()
            return
        # One range for all columns, rounded to a power of two so it rarely
        # changes (and the cached columns stay valid) as iterations come in.
        top = 0.0
        for record in records:
            values = self._values(record, kind, name)
            if values is not None and values.size:
                top = max(top, float(np.abs(values).max()))
        limit = 2.0 ** math.ceil(math.log2(top)) if top > 0 else 1.0
        edges = np.linspace(-limit, limit, HIST_BINS + 1)
        columns = []
        for record in records:
            key = (id(record), name, kind, limit)
            column = self._hist_cache.get(key)
            if column is None:
                values = self._values(record, kind, name)
                column = np.histogram(values, bins=edges)[0].astype(np.float64) if values is not None else np.zeros(HIST_BINS)
                self._hist_cache[key] = column
            columns.append(column)
        image = np.log1p(np.stack(columns, axis=1))  # bins × iterations; log: the tails stay visible
        first = records[0].index
        self.hist_image.setImage(image, autoLevels=False)
        most = int(max(column.max() for column in columns))
        set_levels(self.hist_bar, self.hist_scale, 0.0, float(np.log1p(max(most, 1))), "values per bin (colour: log scale)",
                   ends=("0", f"{most:,}"))
        self.hist_bar.show()
        self.hist_scale.show()
        self.hist_image.setRect(first - 0.5, -limit, len(records), 2 * limit)
        self.hist_plot.setXRange(first - 0.5, first + len(records) - 0.5, padding=0.02)
        _integer_ticks(self.hist_plot, len(records))
        self.hist_plot.setYRange(-limit, limit, padding=0.02)
        if self._selected is not None:
            self.hist_marker.setPos(self._selected.index)
            self.hist_marker.show()
        else:
            self.hist_marker.hide()

    def histogram_image(self) -> np.ndarray | None:
        return self.hist_image.image


def _integer_ticks(plot, span: float) -> None:
    """Iterations are whole numbers: ticks every 1, 2, 5, 10, … so about eight show."""
    step, scale = 1, 1
    while span / step > 8:
        for factor in (2, 5, 10):
            step = factor * scale
            if span / step <= 8:
                break
        scale *= 10
    plot.getAxis("bottom").setTickSpacing(step, step)


def _ordinal(n: int) -> str:
    """``2nd``, ``3rd``, ``4th``, ``11th``, ``22nd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"

