"""Every panel agrees with the session the user is looking at (issue 12): File → New,
editing the network, Reset weights, back to the builder, settings that do or do not
keep the history, and the parameter selected in the graph and the gradient panel."""
import gc

import pytest

pytest.importorskip("gradviz.core.session")

from model_reference import EXAMPLES  # noqa: E402

TIMEOUT = 30_000
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow

    gc.collect()  # earlier windows' cycles, on the GUI thread (see test_training_ui)
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
    gc.unfreeze()  # an opened model freezes long-lived objects (see gradviz.ui.user_model.opener)


def idle(qtbot, window):
    ui = window.training_ui
    qtbot.waitUntil(lambda: ui.controller.is_idle() and not ui.gradients.morphing, timeout=TIMEOUT)


def trigger(qtbot, window, name):
    action = window.actions[name]
    assert action.isEnabled(), name
    action.trigger()
    idle(qtbot, window)


def show_graph(qtbot, window):
    before = window.graph_view.graph() if window.has_graph_view else None
    window.actions["actionShowGraph"].trigger()
    qtbot.waitUntil(lambda: window.has_graph_view and window.graph_view.graph() is not None
                    and window.graph_view.graph() is not before and window.graph_view.is_ready(), timeout=TIMEOUT)
    return window.graph_view


def settle_builder(qtbot, window):
    """The builder's debounced session rebuild has run."""
    qtbot.waitUntil(lambda: not window.session_link.timer.isActive(), timeout=TIMEOUT)


def assert_indicator_is_live(window):
    ui, session = window.training_ui, window.session
    assert ui.indicator.viewing is None
    if session is None:
        assert ui.indicator.next_phase is None and "no network" in ui.indicator.status_label.text()
    else:
        assert (ui.indicator.iteration, ui.indicator.next_phase) == (session.iteration, session.next_phase)


def test_file_new_marks_the_old_graph_out_of_date(qtbot, window):
    view = show_graph(qtbot, window)
    assert not view.stale
    window.actions["actionNew"].trigger()
    settle_builder(qtbot, window)
    assert window.session is None
    banner = view.findChild(object, "graphStaleBanner")
    assert view.stale and banner is view.stale_banner and banner.isVisibleTo(view)
    assert "out of date" in view.stale_message().lower() and "F5" in view.stale_message()
    assert view.item.opacity() < 1  # dimmed
    assert_indicator_is_live(window)

    window.load_preset("lenet")
    show_graph(qtbot, window)
    assert not view.stale and view.item.opacity() == 1


def test_editing_the_network_resets_the_training_panel_and_marks_the_graph(qtbot, window):
    view = show_graph(qtbot, window)
    trigger(qtbot, window, "actionRunIteration")
    for phase in ("actionZeroGrad", "actionForward", "actionLoss", "actionBackward"):
        trigger(qtbot, window, phase)
    assert window.session.next_phase == "step"
    editor = window.stack.card("conv2").editors["out_channels"]
    editor.setValue(20)  # fc1 expects 16·5·5 inputs: the network is invalid now
    editor.editingFinished.emit()
    settle_builder(qtbot, window)
    assert window.session is None
    idle(qtbot, window)
    assert_indicator_is_live(window)  # not "Iteration 1, next: step"
    assert view.stale
    assert window.training_ui.history.slider.maximum() == 0

    window.actions["actionUndo"].trigger()
    settle_builder(qtbot, window)
    assert window.session is not None and window.session.iteration == 0
    assert_indicator_is_live(window)
    assert view.stale  # a new session: its graph is not drawn yet
    trigger(qtbot, window, "actionRunIteration")
    assert not view.stale  # the phases drew this session's graph


def test_reset_weights_clears_nan_marks_and_norms(qtbot, window):
    ui = window.training_ui
    view = show_graph(qtbot, window)
    session = window.session
    session.set_lr(1e30)
    params = dict(session.model.named_parameters())
    for _ in range(8):  # until a parameter holds NaN/Inf
        trigger(qtbot, window, "actionRunIteration")
        if any(n in params for n in session.history[-1].nonfinite):
            break
    assert session.history[-1].nonfinite and view.flagged_nodes()
    bad = next(n for n in session.history[-1].nonfinite if n in dict(session.model.named_parameters()))
    ui.gradients.set_param(bad)
    assert ui.gradients.nonfinite_label.isVisibleTo(ui.gradients)
    flagged = sorted(view.flagged_nodes())
    view.select_node(flagged[0])
    trigger(qtbot, window, "actionResetTraining")
    assert session.iteration == 0 and not session.history
    assert view.flagged_nodes() == set() and view.node_roles() == {}
    assert "inf" not in view.details.toPlainText().lower() and "nan" not in view.details.toPlainText().lower()
    assert not ui.gradients.nonfinite_label.isVisibleTo(ui.gradients)
    combo = ui.gradients.combo
    assert not any(combo.itemText(i).startswith("⚠") for i in range(combo.count()))
    assert not ui.banner.isVisible()
    assert_indicator_is_live(window)


def test_back_to_the_builder_shows_the_builders_own_state(qtbot, window):
    from gradviz.core.user_model import UserModelRequest
    from gradviz.ui.user_model.opener import open_model_in_window

    ui = window.training_ui
    trigger(qtbot, window, "actionRunIteration")
    trigger(qtbot, window, "actionZeroGrad")
    trigger(qtbot, window, "actionForward")
    builder = window.session
    open_model_in_window(window, UserModelRequest(EXAMPLES / "lstm_tagger.py", loss="mse"))
    qtbot.waitUntil(lambda: window.model_opener.session is not None, timeout=TIMEOUT)
    opened = window.session
    assert opened is not builder and window.active_session.opened is opened
    assert_indicator_is_live(window)
    assert "No iteration yet" in ui.gradients.caption.text()
    trigger(qtbot, window, "actionRunIteration")
    panel = window.model_opener.panel
    qtbot.waitUntil(lambda: "1 step done" in panel.training.text(), timeout=TIMEOUT)  # listened, not polled

    window.model_opener.close()
    assert window.session is builder
    idle(qtbot, window)
    assert_indicator_is_live(window)  # iteration 1, next: loss
    assert ui.indicator.next_phase == "loss"
    caption = ui.gradients.caption.text()
    assert "iteration 1" in caption and "forward" in caption  # not "No iteration yet"
    assert ui.history.slider.maximum() == len(builder.history) == 1


def test_no_parameter_stays_active_after_the_step_and_grad_is_none_before_backward(qtbot, window):
    ui = window.training_ui
    view = show_graph(qtbot, window)
    ui.gradients.set_param("conv1.bias")
    trigger(qtbot, window, "actionZeroGrad")
    assert "conv1.bias.grad is None" in ui.gradients.plots["grad"].titleLabel.text
    trigger(qtbot, window, "actionRunIteration")
    qtbot.waitUntil(lambda: not ui.animator.animating, timeout=TIMEOUT)
    assert "active" not in view.node_roles().values()


def test_lr_keeps_the_history_other_settings_start_afresh(qtbot, window):
    ui = window.training_ui
    view = show_graph(qtbot, window)
    trigger(qtbot, window, "actionRunIteration")
    session = window.session
    window.document.set_setting("lr", 0.05)
    settle_builder(qtbot, window)
    assert window.session is session and session.lr == 0.05 and len(session.history) == 1
    assert ui.history.slider.maximum() == 1 and not view.stale

    window.document.set_setting("optimizer", "adam")
    settle_builder(qtbot, window)
    fresh = window.session
    assert fresh is not session and fresh.optimizer_name == "adam" and fresh.lr == 0.05
    assert ui.history.slider.maximum() == 0 and "No iteration yet" in ui.gradients.caption.text()
    assert view.stale
    assert_indicator_is_live(window)


def test_parameter_node_and_gradient_panel_select_each_other(qtbot, window):
    from gradviz.core.display.graph_steps import param_keys

    ui = window.training_ui
    view = show_graph(qtbot, window)
    keys = param_keys(view.graph())
    view.nodeClicked.emit(keys["fc2.weight"])  # what a click on the node emits
    assert ui.gradients.current_param() == "fc2.weight"
    ui.gradients.set_param("conv1.bias")
    assert view.selected_node() == keys["conv1.bias"]


def test_events_of_a_replaced_session_are_dropped(qtbot, window):
    active = window.active_session
    old = window.session
    seen = []
    active.iterationRecorded.connect(seen.append)
    window.document.set_setting("optimizer", "adam")
    settle_builder(qtbot, window)
    assert window.session is not old
    old.run_iteration()  # the replaced session still runs (e.g. a late worker): nobody hears it
    window.session.run_iteration()
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=TIMEOUT)
    assert seen == [window.session.history[-1]]
