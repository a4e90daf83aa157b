"""The Diagnostics dock: flags, norm by depth and update ratios of the recorded
iteration, kept on the window's active session; a flag selects its graph nodes."""
import gc

import pytest
import torch
import torch.nn as nn

from gradviz.core import diagnostics as dg
from gradviz.core.session import TrainingSession

TIMEOUT = 30_000


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow

    gc.collect()  # on the GUI thread: see the window fixture in test_training_ui.py
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    win.load_preset("lenet")
    win.training_ui.set_speed(1000)
    yield win
    win.training_ui.controller.pause()
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(20_000)


def _run_iteration(window, qtbot):
    ui = window.training_ui
    before = len(window.session.history)
    assert window.actions["actionRunIteration"].isEnabled()
    window.actions["actionRunIteration"].trigger()
    qtbot.waitUntil(lambda: len(window.session.history) == before + 1 and ui.controller.is_idle()
                    and not ui.gradients.morphing, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.diagnostics_panel.record is window.session.history[-1], timeout=TIMEOUT)


def _sigmoid_record():
    torch.manual_seed(0)
    layers = []
    for i in range(10):
        layers += [nn.Linear(32 if i else 8, 32), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(32, 1))
    return TrainingSession(model, inputs=torch.randn(16, 8)).run_iteration()


def test_dock_follows_the_session_and_says_when_out_of_date(window, qtbot):
    dock = window.panels["diagnosticsDock"]
    panel = window.diagnostics_panel
    assert dock.widget() is panel and dock.windowTitle() == "Diagnostics"
    dock.show()
    dock.raise_()
    assert panel.record is None and "No iteration recorded yet" in panel.status.text()

    _run_iteration(window, qtbot)
    assert panel.flag_messages() == [panel.flags.item(0).text()] and panel.flag_messages()[0].startswith("✓ No problems")
    assert panel.status.text().startswith("Iteration 0 · 0 flags · first/last layer ‖grad‖ ratio")
    _run_iteration(window, qtbot)
    assert panel.status.text().startswith("Iteration 1 ")
    assert len(panel._earlier) == 1  # the first iteration, drawn faintly behind
    history = window.training_ui.history
    assert history.show_iteration(0)  # looking back: the panel follows
    assert panel.record is window.session.history[0] and panel.status.text().startswith("Iteration 0 ")
    history.go_live()
    assert panel.record is window.session.history[-1]

    old_session = window.session
    window.load_preset("mlp")  # another network: a new session after the debounce
    qtbot.waitUntil(lambda: window.session is not old_session and panel.stale, timeout=TIMEOUT)
    assert panel.status.text().startswith("Out of date (the network changed)")
    assert panel.record is old_session.history[-1]  # still visible, marked


def test_a_flag_selects_its_nodes_in_the_main_windows_graph(window, qtbot):
    panel = window.diagnostics_panel
    window.panels["diagnosticsDock"].raise_()
    window.session.set_lr(50.0)  # kept setting: same session, huge updates
    _run_iteration(window, qtbot)
    [flag] = panel.diagnostics().flags_of(dg.UPDATE_TOO_LARGE)
    assert panel.flag_messages()[0] == f"⚠ {flag.message}"
    view = window.graph_view
    qtbot.waitUntil(lambda: view.graph() is not None and view.is_ready(), timeout=TIMEOUT)
    row = panel.diagnostics().flags.index(flag)
    panel.click_flag(row)
    selected = view.selected_node()
    assert selected == flag.nodes[0]
    assert view.graph().nodes[selected]["name"] in flag.params
    assert window.statusBar().currentMessage().startswith(f"Selected {view.graph().nodes[selected]['name']}")
    panel.click_flag(row)  # again: the flag's next node
    assert view.selected_node() == flag.nodes[1]


def test_panel_shows_a_vanishing_flag_and_emits_its_nodes(qtbot):
    from gradviz.ui.diagnostics_view import DiagnosticsPanel

    panel = DiagnosticsPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 300)
    panel.show()
    record = _sigmoid_record()
    panel.show_record(record)
    messages = panel.flag_messages()
    assert messages[0].startswith("⚠ Vanishing gradients: first layer 0 ‖grad‖")
    with qtbot.waitSignal(panel.nodesRequested) as signal:
        panel.click_flag(0)
    keys = signal.args[0]
    assert {record.graph.nodes[k]["name"] for k in keys} == {"0.weight", "0.bias", "20.weight", "20.bias"}
    with qtbot.waitSignal(panel.nodesRequested) as again:
        panel.click_flag(0)
    assert again.args[0] == keys[1:] + keys[:1]  # the next node comes first
    # The depth plot has one point per layer, the ratio plot one per parameter with a ratio.
    depth_points = sum(len(item.xData) for item in panel.depth_plot.listDataItems())
    assert depth_points == len(record.diagnostics.layer_norms) == 11
    ratio_points = sum(len(item.xData) for item in panel.ratio_plot.listDataItems())
    assert ratio_points == len(record.diagnostics.update_ratios)


def test_select_nodes_in_a_graph_view(qtbot):
    from gradviz.ui.diagnostics_view import select_nodes
    from gradviz.ui.graph_view import GraphView

    record = _sigmoid_record()
    view = GraphView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.set_graph(record.graph)
    qtbot.waitUntil(view.is_ready, timeout=TIMEOUT)
    [flag] = record.diagnostics.flags_of(dg.VANISHING)
    assert select_nodes(view, list(flag.nodes)) == 4
    assert view.selected_node() == flag.nodes[0]
    assert select_nodes(view, ["no-such-node"]) == 0


def test_plots_follow_the_theme(qtbot):
    from gradviz.ui import theme
    from gradviz.ui.diagnostics_view import DiagnosticsPanel

    panel = DiagnosticsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_record(_sigmoid_record())
    app = __import__("PySide6.QtWidgets", fromlist=["QApplication"]).QApplication.instance()
    before = theme.current_theme()
    other = next(name for name in theme.THEMES if theme.colours(name)["base"] != theme.colours(before)["base"])
    try:
        theme.apply(app, other, theme.current_scale())
        expected = theme.colours(other)["base"].lower()
        qtbot.waitUntil(lambda: panel.plot_widgets["normByDepthPlot"].backgroundBrush().color().name() == expected,
                        timeout=5000)
    finally:
        theme.apply(app, before, theme.current_scale())


def test_flags_and_plots_stack_in_a_tall_column_and_stand_side_by_side_in_a_wide_dock(qtbot):
    """In the column beside the graph (~450 px wide) the flags and the two plots
    stack, each whole inside the panel: side by side the update-ratio plot was cut
    at the window's edge. In a wide dock they stand side by side again."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QApplication

    from gradviz.ui.diagnostics_view import DiagnosticsPanel

    panel = DiagnosticsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_record(_sigmoid_record())
    for size, stacked in (((446, 611), True), ((1200, 300), False), ((446, 567), True)):
        panel.resize(*size)
        qtbot.waitUntil(lambda: panel.stacked == stacked, timeout=5000)
        QApplication.processEvents()
        parts = [panel.flags, *panel.plot_widgets.values()]
        for part in parts:
            rect = QRect(part.mapTo(panel, QPoint(0, 0)), part.size())
            assert panel.rect().contains(rect), (size, part.objectName(), rect)
            assert part.height() >= 80 and part.width() >= 140, (size, part.objectName(), part.size())
