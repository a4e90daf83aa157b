"""How the main window presents itself: theme, text size (Ctrl +/−), lecture
mode's presenter layout and its exact way back, the default layout and the
remembered one.

Part of :class:`~gradviz.ui.main_window.MainWindow` (a mixin over its state)."""
from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QApplication,
    QTabBar,
)

from gradviz.ui import settings, theme

_STATE_VERSION = settings.LAYOUT_VERSION
SIDE_COLUMN_SHARE = 0.19  # of the window width, each side column (builder left, panels right)
# Narrower windows get one side column (builder, palette and panels as tabs) of
# this share: two columns would leave the graph too narrow to read at fit.
COMPACT_WIDTH = 1440
COMPACT_COLUMN_SHARE = 0.3
LECTURE_COLUMN_SHARE = 0.3  # the training code and gradients beside the graph in lecture mode
# Lecture mode on a screen shorter than this (a 720p projector): the menu bar and the
# graph's toolbar row step aside with the builder, and the graph's legend floats in a
# free corner of the drawing (GraphView.set_stage_mode); every action keeps its
# shortcut, Ctrl+B brings them all back. Their height goes to the graph: LeNet's
# labels at fit reach the lecture body text size.
LECTURE_SHORT_SCREEN = 800
RESTYLE_AFTER_ZOOM_MS = 600  # after the last Ctrl +/− step, the full stylesheet for the new size
LECTURE_SCALE_KEY = "ui/lectureScale"
Area = Qt.DockWidgetArea


class _Presentation:
    # -- theme, zoom, lecture mode -------------------------------------------------------------------
    @property
    def lecture_mode(self) -> bool:
        return self._lecture_saved is not None

    def _apply_theme(self) -> None:
        app = QApplication.instance()
        if app is not None:
            theme.apply(app, self.theme_name, self.font_scale)
            if getattr(self, "_graph_view", None) is not None:  # not set yet while the window is being built
                self._graph_view.setFont(QFont(app.font()))  # the theme's size (a zoom step sets it too)

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
        """Scale every font (``None`` resets); remembered separately for lecture mode,
        where the reset size follows the window's height (theme.lecture_scale_for)."""
        if self.lecture_mode:
            self._lecture_scale_follows_height = factor is None
        if self.lecture_mode and factor is None:
            settings.settings().remove(LECTURE_SCALE_KEY)  # the screen's own size from now on
            self._set_scale_now(theme.lecture_scale_for(self.height()))
        else:
            default = 1.0
            self.font_scale = default if factor is None else theme.clamp_scale(self.font_scale * factor)
            settings.set_value(LECTURE_SCALE_KEY if self.lecture_mode else settings.FONT_SCALE, self.font_scale)
            self._set_scale_now(self.font_scale)
        self.show_message(f"Text size {self.font_scale * 100:.0f}%", 2000)

    def _set_scale_now(self, scale: float) -> None:
        self.font_scale = scale
        # Re-styling the whole window takes up to a second: each step scales the
        # graph at once (its own font: boxes and text), the rest of the window
        # follows in one restyle once the steps stop (RESTYLE_AFTER_ZOOM_MS).
        app = QApplication.instance()
        if app is not None:
            theme.scale_fonts(app, self.font_scale)
            if self.has_graph_view:
                self.graph_view.setFont(QFont(app.font()))
        self._restyle_timer.start()

    def _lecture_scale_follows_window(self) -> None:
        """Until the user picks a lecture text size (Ctrl +/−), it follows the window's
        height: full screen arrives after F11, and the projector may be a 720p one."""
        if not (self.lecture_mode and getattr(self, "_lecture_scale_follows_height", False)):
            return
        scale = theme.lecture_scale_for(self.height())
        if abs(scale - self.font_scale) > 0.005:
            self._set_scale_now(scale)

    def resizeEvent(self, event):  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._lecture_scale_follows_window()
        self._lecture_menu_bar()

    @property
    def stage_mode(self) -> bool:
        """Lecture mode on a short screen with the builder aside: the menu bar and the
        graph's toolbar row are hidden, the panels keep to what a class reads
        (``stageModeChanged`` says when this changes)."""
        return self._stage_mode

    def _lecture_menu_bar(self) -> None:
        """In lecture mode on a short screen (LECTURE_SHORT_SCREEN) the menu bar and the
        graph's toolbar row are hidden while the builder is: a 720p projector gives
        the graph their height."""
        stage = self.lecture_mode and self.height() < LECTURE_SHORT_SCREEN and self.builder_dock.isHidden()
        if self.lecture_mode and self.menuBar().isHidden() != stage:
            self.menuBar().setVisible(not stage)
        if self.has_graph_view:
            self.graph_view.set_stage_mode(stage)
        if stage != self._stage_mode:
            self._stage_mode = stage
            self.stageModeChanged.emit(stage)

    def set_lecture_mode(self, on: bool) -> None:
        """A presenter layout: full screen, large high-contrast text, the graph large
        beside the training code and the gradients; the builder and the palette step
        aside (Ctrl+B brings them back). Leaving restores the layout from before:
        docks, their sizes and visibility, window geometry, theme and text size."""
        on = bool(on)
        if on == self.lecture_mode:
            return
        if on:
            self._lecture_saved = {
                "state": self.saveState(_STATE_VERSION), "geometry": self.saveGeometry(), "rect": self.geometry(),
                "window_state": self.windowState(), "theme": self.theme_name, "scale": self.font_scale,
                "menu_bar": not self.menuBar().isHidden(),
            }
            self.theme_name = "lecture"
            chosen = settings.value(LECTURE_SCALE_KEY)  # the user's own lecture size wins
            self._lecture_scale_follows_height = chosen is None
            screen_height = self.screen().geometry().height() if self.screen() else self.height()
            self.font_scale = theme.lecture_scale_for(screen_height) if chosen is None else theme.clamp_scale(chosen)
            self._apply_theme()
            # Layout first: a panel's larger minimum size resizes the window, and a
            # resize takes a window out of full screen.
            self._lecture_layout()
            self.showFullScreen()
            self._fit_graph_when_laid_out()
            builder = ("the builder, the menus and the graph toolbar" if screen_height < LECTURE_SHORT_SCREEN
                       else "the builder")
            self.show_message(f"Lecture mode: F11 to leave, Ctrl +/− for text size, Ctrl+B for {builder}", 5000)
        else:
            saved, self._lecture_saved = self._lecture_saved, None
            self.theme_name, self.font_scale = saved["theme"], saved["scale"]
            self.menuBar().setVisible(saved["menu_bar"])
            self._lecture_menu_bar()  # the graph's toolbar row and legend back in place
            self._apply_theme()
            self._restore_saved_layout(saved)
            # Panels' minimum sizes follow the text size a moment later (their theme
            # hooks run on the next pass of the event loop, the layouts they touch on
            # the pass after); until then the restored docks would keep the lecture
            # text's minimum widths: restore once more after both passes.
            again = lambda: self.lecture_mode or self._restore_saved_layout(saved)  # noqa: E731
            QTimer.singleShot(0, lambda: QTimer.singleShot(0, again))
            self._fit_graph_when_laid_out()
        action = self.actions["actionLectureMode"]
        if action.isChecked() != on:
            action.setChecked(on)
        for name in theme.THEMES:
            self.actions[f"actionTheme{name.title()}"].setChecked(name == self.theme_name)

    def _restore_saved_layout(self, saved: dict) -> None:
        self.setWindowState(saved["window_state"])
        self.restoreGeometry(saved["geometry"])
        if not saved["window_state"] & (Qt.WindowState.WindowMaximized | Qt.WindowState.WindowFullScreen):
            self.setGeometry(saved["rect"])  # exactly; restoreGeometry may fit it to a screen
        self.restoreState(saved["state"], _STATE_VERSION)
        self._hide_stale_tab_bars()

    def _hide_stale_tab_bars(self) -> None:
        """Hide the dock tab bars that name no tab group the window has now.

        Qt keeps a pool of tab bars for the docks' tab groups. Restoring the layout from
        before lecture mode left the lecture group's "Gradients | Node inspector" bar
        shown, peeking above the restored column's own bar: no dock is behind it. A bar
        Qt takes up again for a group is shown again by Qt."""
        groups = []
        for dock in self.panels.values():
            if not dock.isHidden() and not dock.isFloating():
                groups.append(sorted([dock.windowTitle(), *(d.windowTitle() for d in self.tabifiedDockWidgets(dock))]))
        for bar in self.findChildren(QTabBar):
            if bar.parent() is self and not bar.isHidden():
                if sorted(bar.tabText(i) for i in range(bar.count())) not in groups:
                    bar.hide()

    def add_lecture_layout_step(self, step) -> None:
        """Run ``step()`` when lecture mode arranges its presenter layout, after the
        window has put the builder docks aside: it places an extension's panels."""
        self._lecture_layout_steps.append(step)

    def _building_toolbars(self) -> list:
        """The toolbars for building and configuring (file, undo, loss, optimizer, data):
        they step aside in lecture mode with the builder, and come back with it (Ctrl+B),
        so that the graph gets their height."""
        return [bar for bar in (getattr(self, "toolbar", None), getattr(self, "training_toolbar", None)) if bar is not None]

    def _lecture_layout(self) -> None:
        for dock in (*self._lecture_hidden, self.builder_dock):
            dock.hide()
        for bar in self._building_toolbars():
            bar.hide()
        for step in self._lecture_layout_steps:
            step()
        self._lecture_menu_bar()
        # Whatever the steps put on the right gets LECTURE_COLUMN_SHARE of the screen.
        screen_width = self.screen().geometry().width() if self.screen() else self.width()
        right = [d for d in self.panels.values() if not d.isHidden() and not d.isFloating()
                 and self.dockWidgetArea(d) == Area.RightDockWidgetArea]
        if right:
            QTimer.singleShot(0, lambda: self.resizeDocks(right[:1], [int(screen_width * LECTURE_COLUMN_SHARE)],
                                                          Qt.Orientation.Horizontal))

    def _fit_graph_when_laid_out(self) -> None:
        """Fit the graph to its new pane once it is laid out again for the new text size."""
        if not self.has_graph_view or self.graph_view.graph() is None:
            return
        view = self.graph_view
        if view.is_ready():  # the text size did not change: nothing is being laid out
            view.fit_to_window(animate=False)
            return

        def fit():
            view.ready.disconnect(fit)
            view.fit_to_window(animate=False)

        view.ready.connect(fit)

    def show_builder(self, on: bool) -> None:
        """Show (or put aside) the builder and the layer palette (Ctrl+B); in lecture
        mode the building toolbars too."""
        for dock in (self.palette_dock, self.builder_dock):
            dock.setVisible(bool(on))
        if self.lecture_mode:
            for bar in self._building_toolbars():
                bar.setVisible(bool(on))
            self._lecture_menu_bar()
        if on:
            self.builder_dock.raise_()

    def _sync_show_builder(self) -> None:
        action = self.actions["actionShowBuilder"]
        shown = not self.builder_dock.isHidden()
        if action.isChecked() != shown:
            action.blockSignals(True)
            action.setChecked(shown)
            action.blockSignals(False)

    # -- layout ---------------------------------------------------------------------------------------------
    def _default_layout(self) -> None:
        """The graph is the stage: it keeps the centre and most of the width. Left:
        one column, the palette (a short list of names) above the builder. Right:
        one column that extensions fill (the training code above the gradients,
        norms and summary as tabs). No bottom area: it would take the graph's height."""
        # Every panel out first (this and the steps below add each back): Reset layout
        # starts from scratch. Removing only some left the others' old tab group behind,
        # and its tab bar ("Node inspector | Diagnostics") stood empty over the graph pane.
        for dock in self.panels.values():
            dock.setFloating(False)
            self.removeDockWidget(dock)
        self.setCorner(Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Area.RightDockWidgetArea)
        self.addDockWidget(Area.LeftDockWidgetArea, self.palette_dock)
        self.splitDockWidget(self.palette_dock, self.builder_dock, Qt.Orientation.Vertical)
        self.addDockWidget(Area.RightDockWidgetArea, self.summary_dock)
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

        def rows(area):
            """The column's rows from the top, each as the dock in front of its tabs."""
            fronts = []
            for dock in docked(area):
                group = [dock, *self.tabifiedDockWidgets(dock)]
                if not any(front in group for front in fronts):
                    shown = [d for d in group if d.isVisible() and d.geometry().x() >= 0 and d.geometry().y() >= 0]
                    fronts.append(shown[0] if shown else dock)
            return sorted(fronts, key=lambda d: d.geometry().y())

        right = rows(Area.RightDockWidgetArea)
        if self.width() < COMPACT_WIDTH and right:
            # A small window has room for one side column beside a readable graph:
            # every panel becomes a tab of it, each with the column's full height
            # (split in two, neither half would hold the cards or the heatmaps).
            panels = [self.builder_dock, self.palette_dock]
            for front in right:
                panels += [front, *[d for d in self.tabifiedDockWidgets(front) if d not in panels]]
            for before, dock in zip(panels, panels[1:]):
                self.tabifyDockWidget(before, dock)
            self.builder_dock.raise_()
            self.resizeDocks([self.builder_dock], [int(width * COMPACT_COLUMN_SHARE)], Qt.Orientation.Horizontal)
            QTimer.singleShot(0, self._unelide_dock_tabs)  # the tab bar exists once the tabs are laid out
            QTimer.singleShot(0, self._hide_stale_tab_bars)  # the wide layout's groups, tabbed into this one
            return
        # Each side column gets SIDE_COLUMN_SHARE of the width (never less than its
        # content's minimum): the graph keeps the rest, ~55-60 % at 1600 px.
        side = max(260, int(width * SIDE_COLUMN_SHARE))
        left = rows(Area.LeftDockWidgetArea)
        self.resizeDocks(left[:1] + right[:1], [side] * len(left[:1] + right[:1]), Qt.Orientation.Horizontal)
        # Left: the palette is a short list; the builder's cards want the height.
        if len(left) > 1:
            self.resizeDocks(left[:2], [int(height * 0.28), height], Qt.Orientation.Vertical)
        # Right: the code list is short; the gradient pictures below it want the height.
        if len(right) > 1:
            self.resizeDocks(right[:2], [int(height * 0.36), height], Qt.Orientation.Vertical)

    def _unelide_dock_tabs(self) -> None:
        """Docks' tab bars scroll rather than cut their titles to "Ne…", "L…"."""
        for bar in self.findChildren(QTabBar):
            if bar.parent() is self:
                bar.setElideMode(Qt.TextElideMode.ElideNone)
                bar.setUsesScrollButtons(True)

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
