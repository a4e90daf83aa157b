"""Export animation…: the forward build-up and backward replay as an animated GIF and
numbered PNG frames. The frame count comes from the graph: one per forward op and one
per op autograd ran in backward (per box when modules are collapsed)."""
from __future__ import annotations

import sys
from pathlib import Path

import networkx as nx
import pytest
import torch
from PIL import Image

import gradviz
from gradviz.core.animation import BACKWARD, FORWARD, animation_frames, backward_order, forward_order
from gradviz.ui.graph_view.animation import AnimationSettings, export_animation, frame_paths
from tests.ui.graph_views import shown_graph_view

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_collapse_calls import TinyResNet, traced  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    net = gradviz.build_model(gradviz.presets.load("lenet"))
    return gradviz.trace_model(net, torch.randn(1, 1, 32, 32), loss_fn=torch.nn.functional.mse_loss,
                               target=torch.randn(1, 10))


@pytest.fixture
def view(qtbot):
    return shown_graph_view(qtbot)


def ops_of(graph):
    return [k for k, kind in graph.nodes(data="kind") if kind == "op"]


def test_frames_one_per_forward_op_and_one_per_backward_op(lenet):
    graph = lenet.graph
    frames = animation_frames(graph, creation_order=lenet.creation_order)
    forward = [f for f in frames if f.phase == FORWARD]
    backward = [f for f in frames if f.phase == BACKWARD]
    assert len(forward) == len(backward) == len(ops_of(graph))
    assert [f.ops[0] for f in forward] == lenet.creation_order  # the order the forward made them
    # the forward builds up: each frame shows more, the outputs come last
    sizes = [len(f.shown_nodes) for f in forward]
    assert sizes == sorted(sizes) and forward[-1].shown_nodes == frozenset(graph.nodes)
    assert "out0" not in forward[0].shown_nodes
    # backward: from the loss back to the first op; a parameter is active when it gets its gradient
    assert backward[0].ops[0] == lenet.creation_order[-1] and backward[-1].ops[0] == lenet.creation_order[0]
    conv1_weight = next(k for k, a in graph.nodes(data=True) if a.get("name") == "conv1.weight")
    assert conv1_weight in backward[-1].active


def test_the_backward_order_follows_autograd(lenet):
    graph = lenet.graph
    order = backward_order(graph, lenet.creation_order)
    assert sorted(order) == sorted(ops_of(graph))
    position = {k: i for i, k in enumerate(order)}
    for u, v in graph.edges:
        if u in position and v in position:
            assert position[v] < position[u]  # an op runs after every op that needs its output
    assert forward_order(graph) == lenet.creation_order  # recovered from the graph alone


def test_collapsed_boxes_are_one_frame_each():
    tr = traced(TinyResNet(), torch.randn(2, 3, 32, 32))
    from gradviz.core.collapse import collapse_graph

    shown = collapse_graph(tr.graph, {"layer1", "layer2"})
    frames = animation_frames(tr.graph, creation_order=tr.creation_order, shown=shown.shown)
    forward = [f for f in frames if f.phase == FORWARD]
    assert len(forward) < len(ops_of(tr.graph))
    assert sum(1 for f in forward if f.active == {"module:layer1"}) == 1  # one box, one frame
    assert nx.is_directed_acyclic_graph(shown.graph)


def test_gif_and_png_frames_have_the_counted_frames(qtbot, view, lenet, tmp_path):
    with qtbot.waitSignal(view.ready, timeout=20_000):
        view.set_graph(lenet.graph)
    expected = len(animation_frames(lenet.graph))
    assert expected == 2 * len(ops_of(lenet.graph))
    settings = AnimationSettings(tmp_path / "lenet.gif", size=(480, 320), frame_ms=250)
    written = export_animation(view, settings)
    assert written[0] == tmp_path / "lenet.gif"
    assert written[1:] == frame_paths(settings.path, expected)
    gif = Image.open(settings.path)
    assert gif.n_frames == expected and gif.size == (480, 320)
    assert Image.open(written[1]).size == (480, 320)
    assert Image.open(written[1]).tobytes() != Image.open(written[-1]).tobytes()  # the frames differ


def test_the_dialog_states_the_count_and_exports_off_the_gui_thread(qtbot, view, lenet, tmp_path):
    with qtbot.waitSignal(view.ready, timeout=20_000):
        view.set_graph(lenet.graph)
    action = view.animation_action
    assert action.objectName() == "actionExportAnimation" and action.isEnabled()
    assert "Export animation…" in view.more_button.menu_texts()
    dialog = view.show_animation_dialog()
    assert dialog.objectName() == "exportAnimationDialog"
    count = 2 * len(ops_of(lenet.graph))
    assert dialog.summary.text().startswith(f"{count} frames")
    dialog.path_edit.setText(str(tmp_path / "slides.gif"))
    dialog.width_spin.setValue(320)
    dialog.height_spin.setValue(240)
    dialog.png_check.setChecked(False)
    exported = []
    view.exported.connect(exported.append)
    dialog.export_button.click()
    qtbot.waitUntil(lambda: bool(exported), timeout=60_000)
    assert exported[0] == [str(tmp_path / "slides.gif")]
    assert Image.open(tmp_path / "slides.gif").n_frames == count
    assert not (tmp_path / "slides-frames").exists()


def test_cancel_stops_the_export(qtbot, view, lenet, tmp_path):
    from gradviz.ui.graph_view.animation import AnimationExport

    with qtbot.waitSignal(view.ready, timeout=20_000):
        view.set_graph(lenet.graph)
    job = AnimationExport(view, AnimationSettings(tmp_path / "x.gif", size=(320, 240)))
    finished = []
    job.finished.connect(finished.append)
    with qtbot.waitSignal(job.cancelled, timeout=5_000):
        job.start()
        job.cancel()
    assert not job.running
    assert not finished and not (tmp_path / "x.gif").exists()


def test_a_recorded_iteration_gives_the_real_orders_and_the_weight_update(qtbot, view, tmp_path):
    from gradviz.core.animation import MORPH
    from gradviz.core.session import TrainingSession
    from gradviz.ui.graph_view.animation import AnimationDialog, frames_for_view

    session = TrainingSession(gradviz.presets.load("lenet"), lr=0.1)
    record = session.run_iteration()
    with qtbot.waitSignal(view.ready, timeout=20_000):
        view.set_graph(record.graph)
    ops = ops_of(record.graph)
    settings = AnimationSettings(tmp_path / "step.gif", size=(400, 300), morph_parameter="conv2.weight", morph_steps=5)
    frames = frames_for_view(view, record=record, settings=settings)
    assert len(frames) == 2 * len(ops) + 5
    backward = [f.ops[0] for f in frames if f.phase == BACKWARD]
    assert backward == [k for k in record.backward_order if k in set(ops)]  # as autograd ran them
    morph = [f for f in frames if f.phase == MORPH]
    assert [f.t for f in morph] == [0.0, 0.25, 0.5, 0.75, 1.0]
    written = export_animation(view, settings, record=record)
    assert Image.open(settings.path).n_frames == len(frames)
    first, last = Image.open(written[-5]), Image.open(written[-1])
    assert first.tobytes() != last.tobytes()  # the change grows from nothing to the whole update
    # the dialog offers the record's parameters and counts the update frames
    view.record_source = lambda: record
    dialog = view.show_animation_dialog()
    assert isinstance(dialog, AnimationDialog)
    names = [dialog.morph_combo.itemText(i) for i in range(dialog.morph_combo.count())]
    assert names[0] == "none" and "conv2.weight" in names
    dialog.morph_combo.setCurrentText("conv2.weight")
    dialog.morph_steps.setValue(7)
    assert dialog.summary.text().startswith(f"{2 * len(ops) + 7} frames")
    dialog.reject()


@pytest.mark.parametrize("scale", [1.0, 2.0], ids=["100pct", "200pct"])
def test_the_dialog_stays_on_the_screen_with_every_row_whole(qtbot, view, lenet, scale):
    """At 200 % its first line was 1,630 px wide (no wrap): the dialog ran past an
    800 px screen, Export and Cancel with it. Its text wraps now, it is at most the
    screen's width and on it, and no row of the form overlaps the next."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QApplication

    from gradviz.ui import theme

    with qtbot.waitSignal(view.ready, timeout=20_000):
        view.set_graph(lenet.graph)
    app = QApplication.instance()
    theme.apply(app, theme.current_theme(), scale)
    try:
        qtbot.waitUntil(view.is_ready, timeout=20_000)  # laid out again in the new text size
        dialog = view.show_animation_dialog()
        qtbot.waitUntil(dialog.isVisible, timeout=5000)
        room = dialog.screen().availableGeometry()
        assert room.contains(dialog.frameGeometry()), (dialog.frameGeometry(), room)

        def placed(widget):
            return QRect(widget.mapTo(dialog, QPoint(0, 0)), widget.size())

        rows = [dialog.path_edit, dialog.width_spin, dialog.height_spin, dialog.frame_ms, dialog.gif_check,
                dialog.png_check, dialog.morph_combo, dialog.morph_steps, dialog.export_button]
        for upper, lower in zip(rows, rows[1:]):
            assert placed(upper).bottom() < placed(lower).top(), (scale, upper.objectName(), lower.objectName())
        for widget in rows:
            assert dialog.rect().contains(placed(widget)), (scale, widget.objectName())
            assert widget.height() >= widget.minimumSizeHint().height(), (scale, widget.objectName())  # not crushed
        dialog.reject()
    finally:
        theme.apply(app)


def test_the_window_gives_the_view_its_record_and_says_where_files_went(qtbot, monkeypatch):
    from types import SimpleNamespace

    from gradviz.ui import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    view = window.graph_view
    assert view.record_source is not None
    session = SimpleNamespace(history=[])
    monkeypatch.setattr(MainWindow, "session", property(lambda self: session))
    assert view.record_source() is None  # no iteration yet
    session.history += ["first", "second"]
    assert view.record_source() == "second"  # the latest iteration
    view.exported.emit(["/tmp/graph-p1.png", "/tmp/graph-p2.png", "/tmp/graph-p3.png"])
    assert window.statusBar().currentMessage() == "Exported /tmp/graph-p1.png and 2 more files"


def test_small_frames_keep_every_title_inside_its_place(qtbot, view, tmp_path, monkeypatch):
    """At 320 × 240 the frame titles ran past the frame's edge ("backward 12/19 ·
    MkldnnRnnLayerI") and the two weight-update titles into each other: every text of a
    frame is now made to fit its place (smaller, down to MIN_TEXT_PX, then shortened)."""
    from PySide6.QtGui import QFontMetricsF

    from gradviz.core.session import TrainingSession
    from gradviz.ui.graph_view import animation

    drawn = []
    real = animation.draw_fitting

    def spy(painter, rect, flags, text, font):
        fitted, shown = real(painter, rect, flags, text, font)
        drawn.append((text, shown, QFontMetricsF(fitted).horizontalAdvance(shown), rect.width(), fitted.pixelSize()))
        return fitted, shown

    monkeypatch.setattr(animation, "draw_fitting", spy)
    session = TrainingSession(gradviz.presets.load("lenet"), lr=0.1)
    record = session.run_iteration()
    with qtbot.waitSignal(view.ready, timeout=20_000):
        view.set_graph(record.graph)
    settings = AnimationSettings(tmp_path / "small.gif", size=(320, 240), morph_parameter="conv2.weight", morph_steps=2)
    export_animation(view, settings, record=record)
    assert any(text.startswith("backward") for text, *_ in drawn)
    assert any(text.startswith("change so far") for text, *_ in drawn)
    too_wide = [(text, shown) for text, shown, width, room, _ in drawn if width > room]
    assert too_wide == []
    assert min(px for *_, px in drawn) >= animation.MIN_TEXT_PX
    # a long caption at the smallest size the dialog allows: shorter, never wider
    font, shown = animation.fitted_text("backward 12/19 · MkldnnRnnLayerBackward0", view.fonts.bold, 136)
    assert shown.endswith("…") and QFontMetricsF(font).horizontalAdvance(shown) <= 136
