"""Background tasks deliver results, errors and progress on the GUI thread."""
import threading

from gradviz.ui.worker import run_task, wait_for_idle


def test_result_error_and_progress_arrive_on_gui_thread(qtbot):
    gui = threading.get_ident()
    seen = {}

    def work(task):
        task.report(0.5, "half")
        seen["worker"] = threading.get_ident()
        return 42

    def done(result):
        seen["done"] = (result, threading.get_ident())

    def progress(fraction, message):
        seen["progress"] = (fraction, message, threading.get_ident())

    run_task(work, on_done=done, on_progress=progress)
    qtbot.waitUntil(lambda: "done" in seen, timeout=5000)
    assert seen["done"] == (42, gui)
    assert seen["progress"] == (0.5, "half", gui)
    assert seen["worker"] != gui

    errors = []
    run_task(lambda task: 1 / 0, on_error=lambda exc, details: errors.append((type(exc), "ZeroDivisionError" in details)))
    qtbot.waitUntil(lambda: bool(errors), timeout=5000)
    assert errors == [(ZeroDivisionError, True)]
    assert wait_for_idle(5000)


def test_cancel_flag_reaches_worker(qtbot):
    results = []

    def work(task):
        while not task.cancelled:
            pass
        return "stopped"

    task = run_task(work, on_done=results.append)
    task.cancel()
    qtbot.waitUntil(lambda: results == ["stopped"], timeout=5000)


def test_tasks_are_released_and_garbage_is_collected_on_the_gui_thread(qtbot):
    import gc

    from gradviz.ui import worker

    results = []
    task = run_task(lambda task: "ok", on_done=results.append)
    qtbot.waitUntil(lambda: results == ["ok"], timeout=5000)
    qtbot.waitUntil(lambda: task not in worker.Task._alive, timeout=5000)
    # automatic collection is off; the GUI-thread timer collects instead
    assert not gc.isenabled()
    assert worker._gc_timer is not None and worker._gc_timer.isActive()


def test_latest_task_drops_the_answers_of_replaced_tasks(qtbot):
    """Two requests in a row: only the second one's answer, error or progress reaches the
    caller, though the first one's answer arrives too (the pool runs them in turn)."""
    from gradviz.ui.worker import LatestTask

    job = LatestTask()
    release_first = threading.Event()
    answers, progress = [], []

    def first(task):
        task.report(0.1, "first")
        release_first.wait(10)
        return "first"

    job.start(first, on_done=answers.append, on_progress=lambda f, m: progress.append(m), cancel_previous=False)
    second = job.start(lambda task: "second", on_done=answers.append, on_progress=lambda f, m: progress.append(m))
    assert job.task is second and job.busy
    release_first.set()
    qtbot.waitUntil(lambda: not job.busy, timeout=5000)
    assert wait_for_idle(5000)
    assert answers == ["second"] and "first" not in progress

    errors = []
    job.start(lambda task: 1 / 0, on_error=lambda exc, details: errors.append(type(exc)))
    job.forget()  # the user moved on: this failure is nobody's business any more
    assert wait_for_idle(5000)
    job.start(lambda task: "third", on_done=answers.append)
    qtbot.waitUntil(lambda: answers[-1] == "third", timeout=5000)
    assert errors == []


class _Cycle:
    """Garbage only the cyclic collector frees (it refers to itself)."""

    def __init__(self):
        self.me = self


def test_frozen_objects_are_thawed_on_close_and_refrozen_after_the_next_full_collection(qtbot):
    """Long-lived objects are frozen out of full collections; a thaw (a model was closed)
    lets the next full collection free what died while frozen, then freezes the survivors."""
    import gc
    import weakref

    from gradviz.ui import worker

    run_task(lambda task: None)  # the GUI-thread collector runs (automatic collection off)
    assert wait_for_idle(5000)
    thresholds = gc.get_threshold()
    try:
        died_frozen = _Cycle()
        gone = weakref.ref(died_frozen)
        worker.freeze_long_lived_objects(full=True)
        assert gc.get_freeze_count() > 0
        del died_frozen
        gc.collect()
        assert gone() is not None, "a frozen object is never collected, even when it is garbage"

        worker.thaw_long_lived_objects()
        assert gc.get_freeze_count() == 0
        survivor = _Cycle()
        gc.set_threshold(1, 1, 1)
        gc.collect(1)
        gc.collect(1)  # two young collections since the last full one: a full one is due
        _filler = [[] for _ in range(10)]  # and enough new objects for the timer to act
        worker._collect_due_generations()
        assert gone() is None, "the thaw's full collection frees what died while frozen"
        frozen = gc.get_freeze_count()
        assert frozen > 0 and not any(o is survivor for o in gc.get_objects()), "what survives it is frozen again"
        assert not worker._refreeze_after_full_collection
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        worker._refreeze_after_full_collection = False
