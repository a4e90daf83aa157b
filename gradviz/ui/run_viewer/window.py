"""RunWindow: a window of its own for one run file, and File → Open Run… in the main window.

A run is watched beside the builder, not instead of it: each opened run gets
its own top-level window (the main window's child, so it closes with it), and
several runs can be compared side by side.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QWidget

from gradviz.ui.run_viewer.viewer import RunViewer
from gradviz.ui.shortcuts import shortcut_rows, show_shortcuts_dialog

if TYPE_CHECKING:  # the window, as extensions see it
    from gradviz.ui.host import WindowHost

__all__ = ["OPEN_RUN_SHORTCUT", "RUN_FILTER", "RunWindow", "choose_run_file", "install_open_run", "open_run_window"]

OPEN_RUN_SHORTCUT = "Ctrl+Shift+R"
LIVE_SHORTCUT = "Ctrl+L"
NAN_ORIGIN_SHORTCUT = "Ctrl+Shift+N"  # as Run → Find first NaN in the main window
DIAGNOSTICS_SHORTCUT = "Ctrl+Shift+D"
RUN_FILTER = "gradviz runs (*.gvrun);;All files (*)"


class RunWindow(QMainWindow):
    """objectName ``runWindow``; its viewer is ``viewer`` (:class:`RunViewer`).
    Actions: ``actionOpenRun``, ``actionRunLive``, ``actionRunGoToNan``, ``actionRunDiagnostics``,
    ``actionCloseRun``, ``actionRunShortcuts``. The Diagnostics dock (``runDiagnosticsDock``, hidden at
    first: the charts need the room) shows the gradient health of the iteration on screen, dead ReLU
    units included; a click on a flag selects its nodes in the run's graph."""

    def __init__(self, parent: QWidget | None = None, *, force_polling: bool = False):
        super().__init__(parent)
        self.setObjectName("runWindow")
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.viewer = RunViewer(self, force_polling=force_polling)
        self.setCentralWidget(self.viewer)
        self.statusBar().setObjectName("runStatusBar")
        self.actions: dict[str, QAction] = {}
        self._action("actionOpenRun", "Open &Run…", lambda: self.open_dialog(), OPEN_RUN_SHORTCUT,
                     "Open a run file written by gradviz.watch")
        self._action("actionRunLive", "&Live", lambda: self.viewer.go_live(), LIVE_SHORTCUT,
                     "Follow the newest iteration as the training writes it")
        self._action("actionRunGoToNan", "Go to first &NaN", lambda: self.viewer.show_nan_origin(), NAN_ORIGIN_SHORTCUT,
                     "Show the iteration where NaN/Inf started and select the op in its graph")
        self.actions["actionRunGoToNan"].setEnabled(False)
        self.viewer.nanOriginFound.connect(lambda _origin: self.actions["actionRunGoToNan"].setEnabled(True))
        self._action("actionCloseRun", "&Close", self.close, QKeySequence.StandardKey.Close, "Close this run")
        self._action("actionRunShortcuts", "&Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        self._add_diagnostics()
        file_menu = self.menuBar().addMenu("&File")
        file_menu.setObjectName("runMenuFile")
        file_menu.addActions([self.actions["actionOpenRun"], self.actions["actionCloseRun"]])
        view_menu = self.menuBar().addMenu("&View")
        view_menu.setObjectName("runMenuView")
        view_menu.addActions([self.actions["actionRunLive"], self.actions["actionRunGoToNan"],
                              self.actions["actionRunDiagnostics"]])
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.setObjectName("runMenuHelp")
        help_menu.addAction(self.actions["actionRunShortcuts"])
        self.viewer.opened.connect(self._on_opened)
        self.viewer.failed.connect(lambda message: self.statusBar().showMessage(message, 15000))
        self.viewer.iterationsAdded.connect(
            lambda n: self.statusBar().showMessage(f"{n} new iteration{'s' if n != 1 else ''} recorded", 3000))
        self.setWindowTitle("gradviz — run")
        self.resize(1500, 940)

    def _add_diagnostics(self) -> None:
        from gradviz.ui.diagnostics_view import DiagnosticsPanel, describe_selection, select_nodes

        panel = self.diagnostics_panel = DiagnosticsPanel()
        dock = self.diagnostics_dock = QDockWidget("Diagnostics", self)
        dock.setObjectName("runDiagnosticsDock")
        dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        dock.hide()
        action = dock.toggleViewAction()
        action.setObjectName("actionRunDiagnostics")
        action.setText("&Diagnostics")
        action.setShortcut(QKeySequence(DIAGNOSTICS_SHORTCUT))
        tip = "Gradient health of the iteration on screen: vanishing/exploding, dead ReLU units, missing gradients"
        action.setToolTip(f"{tip} ({DIAGNOSTICS_SHORTCUT})")
        action.setStatusTip(tip)
        self.addAction(action)
        self.actions["actionRunDiagnostics"] = action

        def show(_iteration) -> None:
            record = self.viewer.selected_record()
            if record is None:
                panel.show_message("No iteration recorded yet")
                return
            records = self.viewer.records
            position = self.viewer.timeline.position or 0
            panel.show_record(record, earlier=records[max(0, position - 5):position])

        def select(keys: list) -> None:
            view = self.viewer.graph_view
            shown = select_nodes(view, keys)
            if not shown:
                self.statusBar().showMessage("This flag names no node of the graph", 4000)
            else:
                present = [k for k in keys if k in view.graph()]
                self.statusBar().showMessage(describe_selection(view, present, shown), 6000)

        self.viewer.selectionChanged.connect(show)
        panel.nodesRequested.connect(select)
        # A third of the height: the graph and the charts above keep the rest.
        action.toggled.connect(lambda on: on and QTimer.singleShot(0, lambda: self.resizeDocks(
            [dock], [max(200, self.height() // 3)], Qt.Orientation.Vertical)))

    def _action(self, name, text, slot, shortcut, tip="") -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        action.setShortcut(QKeySequence(shortcut))
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip or text.replace('&', '')} ({keys})")
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        self.actions[name] = action
        return action

    def open(self, path: str | os.PathLike) -> None:
        self.viewer.open(path)

    def open_dialog(self) -> None:
        path = choose_run_file(self)
        if path:
            self.open(path)

    def shortcut_rows(self) -> list[tuple[str, str]]:
        return shortcut_rows(self.actions.values())

    def show_shortcuts(self) -> None:
        rows = [*self.shortcut_rows(), ("Slider: earlier / later iteration", "← →")]
        show_shortcuts_dialog(self, rows, "runShortcutsDialog")

    def _on_opened(self, path: str) -> None:
        self.actions["actionRunGoToNan"].setEnabled(self.viewer.nan_origin is not None)
        self.setWindowTitle(f"gradviz — {os.path.basename(path)}")
        self.statusBar().showMessage(f"Opened {path}: {len(self.viewer.timeline)} iterations", 5000)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.viewer.close_run()  # the read connection and the file watch end with the window
        super().closeEvent(event)


def choose_run_file(parent: QWidget | None) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, "Open a run recorded with gradviz.watch", "", RUN_FILTER)
    return path


def open_run_window(path: str | os.PathLike | None, parent: QWidget | None = None, **kwargs) -> RunWindow:
    """A new :class:`RunWindow`, shown, reading ``path`` (None: empty, for File → Open Run… later)."""
    window = RunWindow(parent, **kwargs)
    window.show()
    if path:
        window.open(path)
    return window


def install_open_run(window: "WindowHost") -> QAction:
    """Add File → Open Run… (Ctrl+Shift+R) to the main window: each run opens in a RunWindow."""
    action = QAction("Open &Run…", window)
    action.setObjectName("actionOpenRun")
    action.setShortcut(QKeySequence(OPEN_RUN_SHORTCUT))
    action.setToolTip(f"Open a run recorded with gradviz.watch, live while it is written ({OPEN_RUN_SHORTCUT})")
    action.setStatusTip("Replay a training run recorded with gradviz.watch; new iterations appear as they are written")

    def trigger() -> None:
        path = choose_run_file(window)
        if path:
            window.run_windows = [w for w in getattr(window, "run_windows", []) if _alive(w)]
            window.run_windows.append(open_run_window(path, window))

    action.triggered.connect(trigger)
    window.addAction(action)  # the shortcut works while the menu bar is hidden (full screen)
    window.actions["actionOpenRun"] = action  # listed in Help → Keyboard shortcuts
    file_menu = window.menus["file"]
    entries = file_menu.actions()
    anchor = next((a for a in entries if a.objectName() == "actionOpenModel"), None)
    if anchor is not None and entries.index(anchor) + 1 < len(entries):
        file_menu.insertAction(entries[entries.index(anchor) + 1], action)
    else:
        file_menu.addAction(action)
    return action


def _alive(widget) -> bool:
    try:
        from shiboken6 import isValid
    except ImportError:  # pragma: no cover - shiboken ships with PySide6
        return True
    return isValid(widget)
