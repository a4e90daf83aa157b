"""The window ``gradviz.inspect`` opens, and how it waits.

:class:`InspectWindow` is a small main window of its own (objectName
``inspectWindow``): the graph view in the middle (node details, search,
export) and the Diagnostics panel docked below (``diagnosticsDock``). It is
not the builder's main window on purpose: inspecting a tensor from a
breakpoint must not touch the user's builder layout, recent files or recovery
file, and has no network to build.

:func:`show_inspection` decides how to wait (see :mod:`gradviz.inspector`):
a local event loop until the window closes (plain scripts, pdb), or return at
once and reuse one window when Qt's loop already runs beside an IPython prompt
(``%gui qt``).
"""
from __future__ import annotations

import os
import signal
import sys
import threading

from PySide6.QtCore import QEventLoop, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow

from gradviz.ui import theme
from gradviz.ui.diagnostics_view import DiagnosticsPanel, describe_selection, select_nodes

__all__ = ["InspectWindow", "current_window", "event_loop_integrated", "show_inspection"]

_reused: list["InspectWindow"] = []  # the one window non-blocking calls share


class InspectWindow(QMainWindow):
    """objectNames: ``inspectWindow``, ``graphView``, ``diagnosticsDock``, ``inspectNote``,
    ``actionCloseInspect`` (Ctrl+W / Ctrl+Q: close, and a blocking ``inspect`` returns)."""

    closed = Signal()

    def __init__(self):
        super().__init__()
        self.setObjectName("inspectWindow")
        self.setWindowIcon(theme.icon("app", "#2f6fde"))
        self.inspection = None
        from gradviz.ui.graph_view import GraphView  # ~0.6 s: only when a window is made

        self.graph_view = GraphView()
        self.graph_view.setObjectName("graphView")
        self.setCentralWidget(self.graph_view)
        self.diagnostics_panel = DiagnosticsPanel()
        dock = self.diagnostics_dock = QDockWidget("Diagnostics", self)
        dock.setObjectName("diagnosticsDock")
        dock.setWidget(self.diagnostics_panel)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.diagnostics_panel.nodesRequested.connect(self._select)
        self.note = QLabel()
        self.note.setObjectName("inspectNote")
        self.statusBar().addWidget(self.note, 1)
        close = QAction("Close", self)
        close.setObjectName("actionCloseInspect")
        close.setShortcuts([QKeySequence(QKeySequence.StandardKey.Close), QKeySequence("Ctrl+Q")])
        close.setToolTip("Close this window; gradviz.inspect returns (Ctrl+W)")
        close.triggered.connect(self.close)
        self.addAction(close)
        self.resize(1400, 900)

    def show_inspection(self, inspection) -> None:
        """Show ``inspection`` (a :class:`gradviz.inspector.Inspection`), replacing what was shown."""
        self.inspection = inspection
        self.setWindowTitle(f"gradviz — inspect: {inspection.title}")
        self.note.setText(inspection.note)
        self.note.setToolTip(inspection.note)
        self.graph_view.set_graph(inspection.graph)
        # After a backward (inspect(model, inputs), or backward=True): each node's gradient norm in its details.
        norms = getattr(inspection.record, "node_grad_norms", None) or {}
        self.graph_view.set_gradient_stats({k: {"norm": v} for k, v in norms.items() if v is not None})
        self.diagnostics_panel.show_record(inspection.record)
        self.resizeDocks([self.diagnostics_dock], [max(220, self.height() // 4)], Qt.Orientation.Vertical)

    def _select(self, keys: list) -> None:
        shown = select_nodes(self.graph_view, keys)
        if not shown:
            self.statusBar().showMessage("This flag names no node of the graph", 4000)
        else:
            present = [k for k in keys if k in self.graph_view.graph()]
            self.statusBar().showMessage(describe_selection(self.graph_view, present, shown), 6000)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().closeEvent(event)
        if event.isAccepted():
            self.closed.emit()


def current_window() -> InspectWindow | None:
    """The window non-blocking calls reuse, while it is open."""
    while _reused:
        window = _reused[-1]
        try:
            if window.isVisible():
                return window
        except RuntimeError:  # deleted on the C++ side
            pass
        _reused.pop()
    return None


def event_loop_integrated() -> bool:
    """True inside IPython/Jupyter after ``%gui qt``: Qt's event loop runs between prompts."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if get is not None else None
    loop = getattr(shell, "active_eventloop", None) if shell is not None else None
    return bool(loop) and "qt" in str(loop).lower() and QApplication.instance() is not None


def _application() -> tuple[QApplication, bool]:
    """The QApplication, and whether gradviz made it (then gradviz styles it)."""
    app = QApplication.instance()
    created = app is None
    if created:
        headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if headless and not os.environ.get("QT_QPA_PLATFORM"):
            # A window nobody can see would block the script for ever.
            from gradviz.inspector import InspectError

            raise InspectError("there is no screen to show the window on (no DISPLAY or WAYLAND_DISPLAY): use "
                               "gradviz.inspector.prepare(...) for the graph and diagnostics without a window, "
                               "or gradviz.export_graph(result.graph, 'graph.svg')")
        app = QApplication(["gradviz"])
    if not isinstance(app, QApplication):
        from gradviz.inspector import InspectError

        raise InspectError("a Qt QGuiApplication without widgets is running; gradviz.inspect needs a QApplication "
                           "(create QApplication instead of QGuiApplication)")
    return app, created


def show_inspection(inspection, *, block: bool | None = None) -> InspectWindow:
    """Show ``inspection``; with ``block`` (default: not in IPython with ``%gui qt``)
    return only once the window is closed (or the application quits)."""
    app, created = _application()
    if QThread.currentThread() != app.thread():
        from gradviz.inspector import InspectError

        raise InspectError("gradviz.inspect must be called on the thread that runs Qt (the main thread); "
                           "hand the tensor to that thread, or use gradviz.inspector.prepare(...) here")
    if block is None:
        block = not event_loop_integrated()
    window = None if block else current_window()
    if window is None:
        if created or theme.styled(app):
            theme.apply(app, theme.current_theme(), theme.current_scale())  # no-op when already in force
        window = InspectWindow()
        if not (created or theme.styled(app)):  # someone else's app (IPython's): style our window only
            window.setStyleSheet(theme.stylesheet(theme.current_theme(), theme.current_scale()))
        if not block:
            _reused.append(window)
    window.show_inspection(inspection)
    window.show()
    window.raise_()
    window.activateWindow()
    if block:
        _wait_until_closed(app, window)
    return window


def _wait_until_closed(app: QApplication, window: InspectWindow) -> None:
    """A local event loop until ``window`` closes, the application quits or Ctrl+C is pressed
    (Python only sees signals between Qt events: a timer lets it look every 200 ms)."""
    loop = QEventLoop()
    window.closed.connect(loop.quit)
    app.aboutToQuit.connect(loop.quit)
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(200)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    try:
        loop.exec()
    finally:
        wake.stop()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        app.aboutToQuit.disconnect(loop.quit)
        if window.isVisible():
            window.close()
        window.deleteLater()
