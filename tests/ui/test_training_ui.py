"""Step-through training in the main window: LeNet driven phase by phase through
the actions, the gradient panel checked against the session's tensors, the
backward animation against the trace, play/pause, NaN handling and time travel."""
import gc

import numpy as np
import pytest

pytest.importorskip("gradviz.core.session")

from gradviz.core.display import tensor_images

PHASE_ACTIONS = {
    "zero_grad": "actionZeroGrad",
    "forward": "actionForward",
    "loss": "actionLoss",
    "backward": "actionBackward",
    "step": "actionStep",
}
TIMEOUT = 30_000


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow
    from gradviz.ui.training import install_training_ui

    # Windows of earlier tests sit in reference cycles. Collect them here, on
    # the GUI thread: left for later, the collector may run inside a worker
    # thread (any allocation can trigger it) and destroy widgets there, which
    # deadlocks Qt.
    gc.collect()
    win = MainWindow()
    qtbot.addWidget(win)
    if getattr(win, "training_ui", None) is None:  # before MainWindow installs it itself
        install_training_ui(win)
    win.resize(1400, 900)
    win.show()
    win.load_preset("lenet")
    win.training_ui.set_speed(1000)  # animations take a frame or two
    yield win
    win.training_ui.controller.pause()
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(20_000)


def wait_idle(qtbot, ui):
    qtbot.waitUntil(lambda: ui.controller.is_idle() and not ui.gradients.morphing, timeout=TIMEOUT)


def enabled_phases(window):
    return [phase for phase, name in PHASE_ACTIONS.items() if window.actions[name].isEnabled()]


def run(window, qtbot, phase):
    ui = window.training_ui
    action = window.actions[PHASE_ACTIONS[phase]]
    assert action.isEnabled(), f"{phase} should be next"
    action.trigger()
    wait_idle(qtbot, ui)
    assert ui.controller.last_error is None


def test_one_iteration_through_the_actions(window, qtbot):
    ui = window.training_ui
    panel = ui.gradients
    assert enabled_phases(window) == ["zero_grad"]
    assert window.findChild(object, "speedSlider") is not None
    assert window.findChild(object, "gradientPanel") is panel
    assert window.actions["actionPlay"].isCheckable()
    assert window.actions["actionPlay"].shortcut().toString() == "Space"

    run(window, qtbot, "zero_grad")
    session = window.session
    assert session.next_phase == "forward" and enabled_phases(window) == ["forward"]
    panel.set_param("conv1.bias")
    assert panel.current_param() == "conv1.bias"
    assert np.array_equal(panel.image("grad"), np.zeros((1, 6)))  # None after zero_grad: drawn as zeros

    run(window, qtbot, "forward")
    run(window, qtbot, "loss")
    assert np.array_equal(panel.image("grad"), np.zeros((1, 6)))
    assert panel.image("after") is None  # the step has not run
    assert ui.indicator.highlighted_phase() == "backward"
    assert ui.indicator.code_line("backward") == "loss.backward()"

    run(window, qtbot, "backward")
    record = session.current
    grad = record.grads["conv1.bias"].numpy()
    assert np.abs(grad).max() > 0
    assert np.allclose(panel.image("grad"), grad[None, :])
    # The animation visited every node of the trace, in the engine's order.
    assert record.backward_order and ui.animator.visited == record.backward_order

    run(window, qtbot, "step")
    assert session.iteration == 1 and session.next_phase == "zero_grad"
    record = session.history[-1]
    before, grad = record.params_before["conv1.bias"].numpy(), record.grads["conv1.bias"].numpy()
    expected = before - record.lr * grad  # SGD
    assert np.allclose(panel.image("after"), expected[None, :], atol=1e-7)
    assert np.allclose(panel.image("update"), -record.lr * grad[None, :], atol=1e-7)
    assert np.allclose(panel.image("before"), before[None, :])
    live = dict(session.model.named_parameters())["conv1.bias"].detach().numpy()
    assert np.allclose(panel.image("after")[0], live)
    lo, hi = panel.levels("before")
    assert lo == -hi and panel.levels("after") == (lo, hi)  # one symmetric scale for before and after

    # conv kernels: a grid of 5×5 images, one column per output channel
    panel.set_param("conv1.weight")
    weight_after = record.params_after["conv1.weight"].numpy()
    image = panel.image("after")
    assert image.shape == (5, 6 * 6 - 1)
    assert np.allclose(image[:, 6 * 2:6 * 2 + 5], weight_after[2, 0])
    assert np.isnan(image[:, 5]).all()  # the gap between kernels
    text = panel.describe("grad", 1, 6 * 2 + 3)
    assert "conv1.weight[2, 0, 1, 3]" in text
    assert f"{record.grads['conv1.weight'][2, 0, 1, 3].item():+.5g}" in text
    assert enabled_phases(window) == ["zero_grad"]


def test_stepping_is_refused_out_of_order_while_busy_and_while_invalid(window, qtbot):
    ui = window.training_ui
    window.actions["actionBackward"].trigger()  # disabled: nothing happens
    assert ui.controller.next_phase == "zero_grad" and not ui.controller.busy
    assert ui.controller.run_phase("backward") is False

    window.actions["actionRunIteration"].trigger()
    assert ui.controller.busy and enabled_phases(window) == []  # nothing may start while phases run
    wait_idle(qtbot, ui)
    assert window.session.iteration == 1 and len(window.session.history) == 1
    assert ui.history.slider.maximum() == 1 and ui.history.is_live

    window.stack.card("conv2").findChild(object, "param_in_channels").setValue(7)
    assert enabled_phases(window) == []
    assert not window.actions["actionRunIteration"].isEnabled() and not window.actions["actionPlay"].isEnabled()


def test_play_and_pause(window, qtbot):
    ui = window.training_ui
    play = window.actions["actionPlay"]
    play.trigger()
    assert play.isChecked() and ui.controller.playing
    session = window.session
    qtbot.waitUntil(lambda: session.iteration >= 3, timeout=TIMEOUT)
    phases_run = lambda: session.iteration * 5 + session.phase_index
    at_pause = phases_run()
    play.trigger()
    assert not play.isChecked() and not ui.controller.playing
    wait_idle(qtbot, ui)
    assert phases_run() <= at_pause + 1  # only the phase already running finishes
    stopped_at = (window.session.iteration, window.session.next_phase)
    # Nothing is left that could start a phase: not playing, no queued phase, no pending
    # gap timer (``is_idle``), and no task in the worker pool.
    from gradviz.ui.worker import wait_for_idle

    assert not ui.controller.playing and ui.controller.is_idle() and wait_for_idle(TIMEOUT)
    from PySide6.QtCore import QCoreApplication

    QCoreApplication.processEvents()  # deliver what the last task posted, if anything
    assert not ui.controller.busy and (window.session.iteration, window.session.next_phase) == stopped_at
    losses = [r.loss for r in window.session.history]
    assert ui.norms.loss_points()[1] == pytest.approx(losses)
    assert set(ui.norms.bar_values) >= {"conv1.weight", "fc3.bias"}


def test_nan_is_flagged_and_pauses_play(window, qtbot):
    ui = window.training_ui
    session = window.session
    session.set_lr(1e30)
    window.actions["actionPlay"].trigger()
    qtbot.waitUntil(lambda: session.first_nonfinite is not None and not ui.controller.playing, timeout=TIMEOUT)
    wait_idle(qtbot, ui)
    first = session.first_nonfinite
    assert not window.actions["actionPlay"].isChecked()
    assert ui.banner.isVisible()
    assert "first appeared" in ui.banner.message() and str(first.where) in ui.banner.message()
    assert f"iteration {first.iteration}" in window.statusBar().currentMessage()
    assert ui.animator.flagged  # red nodes on the graph
    # Keep going: the weights are NaN now; parameters are flagged in the panel.
    window.actions["actionRunIteration"].trigger()
    wait_idle(qtbot, ui)
    bad = [n for n in session.history[-1].nonfinite if n in dict(session.model.named_parameters())]
    assert bad
    ui.gradients.set_param(bad[0])
    assert ui.gradients.nonfinite_label.isVisible()
    combo = ui.gradients.combo
    assert combo.itemText(combo.findData(bad[0])).startswith("⚠")


def test_history_goes_back_to_any_iteration_and_phase(window, qtbot):
    ui = window.training_ui
    window.actions["actionShowGraph"].trigger()
    qtbot.waitUntil(lambda: window.has_graph_view and window.graph_view.graph() is not None, timeout=TIMEOUT)
    shown = window.graph_view.graph()
    for _ in range(3):
        window.actions["actionRunIteration"].trigger()
        wait_idle(qtbot, ui)
    session = window.session
    assert window.graph_view.graph() is shown  # the same network's graph stays: no new layout per iteration
    ui.gradients.set_param("fc3.bias")
    assert ui.history.show_iteration(0, "backward")
    old = session.history[0]
    assert not ui.history.is_live
    assert np.allclose(ui.gradients.image("grad")[0], old.grads["fc3.bias"].numpy())
    assert ui.gradients.image("after") is None  # as it was before that iteration's step
    assert ui.indicator.highlighted_phase() == "backward" and "history" in ui.indicator.iteration_label.text()
    ui.history.phase.setCurrentText("forward")
    assert np.array_equal(ui.gradients.image("grad"), np.zeros((1, 10)))
    # Stepping returns to live.
    window.actions["actionZeroGrad"].trigger()
    assert ui.history.is_live
    wait_idle(qtbot, ui)
    assert session.next_phase == "forward"


def test_reset_puts_the_weights_back(window, qtbot):
    ui = window.training_ui
    window.actions["actionRunIteration"].trigger()
    wait_idle(qtbot, ui)
    session = window.session
    start = session.history[0].params_before["fc3.bias"].clone()
    window.actions["actionResetTraining"].trigger()
    wait_idle(qtbot, ui)
    assert session.iteration == 0 and len(session.history) == 0
    assert np.allclose(dict(session.model.named_parameters())["fc3.bias"].detach().numpy(), start.numpy())
    assert ui.history.slider.maximum() == 0 and ui.gradients.image("grad") is None


def test_tensor_layouts():
    weight = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)  # out 2, in 3, 2×2 kernels
    image, index = tensor_images.layout(weight)
    assert image.shape == (3 * 3 - 1, 2 * 3 - 1)  # rows: in channels, columns: out channels
    assert np.array_equal(image[3:5, 3:5], weight[1, 1])
    assert index[3, 4] == np.ravel_multi_index((1, 1, 0, 1), weight.shape)
    assert index[2, 0] == -1 and np.isnan(image[2, 0])
    bias, bias_index = tensor_images.layout(np.array([1.0, -2.0, 3.0]))
    assert bias.shape == (1, 3) and list(bias_index[0]) == [0, 1, 2]
    assert tensor_images.symmetric_limit(np.array([[1.0, -4.0, np.nan]])) == 4.0


def test_slow_replay_keeps_its_line_highlighted_and_can_be_skipped(window, qtbot):
    ui = window.training_ui
    for phase in ("zero_grad", "forward", "loss"):
        run(window, qtbot, phase)
    ui.set_speed(1.0)  # classroom pace: replaying 27 nodes takes seconds
    window.actions["actionBackward"].trigger()
    qtbot.waitUntil(lambda: window.session.next_phase == "step" and ui.animator.animating, timeout=TIMEOUT)
    assert ui.indicator.row_state("backward") == "running"  # torch is done, the class is still watching
    assert window.actions["actionSkipAnimation"].isEnabled()
    assert np.nanmax(np.abs(ui.gradients.image("grad"))) == 0  # gradients arrive with the replay, not before
    window.actions["actionSkipAnimation"].trigger()
    assert not ui.animator.animating and ui.animator.skipped
    assert ui.indicator.row_state("backward") == "done" and ui.indicator.highlighted_phase() == "step"
    assert np.nanmax(np.abs(ui.gradients.image("grad"))) > 0
    assert enabled_phases(window) == ["step"]
