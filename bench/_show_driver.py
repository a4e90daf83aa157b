"""Start a window, print when it is first painted, and exit at once (used by bench/startup.py).

    python bench/_show_driver.py gradviz   # gradviz.app.main(), the app as main.py starts it
    python bench/_show_driver.py bare      # import torch + PySide6, show an empty QMainWindow
    python bench/_show_driver.py qt        # PySide6 only, an empty QMainWindow (the floor)

Prints ``SHOWN <time.perf_counter()>`` once the first top-level QMainWindow
has been painted and the event loop is back (a zero timer queued by that
paint), then leaves with ``os._exit`` so teardown is not timed.
perf_counter is CLOCK_MONOTONIC on Linux, shared with the parent, which
subtracts its own reading taken just before it spawned this process.

This only imports PySide6 before the app does, and installs an
application-wide event filter: it needs no hook in gradviz.app. If the app
grows ``GRADVIZ_BENCH_EXIT_ON_SHOW`` support, startup.py runs ``main.py``
directly instead.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow


def _report() -> None:
    print(f"SHOWN {time.perf_counter():.6f}", flush=True)
    os._exit(0)


class _FirstPaint(QObject):
    def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
        if (
            event.type() == QEvent.Type.Paint
            and isinstance(obj, QMainWindow)
            and obj.isWindow()
        ):
            # Queued, so it runs after this paint (and its children's) returned.
            QTimer.singleShot(0, _report)
            QApplication.instance().removeEventFilter(self)
        return False


def main(kind: str) -> None:
    # main() reuses an existing QApplication (QApplication.instance() or ...).
    app = QApplication(["main.py"])
    probe = _FirstPaint()
    app.installEventFilter(probe)
    if kind == "gradviz":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from gradviz.app import main as app_main

        app_main(["main.py"])
    else:
        if kind == "bare":
            import torch  # noqa: F401  (what a torch app pays before its window)
        window = QMainWindow()
        window.resize(1200, 800)
        window.show()
        app.exec()
    # Only reached if the window was never painted.
    print("NOT SHOWN", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gradviz")
