"""Users' code that never returns (issue 14, item 11): it runs on its own thread, the window
offers Stop after a while, Stop ends it with a clear message, other work goes on meanwhile,
and closing the window always ends the process."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from gradviz.core.user_model import UserModelRequest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUCK_MODEL = textwrap.dedent('''
    import torch


    class Stuck(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            while True:
                pass
''')


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow
    from gradviz.ui.user_model.dialog import install_open_model

    win = MainWindow()
    if "actionOpenModel" not in win.actions:
        install_open_model(win)
    qtbot.addWidget(win)
    win.show()
    yield win
    from gradviz.ui.worker import finish_or_abandon

    assert finish_or_abandon(10)  # nothing stuck may outlive the test
    win.autosaver.stop()


def show_lenet_graph(window, qtbot):
    window.load_preset("lenet")
    qtbot.waitUntil(lambda: window.session is not None and window.actions["actionShowGraph"].isEnabled(), timeout=20_000)
    window.actions["actionShowGraph"].trigger()
    qtbot.waitUntil(lambda: not window._graph_job.busy, timeout=30_000)
    view = window.graph_view
    assert view is not None and view.graph() is not None and view.graph().number_of_nodes() > 10


def test_stuck_forward_offers_stop_and_stop_ends_it(window, qtbot, tmp_path):
    from gradviz.ui.user_model.opener import open_model_in_window
    from gradviz.ui.user_code import install_stop_offer
    from gradviz.ui.worker import running_user_code

    path = tmp_path / "stuck.py"
    path.write_text(STUCK_MODEL)
    offer = install_stop_offer(window)
    offer.offer_ms = 50  # "after a few seconds", made short for the test
    failures = []
    open_model_in_window(window, UserModelRequest(path=path, input_shapes="1, 4"),
                         on_failed=lambda exc, details: failures.append((exc, details)))
    qtbot.waitUntil(offer.isVisible, timeout=20_000)
    assert "still running" in offer.label.text() and "stuck.py" in offer.label.text()
    assert offer.button.isEnabled() and running_user_code()

    # Nothing queues behind the stuck model: the builder's graph still comes.
    show_lenet_graph(window, qtbot)
    assert not failures and running_user_code()

    qtbot.mouseClick(offer.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(failures), timeout=20_000)
    exc, details = failures[0]
    assert "stopped" in str(exc) and "stuck.py" in str(exc)
    assert "while True" in details  # where their code was when it stopped
    qtbot.waitUntil(lambda: not offer.isVisible() and not running_user_code(), timeout=20_000)
    assert window.model_opener.opened is None and not window.model_opener.busy

    show_lenet_graph(window, qtbot)  # the app keeps working


def test_the_process_exits_when_the_window_closes_while_user_code_is_stuck(tmp_path):
    path = tmp_path / "stuck.py"
    marker = tmp_path / "forward-started"
    path.write_text(STUCK_MODEL.replace("while True:", f"open({str(marker)!r}, 'w').close()\n        while True:"))
    script = tmp_path / "drive.py"
    script.write_text(textwrap.dedent(f'''
        import os
        import sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        from gradviz import app
        from gradviz.core.user_model import UserModelRequest

        qapp = QApplication(sys.argv)

        def drive():
            window = next(w for w in qapp.topLevelWidgets() if w.objectName() == "mainWindow" or hasattr(w, "document"))
            from gradviz.ui.user_model.opener import open_model_in_window

            open_model_in_window(window, UserModelRequest(path={str(path)!r}, input_shapes="1, 4"))

            def close_when_stuck():
                if os.path.exists({str(marker)!r}):  # their forward runs (and never returns)
                    print("stuck; closing", flush=True)
                    window.close()
                else:
                    QTimer.singleShot(20, close_when_stuck)

            close_when_stuck()

        QTimer.singleShot(0, drive)
        code = app.main([sys.argv[0]])
        print("main returned", code, flush=True)
        sys.exit(code)
    '''))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert "stuck; closing" in result.stdout, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]


def test_code_stuck_in_c_is_said_to_be_unstoppable(window, qtbot, tmp_path):
    import threading

    from gradviz.ui.user_model.opener import open_model_in_window
    from gradviz.ui.user_code import install_stop_offer
    from gradviz.ui.worker import running_user_code

    release = threading.Event()  # a wait in C: no Python exception reaches it
    sys.modules["stuck_release"] = type(sys)("stuck_release")
    sys.modules["stuck_release"].event = release
    path = tmp_path / "waits.py"
    path.write_text(STUCK_MODEL.replace("while True:\n            pass", "import stuck_release\n        stuck_release.event.wait()\n        return self.fc(x)"))
    offer = install_stop_offer(window)
    offer.offer_ms, offer.grace_ms = 50, 50
    failures = []
    try:
        open_model_in_window(window, UserModelRequest(path=path, input_shapes="1, 4"),
                             on_failed=lambda exc, details: failures.append(exc))
        qtbot.waitUntil(offer.isVisible, timeout=20_000)
        qtbot.mouseClick(offer.button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: "could not be stopped" in offer.label.text(), timeout=20_000)
        assert offer.isVisible() and not offer.button.isEnabled() and "Quit" in offer.label.text()
        assert running_user_code()
    finally:
        release.set()  # the wait returns; the pending Stop then ends their code
        del sys.modules["stuck_release"]
    qtbot.waitUntil(lambda: bool(failures), timeout=20_000)
    assert "stopped" in str(failures[0])
    qtbot.waitUntil(lambda: not offer.isVisible(), timeout=20_000)


def test_the_process_exits_even_when_a_pool_task_never_returns(tmp_path):
    """The last resort: work stuck where no exception reaches it (here a wait in C on the
    worker pool, which Qt would wait for at exit) cannot keep the closed app alive."""
    script = tmp_path / "drive.py"
    script.write_text(textwrap.dedent('''
        import sys
        import threading
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication

        from gradviz import app
        from gradviz.ui.worker import run_task

        qapp = QApplication(sys.argv)
        started = threading.Event()

        def stuck(task):
            started.set()
            threading.Event().wait()  # forever, in C

        def drive():
            window = next(w for w in qapp.topLevelWidgets() if hasattr(w, "document"))
            run_task(stuck)

            def close_when_stuck():
                if started.is_set():
                    print("stuck; closing", flush=True)
                    window.close()
                else:
                    QTimer.singleShot(20, close_when_stuck)

            close_when_stuck()

        QTimer.singleShot(0, drive)
        sys.exit(app.main([sys.argv[0]]))
    '''))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert "stuck; closing" in result.stdout, result.stderr[-2000:]
    assert result.returncode == 0, result.stderr[-2000:]
