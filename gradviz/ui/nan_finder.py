"""Run → Find first NaN (``actionFindFirstNan``), also started by itself when a loss turns non-finite.

It asks the core (:meth:`TrainingSession.find_first_nonfinite`, which re-runs
one forward with a check on every op, then backward) off the GUI thread, then
shows the re-run's graph with the op where NaN/Inf started flagged red and
selected: the details panel gives its source line and the reason, the status
bar the one-line summary. No ML logic here.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence

from gradviz.ui.worker import run_task

ACTION_NAME = "actionFindFirstNan"
SHORTCUT = "Ctrl+Shift+N"


class NanFinder(QObject):
    """Owns the action and the automatic search; ``report`` is the latest result.

    Signals: ``reportReady(report)`` once a search finished and its graph is
    shown (or found nothing); ``failed(str)``.
    """

    reportReady = Signal(object)
    failed = Signal(str)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.report = None
        self._task = None
        self._searched_for = None  # the session's first_nonfinite the automatic search last ran for
        action = QAction("Find first &NaN", window)
        action.setObjectName(ACTION_NAME)
        action.setShortcut(QKeySequence(SHORTCUT))
        tip = "Re-run the forward pass with a check on every op and show where NaN/Inf starts"
        action.setToolTip(f"{tip} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})")
        action.setStatusTip(tip)
        action.triggered.connect(self.find)
        self.action = action
        window.actions[ACTION_NAME] = action  # listed in Help → Keyboard shortcuts
        window.addAction(action)
        if "run" in window.menus:
            window.menus["run"].addSeparator()
            window.menus["run"].addAction(action)
        training = getattr(window, "training_ui", None)
        if training is not None:
            training.controller.nonfiniteFound.connect(self._on_nonfinite)

    @property
    def busy(self) -> bool:
        return self._task is not None

    def _on_nonfinite(self, first, result) -> None:
        """Automatically when the loss (or the output) first turns non-finite: find where the forward went
        wrong. Once per appearance: the controller reports every later phase that still sees NaN."""
        if first is None or first == self._searched_for or getattr(first, "phase", None) not in ("forward", "loss"):
            return
        self._searched_for = first
        self.find()

    def find(self) -> bool:
        """Start the search on the window's session; False when there is none or one is running."""
        session = self.window.session
        if session is None:
            self.window.show_message("Find first NaN: there is no network to run")
            return False
        if self._task is not None:
            return False
        self.window.show_message("Looking for the first NaN/Inf: re-running the forward pass with checks…", 0)

        def work(task):
            return session.find_first_nonfinite()

        self._task = run_task(work, on_done=self._done, on_error=self._error)
        return True

    def _error(self, exc, details) -> None:
        self._task = None
        message = f"Find first NaN failed: {exc}"
        self.window.show_message(message)
        self.failed.emit(message)

    def _done(self, report) -> None:
        self._task = None
        self.report = report
        summary = report.summary().splitlines()[0]
        origin = report.first
        view = self.window.ensure_graph_view() if report.graph is not None else None
        if origin is None or view is None or origin.key is None or origin.key not in report.graph:
            self.window.show_message(summary, 0)
            self.reportReady.emit(report)
            return
        view.set_graph_with_problem(report.graph, origin.key)
        self.window.central.setCurrentWidget(view)
        self.window.show_message(summary, 0)
        self.reportReady.emit(report)


def install_nan_finder(window) -> NanFinder:
    """Add Run → Find first NaN to ``window`` (a MainWindow); returns what was added."""
    finder = NanFinder(window)
    window.nan_finder = finder
    return finder
