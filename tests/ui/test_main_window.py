"""The main window: structure and names, lecture mode and zoom, themes, the crash
dialog, the training session, Show graph, and a torch-free startup."""
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QToolBar

from gradviz.ui import errors, settings, theme


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(20_000)  # no background task may outlive its window's test


def test_names_title_menus_and_shortcuts(window):
    assert window.objectName() == "MainWindow"
    assert window.windowTitle() == "gradviz — untitled"
    window.load_preset("lenet")
    assert window.windowTitle() == "gradviz — untitled*"
    for name in ("layerPalette", "layerStack", "inputShapeEdit", "presetCombo", "deviceCombo", "lossCombo",
                 "optimizerCombo", "lrSpin", "summaryPanel", "networkStatus", "centralArea"):
        assert window.findChild(object, name) is not None, name
    menus = [action.text().replace("&", "") for action in window.menuBar().actions()]
    assert menus == ["File", "Edit", "View", "Network", "Run", "Help"]
    expected = {
        "actionNew": "Ctrl+N", "actionOpen": "Ctrl+O", "actionSave": "Ctrl+S", "actionSaveAs": "Ctrl+Shift+S",
        "actionUndo": "Ctrl+Z", "actionRedo": "Ctrl+Shift+Z", "actionShowGraph": "F5", "actionLectureMode": "F11",
        "actionZoomIn": "Ctrl++", "actionZoomOut": "Ctrl+-", "actionZoomReset": "Ctrl+0", "actionDeleteLayer": "Del",
        "actionMoveLayerUp": "Alt+Up", "actionExportPython": "Ctrl+Shift+E",
    }
    for name, keys in expected.items():
        action = window.actions[name]
        assert action.objectName() == name
        assert action.shortcut().toString() == keys, name
    assert QKeySequence("Ctrl+Y") in window.actions["actionRedo"].shortcuts()
    assert window.findChild(QToolBar, "mainToolBar") and window.findChild(QToolBar, "trainingToolBar")
    assert all(dock.objectName() for dock in window.findChildren(QDockWidget))


def test_add_panel_for_later_features(window):
    label = QLabel("gradients")
    dock = window.add_panel(label, "Gradients", "gradientPanel", Qt.DockWidgetArea.RightDockWidgetArea)
    assert window.findChild(QDockWidget, "gradientPanel") is dock and dock.widget() is label
    assert dock.toggleViewAction() in window.menus["panels"].actions()
    action = window.actions["actionShowGraph"]
    step = window.requires_valid_network(type(action)("Step", window))
    assert not step.isEnabled()  # empty network
    window.load_preset("mlp")
    assert step.isEnabled()


def test_lecture_mode_big_fonts_fewer_panels_and_back(window):
    window.set_theme("light")
    base = QApplication.font().pointSizeF()
    assert window.summary_dock.isVisible() and window.palette_dock.isVisible()
    window.actions["actionLectureMode"].trigger()
    assert window.lecture_mode and window.isFullScreen()
    lecture_size = QApplication.font().pointSizeF()
    # larger than desktop text; how much larger follows the screen's height (theme.lecture_scale_for)
    assert lecture_size >= base * theme.MIN_LECTURE_SCALE
    assert lecture_size == pytest.approx(base * theme.lecture_scale_for(window.screen().geometry().height()))
    assert theme.current_theme() == "lecture"
    assert not window.summary_dock.isVisible() and not window.palette_dock.isVisible()
    assert not window.builder_dock.isVisible()  # the builder steps aside (Ctrl+B brings it back)
    window.actions["actionZoomIn"].trigger()
    assert QApplication.font().pointSizeF() > lecture_size
    window.actions["actionLectureMode"].trigger()
    assert not window.lecture_mode and not window.isFullScreen()
    assert QApplication.font().pointSizeF() == pytest.approx(base)
    assert theme.current_theme() == "light"
    assert window.summary_dock.isVisible() and window.palette_dock.isVisible()
    window.actions["actionLectureMode"].trigger()  # the lecture zoom is remembered
    assert QApplication.font().pointSizeF() > lecture_size
    window.actions["actionZoomReset"].trigger()
    window.actions["actionLectureMode"].trigger()


def test_zoom_and_theme_are_remembered(window):
    base = QApplication.font().pointSizeF()
    window.actions["actionZoomIn"].trigger()
    assert QApplication.font().pointSizeF() > base
    assert float(settings.value(settings.FONT_SCALE)) > 1.0
    window.actions["actionZoomOut"].trigger()
    window.actions["actionZoomOut"].trigger()
    assert QApplication.font().pointSizeF() < base
    window.actions["actionZoomReset"].trigger()
    assert QApplication.font().pointSizeF() == pytest.approx(theme.BASE_POINT_SIZE)
    window.actions["actionThemeDark"].trigger()
    assert theme.current_theme() == "dark" and settings.value(settings.THEME) == "dark"
    assert QApplication.palette().window().color().lightness() < 80
    window.actions["actionThemeLight"].trigger()
    assert settings.value(settings.THEME) == "light"


@pytest.mark.qt_no_exception_capture
def test_uncaught_exception_shows_dialog_and_the_window_keeps_working(window, qtbot):
    window.load_preset("mlp")
    autosaved = []
    uninstall = errors.install_excepthook(lambda: window, on_error=lambda: autosaved.append(window.autosave_now()))
    try:
        def broken_slot():
            raise ZeroDivisionError("the slot divided by zero")

        QTimer.singleShot(0, broken_slot)  # a Qt slot: PySide reports it through sys.excepthook
        qtbot.waitUntil(lambda: errors.last_dialog() is not None, timeout=3000)
        dialog = errors.last_dialog()
        assert dialog.objectName() == "errorDialog" and not dialog.isModal()
        assert "ZeroDivisionError: the slot divided by zero" in dialog.summary()
        assert not dialog.details.isVisible()
        dialog.details_button.click()
        assert dialog.details.isVisible() and "broken_slot" in dialog.details.toPlainText()
        # grown by the details from near the screen's bottom, it moves up: Close stays on screen
        room = dialog.screen().availableGeometry()
        dialog.details_button.click()
        dialog.move(dialog.x(), room.bottom() - dialog.frameGeometry().height())
        dialog.details_button.click()
        assert room.contains(dialog.frameGeometry()), (dialog.frameGeometry(), room)
        assert autosaved and window.autosaver.path.exists()  # the work was autosaved first

        worker = threading.Thread(target=lambda: [][1])  # and from another thread
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: dialog.count == 2, timeout=3000)
        assert "IndexError" in dialog.summary()

        window.stack.select("fc2")  # still fully usable
        window.actions["actionDeleteLayer"].trigger()
        assert [layer.name for layer in window.spec.layers] == ["fc1", "tanh1", "tanh2", "fc3"]
        dialog.close()
    finally:
        uninstall()
    assert sys.excepthook is not errors._excepthook


def test_session_follows_the_network_and_controls(window, qtbot):
    pytest.importorskip("gradviz.core.session")
    import gradviz

    assert window.session is None  # no network yet
    seen = []
    window.sessionChanged.connect(seen.append)
    window.load_preset("mlp")
    session = window.session
    assert isinstance(session, gradviz.TrainingSession)
    assert session.lr == pytest.approx(0.01) and session.loss_name == "mse" and session.optimizer_name == "sgd"
    assert seen and seen[-1] is session
    window.findChild(object, "lrSpin").setValue(0.1)
    window.findChild(object, "optimizerCombo").setCurrentIndex(2)
    qtbot.waitUntil(lambda: window.session_link.timer.isActive() is False, timeout=3000)  # debounced rebuild
    assert window.session is not session
    assert window.session.lr == pytest.approx(0.1) and window.session.optimizer_name == "adam"
    window.stack.card("fc2").findChild(object, "param_in_features").setValue(3)
    assert window.session is None and "fc2" in window.session_link.problem


def test_show_graph_runs_in_background_and_fills_the_graph_view(window, qtbot):
    pytest.importorskip("gradviz.core.session")
    window.load_preset("mlp")
    window.actions["actionShowGraph"].trigger()
    assert window.progress.isVisible()
    qtbot.waitUntil(lambda: window.has_graph_view and window.graph_view.graph() is not None, timeout=20_000)
    graph = window.graph_view.graph()
    assert window.central.currentWidget() is window.graph_view
    assert graph.number_of_nodes() > 5
    assert not window.progress.isVisible()
    assert "nodes" in window.statusBar().currentMessage()


def test_show_graph_is_disabled_with_a_reason_while_invalid(window):
    assert not window.actions["actionShowGraph"].isEnabled()
    assert "empty" in window.network_status.text()
    window.load_preset("lenet")
    window.stack.card("conv2").findChild(object, "param_in_channels").setValue(7)
    assert not window.actions["actionShowGraph"].isEnabled()
    assert "conv2" in window.actions["actionShowGraph"].statusTip()
    window.show_graph()  # also refuses when called directly, with a message
    assert "conv2" in window.statusBar().currentMessage()


def test_window_shows_before_torch_is_imported():
    """The window is on screen before torch is imported (torch takes seconds to load).

    What is checked is the order of two events, not a time: an event filter notes
    whether torch is loaded when the window's first Show event arrives. Timers that
    start afterwards (the builder's debounced rebuild imports torch) may fire at any
    point on a loaded machine without changing the answer. How long start-up takes is
    measured against a bare torch + Qt window in ``bench/startup.py``."""
    code = (
        "import sys\n"
        "from PySide6.QtCore import QEvent, QObject\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from gradviz.ui import MainWindow\n"
        "seen = []\n"
        "class OnShow(QObject):\n"
        "    def eventFilter(self, obj, event):\n"
        "        if event.type() == QEvent.Type.Show and not seen:\n"
        "            seen.append('torch' in sys.modules)\n"
        "        return False\n"
        "w = MainWindow(); w.load_preset('lenet')\n"
        "hook = OnShow(); w.installEventFilter(hook)\n"
        "w.show(); app.processEvents()\n"
        "print('shown' if seen else 'not-shown', 'torch-before-show' if seen and seen[0] else 'torch-after-show')\n"
        # The answer is out; skip interpreter teardown, which destroys Qt objects in an order
        # PySide6 does not promise to survive in a bare script (the app's own exit path is
        # tested with the app).
        "sys.stdout.flush(); import os; os._exit(0)\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["shown", "torch-after-show"], result.stdout + result.stderr


def test_help_dialogs_do_not_block(window):
    window.actions["actionShortcuts"].trigger()
    box = window.findChild(object, "shortcutsDialog")
    assert box is not None and box.isVisible() and not box.isModal()
    assert "F11" in box.text()
    box.close()


def test_no_two_actions_share_a_shortcut(window):
    """Qt treats a shortcut held by two window actions as ambiguous: neither fires."""
    from collections import defaultdict

    from PySide6.QtGui import QAction

    window.graph_view  # made now: its actions (Export graph, Find) join the window's
    owners = defaultdict(list)
    for action in window.findChildren(QAction):
        for shortcut in action.shortcuts():
            if not shortcut.isEmpty():
                owners[shortcut.toString()].append(action.objectName())
    clashes = {key: names for key, names in owners.items() if len(set(names)) > 1}
    assert clashes == {}


def test_first_run_layout_tabs_the_side_panels_and_gives_each_room(qtbot):
    """No remembered layout (the tests' config dir is fresh): the panels share one
    right column beside the graph (the code above, the gradients in front of the
    norms and summary tabs below), no bottom area takes the graph's height."""
    from gradviz.ui import MainWindow

    # Earlier tests' windows remembered their layout and text size on closing.
    store = settings.settings()
    for key in (settings.WINDOW_STATE, settings.WINDOW_GEOMETRY, settings.FONT_SCALE, settings.THEME):
        store.remove(key)
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1600, 1000)
    win.show()
    qtbot.waitUntil(lambda: not win._default_sizes_pending, timeout=3000)
    QApplication.processEvents()
    ui = win.training_ui
    right = Qt.DockWidgetArea.RightDockWidgetArea

    def check():
        tabbed = win.tabifiedDockWidgets(ui.gradient_dock)
        assert win.summary_dock in tabbed and ui.norms_dock in tabbed
        assert all(win.dockWidgetArea(d) == right for d in (ui.training_dock, ui.gradient_dock, ui.norms_dock, win.summary_dock))
        assert not ui.gradient_dock.visibleRegion().isEmpty()  # the tab in front
        assert ui.gradient_dock.y() > ui.training_dock.y()  # below the code
        assert all(win.dockWidgetArea(d) == Qt.DockWidgetArea.LeftDockWidgetArea for d in (win.palette_dock, win.builder_dock))

    check()
    assert win.palette_dock.height() >= 140  # a list of layer names
    for dock in (win.builder_dock, ui.training_dock, ui.gradient_dock):
        assert dock.width() >= 250 and dock.height() >= 200, dock.objectName()
    central = win.centralWidget()
    assert central.width() >= win.width() / 2 and central.height() >= win.height() * 0.8

    # View → Reset layout brings the same arrangement back after the training layout.
    win.actions["actionTrainingLayout"].trigger()
    assert not win.summary_dock.isVisible() and not win.builder_dock.isVisible()
    win.actions["actionResetLayout"].trigger()
    qtbot.waitUntil(lambda: not win._default_sizes_pending, timeout=3000)
    QApplication.processEvents()
    check()
    assert win.builder_dock.isVisible() and win.palette_dock.isVisible()
    assert win.builder_dock.width() >= 250


def test_warm_up_freezes_start_up_objects_out_of_full_collections(window, qtbot):
    """After the start-up's warm-up (torch imported) most of the process's objects are
    frozen: a full collection no longer walks torch's and Qt's (125-160 ms each, a visible
    halt of the window, with LeNet open), only what changes."""
    import gc

    gc.unfreeze()
    try:
        window.warm_up()
        qtbot.waitUntil(lambda: gc.get_freeze_count() > 0, timeout=20_000)
        walked = len(gc.get_objects())
        assert gc.get_freeze_count() > 4 * walked, (gc.get_freeze_count(), walked)
        window.load_preset("lenet")
        window.actions["actionShowGraph"].trigger()  # a network and its graph come after: walked as before
        qtbot.waitUntil(lambda: window.graph_view is not None and window.graph_view.shown_graph() is not None,
                        timeout=20_000)
        assert len(gc.get_objects()) > walked
    finally:
        gc.unfreeze()
