"""Numbers and names on the panels' axes never stand on each other (issue 13: every
plot labelled without overlapping ticks): a model of 122 parameters in the default
right column, a short loss curve, a log scale spanning 28 powers of ten."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFontMetricsF, QImage, QPainter

from gradviz.ui.plot_axes import FittingAxis

pytestmark = pytest.mark.gui


def drawn_labels(axis: pg.AxisItem) -> list[tuple[str, QRectF]]:
    """The tick labels the axis draws now, in its own coordinates, each as tall as its
    text's line (pyqtgraph's own rects are 0.8 of it)."""
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    if specs is None:
        return []
    line = QFontMetricsF(axis.style.get("tickFont") or axis.font()).height()
    out = []
    for rect, _flags, text in specs[2]:
        rect = QRectF(rect)
        if axis.orientation in ("left", "right"):
            rect = QRectF(rect.left(), rect.center().y() - line / 2, rect.width(), line)
        out.append((text, rect))
    return out


def overlapping(labels: list[tuple[str, QRectF]]) -> list[tuple[str, str]]:
    return [(a, b) for (a, ra), (b, rb) in zip(labels, labels[1:]) if ra.intersected(rb).height() > 0.5
            and ra.intersected(rb).width() > 0.5]


@pytest.mark.parametrize("height, low, high", [(60, 0.8961, 0.8983), (50, 0.1, 0.9), (46, 2.0, 2.001), (460, 0.0, 1.0)])
def test_a_short_axis_draws_fewer_numbers_never_on_each_other_and_at_least_one(qtbot, height, low, high):
    """pyqtgraph draws three major labels at least: "0.898", "0.897", "0.896" stood on
    each other on a short loss curve."""
    widget = pg.PlotWidget(axisItems={"left": FittingAxis("left")})
    qtbot.addWidget(widget)
    widget.resize(300, height)
    widget.show()
    plot = widget.getPlotItem()
    plot.setYRange(low, high, padding=0)
    axis = plot.getAxis("left")
    qtbot.waitUntil(lambda: axis.geometry().height() > 0 and list(axis.range) == pytest.approx([low, high]), timeout=5000)
    qtbot.waitUntil(lambda: bool(drawn_labels(axis)), timeout=5000)  # at least one number on the axis
    labels = drawn_labels(axis)
    assert overlapping(sorted(labels, key=lambda item: item[1].top())) == []
    size = axis.geometry().height()
    if size >= 400:  # room enough: the ticks pyqtgraph chooses
        assert axis.tickSpacing(low, high, size) == pg.AxisItem("left").tickSpacing(low, high, size)
    else:  # pyqtgraph's own would overlap here
        plain = pg.PlotWidget()
        qtbot.addWidget(plain)
        plain.resize(300, height)
        plain.show()
        plain.getPlotItem().setYRange(low, high, padding=0)
        other = plain.getPlotItem().getAxis("left")
        qtbot.waitUntil(lambda: other.geometry().height() == size and list(other.range) == pytest.approx([low, high])
                        and bool(drawn_labels(other)), timeout=5000)
        assert overlapping(sorted(drawn_labels(other), key=lambda item: item[1].top())) != []


def test_a_panel_of_many_parameters_names_every_kth_and_says_so(qtbot):
    """A 60-layer MLP's 122 parameters in the right column: names and values were drawn
    at 7 px over each other, and the log scale's 28 powers of ten ("1e-26" … "1e1")
    overlapped on the axis."""
    from gradviz.ui.training.norms import MIN_BAR_TEXT_PX, NormsPanel

    panel = NormsPanel()
    qtbot.addWidget(panel)
    panel.resize(430, 640)
    panel.show()
    names = [f"net.{i}.{'weight' if i % 2 else 'bias'}" for i in range(122)]
    norms = {n: 10.0 ** (-26 + 27 * i / 121) for i, n in enumerate(names)}
    record = SimpleNamespace(index=3, loss=0.9, grad_norms=norms, params_after={}, grads={}, nonfinite=[])
    panel.set_parameters(names)
    panel.set_records([record])
    plot = panel.norm_plot
    qtbot.waitUntil(lambda: plot.vb.height() > 0 and panel.bar_name_stride > 1, timeout=5000)
    stride = panel.bar_name_stride
    per_bar = plot.vb.height() / len(names)
    assert per_bar * stride * 0.9 >= MIN_BAR_TEXT_PX - 1e-6  # each named bar has a line of text to itself
    left = plot.getAxis("left")
    shown = [text for _, text in left._tickLevels[0]]
    assert shown == names[::stride]
    assert left.labelText.startswith(f"every {stride}")
    values = [label for label in panel.bar_labels[:len(names)] if label.isVisible()]
    assert len(values) == math.ceil(len(names) / stride)
    bottom = plot.getAxis("bottom")
    labels = sorted(drawn_labels(bottom), key=lambda item: item[1].left())
    assert len(labels) >= 2 and overlapping(labels) == []
    # room enough (a tall panel): every bar named again
    panel.resize(430, 4000)
    qtbot.waitUntil(lambda: panel.bar_name_stride == 1, timeout=5000)
    assert [text for _, text in left._tickLevels[0]] == names and left.labelText == ""
