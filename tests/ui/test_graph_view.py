"""GraphView: the interactive autograd graph (offscreen Qt)."""
import json
import re
import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QKeySequence

from gradviz.core.collapse import box_key, fold_key, shown_count, modules_at_depth
from gradviz.ui.graph_view import GraphView
from gradviz.ui.graph_view.style import NAME_SHAPE_SEPARATOR
from tests.ui.graph_views import shown_graph_view

pytestmark = pytest.mark.gui


# ---------------------------------------------------------------------------
# graphs


def process_posted_events(qtbot):
    """Deliver everything already posted to the GUI thread (queued signals, zero-time timers):
    wait for a marker posted after them, instead of waiting a fixed time."""
    delivered = []
    QTimer.singleShot(0, lambda: delivered.append(True))
    qtbot.waitUntil(lambda: bool(delivered), timeout=10_000)


@pytest.fixture(scope="module")
def lenet_graph():
    import torch

    import gradviz

    torch.manual_seed(0)
    net = gradviz.build_model(gradviz.presets.load("lenet"))
    traced = gradviz.trace_model(
        net,
        torch.randn(1, 1, 32, 32),
        loss_fn=torch.nn.functional.mse_loss,
        target=torch.randn(1, 10),
        saved_tensors=True,
    )
    from gradviz.core.graph import detach_graph

    return detach_graph(traced.graph)


def modular_graph(n_blocks: int) -> nx.DiGraph:
    """A transformer-ish chain: blocks.i.{fc (T, Addmm, weight, bias), act}, a residual add per block."""
    g = nx.DiGraph()
    g.add_node("x", kind="leaf", label="AccumulateGrad", name="", shape=(2, 8))
    previous = "x"
    for b in range(n_blocks):
        p = f"blocks.{b}"
        w, bias, t, mm, act, add = (f"{p}.{s}" for s in ("w", "b", "t", "mm", "act", "add"))
        g.add_node(w, kind="param", label="AccumulateGrad", name=f"{p}.fc.weight", shape=(8, 8))
        g.add_node(bias, kind="param", label="AccumulateGrad", name=f"{p}.fc.bias", shape=(8,))
        g.add_node(t, kind="op", label="TBackward0", module=f"{p}.fc")
        g.add_node(mm, kind="op", label="AddmmBackward0", module=f"{p}.fc")
        g.add_node(act, kind="op", label="ReluBackward0", module=f"{p}.act")
        g.add_node(add, kind="op", label="AddBackward0", module=p)
        g.add_edges_from([(w, t), (t, mm), (bias, mm), (previous, mm), (mm, act), (act, add), (previous, add)])
        previous = add
    g.add_node("lossfn", kind="op", label="MseLossBackward0", module="")
    g.add_node("out0", kind="output", label="loss", shape=())
    g.add_edges_from([(previous, "lossfn"), ("lossfn", "out0")])
    g.graph["roots"] = ["out0"]
    return g


@pytest.fixture
def view(qtbot):
    return shown_graph_view(qtbot)


def show(qtbot, view, graph, **kwargs):
    with qtbot.waitSignal(view.ready, timeout=20000):
        view.set_graph(graph, **kwargs)


def scene_rects(view):
    m = view.item.model
    return {k: (m.x0[i], m.y0[i], m.x1[i], m.y1[i]) for i, k in enumerate(m.keys)}


# ---------------------------------------------------------------------------
# widget contract


def test_object_names_and_actions(view):
    assert view.objectName() == "graphView"
    for name in ("graphSearch", "collapseDepthSpin", "nodeDetails", "graphFit", "graphExpandAll", "graphSearchNext", "graphSearchPrev"):
        assert view.findChild(object, name) is not None, name
    action = view.findChild(QAction, "actionExportGraph")
    assert action is not None and action.shortcut() == QKeySequence("Ctrl+E")
    assert view.node_count() == 0


def test_lenet_layout_invariants_in_the_scene(qtbot, view, lenet_graph):
    show(qtbot, view, lenet_graph)
    assert view.node_count() == lenet_graph.number_of_nodes()
    model = view.item.model
    assert len(model) == lenet_graph.number_of_nodes()
    rects = scene_rects(view)
    # every edge goes down: the target box starts below the source box
    for u, v in lenet_graph.edges:
        assert rects[v][1] > rects[u][3], (u, v)
    # no two boxes overlap
    boxes = np.array(list(rects.values()))
    for i in range(len(boxes)):
        others = np.delete(boxes, i, axis=0)
        a = boxes[i]
        overlap = (others[:, 0] < a[2]) & (a[0] < others[:, 2]) & (others[:, 1] < a[3]) & (a[1] < others[:, 3])
        assert not overlap.any()
    # every edge's arrow ends on its target's top side
    for e, (s, d) in enumerate(zip(model.src, model.dst)):
        assert model.y0[d] == pytest.approx(model.ey[e])
        assert model.x0[d] <= model.ex[e] <= model.x1[d]
    # deterministic: the same graph again gives the same positions
    first = view.node_positions()
    show(qtbot, view, lenet_graph)
    assert view.node_positions() == first
    # labels: ops by autograd class, params by name and shape (as torchviz), on one line
    texts = {k: [" ".join(t.split(NAME_SHAPE_SEPARATOR)) for t, _ in model.lines[i]] for i, k in enumerate(model.keys)}
    param = next(k for k, a in lenet_graph.nodes(data=True) if a.get("name") == "fc1.weight")
    assert texts[param] == ["fc1.weight (120, 400)"]
    assert ["AddmmBackward0"] in texts.values()


def test_tooltip_names_label_kind_shape_module(qtbot, view, lenet_graph):
    show(qtbot, view, lenet_graph)
    # hovering a node marks it
    loss = view.node_rect("out0").center()
    qtbot.mouseMove(view.canvas.viewport(), view.canvas.mapFromScene(loss))
    qtbot.waitUntil(lambda: view.item.model.hover == view.item.model.index["out0"], timeout=2000)
    addmm = next(k for k, a in lenet_graph.nodes(data=True) if a.get("label") == "AddmmBackward0" and a.get("module") == "fc1")
    text = view.tooltip_text(addmm)
    assert "AddmmBackward0" in text and "kind: op" in text and "module: fc1" in text
    weight = next(k for k, a in lenet_graph.nodes(data=True) if a.get("name") == "conv1.weight")
    text = view.tooltip_text(weight)
    assert "conv1.weight" in text and "(6, 1, 5, 5)" in text and "module: conv1" in text
    # the scene's tooltip lookup finds the node under a point
    rect = view.node_rect(weight)
    found = view._tooltip_at(rect.center())
    assert found is not None and "conv1.weight" in found[0]


def test_collapse_expand_round_trip_is_animated_and_restores_positions(qtbot, view, lenet_graph):
    view.animations_enabled = True
    show(qtbot, view, lenet_graph)
    original = view.node_positions()
    n = lenet_graph.number_of_nodes()
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.collapse_module("fc1")
        assert not view.is_ready()  # layout, then a short morph
    assert view.node_count() == n - 4 + 1
    assert view.shown_key(next(k for k, a in lenet_graph.nodes(data=True) if a.get("name") == "fc1.bias")) == box_key("fc1")
    box_lines = view.item.model.lines[view.item.model.index[box_key("fc1")]]
    assert [t for t, _ in box_lines] == ["fc1", "4 nodes"]
    assert view.collapsed_modules() == frozenset({"fc1"})
    # the collapsed graph keeps the layout invariants too
    rects = scene_rects(view)
    for u, v in view.shown_graph().edges:
        assert rects[v][1] > rects[u][3]

    morph_sizes = []
    view._morph.valueChanged.connect(lambda _: morph_sizes.append(len(view.item.model)))
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.expand_module("fc1")
    assert morph_sizes and max(morph_sizes) == n + 1  # union of both states while morphing
    assert view.node_count() == n
    assert view.node_positions() == original
    assert len(view.item.model) == n and (view.item.model.alpha == 1).all()


def test_collapse_to_depth_and_spin_box(qtbot, view):
    graph = modular_graph(12)
    show(qtbot, view, graph)
    n = graph.number_of_nodes()
    spin = view.depth_spin
    assert spin.isEnabled() and spin.maximum() == 3 and spin.value() == 0
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.collapse_to_depth(1)
    assert view.collapsed_modules() == frozenset({"blocks"})
    assert view.node_count() == 4  # x, the blocks box, the loss op, the output
    assert spin.value() == 1
    with qtbot.waitSignal(view.ready, timeout=10000):
        spin.setValue(2)
    assert view.collapsed_modules() == frozenset(f"blocks.{b}" for b in range(12))
    # the 12 alike blocks are folded into one box; double-clicking it shows them
    fold = fold_key("blocks", 0, 11)
    assert view.folds() == [fold] and view.node_count() == 4
    assert view.shown_graph().nodes[fold]["label"] == "blocks.0 … blocks.11  ×12"
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.canvas.nodeDoubleClicked.emit(view.item.model.index[fold])
    assert view.folds() == []
    assert view.node_count() == shown_count(graph, modules_at_depth(graph, 2)) == 12 + 3
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.expand_all()
    assert view.node_count() == n and spin.value() == 0
    # double-clicking a box opens it, double-clicking a node closes its module
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.collapse_to_depth(2)
    index = view.item.model.index[box_key("blocks.3")]
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.canvas.nodeDoubleClicked.emit(index)
    assert box_key("blocks.3") not in view.shown_graph()
    assert view.node_count() == 12 + 3 - 1 + 6
    index = view.item.model.index["blocks.3.mm"]
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.canvas.nodeDoubleClicked.emit(index)
    assert box_key("blocks.3.fc") in view.shown_graph()


def test_search_next_previous_and_param_path(qtbot, view, lenet_graph):
    show(qtbot, view, lenet_graph)
    count = view.search("CONV")  # case-insensitive; labels and parameter names
    names = {lenet_graph.nodes[k].get("name") or lenet_graph.nodes[k]["label"] for k in view.search_matches()}
    assert count == 6
    assert names == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "ConvolutionBackward0"}
    first = view.current_match()
    # matches run top to bottom through the drawing
    ys = [view.node_positions()[k][1] for k in view.search_matches()]
    assert ys == sorted(ys)
    assert view.search_next() == view.search_matches()[1]
    assert view.search_previous() == first
    assert view.search_previous() == view.search_matches()[-1]  # wraps
    # Enter / Shift+Enter in the search box
    box = view.findChild(object, "graphSearch")
    qtbot.keyClick(box, Qt.Key_Return)
    assert view.current_match() == first
    qtbot.keyClick(box, Qt.Key_Return)
    qtbot.keyClick(box, Qt.Key_Return, Qt.ShiftModifier)
    assert view.current_match() == first
    assert view.findChild(object, "graphSearchCount").text() == "1 / 6"
    # the view is centred on the match
    centre = view.canvas.visible_scene_rect().center()
    assert (centre - view.node_rect(first).center()).manhattanLength() < 2
    assert view.item.model.matched.sum() == 6

    # a parameter: its path to the loss lights up
    assert view.search("fc2.weight") == 1
    weight = view.current_match()
    nodes, edges = view.path_highlight()
    labels = sorted(lenet_graph.nodes[k]["label"] for k in nodes)
    assert weight in nodes and "out0" in nodes
    assert labels.count("AddmmBackward0") == 2  # fc2's and fc3's
    assert "ConvolutionBackward0" not in labels and "MseLossBackward0" in labels
    assert all(nx.has_path(lenet_graph, weight, u) and nx.has_path(lenet_graph, v, "out0") for u, v in edges)
    model = view.item.model
    assert model.path_active and model.path_nodes.sum() == len(nodes) and model.path_edges.sum() == len(edges)
    assert view.search("no such node") == 0
    assert view.findChild(object, "graphSearchCount").text() == "no match"


def test_ctrl_f_focuses_search(qtbot, view, lenet_graph):
    show(qtbot, view, lenet_graph)
    view.activateWindow()
    view.canvas.setFocus()
    qtbot.waitUntil(view.canvas.hasFocus, timeout=2000)
    assert view.find_action.shortcut() == QKeySequence.keyBindings(QKeySequence.Find)[0]
    view.find_action.trigger()
    qtbot.waitUntil(view.search_box.hasFocus, timeout=2000)


def test_click_shows_details_and_links_navigate(qtbot, view, lenet_graph):
    show(qtbot, view, lenet_graph)
    addmm = next(k for k, a in lenet_graph.nodes(data=True) if a.get("label") == "AddmmBackward0" and a.get("module") == "fc2")
    view.center_on(addmm, animate=False)
    point = view.canvas.mapFromScene(view.node_rect(addmm).center())
    with qtbot.waitSignal(view.nodeClicked, timeout=2000) as signal:
        qtbot.mouseClick(view.canvas.viewport(), Qt.LeftButton, pos=point)
    assert signal.args == [addmm]
    assert view.selected_node() == addmm
    text = view.details.toPlainText()
    assert "AddmmBackward0" in text and "fc2" in text
    assert "Inputs (3)" in text and "fc2.bias" in text and "Outputs (1)" in text
    assert "Saved tensors" in text and "mat1" in text  # saved tensors recorded
    assert "run backward" in text
    view.set_gradient_stats({addmm: {"norm": 0.125, "mean": -0.5, "max": 2.0}})
    text = view.details.toPlainText()
    assert "norm" in text and "0.125" in text
    # a neighbour link selects that node
    bias = next(k for k, a in lenet_graph.nodes(data=True) if a.get("name") == "fc2.bias")
    view.details.anchorClicked.emit(QUrl(f"node:{bias}"))
    assert view.selected_node() == bias
    assert "fc2.bias" in view.details.toPlainText()
    # empty space clears the selection
    view.canvas.nodeClicked.emit(-1)
    assert view.selected_node() is None


def test_collapsed_box_details_and_expand_link(qtbot, view, lenet_graph):
    show(qtbot, view, lenet_graph)
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.collapse_module("conv2")
    view.select_node(box_key("conv2"))
    text = view.details.toPlainText()
    assert "conv2" in text and "collapsed module" in text and "conv2.weight" in text and "ConvolutionBackward0" in text
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.details.anchorClicked.emit(QUrl("expand:conv2"))
    assert view.node_count() == lenet_graph.number_of_nodes()


def test_export_every_format(qtbot, view, lenet_graph, tmp_path):
    show(qtbot, view, lenet_graph)
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.collapse_module("fc1")
    for name in ("g.png", "g.svg", "g.dot", "g.graphml", "g.json"):
        view.export(tmp_path / name)
    png = (tmp_path / "g.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    svg = ET.parse(tmp_path / "g.svg").getroot()
    assert svg.tag.endswith("svg")
    assert "AddmmBackward0" in (tmp_path / "g.svg").read_text()
    graphml = nx.read_graphml(tmp_path / "g.graphml")
    assert graphml.number_of_nodes() == view.node_count()
    data = json.loads((tmp_path / "g.json").read_text())
    assert len(data["nodes"]) == view.node_count()
    assert "digraph" in (tmp_path / "g.dot").read_text()
    view.export(tmp_path / "picture", fmt="png")
    assert (tmp_path / "picture").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError):
        view.export(tmp_path / "g.bmp")


def test_training_animation_api(qtbot, view, lenet_graph):
    show(qtbot, view, lenet_graph)
    model = view.item.model
    keys = list(lenet_graph.nodes)
    view.highlight_nodes(keys[:2], "active")
    view.highlight_nodes(keys[2:4], "visited")
    assert [model.role[model.index[k]] for k in keys[:5]] == [2, 2, 1, 1, 0]
    view.highlight_nodes(keys[:1], None)
    assert model.role[model.index[keys[0]]] == 0
    view.flag_nodes([keys[5]])
    assert model.flagged[model.index[keys[5]]]
    u, v = next(iter(lenet_graph.edges))
    view.set_edge_weights({(u, v): 3.0})
    e = model.edge_index[(model.index[u], model.index[v])]
    assert model.edge_weight[e] == 3.0 and np.isnan(model.edge_weight).sum() == len(model.src) - 1
    assert not view.grab().isNull()  # paints (synchronously) with every state
    view.clear_highlights()
    assert not model.role.any() and not model.flagged.any() and np.isnan(model.edge_weight).all()

    view.hide_all_nodes()
    assert view.hidden_count() == len(keys)
    view.reveal_nodes(keys[:3])
    assert view.hidden_count() == len(keys) - 3
    assert model.node_at(*view.node_rect(keys[5]).center().toTuple()) == -1  # hidden nodes cannot be hit

    # state follows nodes into collapsed boxes and back
    fc1 = [k for k, a in lenet_graph.nodes(data=True) if a.get("module") == "fc1" or (a.get("name") or "").startswith("fc1.")]
    view.show_all_nodes()
    view.highlight_nodes(fc1[:1], "active")
    view.flag_nodes(fc1[1:2])
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.collapse_module("fc1")
    box = view.item.model.index[box_key("fc1")]
    assert view.item.model.role[box] == 2 and view.item.model.flagged[box]
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.expand_all()
    assert view.item.model.role[view.item.model.index[fc1[0]]] == 2

    view.center_on(keys[-1], animate=False)
    centre = view.canvas.visible_scene_rect().center()
    assert (centre - view.node_rect(keys[-1]).center()).manhattanLength() < 2
    with pytest.raises(ValueError):
        view.highlight_nodes(keys[:1], "bogus")


def test_revealed_nodes_fade_in(qtbot, view, lenet_graph):
    view.animations_enabled = True
    show(qtbot, view, lenet_graph)
    model = view.item.model
    view.hide_all_nodes()
    view.reveal_nodes(["n0", "n1"])
    i = model.index["n0"]
    assert not model.hidden[i] and model.alpha[i] < 0.2
    qtbot.waitUntil(lambda: model.alpha[i] == 1.0, timeout=3000)
    view.show_all_nodes()
    assert view.hidden_count() == 0


def test_zoom_keys_fit_and_minimap(qtbot, view):
    graph = modular_graph(60)
    show(qtbot, view, graph)  # over 150 nodes: opens collapsed; expanding re-fits
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.expand_all()
    canvas = view.canvas
    fitted = canvas.scale_factor()
    assert fitted < 1.0  # a tall graph is fitted small
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key_Plus)
    assert canvas.scale_factor() == pytest.approx(fitted * 1.25)
    qtbot.keyClick(canvas, Qt.Key_Minus)
    qtbot.keyClick(canvas, Qt.Key_Minus)
    assert canvas.scale_factor() == pytest.approx(fitted / 1.25)
    qtbot.keyClick(canvas, Qt.Key_0)
    assert canvas.scale_factor() == pytest.approx(1.0)
    # the wheel zooms around the cursor
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(canvas.viewport().rect().center())
    wheel = QWheelEvent(centre, canvas.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), wheel)
    assert canvas.scale_factor() == pytest.approx(1.2)
    qtbot.keyClick(canvas, Qt.Key_0)
    assert view.minimap.isVisible()  # at 100 % the graph does not fit
    # clicking the minimap's bottom jumps to the end of the graph
    qtbot.mouseClick(view.minimap, Qt.LeftButton, pos=QPoint(view.minimap.width() // 2, view.minimap.height() - 8))
    assert canvas.visible_scene_rect().center().y() > view.node_positions()["x"][1] + 1000
    qtbot.keyClick(canvas, Qt.Key_F)
    assert canvas.scale_factor() == pytest.approx(fitted)
    assert not view.minimap.isVisible()
    # both levels of detail paint
    image = view.grab()
    assert not image.isNull()


def test_graph_laid_out_while_hidden_is_fitted_when_shown(qtbot, lenet_graph):
    widget = GraphView()
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.ready, timeout=20000):
        widget.set_graph(lenet_graph)
    widget.resize(1000, 700)
    widget.show()
    qtbot.waitExposed(widget)
    left, top, right, bottom = widget._layout.node_bounds()
    from PySide6.QtCore import QRectF

    wanted = widget.canvas.fit_scale(QRectF(left, top, right - left, bottom - top))
    qtbot.waitUntil(lambda: widget.zoom_level() == pytest.approx(wanted), timeout=2000)
    # once the user zooms, resizing no longer refits
    widget.canvas.setFocus()
    qtbot.keyClick(widget.canvas, Qt.Key_Plus)
    zoomed = widget.zoom_level()
    with qtbot.waitSignal(widget.canvas.viewChanged, timeout=5000):
        widget.resize(900, 650)
    process_posted_events(qtbot)  # a refit the resize scheduled would have run by now
    assert widget.zoom_level() == pytest.approx(zoomed)


def test_large_graph_loads_without_blocking(qtbot, view, monkeypatch):
    graph = modular_graph(840)  # 5k nodes
    assert graph.number_of_nodes() > 5000
    with qtbot.waitSignal(view.ready, timeout=30000):
        view.set_graph(graph)
    # big graphs with module information open collapsed to a readable depth
    assert view.collapsed_modules() and view.node_count() < 200
    assert view.depth_spin.value() >= 1

    # expanding lays out all 5k nodes in the background: the event loop keeps running.
    # The layout waits, in its worker thread, until a GUI timer tick says "still not
    # ready": that can only happen if the GUI thread runs while the layout is under way,
    # however fast or slow the machine.
    import threading

    from gradviz.ui.graph_view import layout_pipeline as view_module

    gui_ran = threading.Event()
    seen = {}
    real_layout = view_module.compute_layout

    def gated_layout(*args, **kwargs):
        seen["worker_thread"] = threading.current_thread() is not threading.main_thread()
        seen["gui_ran_meanwhile"] = seen["worker_thread"] and gui_ran.wait(30)
        return real_layout(*args, **kwargs)

    monkeypatch.setattr(view_module, "compute_layout", gated_layout)
    timer = QTimer()
    timer.timeout.connect(lambda: gui_ran.set() if not view.is_ready() else None)
    timer.start(5)
    view.expand_all()
    assert not view.is_ready()
    assert view.progress_panel.isVisible()
    assert view.wait_until_ready(60000)
    timer.stop()
    assert seen == {"worker_thread": True, "gui_ran_meanwhile": True}
    assert not view.progress_panel.isVisible()
    assert view.node_count() == graph.number_of_nodes()


def test_newer_graph_cancels_older_layout(qtbot, view, lenet_graph):
    big = modular_graph(840)
    view.set_graph(big, positions=None)
    with qtbot.waitSignal(view.ready, timeout=20000):
        view.set_graph(lenet_graph)
    assert view.node_count() == lenet_graph.number_of_nodes()
    from gradviz.ui.worker import wait_for_idle

    assert wait_for_idle(20000)  # the older layout ended (cancelled or not) ...
    process_posted_events(qtbot)  # ... and whatever it posted to the GUI thread was delivered
    assert view.node_count() == lenet_graph.number_of_nodes()
    assert view.graph() is lenet_graph


def test_given_positions_skip_layout_and_empty_graph(qtbot, view):
    graph = modular_graph(3)
    positions = {k: (100.0 * i, 80.0 * i) for i, k in enumerate(graph.nodes)}
    show(qtbot, view, graph, positions=positions)
    assert view.node_positions() == positions
    show(qtbot, view, None)
    assert view.node_count() == 0
    show(qtbot, view, nx.DiGraph())
    assert view.node_count() == 0


def _edges_through_boxes(model):
    """Edges of the shown model whose drawn route enters a box other than its two ends."""
    from gradviz.core.routes import route_points

    low = np.stack([model.x0, model.y0], axis=1) + 0.5
    high = np.stack([model.x1, model.y1], axis=1) - 0.5
    bad = []
    for e, route in enumerate(model.routes):
        pts = np.asarray(route_points(route), dtype=float)
        inside = ((pts[:, None, :] > low[None]) & (pts[:, None, :] < high[None])).all(axis=2).any(axis=0)
        inside[[model.src[e], model.dst[e]]] = False
        if inside.any():
            bad.append((model.keys[model.src[e]], model.keys[model.dst[e]]))
    return bad


def test_edges_are_drawn_along_routes_around_the_boxes(qtbot, view, lenet_graph):
    """At rest every edge follows its route (no box crossed); while boxes morph, plain curves."""
    view.animations_enabled = True
    show(qtbot, view, lenet_graph)
    model = view.item.model
    assert model.routed and len(model.routes) == len(model.src)
    assert _edges_through_boxes(model) == []
    for e in range(len(model.src)):  # each route starts on its source box and ends on its target box
        (x, y, _), (ex, _, ey) = model.routes[e][0], model.routes[e][-1]
        s, d = model.src[e], model.dst[e]
        assert model.x0[s] <= x <= model.x1[s] and y == pytest.approx(model.y1[s])
        assert model.x0[d] <= ex <= model.x1[d] and ey == pytest.approx(model.y0[d])
    routed_while_morphing = []
    view._morph.valueChanged.connect(lambda _: routed_while_morphing.append(view.item.model.routed))
    with qtbot.waitSignal(view.ready, timeout=10000):
        view.collapse_module("fc1")
    assert routed_while_morphing and not any(routed_while_morphing[:-1])
    assert view.item.model.routed and _edges_through_boxes(view.item.model) == []
    view.grab()  # paints every edge along its route (detail and overview paths)
    view.canvas.scale(0.1, 0.1)
    view.grab()


def test_zoomed_out_names_beside_boxes_stay_inside_the_pane(qtbot):
    """A BiLSTM's 16 parameters in a small pane: at fit the view is zoomed out
    and names go beside the boxes. The outermost were drawn past the pane's edge and
    cut ("_ih_l0 (48, 8)", "lstm.bias_hh_l"): each name now fits whole (shortened if
    need be) or is left out."""
    import torch
    from torch import nn

    import gradviz
    from gradviz.ui.graph_view.items import GraphItem

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(40, 8)
            self.lstm = nn.LSTM(8, 12, num_layers=2, bidirectional=True, batch_first=True)
            self.tag = nn.Linear(24, 5)

        def forward(self, x):
            return torch.log_softmax(self.tag(self.lstm(self.embed(x))[0]), -1)

    graph = gradviz.trace_model(Tagger(), torch.randint(0, 40, (2, 7)), loss_fn=lambda o: o.pow(2).mean()).graph
    view = shown_graph_view(qtbot, (520, 380))
    view.set_graph(graph)
    qtbot.waitUntil(view.is_ready, timeout=10_000)
    item = next(it for it in view.canvas.scene().items() if isinstance(it, GraphItem))
    viewport = view.canvas.viewport()

    zoom = [1.0]

    def drawn_beside():
        """Fitted and painted at the pane's final size (on a loaded machine it settles late),
        then zoomed out step by step until names go beside the boxes: how far out that is
        depends on the text size, which tests run before may have left larger or smaller."""
        view.fit_to_window(animate=False)
        if zoom[0] < 1.0:
            view.zoom_by(zoom[0])
        viewport.repaint()
        if len(item.overview_labels) > 5:
            return True
        zoom[0] = max(zoom[0] * 0.85, 0.3)
        return False

    qtbot.waitUntil(drawn_beside, timeout=10_000)
    pane = viewport.rect()
    outside = [(key, text) for key, rect, text in item.overview_labels if not pane.contains(rect.toAlignedRect())]
    assert outside == []
    assert any(text.startswith("embed.weight") for _, _, text in item.overview_labels)


def test_a_name_beside_its_box_is_shortened_to_the_room_the_pane_leaves(qtbot):
    from PySide6.QtCore import QRectF
    from PySide6.QtGui import QFont, QFontMetricsF

    from gradviz.ui.graph_view.items import _Occupancy, beside_box

    metrics = QFontMetricsF(QFont())
    pane = QRectF(0, 0, 500, 300)
    text = "encoder.layers.3.attention.query.weight" + NAME_SHAPE_SEPARATOR + "(64, 64)"
    taken = _Occupancy()
    taken.add(QRectF(0, 95, 290, 20))  # the left side is full
    box = QRectF(300, 100, 20, 10)
    rect, shown = beside_box(text, text, box, pane, metrics, taken)
    assert pane.contains(rect) and rect.left() > box.right()
    assert "…" in shown and shown.startswith("encoder") and shown.endswith("weight"), shown
    assert metrics.horizontalAdvance(shown) <= pane.right() - box.right()
    # room for the whole text on the right: it is shown whole
    assert beside_box(text, text, QRectF(20, 200, 20, 10), pane, metrics, _Occupancy())[1] == text
    # no room at all on either side: left out rather than cut
    assert beside_box(text, text, QRectF(485, 100, 10, 10), pane, metrics, taken) is None


def test_names_beside_boxes_are_those_the_last_paint_drew(qtbot, view, lenet_graph):
    """``overview_labels`` lists what the last paint put beside the boxes: none once a paint
    draws the boxes with their text inside (zoomed in). It kept the names of an earlier
    paint, which made checks of the picture read labels that were no longer drawn."""
    show(qtbot, view, lenet_graph)
    viewport = view.canvas.viewport()
    view.zoom_by(0.2)  # zoomed out: names beside the boxes
    viewport.repaint()
    assert view.item.overview_labels
    view.zoom_by(25.0)  # zoomed in: text inside the boxes
    viewport.repaint()
    assert view.item.overview_labels == []


def test_a_zoomed_out_box_of_one_call_says_how_many_nodes_it_holds_in_words(qtbot, view):
    """Beside a box of one call of a shared module the count read "layer.relu (call 1) (3)":
    a third number in parentheses. It reads "… (call 1) · 3 nodes", as inside the box."""
    import torch
    from torch import nn

    import gradviz
    from gradviz.core import collapse as c

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.relu = nn.Linear(4, 4), nn.Linear(4, 4), nn.ReLU()

        def forward(self, x):
            return self.relu(self.fc2(self.relu(self.fc1(x))))  # one relu, called twice

    torch.manual_seed(0)
    graph = gradviz.trace_model(nn.Sequential(Block(), Block()), torch.randn(2, 4), loss_fn=lambda o: o.pow(2).mean()).graph
    show(qtbot, view, graph)
    with qtbot.waitSignal(view.ready, timeout=30_000):
        view.collapse_to_depth(2)
    assert any(c.box_call(key) for key in view.shown_graph())
    view.zoom_by(0.15)  # zoomed out: names beside the boxes
    view.canvas.viewport().repaint()
    texts = [text for _, _, text in view.item.overview_labels]
    calls = [text for text in texts if "(call" in text]
    assert calls and all(re.fullmatch(r".+ \(call \d+\) · \d+ nodes", text) for text in calls), texts
