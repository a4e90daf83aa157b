"""Shared test setup. Qt runs offscreen: no display or window manager needed."""
import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep the tests' remembered settings (QSettings) and recovery files away from the user's.
_CONFIG_HOME = tempfile.mkdtemp(prefix="gradviz-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME
os.environ["GRADVIZ_CONFIG_DIR"] = _CONFIG_HOME

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """The benchmarks are not part of the test run (README): their smoke tests start
    interpreters and windows for about a minute. They run when asked for, with
    GRADVIZ_BENCH_SMOKE=1 or ``-m bench``."""
    if os.environ.get("GRADVIZ_BENCH_SMOKE") == "1" or "bench" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="benchmark smoke test: opt in with GRADVIZ_BENCH_SMOKE=1")
    for item in items:
        if item.get_closest_marker("bench") is not None:
            item.add_marker(skip)


@pytest.fixture
def lenet_spec():
    from gradviz import presets

    return presets.load("lenet")


@pytest.fixture
def one_torch_thread():
    """Tiny models: on a loaded 2-core machine torch's spinning intra-op threads
    make each small op ~20x slower, which only measures the machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _scripted_prompts(request, monkeypatch):
    """Every window a GUI test makes asks its questions (save changes? recover? which
    file?) of a script that answers at once: "discard", "no", no file. A forgotten prompt
    can then never hang the run. Tests that care replace single answers on
    ``window.prompts``."""
    if "qtbot" not in request.fixturenames:
        return  # only GUI tests make windows; core tests never import Qt
    from gradviz.ui import main_window
    from gradviz.ui.builder.prompts import Prompts

    class ScriptedPrompts(Prompts):
        def ask_save_changes(self, document_name):
            return "discard"

        def ask_recover(self, description):
            return False

        def open_path(self):
            return None

        def save_path(self, suggested):
            return None

        def export_path(self, suggested):
            return None

    monkeypatch.setattr(main_window, "Prompts", ScriptedPrompts)


@pytest.fixture(autouse=True)
def _fresh_settings(request):
    """Every GUI test starts with nothing remembered (window layout, text sizes, lecture
    zoom, theme, recent files): what one test zoomed or arranged must not decide what
    another one sees (a lecture zoom left behind changed a later test's lecture text size)."""
    if "qtbot" not in request.fixturenames:
        return
    from gradviz.ui import settings

    settings.settings().clear()


@pytest.fixture(autouse=True)
def _garbage_collection_stays_on_the_gui_thread():
    """Once a GUI test handed collection to the GUI thread's timer (gradviz.ui.worker), no
    test may switch automatic collection back on: a worker thread would then collect Qt
    objects, which deadlocks or crashes a later GUI test far from the cause."""
    yield
    import gc
    import sys

    worker = sys.modules.get("gradviz.ui.worker")
    if worker is not None and getattr(worker, "_gc_timer", None) is not None and gc.isenabled():
        gc.disable()
        pytest.fail("this test left automatic garbage collection on; restore gc.isenabled() as it found it")
