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
