"""What a class wants to see during one iteration (issue 13): the loss value on the
loss node, the output against the target, parameters back to their normal colour
after the step, heatmaps big enough to see single weights and colour bars whose
labels (min, 0, max, unit) never overlap — on LeNet at the default 1600×1000 window."""
import gc
import itertools
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gradviz.core.session")

from gradviz.core.display import tensor_images
from gradviz.ui.training.colour_scale import format_value

PHASE_ACTIONS = {
    "zero_grad": "actionZeroGrad",
    "forward": "actionForward",
    "loss": "actionLoss",
    "backward": "actionBackward",
    "step": "actionStep",
}
TIMEOUT = 30_000
MIN_WEIGHT_PX = 8


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow
    from gradviz.ui.training import install_training_ui

    gc.collect()  # on the GUI thread: see the window fixture in test_training_ui.py
    win = MainWindow()
    qtbot.addWidget(win)
    if getattr(win, "training_ui", None) is None:
        install_training_ui(win)
    win.resize(1600, 1000)
    win.show()
    win.load_preset("lenet")
    win.training_ui.set_speed(1000)
    yield win
    win.training_ui.controller.pause()
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(20_000)


def idle(ui) -> bool:
    return ui.controller.is_idle() and not ui.gradients.morphing and not ui.animator.animating


def run(window, qtbot, phase):
    ui = window.training_ui
    action = window.actions[PHASE_ACTIONS[phase]]
    assert action.isEnabled(), f"{phase} should be next"
    action.trigger()
    qtbot.waitUntil(lambda: idle(ui), timeout=TIMEOUT)
    assert ui.controller.last_error is None


def loss_key(view):
    from gradviz.core.display.graph_steps import output_nodes

    keys = output_nodes(view.graph())
    assert len(keys) == 1
    return keys[0]


def overlapping(rects):
    return [(a, b) for (a, ra), (b, rb) in itertools.combinations(rects, 2) if ra.intersects(rb)]


def weight_pixels(panel, name="grad"):
    """On-screen pixels per weight of a picture: its image item's rectangle in the plot widget's pixels."""
    item = panel.items[name]
    rect = panel.plots_widget.mapFromScene(item.mapToScene(item.boundingRect())).boundingRect()
    rows, cols = item.image.shape
    return min(rect.width() / cols, rect.height() / rows)


# -- the whole iteration (F8) -------------------------------------------------------------

def test_one_iteration_shows_loss_output_and_plain_parameters(window, qtbot):
    ui = window.training_ui
    window.actions["actionRunIteration"].trigger()
    qtbot.waitUntil(lambda: idle(ui) and window.session.iteration == 1, timeout=TIMEOUT)
    record = window.session.history[-1]
    view = window.graph_view

    # the loss value beside the loss node, on screen
    key = loss_key(view)
    assert view.node_note(key) == f"loss = {record.loss:.4g}"
    note = view.node_note_rect(key)
    assert view.canvas.viewport().rect().contains(note.toRect())
    assert note.height() >= view.fontMetrics().height()  # at least the UI's text size, whatever the zoom
    # zoomed in with the loss node at the pane's right edge, the note moves to the node's left: never cut
    from PySide6.QtCore import QPoint, QPointF, QRectF

    canvas = view.canvas
    if view.legend.isVisible():  # nor hidden under the legend drawn over the graph
        offset = QPointF(canvas.viewport().mapFrom(view.legend.parentWidget(), QPoint(0, 0)))
        assert not QRectF(view.legend.geometry()).translated(offset).intersects(note)
    canvas.set_scale(2.0)
    box = view.node_rect(key)
    width = canvas.viewport().width() / canvas.scale_factor()
    canvas.show_at(QPointF(box.right() - width / 2 + 10 / canvas.scale_factor(), box.center().y()), None, False)
    qtbot.waitUntil(lambda: canvas.mapFromScene(box.topRight()).x() > canvas.viewport().width() - 40, timeout=5000)
    note = view.node_note_rect(key)
    assert canvas.viewport().rect().contains(note.toRect())
    assert note.right() <= canvas.mapFromScene(box.topLeft()).x() + 3  # left of the box (its leader line touches it)
    # with the loss node past the pane's bottom edge (or under the legend), its note goes
    # with it: slid into the pane, it stood over MseLossBackward0's name
    def other_boxes():
        return [QRectF(canvas.mapFromScene(view.node_rect(k)).boundingRect()) for k in view.graph().nodes
                if k != key and view.node_rect(k) is not None]

    height = canvas.viewport().height() / canvas.scale_factor()
    for below_px in (-12, 4, 40):  # the box's top that far under the pane's bottom edge
        centre = QPointF(box.center().x(), box.top() - height / 2 - below_px / canvas.scale_factor())
        canvas.show_at(centre, None, False)
        assert abs(canvas.mapFromScene(box.topLeft()).y() - canvas.viewport().height() - below_px) <= 2
        note = view.node_note_rect(key)
        if below_px > 0:
            assert note is None, below_px
        assert note is None or not any(note.intersects(other) for other in other_boxes()), below_px

    # after the step no node is "active", and the parameters are drawn as parameters again
    from gradviz.core.display.graph_steps import param_keys

    roles = view.node_roles()
    assert "active" not in roles.values()
    params = param_keys(view.graph())
    assert params and not any(roles.get(k) for k in params.values())
    assert any(role == "visited" for role in roles.values())  # the ops still show the gradient's way

    # the output of the first sample against its target
    outputs, targets = ui.outputs.values()
    assert np.allclose(outputs, record.output_sample.numpy())
    assert np.allclose(targets, record.target_sample.numpy()) and targets.shape == (10,)
    assert f"loss = {record.loss:.4g}" in ui.outputs.caption.text()
    assert ui.outputs.isVisible()


def test_conv_kernels_get_eight_pixels_per_weight_and_labelled_bars(window, qtbot):
    ui = window.training_ui
    panel = ui.gradients
    window.actions["actionRunIteration"].trigger()
    qtbot.waitUntil(lambda: idle(ui) and window.session.iteration == 1, timeout=TIMEOUT)
    ui.gradient_dock.raise_()
    panel.set_param("conv1.weight")
    record = window.session.history[-1]
    qtbot.waitUntil(lambda: weight_pixels(panel) >= MIN_WEIGHT_PX, timeout=5000)
    for name in ("before", "grad", "update", "after"):
        assert weight_pixels(panel, name) >= MIN_WEIGHT_PX, name
    # the pictures are still the tensor: every weight once, where the index map says
    grad = record.grads["conv1.weight"].numpy()
    image, index = panel.image("grad"), panel._index
    inside = index >= 0
    assert np.allclose(image[inside], grad.reshape(-1)[index[inside]])
    assert sorted(index[inside].tolist()) == list(range(grad.size))

    # every colour bar: minimum, 0 and maximum, then its unit; nothing overlaps
    for name in ("before", "grad", "update", "after"):
        scale = panel.scales[name]
        assert scale.isVisible(), name
        low, high = panel.levels(name)
        rects = scale.label_rects()
        texts = [text for text, _ in rects]
        assert texts[:3] == [format_value(low), "0", format_value(high)], name
        assert texts[3] in ("weight w", "∂loss/∂w", "Δw = after − before")
        assert not overlapping(rects), name
    # and the bars do not overlap each other's labels
    all_rects = [(f"{name}:{t}", r) for name in panel.scales for t, r in panel.scales[name].label_rects()]
    assert not overlapping(all_rects)


def test_history_heatmap_has_a_labelled_colour_bar(window, qtbot):
    ui = window.training_ui
    for _ in range(2):
        window.actions["actionRunIteration"].trigger()
        qtbot.waitUntil(lambda: idle(ui) and not ui.controller.busy, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.session.iteration == 2, timeout=TIMEOUT)
    ui.norms_dock.raise_()
    norms = ui.norms
    norms.set_histogram_param("conv1.weight")
    qtbot.waitUntil(lambda: norms.hist_scale.isVisible(), timeout=5000)
    image = norms.histogram_image()
    most = int(round(np.expm1(image).max()))
    rects = norms.hist_scale.label_rects()
    assert [t for t, _ in rects] == ["0", f"{most:,}", "values per bin (colour: log scale)"]
    assert not overlapping(rects)
    # in the default column and at 1280×720 (a dock too short for the three plots
    # scrolls): a pixel or more a bin, value ticks apart, bar names near the text size
    from PySide6.QtGui import QFontMetrics, QImage, QPainter
    from PySide6.QtWidgets import QApplication

    from gradviz.ui.training.norms import HIST_BINS

    for size, dark in (((1600, 1000), False), ((1280, 720), False), ((1280, 720), True)):
        if dark:  # a theme change restyles the plots: their least heights are set again
            window.actions["actionThemeDark"].trigger()
        window.resize(*size)
        qtbot.waitUntil(lambda: window.width() == size[0], timeout=5000)
        for _ in range(3):
            QApplication.processEvents()
        widget = norms.plot_widgets["histogramPlot"]
        item = norms.hist_image
        drawn = widget.mapFromScene(item.mapToScene(item.boundingRect())).boundingRect()
        assert drawn.height() >= HIST_BINS - 2, (size, drawn)
        canvas = QImage(8, 8, QImage.Format.Format_ARGB32)
        painter = QPainter(canvas)
        try:
            texts = norms.hist_plot.getAxis("left").generateDrawSpecs(painter)[2]
        finally:
            painter.end()
        assert len(texts) >= 2 and not overlapping([(text, rect) for rect, _, text in texts]), (size, texts)
        line = QFontMetrics(norms.font()).height()
        assert norms.norm_plot.getAxis("left").style["tickFont"].pixelSize() >= 0.7 * line, size


# -- phase by phase ---------------------------------------------------------------------------

def test_loss_note_and_output_follow_the_phases_and_the_network(window, qtbot):
    ui = window.training_ui
    run(window, qtbot, "zero_grad")
    assert ui.outputs.values() == (None, None)
    ui.gradients.set_param("conv1.bias")
    assert not np.abs(ui.gradients.image("grad")).any()  # .grad is None before backward: zeros

    run(window, qtbot, "forward")
    view = window.graph_view
    key = loss_key(view)
    assert view.node_note(key) is None  # no loss yet
    outputs, targets = ui.outputs.values()
    assert outputs is not None and outputs.shape == targets.shape == (10,)
    assert "loss =" not in ui.outputs.caption.text()  # not computed yet
    assert view.hidden_count() >= 1 and view.hidden_count() < view.node_count()  # the forward graph is on screen

    run(window, qtbot, "loss")
    loss = window.session.current.loss
    assert view.node_note(key) == f"loss = {loss:.4g}"
    assert not np.abs(ui.gradients.image("grad")).any()  # the tutorial: still zero before backward

    run(window, qtbot, "backward")
    assert np.abs(ui.gradients.image("grad")).max() > 0  # ... and not after
    assert view.node_note(key) == f"loss = {loss:.4g}"

    # an out-of-date graph dims its loss with it
    view.set_stale("Out of date (test)")
    assert view.node_note(key) is not None and view.notes.opacity(key) < 1
    view.set_stale(None)
    assert view.notes.opacity(key) == 1

    # the network changes: the old graph says it is out of date, and its loss is gone
    window.load_preset("mlp")
    qtbot.waitUntil(lambda: view.stale, timeout=TIMEOUT)
    assert view.node_note(key) is None
    assert ui.outputs.values() == (None, None)


def test_time_travel_shows_the_loss_of_the_record_looked_at(window, qtbot):
    ui = window.training_ui
    losses = []
    for _ in range(2):
        window.actions["actionRunIteration"].trigger()
        qtbot.waitUntil(lambda: idle(ui) and not ui.controller.busy, timeout=TIMEOUT)
        qtbot.waitUntil(lambda: window.session.iteration == len(losses) + 1, timeout=TIMEOUT)
        losses.append(window.session.history[-1].loss)
    assert losses[0] != losses[1]
    view = window.graph_view
    key = loss_key(view)
    ui.history.show_iteration(0, "step")
    assert view.node_note(key) == f"loss = {losses[0]:.4g}"
    ui.history.show_iteration(0, "forward")
    assert view.node_note(key) is None
    assert np.allclose(ui.outputs.values()[0], window.session.history[0].output_sample.numpy())
    ui.history.go_live()
    assert view.node_note(key) == f"loss = {losses[1]:.4g}"


# -- the pieces on their own ------------------------------------------------------------------

def test_output_panel_names_the_predicted_class(qtbot):
    from gradviz.ui.training.output_panel import OutputPanel

    panel = OutputPanel()
    qtbot.addWidget(panel)
    panel.resize(420, 260)
    panel.show()
    scores = torch.tensor([0.1, 2.0, -0.5, 0.3])
    record = SimpleNamespace(output_sample=scores, target_sample=torch.tensor([3.0]), output_sample_size=4,
                             target_kind="classes", loss=1.25)
    panel.show_record(record, "forward")
    assert panel.predicted_class() == 1
    text = panel.caption.text()
    assert "predicted class <b>1</b>" in text and "target class <b>3</b>" in text and "wrong" in text
    assert "loss =" not in text  # not computed after forward
    panel.show_record(record, "loss")
    assert "loss = 1.25" in panel.caption.text()
    panel.show_record(SimpleNamespace(**{**vars(record), "target_sample": torch.tensor([1.0])}), "loss")
    assert "right" in panel.caption.text()
    panel.show_record(record, "zero_grad")
    assert panel.values() == (None, None) and panel.predicted_class() is None


def test_kernel_grid_wraps_to_draw_weights_largest():
    shape = (6, 1, 5, 5)
    assert tensor_images.image_shape(shape) == (5, 35)
    assert tensor_images.image_shape(shape, 3) == (11, 17)
    assert tensor_images.image_shape((16, 6, 5, 5), 8) == (2 * 35 + 2, 47)  # a two-pixel gap between bands
    assert tensor_images.best_per_row(shape, 1000, 40) == 6  # wide and flat: one row of six
    assert tensor_images.best_per_row(shape, 230, 140) == 3  # narrower: 3 + 3, not 4 + 2
    assert tensor_images.best_per_row((10,), 100, 100) is None
    assert tensor_images.best_per_row(shape, 0, 100) == 6  # no room known (hidden panel): the plain layout
    values = np.arange(16 * 6 * 3 * 3, dtype=float).reshape(16, 6, 3, 3)
    for per_row in (None, 1, 5, 8, 16):
        image, index = tensor_images.layout(values, per_row)
        assert image.shape == tensor_images.image_shape(values.shape, per_row)
        inside = index >= 0
        assert np.array_equal(image[inside], values.reshape(-1)[index[inside]])
        assert np.isnan(image[~inside]).all()
        assert sorted(index[inside].tolist()) == list(range(values.size))


@pytest.mark.parametrize("size", [(700, 260), (1100, 300), (1500, 420)])
def test_gradient_panel_scales_weights_with_its_size_and_keeps_labels_apart(qtbot, size):
    from gradviz.ui.training.gradient_panel import GradientPanel

    gc.collect()
    torch.manual_seed(0)
    before = torch.randn(6, 1, 5, 5) * 0.2
    grad = torch.randn(6, 1, 5, 5) * 3e-4
    record = SimpleNamespace(index=0, lr=0.01, optimizer_name="sgd", record_level="full", nonfinite=[],
                             params_before={"conv1.weight": before}, grads={"conv1.weight": grad},
                             params_after={"conv1.weight": before - 0.01 * grad})
    panel = GradientPanel()
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    panel.set_parameters([("conv1.weight", (6, 1, 5, 5))])
    panel.show_record(record, "step")
    qtbot.waitUntil(lambda: panel.plots["grad"].vb.width() > 0, timeout=5000)
    # the plots are rearranged for this size: the panel would choose what it shows
    qtbot.waitUntil(lambda: panel._choose(panel._shape) == (panel.arrangement, panel._per_row), timeout=5000)
    pixels = weight_pixels(panel)
    room = min(size[0] / 35, size[1] / 5)
    assert pixels >= MIN_WEIGHT_PX or pixels >= 0.25 * room  # small panels: still a fair share of the room
    for name, scale in panel.scales.items():
        assert not overlapping(scale.label_rects()), (size, name)
    if size[0] >= 1100:
        assert pixels >= MIN_WEIGHT_PX
    panel.resize(size[0] * 2, size[1] * 2)
    qtbot.waitUntil(lambda: weight_pixels(panel) > pixels * 1.3, timeout=5000)  # grows with the panel


def test_one_picture_alone_draws_weights_larger(qtbot):
    from gradviz.ui.training.gradient_panel import GradientPanel

    gc.collect()
    torch.manual_seed(1)
    before = torch.randn(16, 6, 5, 5) * 0.1
    grad = torch.randn(16, 6, 5, 5) * 1e-3
    record = SimpleNamespace(index=0, lr=0.01, optimizer_name="sgd", record_level="full", nonfinite=[],
                             params_before={"conv2.weight": before}, grads={"conv2.weight": grad},
                             params_after={"conv2.weight": before - 0.01 * grad})
    panel = GradientPanel()
    qtbot.addWidget(panel)
    panel.resize(1500, 700)
    panel.show()
    panel.set_parameters([("conv2.weight", (16, 6, 5, 5))])
    panel.show_record(record, "step")
    qtbot.waitUntil(lambda: weight_pixels(panel) > 1, timeout=5000)
    all_four = weight_pixels(panel)
    panel.set_focus("grad")
    assert panel.show_combo.currentData() == "grad" and panel.arrangement == (1, 1)
    assert not panel.plots["before"].isVisible() and panel.plots["grad"].isVisible()
    qtbot.waitUntil(lambda: weight_pixels(panel) >= MIN_WEIGHT_PX, timeout=5000)  # conv2: 8 px with the room for it
    assert weight_pixels(panel) > 1.5 * all_four
    assert np.allclose(panel.image("grad")[panel._index >= 0], grad.numpy().reshape(-1)[panel._index[panel._index >= 0]])
    panel.set_focus(None)
    assert all(plot.isVisible() for plot in panel.plots.values())
    with pytest.raises(ValueError, match="no picture"):
        panel.set_focus("gradient")


# -- what the records keep for the chart (core, no Qt) ------------------------------------------

def test_records_keep_the_first_samples_output_and_target(one_torch_thread):
    from gradviz import presets
    from gradviz.core.session import SAMPLE_LIMIT, TrainingSession

    session = TrainingSession(presets.load("lenet"), loss="cross_entropy")
    session.advance()  # zero_grad
    assert session.current.output_sample is None
    session.advance()  # forward: output and target are known before the loss runs
    record = session.current
    assert record.target_kind == "classes" and record.output_sample.shape == (10,)
    assert record.target_sample.shape == (1,) and 0 <= record.target_sample.item() < 10
    assert record.output_sample_size == 10

    class TwoHeads(torch.nn.Module):
        """Several outputs, a long first sample: the loss uses the first; the record keeps at most SAMPLE_LIMIT values."""

        def __init__(self):
            super().__init__()
            self.body = torch.nn.Linear(4, 100)

        def forward(self, x):
            h = self.body(x)
            return h, h.sum(dim=1)

    session = TrainingSession(TwoHeads(), input_shape=(3, 4), record="light")
    session.advance()
    session.advance()
    record = session.current
    assert record.output_sample_size == 100 and record.output_sample.shape == (SAMPLE_LIMIT,)
    assert record.target_kind == "values" and record.target_sample.shape == (SAMPLE_LIMIT,)


@pytest.mark.parametrize("width", [280, 900])
def test_the_norms_title_is_shortened_not_cut(qtbot, width):
    """A narrow norms plot (the run window's: 375 px) cut "‖gradient‖ per parameter ·
    iteration 68" at its edge to "… iteration 6", a false number; the title now
    shortens to what fits, the iteration whole."""
    from gradviz.ui.training.norms import NormsPanel

    panel = NormsPanel()
    qtbot.addWidget(panel)
    panel.resize(width * 2, 300)  # side by side: the norms plot gets about half
    panel.show()
    names = [f"layer{i}.weight" for i in range(6)]
    record = SimpleNamespace(index=68, loss=0.5, grad_norms={n: 0.1 * (i + 1) for i, n in enumerate(names)},
                             params_after={}, grads={})
    panel.set_parameters(names)
    panel.set_records([record])
    widget = panel.plot_widgets["gradNormPlot"]
    plot = panel.norm_plot

    def title_inside():
        item = plot.titleLabel.item
        title = widget.mapFromScene(item.mapRectToScene(item.boundingRect())).boundingRect()
        return widget.viewport().rect().contains(title)

    qtbot.waitUntil(lambda: widget.isVisible() and title_inside(), timeout=5000)
    assert plot.titleLabel.text.endswith("iteration 68")
    if width >= 900:
        assert plot.titleLabel.text == "‖gradient‖ per parameter · iteration 68"


def test_the_histogram_keeps_its_room_when_its_colour_bar_arrives(qtbot):
    """Shown before any data (no colour bar yet), then given iterations: the
    histogram still gets a pixel a bin. A height measured without the bar had
    left it 0 px once the bar came."""
    from PySide6.QtWidgets import QApplication

    from gradviz.ui.training.norms import HIST_BINS, NormsPanel

    panel = NormsPanel()
    qtbot.addWidget(panel)
    panel.resize(449, 536)  # the 1280×720 column: stacked
    panel.show()
    names = ["w"]
    panel.set_parameters(names)
    qtbot.waitUntil(lambda: panel.plot_widgets["histogramPlot"].getPlotItem().vb.height() > 0, timeout=5000)
    torch.manual_seed(0)
    records = [SimpleNamespace(index=i, loss=1.0 / (i + 1), grad_norms={"w": 0.1}, params_after={"w": torch.randn(8, 8)},
                               grads={"w": torch.randn(8, 8)}) for i in range(3)]
    panel.set_records(records)
    panel.set_histogram_param("w")
    qtbot.waitUntil(lambda: panel.hist_bar.isVisible(), timeout=5000)
    for _ in range(3):
        QApplication.processEvents()
    widget, item = panel.plot_widgets["histogramPlot"], panel.hist_image
    qtbot.waitUntil(lambda: widget.mapFromScene(item.mapToScene(item.boundingRect())).boundingRect().height()
                    >= HIST_BINS - 2, timeout=5000)


MLP_SOURCE = '''
import torch
from torch import nn


class DeepMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


def example_inputs():
    return torch.randn(4, 64)
'''


def test_colour_bar_numbers_of_an_opened_model_are_inside_the_panel(qtbot, tmp_path):
    """An opened model's net.0.weight (32, 64) at 1600×1000: the empty panel was narrowed
    while its four titles stood side by side, then rearranged; the drawing kept the
    four-across width, 28 px wider than the panel, and a bar's right-hand number "+0.125"
    read "+0.1" under the panel's edge."""
    from gradviz.core.user_model import UserModelRequest
    from gradviz.ui import MainWindow
    from gradviz.ui.training.gradient_panel import GradientPanel
    from gradviz.ui.user_model.opener import model_opener, open_model_in_window

    path = tmp_path / "deep_mlp.py"
    path.write_text(MLP_SOURCE)
    gc.collect()
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    open_model_in_window(win, UserModelRequest(path))
    opener = model_opener(win)
    qtbot.waitUntil(lambda: opener.session is not None, timeout=60_000)
    qtbot.waitUntil(lambda: win.has_graph_view and win.graph_view.graph() is not None and win.graph_view.is_ready(),
                    timeout=30_000)
    ui = win.training_ui
    ui.set_speed(1000)
    for phase in ("zero_grad", "forward", "loss", "backward"):
        run(win, qtbot, phase)
    panel = win.findChildren(GradientPanel)[0]
    view = panel.plots_widget
    qtbot.waitUntil(lambda: panel.plots["grad"].vb.width() > 0, timeout=5000)
    numbers = [(name, text, view.mapFromScene(rect.topRight()).x())
               for name, scale in panel.scales.items() if scale.isVisible() for text, rect in scale.label_rects()]
    assert numbers and all(right <= view.viewport().width() for _, _, right in numbers), (numbers, view.viewport().width())
    ui.controller.pause()
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(20_000)
