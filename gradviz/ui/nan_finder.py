"""Run → Find first NaN (``actionFindFirstNan``), and the same report shown by itself when a loss turns non-finite.

On request it asks the core (:meth:`TrainingSession.find_first_nonfinite`,
which re-runs one forward with a check on every op, then backward) off the
GUI thread. When a step's output or loss first turns non-finite the session
has already searched, inside that phase (``session.nonfinite_report``), and
the controller's ``nonfiniteFound`` brings it here. Either way the op where
NaN/Inf started is flagged red and selected (on the graph shown when it is the
same graph, else, on request, on the report's graph): the details panel gives
its source line and the reason, the status bar the summary. No ML logic here.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence

from gradviz.core.node_notes import ORIGIN_ATTR
from gradviz.ui.worker import run_task

ACTION_NAME = "actionFindFirstNan"
SHORTCUT = "Ctrl+Shift+N"


class NanFinder(QObject):
    """Owns the action and the automatic search; ``report`` is the latest result.

    Signals: ``reportReady(report)`` once a search's result is being shown (the
    origin is flagged on the graph shown when that is the same graph, else the
    report's graph is laid out and flagged when ready); ``failed(str)``.
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
        window.menus["run"].addSeparator()
        window.menus["run"].addAction(action)
        window.training_ui.controller.nonfiniteFound.connect(self._on_nonfinite)

    @property
    def busy(self) -> bool:
        return self._task is not None

    def _on_nonfinite(self, first, result) -> None:
        """A phase found NaN/Inf. When an output or loss first turned non-finite the
        session already searched where it started (``nonfinite_report``): show it,
        once, beside the training UI's own message."""
        session = self.window.session
        report = getattr(session, "nonfinite_report", None)
        if first is None or first == self._searched_for or report is None:
            return
        self._searched_for = first
        self.show_report(report, automatic=True)

    def find(self) -> bool:
        """Start the search on the window's session; False when there is none or something runs."""
        session = self.window.session
        if session is None:
            self.window.show_message("Find first NaN: there is no network to run")
            return False
        if self._task is not None or self.window.training_ui.controller.busy:
            self.window.show_message("Find first NaN: wait until the running phase has finished")
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
        self.show_report(report)

    def show_report(self, report, *, automatic: bool = False) -> None:
        """Point at the report's origin: on the graph shown when it is the same graph
        (same key, same op), else on the report's own graph; the summary in the status bar."""
        self.report = report
        summary = report.summary().splitlines()[0]
        if automatic:  # keep the training UI's message (which iteration, which phase) in front
            current = self.window.statusBar().currentMessage()
            summary = f"{current} — starts at {summary}" if current else summary
        self.window.show_message(summary, 0)
        origin = report.first
        if origin is not None and origin.key is not None and report.graph is not None and origin.key in report.graph:
            self._point_at(self.window.graph_view, report, origin.key, replace=not automatic)
        self.reportReady.emit(report)

    def _point_at(self, view, report, key, *, replace: bool) -> None:
        """Flag the origin on the graph shown when it is the same graph; else, on request
        (``replace``), show the report's graph. While stepping, the training UI owns the view."""
        shown = view.graph()
        mine = report.graph.nodes[key]
        if shown is not None and key in shown and shown.nodes[key].get("label") == mine.get("label"):
            if ORIGIN_ATTR in mine:  # the shown graph's node gets the diagnosis too
                shown.nodes[key][ORIGIN_ATTR] = mine[ORIGIN_ATTR]
            view.show_problem(key)
        elif replace:
            view.set_graph_with_problem(report.graph, key)
            self.window.central.setCurrentWidget(view)


def install_nan_finder(window) -> NanFinder:
    """Add Run → Find first NaN to ``window`` (a MainWindow); returns what was added."""
    finder = NanFinder(window)
    window.nan_finder = finder
    return finder
