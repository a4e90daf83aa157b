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


from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QDockWidget, QHBoxLayout, QLabel, QMainWindow, QMenu, QMessageBox, QProgressBar,
    QStackedWidget, QToolBar, QToolButton, QVBoxLayout, QWidget,
)

from gradviz.ui import settings, theme
from gradviz.ui.active_session import ActiveSession
from gradviz.ui.builder.controls import TrainingControls
from gradviz.ui.builder.document import NetworkDocument
from gradviz.ui.builder.palette import LayerPalette, kinds_menu
from gradviz.ui.builder.panel import BuilderPanel
from gradviz.ui.builder.project_files import ProjectFiles
from gradviz.ui.builder.prompts import Prompts
from gradviz.ui.builder.recovery import Autosaver, offer_recovery
from gradviz.ui.builder.session_link import SessionLink
from gradviz.ui.worker import LatestTask
from gradviz.ui.errors import show_error, summary_of
from gradviz.ui.summary import SummaryView

_STATE_VERSION = 1
LECTURE_SCALE_KEY = "ui/lectureScale"
Area = Qt.DockWidgetArea


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


class MainWindow(QMainWindow):
    sessionChanged = Signal(object)  # the core TrainingSession, or None (= active_session.sessionChanged)
    networkValidityChanged = Signal(bool, str)  # valid, reason when not
    graphViewCreated = Signal(object)  # the central GraphView, once it is made (lazily)

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
        self._lecture_hidden: list[QDockWidget] = []
        self._default_layout_steps: list = []  # extensions' parts of the default layout

        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbars()
        self._build_status_bar()

        self.document.changed.connect(self._on_document_changed)
        self.document.undo_stack.cleanChanged.connect(self.update_title)
        self.files.pathChanged.connect(self.update_title)
        self.files.message.connect(self.show_message)
        self.stack.message.connect(self.show_message)
        self.stack.selectionChanged.connect(self._update_layer_actions)
        self.palette.kindActivated.connect(lambda kind: self.stack.add_layer(kind))
        self.active_session.sessionChanged.connect(self.sessionChanged)
        self.active_session.graphInvalidated.connect(self._mark_graph_stale)

        # Extensions over the window's host interface (gradviz.ui.host.WindowHost):
        # File → Open Model (a model from a file as the session), and step-through training.
        from gradviz.ui.user_model.dialog import install_open_model
        from gradviz.ui.training import install_training_ui

        install_open_model(self)
        install_training_ui(self)  # sets self.training_ui

        self._restore_layout()
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
        self.setCentralWidget(self.central)

    def _build_docks(self) -> None:
        self.palette = LayerPalette()
        self.builder = BuilderPanel(self.document)
        self.summary = SummaryView(self.document)
        self.palette_dock = self.add_panel(self.palette, "Layers", "paletteDock", Area.LeftDockWidgetArea, hide_in_lecture=True)
        self.builder_dock = self.add_panel(self.builder, "Network", "builderDock", Area.LeftDockWidgetArea)
        self.splitDockWidget(self.palette_dock, self.builder_dock, Qt.Orientation.Horizontal)
        self.summary_dock = self.add_panel(self.summary, "Model summary", "summaryPanel", Area.BottomDockWidgetArea, hide_in_lecture=True)

    def _action(self, name: str, text: str, slot=None, shortcut=None, icon: str | None = None, tip: str = "",
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, (list, tuple)) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if icon:
            theme.bind_icon(action, icon)
        if tip or action.shortcut().toString():
            hint = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            action.setToolTip(f"{tip or text.replace('&', '').rstrip('…')}" + (f" ({hint})" if hint else ""))
            action.setStatusTip(tip or "")
        action.setCheckable(checkable)
        if slot is not None:
            action.triggered.connect(slot)
        self.actions[name] = action
        self.addAction(action)  # shortcuts work even while the menu bar is hidden (full screen)
        return action

    def _build_actions(self) -> None:
        a, files, stack = self._action, self.files, self.stack
        a("actionNew", "&New", files.new, QKeySequence.StandardKey.New, "new", "Start an empty network")
        a("actionOpen", "&Open…", files.open_dialog, QKeySequence.StandardKey.Open, "open", "Open a project file")
        a("actionSave", "&Save", files.save, QKeySequence.StandardKey.Save, "save", "Save the project")
        a("actionSaveAs", "Save &As…", files.save_as_dialog, "Ctrl+Shift+S", None, "Save the project under a new name")
        a("actionExportPython", "&Export as Python…", files.export_dialog, "Ctrl+Shift+E", "export",
          "Write the network as a standalone nn.Module class")
        a("actionQuit", "&Quit", self.close, QKeySequence.StandardKey.Quit)

        undo = self.document.undo_stack.createUndoAction(self, "&Undo")
        redo = self.document.undo_stack.createRedoAction(self, "&Redo")
        for action, name, keys, icon in (
            (undo, "actionUndo", [QKeySequence.StandardKey.Undo], "undo"),
            (redo, "actionRedo", [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")], "redo"),
        ):
            action.setObjectName(name)
            # The menu says "Undo Set fc1.in_features"; the toolbar button keeps a short label.
            action.setIconText(name.removeprefix("action"))
            action.setShortcuts([QKeySequence(k) for k in keys])
            theme.bind_icon(action, icon)
            self.actions[name] = action
            self.addAction(action)

        a("actionDeleteLayer", "&Delete layer", lambda: stack.remove_layer(), QKeySequence.StandardKey.Delete, "delete")
        a("actionDuplicateLayer", "D&uplicate layer", lambda: stack.duplicate_layer(), "Ctrl+D", "duplicate")
        a("actionRenameLayer", "Re&name layer…", stack.begin_rename, "F2", "rename")
        a("actionMoveLayerUp", "Move layer &up", lambda: stack.move_layer_by(None, -1), "Alt+Up", "up")
        a("actionMoveLayerDown", "Move layer do&wn", lambda: stack.move_layer_by(None, +1), "Alt+Down", "down")
        a("actionCopySummary", "&Copy summary", self.summary.copy, None, "copy", "Copy the model summary as text")

        a("actionZoomIn", "Zoom &in", lambda: self.zoom(theme.ZOOM_STEP), [QKeySequence.StandardKey.ZoomIn, "Ctrl+="], "zoom-in",
          "Larger text")
        a("actionZoomOut", "Zoom &out", lambda: self.zoom(1 / theme.ZOOM_STEP), QKeySequence.StandardKey.ZoomOut, "zoom-out",
          "Smaller text")
        a("actionZoomReset", "&Reset zoom", lambda: self.zoom(None), "Ctrl+0", None, "Default text size")
        a("actionLectureMode", "&Lecture mode", self.set_lecture_mode, "F11", "lecture",
          "Full screen, large high-contrast text, fewer panels", checkable=True)
        a("actionResetLayout", "Reset &layout", self.reset_layout, None, None, "Put every panel back in its default place")

        a("actionFocusInputShape", "Edit &input shape", self._focus_input_shape, "Ctrl+I", None, "Jump to the input shape")
        show_graph = a("actionShowGraph", "Show &graph", self.show_graph, "F5", "graph",
                       "Run one forward pass and the loss, and draw the autograd graph")
        self.requires_valid_network(show_graph)
        self.requires_valid_network(self.actions["actionExportPython"])

        a("actionShortcuts", "&Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents)
        a("actionAbout", "&About gradviz", self.show_about)

        group = QActionGroup(self)
        group.setExclusive(True)
        for name in theme.THEMES:
            action = a(f"actionTheme{name.title()}", theme.LABELS[name], lambda _=False, n=name: self.set_theme(n),
                       checkable=True)
            group.addAction(action)
            action.setChecked(name == self.theme_name)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        act = self.actions
        file = self.menus["file"] = bar.addMenu("&File")
        file.setObjectName("menuFile")
        file.addActions([act["actionNew"], act["actionOpen"]])
        self.recent_menu = self.menus["recent"] = file.addMenu("Open &recent")
        self.recent_menu.setObjectName("menuRecentFiles")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        examples = self.menus["examples"] = file.addMenu("Open &example")
        examples.setObjectName("menuExamples")
        for path in sorted((theme.RESOURCES / "examples").glob("*.gvz.json")):
            action = examples.addAction(path.name.removesuffix(".gvz.json"))
            action.triggered.connect(lambda _=False, p=path: self.files.open_example(p))
        examples.setEnabled(bool(examples.actions()))
        file.addSeparator()
        file.addActions([act["actionSave"], act["actionSaveAs"], act["actionExportPython"]])
        file.addSeparator()
        file.addAction(act["actionQuit"])

        edit = self.menus["edit"] = bar.addMenu("&Edit")
        edit.setObjectName("menuEdit")
        edit.addActions([act["actionUndo"], act["actionRedo"]])
        edit.addSeparator()
        edit.addActions([act[n] for n in ("actionRenameLayer", "actionDuplicateLayer", "actionMoveLayerUp", "actionMoveLayerDown")])
        edit.addSeparator()
        edit.addAction(act["actionDeleteLayer"])
        edit.addSeparator()
        edit.addAction(act["actionCopySummary"])

        view = self.menus["view"] = bar.addMenu("&View")
        view.setObjectName("menuView")
        panels = self.menus["panels"] = view.addMenu("&Panels")
        panels.setObjectName("menuPanels")
        for dock in self.panels.values():
            panels.addAction(dock.toggleViewAction())
        view.addAction(act["actionResetLayout"])
        view.addSeparator()
        themes = self.menus["theme"] = view.addMenu("&Theme")
        themes.setObjectName("menuTheme")
        themes.addActions([act[f"actionTheme{n.title()}"] for n in theme.THEMES])
        view.addSeparator()
        view.addActions([act["actionZoomIn"], act["actionZoomOut"], act["actionZoomReset"]])
        view.addSeparator()
        view.addAction(act["actionLectureMode"])

        network = self.menus["network"] = bar.addMenu("&Network")
        network.setObjectName("menuNetwork")
        from gradviz.core import presets

        preset_menu = self.menus["presets"] = network.addMenu("&Presets")
        preset_menu.setObjectName("menuPresets")
        preset_menu.setToolTipsVisible(True)
        for name in presets.names():
            action = self._action(f"actionPreset_{name}", name, lambda _=False, n=name: self.load_preset(n),
                                  tip=presets.DESCRIPTIONS.get(name, ""))
            preset_menu.addAction(action)
        add_menu = kinds_menu("&Add layer", lambda kind: self.stack.add_layer(kind), self)
        add_menu.setObjectName("menuAddLayer")
        self.menus["add_layer"] = add_menu
        network.addMenu(add_menu)
        network.addAction(act["actionFocusInputShape"])

        run = self.menus["run"] = bar.addMenu("&Run")
        run.setObjectName("menuRun")
        run.addAction(act["actionShowGraph"])

        help_menu = self.menus["help"] = bar.addMenu("&Help")
        help_menu.setObjectName("menuHelp")
        help_menu.addActions([act["actionShortcuts"], act["actionAbout"]])

    def _build_toolbars(self) -> None:
        self.toolbar = QToolBar("Main")
        self.toolbar.setObjectName("mainToolBar")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        act = self.actions
        self.toolbar.addActions([act["actionNew"], act["actionOpen"], act["actionSave"]])
        self.toolbar.addSeparator()
        self.toolbar.addActions([act["actionUndo"], act["actionRedo"]])
        self.toolbar.addSeparator()
        self.toolbar.addActions([act["actionShowGraph"], act["actionLectureMode"]])
        # Everyday file and undo buttons are icons (with tooltips) so that the training
        # controls fit on the same row; the two actions people look for keep their words.
        for name in ("actionNew", "actionOpen", "actionSave", "actionUndo", "actionRedo"):
            button = self.toolbar.widgetForAction(act[name])
            if button is not None and not act[name].icon().isNull():
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)

        self.training_toolbar = QToolBar("Training")
        self.training_toolbar.setObjectName("trainingToolBar")
        for label, widget in self.training.widgets():
            text = QLabel(label)
            text.setBuddy(widget)
            self.training_toolbar.addWidget(text)
            self.training_toolbar.addWidget(widget)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.training_toolbar)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setObjectName("statusBar")
        self.progress = QProgressBar()
        self.progress.setObjectName("taskProgress")
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.network_status = QLabel()
        self.network_status.setObjectName("networkStatus")
        self.network_status.setProperty("role", "validity")
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.network_status)

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
            on_error=self._graph_failed,
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

    def _graph_failed(self, exc, details: str) -> None:
        self._set_busy(None)
        show_error(self, "Cannot show the graph", f"The forward pass or the loss failed: {summary_of(exc)}", details)

    @property
    def graph_view(self):
        """The central GraphView, made on first use: importing it costs ~0.6 s, which
        start-up does not pay (napari's viewer builds its docks the same lazy way)."""
        if self._graph_view is None:
            from gradviz.ui.graph_view import GraphView

            view = GraphView()
            view.setObjectName("graphView")
            view.layoutFailed.connect(lambda message: self.show_message(f"Graph layout failed: {message}"))
            self._graph_view = view
            self.central.addWidget(view)
            # Beside the builder and the training code (windows up to ~1600 px), the
            # node-details side panel would take half the graph's width: start it
            # closed there; the graph toolbar's Details toggle opens it.
            if self.central.width() < 640:
                view.set_details_visible(False)
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
        from gradviz.ui.worker import run_task

        def work(task):
            import torch  # noqa: F401 - the slow import, done where nobody waits for it

            from gradviz.ui.builder.session_link import training_session_class

            try:
                training_session_class()
            except Exception:  # noqa: BLE001 - reported when a session is actually built
                pass
            return _available_devices()

        run_task(work, on_done=self.training.set_devices, on_error=lambda exc, details: None)

    def offer_recovery(self) -> bool:
        """If an earlier run crashed with unsaved work, offer it back."""
        return offer_recovery(self.files, self.prompts)

    def autosave_now(self) -> None:
        """Write the recovery file now (the crash handler calls this first)."""
        self.autosaver.autosave()

    # -- theme, zoom, lecture mode -------------------------------------------------------------------
    @property
    def lecture_mode(self) -> bool:
        return self._lecture_saved is not None

    def _apply_theme(self) -> None:
        app = QApplication.instance()
        if app is not None:
            theme.apply(app, self.theme_name, self.font_scale)

    def set_theme(self, name: str) -> None:
        if name not in theme.THEMES:
            return
        self.theme_name = name
        if not self.lecture_mode:
            settings.set_value(settings.THEME, name)
        self._apply_theme()
        action = self.actions.get(f"actionTheme{name.title()}")
        if action is not None and not action.isChecked():
            action.setChecked(True)

    def zoom(self, factor: float | None) -> None:
        """Scale every font (``None`` resets); remembered separately for lecture mode."""
        default = theme.LECTURE_SCALE if self.lecture_mode else 1.0
        self.font_scale = default if factor is None else theme.clamp_scale(self.font_scale * factor)
        settings.set_value(LECTURE_SCALE_KEY if self.lecture_mode else settings.FONT_SCALE, self.font_scale)
        self._apply_theme()
        self.show_message(f"Text size {self.font_scale * 100:.0f}%", 2000)

    def set_lecture_mode(self, on: bool) -> None:
        """Full screen, large high-contrast text and fewer panels; leaving restores everything."""
        on = bool(on)
        if on == self.lecture_mode:
            return
        if on:
            self._lecture_saved = {
                "state": self.saveState(_STATE_VERSION), "geometry": self.saveGeometry(), "maximized": self.isMaximized(),
                "theme": self.theme_name, "scale": self.font_scale,
            }
            for dock in self._lecture_hidden:
                dock.hide()
            self.theme_name = "lecture"
            self.font_scale = theme.clamp_scale(settings.value(LECTURE_SCALE_KEY, theme.LECTURE_SCALE))
            self._apply_theme()
            self.insertToolBarBreak(self.training_toolbar)  # large controls need their own row
            self.showFullScreen()
            # With the side panels gone, give the cards room for lecture-sized text.
            screen_width = self.screen().geometry().width() if self.screen() else self.width()
            QTimer.singleShot(0, lambda: self.resizeDocks([self.builder_dock], [int(screen_width * 0.42)], Qt.Orientation.Horizontal))
            self.show_message("Lecture mode: F11 to leave, Ctrl +/− for text size", 5000)
        else:
            saved, self._lecture_saved = self._lecture_saved, None
            self.theme_name, self.font_scale = saved["theme"], saved["scale"]
            self._apply_theme()
            self.removeToolBarBreak(self.training_toolbar)
            self.showMaximized() if saved["maximized"] else self.showNormal()
            self.restoreGeometry(saved["geometry"])
            self.restoreState(saved["state"], _STATE_VERSION)
        action = self.actions["actionLectureMode"]
        if action.isChecked() != on:
            action.setChecked(on)
        for name in theme.THEMES:
            self.actions[f"actionTheme{name.title()}"].setChecked(name == self.theme_name)

    # -- layout ---------------------------------------------------------------------------------------------
    def _default_layout(self) -> None:
        """Left: the palette beside the builder, full height (the cards are tall).
        Bottom: one tabbed area, under the graph and the right column, for the wide
        panels (summary table; extensions add the gradients and charts). Right: what
        extensions put there (the training code). The graph keeps the centre."""
        for dock in (self.palette_dock, self.builder_dock, self.summary_dock):
            dock.setFloating(False)
            self.removeDockWidget(dock)  # re-added below: Reset layout starts from scratch
        # The bottom area runs under the right column: side by side, its pictures and
        # charts need the width more than the right column's short code list needs height.
        self.setCorner(Qt.Corner.BottomRightCorner, Area.BottomDockWidgetArea)
        self.addDockWidget(Area.LeftDockWidgetArea, self.palette_dock)
        self.addDockWidget(Area.LeftDockWidgetArea, self.builder_dock)
        self.splitDockWidget(self.palette_dock, self.builder_dock, Qt.Orientation.Horizontal)
        self.addDockWidget(Area.BottomDockWidgetArea, self.summary_dock)
        for dock in (self.palette_dock, self.builder_dock, self.summary_dock):
            dock.show()
        for step in self._default_layout_steps:
            step()
        self._default_sizes_pending = True
        if self.isVisible():
            QTimer.singleShot(0, self._apply_default_sizes)

    def _apply_default_sizes(self) -> None:
        """Dock sizes only take once the window has its real size, i.e. after show()."""
        if not self._default_sizes_pending:
            return
        self._default_sizes_pending = False
        width, height = max(self.width(), 1000), max(self.height(), 600)

        def docked(area):
            return [d for d in self.panels.values() if d.isVisible() and not d.isFloating() and self.dockWidgetArea(d) == area]

        # The palette is a list of names; the cards need ~420 px at normal text size
        # (narrower and their formulas wrap line by line); panels on the right (the
        # training code) a quarter, never less than their content's minimum; the
        # graph the rest, which makes it the largest area from 1280 px up.
        right = docked(Area.RightDockWidgetArea)
        docks = [self.palette_dock, self.builder_dock, *right]
        sizes = [min(190, max(150, width // 10)), max(400, int(width * 0.27)), *[width // 4] * len(right)]
        self.resizeDocks(docks, sizes, Qt.Orientation.Horizontal)
        # One tab of the bottom area sizes it: tall enough for the gradient heatmaps
        # and the charts' axes, short enough to leave the graph most of the height.
        bottom = docked(Area.BottomDockWidgetArea)
        if bottom:
            self.resizeDocks(bottom[:1], [max(230, int(height * 0.3))], Qt.Orientation.Vertical)

    def showEvent(self, event):  # noqa: N802 - Qt override
        super().showEvent(event)
        if getattr(self, "_default_sizes_pending", False):
            QTimer.singleShot(0, self._apply_default_sizes)

    def reset_layout(self) -> None:
        if self.lecture_mode:
            self.set_lecture_mode(False)
        self._default_layout()

    def _restore_layout(self) -> None:
        self.resize(1500, 940)
        self._default_layout()
        geometry = settings.value(settings.WINDOW_GEOMETRY)
        state = settings.value(settings.WINDOW_STATE)
        if isinstance(geometry, (QByteArray, bytes)):
            self.restoreGeometry(QByteArray(geometry))
        if isinstance(state, (QByteArray, bytes)) and self.restoreState(QByteArray(state), _STATE_VERSION):
            self._default_sizes_pending = False  # the user's own layout wins

    def _save_layout(self) -> None:
        if self.lecture_mode:  # remember the normal layout, not the lecture one
            state, geometry = self._lecture_saved["state"], self._lecture_saved["geometry"]
        else:
            state, geometry = self.saveState(_STATE_VERSION), self.saveGeometry()
        settings.set_value(settings.WINDOW_STATE, state)
        settings.set_value(settings.WINDOW_GEOMETRY, geometry)

    # -- help -------------------------------------------------------------------------------------------------
    def shortcut_rows(self) -> list[tuple[str, str]]:
        rows = []
        for action in self.actions.values():
            keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
            if keys:
                rows.append((action.text().replace("&", ""), keys))
        return rows

    def show_shortcuts(self) -> None:
        lines = "".join(f"<tr><td>{name}</td><td>&nbsp;&nbsp;<b>{keys}</b></td></tr>" for name, keys in self.shortcut_rows())
        box = QMessageBox(self)
        box.setObjectName("shortcutsDialog")
        box.setWindowTitle("Keyboard shortcuts")
        box.setText(f"<table>{lines}</table>")
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

    def show_about(self) -> None:
        import gradviz

        box = QMessageBox(self)
        box.setObjectName("aboutDialog")
        box.setWindowTitle("About gradviz")
        box.setText(f"<b>gradviz {gradviz.__version__}</b><br>Make PyTorch's autograd visible.")
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

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
