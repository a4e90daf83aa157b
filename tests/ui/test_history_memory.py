"""The history's memory is shown beside its slider (issue 14, item 12): "history 2 MB of 4 GB"."""
import re

import pytest


@pytest.fixture
def window(qtbot):
    import gc

    from gradviz.ui import MainWindow
    from gradviz.ui.training import install_training_ui

    gc.collect()
    win = MainWindow()
    qtbot.addWidget(win)
    if getattr(win, "training_ui", None) is None:
        install_training_ui(win)
    win.show()
    win.load_preset("lenet")
    win.training_ui.set_speed(1000)
    yield win
    win.training_ui.controller.pause()
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(20_000)
    win.autosaver.stop()


def test_history_budget_and_usage_beside_the_slider(window, qtbot):
    from PySide6.QtWidgets import QLabel

    ui = window.training_ui
    memory = ui.history.findChild(QLabel, "historyMemory")
    assert memory is not None and not memory.isVisibleTo(ui.history)  # nothing kept yet
    qtbot.waitUntil(lambda: window.actions["actionRunIteration"].isEnabled(), timeout=30_000)
    window.actions["actionRunIteration"].trigger()
    qtbot.waitUntil(lambda: window.session.iteration == 1 and ui.controller.is_idle(), timeout=30_000)
    qtbot.waitUntil(lambda: memory.isVisibleTo(ui.history), timeout=30_000)
    history = window.session.history
    assert memory.text() == history.describe()
    assert re.fullmatch(r"history [\d.,]+ (bytes|KB|MB|GB) of [\d.,]+ (MB|GB)", memory.text())
    assert 0 < history.nbytes <= history.max_bytes
    assert "budget" in memory.toolTip()
    # The parameter the gradient panel shows is the one a big model would keep copies of.
    assert history.watched == {ui.gradients.current_param()}
