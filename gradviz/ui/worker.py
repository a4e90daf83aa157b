"""Run long work (training phases, graph extraction, layout) off the GUI thread.

``run_task(fn, ...)`` calls ``fn(task)`` in a QThreadPool thread; ``fn`` may call
``task.report(fraction, message)`` for progress and check ``task.cancelled``.
Callbacks (``on_done``, ``on_error``, ``on_progress``) are delivered on the GUI
thread through queued signals, so they may touch widgets.

Qt objects must be destroyed on the thread they live on. Python's cyclic
garbage collector runs on whichever thread happens to allocate, so a worker
thread could free a cycle holding an old window and deadlock Qt. While tasks
are used, automatic collection is therefore replaced by a timer that collects
on the GUI thread (the same remedy as pyqtgraph's GarbageCollector), and each
finished task is released on the GUI thread too.
"""
from __future__ import annotations

import gc
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

# Torch releases the GIL inside kernels, but two long tasks at once on a 2-core
# machine only make both slower; the pool serialises them.
_POOL = QThreadPool()
_POOL.setMaxThreadCount(1)


class _Signals(QObject):
    released = Signal()
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

    @Slot()
    def release(self):
        # The last references to the task (its closure may hold widgets) drop here, on the GUI thread.
        Task._alive.discard(self.task)
        self.task = None


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
            self.signals.released.emit()

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
    collect_garbage_on_gui_thread()
    task = Task(fn)
    task.relay = _Relay(on_done, on_error, on_progress)
    task.relay.task = task
    task.signals.released.connect(task.relay.release)
    task.signals.done.connect(task.relay.done)
    task.signals.failed.connect(task.relay.failed)
    task.signals.progress.connect(task.relay.progress)
    Task._alive.add(task)
    _POOL.start(task)
    return task


def wait_for_idle(timeout_ms: int = 30_000) -> bool:
    """Block until every background task finished (tests, and closing the app)."""
    return _POOL.waitForDone(timeout_ms)


_gc_timer: QTimer | None = None


def collect_garbage_on_gui_thread(interval_ms: int = 200) -> None:
    """Run Python's cyclic collector only on the GUI thread, from a timer (idempotent).

    Call from the GUI thread. Generations are collected when their counts pass
    the interpreter's own thresholds, so the cadence matches automatic collection.
    """
    global _gc_timer
    if _gc_timer is not None:
        return
    gc.disable()
    _gc_timer = QTimer()
    _gc_timer.setObjectName("guiThreadGarbageCollector")
    _gc_timer.timeout.connect(_collect_due_generations)
    _gc_timer.start(interval_ms)


def _collect_due_generations() -> None:
    counts, thresholds = gc.get_count(), gc.get_threshold()
    if counts[0] <= thresholds[0]:
        return
    generation = 2 if counts[2] > thresholds[2] else 1 if counts[1] > thresholds[1] else 0
    gc.collect(generation)
