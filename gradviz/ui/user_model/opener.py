"""Open a model from a file as the main window's session.

:func:`open_model_in_window` is the one path File → Open Model takes (the
dialog calls it on Open; tests call it too): it runs
:func:`gradviz.core.user_model.open_user_model` in a worker thread (the
user's code, the first forward pass and the graph extraction never block the
GUI), then :class:`UserModelOpener` makes the result the window's session:

* the window's ``active_session`` (:class:`gradviz.ui.active_session.ActiveSession`)
  makes it the session the user is looking at: ``window.session`` returns it and
  ``window.sessionChanged`` announces it, so the step-through controls,
  animation and gradient panels work on it unchanged; the builder's rebuilds
  stay in the background until the model is closed;
* the Network dock shows the :class:`UserModelPanel` instead of layer
  cards (read-only, apart from loss, optimizer and learning rate); the layer
  palette, the builder's model summary and the builder's training toolbar are
  hidden, since they describe the built network;
* the graph view gets the graph; big graphs open with modules collapsed to a
  readable depth (the graph view decides the depth, in its worker).

Back to building: the panel's button, or anything that changes the builder's
network (New, Open, a preset, Undo).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal

from gradviz.core.user_model_loader import ModelLoadError, user_traceback
from gradviz.core.user_model import UserModelRequest, OpenedUserModel, open_user_model
from gradviz.ui.crash_view import show_crash
from gradviz.ui.errors import show_error, summary_of
from gradviz.ui.user_model.panel import UserModelPanel
from gradviz.ui.worker import Interrupted, LatestTask, Task, freeze_long_lived_objects, thaw_long_lived_objects

if TYPE_CHECKING:  # the window, as extensions see it
    from gradviz.ui.host import WindowHost

__all__ = ["UserModelOpener", "model_opener", "open_model_in_window"]

PANEL_WIDTH = 480  # px: the model panel's width in place of the (wider) layer builder


def model_opener(window: "WindowHost") -> "UserModelOpener":
    """The window's opener, made on first use (``install_open_model`` makes it at start-up)."""
    opener = getattr(window, "model_opener", None)
    if opener is None:
        opener = window.model_opener = UserModelOpener(window)
    return opener


def open_model_in_window(
    window,
    request: UserModelRequest,
    *,
    on_opened: Callable[[OpenedUserModel], None] | None = None,
    on_failed: Callable[[BaseException, str], None] | None = None,
) -> Task:
    """Open ``request`` in the background and show it in ``window``; see the module docstring.

    ``on_failed(exc, details)`` gets a ``ModelLoadError`` with the user's own
    traceback lines in ``details``; without it an error dialog shows them.
    """
    return model_opener(window).open(request, on_opened=on_opened, on_failed=on_failed)


class UserModelOpener(QObject):
    """Holds the model opened from a file (if any) and swaps it in and out of the window."""

    modelChanged = Signal(object)  # the OpenedUserModel, or None when back to the builder
    busyChanged = Signal(bool)

    def __init__(self, window: "WindowHost"):
        super().__init__(window)
        self.window = window
        self.opened: OpenedUserModel | None = None
        self.last_crash = None  # the latest forward that raised while opening (a ForwardCrash)
        self._job = LatestTask()  # opening a model: a newer request replaces the running one
        self._panel: UserModelPanel | None = None
        self._builder_widget = None
        self._builder_title = ""
        self._builder_width = 0
        self._hidden_bars: list = []
        self._spec_at_open: dict | None = None
        # The panel shows the session's step count, loss and settings: it follows the session's events.
        active = window.active_session
        for signal in (active.phaseDone, active.iterationRecorded, active.settingsChanged, active.resetDone):
            signal.connect(self._refresh_panel)
        window.document.changed.connect(self._on_document_changed)
        window.installEventFilter(self)
        window.add_default_layout_step(self._keep_builder_docks_aside)

    # -- state ---------------------------------------------------------------------------
    @property
    def session(self):
        """The opened model's ``TrainingSession``, or None while the builder's network is in use."""
        return self.opened.session if self.opened is not None else None

    @property
    def busy(self) -> bool:
        return self._job.busy

    @property
    def panel(self) -> UserModelPanel | None:
        return self._panel

    # -- opening -------------------------------------------------------------------------
    def open(self, request: UserModelRequest, *, on_opened=None, on_failed=None) -> Task:
        """Load, build the session and its graph in the worker; show the result on the GUI thread."""
        window = self.window

        def work(task):
            opened = open_user_model(request, progress=task.report)
            _preload_graph_view()
            return opened

        def done(opened):
            # On the GUI thread: a collection may free Qt objects, which must
            # never happen on the worker (see gradviz.ui.worker).
            # A big model is hundreds of thousands of long-lived objects, walked by every full
            # collection (0.2 to over 1 s for a 20k-node transformer): out of its way until closed.
            freeze_long_lived_objects()
            self._finish_task()
            self.show(opened)
            if on_opened is not None:
                on_opened(opened)

        def failed(exc, details):
            self._finish_task()
            if isinstance(exc, Interrupted):  # the user pressed Stop (gradviz.ui.user_code)
                exc = ModelLoadError(f"{request.display_name}: stopped — its code was interrupted while it ran",
                                     path=request.path, user_traceback=user_traceback(exc, request.path))
            window.show_message(f"Cannot open {request.display_name}: {summary_of(exc)}", 10_000)
            crash = getattr(exc, "crash", None)
            if crash is not None:  # the forward raised: show how far it got, the failed op marked
                self.show_crash(crash)
            if not isinstance(exc, ModelLoadError):  # a bug of gradviz, not of the user's model
                exc = ModelLoadError(f"unexpected {summary_of(exc)}", path=request.path, user_traceback=details)
            if on_failed is not None:
                on_failed(exc, exc.user_traceback)
            else:  # with a crash, the graph view behind it shows the failed op too
                show_error(window, "Cannot open the model", str(exc), exc.user_traceback)

        def progress(fraction, message):
            if message:
                window.show_message(f"Opening {request.display_name}: {message}…", 0)

        self._set_busy(True)
        window.show_message(f"Opening {request.display_name}…", 0)
        return self._job.start(work, on_done=done, on_error=failed, on_progress=progress,
                               user_code=f"opening {request.display_name}")

    def _finish_task(self) -> None:
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        progress = self.window.progress
        progress.setRange(0, 0)  # indeterminate: loading user code has no meaningful percentage
        progress.setVisible(busy)
        self.busyChanged.emit(busy)

    # -- showing ----------------------------------------------------------------------------
    def show(self, opened: OpenedUserModel) -> None:
        """Make ``opened`` the window's session and show its graph (GUI thread)."""
        window = self.window
        first = self.opened is None
        self.opened = opened
        if first:
            self._spec_at_open = window.document.spec.to_dict()
            self._swap_in_panel()
        self._panel.set_model(opened)
        window.active_session.set_opened(opened.session)
        self._announce_valid()
        window.setWindowTitle(f"gradviz — {opened.name} ({opened.loaded.path.name})")
        nodes = opened.graph.number_of_nodes()
        window.show_message(f"Opened {opened.name}: {nodes:,} autograd nodes — step through it with the Run menu", 8000)
        # The graph view and the session's listeners (training panels) each take
        # a while for a big model: give each its own turn of the event loop, so
        # the window repaints in between instead of freezing for the sum.
        QTimer.singleShot(0, lambda: self._if_current(opened, self.show_graph))
        QTimer.singleShot(0, lambda: self._if_current(opened, lambda: self.modelChanged.emit(opened)))

    def show_crash(self, crash) -> None:
        """A forward that raised (a :class:`~gradviz.core.partial_graph.ForwardCrash`): the
        graph up to the failed op, that op red and selected, its error in the details panel."""
        self.last_crash = crash
        show_crash(self.window, crash)

    def _if_current(self, opened: OpenedUserModel, step: Callable[[], None]) -> None:
        if self.opened is opened:  # not closed or replaced in the meantime
            step()

    def show_graph(self) -> None:
        """The graph of the latest finished step, else of one forward pass and the loss."""
        if self.opened is None:
            return
        latest = self.opened.session.history[-1] if len(self.opened.session.history) else None
        graph = latest.graph if latest is not None and latest.graph is not None else self.opened.graph
        view = self.window.graph_view
        view.set_graph(graph)  # lays out in its worker; big graphs open collapsed by module
        self.window.central.setCurrentWidget(view)

    def close(self) -> None:
        """Back to the builder's network and session."""
        if self.opened is None:
            return
        window = self.window
        self.opened = None
        thaw_long_lived_objects()  # the model's objects may become garbage now: let the collector see them again
        self._swap_out_panel()
        # The title and status bar describe the builder's network again.
        window.update_title()
        window.update_validity()
        if window.has_graph_view:
            window.graph_view.set_graph(None)  # the opened model's graph is not the builder's network
        window.active_session.set_opened(None)  # the builder's session again: every panel follows
        self.modelChanged.emit(None)

    # -- the window while a model is open ---------------------------------------------------------
    def _swap_in_panel(self) -> None:
        window = self.window
        if self._panel is None:
            self._panel = UserModelPanel()
            self._panel.closeRequested.connect(self.close)
            self._panel.showGraphRequested.connect(self.show_graph)
            self._panel.settingChosen.connect(self.apply_setting)
        # The Network dock keeps its place (and the saved layout stays valid): only its content changes.
        dock = window.builder_dock
        self._builder_widget, self._builder_title = dock.widget(), dock.windowTitle()
        self._builder_widget.hide()
        dock.setWidget(self._panel)
        self._panel.show()
        dock.setWindowTitle("Model")
        dock.show()
        # The builder is wide for its layer cards; the panel needs less, the graph more.
        self._builder_width = dock.width()
        window.resizeDocks([dock], [min(dock.width(), PANEL_WIDTH)], Qt.Orientation.Horizontal)
        # The palette adds layers, the summary and the training toolbar describe the
        # built network (its data source and device included): none applies here.
        bars = [window.palette_dock, window.summary_dock, window.training_toolbar]
        self._hidden_bars = [bar for bar in bars if bar.isVisible()]
        for bar in self._hidden_bars:
            bar.hide()

    def _swap_out_panel(self) -> None:
        window = self.window
        dock = window.builder_dock
        if self._builder_widget is not None:
            panel, self._panel = self._panel, None
            panel.hide()
            dock.setWidget(self._builder_widget)
            panel.deleteLater()  # a fresh one for the next model
            window.resizeDocks([dock], [self._builder_width], Qt.Orientation.Horizontal)
            self._builder_widget.show()
            dock.setWindowTitle(self._builder_title)
            self._builder_widget = None
        self._show_hidden_bars()

    def _keep_builder_docks_aside(self) -> None:
        """View → Reset layout while a model is open: the palette and the summary stay
        aside (the default layout shows them; they describe the builder's network),
        and come back with the builder."""
        if self._panel is None:
            return
        for bar in (self.window.palette_dock, self.window.summary_dock):
            if not bar.isHidden():
                bar.hide()
                if bar not in self._hidden_bars:
                    self._hidden_bars.append(bar)

    def _show_hidden_bars(self) -> None:
        for bar in self._hidden_bars:
            bar.show()
        self._hidden_bars = []

    def apply_setting(self, key: str, value) -> None:
        """Loss, optimizer or learning rate chosen in the panel: from the opened model's next step on."""
        if self.opened is None or value is None:
            return
        session = self.opened.session
        setters = {"loss": session.set_loss, "optimizer": session.set_optimizer, "lr": session.set_lr}
        try:
            setters[key](value)
        except (KeyError, ValueError) as exc:
            self.window.show_message(f"{self.opened.name}: {exc}")
            return
        self.window.show_message(f"{self.opened.name}: {key} set to {value:g}" if key == "lr" else
                                 f"{self.opened.name}: {key} set to {value}; applies from the next step")

    def _announce_valid(self) -> None:
        """The builder's validity gates the training actions: an opened model is always runnable."""
        window = self.window
        label = window.network_status
        if self.opened is not None:
            counts = sum(p.numel() for p in self.opened.session.model.parameters())
            label.setText(f"✓ {self.opened.name} (from a file) · {counts:,} parameters · "
                          f"loss on {self.opened.session.loss_output} {self.opened.session.output_shape}")
            label.setProperty("ok", "true")
            label.style().unpolish(label)
            label.style().polish(label)
        window.networkValidityChanged.emit(True, "")

    def _on_document_changed(self) -> None:
        if self.opened is None:
            return
        if self.window.document.spec.to_dict() != self._spec_at_open:
            self.close()  # New, Open, a preset, Undo: the user is building again
        else:
            self._announce_valid()  # the window just announced the builder's validity

    def _refresh_panel(self, *_event) -> None:
        """The opened model's session ran a phase, was reset or changed a setting (the
        active session only relays events of the active one, i.e. of ours while open)."""
        if self.opened is not None and self._panel is not None:
            self._panel.refresh()

    def eventFilter(self, watched, event):  # noqa: N802 - Qt override
        # The window saves its dock layout while closing: save the builder's,
        # not the one with the palette and summary hidden for an opened model.
        if watched is self.window and event.type() == QEvent.Type.Close and self._hidden_bars:
            hidden = list(self._hidden_bars)
            self._show_hidden_bars()
            QTimer.singleShot(0, lambda: self._rehide_if_still_open(hidden))
        return False

    def _rehide_if_still_open(self, bars: list) -> None:
        if self.opened is not None and self.window.isVisible():  # the close was cancelled
            for bar in bars:
                bar.hide()
            self._hidden_bars = bars


def _preload_graph_view() -> None:
    """Import the graph view's modules in the worker: the GUI thread then only builds the widget."""
    import importlib

    try:
        importlib.import_module("gradviz.ui.graph_view")
    except ImportError:  # a version without the graph view: the window says so
        pass
