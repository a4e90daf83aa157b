"""File → Open Model in the main window: the consent to run code, each example opened
through the menu and stepped, errors with the user's own lines, back to the builder,
and a 20k-node model that opens collapsed while the GUI keeps responding."""
import time

import pytest
from PySide6.QtCore import QTimer

from model_reference import EXAMPLES, graph_signature, reference_graph



pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow
    from gradviz.ui.user_model.dialog import install_open_model

    win = MainWindow()
    if "actionOpenModel" not in win.actions:  # the window installs it itself once integrated
        install_open_model(win)
    qtbot.addWidget(win)
    win.show()
    yield win
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(30_000)  # no background task may outlive its window's test
    import gc

    gc.unfreeze()  # opening a model freezes long-lived objects (see gradviz.ui.user_model.opener); the window is gone now


def open_dialog(window):
    from PySide6.QtWidgets import QDialog

    window.actions["actionOpenModel"].trigger()
    dialog = window.findChild(QDialog, "openModelDialog")
    assert dialog is not None and dialog.isVisible()
    return dialog


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def choose_file(qtbot, dialog, path):
    """Type the path; agree to run it when asked; wait until its classes are listed."""
    dialog.choose_path(path)
    if dialog.warning.isVisible():
        qtbot.mouseClick(dialog.trust_button, qtbot_left())
    qtbot.waitUntil(lambda: not dialog._scan_job.busy and dialog.class_combo.count() > 0, timeout=20_000)


def step_one_iteration(qtbot, window, session):
    """With the training UI: its Run-iteration action, as a user would; else the session directly."""
    action = window.actions.get("actionRunIteration")
    training = getattr(window, "training_ui", None)
    if action is None or training is None:
        return session.run_iteration()
    if hasattr(training, "set_speed"):
        training.set_speed(10_000)  # no slow animation in tests
    assert action.isEnabled(), window.statusBar().currentMessage()
    action.trigger()
    qtbot.waitUntil(lambda: session.iteration == 1 and not training.controller.busy, timeout=60_000)
    return session.history[-1]


# -- menu, names, consent ---------------------------------------------------------------------------------

def test_menu_entry_shortcut_and_dialog_names(window):
    action = window.actions["actionOpenModel"]
    assert action.objectName() == "actionOpenModel" and action.shortcut().toString() == "Ctrl+Shift+O"
    assert action in window.menus["file"].actions()
    dialog = open_dialog(window)
    for name in ("openModelDialog", "modelPathEdit", "modelClassCombo", "modelArgsEdit", "weightsPathEdit",
                 "inputShapesEdit", "inputDtypeCombo", "inputExprEdit", "modelLossCombo", "modelOptimizerCombo",
                 "checkModelButton", "openModelButton", "modelCheckStatus", "modelErrorDetails", "codeWarning",
                 "trustFileButton"):
        assert dialog.findChild(object, name) is not None or dialog.objectName() == name, name
    assert not dialog.open_button.isEnabled()  # no file yet


@pytest.mark.parametrize("zoom", [1.0, 1.5, 2.0])
def test_the_dialog_stays_on_the_screen_with_its_buttons(qtbot, window, zoom):
    """At lecture text sizes on a short screen the form scrolls and the dialog, Open
    and Cancel included, stays on the screen (it was 896 px tall at 150 %, its
    buttons past an 800 px screen's bottom); the details box makes it no taller."""
    from pathlib import Path

    from PySide6.QtCore import QPoint, QRect

    window.resize(1280, 720)
    if zoom != 1.0:
        window.zoom(zoom)
    dialog = open_dialog(window)
    choose_file(qtbot, dialog, Path(__file__).resolve().parents[2] / "examples" / "small_resnet.py")
    dialog.details_button.setChecked(True)  # what an error shows: the traceback box
    qtbot.waitUntil(lambda: dialog.details.isVisible(), timeout=5000)
    room = dialog.screen().availableGeometry()
    qtbot.waitUntil(lambda: room.contains(dialog.frameGeometry()), timeout=5000)
    for button in (dialog.open_button, dialog.check_button):
        placed = QRect(button.mapTo(dialog, QPoint(0, 0)), button.size())
        assert button.isVisible() and dialog.rect().contains(placed), (zoom, button.objectName(), placed)
    form = dialog.form_scroll
    tall = form.widget().sizeHint().height() > form.viewport().height()
    assert (form.verticalScrollBar().maximum() > 0) == tall
    if zoom >= 1.5:
        assert tall  # every field there to scroll to
    # the fields' hints at the lecture size: the dialog grew with the text
    assert dialog.width() >= min(room.width() - 8, 36 * dialog.fontMetrics().height())


def test_python_file_runs_only_after_consent_remembered_per_version(qtbot, window, tmp_path):
    marker = tmp_path / "ran.txt"
    path = tmp_path / "model.py"
    path.write_text(
        "import pathlib, torch.nn as nn\n"
        f"pathlib.Path({str(marker)!r}).write_text('ran')\n"
        "class Block(nn.Module):\n    pass\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, width=4):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(width, 2)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
        "def make_net():\n    return Net(3)\n"
    )
    dialog = open_dialog(window)
    dialog.choose_path(path)
    assert dialog.warning.isVisible() and "runs its code" in dialog.warning_text.text()
    assert not dialog.class_combo.isEnabled() and not dialog.open_button.isEnabled()
    assert not dialog.check_button.isEnabled()
    from gradviz.ui.worker import wait_for_idle

    assert not dialog._scan_job.busy and wait_for_idle(30_000)  # nothing was started, and nothing is running ...
    assert not marker.exists()  # ... so nothing ran, not even to list the classes

    qtbot.mouseClick(dialog.trust_button, qtbot_left())
    qtbot.waitUntil(lambda: dialog.class_combo.count() == 3, timeout=20_000)
    assert marker.exists() and not dialog.warning.isVisible()
    assert [dialog.class_combo.itemText(i) for i in range(3)] == ["Block", "Net", "make_net"]
    assert dialog.class_combo.currentText() == "Net"  # the last nn.Module class
    assert dialog.open_button.isEnabled()

    dialog.choose_path("")
    dialog.choose_path(path)
    assert not dialog.warning.isVisible()  # remembered for this path and version
    path.write_text(path.read_text() + "\n# edited\n")
    import os

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    dialog.choose_path("")
    dialog.choose_path(path)
    assert dialog.warning.isVisible()  # an edited file asks again
    dialog.close()


# -- each example through the menu, one step, checked against autograd_graph ----------------------------------

@pytest.mark.parametrize("file, cls, loss", [
    ("small_resnet.py", "SmallResNet", "cross_entropy"),
    ("transformer_block.py", "TinyTransformer", "cross_entropy"),
    ("lstm_tagger.py", "LSTMTagger", "mse"),
])
def test_each_example_opens_through_the_menu_and_steps(qtbot, window, file, cls, loss):
    changed = []
    window.sessionChanged.connect(changed.append)
    dialog = open_dialog(window)
    choose_file(qtbot, dialog, EXAMPLES / file)
    assert dialog.class_combo.currentText() == cls
    assert "example_inputs() from the file" in dialog.inputs_hint.text()
    dialog.loss_combo.setCurrentText(loss)
    qtbot.mouseClick(dialog.open_button, qtbot_left())
    qtbot.waitUntil(lambda: getattr(window, "model_opener", None) is not None and window.model_opener.session is not None,
                    timeout=30_000)
    session = window.model_opener.session
    assert window.session is session  # what the step-through actions work on
    qtbot.waitUntil(lambda: bool(changed) and changed[-1] is session, timeout=5_000)  # announced to listeners
    assert not dialog.isVisible()

    panel = window.builder_dock.widget()
    assert panel.objectName() == "externalModelPanel"
    assert panel.title.text() == f"External model: {cls}"
    assert not window.palette_dock.isVisible()

    # the graph arrives from a background forward pass; the view is made when it does
    qtbot.waitUntil(lambda: window.has_graph_view and window.graph_view.graph() is not None, timeout=30_000)
    view = window.graph_view
    assert view.wait_until_ready(30_000)
    inputs = window.model_opener.opened.loaded.example_inputs
    expected = graph_signature(reference_graph(session.model, inputs, loss))
    assert graph_signature(view.graph()) == expected

    record = step_one_iteration(qtbot, window, session)
    assert record.complete and record.index == 0
    assert graph_signature(record.graph) == expected
    assert set(record.grad_norms) == {n for n, _ in session.model.named_parameters()}
    qtbot.waitUntil(lambda: "1 step done" in panel.training.text(), timeout=5_000)


def test_check_then_open_reuses_the_checked_model(qtbot, window):
    dialog = open_dialog(window)
    choose_file(qtbot, dialog, EXAMPLES / "lstm_tagger.py")
    qtbot.mouseClick(dialog.check_button, qtbot_left())
    qtbot.waitUntil(lambda: dialog.status.text().startswith("✓"), timeout=30_000)
    assert "LSTMTagger" in dialog.status.text() and "output[0]" in dialog.status.text()
    qtbot.mouseClick(dialog.open_button, qtbot_left())
    assert window.model_opener.session is not None  # no second load: the checked model is shown at once
    assert window.session is window.model_opener.session


# -- errors: a bad file, a wrong shape, the app keeps running ---------------------------------------------------

def test_bad_file_shows_the_users_traceback_and_the_app_keeps_running(qtbot, window, tmp_path):
    path = tmp_path / "typo.py"
    path.write_text("import torch.nn as nn\nimport torchvisionn\n")
    dialog = open_dialog(window)
    dialog.choose_path(path)
    qtbot.mouseClick(dialog.trust_button, qtbot_left())
    qtbot.waitUntil(lambda: bool(dialog.error_text()), timeout=20_000)
    assert "typo.py failed while running: ModuleNotFoundError: No module named 'torchvisionn'" in dialog.error_text()
    assert dialog.details.isVisible()
    details = dialog.details.toPlainText()
    assert str(path) in details and "line 2" in details and "gradviz" not in details.replace(str(path), "")

    qtbot.mouseClick(dialog.open_button, qtbot_left())
    qtbot.waitUntil(lambda: dialog.isVisible() and "torchvisionn" in dialog.error_text() and not window.model_opener.busy,
                    timeout=20_000)
    assert window.model_opener.session is None and dialog.isVisible()
    window.load_preset("mlp")  # the app keeps working
    assert window.session is not None


def test_wrong_input_shape_names_forward_and_the_shape(qtbot, window):
    dialog = open_dialog(window)
    choose_file(qtbot, dialog, EXAMPLES / "small_resnet.py")
    dialog.shapes_edit.setValue("2, 3, 32")
    assert dialog.inputs_hint.text() == "Inputs: (2, 3, 32) float32"
    qtbot.mouseClick(dialog.open_button, qtbot_left())
    qtbot.waitUntil(lambda: bool(dialog.error_text()), timeout=30_000)
    assert "SmallResNet.forward failed on inputs of shape (2, 3, 32)" in dialog.error_text()
    assert "small_resnet.py" in dialog.details.toPlainText() and "in forward" in dialog.details.toPlainText()
    assert getattr(window, "model_opener").session is None

    dialog.shapes_edit.setValue("2, three")  # refused by the field, with its reason; the valid shapes stay
    assert "must be integers" in dialog.shapes_edit.problem and dialog.shapes_edit.property("error") is True
    assert dialog.shapes_edit.value() == "2, 3, 32" and dialog.inputs_hint.text() == "Inputs: (2, 3, 32) float32"


def test_programmatic_open_errors_in_a_dialog(qtbot, window, tmp_path):
    from gradviz.core.user_model import UserModelRequest
    from gradviz.ui import errors
    from gradviz.ui.user_model.opener import open_model_in_window

    path = tmp_path / "shape_bug.py"
    path.write_text(
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x.flatten())\n"
    )
    open_model_in_window(window, UserModelRequest(path, input_shapes="3, 4"))
    qtbot.waitUntil(lambda: errors.last_dialog() is not None, timeout=20_000)
    shown = errors.last_dialog()
    assert "Net.forward failed on inputs of shape (3, 4)" in shown.summary()
    assert "line 7" in shown.details.toPlainText()
    shown.close()


def test_the_parameter_table_gives_names_the_room_shapes_and_status_leave(qtbot, window):
    """At 1600×1000 the model panel is ~300 px wide. Shape and status columns of a fixed
    110 and 100 px left the names ~60 px: "block…" for every row, the title cut. They
    are fitted to their texts now, at every text size, and a name is elided in the middle."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QFontMetrics

    from gradviz.core.user_model import UserModelRequest
    from gradviz.ui import theme
    from gradviz.ui.user_model.opener import model_opener, open_model_in_window

    window.resize(1600, 1000)
    open_model_in_window(window, UserModelRequest(EXAMPLES / "transformer_block.py", name="TinyTransformer",
                                                  input_expression="torch.randint(0, 100, (2, 8))", loss="cross_entropy"))
    opener = model_opener(window)
    qtbot.waitUntil(lambda: opener.session is not None, timeout=60_000)
    panel = window.builder_dock.widget()
    table = panel.table
    qtbot.waitUntil(lambda: table.model().rowCount() > 0 and table.isVisible(), timeout=10_000)
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle
    for zoom in range(2):
        if zoom:
            size = table.font().pointSizeF()
            window.actions["actionZoomIn"].trigger()
            qtbot.waitUntil(lambda: theme.is_fully_styled() and table.font().pointSizeF() > size, timeout=5_000)
        qtbot.waitUntil(lambda: table.columnWidth(1) >= QFontMetrics(table.font()).horizontalAdvance("(1, 64, 32)"),
                        timeout=5_000)
        cells, titles = QFontMetrics(table.font()), QFontMetrics(table.horizontalHeader().font())
        header = table.horizontalHeader()
        for column in range(3):  # every title whole
            title = table.model().headerData(column, Qt.Orientation.Horizontal)
            assert header.sectionSize(column) >= titles.horizontalAdvance(title), (zoom, title)
        rows = panel.status_rows()
        for column in (1, 2):  # every shape and status whole
            widest = max(cells.horizontalAdvance(row[column]) for row in rows)
            assert table.columnWidth(column) >= widest, (zoom, column)
        assert table.columnWidth(0) >= 0.3 * table.viewport().width(), zoom  # the names get the rest
        # A name too long for its cell loses whole middle parts: the last (which tensor) stays.
        shortened = 0
        for row, (name, _, _) in enumerate(rows[:40]):
            shown = drawn_text(table, row)
            if shown != name:
                shortened += 1
                head, _, tail = shown.partition("…")
                parts = name.split(".")
                assert tail.endswith(parts[-1]) and name.endswith(tail), (name, shown)
                assert head == "" or name.startswith(head + "."), (name, shown)
                assert QFontMetrics(table.font()).horizontalAdvance(shown) <= table.columnWidth(0), (name, shown)
        assert shortened, "the transformer's names are longer than a 300 px panel's column"


def drawn_text(table, row: int) -> str:
    """The text the name column's delegate draws in ``row``."""
    from PySide6.QtWidgets import QStyleOptionViewItem

    index = table.model().index(row, 0)
    option = QStyleOptionViewItem()
    option.rect = table.visualRect(index)
    option.widget = table
    table.itemDelegateForColumn(0).initStyleOption(option, index)
    return option.text


def test_dotted_names_lose_whole_middle_parts_balanced_between_head_and_tail():
    from gradviz.ui.elided import elide_dotted

    name = "blocks.0.attn.qkv.weight"
    def up_to(n):
        return lambda text: len(text) <= n
    assert elide_dotted(name, up_to(30)) == name
    assert elide_dotted(name, up_to(20)) == "blocks.0…qkv.weight"  # which block, which tensor
    assert elide_dotted(name, up_to(15)) == "blocks.0…weight"
    assert elide_dotted(name, up_to(8)) == "…weight"  # nothing fits: the shortest, for the view to elide
    assert elide_dotted("weight", up_to(3)) == "weight"


# -- back to the builder ------------------------------------------------------------------------------------------

def test_back_to_the_builder_and_settings_apply_to_the_opened_model(qtbot, window):
    from gradviz.core.user_model import UserModelRequest
    from gradviz.ui.user_model.opener import open_model_in_window

    window.load_preset("mlp")
    builder_session = window.session
    builder_widget = window.builder_dock.widget()
    open_model_in_window(window, UserModelRequest(EXAMPLES / "lstm_tagger.py", loss="mse"))
    qtbot.waitUntil(lambda: window.model_opener.session is not None, timeout=30_000)
    opened = window.model_opener.session
    assert window.session is opened

    panel = window.model_opener.panel
    assert not window.training_toolbar.isVisible()  # the builder's data and device do not apply here
    panel.optimizer_combo.setCurrentIndex(panel.optimizer_combo.findData("adam"))
    panel.lr_spin.setValue(0.05)
    assert opened.optimizer_name == "adam" and opened.lr == 0.05
    window.document.set_setting("lr", 0.2)  # a settings-only change of the builder's document ...
    # ... and its debounced session rebuild (if any) must not take the window's session back
    qtbot.waitUntil(lambda: not window.session_link.timer.isActive(), timeout=10_000)
    assert window.session is opened and opened.lr == 0.05

    changed = []
    window.sessionChanged.connect(changed.append)
    qtbot.mouseClick(window.model_opener.panel.findChild(object, "closeExternalModelButton"), qtbot_left())
    assert window.model_opener.session is None
    assert window.builder_dock.widget() is builder_widget and window.palette_dock.isVisible()
    assert window.session is not None and window.session is not opened
    assert changed and changed[-1] is window.session
    assert builder_session is not None

    open_model_in_window(window, UserModelRequest(EXAMPLES / "lstm_tagger.py"))
    qtbot.waitUntil(lambda: window.model_opener.session is not None, timeout=30_000)
    window.load_preset("lenet")  # building again closes the opened model
    assert window.model_opener.session is None and window.builder_dock.widget() is builder_widget


def test_closing_an_opened_model_thaws_it_and_lets_it_go(qtbot, window):
    """An opened model is frozen out of full collections while it is open (it is alive
    anyway); closing it thaws everything, so nothing keeps it once the window lets go."""
    import gc
    import weakref

    from gradviz.core.user_model import UserModelRequest
    from gradviz.ui.user_model.opener import open_model_in_window

    open_model_in_window(window, UserModelRequest(EXAMPLES / "lstm_tagger.py", loss="mse"))
    qtbot.waitUntil(lambda: window.model_opener.session is not None, timeout=30_000)
    model = weakref.ref(window.model_opener.session.model)
    assert gc.get_freeze_count() > 0
    assert not any(o is model() for o in gc.get_objects()), "frozen: not walked by collections while open"
    qtbot.mouseClick(window.model_opener.panel.findChild(object, "closeExternalModelButton"), qtbot_left())
    assert gc.get_freeze_count() == 0
    qtbot.waitUntil(lambda: (gc.collect(), model() is None)[1], timeout=10_000)


# -- a big model ----------------------------------------------------------------------------------------------------

def test_a_20k_node_model_opens_collapsed_and_the_gui_keeps_responding(qtbot, window, monkeypatch):
    import threading

    from gradviz.core.user_model import UserModelRequest
    from gradviz.ui.user_model import opener as model_session
    from gradviz.ui.graph_view import layout_pipeline as view_module
    from gradviz.ui.user_model.opener import open_model_in_window

    request = UserModelRequest(
        EXAMPLES / "transformer_block.py", name="TinyTransformer",
        args="n_layers=340, d_model=8, n_heads=2, vocab=20, max_len=16", input_shapes="1, 8", dtype="int64",
        loss="cross_entropy",
    )
    # Extraction and layout run in workers: each waits, in its thread, until a GUI timer
    # tick has seen it under way. That happens only if the GUI thread keeps running
    # meanwhile, on a fast machine or a loaded one. (Timings: bench/.)
    gui_saw = {"opening": threading.Event(), "layout": threading.Event()}
    seen = {}

    def gated(stage, real):
        def run(*args, **kwargs):
            worker = threading.current_thread() is not threading.main_thread()
            seen[stage] = worker and gui_saw[stage].wait(60)
            return real(*args, **kwargs)
        return run

    monkeypatch.setattr(model_session, "open_user_model", gated("opening", model_session.open_user_model))
    monkeypatch.setattr(view_module, "compute_layout", gated("layout", view_module.compute_layout))

    def tick():
        opener = getattr(window, "model_opener", None)
        if opener is not None and opener.busy and opener.session is None:
            gui_saw["opening"].set()
        view = window.graph_view if window.has_graph_view else None
        if view is not None and view.graph() is not None and not view.is_ready():
            gui_saw["layout"].set()

    heartbeat = QTimer()
    heartbeat.setInterval(20)
    heartbeat.timeout.connect(tick)
    heartbeat.start()
    start = time.perf_counter()
    open_model_in_window(window, request)
    qtbot.waitUntil(lambda: window.model_opener.session is not None, timeout=120_000)
    opened_at = time.perf_counter()
    # The graph goes to the view on the next turn of the event loop; then it lays out in its worker.
    qtbot.waitUntil(lambda: window.has_graph_view and window.graph_view.graph() is not None, timeout=10_000)
    view = window.graph_view
    assert view.wait_until_ready(120_000)
    laid_out_at = time.perf_counter()
    heartbeat.stop()

    graph = view.graph()
    assert graph.number_of_nodes() >= 20_000
    assert view.collapsed_modules() and view.node_count() <= 1_000  # modules collapsed to a readable depth
    assert seen == {"opening": True, "layout": True}, seen
    print(f"\n20k nodes ({graph.number_of_nodes():,}): extraction {opened_at - start:.1f} s, "
          f"layout {laid_out_at - opened_at:.1f} s, {view.node_count()} boxes shown")


def test_torchscript_files_ask_before_running_and_export_archives_do_not(qtbot, window, tmp_path):
    import torch

    scripted, exported = tmp_path / "net.pt", tmp_path / "net.pt2"
    torch.jit.script(torch.nn.Linear(3, 2)).save(str(scripted))
    torch.export.save(torch.export.export(torch.nn.Linear(3, 2), (torch.randn(4, 3),)), exported)
    dialog = open_dialog(window)
    dialog.choose_path(str(scripted))
    assert dialog.warning.isVisible() and "TorchScript program" in dialog.warning_text.text()
    assert dialog.needs_trust() and not dialog.open_button.isEnabled()
    qtbot.mouseClick(dialog.trust_button, qtbot_left())
    assert not dialog.warning.isVisible() and not dialog.needs_trust()
    dialog.choose_path(str(exported))
    assert not dialog.warning.isVisible() and not dialog.needs_trust()  # checked and refused instead, if unsafe
    dialog.reject()


def test_reset_layout_keeps_the_builders_docks_aside_while_a_model_is_open(qtbot, window):
    """View → Reset layout with a model open brought back the Layers palette and the
    builder's Model summary: they describe the built network, not the opened one."""
    from gradviz.core.user_model import UserModelRequest
    from gradviz.ui.user_model.opener import model_opener, open_model_in_window

    open_model_in_window(window, UserModelRequest(EXAMPLES / "small_resnet.py", name="SmallResNet", loss="cross_entropy"))
    opener = model_opener(window)
    qtbot.waitUntil(lambda: opener.session is not None, timeout=60_000)
    aside = (window.palette_dock, window.summary_dock)
    assert not any(dock.isVisible() for dock in aside)
    window.actions["actionResetLayout"].trigger()
    assert not any(dock.isVisible() for dock in aside)
    assert window.builder_dock.isVisible() and window.builder_dock.widget() is opener.panel
    opener.close()  # back to the builder: both come back
    qtbot.waitUntil(lambda: all(dock.isVisible() for dock in aside), timeout=5_000)
