"""The README's window screenshots at 1600×1000 (offscreen): the builder with LeNet's
graph, the backward pass step by step, and lecture mode.

    QT_QPA_PLATFORM=offscreen python bench/_layout_screenshots.py resources/screenshots
    SHOT_SIZE=1280x720 QT_QPA_PLATFORM=offscreen python bench/_layout_screenshots.py /tmp/shots720   # a 720p screen
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
SIZE = tuple(int(v) for v in os.environ.get("SHOT_SIZE", "1600x1000").split("x"))


def _settle(app, until=lambda: True, timeout_s: float = 60.0, extra_ms: int = 400) -> None:
    end = time.perf_counter() + timeout_s
    while not until() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)
    end = time.perf_counter() + extra_ms / 1000
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def main(out_dir: str) -> int:
    config = tempfile.mkdtemp(prefix="gradviz-shots-")
    os.environ["XDG_CONFIG_HOME"] = config
    os.environ["GRADVIZ_CONFIG_DIR"] = config
    from PySide6.QtWidgets import QApplication

    from gradviz.ui import MainWindow

    app = QApplication.instance() or QApplication([])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    win = MainWindow()
    win.resize(*SIZE)
    win.show()
    win.load_preset("lenet")
    _settle(app, lambda: win.session is not None)
    win.actions["actionShowGraph"].trigger()
    _settle(app, lambda: win.graph_view is not None and win.graph_view.shown_graph() is not None
            and win.graph_view.is_ready(), extra_ms=1500)
    win.grab().save(str(out / "builder.png"))
    controller = win.training_ui.controller
    for name in ("actionZeroGrad", "actionForward", "actionLoss", "actionBackward"):
        win.actions[name].trigger()
        _settle(app, lambda: not controller.busy and win.graph_view.is_ready(), extra_ms=300)
        win.training_ui.skip_animation()
        _settle(app, lambda: not win.training_ui.animator.animating, extra_ms=300)
    win.training_ui.skip_animation()
    _settle(app, extra_ms=1500)
    win.graph_view.fit_to_window(animate=False)
    _settle(app, extra_ms=300)
    win.grab().save(str(out / "step_backward.png"))
    win.set_lecture_mode(True)
    win.showNormal()  # the offscreen "screen" is small: the window stands in for a projector of SIZE
    win.resize(*SIZE)
    win.zoom(None)  # the lecture text size for this height (what full screen on such a projector gets)
    _settle(app, lambda: win.graph_view.is_ready(), extra_ms=2000)
    win.graph_view.fit_to_window(animate=False)
    _settle(app, extra_ms=500)
    win.grab().save(str(out / "lecture.png"))
    win.set_lecture_mode(False)
    win.hide()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "resources/screenshots"))
