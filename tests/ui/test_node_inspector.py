"""The node inspector: follows the replay and clicks, shows the rule with real numbers,
links each produced gradient to its node, draws tensors by size, explains AccumulateGrad
(tied weights, a skipped zero_grad) and says when an op has no explanation."""
import gc
import math

import pytest
from PySide6.QtWidgets import QLabel

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

import gradviz  # noqa: E402
from gradviz.core.backward_rules import NO_EXPLANATION  # noqa: E402
from gradviz.core.explain import Recording  # noqa: E402
from gradviz.core.node_grads import NodeRecorder, summarise  # noqa: E402
from gradviz.ui.training.node_inspector import NodeInspector, TensorView, view_kind  # noqa: E402

TIMEOUT = 30_000


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow

    gc.collect()
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    win.load_preset("neuron")
    win.training_ui.set_speed(1000)
    inspection = win.training_ui.inspection
    inspection.dock.raise_()  # shown: node gradients are recorded
    qtbot.waitUntil(lambda: inspection.numbers.session is not None, timeout=TIMEOUT)
    yield win
    win.training_ui.controller.pause()
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(20_000)


def run_until_backward(window, qtbot):
    ui = window.training_ui
    for phase in ("zero_grad", "forward", "loss"):
        ui.run_phase(phase)
        qtbot.waitUntil(lambda: ui.controller.is_idle(), timeout=TIMEOUT)
    assert ui.controller.next_phase == "backward"


def key_of(graph, label=None, name=None):
    keys = [k for k, a in graph.nodes(data=True)
            if (label is None or a.get("label") == label) and (name is None or a.get("name") == name)]
    assert len(keys) == 1, (label, name, keys)
    return keys[0]


def texts(widget) -> list[str]:
    return [label.text() for label in widget.findChildren(QLabel) if label.text()]


def test_clicked_node_shows_rule_with_its_numbers_and_links_to_its_inputs(window, qtbot):
    ui = window.training_ui
    inspection = ui.inspection
    session = inspection.numbers.session
    with torch.no_grad():
        session.model.neuron.weight.copy_(torch.tensor([[-3.0, 1.0]]))
        session.model.neuron.bias.fill_(6.8813735870195432)
    session.data = gradviz.core.data.GivenData([2.0, 0.0], [1.0])
    run_until_backward(window, qtbot)
    ui.run_phase("backward")
    qtbot.waitUntil(lambda: ui.controller.is_idle() and not ui.animator.animating, timeout=TIMEOUT)

    view = window.graph_view
    graph = view.graph()
    tanh = key_of(graph, "TanhBackward0")
    addmm = key_of(graph, "AddmmBackward0")
    view.nodeClicked.emit(tanh)  # what a click on the node sends
    inspector = inspection.inspector
    assert inspector.shown_key == tanh
    assert inspector.sections()[:3] == ["value (forward)", "gradient in  ∂L/∂(output)", "rule"]
    assert "gradient out  ∂L/∂(each input)" in inspector.sections()
    shown = "\n".join(texts(inspector))
    # by hand: o = tanh(0.8814) = 0.7071, ∂L/∂o = 2(o − 1) = −0.5858, ∂L/∂n = −0.5858 · 0.5 = −0.2929
    o = math.tanh(-6.0 + 6.8813735870195432)
    assert f"{o:.4f}" in shown
    assert "∂L/∂x = ∂L/∂y · (1 − y²) = (−0.5858) · (1 − 0.7071²) = −0.2929" in shown
    assert inspector.link_targets() == [addmm]

    link = inspector.findChild(QLabel, "inspectorGradientOutLink0")
    assert link is not None and addmm in link.text()
    link.linkActivated.emit(addmm)  # what clicking the link sends
    assert view.selected_node() == addmm
    assert inspector.shown_key == addmm
    shown = "\n".join(texts(inspector))
    assert "∂L/∂b = Σ_batch ∂L/∂y" in shown  # the rule of AddmmBackward0

    bias = key_of(graph, name="neuron.bias")
    view.nodeClicked.emit(bias)
    assert ".grad before this accumulation" in inspector.sections()
    assert inspector.findChild(QLabel, "inspectorGradBeforeNone") is not None  # zero_grad set it to None


def test_step_node_pauses_the_replay_and_the_inspector_follows(window, qtbot):
    ui = window.training_ui
    run_until_backward(window, qtbot)
    step = window.actions["actionStepNode"]
    assert step.shortcut().toString() == "F6"
    assert any("Step node" in action for action, _keys in window.shortcut_rows())
    step.trigger()
    qtbot.waitUntil(lambda: ui.animator.paused and bool(ui.animator.visited), timeout=TIMEOUT)
    inspector = ui.inspection.inspector
    order = list(ui.animator.record.backward_order)
    steps = 0
    while ui.animator.animating:
        assert inspector.shown_key == ui.animator.visited[-1]
        assert ui.animator.visited == order[:len(ui.animator.visited)]
        step.trigger()
        steps += 1
    assert steps == len(order) - 1 and inspector.shown_key == order[-1]


def test_tensors_are_drawn_by_size(qtbot):
    cases = [
        (torch.randn(6, 6), "numbers"),
        (torch.randn(7, 6), "heatmap"),
        (torch.randn(64, 64), "heatmap"),
        (torch.randn(65, 64), "histogram"),
        (summarise(torch.randn(100, 100)), "histogram"),
        (None, "none"),
    ]
    for value, kind in cases:
        assert view_kind(value) == kind
        widget = TensorView(value, "t")
        qtbot.addWidget(widget)
        assert widget.kind == kind
    # a thin strip keeps one picture cell a value, at least HEATMAP_STRIP_PX across it
    # (a (1, 120) activation was drawn 2 px tall); square tensors get square cells
    from gradviz.ui.training.node_inspector import HEATMAP_STRIP_PX

    for shape in ((1, 120), (120, 1), (2, 300), (40, 40)):
        strip = TensorView(torch.randn(*shape), "strip")
        qtbot.addWidget(strip)
        pixmap = strip.findChild(QLabel, "stripHeatmap").pixmap()
        rows, cols = shape
        assert min(pixmap.width(), pixmap.height()) >= HEATMAP_STRIP_PX, (shape, pixmap.size())
        assert pixmap.width() % cols == 0 or cols > pixmap.width(), (shape, pixmap.size())
        if rows == cols:
            assert pixmap.width() == pixmap.height()
    numbers = TensorView(torch.tensor([[1.5, -2.0], [0.0, 3.25]]))
    qtbot.addWidget(numbers)
    assert ["1.5", "−2", "0", "3.25"] == [t for t in texts(numbers)]



def test_empty_and_complex_tensors_are_drawn_as_they_are(qtbot):
    """A (0, 3) slice's gradient (a Linear on an empty batch part) crashed the inspector
    (numpy cannot reshape 0 values to (0, -1)); an FFT's complex values lost their
    imaginary part (and numpy warned on the console)."""
    empty = TensorView(torch.zeros(0, 3), "empty")
    qtbot.addWidget(empty)
    assert empty.kind == "empty" and texts(empty) == ["— (no values: shape (0, 3))"]
    spectrum = TensorView(torch.tensor([[1.0 + 2.0j, -0.5j]]), "spectrum")
    qtbot.addWidget(spectrum)
    assert spectrum.kind == "numbers"
    assert texts(spectrum)[:2] == ["1 + 2i", "0 − 0.5i"]
    # and a whole recording with such nodes can be inspected node by node
    linear = nn.Linear(4, 3)

    class EmptyPart(nn.Module):
        def forward(self, x):
            return torch.fft.rfft(torch.cat([linear(x), linear(x[:0])])).abs()

    model = EmptyPart()
    model.linear = linear
    recording = _recording(model, torch.randn(2, 4))
    inspector = NodeInspector()
    qtbot.addWidget(inspector)
    for key in recording.node_gradients:
        inspector.show_node(recording, key)
        assert inspector.shown_key == key

def test_a_sampled_histogram_says_so_and_an_exact_one_does_not(qtbot):
    from PySide6.QtWidgets import QLabel

    def histogram_tip(value) -> str:
        widget = TensorView(value, "t")
        qtbot.addWidget(widget)
        (picture,) = [label for label in widget.findChildren(QLabel) if not label.pixmap().isNull()]
        return picture.toolTip()

    assert histogram_tip(summarise(torch.randn(80, 80))) == "32 equal bins from min to max"
    assert histogram_tip(summarise(torch.randn(200, 100))) == (
        "32 equal bins from min to max, counting an evenly spread sample of 8,192 of its 20,000 values")


def _recording(model, x, *, zero_grad=True, times=1):
    recorder = None
    for _ in range(times):
        if zero_grad:
            model.zero_grad(set_to_none=True)
        recorder = NodeRecorder()
        with recorder.forward():
            loss = model(x).sum()
        graph = gradviz.autograd_graph(loss, model)
        with recorder.backward(graph, [loss]):
            loss.backward()
    return Recording(graph, recorder.nodes)


class TiedPair(nn.Module):
    """One weight used twice (like tied embeddings): its .grad accumulates two contributions."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[2.0, -1.0], [0.5, 1.0]]))

    def forward(self, x):
        return (x @ self.w) @ self.w


def test_accumulate_grad_shows_before_and_after_with_tied_weights_and_stale_grads(qtbot):
    model = TiedPair()
    x = torch.tensor([[1.0, 3.0]])
    inspector = NodeInspector()
    qtbot.addWidget(inspector)
    recording = _recording(model, x)
    param = key_of(recording.graph, name="w")
    inspector.show_node(recording, param)
    assert ".grad after  (= before + gradient in)" in inspector.sections()
    entry = recording.node_gradients[param]
    # d/dW of sum(x W W): both uses summed before AccumulateGrad runs, by hand
    w = model.w.detach()
    ones = torch.ones(1, 2)
    expected = x.T @ (ones @ w.T) + (x @ w).T @ ones
    torch.testing.assert_close(entry.grad_after, expected)
    assert inspector.findChild(QLabel, "inspectorGradBeforeNone") is not None
    # the two uses, each with its part of the sum: (x W) W gives x·W·W; W is used as
    # the second factor of both matmuls
    assert "… the sum of 2 uses" in inspector.sections()
    first = inspector.findChild(TensorView, "inspectorSource0")
    second = inspector.findChild(TensorView, "inspectorSource1")
    assert first is not None and second is not None
    parts = sorted([(x @ w).T @ ones, x.T @ (ones @ w.T)], key=lambda t: t.sum().item())
    shown = sorted([[float(v.replace("−", "-")) for v in texts(first)], [float(v.replace("−", "-")) for v in texts(second)]],
                   key=sum)
    for part, numbers in zip(parts, shown):
        assert numbers == pytest.approx(part.reshape(-1).tolist(), rel=1e-3)

    # zero_grad skipped: "before" holds the last iteration's gradient, "after" doubles it
    stale = _recording(model, x, zero_grad=False, times=1)
    inspector.show_node(stale, key_of(stale.graph, name="w"))
    before = inspector.findChild(TensorView, "inspectorGradBefore")
    assert before is not None and before.kind == "numbers"
    stale_entry = stale.node_gradients[key_of(stale.graph, name="w")]
    torch.testing.assert_close(stale_entry.grad_before, expected)
    torch.testing.assert_close(stale_entry.grad_after, 2 * expected)


class Block(nn.Module):
    """A torchvision-style basic block, written here by hand."""

    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + x)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = Block(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.block(self.block(self.stem(x)))  # the block called twice
        return self.fc(torch.flatten(self.pool(x), 1))


def test_every_node_of_a_hand_built_resnet_can_be_inspected(qtbot):
    torch.manual_seed(0)
    recording = _recording(TinyResNet(), torch.randn(4, 3, 24, 24))
    inspector = NodeInspector()
    qtbot.addWidget(inspector)
    kinds = set()
    for key in recording.node_gradients:
        inspector.show_node(recording, key)
        assert inspector.shown_key == key and "gradient in  ∂L/∂(output)" in inspector.sections()
        kinds |= {view.kind for view in inspector.findChildren(TensorView)}
    assert {"numbers", "heatmap", "histogram"} <= kinds  # bias grads, fc weight (10×8), conv activations


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


class CubeModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([1.0, -2.0]))

    def forward(self, x):
        return Cube.apply(self.a * x)


def test_unknown_op_shows_its_gradients_and_says_there_is_no_explanation(qtbot):
    recording = _recording(CubeModel(), torch.tensor([1.0, 1.0]))
    inspector = NodeInspector()
    qtbot.addWidget(inspector)
    key = key_of(recording.graph, "CubeBackward")
    inspector.show_node(recording, key)
    assert inspector.findChild(QLabel, "inspectorRuleWords").text() == NO_EXPLANATION
    # received ones (from sum), produced 3·x² = [3, 12]
    produced = inspector.findChild(TensorView, "inspectorGradientOut0")
    assert produced is not None
    assert ["3", "12"] == [t for t in texts(produced)]


def set_neuron(session):
    """micrograd's neuron: w = (−3, 1), b = 6.8814, x = (2, 0)."""
    with torch.no_grad():
        session.model.neuron.weight.copy_(torch.tensor([[-3.0, 1.0]]))
        session.model.neuron.bias.fill_(6.8813735870195432)
    session.data = gradviz.core.data.GivenData([2.0, 0.0], [1.0])


# The neuron's forward by hand: n = w·x + b = −3·2 + 1·0 + 6.8814, o = tanh(n)
N_BY_HAND = -3.0 * 2.0 + 1.0 * 0.0 + 6.8813735870195432
O_BY_HAND = math.tanh(N_BY_HAND)


def shown_value(inspector) -> list[str]:
    value = inspector.findChild(TensorView, "inspectorValue")
    return texts(value) if value is not None else []


def test_after_the_forward_only_each_node_shows_its_value_and_before_it_nothing(window, qtbot):
    ui = window.training_ui
    inspector = ui.inspection.inspector
    session = ui.inspection.numbers.session
    run_until_backward(window, qtbot)
    for phase in ("backward", "step"):
        ui.run_phase(phase)
        qtbot.waitUntil(lambda: ui.controller.is_idle(), timeout=TIMEOUT)
    set_neuron(session)
    ui.run_phase("zero_grad")
    qtbot.waitUntil(lambda: ui.controller.is_idle(), timeout=TIMEOUT)
    graph = window.graph_view.graph()
    tanh, addmm = key_of(graph, "TanhBackward0"), key_of(graph, "AddmmBackward0")
    ui.inspection.show_node(tanh)  # a new iteration: the last one's values are not this one's
    assert shown_value(inspector) == [] and "has not run yet" in inspector.status.text()

    ui.run_phase("forward")
    qtbot.waitUntil(lambda: ui.controller.is_idle() and not ui.animator.animating, timeout=TIMEOUT)
    ui.inspection.show_node(tanh)
    assert inspector.shown_key == tanh and inspector.sections() == ["value (forward)"]
    assert shown_value(inspector) == [f"{O_BY_HAND:.4f}"]  # 0.7071
    assert "gradients arrive when backward runs" in inspector.status.text()
    ui.inspection.show_node(addmm)
    assert shown_value(inspector) == [f"{N_BY_HAND:.4f}"]  # 0.8814
    ui.inspection.show_node(key_of(graph, name="neuron.weight"))
    assert inspector.sections() == ["parameter value"] and shown_value(inspector) == ["−3", "1"]
    ui.inspection.show_node(key_of(graph, "MseLossBackward0"))  # the loss phase's: not yet
    assert shown_value(inspector) == [] and "loss phase" in inspector.status.text()

    ui.run_phase("loss")
    qtbot.waitUntil(lambda: ui.controller.is_idle(), timeout=TIMEOUT)
    ui.inspection.show_node(tanh)
    assert inspector.sections() == ["value (forward)"] and shown_value(inspector) == [f"{O_BY_HAND:.4f}"]


def test_step_node_steps_through_the_forward_and_the_inspector_shows_each_value(window, qtbot):
    ui = window.training_ui
    inspector = ui.inspection.inspector
    set_neuron(ui.inspection.numbers.session)
    ui.run_phase("zero_grad")
    qtbot.waitUntil(lambda: ui.controller.is_idle(), timeout=TIMEOUT)
    step = window.actions["actionStepNode"]
    step.trigger()  # runs the forward, paused on its first node
    qtbot.waitUntil(lambda: ui.animator.paused and bool(ui.animator.revealed), timeout=TIMEOUT)
    graph = window.graph_view.graph()
    shown = []
    while True:
        active = ui.animator.revealed[-1]
        assert inspector.shown_key == active
        shown.append((graph.nodes[active]["label"], shown_value(inspector)))
        if not ui.animator.animating:
            break
        step.trigger()
    # the weight's transpose (inside F.linear: no value of its own), w·x + b, tanh
    assert shown == [("TBackward0", []), ("AddmmBackward0", [f"{N_BY_HAND:.4f}"]),
                     ("TanhBackward0", [f"{O_BY_HAND:.4f}"])]
    assert ui.controller.next_phase == "loss"


class TwoHeads(nn.Module):
    """One op with two outputs (chunk), both used: its Node receives two gradients."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, 2.0, 3.0, 4.0]))

    def forward(self, x):
        a, b = torch.chunk(self.w * x, 2)
        return (3 * a).sum() + (b * b).sum()


def test_an_op_with_two_outputs_shows_both_received_gradients(qtbot):
    recording = _recording(TwoHeads(), torch.ones(4))
    key = next(k for k, e in recording.node_gradients.items() if len(e.received) == 2)
    inspector = NodeInspector()
    qtbot.addWidget(inspector)
    inspector.show_node(recording, key)
    first = inspector.findChild(TensorView, "inspectorGradientIn0")
    second = inspector.findChild(TensorView, "inspectorGradientIn1")
    assert first is not None and second is not None
    # ∂/∂a of 3·Σa = 3; ∂/∂b of Σb² = 2b = (6, 8) with w·x = (1, 2, 3, 4)
    assert texts(first) == ["3", "3"] and texts(second) == ["6", "8"]


def test_a_fast_replay_leaves_the_inspector_on_the_last_node(window, qtbot):
    ui = window.training_ui
    run_until_backward(window, qtbot)
    ui.run_phase("backward")
    qtbot.waitUntil(lambda: ui.controller.is_idle() and not ui.animator.animating, timeout=TIMEOUT)
    last = ui.animator.record.backward_order[-1]
    qtbot.waitUntil(lambda: ui.inspection.inspector.shown_key == last, timeout=TIMEOUT)


def test_a_long_vector_wraps_six_to_a_row(qtbot):
    view = TensorView(torch.arange(8.0))
    qtbot.addWidget(view)
    assert view.kind == "numbers"
    assert texts(view) == ["0", "1", "2", "3", "4", "5", "6", "7", "shape (8,), shown 6 to a row"]


def test_the_transformer_examples_tied_embedding_shows_its_two_uses(qtbot):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "transformer_block.py"
    spec = importlib.util.spec_from_file_location("transformer_block_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    torch.manual_seed(0)
    model = example.TinyTransformer(n_layers=1)
    recording = _recording(model, example.example_inputs())
    key = key_of(recording.graph, name="embed.weight")
    inspector = NodeInspector()
    qtbot.addWidget(inspector)
    inspector.show_node(recording, key)
    assert "… the sum of 2 uses" in inspector.sections()
    sources = [inspector.findChild(TensorView, f"inspectorSource{n}") for n in range(2)]
    assert all(view is not None and view.kind == "heatmap" for view in sources)  # 100×32: at most 64·64 numbers
    links = [inspector.findChild(QLabel, f"inspectorSourceLink{n}") for n in range(2)]
    labels = " ".join(link.text() for link in links)
    assert "EmbeddingBackward0" in labels  # the token embedding, and the output head's use
    total = recording.node_gradients[key].received[0]
    assert total.shape == (100, 32)


def test_node_gradients_are_recorded_only_while_someone_can_look(window, qtbot):
    from gradviz.ui.training.node_inspector import NOT_RECORDED

    ui = window.training_ui
    inspection = ui.inspection
    session = inspection.numbers.session
    assert session.node_gradients and session.source_lines  # the inspector is shown (and the neuron is tiny)
    window.actions["actionNumbersMode"].trigger()  # tags off
    inspection.dock.close()
    qtbot.waitUntil(lambda: not session.node_gradients and not session.source_lines, timeout=TIMEOUT)
    run_until_backward(window, qtbot)
    ui.run_phase("backward")
    qtbot.waitUntil(lambda: ui.controller.is_idle() and not ui.animator.animating, timeout=TIMEOUT)
    assert ui.animator.record.node_gradients == {}

    inspection.dock.show()
    inspection.dock.raise_()
    qtbot.waitUntil(lambda: session.node_gradients and session.source_lines, timeout=TIMEOUT)  # from the next iteration on
    tanh = key_of(window.graph_view.graph(), "TanhBackward0")
    inspection.show_node(tanh)
    assert inspection.inspector.status.text() == NOT_RECORDED

    ui.run_phase("step")
    qtbot.waitUntil(lambda: ui.controller.is_idle(), timeout=TIMEOUT)
    run_until_backward(window, qtbot)
    ui.run_phase("backward")
    qtbot.waitUntil(lambda: ui.controller.is_idle() and not ui.animator.animating, timeout=TIMEOUT)
    inspection.show_node(tanh)
    assert inspection.inspector.shown_key == tanh and "rule" in inspection.inspector.sections()


def test_a_skipped_replay_ends_as_a_played_one_on_the_last_node_with_the_whole_graph(window, qtbot):
    """F9 during a followed replay: the inspector stayed on the first node (the loss) and
    the camera zoomed in on it, half the pane empty. It ends as the replay would: its
    last node inspected, the whole graph in view."""
    from PySide6.QtCore import QRectF

    ui = window.training_ui
    window.load_preset("lenet")
    qtbot.waitUntil(lambda: ui.inspection.numbers.session is not None
                    and ui.inspection.numbers.session.spec.find("fc3") is not None, timeout=TIMEOUT)
    run_until_backward(window, qtbot)
    ui.set_speed(1.0)  # classroom pace: the camera follows the running node, zoomed in
    ui.animator.follow_active = True
    ui.run_phase("backward")
    qtbot.waitUntil(lambda: ui.animator.animating and bool(ui.animator.visited), timeout=TIMEOUT)
    view = window.graph_view
    qtbot.waitUntil(lambda: ui.inspection.inspector.shown_key == ui.animator.visited[0], timeout=TIMEOUT)
    window.actions["actionSkipAnimation"].trigger()
    assert not ui.animator.animating and ui.animator.skipped
    last = ui.animator.record.backward_order[-1]
    qtbot.waitUntil(lambda: ui.inspection.inspector.shown_key == last, timeout=TIMEOUT)

    def whole_graph_in_view():
        shown = view.canvas.mapToScene(view.canvas.viewport().rect()).boundingRect()
        return all(shown.contains(QRectF(view.node_rect(key))) for key in view.shown_graph())
    qtbot.waitUntil(whole_graph_in_view, timeout=TIMEOUT)


def test_the_loss_node_says_backward_starts_there_not_no_explanation(window, qtbot):
    from gradviz.core.explain import OUTPUT_WORDS

    ui = window.training_ui
    run_until_backward(window, qtbot)
    ui.run_phase("backward")
    qtbot.waitUntil(lambda: ui.controller.is_idle() and not ui.animator.animating, timeout=TIMEOUT)
    record = ui.animator.record
    loss = next(k for k, kind in record.graph.nodes(data="kind") if kind == "output")
    inspector = ui.inspection.inspector
    ui.inspection.show_node(loss)
    words = inspector.findChild(QLabel, "inspectorRuleWords").text()
    assert words == OUTPUT_WORDS and words != NO_EXPLANATION
    assert "∂L/∂L = 1" in "\n".join(texts(inspector))


def test_a_row_vector_wraps_to_the_inspectors_width(qtbot):
    """A (1, 10) output was drawn as one row of ten numbers, past the inspector's edge
    behind a scroll bar (in lecture text, even six were too wide). A vector, or a row,
    now shows as many numbers to a row as fit, and says how many."""
    from PySide6.QtWidgets import QScrollArea

    inspector = NodeInspector()
    qtbot.addWidget(inspector)
    value = torch.linspace(-0.08, 0.16, 10).reshape(1, 10)
    view = TensorView(value, "row")
    assert view.kind == "numbers"
    inspector._add(view)
    inspector.title.setText("n1 AddmmBackward0")
    inspector.title.show()
    inspector.resize(260, 400)
    inspector.show()
    scroll = inspector.findChild(QScrollArea, "nodeInspectorScroll")
    qtbot.waitUntil(lambda: view.grid.columns < 6, timeout=5000)
    assert scroll.horizontalScrollBar().maximum() == 0  # nothing beyond the right edge
    assert f"shape (1, 10), shown {view.grid.columns} to a row" in texts(view)
    numbers = [label for label in view.grid.findChildren(QLabel)]
    assert len(numbers) == 10
    right = view.grid.mapTo(scroll.viewport(), view.grid.rect().topRight()).x()
    assert all(label.geometry().right() <= view.grid.width() for label in numbers) and right <= scroll.viewport().width()
    inspector.resize(900, 400)  # wide: six to a row again
    qtbot.waitUntil(lambda: view.grid.columns == 6, timeout=5000)


def test_one_samples_channels_wrap_into_a_square_of_images(qtbot):
    """A conv activation of one sample, (1, 16, 10, 10), was a column of 16 images
    at 1.5 px a value; its channels now wrap into rows (4 × 4), a value several px."""
    activation = TensorView(torch.randn(1, 16, 10, 10), "act")
    qtbot.addWidget(activation)
    assert activation.kind == "heatmap"
    pixmap = activation.findChild(QLabel, "actHeatmap").pixmap()
    assert 0.5 <= pixmap.width() / pixmap.height() <= 2, pixmap.size()
    assert pixmap.width() >= 4 * 4 * 10, pixmap.size()  # four images across, at least 4 px a value
    # a conv weight's gradient keeps one column per filter (the gradient panel's convention)
    kernels = TensorView(torch.randn(6, 1, 5, 5), "kernels")
    qtbot.addWidget(kernels)
    assert kernels.kind == "heatmap"
