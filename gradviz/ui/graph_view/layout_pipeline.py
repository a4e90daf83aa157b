"""How the view gets from a graph to a scene: the layout off the GUI thread, the
morph between layouts, the anchor that keeps a clicked box in place, and being
out of date.

Part of :class:`~gradviz.ui.graph_view.view.GraphView` (a mixin over its state)."""
from __future__ import annotations

from typing import Hashable

import networkx as nx
import numpy as np
from PySide6.QtCore import QEventLoop, QPointF, QRectF, QTimer

from gradviz.core import collapse as collapse_logic
from gradviz.core.collapse import box_module, node_module
from gradviz.core.layout import LayoutCancelled
from gradviz.ui.worker import run_task

from .layout_job import SceneLayout, compute_layout, layout_state
from .model import SceneModel
from .stale import STALE_OPACITY
from .transition import Transition
from .tuning import ANIMATE_MAX_NODES, AUTO_COLLAPSE_NODES, LAYOUT_CACHE_SIZE, PROGRESS_MIN_NODES, SCENE_MARGIN


class _LayoutPipeline:
    # ------------------------------------------------------------------------------
    # out of date

    @property
    def stale(self) -> bool:
        """True while the graph is marked out of date (:meth:`set_stale`)."""
        return self.stale_banner.isVisibleTo(self.canvas)

    def stale_message(self) -> str:
        """The banner's text while :attr:`stale`, else ``""``."""
        return self.stale_banner.text() if self.stale else ""

    def set_stale(self, message: str | None) -> None:
        """Mark the graph out of date (dimmed, with ``message`` in a banner); None: current again."""
        if message:
            self.stale_banner.setText(message)
            self.stale_banner.show()
            self.stale_banner.place(self.canvas.viewport())
            self.stale_banner.raise_()
        else:
            self.stale_banner.hide()
        self.item.setOpacity(STALE_OPACITY if message else 1.0)
        self.notes.set_opacity(STALE_OPACITY if message else 1.0)  # a value of an out-of-date graph is out of date too

    def _request_layout(self, collapsed: frozenset[str] | None, *, animate: bool, anchor: Hashable | None = None) -> None:
        """Show the graph with ``collapsed`` modules (None: choose a readable depth)."""
        graph = self._graph
        if graph is None:
            return
        self._is_ready = False
        self._remember_anchor(anchor)
        tag_room = self._tag_room(graph)
        self._requested_room = layout_state((), False, (), tag_room)[3]  # what the coming layout makes room for
        if collapsed is not None:
            state = layout_state(collapsed, self._show_saved, self._unfolded, tag_room)
            self._collapsed = state[0]
            if state == self._pending_state:
                return  # that layout is already being computed
            if self._layout is not None and self._layout.state == state and self._transition is None:
                self._cancel_task()
                self._fit_after_layout = False  # nothing changes, so nothing to re-fit later
                self._set_ready()  # already shown
                return
            cached = self._cache.get(state)
            if cached is not None:
                self._cancel_task()
                self._cache.move_to_end(state)
                self._apply_layout(cached, animate=animate)
                return
        self._cancel_task()
        self._generation += 1
        generation = self._generation
        metrics, show_saved, positions, unfolded = self.metrics, self._show_saved, self._given_positions, self._unfolded

        def job(task):  # worker thread: no Qt objects in here
            chosen = collapsed
            if chosen is None:
                task.report(0.0, "choosing a readable collapse depth")
                chosen = collapse_logic.readable_collapse(graph, AUTO_COLLAPSE_NODES)
            return compute_layout(
                graph,
                chosen,
                metrics=metrics,
                show_saved=show_saved,
                unfolded=unfolded,
                tag_room=tag_room,
                positions=positions,
                progress=task.report,
                cancel=lambda: task.cancelled,
            )

        self._pending_state = layout_state(collapsed, show_saved, unfolded, tag_room) if collapsed is not None else ("auto",)
        big = graph.number_of_nodes() >= PROGRESS_MIN_NODES
        self._task = run_task(
            job,
            on_done=lambda result: self._on_layout_done(generation, result, animate),
            on_error=lambda exc, details: self._on_layout_error(generation, exc, details),
            on_progress=(lambda f, m: self._on_layout_progress(generation, f, m)) if big else None,
        )
        if big:
            self.progress_panel.begin(f"Laying out {graph.number_of_nodes():,} nodes…")
            self._place_overlays()

    def _cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._pending_state = None
        self.progress_panel.hide()

    def _on_layout_progress(self, generation: int, fraction: float, message: str) -> None:
        if generation == self._generation and _alive(self):
            self.progress_panel.report(fraction, message)

    def _on_layout_error(self, generation: int, exc: BaseException, details: str) -> None:
        if not _alive(self):
            return  # its view was closed and deleted while the layout ran
        if generation != self._generation:
            return
        self._task, self._pending_state = None, None
        self.progress_panel.hide()
        if isinstance(exc, LayoutCancelled):
            return
        self._set_ready()
        self.layoutFailed.emit(f"{type(exc).__name__}: {exc}")

    def _on_layout_done(self, generation: int, layout: SceneLayout, animate: bool) -> None:
        if not _alive(self):
            return  # its view was closed and deleted while the layout ran
        if generation != self._generation:
            return  # a newer request replaced this one
        self._task, self._pending_state = None, None
        self.progress_panel.hide()
        self._cache[layout.state] = layout
        while len(self._cache) > LAYOUT_CACHE_SIZE:
            self._cache.popitem(last=False)
        self._collapsed, self._unfolded = layout.state[0], layout.state[2]
        self._apply_layout(layout, animate=animate)

    def _apply_layout(self, layout: SceneLayout, *, animate: bool) -> None:
        old = self._layout
        self._layout = layout
        self._morph.stop()
        self._transition = None
        anchor, self._anchor = self._anchor, None
        self._update_controls()
        morph = (
            animate
            and self.animations_enabled
            and old is not None
            and self.isVisible()
            and len(old.graph) + len(layout.graph) <= ANIMATE_MAX_NODES
        )
        if morph:
            self._transition = Transition(old, layout)
            self._show_model(self._transition.model)
            # room for every frame: where things start and where they end
            final, start = layout.node_bounds(), self._transition.model.bounds()
            margin = SCENE_MARGIN + 60  # edges curve a little beyond the boxes
            self._set_content_bounds(
                (min(final[0], start[0]) - margin, min(final[1], start[1]) - margin,
                 max(final[2], start[2]) + margin, max(final[3], start[3]) + margin)
            )
            if self._fit_after_layout:  # zoom to the new picture while it morphs
                self._fit_after_layout = False
                self._anchor_pan = None
                self.fit_to_window(animate=True)
                self._auto_fit = True
            else:
                self._start_anchor_pan(anchor, layout)
            self._morph.start()
            return
        self._show_model(SceneModel.from_layout(layout))
        self._update_scene_rect()
        if self._fit_after_layout:
            self._fit_after_layout = False
            self.fit_to_window(animate=False)
            self._auto_fit = True
        elif anchor is not None:
            target = self._anchor_target(anchor, layout)
            if target is not None:
                self.canvas.centerOn(target)
        elif self._font_anchor is not None:
            (rx, ry), (left, top, right, bottom) = self._font_anchor, layout.node_bounds()
            self.canvas.centerOn(QPointF(left + rx * (right - left), top + ry * (bottom - top)))
        self._font_anchor = None
        self._after_scene_change()

    def _show_model(self, model: SceneModel) -> None:
        self._state.project(model, self._layout.collapsed)
        self.item.visibility_version += 1
        self.canvas.reset_hover()
        self.item.set_model(model)
        if self._badges or self.item.badges:
            self._apply_badges()

    def _morph_step(self, t) -> None:
        if self._transition is None:
            return
        t = float(t)
        self._transition.apply(t)
        self.item.geometry_changed()
        if self._anchor_pan is not None:
            start, end = self._anchor_pan
            self.canvas.centerOn(start + (end - start) * t)

    def _morph_done(self) -> None:
        if self._transition is None or self._layout is None:
            return
        self._transition = None
        self._show_model(SceneModel.from_layout(self._layout))
        self._update_scene_rect()
        if self._anchor_pan is not None:
            self.canvas.centerOn(self._anchor_pan[1])
            self._anchor_pan = None
        self._after_scene_change()

    def _after_scene_change(self) -> None:
        self._refresh_legend()
        self._drawing_layout.activate()  # the legend strip takes its room now, not after "ready"
        self._place_overlays()
        self.notes.place()
        self._place_legend()
        if self._state.selected is not None:
            self._show_details(self._state.selected)
        self._is_ready = True
        self.ready.emit()

    def _set_ready(self) -> None:
        self._is_ready = True
        self.ready.emit()

    def is_ready(self) -> bool:
        """True when no layout or collapse animation is pending."""
        return self._is_ready

    def wait_until_ready(self, timeout_ms: int = 30_000) -> bool:
        """Process events until :meth:`is_ready` (tests, scripts); False on timeout."""
        if self._is_ready:
            return True
        loop = QEventLoop()
        self.ready.connect(loop.quit)
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        timer.start(timeout_ms)
        while not self._is_ready and timer.isActive():
            loop.exec()
        self.ready.disconnect(loop.quit)
        return self._is_ready

    # -- keeping the reader's place across collapse changes ---------------------------
    def _remember_anchor(self, key: Hashable | None) -> None:
        """Remember where ``key`` is, to keep it at the same place on screen.

        Without a key, the node nearest the middle of the view is kept in
        place, so expanding everything does not throw the reader elsewhere.
        """
        self._anchor = None
        model = self.item.model
        if self._layout is None or model is None or not len(model):
            return
        if key is None:
            centre = self.canvas.visible_scene_rect().center()
            key = model.keys[int(np.argmin((model.x - centre.x()) ** 2 + (model.y - centre.y()) ** 2))]
        pos = self._layout.positions.get(self._layout.collapsed.shown(key))
        if pos is not None:
            self._anchor = (key, QPointF(*pos))

    def _anchor_target(self, anchor, layout: SceneLayout) -> QPointF | None:
        """The view centre that keeps the anchor's screen position in ``layout``."""
        key, old_scene = anchor
        shown = layout.collapsed
        if shown.shown(key) in layout.positions:
            new_pos = QPointF(*layout.positions[shown.shown(key)])
        else:  # an opened box: follow the middle of what came out of it
            points = [layout.positions[shown.shown(m)] for m in self._members_of_box(key)]
            if not points:
                return None
            new_pos = QPointF(sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
        return self.canvas.visible_scene_rect().center() + (new_pos - old_scene)

    def _members_of_box(self, key: Hashable) -> list[Hashable]:
        module = box_module(key)
        if module is None or self._graph is None:
            return []
        inside = module + "."
        return [k for k, a in self._graph.nodes(data=True) if node_module(a) == module or node_module(a).startswith(inside)]

    def _start_anchor_pan(self, anchor, layout: SceneLayout) -> None:
        self._anchor_pan = None
        if anchor is not None:
            target = self._anchor_target(anchor, layout)
            if target is not None:
                self._anchor_pan = (self.canvas.visible_scene_rect().center(), target)

    def _update_scene_rect(self) -> None:
        model = self.item.model
        if model is None or not len(model):
            self.canvas.set_content_bounds(None)
            return
        self._set_content_bounds(model.bounds(margin=SCENE_MARGIN))

    def _set_content_bounds(self, bounds: tuple[float, float, float, float]) -> None:
        left, top, right, bottom = bounds
        self.canvas.set_content_bounds(QRectF(left, top, right - left, bottom - top))


def same_structure(a: nx.DiGraph, b: nx.DiGraph) -> bool:
    """Whether two graphs have the same nodes and edges in the same order (labels may differ)."""
    if a is b:
        return True
    if a.number_of_nodes() != b.number_of_nodes() or a.number_of_edges() != b.number_of_edges():
        return False
    return list(a.nodes) == list(b.nodes) and list(a.edges) == list(b.edges)


def _alive(view) -> bool:
    """False once ``view`` was deleted (a layout still running reports late)."""
    from shiboken6 import isValid

    return isValid(view) and isValid(view.progress_panel)
