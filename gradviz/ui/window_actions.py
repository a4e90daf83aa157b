"""The main window's actions, menus, toolbars and status bar, and Help (the
keyboard shortcuts read from the actions themselves, About).

Part of :class:`~gradviz.ui.main_window.MainWindow` (a mixin over its state)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMessageBox,
    QProgressBar,
    QToolBar,
)

from gradviz.ui import theme
from gradviz.ui.builder.palette import kinds_menu
from gradviz.ui.shortcuts import shortcut_rows, show_shortcuts_dialog
from gradviz.ui.toolbar_items import captioned


class _WindowActions:
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
        a("actionShowBuilder", "Show &builder", self.show_builder, "Ctrl+B", None,
          "Show or put aside the network builder and the layer palette", checkable=True)

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
        # The graph view (made on first use) owns Export graph (Ctrl+E); until it
        # exists a disabled stand-in holds its place in the menu.
        self._export_graph_placeholder = file.addAction("Export &graph…")
        self._export_graph_placeholder.setObjectName("actionExportGraphPending")
        self._export_graph_placeholder.setEnabled(False)
        self._export_graph_placeholder.setStatusTip("Show the graph first (F5)")
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
        view.addAction(act["actionShowBuilder"])
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
            self.training_toolbar.addWidget(captioned(label, widget))
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

    # -- help -------------------------------------------------------------------------------------------------
    def shortcut_rows(self) -> list[tuple[str, str]]:
        """(what, keys) for every action of the window that has a shortcut, read from
        the actions themselves (the graph view's Find and Export included, once it
        exists), so the list cannot fall behind them."""
        return shortcut_rows([*self.actions.values(), *self.findChildren(QAction)])

    def show_shortcuts(self) -> None:
        self.graph_view  # made now if not yet: its actions (Find, Export graph) belong in the list
        show_shortcuts_dialog(self, self.shortcut_rows(), "shortcutsDialog")

    def show_about(self) -> None:
        import gradviz

        box = QMessageBox(self)
        box.setObjectName("aboutDialog")
        box.setWindowTitle("About gradviz")
        box.setText(f"<b>gradviz {gradviz.__version__}</b><br>Make PyTorch's autograd visible.")
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
