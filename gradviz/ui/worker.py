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

Users' code (their model's ``__init__`` and ``forward``) may never return.
``run_task(..., user_code=True)`` therefore runs it on a thread of its own, a
daemon thread outside the pool: nothing else queues behind it, ``interrupt()``
can stop it, and a stuck one cannot keep the process alive after the window
closed (``finish_or_abandon``).
"""
from __future__ import annotations

import ctypes
import gc
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

from gradviz.core.interrupts import UserCodeInterrupted

# Torch releases the GIL inside kernels, but two long tasks at once on a 2-core
# machine only make both slower; the pool serialises them.
_POOL = QThreadPool()
_POOL.setMaxThreadCount(1)


class Interrupted(UserCodeInterrupted):
    """Raised inside a user-code task's thread by ``Task.interrupt()`` (the Stop button).

    A BaseException, like KeyboardInterrupt, so that the user's own
    ``except Exception:`` cannot swallow it; gradviz's own catch-alls around user
    code let it through (:func:`gradviz.core.interrupts.is_stop_request`).
    """


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
        self.user_code = False
        self.description = ""  # what user code runs, for the stop offer
        self.thread_id: int | None = None  # set while running, for interrupt()
        self.started_at: float | None = None
        self.interrupt_requested = False
        self._interrupt_lock = threading.Lock()

    # called from the worker thread -------------------------------------------
    def report(self, fraction: float, message: str = "") -> None:
        self.signals.progress.emit(float(fraction), message)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:  # QRunnable entry point, worker thread
        self.thread_id = threading.get_ident()
        self.started_at = time.monotonic()
        outcome = None
        try:
            try:
                outcome = (True, self.fn(self), "")
            except BaseException as exc:  # report everything: the GUI decides what to show
                outcome = (False, exc, traceback.format_exc())
            finally:
                self._leave()
        except Interrupted as exc:  # Stop arrived between fn's end and _leave
            outcome = outcome or (False, exc, "")
        try:
            ok, value, details = outcome
            if ok:
                self.signals.done.emit(value)
            else:
                self.signals.failed.emit(value, details)
        finally:
            self.finished.set()
            self.signals.released.emit()

    def _leave(self) -> None:
        """The task's own code is over: no interrupt may arrive after this."""
        with self._interrupt_lock:
            if self.thread_id is not None and self.interrupt_requested:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), None)  # drop a pending one
            self.thread_id = None

    # called from the GUI thread ------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    @property
    def running(self) -> bool:
        return self.started_at is not None and not self.finished.is_set()

    def interrupt(self) -> bool:
        """Raise ``Interrupted`` in the task's thread (user-code tasks only).

        Python delivers it at the thread's next bytecode: a pure-Python loop
        stops at once, code stuck inside C (a sleep, a huge kernel, a lock)
        only when that call returns, maybe never. Returns False when there is
        nothing to interrupt.
        """
        self.cancel()
        with self._interrupt_lock:
            thread_id = self.thread_id
            if not self.user_code or thread_id is None:
                return False
            self.interrupt_requested = True
            done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(Interrupted))
        return done == 1


def run_task(
    fn: Callable[[Task], Any],
    *,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException, str], None] | None = None,
    on_progress: Callable[[float, str], None] | None = None,
    user_code: str | None = None,
) -> Task:
    """Start ``fn(task)`` in the background and return the task.

    ``user_code="opening net.py"`` says ``fn`` runs code users wrote, which may
    never return: it gets a daemon thread of its own (see the module
    docstring), and ``user_code_events.started`` announces it so the window
    can offer to stop it.
    """
    collect_garbage_on_gui_thread()
    task = Task(fn)
    task.user_code = bool(user_code)
    task.description = user_code or ""
    task.relay = _Relay(on_done, on_error, on_progress)
    task.relay.task = task
    task.signals.released.connect(task.relay.release)
    task.signals.done.connect(task.relay.done)
    task.signals.failed.connect(task.relay.failed)
    task.signals.progress.connect(task.relay.progress)
    Task._alive.add(task)
    if user_code:
        _user_tasks.add(task)
        threading.Thread(target=_run_user_task, args=(task,), name="gradviz-user-code", daemon=True).start()
        user_code_events.started.emit(task)
    else:
        _POOL.start(task)
    return task


class LatestTask:
    """A slot for background work where only the newest request counts ("latest wins").

    The user can ask again before the last answer arrives (open another file, press F5
    twice, check another model). Each :meth:`start` makes the new task the current one;
    the callbacks of a task that is no longer current are dropped, so an old answer
    never overwrites a newer one. ``busy`` is true while the current task runs.
    """

    def __init__(self) -> None:
        self._task: Task | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def task(self) -> Task | None:
        return self._task

    def start(
        self,
        fn: Callable[[Task], Any],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException, str], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        user_code: str | None = None,
        cancel_previous: bool = True,
    ) -> Task:
        """Run ``fn`` like :func:`run_task`; only its callbacks count from now on."""
        if cancel_previous and self._task is not None:
            self._task.cancel()  # user code cannot be interrupted: its result is ignored instead
        started: list[Task] = []  # the callbacks arrive queued on the GUI thread, after start returns

        def current() -> bool:
            return bool(started) and started[0] is self._task

        def done(result):
            if current():
                self._task = None
                if on_done is not None:
                    on_done(result)

        def failed(exc, details):
            if current():
                self._task = None
                if on_error is not None:
                    on_error(exc, details)

        def progress(fraction, message):
            if current() and on_progress is not None:
                on_progress(fraction, message)

        task = run_task(fn, on_done=done, on_error=failed, on_progress=progress, user_code=user_code)
        started.append(task)
        self._task = task
        return task

    def forget(self) -> None:
        """Ignore whatever is running now (its answer is no longer wanted), without cancelling it."""
        self._task = None

    def cancel(self) -> None:
        """Cancel the current task (if it can be) and ignore its answer."""
        if self._task is not None:
            self._task.cancel()
        self._task = None


class UserCodeEvents(QObject):
    """``started(task)`` for every user-code task (the window's stop offer listens)."""

    started = Signal(object)


user_code_events = UserCodeEvents()


_user_tasks: set[Task] = set()  # user-code tasks whose thread may still run


def _run_user_task(task: Task) -> None:
    try:
        task.run()
    except Interrupted:  # it arrived after the task's own handler: nothing left to report
        pass
    finally:
        _user_tasks.discard(task)


def running_user_code() -> list[Task]:
    """User-code tasks whose thread has not ended (stopped ones included until they really stop)."""
    return [task for task in list(_user_tasks) if not task.finished.is_set()]


def wait_for_idle(timeout_ms: int = 30_000) -> bool:
    """Block until every background task finished (tests, and closing the app)."""
    deadline = time.monotonic() + timeout_ms / 1000
    for task in running_user_code():
        if not task.wait(max(0.0, deadline - time.monotonic())):
            return False
    return _POOL.waitForDone(max(0, round((deadline - time.monotonic()) * 1000)))


def finish_or_abandon(grace_s: float = 2.0) -> bool:
    """After the window closed: cancel every task, interrupt users' code, and wait up to ``grace_s``.

    False when something is still running (users' code stuck in C, a pool task
    stuck in users' ``forward``): the caller then ends the process with
    ``os._exit``, since neither a daemon thread nor the pool's threads can be
    killed and the pool would wait for them forever at exit.
    """
    for task in list(Task._alive):
        task.cancel()
        task.interrupt()
    return wait_for_idle(round(grace_s * 1000))


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
    global _refreeze_after_full_collection
    counts, thresholds = gc.get_count(), gc.get_threshold()
    if counts[0] <= thresholds[0]:
        return
    generation = 2 if counts[2] > thresholds[2] else 1 if counts[1] > thresholds[1] else 0
    gc.collect(generation)
    if generation == 2 and _refreeze_after_full_collection:
        # What a full collection left is alive: exempt it again (see thaw_long_lived_objects).
        _refreeze_after_full_collection = False
        gc.freeze()


# -- long-lived objects out of the collector's way ----------------------------------------
#
# A full collection walks every tracked Python object while holding the GIL.
# Once torch is imported that is about 240,000 objects (its modules, Qt's, the
# window's): 125-160 ms with LeNet open, measured here, a visible halt of the
# window (and of a Play or Run) each time one comes due. Objects that live as
# long as the app need no collecting: gc.freeze() moves everything alive into
# a generation no collection walks. Anything frozen that later becomes cyclic
# garbage stays until a thaw, so only moments when little is about to die
# freeze: the end of the start-up's warm-up, a model just opened.

_refreeze_after_full_collection = False


def freeze_long_lived_objects(full: bool = False) -> None:
    """Collect (all generations if ``full``, else the young ones: cheap) and freeze
    what is left, so later full collections skip it. Call on the GUI thread."""
    gc.collect(2 if full else 1)
    gc.freeze()


def thaw_long_lived_objects() -> None:
    """Let the collector see every frozen object again (a model was closed: its
    objects may be garbage now). The timer's next full collection frees them and
    freezes what survives it, start-up's objects included."""
    global _refreeze_after_full_collection
    gc.unfreeze()
    _refreeze_after_full_collection = True
