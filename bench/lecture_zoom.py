"""Benchmark: one Ctrl +/− step in lecture mode with LeNet's graph on screen, offscreen.

A step sets the application's text size (every panel follows it), lays the
graph out again with the bigger (or smaller) boxes in a worker thread and
repaints. The clock runs from the key's action until the graph view is ready
again and the window has painted once (``repaint()``, synchronous). Budget:
<= 150 ms a step (an absolute budget, like the graph view's frame budget).

For context: the same steps with no graph shown (``chrome_ms``), and the full
stylesheet for the new size that the window applies once the steps stop
(``restyle_ms``, once per burst of steps, not per step).

    python bench/lecture_zoom.py [--steps 6] [--repeats 3]

Importable too: ``run(steps=..., repeats=...) -> list[dict]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BUDGET_MS = 150.0
SIZE = (1600, 1000)


def _settle(app, until, timeout_s: float = 20.0) -> None:
    end = time.perf_counter() + timeout_s
    while not until():
        if time.perf_counter() > end:
            raise TimeoutError("the window did not settle")
        app.processEvents()
        time.sleep(0.0005)


def _window(app, with_graph: bool):
    from gradviz.ui import MainWindow

    win = MainWindow()
    win.resize(*SIZE)
    win.show()
    win.load_preset("lenet")
    if with_graph:
        win.actions["actionShowGraph"].trigger()
        _settle(app, lambda: win.graph_view is not None and win.graph_view.shown_graph() is not None
                and win.graph_view.is_ready(), 60)
    win.set_lecture_mode(True)
    win.showNormal()
    win.resize(*SIZE)
    for _ in range(20):
        app.processEvents()
    if with_graph:
        _settle(app, win.graph_view.is_ready)
    return win


def _steps(app, win, steps: int, repeats: int) -> list[float]:
    """ms per step: zoom in ``steps`` times, then out as many, ``repeats`` times."""
    view = win.graph_view
    times = []
    for _ in range(repeats):
        for name in ["actionZoomIn"] * steps + ["actionZoomOut"] * steps:
            size_before = view.label_pixel_size() if view is not None else None
            start = time.perf_counter()
            win.actions[name].trigger()
            if view is not None:
                _settle(app, lambda: view.is_ready() and abs(view.label_pixel_size() - size_before) > 1e-6)
            app.processEvents()
            win.repaint()
            times.append((time.perf_counter() - start) * 1000)
    return times


def run(steps: int = 3, repeats: int = 3) -> list[dict]:
    config = tempfile.mkdtemp(prefix="gradviz-bench-zoom-")
    os.environ["XDG_CONFIG_HOME"] = config
    os.environ["GRADVIZ_CONFIG_DIR"] = config
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    chrome = _window(app, with_graph=False)
    _steps(app, chrome, 1, 1)  # warm up: first styling of each size
    chrome_ms = _steps(app, chrome, steps, repeats)
    chrome.actions["actionZoomIn"].trigger()  # a size not styled yet
    chrome._restyle_timer.stop()
    start = time.perf_counter()
    chrome._apply_theme()
    app.processEvents()
    chrome.repaint()
    restyle_ms = (time.perf_counter() - start) * 1000
    chrome.set_lecture_mode(False)
    chrome.hide()  # not close(): that asks whether to save the preset
    win = _window(app, with_graph=True)
    _steps(app, win, 1, 1)
    step_ms = _steps(app, win, steps, repeats)
    win.set_lecture_mode(False)
    win.hide()
    return [{
        "graph": "lenet, lecture mode 1600x1000",
        "steps": len(step_ms),
        "step_median_ms": round(statistics.median(step_ms), 1),
        "step_max_ms": round(max(step_ms), 1),
        "chrome_median_ms": round(statistics.median(chrome_ms), 1),
        "chrome_max_ms": round(max(chrome_ms), 1),
        "restyle_once_ms": round(restyle_ms, 1),
        "meets_150ms": max(step_ms) <= BUDGET_MS,
    }]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for row in run(args.steps, args.repeats):
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
