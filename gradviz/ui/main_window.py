"""The main window: builder docks around a central graph area, menus, toolbars,
status bar, lecture mode, and the wiring between them.

The builder itself lives in ``gradviz.ui.builder``; this module only assembles
it. Others extend the window through ``add_panel`` (docks), ``menus`` /
``toolbar`` (append actions), ``requires_valid_network`` (actions that must be
disabled while the network is broken) and the ``sessionChanged`` signal.
``active_session`` (:class:`gradviz.ui.active_session.ActiveSession`) owns the
session on screen and relays its events; views listen to it.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gradviz.ui import settings, theme
from gradviz.ui.active_session import ActiveSession
from gradviz.ui.builder.controls import TrainingControls
from gradviz.ui.builder.document import NetworkDocument
from gradviz.ui.builder.palette import LayerPalette
from gradviz.ui.builder.panel import BuilderPanel
from gradviz.ui.builder.project_files import ProjectFiles
from gradviz.ui.builder.prompts import Prompts
from gradviz.ui.builder.recovery import Autosaver, offer_recovery
from gradviz.ui.builder.session_link import SessionLink
from gradviz.ui.errors import show_error, summary_of
from gradviz.ui.presentation import RESTYLE_AFTER_ZOOM_MS, Area, _Presentation
from gradviz.ui.summary import SummaryView
from gradviz.ui.window_actions import _WindowActions
from gradviz.ui.worker import LatestTask


class DockTitleBar(QWidget):
    """A dock's title bar as ordinary widgets, so it follows font scaling (Qt's own
    title bar keeps the font it was first drawn with) and the theme's stylesheet.
    Drag and double-click still go to the dock: the label ignores mouse events."""

    def __init__(self, dock: QDockWidget):
        super().__init__(dock)
        self.setObjectName(f"{dock.objectName()}Title")
        self.setProperty("role", "dockTitle")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        label = QLabel(dock.windowTitle())
        label.setProperty("role", "dockTitleText")
        dock.windowTitleChanged.connect(label.setText)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 3, 4, 3)
        layout.addWidget(label, 1)
        for icon, tip, slot in (
            ("float", "Float / dock this panel", lambda: dock.setFloating(not dock.isFloating())),
            ("close", "Hide this panel (View → Panels brings it back)", dock.close),
        ):
            button = QToolButton()
            button.setProperty("role", "cardButton")
            button.setAutoRaise(True)
            button.setToolTip(tip)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            theme.bind_icon(button, icon)
            if button.icon().isNull():
                button.setText("⧉" if icon == "float" else "✕")
            button.clicked.connect(slot)
            layout.addWidget(button)


class MainWindow(_WindowActions, _Presentation, QMainWindow):
    sessionChanged = Signal(object)  # the core TrainingSession, or None (= active_session.sessionChanged)
    networkValidityChanged = Signal(bool, str)  # valid, reason when not
    graphViewCreated = Signal(object)  # the central GraphView, once it is made (lazily)
    stageModeChanged = Signal(bool)  # lecture mode on a short screen, the builder aside (see stage_mode)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowNestedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )
        self.setCorner(Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea)
        self.setWindowIcon(theme.icon("app", "#2f6fde"))
        self.theme_name = settings.value(settings.THEME, theme.DEFAULT_THEME)
        self.font_scale = theme.clamp_scale(settings.value(settings.FONT_SCALE, 1.0))
        self._apply_theme()

        self.prompts = Prompts(self)
        self.document = NetworkDocument(self)
        self.files = ProjectFiles(self.document, self.prompts, self)
        self.autosaver = Autosaver(self.files, parent=self)
        self.session_link = SessionLink(self.document, self)
        self.active_session = ActiveSession(self.session_link, self)
        self.training = TrainingControls(self.document, self)
        self.actions: dict[str, QAction] = {}
        self.menus: dict[str, QMenu] = {}
        self.panels: dict[str, QDockWidget] = {}
        self._graph_view = None  # made on first use: see the graph_view property
        self._graph_job = LatestTask()  # Show graph (F5): forward + loss in the background
        self._run_actions: list[QAction] = []
        self._lecture_saved: dict | None = None
        self._stage_mode = False  # see stage_mode
        self._lecture_hidden: list[QDockWidget] = []
        self._default_layout_steps: list = []  # extensions' parts of the default layout
        self._lecture_layout_steps: list = []  # extensions' parts of the lecture layout
        self._restyle_timer = QTimer(self)
        self._restyle_timer.setSingleShot(True)
        self._restyle_timer.setInterval(RESTYLE_AFTER_ZOOM_MS)
        self._restyle_timer.timeout.connect(self._apply_theme)

        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbars()
        self._build_status_bar()

        self.document.changed.connect(self._on_document_changed)
        self.builder_dock.visibilityChanged.connect(lambda _visible: self._sync_show_builder())
        self.document.undo_stack.cleanChanged.connect(self.update_title)
        self.files.pathChanged.connect(self.update_title)
        self.files.message.connect(self.show_message)
        self.stack.message.connect(self.show_message)
        self.stack.selectionChanged.connect(self._update_layer_actions)
        self.palette.kindActivated.connect(lambda kind: self.stack.add_layer(kind))
        self.active_session.sessionChanged.connect(self.sessionChanged)
        self.active_session.graphInvalidated.connect(self._mark_graph_stale)

        # Extensions over the window's host interface (gradviz.ui.host.WindowHost), in
        # order: File → Open Model (a model from a file as the session), File → Open Run
        # (a gradviz.watch run, live), step-through training, and what follows training:
        # Run → Find first NaN and the Diagnostics dock.
        from gradviz.ui.diagnostics_view import install_diagnostics
        from gradviz.ui.nan_finder import install_nan_finder
        from gradviz.ui.run_viewer import install_open_run
        from gradviz.ui.training import install_training_ui
        from gradviz.ui.user_model.dialog import install_open_model

        install_open_model(self)
        install_open_run(self)
        install_training_ui(self)  # sets self.training_ui
        install_nan_finder(self)  # sets self.nan_finder
        install_diagnostics(self)  # sets self.diagnostics_panel

        self._restore_layout()
        self._sync_show_builder()
        self._on_document_changed()
        self._update_layer_actions()

    # -- public API -------------------------------------------------------------------------
    @property
    def session(self):
        """The core ``TrainingSession`` the user is looking at (``active_session``):
        while a model opened from a file is shown (File → Open Model), its session;
        else the one for the current network and settings, or None while there is
        no valid network (``session_link.problem`` says why)."""
        return self.active_session.session

    @property
    def stack(self):
        return self.builder.stack

    @property
    def spec(self):
        return self.document.spec

    def add_panel(self, widget: QWidget, title: str, object_name: str, area: Area = Area.RightDockWidgetArea,
                  *, hide_in_lecture: bool = False) -> QDockWidget:
        """Add a dockable panel, listed in View → Panels, its place remembered between runs."""
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        dock.setTitleBarWidget(DockTitleBar(dock))
        self.addDockWidget(area, dock)
        self.panels[object_name] = dock
        if hide_in_lecture:
            self._lecture_hidden.append(dock)
        if "panels" in self.menus:
            self.menus["panels"].addAction(dock.toggleViewAction())
        self.restoreDockWidget(dock)  # a saved layout may already know where it goes
        return dock

    def add_default_layout_step(self, step) -> None:
        """Run ``step()`` whenever the default layout is applied (a first start with no
        remembered layout, View → Reset layout), after the window has placed its own
        docks: it puts an extension's panels (``add_panel``) in their default places."""
        self._default_layout_steps.append(step)

    def requires_valid_network(self, action: QAction) -> QAction:
        """Keep ``action`` disabled while the network is empty or invalid."""
        self._run_actions.append(action)
        action.setEnabled(self.document.analysis.valid and bool(self.document.spec.layers))
        return action

    def show_message(self, text: str, timeout_ms: int = 6000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def open_project(self, path) -> bool:
        return self.files.open_project(path)

    def save_project_as(self, path) -> bool:
        return self.files.save_project_as(path)

    def export_python(self, path) -> bool:
        return self.files.export_python(path)

    def load_preset(self, name: str) -> None:
        self.builder.header.load_preset(name)

    def start(self) -> None:
        """After the window is on screen: offer recovered work, then warm up torch
        and list devices in the background (the window never waits for torch)."""
        self.offer_recovery()
        self.warm_up()

    # -- construction -----------------------------------------------------------------------
    def _build_central(self) -> None:
        self.central = QStackedWidget()
        self.central.setObjectName("centralArea")
        placeholder = QWidget()
        placeholder.setObjectName("centralPlaceholder")
        layout = QVBoxLayout(placeholder)
        layout.setContentsMargins(80, 20, 80, 20)
        layout.addStretch(2)
        title = QLabel("Autograd graph")
        title.setProperty("role", "placeholderTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder_text = QLabel(
            "Build a network on the left (or pick the <b>lenet</b> preset), "
            "then press <b>F5</b> (Run → Show graph) to run one forward pass and the loss "
            "and see the graph autograd records for the backward pass."
        )
        self.placeholder_text.setObjectName("graphPlaceholderText")
        self.placeholder_text.setProperty("role", "placeholder")
        self.placeholder_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder_text.setWordWrap(True)
        layout.addWidget(title)
        layout.addSpacing(12)
        layout.addWidget(self.placeholder_text)
        layout.addStretch(3)
        self.central.addWidget(placeholder)
        # Messages (NaN/Inf found, a phase failed) stand above the graph in the layout,
        # pushing it down: laid over it, they hid the graph's toolbar and top rows.
        column = QWidget()
        column.setObjectName("centralColumn")
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.setSpacing(0)
        self._messages = QVBoxLayout()
        self._messages.setContentsMargins(0, 0, 0, 0)
        column_layout.addLayout(self._messages)
        column_layout.addWidget(self.central, 1)
        self.setCentralWidget(column)

    def add_message_bar(self, bar: QWidget) -> None:
        """Put ``bar`` (hidden until it has something to say) above the graph area: shown,
        it takes its height from the graph instead of covering the graph's top."""
        self._messages.addWidget(bar)

    def _build_docks(self) -> None:
        self.palette = LayerPalette()
        self.builder = BuilderPanel(self.document)
        self.summary = SummaryView(self.document)
        self.palette_dock = self.add_panel(self.palette, "Layers", "paletteDock", Area.LeftDockWidgetArea, hide_in_lecture=True)
        self.builder_dock = self.add_panel(self.builder, "Network", "builderDock", Area.LeftDockWidgetArea)
        self.splitDockWidget(self.palette_dock, self.builder_dock, Qt.Orientation.Horizontal)
        self.summary_dock = self.add_panel(self.summary, "Model summary", "summaryPanel", Area.BottomDockWidgetArea, hide_in_lecture=True)

    # -- state → widgets -------------------------------------------------------------------------
    def _on_document_changed(self) -> None:
        self.update_title()
        self.update_validity()
        self._update_layer_actions()

    def update_title(self, *_args) -> None:
        modified = "*" if self.document.is_modified else ""
        self.setWindowTitle(f"gradviz — {self.files.display_name}{modified}")

    def validity(self) -> tuple[bool, str]:
        """(runnable, reason): the network has layers and its shapes fit together."""
        spec, analysis = self.document.spec, self.document.analysis
        if not analysis.valid:
            where = f"{analysis.error_layer}: " if analysis.error_layer and not str(analysis.error).startswith(analysis.error_layer) else ""
            return False, f"{where}{analysis.error}"
        if not spec.layers:
            return False, "The network is empty: pick a preset or add layers"
        return True, ""

    def update_validity(self) -> None:
        ok, reason = self.validity()
        analysis, spec = self.document.analysis, self.document.spec
        if ok:
            output = analysis.output_shape(spec)
            text = f"✓ Ready · {analysis.total_params:,} parameters · output ({', '.join(map(str, output))})"
        elif analysis.valid:
            text = reason
        else:
            text = f"✗ {reason} — fix the red layer to run"
        self.network_status.setText(text)
        self.network_status.setToolTip(text)
        state = "true" if ok else ("false" if not analysis.valid else "")
        if self.network_status.property("ok") != state:
            self.network_status.setProperty("ok", state)
            theme.repolish(self.network_status)
        for action in self._run_actions:
            action.setEnabled(ok)
        show_graph = self.actions["actionShowGraph"]
        show_graph.setStatusTip("" if ok else f"Disabled: {reason}")
        self.networkValidityChanged.emit(ok, reason)

    def _update_layer_actions(self, *_args) -> None:
        has_selection = self.stack.selected_path is not None
        for name in ("actionDeleteLayer", "actionDuplicateLayer", "actionRenameLayer", "actionMoveLayerUp", "actionMoveLayerDown"):
            self.actions[name].setEnabled(has_selection)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = settings.recent_files()
        for index, path in enumerate(files, start=1):
            action = self.recent_menu.addAction(f"&{index}  {path}")
            action.triggered.connect(lambda _=False, p=path: self.files.open_recent(p))
        if not files:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", settings.clear_recent_files)

    def _focus_input_shape(self) -> None:
        self.builder_dock.show()
        self.builder.header.input_edit.setFocus()
        self.builder.header.input_edit.selectAll()

    # -- graph ------------------------------------------------------------------------------------
    def show_graph(self) -> None:
        """Run forward + loss in the background and hand the autograd graph to the graph view."""
        ok, reason = self.validity()
        if not ok:
            self.show_message(f"Cannot show the graph: {reason}")
            return
        session = self.session
        if session is None:
            self.show_message(f"Cannot show the graph: {self.session_link.problem}")
            return

        def work(task):
            task.report(0.2, "Running the forward pass and the loss…")
            return session.preview_graph()

        self._set_busy("Building the autograd graph…")
        self._graph_job.start(  # a newer F5 replaces this one: only the latest graph is drawn
            work, on_done=lambda graph: self._graph_ready(graph, session),
            on_error=lambda exc, details: self._graph_failed(exc, details, session),
            on_progress=lambda fraction, message: self._set_busy(message),
        )

    def _graph_ready(self, graph, session=None) -> None:
        self._set_busy(None)
        if session is not None and session is not self.active_session.session:
            self.show_message("The network changed while its graph was built: F5 to show the new one")
            return  # never draw a previous network's graph as if it were the current one
        view = self.graph_view
        view.set_graph(graph)
        self.central.setCurrentWidget(view)
        self.show_message(f"Autograd graph: {graph.number_of_nodes()} nodes")

    def _graph_failed(self, exc, details: str, session=None) -> None:
        self._set_busy(None)
        show_error(self, "Cannot show the graph", f"The forward pass or the loss failed: {summary_of(exc)}", details)
        if session is not None:
            from gradviz.ui.crash_view import show_partial_graph

            show_partial_graph(self, session)  # the graph up to the op that failed

    def _say_exported(self, paths: list) -> None:
        """The graph view wrote files (an export, pages of a tall PNG, an animation): say where."""
        if paths:
            more = f" and {len(paths) - 1} more file{'s' if len(paths) > 2 else ''}" if len(paths) > 1 else ""
            self.show_message(f"Exported {paths[0]}{more}")

    def _latest_record(self):
        """The session's latest recorded iteration (None before the first)."""
        session = self.session
        history = session.history if session is not None else None
        return history[-1] if history is not None and len(history) else None

    @property
    def graph_view(self):
        """The central GraphView, made on first use: importing it costs ~0.6 s, which
        start-up does not pay (napari's viewer builds its docks the same lazy way)."""
        if self._graph_view is None:
            from gradviz.ui.graph_view import GraphView

            view = GraphView()
            view.setObjectName("graphView")
            view.setFont(QFont(QApplication.font()))  # its text follows the window's zoom (_apply_theme, zoom)
            view.layoutFailed.connect(lambda message: self.show_message(f"Graph layout failed: {message}"))
            view.record_source = self._latest_record  # Export animation…: real orders, weights before/after
            view.exported.connect(self._say_exported)
            self._graph_view = view
            self.central.addWidget(view)
            self.menus["file"].insertAction(self._export_graph_placeholder, view.export_action)
            self.menus["file"].removeAction(self._export_graph_placeholder)
            # The node-details side panel would take a third of the graph's width (and
            # so its text size at fit): start it closed; the graph toolbar's Details
            # toggle opens it.
            view.set_details_visible(False)
            self._lecture_menu_bar()  # made in lecture mode on a short screen: the graph takes the pane
            self.graphViewCreated.emit(view)
        return self._graph_view

    @property
    def has_graph_view(self) -> bool:
        """Whether the graph view was made yet (asking does not make it)."""
        return self._graph_view is not None

    def _mark_graph_stale(self, reason: str) -> None:
        """The active session changed (or its loss): a graph on screen is no longer its graph."""
        if self.has_graph_view and self.graph_view.graph() is not None:
            self.graph_view.set_stale(f"Out of date ({reason}) — F5 to refresh")

    def _set_busy(self, message: str | None) -> None:
        if message is None:
            self.progress.hide()
            self.statusBar().clearMessage()
            return
        self.progress.setRange(0, 0)  # indeterminate: one forward pass has no meaningful percentage
        self.progress.show()
        self.statusBar().showMessage(message)

    # -- startup helpers ----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Import torch and the session module off the GUI thread, then list devices."""
        from gradviz.ui.worker import freeze_long_lived_objects, run_task

        def work(task):
            import torch  # noqa: F401 - the slow import, done where nobody waits for it

            from gradviz.ui.builder.session_link import training_session_class

            try:
                training_session_class()
            except Exception:  # noqa: BLE001 - reported when a session is actually built
                pass
            return _available_devices()

        def warmed(devices) -> None:
            # torch and the modules above are imported now, objects that live as long as
            # the app: out of every later full collection's way (see gradviz.ui.worker).
            freeze_long_lived_objects(full=True)
            self.training.set_devices(devices)

        run_task(work, on_done=warmed, on_error=lambda exc, details: None)

    def offer_recovery(self) -> bool:
        """If an earlier run crashed with unsaved work, offer it back."""
        return offer_recovery(self.files, self.prompts)

    def autosave_now(self) -> None:
        """Write the recovery file now (the crash handler calls this first)."""
        self.autosaver.autosave()

    # -- closing ------------------------------------------------------------------------------------------------
    def closeEvent(self, event):  # noqa: N802 - Qt override
        if not self.files.confirm_discard():
            event.ignore()
            return
        self._save_layout()
        self.autosaver.stop()  # a clean exit leaves no recovery file behind
        self.session_link.timer.stop()
        self._graph_job.cancel()
        event.accept()


def _available_devices() -> list[str]:
    from gradviz.core.devices import available_devices  # imports torch: called off the GUI thread

    return list(available_devices())
