"""Wire the node inspector, Step node ▶ and numbers mode into the training UI.

``install_inspection(training_ui)`` adds

* the ``nodeInspectorDock`` ("Node inspector", a tab beside the gradients):
  it follows the active node of the replay, a node clicked in the graph, and
  its own "gradient out" links (which select and centre the node they name);
* ``actionStepNode`` (F6, Run menu and Step toolbar): pauses the running
  animation and advances it one node; with none running, runs the next phase
  paused on its first node;
* ``actionNumbersMode`` (View menu, checked): values and gradients on the
  nodes of tiny networks (:mod:`gradviz.ui.training.numbers_mode`), with the
  input/target fields in the Training step panel.

Per-node gradients cost a copy of every tensor, so the session records them
only while someone can look: the inspector is shown, or numbers mode is on
for a tiny network. That applies from the next iteration on.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer

from gradviz.ui.training.node_inspector import NOT_RECORDED, NodeInspector
from gradviz.ui.training.numbers_mode import NumbersMode

STEP_NODE_SHORTCUT = "F6"
STEP_NODE_PHASES = ("forward", "loss", "backward", "step")  # the phases replayed node by node
# Redrawing the inspector takes 15–90 ms (bench/node_inspector.py); a fast replay
# moves on every 16 ms. It follows at most this often (and always to the last node).
FOLLOW_INTERVAL_MS = 150


class Inspection(QObject):
    """What :func:`install_inspection` added; kept on ``training_ui.inspection``."""

    def __init__(self, ui):
        super().__init__(ui)
        self.ui = ui
        window = ui.window
        self.inspector = NodeInspector()
        self.dock = window.add_panel(self.inspector, "Node inspector", "nodeInspectorDock",
                                     Qt.DockWidgetArea.BottomDockWidgetArea)
        self._pending_key: str | None = None
        self._follow_timer = QTimer(self)
        self._follow_timer.setSingleShot(True)
        self._follow_timer.setInterval(FOLLOW_INTERVAL_MS)
        self._follow_timer.timeout.connect(self._show_pending)
        self.numbers = NumbersMode(ui.animator, lambda: window.graph_view if window.has_graph_view else None,
                                   window.show_message, parent=self)
        # under the phase list, above the history: what the next iteration will compute with
        ui.training_panel.widget().layout().insertWidget(1, self.numbers.panel)

        self.step_action = ui.add_action("actionStepNode", "Step node ▶", self.step_node, STEP_NODE_SHORTCUT, None,
                                         "Pause the replay and advance it one node; the node inspector follows")
        self.numbers_action = ui.add_action("actionNumbersMode", "Numbers on nodes", self.set_numbers_mode, None, None,
                                            "Show each node's value and gradient on the node (tiny networks)",
                                            checkable=True)
        self.numbers_action.setChecked(True)
        window.menus["run"].insertAction(ui.actions["actionSkipAnimation"], self.step_action)
        window.menus["view"].addAction(self.numbers_action)
        ui.toolbar.insertAction(ui.actions["actionPlay"], self.step_action)

        ui.animator.nodeActivated.connect(self._on_node_activated)
        ui.animator.started.connect(lambda _phase: self._refresh_action())
        ui.animator.finished.connect(self._refresh_action)
        ui.controller.sessionChanged.connect(self._on_session)
        ui.controller.phaseFinished.connect(self._on_phase_finished)
        ui.controller.stateChanged.connect(self._refresh_action)
        ui.controller.busyChanged.connect(lambda _busy: self._refresh_action())
        ui.history.selectionChanged.connect(self._on_history)
        self.inspector.nodeRequested.connect(self.go_to)
        self.dock.visibilityChanged.connect(lambda _visible: self._update_recording())
        window.graphViewCreated.connect(self._watch_view)
        if window.has_graph_view:
            self._watch_view(window.graph_view)
        window.add_default_layout_step(self.default_layout)
        # In lecture mode too a tab behind the gradients: the presenter column holds the
        # code and the gradients; the inspector is one click away, not a third row.
        window.add_lecture_layout_step(self.default_layout)
        self.default_layout()
        self._on_session(ui.controller._session)  # not .session: that may build one (and load torch) at start-up

    # -- layout -----------------------------------------------------------------------------
    def default_layout(self) -> None:
        """A tab beside the gradients (it needs their width for heatmaps and formulas)."""
        dock = self.dock
        dock.setFloating(False)
        self.ui.window.tabifyDockWidget(self.ui.gradient_dock, dock)
        dock.show()
        self.ui.gradient_dock.raise_()

    # -- session and recording ----------------------------------------------------------------
    def _on_session(self, session) -> None:
        self.numbers.set_session(session)
        self.inspector.clear()
        self._update_recording()
        self._refresh_action()

    def set_numbers_mode(self, on: bool) -> None:
        """Tags on the nodes of tiny networks on or off (node gradients are recorded while they show)."""
        self.numbers.set_enabled(on)
        self._update_recording()

    def wants_node_gradients(self) -> bool:
        return self.dock.isVisible() or self.numbers.active

    def _update_recording(self) -> None:
        session = self.numbers.session
        if session is None or getattr(session, "record_level", "full") != "full":
            return
        want = self.wants_node_gradients()
        session.source_lines = want  # inspecting: the user's lines too, from the next iteration on
        if bool(getattr(session, "node_gradients", False)) != want:
            try:
                session.set_node_gradients(want)
            except ValueError:
                return
        if want and self.inspector.shown_key is None and not self._record_has_gradients():
            record = self.ui.animator.record
            if record is not None and getattr(record, "backward_order", None):
                self.inspector.clear(NOT_RECORDED)

    def _record_has_gradients(self) -> bool:
        return bool(getattr(self.ui.animator.record, "node_gradients", None))

    # -- following the replay, clicks and links ------------------------------------------------
    def _watch_view(self, view) -> None:
        view.nodeClicked.connect(self.show_node)

    def show_node(self, key: str) -> None:
        """Inspect ``key`` in the record the graph shows now."""
        animator = self.ui.animator
        # the graph on screen: before the loss phase the record has none of its own
        self.inspector.show_node(animator.record, key, animator.graph, animator.graph_order)

    def go_to(self, key: str) -> None:
        """A "gradient out" link: select and centre that node, and inspect it."""
        self.ui.window.graph_view.select_node(key, center=True)
        self.show_node(key)

    def _on_node_activated(self, _phase: str, key: str) -> None:
        if not self.dock.isVisible():
            return
        self._pending_key = key
        if self.ui.animator.paused or not self._follow_timer.isActive():
            self._show_pending()  # at once; later nodes of a fast replay wait for the timer
            self._follow_timer.start()

    def _show_pending(self) -> None:
        key, self._pending_key = self._pending_key, None
        if key is not None:
            self.show_node(key)

    def _on_phase_finished(self, _result) -> None:
        if not self.ui.animator.animating:
            self._reshow()
            self.numbers.refresh()

    def _on_history(self, _record, _phase) -> None:
        self._reshow()
        self.numbers.refresh()

    def _reshow(self) -> None:
        if self.inspector.shown_key is not None:
            self.show_node(self.inspector.shown_key)

    # -- Step node ▶ ---------------------------------------------------------------------------
    def step_node(self) -> bool:
        """Advance the replay one node; with none running, run the next phase paused on its first node."""
        ui = self.ui
        animator = ui.animator
        if animator.step_node():
            self._refresh_action()
            return True
        controller = ui.controller
        phase = controller.next_phase if controller.session is not None else None
        if phase in STEP_NODE_PHASES:
            animator.pause_next()
        ok = ui.run_phase(None)
        if not ok:
            animator.pause_next(False)
        elif phase in STEP_NODE_PHASES:
            ui.window.show_message(f"{phase}: {STEP_NODE_SHORTCUT} shows the next node, F9 the end", 6000)
        return ok

    def _refresh_action(self) -> None:
        controller = self.ui.controller
        self.step_action.setEnabled(self.ui.animator.animating or (self.ui.network_valid and controller.can_run()))


def install_inspection(ui) -> Inspection:
    """Add the node inspector, Step node ▶ and numbers mode to ``ui`` (a TrainingUI)."""
    inspection = Inspection(ui)
    ui.inspection = inspection
    return inspection
