"""Run long work (training phases, graph extraction, layout) off the GUI thread.

``run_task(fn, ...)`` calls ``fn(task)`` in a QThreadPool thread; ``fn`` may call
``task.report(fraction, message)`` for progress and check ``task.cancelled``.
Callbacks (``on_done``, ``on_error``, ``on_progress``) are delivered on the GUI
thread through queued signals, so they may touch widgets.
"""
from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

# Torch releases the GIL inside kernels, but two long tasks at once on a 2-core
# machine only make both slower; the pool serialises them.
_POOL = QThreadPool()
_POOL.setMaxThreadCount(1)


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object, str)  # exception, formatted traceback
    progress = Signal(float, str)


class _Relay(QObject):
    """Lives in the GUI thread: being a QObject receiver there makes Qt queue the
    worker's signals onto the GUI thread (a bare Python callable gives no such promise)."""

    def __init__(self, on_done, on_error, on_progress):
        super().__init__()
        self._on_done, self._on_error, self._on_progress = on_done, on_error, on_progress

    @Slot(object)
    def done(self, result):
        if self._on_done is not None:
            self._on_done(result)

    @Slot(object, str)
    def failed(self, exc, details):
        if self._on_error is not None:
            self._on_error(exc, details)

    @Slot(float, str)
    def progress(self, fraction, message):
        if self._on_progress is not None:
            self._on_progress(fraction, message)


class Task(QRunnable):
    """One unit of background work. Keep a reference while it runs (``run_task`` does)."""

    _alive: set["Task"] = set()  # keeps Python wrappers alive until finished

    def __init__(self, fn: Callable[["Task"], Any]):
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.signals = _Signals()
        self._cancel = threading.Event()
        self.finished = threading.Event()

    # called from the worker thread -------------------------------------------
    def report(self, fraction: float, message: str = "") -> None:
        self.signals.progress.emit(float(fraction), message)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:  # QRunnable entry point, worker thread
        try:
            result = self.fn(self)
        except BaseException as exc:  # report everything: the GUI decides what to show
            self.signals.failed.emit(exc, traceback.format_exc())
        else:
            self.signals.done.emit(result)
        finally:
            self.finished.set()
            Task._alive.discard(self)

    # called from the GUI thread ------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)


def run_task(
    fn: Callable[[Task], Any],
    *,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException, str], None] | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> Task:
    """Start ``fn(task)`` in the background and return the task."""
    task = Task(fn)
    task.relay = _Relay(on_done, on_error, on_progress)
    task.signals.done.connect(task.relay.done)
    task.signals.failed.connect(task.relay.failed)
    task.signals.progress.connect(task.relay.progress)
    Task._alive.add(task)
    _POOL.start(task)
    return task


def wait_for_idle(timeout_ms: int = 30_000) -> bool:
    """Block until every background task finished (tests, and closing the app)."""
    return _POOL.waitForDone(timeout_ms)
