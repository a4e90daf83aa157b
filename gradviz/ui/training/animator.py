"""GraphAnimator: plays each training phase on the GraphView.

* forward: the graph builds up, nodes appearing in the order the forward pass
  created them (parameters with the op that uses them);
* loss: the loss ops and the output node appear;
* backward: the trace order is replayed, the running node orange, finished
  ones pale, and every edge the gradient has flowed along drawn with width and
  colour by the norm of that gradient;
* step: the parameters light up one after the other as they are updated;
* zero_grad: gradients cleared: the graph (freed by the last backward) is gone.

Durations scale with the speed (1 = classroom pace); :meth:`skip` jumps to
the end of the running animation. The GraphView keeps all state in node keys,
so calls made while its layout still runs are applied once it is ready.

The graph shown comes from ``session.preview_graph()`` (the same keys as the
iteration's own graph, and available before the forward pass has run); an
iteration whose graph differs is shown with its own (detached) graph.
"""
from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from gradviz.core.display import graph_steps as steps
from gradviz.ui.worker import run_task

# Time per node at speed 1, and the most one phase may take (big graphs).
FORWARD_NODE_MS = 220
BACKWARD_NODE_MS = 320
STEP_PARAM_MS = 260
MAX_PHASE_MS = 9000
FRAME_MS = 16
FOLLOW_MAX_SPEED = 2.0


class GraphAnimator(QObject):
    """Drives a GraphView from the controller's phase results.

    ``view_source()`` returns the GraphView (created on first use) or None.
    ``finished`` fires when an animation ends or is skipped; ``animating`` says
    whether one runs. ``visited`` lists the keys the last backward animation
    visited, in order; ``revealed`` the keys the last build-up revealed.
    """

    finished = Signal()
    started = Signal(str)
    # (phase, key): the replay made this node the active one (the inspector follows)
    nodeActivated = Signal(str, str)
    # show_state put a record's state on the view (also when the graph arrived after the phase)
    stateShown = Signal()

    def __init__(self, view_source: Callable[[], object], parent: QObject | None = None,
                 existing_view_source: Callable[[], object] | None = None):
        super().__init__(parent)
        self._view_source = view_source
        self._existing_view_source = existing_view_source
        self._signatures: list = []
        self._template_order: list = []
        self._session = None
        self._template = None  # the graph on screen for the live session
        self._template_signature = None
        self._template_task = None
        self._speed = 1.0
        self.follow_active = None  # None: follow only big graphs
        self.visited: list = []
        self.revealed: list = []
        self.flagged: set = set()  # keys flagged red (NaN/Inf) on the view
        self.skipped = False
        self._missed = None  # a phase result that came before the graph to show it on

        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._phase: str | None = None
        self._items: list = []
        self._apply: Callable | None = None
        self._final: Callable | None = None  # the end state (also what skip shows)
        self._key_of: Callable = lambda item: item  # the node an item makes active
        self._batch = 1
        self._waiting_view = False
        # Step node: the running animation waits for step_node() instead of its timer
        self._paused = False
        self._pause_next = False
        self.record = None  # the record the last animation or state showed
        # backward replay state
        self._weights: dict = {}
        self._active = None

    # -- settings --------------------------------------------------------------------
    @property
    def animating(self) -> bool:
        return self._phase is not None

    @property
    def running_phase(self) -> str | None:
        """The phase being animated (None when no animation runs)."""
        return self._phase

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, factor: float) -> None:
        self._speed = max(1e-3, float(factor))

    # -- session and graph -------------------------------------------------------------
    def set_session(self, session) -> None:
        self.skip()
        self._session = session
        self._template = self._template_signature = None
        self._template_task = None
        self._template_order = []
        self._signatures = []
        self.flagged = set()
        self._missed = None

    def clear_marks(self) -> None:
        """Take what the last records drew off the view (highlights, NaN/Inf flags,
        edge weights, gradient norms in the details), e.g. after a reset."""
        self.skip()
        self.flagged = set()
        view = self._existing_view()
        if view is not None:
            view.clear_highlights()
            view.set_gradient_stats({})
            view.show_all_nodes()
            self._show_loss(view, self._template, None, None)

    def prepare(self) -> None:
        """Fetch the graph to animate (one forward + loss, in the worker) if there is none yet."""
        session = self._session
        if session is None or self._template is not None or self._template_task is not None:
            return
        if getattr(session, "record_level", "full") != "full":
            return  # light records have no graph to replay

        def done(graph):
            if session is self._session:
                self._template_task = None
                if self._template is None:
                    self._template_order = list(graph.graph.get("creation_order", ()))
                    # The view may already show this very graph (Show graph, Open
                    # Model): keep it, so nothing is laid out again.
                    view = self._existing_view()
                    shown = view.graph() if view is not None else None
                    if shown is not None and "fn" not in shown.graph and self._signature(shown) == self._signature(graph):
                        graph = shown
                    self._use_graph(graph, show=False)
                    missed, self._missed = self._missed, None
                    if missed is not None and missed.record is getattr(session, "current", None) and not self.animating:
                        # forward finished before the graph arrived (the first
                        # iteration): show where it stands instead of a blank view
                        self.show_state(missed.record, missed.phase)

        def failed(_exc, _details):
            if session is self._session:
                self._template_task = None  # the phase itself will report the problem

        self._template_task = run_task(lambda task: session.preview_graph(), on_done=done, on_error=failed)

    @property
    def graph(self):
        """The graph the live animation runs on."""
        return self._template

    @property
    def graph_order(self) -> list:
        """The op keys of :attr:`graph` in the order forward and loss create them."""
        if self._template is None:
            return []
        return list(self._template.graph.get("creation_order") or self._template_order)

    def _view(self):
        return self._view_source() if self._view_source is not None else None

    def _existing_view(self):
        """The view if it exists already (without creating it)."""
        return self._existing_view_source() if self._existing_view_source is not None else None

    def _signature(self, graph):
        """``structure_signature`` cached per graph: big graphs take a while to compare."""
        for cached, signature in self._signatures:
            if cached is graph:
                return signature
        signature = steps.structure_signature(graph)
        self._signatures = [(graph, signature)] + self._signatures[:7]
        return signature

    def _use_graph(self, graph, *, show: bool = True):
        """Make ``graph`` the one animated (and put it on the view when ``show``)."""
        self._template = graph
        self._template_signature = self._signature(graph)
        if show:
            self._ensure_on_view(graph)

    def _ensure_on_view(self, graph):
        view = self._view()
        if view is None or graph is None:
            return None
        shown = view.graph()
        if shown is not graph:
            if graph is self._template and shown is not None and "fn" not in shown.graph \
                    and self._signature(shown) == self._template_signature:
                self._template = shown  # e.g. Show graph drew the same network again: no new layout
            else:
                view.set_graph(graph)
        view.set_stale(None)  # the animator only holds the live session's graphs: current, whatever was drawn before
        return view

    def _graph_for(self, record):
        """The graph to show for ``record``: the template when it has the same
        structure (no re-layout), else the record's own once it is detached."""
        own = getattr(record, "graph", None)
        if own is None:
            return self._template
        if self._template is not None:
            if own is self._template:
                return own
            if self._signature(own) == self._template_signature:
                return self._template
        if "fn" in own.graph:  # still holds autograd Nodes (before backward): not for the view
            return self._template
        return own

    # -- live phases ---------------------------------------------------------------------
    def on_phase_started(self, phase: str, _iteration: int) -> None:
        self.skip()  # a new phase begins: the last animation ends where it would have
        if phase in ("zero_grad", "forward"):
            self.prepare()

    def on_phase_finished(self, result) -> None:
        record = result.record
        self.record = record
        graph = self._graph_for(record)
        if graph is None:
            self._missed = result
            return
        self._missed = None
        if graph is not self._template:
            self._use_graph(graph, show=False)
        view = self._ensure_on_view(graph)
        if view is None:
            return
        phase = result.phase
        if phase == "zero_grad":
            self.show_state(record, "zero_grad")
        elif phase == "forward":
            self._animate_build(record, "forward")
        elif phase == "loss":
            self._animate_build(record, "loss")
        elif phase == "backward":
            self._animate_backward(record)
        elif phase == "step":
            self._animate_step(record)

    def _creation(self, record, graph):
        order = list(getattr(record, "creation_order", None) or graph.graph.get("creation_order")
                     or (self._template_order if graph is self._template else []))
        return steps.split_creation_order(graph, order, record)

    def _animate_build(self, record, phase: str) -> None:
        graph = self._template
        forward, loss = self._creation(record, graph)
        view = self._view()
        if phase == "forward":
            view.clear_highlights()
            view.hide_all_nodes()
            groups = steps.reveal_groups(graph, forward)
        else:
            groups = steps.reveal_groups(graph, loss, already=set(self._forward_nodes(graph, forward)))
            groups.append(steps.output_nodes(graph))
        self.revealed = []
        state = {"previous": None}

        def apply(group):
            view.reveal_nodes(group)
            self.revealed.extend(group)
            op = group[-1]
            if state["previous"] is not None:
                view.highlight_nodes([state["previous"]], None)
            view.highlight_nodes([op], "active")
            state["previous"] = op
            self._follow(view, op)
            self.nodeActivated.emit(phase, str(op))

        def final():
            self.show_state(record, phase)

        self._play(phase, groups, FORWARD_NODE_MS, apply, final, key_of=lambda group: group[-1])

    def _forward_nodes(self, graph, forward):
        return [k for group in steps.reveal_groups(graph, forward) for k in group]

    def _animate_backward(self, record) -> None:
        graph = self._template
        view = self._view()
        order = [k for k in (record.backward_order or []) if k in graph]
        norms = record.node_grad_norms or {}
        edge_norms = getattr(record, "edge_grad_norms", None)
        view.show_all_nodes()
        view.clear_highlights()
        self._flag(record, "backward")
        self.visited = []
        self._weights = {}
        self._active = None

        def apply(key):
            if self._active is not None:
                view.highlight_nodes([self._active], "visited")
            view.highlight_nodes([key], "active")
            self._active = key
            self._weights.update(steps.incoming_edge_weights(graph, key, norms, edge_norms))
            view.set_edge_weights(_finite_weights(self._weights))
            self.visited.append(key)
            self._follow(view, key)
            self.nodeActivated.emit("backward", str(key))

        def final():
            self.show_state(record, "backward")

        self._play("backward", order, BACKWARD_NODE_MS, apply, final)

    def _animate_step(self, record) -> None:
        graph = self._template
        view = self._view()
        params = steps.param_keys(graph)
        names = list(record.params_after or record.grads or params)
        order = [params[n] for n in names if n in params]
        self.show_state(record, "backward")  # the gradients stay visible while the step uses them
        state = {"previous": None}

        def apply(key):
            # One parameter is updated at a time: the one before is done and
            # back in its normal colour (it holds its new value now).
            if state["previous"] is not None:
                view.highlight_nodes([state["previous"]], None)
            view.highlight_nodes([key], "active")
            state["previous"] = key
            self.nodeActivated.emit("step", str(key))

        def final():
            self.show_state(record, "step")

        self._play("step", order, STEP_PARAM_MS, apply, final)

    # -- static states (time travel, skip) -------------------------------------------------
    def show_state(self, record, phase: str) -> None:
        """Show the graph of ``record`` as it was right after ``phase``, without animation."""
        self.record = record
        graph = self._graph_for(record) if record is not None else self._template
        view = self._ensure_on_view(graph)
        if view is None or graph is None:
            return
        view.clear_highlights()
        forward, _loss = self._creation(record, graph)
        self._show_loss(view, graph, record, phase)
        if phase == "zero_grad":
            view.hide_all_nodes()  # the previous graph was freed; forward builds a new one
            self.stateShown.emit()
            return
        if phase == "forward":
            view.hide_all_nodes()
            view.reveal_nodes(self._forward_nodes(graph, forward), fade=False)
        else:
            view.show_all_nodes()
        if phase in ("backward", "step"):
            order = [k for k in (record.backward_order or []) if k in graph]
            view.highlight_nodes(order, "visited")
            weights = steps.backward_edge_weights(graph, order, record.node_grad_norms or {},
                                                  getattr(record, "edge_grad_norms", None))
            view.set_edge_weights(weights)
            view.set_gradient_stats({k: {"norm": v} for k, v in (record.node_grad_norms or {}).items() if v is not None})
        if phase == "step":
            # The step is over: the parameters hold their new values and are
            # drawn as parameters again, not as "active" or "visited".
            view.highlight_nodes(steps.param_keys(graph).values(), None)
        # After the step nothing computes any more: no node stays "active" (orange).
        self._flag(record, phase)
        self.stateShown.emit()

    def _show_loss(self, view, graph, record, phase: str | None) -> None:
        """The loss value beside the loss node once the loss phase computed it."""
        if graph is None or not hasattr(view, "set_node_note"):
            return
        text = steps.loss_note(record, phase)
        for key in steps.output_nodes(graph):
            view.set_node_note(key, text)

    def _flag(self, record, phase: str) -> None:
        graph = self._template if self._graph_for(record) is self._template else record.graph
        view = self._view()
        if view is None or graph is None or not record.nonfinite:
            return
        forward, _ = self._creation(record, graph)
        names = steps.nonfinite_until(record.nonfinite, graph, phase)
        keys = steps.nonfinite_keys(graph, names, forward)
        self.flagged = set(keys)
        view.flag_nodes(keys)

    def flag_result(self, result) -> None:
        """NaN/Inf found by a phase: flag its nodes now (also mid-animation)."""
        if self._template is None:
            return
        view = self._view()
        if view is None:
            return
        forward, _ = self._creation(result.record, self._template)
        keys = steps.nonfinite_keys(self._template, result.nonfinite, forward)
        self.flagged |= set(keys)
        view.flag_nodes(keys)

    # -- the player ------------------------------------------------------------------------------
    def _play(self, phase: str, items: list, node_ms: float, apply: Callable, final: Callable,
              key_of: Callable = lambda item: item) -> None:
        """Play ``items`` one ``apply`` at a time, then ``final``; ``key_of(item)``: the
        node an item makes active (what a skip shows as the last one)."""
        if self._phase is not None:  # a new phase ends the running one where it is: no overview
            self._end(skipped=True, superseded=True)
        self._key_of = key_of
        self.skipped = False
        pause, self._pause_next = self._pause_next, False
        if not items:
            final()
            return
        per_item = min(node_ms, MAX_PHASE_MS / len(items)) / self._speed
        self._batch = max(1, math.ceil(FRAME_MS / per_item)) if per_item < FRAME_MS else 1
        self._timer.setInterval(max(FRAME_MS, round(per_item)) if self._batch == 1 else FRAME_MS)
        self._phase, self._items, self._apply, self._final = phase, list(items), apply, final
        self._paused = pause
        self.started.emit(phase)
        view = self._view()
        if view is not None and not view.is_ready():
            # The layout still runs: start once the nodes have places.
            self._waiting_view = True
            view.ready.connect(self._view_ready)
        else:
            self._tick()
            if self._phase is not None and not self._paused:
                self._timer.start()

    # -- step node ---------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """True while an animation waits for :meth:`step_node` (Step node ▶)."""
        return self._phase is not None and self._paused

    def pause_next(self, on: bool = True) -> None:
        """The next animation starts paused on its first node (``on=False``: it does not)."""
        self._pause_next = bool(on)

    def step_node(self) -> bool:
        """Pause the running animation (if it plays) and advance it by one node.

        False when no animation runs. The last step ends the animation."""
        if self._phase is None:
            return False
        self._paused = True
        self._timer.stop()
        if self._waiting_view:
            return True  # it starts (on its first node) once the layout is ready
        if self._items:
            self._apply(self._items.pop(0))
        if not self._items:
            self._end(skipped=False)
        return True

    def _view_ready(self) -> None:
        view = self._view()
        if view is not None:
            try:
                view.ready.disconnect(self._view_ready)
            except (RuntimeError, TypeError):
                pass
        if self._waiting_view and self._phase is not None:
            self._waiting_view = False
            if self._paused:
                self.step_node()
                return
            self._tick()
            if self._phase is not None:
                self._timer.start()

    def _tick(self) -> None:
        if self._paused:  # the first node of a paused start: one at a time from here
            if self._items:
                self._apply(self._items.pop(0))
            if not self._items:
                self._end(skipped=False)
            return
        for _ in range(self._batch):
            if not self._items:
                break
            self._apply(self._items.pop(0))
        if not self._items:
            self._end(skipped=False)

    def skip(self) -> None:
        """Jump to the end of the running animation (nothing happens when none runs)."""
        if self._phase is not None:
            self._end(skipped=True)

    def _end(self, *, skipped: bool, superseded: bool = False) -> None:
        """Show the end state. ``skipped``: before its last item; ``superseded``: because
        the next phase starts (it ends where it is, no overview between the two)."""
        phase, remaining = self._phase, self._items
        self._timer.stop()
        if self._waiting_view:
            self._waiting_view = False
            view = self._view()
            try:
                view.ready.disconnect(self._view_ready)
            except (RuntimeError, TypeError, AttributeError):
                pass
        final = self._final
        self._phase, self._items, self._apply, self._final = None, [], None, None
        self._paused = False
        self.skipped = skipped
        if final is not None:
            final()
        if not superseded:
            if skipped and remaining:
                # Where the played replay would have ended: its last node active (the
                # node inspector showed the first one after F9, the loss).
                self.nodeActivated.emit(phase, str(self._key_of(remaining[-1])))
            # and the whole graph again: a skipped followed replay left the camera
            # zoomed in on the node it started at
            self._overview()
        self.finished.emit()

    def _following(self) -> bool:
        if self.follow_active is not None:
            return self.follow_active
        # At classroom pace the camera follows the running node, zoomed in so
        # its label can be read from the back; fast play would only shake.
        return self._speed <= FOLLOW_MAX_SPEED

    def _follow(self, view, key) -> None:
        if self._following():
            view.center_on(key, animate=True, zoom_in=True)

    def _overview(self) -> None:
        """After a followed animation: the whole graph again, with what it now shows."""
        view = self._view()
        if view is not None and self._following() and hasattr(view, "fit_to_window"):
            view.fit_to_window(animate=True)


def _finite_weights(weights: dict) -> dict:
    finite = [w for w in weights.values() if math.isfinite(w)]
    top = max(finite, default=1.0)
    return {e: (w if math.isfinite(w) else top) for e, w in weights.items()}
