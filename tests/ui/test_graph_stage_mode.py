"""The graph view's stage mode (lecture mode on a short screen): the toolbar row steps
aside, the legend floats in a corner of the drawing that no box or edge covers, moves
aside when the view changes so that none is free, and everything returns as it was."""
from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, QRectF, QSizeF
from PySide6.QtWidgets import QApplication

import gradviz
from gradviz.ui.graph_view.legend import FLOAT_INSET, free_corner
from tests.ui.graph_views import shown_graph_view

pytestmark = pytest.mark.gui


def small_cnn_graph():
    """A model not from the presets: a module called twice, two outputs summed."""
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3)
            self.act = torch.nn.ReLU()
            self.head = torch.nn.Linear(4 * 6 * 6, 10)
            self.aux = torch.nn.Linear(4 * 6 * 6, 3)

        def forward(self, x):
            h = self.act(self.conv(x))
            flat = self.act(h).flatten(1)  # act called twice
            return self.head(flat).sum() + self.aux(flat).sum()

    return gradviz.trace_model(Net(), torch.randn(2, 1, 8, 8), loss_fn=lambda o: o.pow(2)).graph


@pytest.fixture
def view(qtbot):
    widget = shown_graph_view(qtbot, (900, 640))
    with qtbot.waitSignal(widget.ready, timeout=60_000):
        widget.set_graph(small_cnn_graph())
    widget.fit_to_window(animate=False)
    return widget


def legend_rect(view) -> QRectF:
    legend, viewport = view.legend, view.canvas.viewport()
    return QRectF(legend.geometry()).translated(QPointF(viewport.mapFrom(legend.parentWidget(), QPoint(0, 0))))


def covered(view) -> list:
    """Boxes and edges (bounding boxes) under the floating legend, in viewport px."""
    canvas, model, rect = view.canvas, view.item.model, legend_rect(view)
    out = [key for key in view.shown_graph()
           if QRectF(canvas.mapFromScene(view.node_rect(key)).boundingRect()).intersects(rect)]
    for i in range(len(model.src)):
        box = QRectF(QPointF(model.ex0[i], model.ey0[i]), QPointF(model.ex1[i], model.ey1[i]))
        if QRectF(canvas.mapFromScene(box).boundingRect()).intersects(rect):
            out.append(("edge", i))
    return out


def test_free_corner_picks_the_first_free_corner_bottom_first():
    area, size = QRectF(0, 0, 400, 300), QSizeF(100, 40)
    everything_free = free_corner(area, size, lambda rect: True)
    assert everything_free == QRectF(FLOAT_INSET, 300 - FLOAT_INSET - 40, 100, 40)  # bottom left
    right_only = free_corner(area, size, lambda rect: rect.left() > 200)
    assert right_only.left() == 400 - FLOAT_INSET - 100 and right_only.bottom() == 300 - FLOAT_INSET
    assert free_corner(area, size, lambda rect: False) is None
    assert free_corner(QRectF(0, 0, 90, 300), size, lambda rect: True) is None  # wider than the area


def test_stage_mode_gives_the_drawing_the_pane_and_gives_it_back(qtbot, view):
    canvas = view.canvas
    strip_height, label_before = canvas.viewport().height(), view.label_pixel_size()
    assert view.legend.isVisible() and not view.legend.floating and view.toolbar.isVisible()
    view.set_stage_mode(True)
    QApplication.processEvents()
    assert view.stage_mode and not view.toolbar.isVisible() and not view.more_button.isVisible()
    assert canvas.viewport().height() > strip_height + view.toolbar.height() // 2  # the toolbar row and the strip
    assert view.legend.floating and view.legend.isVisible()
    assert canvas.viewport().rect().contains(legend_rect(view).toRect())
    assert covered(view) == []
    assert view.label_pixel_size() >= label_before  # still fitted, in more room
    view.set_stage_mode(False)
    QApplication.processEvents()
    assert not view.legend.floating and view.legend.isVisible() and view.toolbar.isVisible()
    assert view.legend.parentWidget() is not canvas.viewport()
    qtbot.waitUntil(lambda: canvas.viewport().height() == strip_height, timeout=3000)


def test_floating_legend_steps_aside_when_no_corner_is_free(qtbot, view):
    view.set_stage_mode(True)
    QApplication.processEvents()
    assert view.legend.isVisible()
    # zoomed in on the middle of the graph: boxes and edges everywhere
    middle = list(view.shown_graph())[len(view.shown_graph()) // 2]
    view.center_on(middle, animate=False)
    view.zoom_by(6.0)
    QApplication.processEvents()
    assert not view.legend.isVisible()  # no corner free: it stepped aside rather than cover a box
    view.fit_to_window(animate=False)
    QApplication.processEvents()
    assert view.legend.isVisible() and covered(view) == []
    # panning scrolls the viewport's children with it: the legend goes back to its corner
    bar = view.canvas.verticalScrollBar()
    bar.setValue(bar.value() + 30)
    QApplication.processEvents()
    room = QRectF(view.canvas.viewport().rect()).adjusted(FLOAT_INSET, FLOAT_INSET, -FLOAT_INSET, -FLOAT_INSET)
    if view.legend.isVisible():
        rect = legend_rect(view)
        assert room.contains(rect) and covered(view) == []
        assert rect.left() == room.left() or rect.right() == room.right(), (rect, room)


def test_find_in_stage_mode_asks_for_a_name(qtbot, view, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    view.set_stage_mode(True)
    asked = []
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (asked.append(a) or ("conv", True)))
    view.find_action.trigger()
    assert asked and view.search_box.text() == "conv"
