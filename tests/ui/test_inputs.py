"""Typed values are validated, never coerced: applied on Enter (or leaving the field),
unreadable text stays red with a one-line reason while the value in force stays, and
nothing else changes. Also: an lr change keeps the training history; the Open Model
dialog follows the same rules."""
import pytest
from PySide6.QtCore import Qt

from gradviz.core import text_values
from gradviz.ui.validated_field import ValidatedField

torch = pytest.importorskip("torch")


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.load_preset("lenet")
    yield win
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(30_000)


def field(window, name) -> ValidatedField:
    found = window.findChild(ValidatedField, name)
    assert found is not None, name
    return found


def type_text(qtbot, widget, text):
    widget.lineEdit().clear()
    qtbot.keyClicks(widget, text)


def state(window):
    """Everything an input must leave alone when its text is refused."""
    session = window.session_link.session
    return (window.document.state_json(), window.document.undo_stack.count(), session,
            len(session.history) if session is not None else None)


# -- every field: invalid + Enter, typing alone, valid + Enter -------------------------------------------------

# (field, how to find it, invalid text, words of the reason, valid text, where the valid value lands)
CASES = [
    ("inputShapeEdit", "1, 1, 32, abc", "'abc' is not a whole number", "2, 1, 32, 32",
     lambda w: tuple(w.spec.input_shape), (2, 1, 32, 32)),
    ("lrSpin", "1e6", "lr must be a positive number ≤ 10", "0.5", lambda w: w.document.settings["lr"], 0.5),
    ("lrSpin", "abc", "lr must be a positive number ≤ 10", "1e-3", lambda w: w.document.settings["lr"], 0.001),
    ("param_out_channels", "0", "minimum 1", "8", lambda w: w.spec.find("conv1").params["out_channels"], 8),
    ("param_kernel_size", "5, x", "'x' is not a whole number", "3", lambda w: w.spec.find("conv1").params["kernel_size"], 3),
]


@pytest.mark.parametrize("name, bad, reason, good, applied, expected", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_invalid_text_stays_red_with_its_reason_and_changes_nothing(qtbot, window, name, bad, reason, good, applied, expected):
    scope = window.stack.card("conv1") if name.startswith("param_") else window
    edit = scope.findChild(ValidatedField, name)
    assert edit is not None
    before_value = edit.value()
    assert edit.lineEdit().width() > edit.width() // 2  # the text is there to read (style sheets can squeeze it)
    window.session_link.session.run_iteration()  # some history that must survive
    before = state(window)

    type_text(qtbot, edit, bad)  # typing alone applies nothing and judges nothing yet
    assert state(window) == before and edit.value() == before_value and not edit.problem

    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert edit.text() == bad  # not rewritten, not clamped
    assert edit.property("error") is True
    assert reason in edit.problem and reason in edit.toolTip()
    if name.startswith("param_"):
        assert reason in scope.error_text() and scope.error_label.isVisible()  # the card's line under the editors
    else:
        assert reason in edit.problem_label.text() and edit.problem_label.isVisible()
        assert "\n" not in edit.problem_label.text()
    assert edit.value() == before_value
    assert state(window) == before  # no document change, no undo step, same session, same history
    edit.editingFinished.emit()  # leaving the field keeps the text and the mark
    assert edit.text() == bad and edit.property("error") is True and state(window) == before

    type_text(qtbot, edit, good)
    assert state(window) == before  # still nothing until committed
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert not edit.property("error") and not edit.problem and not edit.problem_label.isVisible()
    assert applied(window) == pytest.approx(expected) if isinstance(expected, float) else applied(window) == expected
    assert window.document.undo_stack.count() == before[1] + 1
    window.actions["actionUndo"].trigger()  # undoable as before
    assert edit.value() == before_value and window.document.state_json() == before[0]


def test_an_unusable_layer_name_stays_when_leaving_the_editor(qtbot, window):
    from PySide6.QtWidgets import QLineEdit

    card = window.stack.card("conv2")
    card.begin_rename()
    edit = card.findChild(QLineEdit, "renameEdit")
    before = state(window)
    edit.clear()
    qtbot.keyClicks(edit, "conv1")
    edit.clearFocus()
    edit.editingFinished.emit()  # leaving the editor
    assert card.rename_edit is edit and edit.text() == "conv1" and edit.property("error") is True
    assert "already exists" in card.error_text() and state(window) == before
    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert card.rename_edit is None and not card.has_error and window.spec.find("conv2") is not None


def test_escape_shows_the_value_in_force_again(qtbot, window):
    lr = field(window, "lrSpin")
    type_text(qtbot, lr, "1e6")
    qtbot.keyClick(lr, Qt.Key.Key_Return)
    assert lr.problem
    qtbot.keyClick(lr, Qt.Key.Key_Escape)
    assert lr.text() == "0.01" and not lr.problem and not lr.property("error")


def test_lr_arrows_stop_at_the_range_instead_of_clamping(window):
    lr = field(window, "lrSpin")
    lr.setValue(10.0)
    assert window.document.settings["lr"] == 10.0
    lr.stepBy(1)  # nothing above 10: the step is not taken, nothing clamps
    assert lr.value() == 10.0 and not lr.problem
    assert not lr.stepEnabled() & lr.StepEnabledFlag.StepUpEnabled
    lr.stepBy(-1)
    assert lr.value() == pytest.approx(5.0)
    assert text_values.step_lr(text_values.LR_MIN_STEP, -1) is None


# -- lr keeps the history ----------------------------------------------------------------------------------------

def test_changing_lr_keeps_the_history_and_the_next_step_uses_it(qtbot, window):
    session = window.session_link.session
    first = session.run_iteration()
    assert first.lr == pytest.approx(0.01)
    lr = field(window, "lrSpin")
    type_text(qtbot, lr, "0.05")
    qtbot.keyClick(lr, Qt.Key.Key_Return)
    assert window.document.settings["lr"] == pytest.approx(0.05)
    assert window.session_link.session is session and not window.session_link.timer.isActive()
    assert window.session is session and len(session.history) == 1 and session.lr == pytest.approx(0.05)
    second = session.run_iteration()
    assert second.lr == pytest.approx(0.05) and len(session.history) == 2

    window.actions["actionUndo"].trigger()  # undoing it is an lr change too
    assert window.session_link.session is session and session.lr == pytest.approx(0.01)
    assert len(session.history) == 2

    window.findChild(object, "lossCombo").setCurrentIndex(1)  # the loss does need a new session
    assert window.session_link.session is not session


# -- the Open Model dialog -------------------------------------------------------------------------------------------

def open_dialog(window):
    from gradviz.ui.user_model.dialog import show_open_model_dialog

    return show_open_model_dialog(window)


def test_open_model_dialog_warns_only_once_a_file_is_chosen(qtbot, window, tmp_path):
    dialog = open_dialog(window)
    qtbot.waitExposed(dialog)
    assert dialog.warning.isHidden() and not dialog.warning.isVisible()
    assert not dialog.trust_button.isVisible()
    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\nclass Net(nn.Module):\n    pass\n")
    dialog.path_edit.setText(str(path))  # typed, not committed: nothing yet
    assert dialog.warning.isHidden()
    qtbot.keyClick(dialog.path_edit, Qt.Key.Key_Return)
    assert dialog.warning.isVisible() and "runs its code" in dialog.warning_text.text()
    dialog.choose_path(tmp_path / "missing.py")
    assert dialog.warning.isHidden()
    assert "No such file" in dialog.type_label.text() and dialog.path_edit.property("error") is True
    dialog.close()


def test_open_model_dialog_fields_are_validated_on_commit(qtbot, window, tmp_path):
    dialog = open_dialog(window)
    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\nclass Net(nn.Module):\n    pass\n")
    dialog.choose_path(path)  # a Python file: constructor arguments apply (nothing of it runs here)
    for edit, bad, reason in ((dialog.lr_spin, "1e6", "lr must be a positive number ≤ 10"),
                              (dialog.shapes_edit, "2, three", "must be integers"),
                              (dialog.args_edit, "width=", "not Python literals"),
                              (dialog.expr_edit, "torch.randn(2,", "expression")):
        before = edit.value()
        type_text(qtbot, edit, bad)
        assert not edit.problem
        qtbot.keyClick(edit, Qt.Key.Key_Return)
        assert edit.text() == bad and edit.property("error") is True and reason in edit.problem
        assert edit.problem_label.isVisible() and edit.value() == before
    dialog.close()


def test_a_long_error_wraps_without_squashing_the_form_and_reopening_is_clean(qtbot, window):
    from PySide6.QtWidgets import QGroupBox

    dialog = open_dialog(window)
    qtbot.waitExposed(dialog)
    boxes = dialog.findChildren(QGroupBox)
    assert boxes
    dialog._set_status("✗ " + "a very long error message that goes on " * 60, error=True)
    dialog.resize(dialog.width(), dialog.minimumSizeHint().height())
    qtbot.waitUntil(lambda: dialog.status_area.height() > 0, timeout=5000)
    for box in boxes:
        assert box.height() >= box.sizeHint().height(), box.title()
    assert dialog.status.wordWrap() and dialog.status_area.height() <= dialog.status_area.maximumHeight()
    type_text(qtbot, dialog.lr_spin, "abc")
    qtbot.keyClick(dialog.lr_spin, Qt.Key.Key_Return)
    assert dialog.error_text() and dialog.lr_spin.problem

    dialog.close()
    reopened = open_dialog(window)
    assert reopened is dialog
    assert dialog.error_text() == "" and dialog.status.text() == ""
    assert not dialog.lr_spin.problem and dialog.lr_spin.text() == "0.01" and not dialog.lr_spin.property("error")
    assert dialog.warning.isHidden() and not dialog.details.isVisible()
    dialog.close()
