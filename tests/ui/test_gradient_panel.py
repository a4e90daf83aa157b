"""GradientPanel on its own, fed hand-made records: scales, hover text, the morph, placeholders."""
import gc
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gradviz.ui.training.gradient_panel import GradientPanel


def record(**overrides):
    before = torch.tensor([[0.5, -1.0, 0.25], [2.0, 0.0, -0.5]])
    grad = torch.tensor([[1.0, -4.0, 0.5], [0.0, 2.0, -1.0]])
    fields = {
        "index": 3, "lr": 0.1, "optimizer_name": "sgd", "record_level": "full", "nonfinite": [],
        "params_before": {"w": before}, "grads": {"w": grad}, "params_after": {"w": before - 0.1 * grad},
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


@pytest.fixture
def panel(qtbot):
    gc.collect()  # on the GUI thread: see the window fixture in test_training_ui.py
    widget = GradientPanel()
    qtbot.addWidget(widget)
    widget.resize(900, 320)
    widget.show()
    widget.set_parameters([("w", (2, 3))])
    return widget


def test_scales_are_symmetric_and_before_after_share_one(panel):
    panel.show_record(record(), "step")
    assert panel.levels("grad") == (-4.0, 4.0)
    assert panel.levels("before") == panel.levels("after") == (-2.0, 2.0)
    lo, hi = panel.levels("update")
    assert hi == pytest.approx(0.4) and lo == -hi
    assert np.allclose(panel.image("update"), -0.1 * record().grads["w"].numpy())


def test_before_backward_the_gradient_is_drawn_as_zeros_and_said_so(panel):
    panel.show_record(record(grads={}), "loss")
    assert np.array_equal(panel.image("grad"), np.zeros((2, 3)))
    # PyTorch's .grad is None before backward (the tutorial's words), not a tensor of zeros.
    assert "w.grad is None" in panel.plots["grad"].titleLabel.text
    assert "no gradient yet" not in panel.plots["grad"].titleLabel.text
    assert panel.image("after") is None and panel.image("update") is None
    assert not panel.bars["grad"].isVisible()


def test_hover_names_element_and_value(panel, qtbot):
    panel.show_record(record(), "step")
    item = panel.items["grad"]
    # the plots got their geometry: the pixel's centre lies inside the gradient plot
    qtbot.waitUntil(lambda: panel.plots["grad"].vb.sceneBoundingRect().contains(item.mapToScene(1.5, 0.5)), timeout=5000)
    scene_pos = item.mapToScene(1.5, 0.5)  # pixel row 0, column 1
    panel._on_mouse_moved(scene_pos)
    assert panel.hover_label.text() == "gradient · w[0, 1] = -4"


def test_step_morphs_from_before_to_after(panel, qtbot):
    panel.set_speed(1.0)
    panel.show_record(record(), "step", animate=True)
    assert panel.morphing
    first = panel.items["after"].image.copy()
    assert np.allclose(first, record().params_before["w"].numpy())  # starts at the old weights
    qtbot.waitUntil(lambda: not panel.morphing, timeout=5000)
    assert np.allclose(panel.items["after"].image, record().params_after["w"].numpy())


def test_light_records_and_nonfinite(panel):
    panel.show_record(record(record_level="light"), "step")
    assert panel.image("before") is None and "light" in panel.caption.text()
    bad = record(nonfinite=["w"])
    panel.show_record(bad, "step")
    assert not panel.nonfinite_label.isHidden() and panel.combo.itemText(0) == "⚠ w"


def conv_record(name, shape, seed=0):
    torch.manual_seed(seed)
    before = torch.randn(*shape) * 0.1
    grad = torch.randn(*shape) * 1e-3
    return record(params_before={name: before}, grads={name: grad}, params_after={name: before - 0.01 * grad})


def weight_pixels(panel, name):
    """On-screen px per weight of a picture (its image item in the plot widget's pixels)."""
    item = panel.items[name]
    rect = panel.plots_widget.mapFromScene(item.mapToScene(item.boundingRect())).boundingRect()
    rows, cols = item.image.shape
    return min(rect.width() / cols, rect.height() / rows), rect


@pytest.mark.parametrize("size", [(300, 560), (520, 500)], ids=["side-column", "wide-column"])
def test_conv2_kernels_keep_8px_per_weight_and_scroll(qtbot, size):
    """LeNet's conv2.weight (16×6×5×5, 2,400 weights a picture) in the default right
    column at 1600×1000 and in a wider one: every weight at least
    MIN_WEIGHT_PX wide in all four pictures, the picture area scrolling up and down
    (never sideways: each picture whole in the panel's width)."""
    from PySide6.QtWidgets import QApplication

    from gradviz.ui import theme
    from gradviz.ui.training.gradient_panel import MIN_WEIGHT_PX

    theme.apply(QApplication.instance())  # the app's own font and style, whichever test ran before
    gc.collect()
    widget = GradientPanel()
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    widget.set_parameters([("conv2.weight", (16, 6, 5, 5)), ("conv1.weight", (6, 1, 5, 5))])
    widget.show_record(conv_record("conv2.weight", (16, 6, 5, 5)), "step")
    qtbot.waitUntil(lambda: widget.plots["after"].vb.width() > 0 and widget.scrolled, timeout=5000)
    viewport = widget.plots_scroll.viewport()
    qtbot.waitUntil(lambda: widget.plots_widget.height() > viewport.height(), timeout=5000)
    def whole_and_large(key):
        pixels, rect = weight_pixels(widget, key)
        return pixels >= MIN_WEIGHT_PX and rect.left() >= 0 and rect.right() <= viewport.width()

    for key in ("before", "grad", "update", "after"):
        try:
            qtbot.waitUntil(lambda: whole_and_large(key), timeout=5000)
        except Exception:
            raise AssertionError((key, weight_pixels(widget, key), viewport.width())) from None
    assert widget.plots_scroll.verticalScrollBar().maximum() > 0
    if size[0] < 500:
        return
    # conv1 (150 weights) fits a 520×500 column at the desktop text size at 8 px: no scrolling there.
    # (Lecture mode's column at 1600×1000 is 499×486 with 1.5× text: there conv1's four pictures scroll.)
    widget.set_param("conv1.weight")
    widget.show_record(conv_record("conv1.weight", (6, 1, 5, 5)), "step")
    qtbot.waitUntil(lambda: not widget.scrolled and widget.plots_widget.height() <= viewport.height(), timeout=5000)
    qtbot.waitUntil(lambda: weight_pixels(widget, "grad")[0] >= MIN_WEIGHT_PX, timeout=5000)


def test_presenting_form_gives_the_pictures_the_height_and_comes_back(qtbot):
    """``set_presenting`` (lecture mode): "Show" moves up beside the parameter, the
    caption row steps aside, a picture's note is written inside it, one-line titles;
    turned off, all comes back as it was."""
    from PySide6.QtWidgets import QApplication

    from gradviz.ui import theme

    theme.apply(QApplication.instance())
    widget = GradientPanel()
    qtbot.addWidget(widget)
    widget.resize(499, 486)
    widget.show()
    widget.set_parameters([("conv1.weight", (6, 1, 5, 5))])
    widget.show_record(conv_record("conv1.weight", (6, 1, 5, 5)), "backward")  # update, after: not yet
    widget.set_presenting(True)
    assert widget.presenting and not widget.caption.isVisibleTo(widget)
    def show_combo_top():
        return widget.show_combo.mapTo(widget, widget.show_combo.rect().topLeft()).y()

    qtbot.waitUntil(lambda: show_combo_top() < widget.combo.geometry().bottom(), timeout=5000)  # beside it
    assert widget.notes["after"].isVisibleTo(widget.plots["after"]) and "optimizer.step()" in widget.notes["after"].toPlainText()
    assert "optimizer.step()" not in widget.plots["after"].titleLabel.text
    assert not widget.notes["before"].isVisibleTo(widget.plots["before"])
    widget.set_presenting(False)
    assert not widget.presenting and widget.caption.isVisibleTo(widget)
    assert not widget.notes["after"].isVisibleTo(widget.plots["after"])
    assert "optimizer.step()" in widget.plots["after"].titleLabel.text
    qtbot.waitUntil(lambda: show_combo_top() > widget.combo.geometry().bottom(), timeout=5000)  # under it again


def test_sparse_bfloat16_and_complex_tensors_are_drawn_as_their_values(panel, qtbot):
    """An nn.Embedding(sparse=True) gradient, bfloat16 weights: numpy takes neither, and
    the panels raised on every phase (the norms histogram too)."""
    from gradviz.ui.training.norms import NormsPanel

    dense = torch.tensor([[0.0, 3.0, 0.0], [4.0, 0.0, -1.0]])
    before = torch.tensor([[0.5, -1.0, 0.25], [2.0, 0.0, -0.5]])
    panel.show_record(record(grads={"w": dense.to_sparse()}, params_before={"w": before.bfloat16()},
                             params_after={"w": (before - 0.1 * dense).bfloat16()}), "step")
    assert np.array_equal(panel.image("grad"), dense.numpy().astype(np.float64))
    assert np.array_equal(panel.image("before"), before.bfloat16().double().numpy())
    norms = NormsPanel()
    qtbot.addWidget(norms)
    norms.resize(449, 536)
    norms.show()
    norms.set_parameters(["w"])
    kept = [SimpleNamespace(index=i, loss=1.0, grad_norms={"w": 5.0}, params_after={"w": (before * i).bfloat16()},
                            grads={"w": (dense * i).to_sparse()}) for i in range(1, 3)]
    norms.set_records(kept)
    norms.set_histogram_param("w")
    assert norms.histogram_image() is not None
    norms.hist_kind.setCurrentIndex(1 - norms.hist_kind.currentIndex())  # the other kind: grads or weights
    assert norms.histogram_image() is not None


def test_plotted_values_are_dense_float64_magnitudes():
    from gradviz.core.display.tensor_values import plotted_values

    assert plotted_values(torch.tensor([3 + 4j, -1j])).tolist() == [5.0, 1.0]
    assert plotted_values(torch.tensor([[0.0, 2.0]]).to_sparse()).tolist() == [[0.0, 2.0]]
    assert plotted_values(torch.tensor([1.5]).bfloat16()).dtype == np.float64
    assert plotted_values([1, 2]).tolist() == [1.0, 2.0]
