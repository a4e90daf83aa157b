"""Put step-through training into the main window: actions, docks, controller.

``install_training_ui(window)`` is the one call MainWindow makes. It adds

* actions (Run menu, a "Step" toolbar, shortcuts): ``actionZeroGrad``,
  ``actionForward``, ``actionLoss``, ``actionBackward``, ``actionStep`` (each
  enabled only when its phase is next), ``actionNextPhase`` (F10, whichever is
  next), ``actionRunIteration``, ``actionPlay`` (checkable, Space),
  ``actionSkipAnimation``, ``actionResetTraining``; the ``speedSlider``;
* docks: ``trainingDock`` (phase indicator + history), ``gradientDock``
  (gradient panel), ``normsDock`` (norms, loss, histograms);
* the :class:`StepController` that steps ``window.session`` off the GUI
  thread, and the :class:`GraphAnimator` that plays each phase on the graph;
* the node inspector, Step node ▶ and numbers mode
  (:mod:`gradviz.ui.training.inspection`).

This module only wires; what is shown comes from the session's records. The
panels follow the window's ``active_session`` (another session, a reset, a
recorded iteration, a changed setting): whenever the session changes, every
panel is redrawn from the session's own state, never left showing the last one.
Clicking a parameter's node in the graph selects it in the gradient panel and
choosing it there selects its node.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QScrollArea,
    QSlider,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from gradviz.core.vocabulary import PHASES
from gradviz.ui import theme
from gradviz.ui.toolbar_items import captioned
from gradviz.ui.training.animator import GraphAnimator
from gradviz.ui.training.banner import Banner
from gradviz.ui.training.controller import StepController
from gradviz.ui.training.gradient_panel import GradientPanel
from gradviz.ui.training.history import HistoryBar
from gradviz.ui.training.norms import NormsPanel
from gradviz.ui.training.output_panel import OutputPanel
from gradviz.ui.training.phase_indicator import PhaseIndicator

if TYPE_CHECKING:  # the window, as extensions see it
    from gradviz.ui.host import WindowHost

PHASE_ACTIONS = {
    "zero_grad": ("actionZeroGrad", "Ctrl+1"),
    "forward": ("actionForward", "Ctrl+2"),
    "loss": ("actionLoss", "Ctrl+3"),
    "backward": ("actionBackward", "Ctrl+4"),
    "step": ("actionStep", "Ctrl+5"),
}
SPEED_DEFAULT = 50
# The training code's column never takes more than this share of the window
# (it scrolls sideways instead): the graph stays the largest thing on screen.
MAX_PANEL_SHARE = 0.43
# In lecture mode the code list is shown whole (no scrolling to find optimizer.step()),
# up to this share of the right column's height: the gradients keep the rest.
LECTURE_CODE_MAX_SHARE = 0.6
# Pixels the lecture code dock gets below its last row: less than the gap to what
# follows (the indicator's margin and the panel's spacing), so none of it shows.
LECTURE_CODE_SLACK = 2


def speed_factor(value: int) -> float:
    """Speed slider 0…100 → factor 1/16…16, 1 (classroom pace) in the middle."""
    return 2.0 ** ((value - SPEED_DEFAULT) / 12.5)


def last_done_phase(session) -> str | None:
    """The phase the session ran last (None before the first one)."""
    if session is None or session.current is None:
        return None
    if session.in_iteration:
        return PHASES[session.phase_index - 1]
    return PHASES[-1]


def describe_nonfinite(first) -> str:
    """Where NaN/Inf first appeared, in words (from ``session.first_nonfinite``)."""
    if first is None:
        return "NaN or Inf appeared"
    where = f"<b>{html.escape(str(first.where))}</b>"
    if first.key is not None and first.key != first.where:
        where += f" (graph node {html.escape(str(first.key))})"
    return f"NaN/Inf first appeared in iteration {first.iteration}, {first.phase}: {where}"


class TrainingUI(QObject):
    """Everything :func:`install_training_ui` added; kept on ``window.training_ui``."""

    def __init__(self, window: "WindowHost"):
        super().__init__(window)
        self.window = window
        self.controller = StepController(parent=self, session_source=lambda: window.session)
        self.active = window.active_session
        self.animator = GraphAnimator(self._graph_view, parent=self, existing_view_source=lambda: window.graph_view if window.has_graph_view else None)
        self.controller.set_pacer(self.animator)
        self.actions: dict[str, QAction] = {}
        self._phase_buttons: list = []
        self._pending_gradients = None
        self._valid = bool(window.validity()[0])

        self._build_widgets()
        self._build_actions()
        self._build_docks()
        self.banner = Banner()
        window.add_message_bar(self.banner)
        self._connect()
        self._refresh_actions()
        # Theme, zoom and lecture mode restyle the app; our hand-coloured
        # widgets follow once per change (the timer merges the burst of events).
        self._theme_timer = QTimer(self)
        self._theme_timer.setSingleShot(True)
        self._theme_timer.setInterval(0)
        self._theme_timer.timeout.connect(self.apply_theme)
        window.installEventFilter(self)
        # In lecture mode the code column is as tall as its rows: whatever changes their
        # size (a restyle arriving after the fit, on a loaded machine) fits it again. It
        # was fitted on theme events only, and a restyle landing after that fit left the
        # current row cut by a pixel.
        self._lecture_fit_timer = QTimer(self)
        self._lecture_fit_timer.setSingleShot(True)
        self._lecture_fit_timer.setInterval(0)
        self._lecture_fit_timer.timeout.connect(self._fit_code_in_lecture)
        self.indicator.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.indicator:
            if event.type() == QEvent.Type.LayoutRequest and self.window.lecture_mode:
                self._lecture_fit_timer.start()
            return False
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._theme_timer.start()
        elif event.type() == QEvent.Type.Resize:
            self.training_panel._follow_content()  # its width cap follows the window
            self._limit_code_width()
            if self.window.lecture_mode:  # e.g. going full screen: the column's height changed
                QTimer.singleShot(0, self._fit_code_in_lecture)
        return False

    def apply_theme(self) -> None:
        self.indicator.set_names_shown(not self.window.lecture_mode)
        # The lecturer says it; on the class's screen the gradients get its height.
        self.indicator.set_sentence_shown(not self.window.lecture_mode)
        self.gradients.set_presenting(self.window.lecture_mode)  # the pictures get the column's height
        self.indicator.apply_theme()
        self.outputs.apply_theme()
        self.gradients.apply_theme()
        self.norms.apply_theme()
        self._style_phase_buttons()
        if self.window.lecture_mode:  # the code rows grew or shrank with the text: fit them again
            QTimer.singleShot(0, self._fit_code_in_lecture)

    # -- construction -----------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.indicator = PhaseIndicator()
        self.history = HistoryBar()
        # What forward produced and what the loss will compare it with, under the
        # code and the history (in a short dock it is what scrolls, not the slider).
        self.outputs = OutputPanel()
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.indicator, 0)
        layout.addWidget(self.history)
        layout.addWidget(self.outputs, 1)
        # Big lecture fonts on a small projector: scroll rather than clip the
        # code or push the window past the screen's bottom edge.
        self.training_panel = _VerticalScrollArea(width_cap=lambda: self.window.width() * MAX_PANEL_SHARE)
        self.training_panel.setObjectName("trainingPanel")
        self.training_panel.setWidgetResizable(True)
        self.training_panel.setFrameShape(QFrame.Shape.NoFrame)
        self.training_panel.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.training_panel.setWidget(content)
        self.gradients = GradientPanel()
        self.norms = NormsPanel()

    def _action(self, name: str, text: str, slot, shortcut=None, icon: str | None = None, tip: str = "",
                checkable: bool = False) -> QAction:
        action = QAction(text, self.window)
        action.setObjectName(name)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        if icon:
            theme.bind_icon(action, icon)
        hint = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip or text}" + (f" ({hint})" if hint else ""))
        action.setStatusTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        self.actions[name] = action
        self.window.actions[name] = action  # listed in Help → Keyboard shortcuts
        self.window.addAction(action)  # shortcuts work with the menu bar hidden (lecture mode)
        return action

    def add_action(self, name: str, text: str, slot, shortcut=None, icon: str | None = None, tip: str = "",
                   checkable: bool = False) -> QAction:
        """An action of another training part (the node inspector), made and listed like ours."""
        return self._action(name, text, slot, shortcut, icon, tip, checkable)

    @property
    def network_valid(self) -> bool:
        """Whether the network can be trained now (the phase actions are off while it cannot)."""
        return self._valid

    def _build_actions(self) -> None:
        from gradviz.ui.training.phase_indicator import code_for

        for phase, (name, shortcut) in PHASE_ACTIONS.items():
            self._action(name, phase, lambda _=False, p=phase: self.run_phase(p), shortcut,
                         tip=f"Run {phase}: {code_for(phase).splitlines()[0]}")
        self._action("actionNextPhase", "Next phase", lambda: self.run_phase(None), "F10", "training-next",
                     "Run whichever phase comes next")
        self._action("actionRunIteration", "Run iteration", self.run_iteration, "F8", "training-run",
                     "Run the rest of this iteration, phase by phase")
        self._action("actionPlay", "Play", self.set_playing, "Space", "training-play",
                     "Train continuously; press again to pause", checkable=True)
        self._action("actionSkipAnimation", "Skip animation", self.skip_animation, "F9", None,
                     "Jump to the end of the running animation")
        self._action("actionResetTraining", "Reset weights", self.reset, None, "training-reset",
                     "Back to the starting weights; clears the history")
        self._action("actionTrainingLayout", "Training layout", self.arrange_for_training, None, None,
                     "Arrange the panels for watching training: a large graph, the code and the gradients")

        self.speed_slider = QSlider(Qt.Orientation.Horizontal)
        self.speed_slider.setObjectName("speedSlider")
        self.speed_slider.setRange(0, 100)
        self.speed_slider.setValue(SPEED_DEFAULT)
        self.speed_slider.setFixedWidth(140)
        self.speed_slider.setToolTip("Animation and play speed")
        self.speed_label = QLabel()
        self.speed_label.setObjectName("speedLabel")
        self.speed_slider.valueChanged.connect(self._on_speed)

        window = self.window
        run_menu = window.menus["run"]
        run_menu.addSeparator()
        for phase in PHASES:
            run_menu.addAction(self.actions[PHASE_ACTIONS[phase][0]])
        run_menu.addSeparator()
        for name in ("actionNextPhase", "actionRunIteration", "actionPlay", "actionSkipAnimation", "actionResetTraining"):
            run_menu.addAction(self.actions[name])
        window.menus["view"].addAction(self.actions["actionTrainingLayout"])

        self.toolbar = QToolBar("Step")
        self.toolbar.setObjectName("stepToolBar")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for phase in PHASES:
            action = self.actions[PHASE_ACTIONS[phase][0]]
            self.toolbar.addAction(action)
            button = self.toolbar.widgetForAction(action)
            button.setObjectName(f"{PHASE_ACTIONS[phase][0]}Button")
            self._phase_buttons.append(button)
        self.toolbar.addSeparator()
        for name in ("actionNextPhase", "actionRunIteration", "actionPlay"):
            self.toolbar.addAction(self.actions[name])
        self.toolbar.addWidget(captioned("Speed", self.speed_slider, self.speed_label, name="speedControl"))
        self.toolbar.addSeparator()
        self.toolbar.addAction(self.actions["actionResetTraining"])
        window.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        self._on_speed(self.speed_slider.value())
        self._style_phase_buttons()

    def _style_phase_buttons(self) -> None:
        # Disabled phase buttons look like plain text; the one phase that may
        # run is a filled accent button a class can see from the back row.
        c = theme.colours()
        style = (
            f"QToolButton {{ font-family: 'DejaVu Sans Mono', monospace; font-weight: 600; padding: 3px 9px;"
            f" border: 1px solid {c['border']}; border-radius: 5px; }}"
            f"QToolButton:enabled {{ background: {c['accent']}; color: {c['accent_text']}; border-color: {c['accent']}; }}"
            f"QToolButton:disabled {{ color: {c['muted']}; background: transparent; }}"
        )
        for button in self._phase_buttons:
            button.setStyleSheet(style)

    def _build_docks(self) -> None:
        window, area = self.window, Qt.DockWidgetArea
        self.training_dock = window.add_panel(self.training_panel, "Training step", "trainingDock", area.RightDockWidgetArea)
        self.gradient_dock = window.add_panel(self.gradients, "Gradients", "gradientDock", area.BottomDockWidgetArea)
        self.norms_dock = window.add_panel(self.norms, "Norms and loss", "normsDock", area.BottomDockWidgetArea)
        window.add_default_layout_step(self.default_layout)
        window.add_lecture_layout_step(self.lecture_layout)
        self.default_layout()  # a saved layout is restored later

    def default_layout(self) -> None:
        """Our part of the window's default layout (first start, View → Reset layout).

        One right column beside the graph: the code being run on top (a short
        list), below it the gradients in front with the norms and loss and the
        model summary as tabs behind them. A bottom area would take the graph's
        height, and the graph is what the window is for.
        """
        window, area = self.window, Qt.DockWidgetArea
        below = [self.gradient_dock, self.norms_dock, window.summary_dock]
        for dock in (self.training_dock, *below):
            dock.setFloating(False)
            window.removeDockWidget(dock)
        window.addDockWidget(area.RightDockWidgetArea, self.training_dock)
        window.splitDockWidget(self.training_dock, self.gradient_dock, Qt.Orientation.Vertical)
        for before, dock in zip(below, below[1:]):
            window.tabifyDockWidget(before, dock)  # tabs in this order
        for dock in (self.training_dock, *below):
            dock.show()
        self.gradient_dock.raise_()

    def lecture_layout(self) -> None:
        """Our part of lecture mode's presenter layout: the code being run above the
        gradients, in one column beside the graph. The norms and loss charts step
        aside (View → Panels brings them back): their axes need a wide column."""
        window, area = self.window, Qt.DockWidgetArea
        for dock in (self.training_dock, self.gradient_dock, self.norms_dock):
            dock.setFloating(False)
            window.removeDockWidget(dock)
        window.addDockWidget(area.RightDockWidgetArea, self.training_dock)
        window.splitDockWidget(self.training_dock, self.gradient_dock, Qt.Orientation.Vertical)
        window.tabifyDockWidget(self.gradient_dock, self.norms_dock)
        for dock in (self.training_dock, self.gradient_dock):
            dock.show()
        self.norms_dock.hide()
        # The rows restyle for the lecture text on the next pass of the event loop.
        QTimer.singleShot(0, lambda: QTimer.singleShot(0, self._fit_code_in_lecture))

    def _limit_code_width(self) -> None:
        """The code lines fit the training panel's widest (its cap), less its scroll bar
        and the content's margins: shrunk rather than cut or scrolled sideways."""
        panel = self.training_panel
        self.indicator.set_width_limit(int(self.window.width() * MAX_PANEL_SHARE) - panel.verticalScrollBar().sizeHint().width())

    def _follow_stage_mode(self, on: bool) -> None:
        """A short lecture screen shows the current code line only; its rows' height goes to the gradients."""
        self.indicator.set_compact(on)
        if self.window.lecture_mode:
            QTimer.singleShot(0, self._fit_code_in_lecture)

    def _fit_code_in_lecture(self) -> None:
        """The training dock as tall as its code lines (those that fit in
        LECTURE_CODE_MAX_SHARE of the column); the gradients get the rest. The
        sentence under the lines is the current line's tooltip in lecture mode; on a
        short screen (the window's stage mode) only the current line is shown."""
        window = self.window
        if not window.lecture_mode or self.training_dock.isHidden() or self.gradient_dock.isHidden():
            return
        if window.dockWidgetArea(self.training_dock) != window.dockWidgetArea(self.gradient_dock):
            return
        title = self.training_dock.titleBarWidget()
        title_height = title.sizeHint().height() if title is not None else 0
        column = self.training_dock.height() + self.gradient_dock.height()
        panel, indicator = self.training_panel, self.indicator
        for widget in (panel.widget(), indicator):  # the rows where they are now, not before a pending relayout
            if widget is not None and widget.layout() is not None:
                widget.layout().activate()
        top = max(0, indicator.mapTo(panel.widget(), QPoint(0, 0)).y()) if panel.widget() is not None else 0
        chrome = title_height + 2 * panel.frameWidth() + top + LECTURE_CODE_SLACK
        # The dock ends at the last row that fits: what follows (more rows at a large
        # text size, the history bar) scrolls, and no sliver of it shows (a line cut
        # in half reads as a broken screen).
        room = round(column * LECTURE_CODE_MAX_SHARE) - chrome
        height = indicator.rows_bottom(within=room) + chrome
        self._split_column(height, column)
        QTimer.singleShot(0, self, lambda: self._split_column(height, column, check=True))

    def _split_column(self, height: int, column: int, check: bool = False) -> None:
        """The training dock ``height`` px tall, the gradients below it the rest of
        the ``column`` (the two docks' heights). ``resizeDocks`` shares out the whole
        dock area in proportion to the sizes asked, and that area also holds the
        gradient dock's tab bar: ``check`` (once the first split is laid out) asks
        again in the area's true proportion."""
        docks = [self.training_dock, self.gradient_dock]
        if check:
            got = self.training_dock.height()
            if abs(got - height) <= 1 or got <= 0:
                return
            column = round(got * column / height)  # what the area shared out: got / height of it
        self.window.resizeDocks(docks, [height, max(1, column - height)], Qt.Orientation.Vertical)

    def arrange_for_training(self) -> None:
        """A layout for watching training on a projector: the graph as large as
        possible with the code beside it, the gradients full width below (the
        norms as a tab behind them); the builder docks are put away (View →
        Panels, or View → Reset layout, bring them back)."""
        window, area = self.window, Qt.DockWidgetArea
        for dock in (window.palette_dock, window.builder_dock, window.summary_dock):
            dock.hide()
        window.setCorner(Qt.Corner.BottomRightCorner, area.BottomDockWidgetArea)
        for dock, where in ((self.training_dock, area.RightDockWidgetArea), (self.gradient_dock, area.BottomDockWidgetArea),
                            (self.norms_dock, area.BottomDockWidgetArea)):
            dock.setFloating(False)
            window.removeDockWidget(dock)
            window.addDockWidget(where, dock)
            dock.show()
        window.tabifyDockWidget(self.gradient_dock, self.norms_dock)
        self.gradient_dock.raise_()
        # The graph view's node-details side panel halves the graph on a
        # projector; its own toggle brings it back.
        if window.has_graph_view:
            window.graph_view.set_details_visible(False)
        window.resizeDocks([self.training_dock], [round(window.width() * 0.3)], Qt.Orientation.Horizontal)
        window.resizeDocks([self.gradient_dock], [round(window.height() * 0.35)], Qt.Orientation.Vertical)

    def _connect(self) -> None:
        c, w = self.controller, self.window
        c.phaseStarted.connect(self._on_phase_started)
        c.phaseFinished.connect(self._on_phase_finished)
        c.nonfiniteFound.connect(self._on_nonfinite)
        c.failed.connect(self._on_failed)
        c.busyChanged.connect(self._on_busy)
        c.playingChanged.connect(self._on_playing)
        c.stateChanged.connect(self._refresh_actions)
        c.sessionChanged.connect(self._on_session)
        w.stageModeChanged.connect(self._follow_stage_mode)
        self.animator.started.connect(lambda _phase: self._refresh_actions())
        self.animator.finished.connect(self._on_animation_finished)
        self.history.selectionChanged.connect(self._on_history)
        self.gradients.paramChanged.connect(self.norms.set_histogram_param)
        self.gradients.paramChanged.connect(self._select_param_node)
        # On a model too big for full records, the history copies only the parameter looked at.
        self.gradients.paramChanged.connect(lambda name: self.controller.session is not None and name and
                                            self.controller.session.watch_parameters([name]))
        w.sessionChanged.connect(c.set_session)
        active = self.active  # the session's own events (any thread, delivered on ours)
        active.iterationRecorded.connect(self._on_iteration_finished)
        active.resetDone.connect(self._on_reset)
        active.settingsChanged.connect(self._on_setting)
        active.graphInvalidated.connect(self._on_graph_invalidated)
        w.graphViewCreated.connect(self._watch_graph_view)
        if w.has_graph_view:
            self._watch_graph_view(w.graph_view)
        w.networkValidityChanged.connect(self._on_validity)

    # -- commands ------------------------------------------------------------------------------
    def run_phase(self, phase: str | None) -> bool:
        if not self._can_step():
            return False
        ok = self.controller.run_phase(phase)
        if not ok:
            self._explain_refusal(phase)
        return ok

    def run_iteration(self) -> bool:
        if not self._can_step():
            return False
        ok = self.controller.run_iteration()
        if not ok:
            self._explain_refusal(None)
        return ok

    def set_playing(self, playing: bool) -> None:
        if playing and not self._can_step():
            self.actions["actionPlay"].setChecked(False)
            return
        if playing:
            if not self.controller.play():
                self._explain_refusal(None)
        else:
            self.controller.pause()
        self._refresh_actions()

    def skip_animation(self) -> None:
        self.animator.skip()
        self.gradients.finish_morph()

    def reset(self) -> None:
        if self._can_step():
            self.controller.reset()

    def _can_step(self) -> bool:
        if not self._valid:
            reason = self.window.validity()[1]
            self.window.show_message(f"Cannot train: {reason}")
            return False
        if not self.history.is_live:
            self.history.go_live()
        self.controller.sync_session()
        return True

    def _explain_refusal(self, phase: str | None) -> None:
        controller = self.controller
        if controller.session is None:
            problem = self.window.session_link.problem or "no session"
            self.window.show_message(f"Cannot train: {problem}")
        elif controller.busy:
            self.window.show_message("Wait: a phase is running")
        elif phase is not None and phase != controller.next_phase:
            self.window.show_message(f"{phase} is not next: run {controller.next_phase} first")

    # -- state -> widgets --------------------------------------------------------------------------
    def _refresh_actions(self) -> None:
        c = self.controller
        valid = self._valid
        for phase, (name, _) in PHASE_ACTIONS.items():
            self.actions[name].setEnabled(valid and c.can_run(phase))
        self.actions["actionNextPhase"].setEnabled(valid and c.can_run())
        self.actions["actionRunIteration"].setEnabled(valid and c.can_run())
        play = self.actions["actionPlay"]
        play.setEnabled(valid and (c.playing or not c.busy))
        if play.isChecked() != c.playing:
            play.blockSignals(True)
            play.setChecked(c.playing)
            play.blockSignals(False)
        if play.text() != ("Pause" if c.playing else "Play"):  # icons are rendered: only on change
            play.setText("Pause" if c.playing else "Play")
            theme.bind_icon(play, "training-pause" if c.playing else "training-play")
        self.actions["actionSkipAnimation"].setEnabled(self.animator.animating or self.gradients.morphing)
        self.actions["actionResetTraining"].setEnabled(valid and not c.busy)
        if not c.busy and self.history.is_live and not self.animator.animating:
            session = c._session  # not c.session: that may build one (and load torch) at start-up
            if session is not None:
                self.indicator.set_state(session.iteration, session.next_phase)

    def _on_validity(self, valid: bool, _reason: str = "") -> None:
        self._valid = bool(valid)
        if not valid:
            self.controller.pause()
        self._refresh_actions()

    def _on_speed(self, value: int) -> None:
        factor = speed_factor(value)
        self.controller.set_speed(factor)
        self.gradients.set_speed(factor)
        self.speed_label.setText(f"{factor:.2g}×")

    def set_speed(self, factor: float) -> None:
        """Speed without the slider (tests, scripts): any factor > 0."""
        self.controller.set_speed(factor)
        self.gradients.set_speed(factor)

    def _on_session(self, session) -> None:
        """Another session (or a reset one): every panel from its own state."""
        self.animator.clear_marks()  # what the last session's records drew is not this one's
        self.animator.set_session(session)
        self.banner.hide()
        self._pending_gradients = None
        if session is None:
            self.history.set_records([])
            self.gradients.set_parameters([])
            self.norms.set_parameters([])
            self.gradients.clear("No network")
            self.outputs.clear("No network")
            self.norms.set_records([])
            self.indicator.set_state(0, None)
        else:
            shapes = [(name, tuple(p.shape)) for name, p in session.model.named_parameters()]
            self.gradients.set_parameters(shapes)
            if self.gradients.current_param():
                session.watch_parameters([self.gradients.current_param()])
            self.norms.set_parameters([name for name, _ in shapes])
            self.indicator.set_optimizer(session.optimizer_name)
            self.history.set_records(list(session.history))
            self._show_live(session)
        self._refresh_actions()

    def _show_live(self, session) -> None:
        """The gradient panel, norms and phase indicator as ``session`` stands now."""
        phase_done = last_done_phase(session)
        current = session.current
        if current is not None and phase_done is not None:
            self.gradients.show_record(current, phase_done)
        else:
            self.gradients.clear()
        self.outputs.show_record(current, phase_done)
        self._refresh_norms()
        self.indicator.set_state(session.iteration, session.next_phase)

    def _on_reset(self) -> None:
        session = self.controller.session
        self._on_session(session)
        self.window.show_message("Weights reset to their starting values")

    def _on_setting(self, key: str, value) -> None:
        """A setting of the active session changed (it applies from the next iteration on)."""
        session = self.controller.session
        if key == "optimizer" and session is not None and not session.in_iteration and not self.controller.busy:
            self.indicator.set_optimizer(value)

    def _on_graph_invalidated(self, _reason: str) -> None:
        """The session's graph changed (e.g. another loss): animate on a fresh one."""
        session = self.controller.session
        if session is not None and session is getattr(self.active, "session", None) and not self.controller.busy:
            self.animator.set_session(session)

    # -- graph <-> gradient panel: one selected parameter --------------------------------------------
    def _watch_graph_view(self, view) -> None:
        if hasattr(view, "nodeClicked"):
            view.nodeClicked.connect(self._on_node_clicked)

    def _param_keys(self, view) -> dict:
        from gradviz.core.display.graph_steps import param_keys

        graph = view.graph() if view is not None else None
        return param_keys(graph) if graph is not None else {}

    def _on_node_clicked(self, key: str) -> None:
        view = self.window.graph_view
        names = {k: name for name, k in self._param_keys(view).items()}
        name = names.get(key)
        if name is not None and name != self.gradients.current_param():
            self.gradients.set_param(name)

    def _select_param_node(self, name: str) -> None:
        if not self.window.has_graph_view:
            return  # no graph on screen yet: nothing to select
        view = self.window.graph_view
        key = self._param_keys(view).get(name)
        if key is not None and view.selected_node() != key:
            view.select_node(key)

    def _on_phase_started(self, phase: str, iteration: int) -> None:
        self.indicator.set_state(iteration, phase, running=phase)
        if phase == PHASES[0]:
            session = self.controller.session
            if session is not None:
                self.indicator.set_optimizer(session.optimizer_name)
        self.animator.on_phase_started(phase, iteration)
        self.gradients.finish_morph()
        self._refresh_actions()

    def _on_phase_finished(self, result) -> None:
        session = self.controller.session
        self.animator.on_phase_finished(result)
        self.outputs.show_record(result.record, result.phase)
        if self.animator.animating:
            # torch has finished the phase, the class is still watching it:
            # its line stays highlighted until the replay ends.
            self.indicator.set_state(result.iteration, result.phase, running=result.phase)
        elif session is not None:
            self.indicator.set_state(session.iteration, session.next_phase)
        if result.phase == "backward" and self.animator.animating:
            # The gradients arrive in the panel when the animation has carried
            # them back to the parameters, not before.
            self._pending_gradients = result
        else:
            self._pending_gradients = None
            self.gradients.show_record(result.record, result.phase, animate=result.phase == "step")
        if result.phase in ("zero_grad", "step") or (result.phase == "backward" and self._pending_gradients is None):
            self._refresh_norms()
        self.window.show_message(f"Iteration {result.iteration}: {result.phase} done"
                                 + (f" · loss {result.loss:.4g}" if result.loss is not None else ""), 4000)

    def _on_animation_finished(self) -> None:
        result, self._pending_gradients = self._pending_gradients, None
        if result is not None and result.record is getattr(self.controller.session, "current", None):
            self.gradients.show_record(result.record, result.phase)
            self._refresh_norms()
        session = self.controller.session
        if session is not None and self.history.is_live:
            running = self.controller.running_phase
            self.indicator.set_state(session.iteration, running or session.next_phase, running=running)
        self._refresh_actions()

    def _on_iteration_finished(self, _record) -> None:
        session = self.controller.session
        if session is not None:
            self.history.set_records(list(session.history), memory=session.history)
        self._refresh_norms()

    def _refresh_norms(self, selected=None) -> None:
        session = self.controller.session
        if session is None:
            return
        records = list(session.history)
        current = session.current
        if current is not None and (not records or records[-1] is not current):
            records.append(current)
        self.norms.set_records(records, selected)

    def _on_nonfinite(self, first, result) -> None:
        self.animator.flag_result(result)
        names = list(getattr(result.record, "nonfinite", []) or [])
        self.gradients.set_nonfinite(names)
        message = describe_nonfinite(first)
        paused = "" if self.controller.playing else " · play paused"
        self.banner.show_message(f"{message}{paused}. Lower the learning rate and reset the weights to go on.")
        self.window.show_message(_plain(message), 15000)

    def _on_failed(self, message: str) -> None:
        self.banner.show_message(f"The phase failed: {html.escape(message)}")
        self.window.show_message(f"Training failed: {message}", 15000)
        session = self.controller.session
        if session is not None and session.next_phase in ("forward", "loss"):
            from gradviz.ui.crash_view import show_partial_graph

            show_partial_graph(self.window, session)  # the graph up to the op that failed

    def _on_busy(self, busy: bool) -> None:
        self.history.set_navigation_enabled(not busy)
        self._refresh_actions()

    def _on_playing(self, _playing: bool) -> None:
        self._refresh_actions()

    def _on_history(self, record, phase: str) -> None:
        session = self.controller.session
        if record is None:  # live again
            phase_done = last_done_phase(session)
            current = session.current if session is not None else None
            if current is not None and phase_done is not None:
                self.animator.show_state(current, phase_done)
                self.gradients.show_record(current, phase_done)
            self.outputs.show_record(current, phase_done)
            if session is not None:
                self.indicator.set_state(session.iteration, session.next_phase)
            self._refresh_norms()
            return
        self.animator.show_state(record, phase)
        self.gradients.show_record(record, phase)
        self.outputs.show_record(record, phase)
        self.indicator.show_history(record.index, phase)
        self._refresh_norms(selected=record)

    def _graph_view(self):
        """The window's graph view, brought to the front (the animation draws on it)."""
        view = self.window.graph_view
        if self.window.central.currentWidget() is not view:
            self.window.central.setCurrentWidget(view)
        return view


class _VerticalScrollArea(QScrollArea):
    """Scrolls up and down; as wide as its content needs (code must not be cut),
    up to ``width_cap()`` px: beyond that (lecture text at 200 % on a small
    screen) it scrolls sideways too rather than push the window past the screen.

    The content's minimum width changes with the font (zoom, lecture mode) and
    the optimizer (manual_sgd's longer line); every relayout of the content
    updates the area's own minimum width, which the dock respects.
    """

    def __init__(self, parent=None, *, width_cap=None):
        super().__init__(parent)
        self._width_cap = width_cap

    def setWidget(self, widget: QWidget) -> None:
        super().setWidget(widget)
        widget.installEventFilter(self)
        self._follow_content()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._follow_content()
        return False

    def _follow_content(self) -> None:
        content = self.widget()
        if content is not None:
            width = content.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width()
            if self._width_cap is not None:
                width = min(width, int(self._width_cap()))
            if width != self.minimumWidth():
                self.setMinimumWidth(width)


def _plain(text: str) -> str:
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", text))


def install_training_ui(window: "WindowHost") -> TrainingUI:
    """Add step-through training to ``window`` (a MainWindow); returns what was added."""
    from gradviz.ui.training.inspection import install_inspection

    ui = TrainingUI(window)
    window.training_ui = ui
    install_inspection(ui)  # node inspector, Step node ▶, numbers mode
    return ui
