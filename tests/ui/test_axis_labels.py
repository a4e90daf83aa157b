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


@pytest.mark.parametrize("orientation, length", [("left", 140), ("left", 900), ("bottom", 360), ("bottom", 1500)])
def test_powers_of_ten_are_thinned_to_what_the_axis_holds(qtbot, orientation, length):
    """The diagnostics' ‖grad‖ per layer of a 60-layer MLP spans 24 decades: on its 140 px
    axis "1e-23" … "1e0" were printed over each other."""
    from gradviz.ui.plot_axes import DecadeAxis

    widget = pg.PlotWidget(axisItems={orientation: DecadeAxis(orientation)})
    qtbot.addWidget(widget)
    widget.resize(*((300, length + 40) if orientation == "left" else (length + 60, 200)))
    widget.show()
    plot = widget.getPlotItem()
    (plot.setYRange if orientation == "left" else plot.setXRange)(-23, 1, padding=0)
    axis = plot.getAxis(orientation)
    def settled():  # the axis as long as the data it labels, and its range that of the data
        if orientation == "left":
            same = abs(axis.geometry().height() - plot.vb.height()) < 1 and axis.geometry().height() >= length - 30
        else:
            same = abs(axis.geometry().width() - plot.vb.width()) < 1 and axis.geometry().width() >= length - 30
        if not (same and list(axis.range) == pytest.approx([-23, 1])):
            return False
        texts = [text for text, _ in drawn_labels(axis)]  # the same on two passes of the event loop
        seen.append(texts)
        return len(seen) > 1 and seen[-2] == texts and bool(texts)

    seen: list = []
    qtbot.waitExposed(widget)
    qtbot.waitUntil(settled, timeout=5000)
    labels = sorted(drawn_labels(axis), key=lambda item: item[1].top() if orientation == "left" else item[1].left())
    assert overlapping(labels) == []
    texts = [text for text, _ in labels]
    assert all(text.startswith("1e") for text in texts) and len(texts) >= 2
    exponents = sorted(int(text[2:]) for text in texts)
    if length >= 900:  # every decade where there is room
        assert len(texts) >= 23 and all(b - a == 1 for a, b in zip(exponents, exponents[1:])), texts
    else:
        assert len({b - a for a, b in zip(exponents, exponents[1:])}) == 1  # an even step: every k-th decade
