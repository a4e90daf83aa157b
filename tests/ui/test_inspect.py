"""gradviz.inspect: the window on a user's tensor or model, how it waits, and that
it leaves the user's tensors and .grads alone."""
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

import gradviz
from gradviz.core import diagnostics as dg
from gradviz.core.graph import autograd_graph

ROOT = Path(__file__).resolve().parents[2]


class _Block(nn.Module):
    """Hand-built resnet-style block: a skip connection, a ReLU module called twice, two outputs, an unused layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 3, 3, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Linear(3, 5)
        self.tail = nn.Linear(5, 3)
        self.unused = nn.Linear(2, 2)

    def forward(self, x):
        y = self.relu(self.conv1(x))
        y = self.relu(self.conv2(y) + x)
        pooled = y.mean(dim=(2, 3))
        return self.head(pooled), F.relu(self.tail(self.head(pooled)))


class _Uncopyable(nn.Linear):
    def __init__(self):
        super().__init__(2, 2)
        self.pending = (i for i in range(3))  # a generator: deepcopy cannot copy it


def _grads(model):
    return {n: (None if p.grad is None else p.grad.clone()) for n, p in model.named_parameters()}


def _same(before, after):
    assert before.keys() == after.keys()
    for name in before:
        if before[name] is None:
            assert after[name] is None, name
        else:
            assert torch.equal(before[name], after[name]), name


def _edges(graph):
    return {(u, v) for u, v in graph.edges}


def _close_when_shown(qtbot, seen: dict):
    """Poll (no fixed sleep) until the inspect window shows its graph, note what it shows, close it."""
    from gradviz.ui.inspect_window import InspectWindow

    timer = QTimer()

    def poll():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, InspectWindow) and w.isVisible()]
        if windows and windows[0].graph_view.graph() is not None and windows[0].graph_view.is_ready():
            timer.stop()
            window = windows[0]
            seen["graph"] = window.graph_view.graph()
            seen["title"] = window.windowTitle()
            seen["note"] = window.note.text()
            seen["flags"] = window.diagnostics_panel.flag_messages()
            seen["dock"] = window.findChild(type(window.diagnostics_dock), "diagnosticsDock") is not None
            window.close()

    timer.timeout.connect(poll)
    timer.start(20)
    return timer


def test_inspect_a_loss_blocks_until_closed_shows_its_graph_and_touches_nothing(qtbot):
    torch.manual_seed(0)
    model = _Block()
    model.tail.weight.grad = torch.full_like(model.tail.weight, 0.5)  # a grad the user already had
    x = torch.randn(2, 3, 6, 6)
    out, aux = model(x)
    loss = out.pow(2).mean() + aux.sum()
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    grads = _grads(model)
    expected = autograd_graph(loss, model)

    seen = {}
    timer = _close_when_shown(qtbot, seen)
    result = gradviz.inspect(loss, model, block=True)
    timer.stop()

    shown = seen["graph"]
    assert set(shown.nodes) == set(expected.nodes) and _edges(shown) == _edges(expected)
    assert nx.get_node_attributes(shown, "name") == nx.get_node_attributes(expected, "name")
    assert "conv1.weight" in nx.get_node_attributes(shown, "name").values()
    assert seen["title"].startswith("gradviz — inspect: loss ·") and seen["dock"]
    assert "no backward ran" in seen["note"]
    assert result.graph is not None and not result.backward_ran
    _same(grads, _grads(model))
    for name, p in model.named_parameters():
        assert torch.equal(p.detach(), weights[name])
    loss.backward()  # the user's graph is intact: their own backward still works
    assert model.conv1.weight.grad is not None


def test_inspect_with_backward_says_so_and_accumulates_like_backward(qtbot):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    loss = model(torch.randn(5, 4)).pow(2).mean()
    expected = torch.autograd.grad(loss, list(model.parameters()), retain_graph=True)  # leaves .grad alone

    result = gradviz.inspect(loss, model=model, backward=True, block=False)
    from gradviz.ui.inspect_window import current_window

    window = current_window()
    assert window is not None and "backward ran on your tensor" in window.note.text()
    assert result.backward_ran
    for p, g in zip(model.parameters(), expected):
        assert torch.allclose(p.grad, g)
    assert [ln.layer for ln in result.diagnostics.layer_norms] == ["0", "2"]
    param = next(k for k, a in result.graph.nodes(data=True) if a.get("name") == "0.weight")
    view = window.graph_view
    qtbot.waitUntil(lambda: view.graph() is result.graph and view.is_ready(), timeout=10_000)
    assert f"grad norm {float(expected[0].norm()):.3g}" in view.tooltip_text(param)
    loss.backward()  # retain_graph=True: the user can still run theirs
    window.close()


def test_non_blocking_calls_reuse_one_window(qtbot, monkeypatch):
    from gradviz.ui import inspect_window

    monkeypatch.setattr(inspect_window, "event_loop_integrated", lambda: True)  # as in IPython after %gui qt
    a = torch.randn(3, requires_grad=True)
    first = gradviz.inspect((a * 2).sum())  # returns at once: no window was closed
    window = inspect_window.current_window()
    assert window is not None and window.isVisible()
    second = gradviz.inspect(a.exp().mean())
    assert inspect_window.current_window() is window
    assert window.inspection is second and first is not second
    qtbot.waitUntil(lambda: window.graph_view.graph() is second.graph, timeout=10_000)
    window.close()
    assert inspect_window.current_window() is None
    third = gradviz.inspect(a.sin().sum())
    assert inspect_window.current_window() not in (None, window)
    inspect_window.current_window().close()
    assert third.graph.number_of_nodes() == 4  # out, SumBackward0, SinBackward0, the leaf
    # What a notebook cell ending in inspect(...) prints: one line, not the record's tensors.
    assert repr(third) == "Inspection('loss · 4 nodes', 0 gradient-health flags, backward_ran=False)"


def test_inspect_a_model_runs_one_iteration_on_a_copy(qtbot):
    torch.manual_seed(0)
    model = _Block()
    x = torch.randn(2, 3, 6, 6)
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = gradviz.inspect(model, x, block=False)
    from gradviz.ui.inspect_window import current_window

    window = current_window()
    assert "your model, its .grad values and your inputs are untouched" in window.note.text()
    assert all(p.grad is None for p in model.parameters())
    for name, p in model.named_parameters():
        assert torch.equal(p.detach(), weights[name])
    record = result.record
    assert record.complete and record.loss_name == "output.sum()"
    # The default loss sums the first output only: the second output's tail gets no gradient either.
    assert result.diagnostics.unused == ["tail.weight", "tail.bias", "unused.weight", "unused.bias"]
    messages = window.diagnostics_panel.flag_messages()
    assert "⚠ No gradient (not used by the loss): tail.weight, tail.bias, unused.weight, unused.bias" in messages
    names = set(nx.get_node_attributes(result.graph, "name").values())
    assert {"conv1.weight", "conv2.bias", "head.weight"} <= names and "tail.bias" not in names
    window.close()


def test_inspect_a_model_with_a_loss_fn_and_dead_units(qtbot):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    with torch.no_grad():
        model[0].bias.fill_(-50.0)
    result = gradviz.inspect(model, torch.randn(16, 4), loss_fn=lambda out: (out - 1).pow(2).mean(), block=False)
    from gradviz.ui.inspect_window import current_window

    current_window().close()
    assert result.record.loss_name == "<lambda>"
    assert result.diagnostics.flags_of(dg.DEAD_UNITS)


@pytest.mark.parametrize("call, words", [
    (lambda: gradviz.inspect(torch.randn(3).sum(), block=False), "no autograd graph"),
    (lambda: gradviz.inspect("loss", block=False), "got str"),
    (lambda: gradviz.inspect(nn.Linear(2, 2), block=False), "needs example inputs"),
    (lambda: gradviz.inspect(nn.Linear(2, 2), torch.randn(3, 5), block=False), "cannot run one iteration of Linear"),
    (lambda: gradviz.inspect(torch.randn(3, requires_grad=True) * 2, backward=True, block=False), "single-number"),
    (lambda: gradviz.inspect(_Uncopyable(), torch.randn(1, 2), block=False), "cannot copy _Uncopyable"),
])
def test_bad_arguments_are_inspect_errors_naming_the_fix(qtbot, call, words):
    with pytest.raises(gradviz.InspectError, match=words):
        call()


def test_from_a_plain_script_with_no_qapplication(tmp_path):
    """A fresh process: `import gradviz` loads no Qt; inspect makes the QApplication, blocks, returns on close."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""
        import sys
        import torch
        import gradviz
        fn = gradviz.inspect
        assert "PySide6" not in sys.modules, "import gradviz / gradviz.inspect loaded Qt"
        from gradviz.ui import inspect_window  # (loads Qt; still no QApplication)
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        assert QApplication.instance() is None

        original = inspect_window.InspectWindow.show_inspection
        def show_then_close(self, inspection):
            original(self, inspection)
            QTimer.singleShot(0, self.close)  # the user closes the window
        inspect_window.InspectWindow.show_inspection = show_then_close

        w = torch.randn(3, requires_grad=True)
        result = fn((w * w).sum())
        assert QApplication.instance() is not None and w.grad is None
        print("returned", result.graph.number_of_nodes())
    """))
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "returned 4"


def test_from_a_breakpoint(tmp_path):
    """Typed at a pdb prompt (breakpoint()): the window opens, closing it gives the prompt back."""
    script = tmp_path / "debugged.py"
    script.write_text(textwrap.dedent("""
        import torch
        import gradviz
        from PySide6.QtCore import QTimer
        from gradviz.ui import inspect_window

        original = inspect_window.InspectWindow.show_inspection
        def show_then_close(self, inspection):
            original(self, inspection)
            QTimer.singleShot(0, self.close)  # the user closes the window
        inspect_window.InspectWindow.show_inspection = show_then_close

        w = torch.randn(4, requires_grad=True)
        loss = (w.relu() * 3).sum()  # out, SumBackward0, MulBackward0, ReluBackward0, the leaf
        breakpoint()
        print("after", w.grad is None)
    """))
    commands = "!result = gradviz.inspect(loss)\np ('nodes', result.graph.number_of_nodes())\nc\n"
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONBREAKPOINT": "pdb.set_trace"}
    done = subprocess.run([sys.executable, str(script)], input=commands, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "('nodes', 5)" in done.stdout and "after True" in done.stdout, done.stdout[-2000:]


def test_ctrl_c_closes_a_blocking_window_and_returns(qtbot):
    import os
    import signal

    from gradviz.ui import inspect_window

    shown = []
    original = inspect_window.InspectWindow.show_inspection

    def show_then_interrupt(self, inspection):
        original(self, inspection)
        shown.append(self)
        QTimer.singleShot(0, lambda: os.kill(os.getpid(), signal.SIGINT))  # Ctrl+C in the terminal

    handler = signal.getsignal(signal.SIGINT)
    try:
        inspect_window.InspectWindow.show_inspection = show_then_interrupt
        w = torch.randn(3, requires_grad=True)
        gradviz.inspect(w.sum(), block=True)
    finally:
        inspect_window.InspectWindow.show_inspection = original
    assert shown and not shown[0].isVisible()
    assert signal.getsignal(signal.SIGINT) is handler  # the user's handler is back


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only Linux can be without a display server")
def test_no_screen_is_an_inspect_error_not_a_hang(tmp_path):
    script = tmp_path / "headless.py"
    script.write_text(textwrap.dedent("""
        import torch, gradviz
        w = torch.randn(3, requires_grad=True)
        try:
            gradviz.inspect(w.sum())
        except gradviz.InspectError as exc:
            print("InspectError:", exc)
    """))
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("InspectError: there is no screen to show the window on"), done.stdout


def test_from_another_thread_is_an_inspect_error(qtbot):
    import threading

    errors = []

    def work():
        try:
            gradviz.inspect(torch.randn(2, requires_grad=True).sum(), block=False)
        except gradviz.InspectError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert errors and errors[0].startswith("gradviz.inspect must be called on the thread that runs Qt")
