"""Debugging in the window: an op's source line in the details panel (Open in editor, search by
file:line), Run → Find first NaN (on request and when the loss turns non-finite), and an opened
model whose forward crashes shown as the graph up to the failed op."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from failing_models import LOGNET_LOG_LINE, LOGNET_SOURCE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    yield win
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(30_000)
    import gc

    gc.unfreeze()


def open_in_window(qtbot, window, request):
    from gradviz.ui.user_model.opener import model_opener, open_model_in_window

    failures = []
    open_model_in_window(window, request, on_failed=lambda exc, details: failures.append(exc))
    opener = model_opener(window)
    qtbot.waitUntil(lambda: opener.session is not None or bool(failures), timeout=60_000)
    return opener, failures


def wait_for_graph(qtbot, window, graph=None):
    qtbot.waitUntil(lambda: window.has_graph_view and window.graph_view.graph() is not None
                    and (graph is None or window.graph_view.graph() is graph), timeout=30_000)
    view = window.graph_view
    qtbot.waitUntil(view.is_ready, timeout=30_000)
    return view


def line_of(marker: str, path: Path) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if marker in text)


def test_details_panel_shows_the_source_line_and_opens_the_editor(qtbot, window, monkeypatch):
    from gradviz.core.user_model import UserModelRequest
    from gradviz.ui import source_editor

    path = EXAMPLES / "transformer_block.py"
    scores = line_of("scores = q @ k.transpose(-2, -1)", path)
    opener, failures = open_in_window(qtbot, window, UserModelRequest(
        path, name="TinyTransformer", input_expression="torch.randint(0, 100, (2, 8))", loss="cross_entropy"))
    assert not failures
    view = wait_for_graph(qtbot, window, opener.opened.graph)
    graph = view.graph()

    # Ctrl+F "transformer_block.py:<line>" finds the nodes made at that line
    from gradviz.core.display.graph_search import find_matches

    found = find_matches(graph, f"transformer_block.py:{scores}")
    assert found and all(graph.nodes[k]["source"]["line"] == scores for k in found)
    view.search(f"transformer_block.py:{scores}")  # what typing it into the Ctrl+F box does
    assert sorted(view.search_matches()) == sorted(found)
    div = next(k for k in found if graph.nodes[k]["label"] == "DivBackward0")
    view.select_node(div, center=True)
    text = view.details.toPlainText()
    assert f"transformer_block.py:{scores} in forward" in text and "Open in editor" in text
    assert "scores = q @ k.transpose(-2, -1)" in text
    assert f"{scores - 1}" in text and f"{scores + 1}" in text  # a few lines of context

    started = []
    monkeypatch.setenv("EDITOR", "myeditor --wait")
    monkeypatch.setattr(source_editor.subprocess, "Popen", lambda cmd, **kw: started.append(cmd))
    from gradviz.ui.graph_view.details import source_link
    from PySide6.QtCore import QUrl

    view.details.anchorClicked.emit(QUrl(source_link(str(path), scores)))
    assert started == [["myeditor", "--wait", f"+{scores}", str(path)]]

    monkeypatch.delenv("EDITOR")
    monkeypatch.delenv("VISUAL", raising=False)
    opened_urls = []
    monkeypatch.setattr(source_editor.QDesktopServices, "openUrl", lambda url: opened_urls.append(url) or True)
    view.details.anchorClicked.emit(QUrl(source_link(str(path), scores)))
    assert [u.toLocalFile() for u in opened_urls] == [str(path)]

    shot = Path("/tmp/d17_details.png")
    window.grab().save(str(shot))


class LogNet(nn.Module):
    """Finite for a few steps at most: log of a ReLU output that is exactly 0."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            self.fc.bias.fill_(-50.0)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        return torch.log(h)  # @log-line


def test_find_first_nan_from_the_run_menu_and_automatically(qtbot, window, tmp_path):
    from gradviz.core.user_model import UserModelRequest

    path = tmp_path / "lognet.py"
    path.write_text(LOGNET_SOURCE)
    opener, failures = open_in_window(qtbot, window, UserModelRequest(path, input_shapes="2, 4"))
    assert not failures
    wait_for_graph(qtbot, window, opener.opened.graph)
    action = window.actions["actionFindFirstNan"]
    assert action.objectName() == "actionFindFirstNan" and action in window.menus["run"].actions()
    assert ("Find first NaN", "Ctrl+Shift+N") in [(n.replace("&", ""), k) for n, k in window.shortcut_rows()]

    finder = window.nan_finder
    reports = []
    finder.reportReady.connect(reports.append)
    action.trigger()
    qtbot.waitUntil(lambda: bool(reports), timeout=30_000)
    report = reports[-1]
    view = window.graph_view
    key = report.first.key
    assert report.graph.nodes[key]["label"] == "LogBackward0"
    # the graph shown is the opened model's, the same graph: its node is flagged and selected
    qtbot.waitUntil(lambda: key in view.flagged_nodes() and view.selected_node() == key, timeout=30_000)
    assert view.graph() is opener.opened.graph
    text = view.details.toPlainText()
    assert "NaN/Inf starts here" in text and "log of a value ≤ 0" in text and f"lognet.py:{LOGNET_LOG_LINE} in forward" in text
    assert "log of a value ≤ 0" in window.statusBar().currentMessage()

    # automatically: a step whose loss is non-finite starts the search by itself
    reports.clear()
    training = window.training_ui
    if hasattr(training, "set_speed"):
        training.set_speed(10_000)
    view.clear_highlights()
    window.actions["actionRunIteration"].trigger()
    qtbot.waitUntil(lambda: bool(reports), timeout=60_000)
    session = opener.session
    assert reports[-1] is session.nonfinite_report and reports[-1].first.op == "log"
    qtbot.waitUntil(lambda: training.controller.is_idle(), timeout=60_000)
    message = window.statusBar().currentMessage()
    assert "starts at forward: log at lognet.py:10" in message
    assert reports[-1].first.key in view.flagged_nodes()


def test_opened_model_that_crashes_shows_the_partial_graph(qtbot, window, tmp_path):
    from gradviz.core.partial_graph import FAILED_KEY
    from gradviz.core.user_model import UserModelRequest

    path = tmp_path / "crash.py"
    path.write_text(
        "import torch, torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a = nn.Linear(4, 8)\n"
        "        self.b = nn.Linear(6, 2)\n"
        "    def forward(self, x):\n"
        "        h = torch.tanh(self.a(x))\n"
        "        return self.b(h)\n"
    )
    opener, failures = open_in_window(qtbot, window, UserModelRequest(path, input_shapes="3, 4"))
    assert failures and failures[0].crash is not None
    crash = opener.last_crash
    view = wait_for_graph(qtbot, window, crash.graph)
    qtbot.waitUntil(lambda: view.selected_node() == FAILED_KEY, timeout=30_000)
    assert FAILED_KEY in view.flagged_nodes()
    labels = {a["label"] for _, a in view.graph().nodes(data=True)}
    assert {"TanhBackward0", "AddmmBackward0", "linear ✗"} <= labels
    text = view.details.toPlainText()
    assert "The forward pass failed here" in text and "mat1 and mat2 shapes cannot be multiplied" in text
    assert "crash.py:9 in forward" in text
    assert "crash.py:9" in window.statusBar().currentMessage()
    assert window.isVisible()  # the app keeps running
    window.grab().save("/tmp/d17_crash.png")


@pytest.mark.parametrize("path", ["/tmp/my dir/a#b.py", "/tmp/ü/x%20y.py", r"C:\models\net.py", "/tmp/a:b.py"])
def test_open_in_editor_link_keeps_any_path(qtbot, path):
    from PySide6.QtCore import QUrl

    from gradviz.ui.graph_view.details import NodeDetails, source_link

    details = NodeDetails()
    qtbot.addWidget(details)
    with qtbot.waitSignal(details.sourceRequested) as signal:
        details.anchorClicked.emit(QUrl(source_link(path, 12)))
    assert signal.args == [path, 12]


def test_a_builder_network_whose_forward_raises_shows_the_graph_up_to_the_failing_op(qtbot, window):
    """F5 on a network whose forward raises half-way (here fc2, patched to fail): the
    error is reported as before, and the graph view shows what was built, up to it."""
    from gradviz.core.partial_graph import FAILED_KEY

    window.load_preset("lenet")
    qtbot.waitUntil(lambda: window.session is not None and window.actions["actionShowGraph"].isEnabled(), timeout=30_000)
    fc2 = window.session.model.fc2

    def broken(x):
        raise RuntimeError("fc2 is broken on purpose")

    fc2.forward = broken
    window.actions["actionShowGraph"].trigger()
    qtbot.waitUntil(lambda: window.has_graph_view and window.graph_view.graph() is not None
                    and FAILED_KEY in window.graph_view.graph(), timeout=60_000)
    view = window.graph_view
    labels = {a.get("label") for _, a in view.graph().nodes(data=True)}
    assert "ConvolutionBackward0" in labels and "MseLossBackward0" not in labels  # built up to fc2, no loss
    qtbot.waitUntil(lambda: view.selected_node() == FAILED_KEY, timeout=30_000)
    assert "fc2 is broken on purpose" in view.details.toPlainText()
    from PySide6.QtWidgets import QApplication

    errors = [w for w in QApplication.topLevelWidgets() if w.objectName() == "errorDialog" and w.isVisible()]
    assert errors  # the error is still reported, as before
    for dialog in errors:
        dialog.close()


def test_a_forward_phase_that_raises_shows_the_graph_up_to_the_failing_op(qtbot, window):
    """Step-through: the forward phase raises (fc2 patched to fail); the banner says so
    and the graph view shows the graph up to fc2, the failing op selected."""
    from gradviz.core.partial_graph import FAILED_KEY

    window.load_preset("lenet")
    qtbot.waitUntil(lambda: window.session is not None and window.actions["actionShowGraph"].isEnabled(), timeout=30_000)
    window.session.model.fc2.forward = lambda x: (_ for _ in ()).throw(RuntimeError("fc2 fails in forward"))
    ui = window.training_ui
    ui.run_phase("zero_grad")
    qtbot.waitUntil(lambda: ui.controller.is_idle(), timeout=30_000)
    ui.run_phase("forward")
    qtbot.waitUntil(lambda: window.has_graph_view and window.graph_view.graph() is not None
                    and FAILED_KEY in window.graph_view.graph(), timeout=60_000)
    assert "fc2 fails in forward" in window.graph_view.graph().nodes[FAILED_KEY].get("error", "")
    assert window.session.next_phase == "forward"  # the phase did not advance


def test_a_long_source_line_wraps_under_its_code_not_under_the_line_numbers(qtbot, tmp_path):
    """In a narrow details panel "return self.out(torch.log(h))" wrapped back to the
    panel's left edge, where its tail read as a line of its own, unnumbered. The
    numbers and the code are columns now: a wrapped line stays in the code column."""
    from PySide6.QtWidgets import QTextBrowser

    from gradviz.core.node_notes import SOURCE_ATTR, SourceLine
    from gradviz.ui.graph_view.details import _CSS, _source_html

    path = tmp_path / "net.py"
    path.write_text("class Net:\n    def forward(self, x):\n        h = self.fc(x)\n"
                    "        return self.out(torch.log(h)) + self.very_long_name_for_a_layer(h) * 2\n"
                    "def example_inputs():\n    return None\n")
    html = _source_html({SOURCE_ATTR: SourceLine.read(str(path), 4, "forward")})
    browser = QTextBrowser()
    qtbot.addWidget(browser)
    browser.document().setDefaultStyleSheet(_CSS)
    browser.setHtml(html)
    browser.resize(260, 400)
    browser.show()
    table = next(frame for frame in browser.document().rootFrame().childFrames())
    cells = [table.cellAt(row, column).firstCursorPosition().block().text() for row in range(table.rows())
             for column in range(2)]
    assert cells[0::2] == ["2", "3", "4", "5", "6"]  # the numbers, a column of their own
    assert cells[5] == "        return self.out(torch.log(h)) + self.very_long_name_for_a_layer(h) * 2"
