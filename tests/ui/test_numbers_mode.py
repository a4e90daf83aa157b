"""Numbers mode: the neuron's values and gradients on its nodes, checked against a
hand computation; typed input and target; the gradients fill in through the replay."""
import gc
import math

import pytest
from PySide6.QtCore import QRectF, Qt

torch = pytest.importorskip("torch")

from gradviz.ui.training.numbers_mode import UNKNOWN, is_tiny, node_tags, tag_text  # noqa: E402
from gradviz.ui.validated_field import ValidatedField  # noqa: E402

TIMEOUT = 30_000
# micrograd's neuron: w = (−3, 1), b = 6.8813735870195432
W1, W2, B = -3.0, 1.0, 6.8813735870195432


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
    qtbot.waitUntil(lambda: win.training_ui.inspection.numbers.session is not None, timeout=TIMEOUT)
    yield win
    win.training_ui.controller.pause()
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(20_000)


def set_weights(session):
    with torch.no_grad():
        session.model.neuron.weight.copy_(torch.tensor([[W1, W2]]))
        session.model.neuron.bias.fill_(B)


def type_into(qtbot, field: ValidatedField, text: str) -> None:
    field.lineEdit().clear()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def run_phase(window, qtbot, phase):
    ui = window.training_ui
    assert ui.controller.next_phase == phase
    ui.run_phase(phase)
    qtbot.waitUntil(lambda: ui.controller.is_idle(), timeout=TIMEOUT)
    assert ui.controller.last_error is None


def numbers_of(text: str) -> list[float]:
    """``"data [−3, 1]"`` -> [−3.0, 1.0]."""
    body = text.split(" ", 1)[1].strip("[]").replace("−", "-")
    return [float(part) for part in body.split(",")]


def tags_by_label(window):
    view = window.graph_view
    graph = view.graph()
    by_label = {}
    for key, lines in view.node_badges().items():
        attrs = graph.nodes[key]
        by_label[attrs.get("name") or attrs.get("label")] = lines
    return by_label


def hand_computed(x1, x2, target):
    """The neuron by hand: n = w1·x1 + w2·x2 + b, o = tanh(n), L = (o − t)²."""
    n = W1 * x1 + W2 * x2 + B
    o = math.tanh(n)
    loss = (o - target) ** 2
    dl_do = 2 * (o - target)  # MSE derivative (one element: N = 1)
    dl_dn = dl_do * (1 - o ** 2)  # tanh' = 1 − tanh²
    return {
        "loss": ([loss], [1.0]),
        "MseLossBackward0": ([loss], [1.0]),
        "TanhBackward0": ([o], [dl_do]),
        "AddmmBackward0": ([n], [dl_dn]),
        "neuron.bias": ([B], [dl_dn]),
        "neuron.weight": ([W1, W2], [dl_dn * x1, dl_dn * x2]),
    }


def assert_tags_equal(tags, expected, *, with_grads=True):
    for label, (data, grad) in expected.items():
        assert label in tags, (label, sorted(tags))
        data_line, grad_line = tags[label][:2]  # (a parameter's third line: after the step)
        assert data_line.startswith("data ") and grad_line.startswith("grad ")
        # three significant digits on the tags
        assert numbers_of(data_line) == pytest.approx(data, rel=5e-3, abs=5e-4), label
        if with_grads:
            assert numbers_of(grad_line) == pytest.approx(grad, rel=5e-3, abs=5e-4), label


def test_typed_values_give_the_hand_computed_numbers_on_the_nodes(window, qtbot):
    ui = window.training_ui
    numbers = ui.inspection.numbers
    assert numbers.active and numbers.panel.isVisible()
    session = numbers.session
    set_weights(session)
    panel = numbers.panel
    type_into(qtbot, panel.input_field, "2, 0")
    type_into(qtbot, panel.target_field, "1")
    assert not panel.input_field.problem and not panel.target_field.problem

    for phase in ("zero_grad", "forward", "loss"):
        run_phase(window, qtbot, phase)
    expected = hand_computed(2.0, 0.0, 1.0)
    qtbot.waitUntil(lambda: "TanhBackward0" in tags_by_label(window), timeout=TIMEOUT)
    forward_tags = tags_by_label(window)
    # after the loss phase: values, no gradients yet
    assert_tags_equal(forward_tags, expected, with_grads=False)
    assert all(lines[1] == f"grad {UNKNOWN}" for lines in forward_tags.values())

    run_phase(window, qtbot, "backward")
    qtbot.waitUntil(lambda: not ui.animator.animating, timeout=TIMEOUT)
    assert_tags_equal(tags_by_label(window), expected)
    # micrograd's numbers, written out: tanh(0.8814) = 0.7071, (1 − 0.7071²) = 0.5
    tags = tags_by_label(window)
    assert tags["TanhBackward0"][0] == "data 0.707"
    assert tags["AddmmBackward0"] == ["data 0.881", "grad −0.293"]


def test_invalid_typed_values_stay_marked_and_change_nothing(window, qtbot):
    numbers = window.training_ui.inspection.numbers
    session = numbers.session
    panel = numbers.panel
    data_before = session.data
    in_force = panel.input_field.value()
    type_into(qtbot, panel.input_field, "2, x")
    assert panel.input_field.text() == "2, x"  # stays as typed
    assert panel.input_field.property("error") is True
    assert "'x' is not a number" in panel.input_field.problem
    assert panel.input_field.problem_label.isVisible()
    assert panel.input_field.value() == in_force and session.data is data_before

    type_into(qtbot, panel.input_field, "1, 2, 3")
    assert "the model needs 2" in panel.input_field.problem and session.data is data_before

    # a decimal comma: one number or two? It was taken as x = (0, 5) without a word
    type_into(qtbot, panel.input_field, "0,5")
    assert panel.input_field.text() == "0,5" and "write 0.5 for one, 0, 5 for two" in panel.input_field.problem
    assert session.data is data_before
    type_into(qtbot, panel.target_field, "0,5")
    assert "write 0.5 for one" in panel.target_field.problem
    type_into(qtbot, panel.target_field, "1")

    type_into(qtbot, panel.input_field, "0.5, -1")
    assert not panel.input_field.problem
    assert session.data is not data_before
    assert session.data.inputs.reshape(-1).tolist() == [0.5, -1.0]


def test_gradients_fill_in_node_by_node_through_the_replay(window, qtbot):
    ui = window.training_ui
    inspection = ui.inspection
    session = inspection.numbers.session
    set_weights(session)
    panel = inspection.numbers.panel
    type_into(qtbot, panel.input_field, "2, 0")
    type_into(qtbot, panel.target_field, "1")
    for phase in ("zero_grad", "forward", "loss"):
        run_phase(window, qtbot, phase)
    expected = hand_computed(2.0, 0.0, 1.0)

    step = window.actions["actionStepNode"]
    step.trigger()  # runs backward, paused on its first node
    qtbot.waitUntil(lambda: ui.animator.paused and bool(ui.animator.visited), timeout=TIMEOUT)
    assert len(ui.animator.visited) == 1  # paused on the first node: out0, the loss
    seen_unknown_then_known = False
    while ui.animator.animating:
        visited = set(ui.animator.visited)
        graph = window.graph_view.graph()
        for key, lines in window.graph_view.node_badges().items():
            if key not in visited:
                assert lines[1] == f"grad {UNKNOWN}", key  # not reached yet: no gradient shown
        tanh = next(k for k in graph if graph.nodes[k].get("label") == "TanhBackward0")
        if tanh not in visited:
            step.trigger()
            if tanh in ui.animator.visited:
                grad = numbers_of(window.graph_view.node_badges()[tanh][1])
                assert grad == pytest.approx(expected["TanhBackward0"][1], rel=5e-3)
                seen_unknown_then_known = True
        else:
            step.trigger()
    assert seen_unknown_then_known
    assert_tags_equal(tags_by_label(window), expected)


def test_tags_only_for_tiny_networks_and_can_be_turned_off(window, qtbot):
    ui = window.training_ui
    numbers = ui.inspection.numbers
    for phase in ("zero_grad", "forward", "loss"):
        run_phase(window, qtbot, phase)
    qtbot.waitUntil(lambda: bool(window.graph_view.node_badges()), timeout=TIMEOUT)
    window.actions["actionNumbersMode"].trigger()  # off
    assert window.graph_view.node_badges() == {}
    window.actions["actionNumbersMode"].trigger()  # on again
    assert window.graph_view.node_badges()

    window.load_preset("lenet")
    qtbot.waitUntil(lambda: numbers.session is not None and not is_tiny(numbers.session), timeout=TIMEOUT)
    assert not numbers.active and not numbers.panel.isVisibleTo(window)
    assert window.graph_view.node_badges() == {}


def test_tag_text_and_tags_for_a_record_without_graph():
    assert tag_text(torch.tensor(0.70710678)) == "0.707"
    assert tag_text(torch.tensor([[-3.0, 1.0]])) == "[−3, 1]"
    assert tag_text(torch.zeros(7)) == UNKNOWN  # too many numbers for a tag
    assert tag_text(None) == UNKNOWN
    assert node_tags(None) == {}


def test_tiny_mlp_tags_do_not_overlap_and_fit_shows_them(window, qtbot):
    window.load_preset("tiny_mlp")
    ui = window.training_ui
    numbers = ui.inspection.numbers
    qtbot.waitUntil(lambda: numbers.session is not None and numbers.session.spec.find("fc2") is not None,
                    timeout=TIMEOUT)
    for phase in ("zero_grad", "forward", "loss", "backward"):
        run_phase(window, qtbot, phase)
    qtbot.waitUntil(lambda: not ui.animator.animating, timeout=TIMEOUT)
    view = window.graph_view
    tags = view.node_badges()
    assert len(tags) == view.graph().number_of_nodes()  # every node of a tiny network has one
    boxes = list(view.item.badge_boxes().values())
    assert len(boxes) == len(tags)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.intersects(b), (a, b)
    view.fit_to_window(animate=False)
    shown = view.canvas.mapToScene(view.canvas.viewport().rect()).boundingRect()
    for box in boxes:
        assert shown.contains(box), box


FORWARD_EXPECTED = {  # the neuron's forward by hand (x = (2, 0)): n = w·x + b, o = tanh(n)
    "AddmmBackward0": [W1 * 2.0 + W2 * 0.0 + B],
    "TanhBackward0": [math.tanh(W1 * 2.0 + W2 * 0.0 + B)],
    "neuron.weight": [W1, W2],
    "neuron.bias": [B],
}


def assert_forward_tags(tags, expected=FORWARD_EXPECTED):
    assert set(tags) == set(expected), sorted(tags)  # no loss, no output: the loss phase has not run
    for label, data in expected.items():
        data_line, grad_line = tags[label][:2]  # (a parameter's third line: after the step)
        assert numbers_of(data_line) == pytest.approx(data, rel=5e-3, abs=5e-4), label
        assert grad_line == f"grad {UNKNOWN}", label


def test_forward_values_appear_node_by_node_as_the_forward_builds_up(window, qtbot):
    ui = window.training_ui
    numbers = ui.inspection.numbers
    session = numbers.session
    panel = numbers.panel
    type_into(qtbot, panel.input_field, "2, 0")
    type_into(qtbot, panel.target_field, "1")
    for phase in ("zero_grad", "forward", "loss", "backward", "step"):
        run_phase(window, qtbot, phase)
    qtbot.waitUntil(lambda: not ui.animator.animating, timeout=TIMEOUT)
    assert window.graph_view.node_badges()  # the last iteration's numbers
    set_weights(session)

    run_phase(window, qtbot, "zero_grad")
    assert window.graph_view.node_badges() == {}  # before the forward: nothing stale

    step = window.actions["actionStepNode"]
    step.trigger()  # runs the forward, paused on its first node
    qtbot.waitUntil(lambda: ui.animator.paused and bool(ui.animator.revealed), timeout=TIMEOUT)
    assert ui.animator.running_phase == "forward"
    seen, steps = {}, 0
    graph = window.graph_view.graph()
    while ui.animator.animating:
        badges = window.graph_view.node_badges()
        assert set(badges) <= set(ui.animator.revealed)  # a tag only once its node has appeared
        for key, lines in badges.items():
            seen.setdefault(graph.nodes[key].get("name") or graph.nodes[key]["label"], lines)
        step.trigger()
        steps += 1
    # T (the weight's transpose), addmm (with the bias), tanh: the forward, node by node
    assert steps == 2 and "TanhBackward0" not in seen  # tanh appears with the last step
    assert_forward_tags(seen, {k: v for k, v in FORWARD_EXPECTED.items() if k != "TanhBackward0"})
    assert_forward_tags(tags_by_label(window))  # and stays after it
    assert ui.controller.next_phase == "loss"


def test_tags_between_forward_and_loss_from_the_graph_shown():
    from gradviz.core.data import GivenData
    from gradviz.core.presets import neuron
    from gradviz.core.session import TrainingSession

    session = TrainingSession(neuron(), node_gradients=True, data=GivenData([2.0, 0.0], [1.0]))
    set_weights(session)
    session.advance()
    session.advance()  # forward: no graph of this network made yet, so nothing keyed
    record = session.current
    assert record.node_values == {}
    graph = session.preview_graph()  # the graph the window shows
    assert node_tags(record) == {}  # no graph of its own yet
    tags = node_tags(record, graph=graph)
    by_label = {graph.nodes[k].get("name") or graph.nodes[k]["label"]: lines for k, lines in tags.items()}
    assert_forward_tags(by_label)
    some = next(iter(tags))
    assert set(node_tags(record, graph=graph, shown={some})) == {some}


def test_tags_follow_a_state_shown_later(window, qtbot):
    """The first forward may finish before the graph to show it on has come: the
    animator shows that state once it has, and the tags come with it."""
    ui = window.training_ui
    set_weights(ui.inspection.numbers.session)
    for phase in ("zero_grad", "forward"):
        run_phase(window, qtbot, phase)
    qtbot.waitUntil(lambda: not ui.animator.animating, timeout=TIMEOUT)
    window.graph_view.set_node_badges({})  # as before the graph came
    ui.animator.show_state(ui.animator.record, "forward")
    assert "TanhBackward0" in tags_by_label(window) and "MseLossBackward0" not in tags_by_label(window)


# -- the tags' room: planned by the layout, so no tag covers anything -----------------------

def _settled(window, qtbot):
    ui = window.training_ui
    qtbot.waitUntil(lambda: not ui.animator.animating and window.has_graph_view and window.graph_view.is_ready()
                    and bool(window.graph_view.node_badges()), timeout=TIMEOUT)


def _boxes(view):
    """``{key: scene rect}`` of every shown box."""
    return {key: view.node_rect(key) for key in view.node_positions()}


def assert_tags_clear(view):
    """Every node has its tag inside its own box, and no tag meets another box or tag."""
    from PySide6.QtGui import QFontMetricsF

    from gradviz.ui.graph_view.tags import TAG_STYLE, arrange, room_rows

    model, boxes = view.item.model, _boxes(view)
    tags = {model.keys[i]: rect for i, rect in view.item.badge_boxes().items()}
    assert set(tags) == set(boxes) == set(view.node_badges())  # a tiny network: every node has one
    tag_font, label_font = view.fonts.for_style(TAG_STYLE), view.fonts.label
    assert tag_font.pointSizeF() >= label_font.pointSizeF()  # as readable as the node's name
    metrics = QFontMetricsF(tag_font)
    for key, tag in tags.items():
        assert boxes[key].contains(tag), key
        lines = view.node_badges()[key]
        room = room_rows(tag.height(), metrics.height())
        rows = arrange(lines, room)  # data | grad side by side when the room has one row
        assert 1 <= len(rows) <= room, (key, lines)  # every row fits, none clipped
        assert all(metrics.horizontalAdvance(row) <= tag.width() for row in rows), (key, rows)
        for other, box in boxes.items():
            if other != key:
                assert not tag.intersects(box), (key, other)
        for other, rect in tags.items():
            if other != key:
                assert not tag.intersects(rect), (key, other)


def _enter_lecture(win, size):
    from PySide6.QtWidgets import QApplication

    win.set_lecture_mode(True)
    win.showNormal()  # the offscreen "screen" is small: stand in for a projector of this size
    win.resize(*size)
    for _ in range(3):
        QApplication.processEvents()


@pytest.mark.parametrize("preset", ["neuron", "tiny_mlp"])
@pytest.mark.parametrize("size,lecture", [((1600, 1000), False), ((1280, 720), False), ((1600, 1000), True),
                                          ((1280, 720), True)],
                         ids=["1600x1000", "1280x720", "lecture1600x1000", "lecture1280x720"])
def test_tags_have_room_of_their_own_and_nodes_keep_their_place(window, qtbot, preset, size, lecture):
    window.resize(*size)
    if preset != "neuron":
        window.load_preset(preset)
        qtbot.waitUntil(lambda: window.training_ui.inspection.numbers.session.spec.find("fc2") is not None,
                        timeout=TIMEOUT)
    if lecture:
        _enter_lecture(window, size)
    try:
        for phase in ("zero_grad", "forward"):
            run_phase(window, qtbot, phase)
        _settled(window, qtbot)
        view = window.graph_view
        forward_boxes = _boxes(view)
        forward_tags = view.node_badges()
        assert all(lines[1].startswith("grad ") for lines in forward_tags.values())
        for phase in ("loss", "backward"):
            run_phase(window, qtbot, phase)
        _settled(window, qtbot)
        assert len(view.node_badges()) > len(forward_tags)  # the loss's nodes came with their tags
        assert _boxes(view) == forward_boxes  # the values filled in; no node moved or grew
        assert_tags_clear(view)
        view.fit_to_window(animate=False)
        shown = view.canvas.mapToScene(view.canvas.viewport().rect()).boundingRect()
        assert all(shown.contains(box) for box in _boxes(view).values())
        view.notes.place()
        notes = {key: view.node_note_rect(key) for key in _boxes(view) if view.node_note_rect(key) is not None}
        assert notes  # the loss beside the loss node
        for key, note in notes.items():  # a note beside its node covers no other box (nor its tag)
            for other, box in _boxes(view).items():
                if other != key:
                    assert not note.intersects(QRectF(view.canvas.mapFromScene(box).boundingRect())), (key, other)
    finally:
        if lecture:
            window.set_lecture_mode(False)


def test_a_tag_without_planned_room_gets_room_by_a_new_layout(window, qtbot):
    """``set_node_badges`` alone (no room planned) still never covers another node."""
    for phase in ("zero_grad", "forward"):
        run_phase(window, qtbot, phase)
    _settled(window, qtbot)
    view = window.graph_view
    window.training_ui.inspection.numbers.set_enabled(False)  # no room planned, no tags
    qtbot.waitUntil(lambda: view.graph() is not None and view.is_ready() and not view.item.model.tag_h.any(),
                    timeout=TIMEOUT)
    keys = list(view.node_positions())
    view.set_node_badges({key: ["data [−0.0053, 0.379, 12.5]", "grad −1e−12"] for key in keys})
    qtbot.waitUntil(lambda: view.is_ready() and len(view.item.badge_boxes()) == len(keys), timeout=TIMEOUT)
    assert_tags_clear(view)


def test_tag_numbers_keep_a_fixed_width():
    from gradviz.ui.training.numbers_mode import tag_number, widest_tag_text

    assert [tag_number(v) for v in (0.70710678, -0.293, 6.8813, -0.00529, 1234.5, 1e-5, -1.23e-12, 0.0)] == \
        ["0.707", "−0.293", "6.88", "−0.0053", "1.2e3", "1e−5", "−1e−12", "0"]
    for digits in (2, 3):  # however big or small, a number is at most digits + 4 characters
        for exponent in range(-40, 40):
            for mantissa in (1.0, -9.99, 5.55):
                assert len(tag_number(mantissa * 10.0 ** exponent, digits)) <= digits + 4
    # the room for two numbers holds every pair, measured by characters here
    widest = widest_tag_text(2, len)
    assert len(widest) >= len(f"[{tag_number(-0.0123)}, {tag_number(-1.2e-8)}]")
    assert widest_tag_text(7, len) == UNKNOWN


def test_a_note_beside_a_node_goes_where_it_covers_no_other_box(window, qtbot):
    """neuron.bias has TBackward0 right beside it: its note goes to another side."""
    for phase in ("zero_grad", "forward"):
        run_phase(window, qtbot, phase)
    _settled(window, qtbot)
    view = window.graph_view
    graph = view.graph()
    bias = next(k for k in graph if graph.nodes[k].get("name") == "neuron.bias")
    beside = next(k for k in graph if graph.nodes[k].get("label") == "TBackward0")
    view.fit_to_window(animate=False)
    assert abs(view.node_rect(bias).center().y() - view.node_rect(beside).center().y()) < 1  # one row
    view.set_node_note(bias, "bias = 6.881")
    note = view.node_note_rect(bias)
    assert note is not None
    for key, box in _boxes(view).items():
        if key != bias:
            assert not note.intersects(QRectF(view.canvas.mapFromScene(box).boundingRect())), key


def test_an_unchanged_room_does_not_restart_a_pending_layout(qtbot):
    """Numbers mode re-plans the room on every replay step: the same room costs nothing."""
    import networkx as nx

    from gradviz.ui.graph_view import GraphView
    from gradviz.ui.training.numbers_mode import tag_room

    view = GraphView()
    qtbot.addWidget(view)
    graph = nx.DiGraph()
    graph.add_node("a", kind="param", label="AccumulateGrad", name="w", shape=(1, 2))
    graph.add_node("b", kind="op", label="TanhBackward0", output_shape=(1, 2))
    graph.add_edge("a", "b")
    view.set_node_badge_room(tag_room)
    view.set_graph(graph)
    generation = view._generation
    assert view._task is not None  # laid out in the background
    for _ in range(3):
        view.set_node_badge_room(tag_room)
    assert view._generation == generation  # still the first layout
    qtbot.waitUntil(view.is_ready, timeout=TIMEOUT)
    assert view.item.model.tag_h.all()  # with room for the tags
    view.set_node_badge_room(None)
    qtbot.waitUntil(lambda: view.is_ready() and not view.item.model.tag_h.any(), timeout=TIMEOUT)

    big = nx.DiGraph()  # a big graph with modules opens collapsed: its layout is an "auto" one
    for i in range(200):
        big.add_node(f"n{i}", kind="op", label="ReluBackward0", module=f"block{i // 10}.act")
        if i:
            big.add_edge(f"n{i - 1}", f"n{i}")
    view.set_graph(big)
    generation = view._generation
    assert view._task is not None
    view.set_node_badge_room(None)  # numbers mode is off for it: nothing to plan
    assert view._generation == generation
    qtbot.waitUntil(view.is_ready, timeout=TIMEOUT)


def test_after_the_step_each_parameter_shows_its_new_value_by_hand(window, qtbot):
    """After Step the weight and bias still read their forward values ("data [−3, 1]")
    with nothing saying the step had changed them: a learner read the old weight as the
    current one. A third line says the value after the step: w − lr·∂L/∂w."""
    from gradviz.ui.training.numbers_mode import AFTER_STEP

    ui = window.training_ui
    numbers = ui.inspection.numbers
    session = numbers.session
    set_weights(session)
    session.set_lr(0.5)  # a step big enough to tell apart at three digits
    type_into(qtbot, numbers.panel.input_field, "2, 0")
    type_into(qtbot, numbers.panel.target_field, "1")
    for phase in ("zero_grad", "forward", "loss", "backward"):
        run_phase(window, qtbot, phase)
    qtbot.waitUntil(lambda: not ui.animator.animating, timeout=TIMEOUT)
    tags = tags_by_label(window)
    assert tags["neuron.weight"][2] == f"{AFTER_STEP} {UNKNOWN}" and tags["neuron.bias"][2] == f"{AFTER_STEP} {UNKNOWN}"
    assert len(tags["TanhBackward0"]) == 2  # ops have no such line

    lr = session.lr
    assert lr == 0.5
    run_phase(window, qtbot, "step")
    expected = hand_computed(2.0, 0.0, 1.0)
    new_weight = [w - lr * g for w, g in zip(*expected["neuron.weight"])]
    new_bias = [B - lr * expected["neuron.bias"][1][0]]

    def after_step_shown():
        tags = tags_by_label(window)
        return all(tags[name][2] != f"{AFTER_STEP} {UNKNOWN}" for name in ("neuron.weight", "neuron.bias"))

    qtbot.waitUntil(after_step_shown, timeout=TIMEOUT)
    tags = tags_by_label(window)
    assert numbers_of(tags["neuron.weight"][2].replace(AFTER_STEP + " ", "x ")) == pytest.approx(new_weight, rel=5e-3, abs=5e-4)
    assert numbers_of(tags["neuron.bias"][2].replace(AFTER_STEP + " ", "x ")) == pytest.approx(new_bias, rel=5e-3, abs=5e-4)
    assert numbers_of(tags["neuron.weight"][0]) == pytest.approx([W1, W2])  # what the forward used, still
