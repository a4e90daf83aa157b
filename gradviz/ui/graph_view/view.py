"""GraphView: the autograd graph as an interactive diagram.

What torchviz draws as a static picture, but explorable: zoom, pan, fit,
minimap, hover tooltips, a details panel, search, collapsing modules into
boxes, export. Layout runs off the GUI thread; big graphs (>2000 nodes with
module information) open collapsed to a readable depth.

Keys are the graph's node keys (``"n12"``, ``"out0"``) everywhere in this
API; a collapsed module's box has the key ``"module:<name>"``. Calls that take
keys of nodes hidden inside a collapsed box apply to the box.

API for the training animation (cheap to call often; the state survives
collapsing and expanding)::

    view.hide_all_nodes()                   # forward build-up starts empty
    view.reveal_nodes(["n40", "n39"])       # ...nodes fade in, creation order
    view.highlight_nodes(["n3"], "active")  # the op computing right now
    view.highlight_nodes(["n3"], "visited") # done
    view.highlight_nodes(["n3"], None)      # back to normal
    view.flag_nodes(["n7"])                 # NaN/Inf: red
    view.set_edge_weights({("n4", "n3"): 0.12, ...})  # width/colour by gradient norm
    view.set_gradient_stats({"n2": {"norm": 1.3, "mean": 0.01, "max": 0.4}})
    view.center_on("n3")
    view.clear_highlights()                 # roles, flags, edge weights
    view.show_all_nodes()

Signals: ``nodeClicked(str)`` (a node or box was clicked), ``ready()`` (the
scene shows the requested graph or collapse state, animations done),
``layoutFailed(str)``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable, Iterable, Mapping

import networkx as nx
import numpy as np
from PySide6.QtCore import QEasingCurve, QEvent, QEventLoop, QPointF, QRectF, Qt, QTimer, QVariantAnimation, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QSplitter, QVBoxLayout, QWidget

from gradviz.core import collapse as collapse_logic
from gradviz.core.collapse import box_key, box_module, node_module
from gradviz.core.layout import LayoutCancelled
from gradviz.ui.worker import run_task

from . import export as exporting
from .canvas import GraphCanvas
from .details import NodeDetails, tooltip_html
from .items import GraphItem
from .layout_job import SceneLayout, compute_layout, layout_state
from .legend import Legend
from .minimap import Minimap
from .model import ROLE_ACTIVE, ROLE_CODES, ROLE_VISITED, SceneModel
from .overlays import ProgressPanel, placeholder
from gradviz.core.display.graph_search import find_matches, path_to_outputs
from .stale import STALE_OPACITY, StaleBanner
from .state import ViewState
from .style import Fonts, TextMetrics
from .toolbar import GraphToolbar
from .transition import Transition

# Graphs bigger than this open collapsed (when they know their modules).
AUTO_COLLAPSE_NODES = 2000
# Show the progress bar for layouts of graphs at least this big.
PROGRESS_MIN_NODES = 800
# Collapse/expand morphs are animated up to this many nodes (both states together).
ANIMATE_MAX_NODES = 3000
TRANSITION_MS = 320
REVEAL_FADE_MS = 180
LAYOUT_CACHE_SIZE = 12
SCENE_MARGIN = 40.0  # white space around the graph when panning to its edge
SEARCH_DELAY_MS = 120  # search as you type, once typing pauses


class GraphView(QWidget):
    """The interactive autograd graph (objectName ``graphView``). See the module docstring."""

    nodeClicked = Signal(str)
    ready = Signal()
    layoutFailed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("graphView")
        self.fonts = Fonts(self.font())
        self.metrics = TextMetrics.measure(self.fonts)
        self.animations_enabled = True

        self._graph: nx.DiGraph | None = None
        self._given_positions = None
        self._module_sizes: dict[str, int] = {}
        self._layout: SceneLayout | None = None  # what is shown (or being morphed to)
        self._cache: OrderedDict[tuple, SceneLayout] = OrderedDict()
        self._collapsed: frozenset[str] = frozenset()  # requested collapse state
        self._show_saved = False
        self._task = None
        self._generation = 0
        self._pending_state = None
        self._is_ready = True
        self._fit_after_layout = False
        # Until the user zooms or pans, the graph stays fitted to the window
        # (it may be laid out while hidden or before the window got its size).
        self._auto_fit = False
        self._anchor = None  # (key, old scene position): kept on screen across a collapse change
        self._anchor_pan = None  # (start, end) view centres while a morph keeps the anchor in place
        self._transition: Transition | None = None
        self._state = ViewState()
        self._stats: dict[Hashable, Mapping[str, Any]] = {}
        self._fading: dict[Hashable, float] = {}  # shown key -> fade-in progress

        self._build_widgets()
        self._morph = QVariantAnimation(self)
        self._morph.setDuration(TRANSITION_MS)
        self._morph.setEasingCurve(QEasingCurve.InOutCubic)
        self._morph.setStartValue(0.0)
        self._morph.setEndValue(1.0)
        self._morph.valueChanged.connect(self._morph_step)
        self._morph.finished.connect(self._morph_done)
        self._fade_timer = QTimer(self)
        self._fade_timer.setInterval(16)
        self._fade_timer.timeout.connect(self._fade_step)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(lambda: self.search(self.search_box.text()))
        self._update_controls()

    # ------------------------------------------------------------------------------
    # widgets

    def _build_widgets(self) -> None:
        self.item = GraphItem(self.fonts)
        self.canvas = GraphCanvas(self.item)
        self.canvas.graph_scene.tooltip_at = self._tooltip_at
        self.canvas.nodeClicked.connect(self._on_canvas_click)
        self.canvas.nodeDoubleClicked.connect(self._on_canvas_double_click)
        self.canvas.nodeContextMenu.connect(self._on_context_menu)
        self.canvas.viewChanged.connect(lambda: self.minimap.refresh())
        self.canvas.fitRequested.connect(lambda: self.fit_to_window())
        self.canvas.userNavigated.connect(self._stop_auto_fit)
        self.minimap = Minimap(self.canvas)
        self.legend = Legend(self.canvas)
        self._placeholder = placeholder(self.canvas)
        self.progress_panel = ProgressPanel(self.canvas)
        self.stale_banner = StaleBanner(self.canvas)

        self.details = NodeDetails()
        self.details.nodeRequested.connect(self._navigate_to)
        self.details.expandRequested.connect(lambda module: self.expand_module(module))
        self.details.setMinimumWidth(220)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("graphSplitter")
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([900, 300])

        self.export_action = QAction("Export graph…", self)
        self.export_action.setObjectName("actionExportGraph")
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.setShortcutContext(Qt.WindowShortcut)
        self.export_action.setToolTip("Save the graph as PNG, SVG, DOT, GraphML or JSON (Ctrl+E)")
        self.export_action.triggered.connect(self._export_with_dialog)
        self.addAction(self.export_action)
        self.find_action = QAction("Find node", self)
        self.find_action.setObjectName("actionFindNode")
        self.find_action.setShortcut(QKeySequence.Find)
        self.find_action.setShortcutContext(Qt.WindowShortcut)
        self.find_action.triggered.connect(self.focus_search)
        self.addAction(self.find_action)

        self.toolbar = GraphToolbar(self.export_action)
        bar = self.toolbar
        self.search_box, self.search_count, self.depth_spin = bar.search_box, bar.search_count, bar.depth_spin
        bar.search_box.textChanged.connect(lambda _: self._search_timer.start())
        bar.search_box.nextRequested.connect(self.search_next)
        bar.search_box.previousRequested.connect(self.search_previous)
        bar.search_next.clicked.connect(lambda: self.search_next())
        bar.search_previous.clicked.connect(lambda: self.search_previous())
        bar.fit_button.clicked.connect(lambda: self.fit_to_window())
        bar.depth_spin.valueChanged.connect(self.collapse_to_depth)
        bar.expand_all_button.clicked.connect(lambda: self.expand_all())
        bar.saved_button.toggled.connect(self.set_show_saved)
        bar.details_button.toggled.connect(self.details.setVisible)

        self.setFocusProxy(self.canvas)  # focusing the view focuses the diagram (keys +, -, F)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.splitter, 1)

    def focus_search(self) -> None:
        self.search_box.setFocus(Qt.ShortcutFocusReason)
        self.search_box.selectAll()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        QTimer.singleShot(0, self._place_overlays)
        if self._auto_fit:
            QTimer.singleShot(0, self._refit)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        QTimer.singleShot(0, self._place_overlays)
        if self._auto_fit:
            QTimer.singleShot(0, self._refit)

    def changeEvent(self, event) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() == QEvent.FontChange:
            self._fonts_changed()

    def _fonts_changed(self) -> None:
        """The theme scaled the fonts (e.g. lecture mode): resize the boxes and lay out again."""
        fonts = Fonts(self.font())
        if fonts.label == self.fonts.label:
            return
        self.fonts = fonts
        self.metrics = TextMetrics.measure(fonts)
        self.item.set_fonts(fonts)
        self._cache.clear()
        if self._graph is not None and self._layout is not None:
            self._layout = None  # nothing cached matches the new sizes
            self._fit_after_layout = self._auto_fit
            self._request_layout(self._collapsed, animate=False)

    def _place_overlays(self) -> None:
        viewport = self.canvas.viewport()
        self.minimap.place()
        self.legend.adjustSize()
        self.legend.move(10, viewport.height() - self.legend.height() - 10)
        self._placeholder.setGeometry(40, 40, max(10, viewport.width() - 80), max(10, viewport.height() - 80))
        self.progress_panel.place(viewport)
        self.stale_banner.place(viewport)
        self.minimap.refresh()

    def _refit(self) -> None:
        if self._auto_fit:
            self.fit_to_window(animate=False)

    def _stop_auto_fit(self) -> None:
        self._auto_fit = False

    # ------------------------------------------------------------------------------
    # graph and layout

    def set_details_visible(self, visible: bool) -> None:
        """Show or hide the node-details side panel (what the toolbar's Details toggle does)."""
        self.toolbar.details_button.setChecked(visible)

    def details_visible(self) -> bool:
        return self.toolbar.details_button.isChecked()

    def graph(self) -> nx.DiGraph | None:
        """The original graph given to :meth:`set_graph`."""
        return self._graph

    def shown_graph(self) -> nx.DiGraph | None:
        """The graph as drawn: with collapsed modules as boxes."""
        return self._layout.graph if self._layout else None

    def set_graph(self, graph: nx.DiGraph | None, *, positions: Mapping[Hashable, tuple[float, float]] | None = None) -> None:
        """Show ``graph`` (see :func:`gradviz.autograd_graph` for its conventions).

        Layout runs in the background (``ready`` fires when the scene is
        built); a newer call cancels an older layout. ``positions`` (node
        centres, y down) skip the layout and disable auto-collapsing. Graphs
        over 2000 nodes with ``module`` attributes open collapsed to a
        readable depth. Highlights, search and selection are reset.
        """
        self._cancel_task()
        self._morph.stop()
        self._transition = None
        self._generation += 1
        self._graph = graph
        self.set_stale(None)  # whoever shows a graph shows a current one
        self._given_positions = positions
        self._collapsed = frozenset()
        self._cache.clear()
        self._layout = None
        self._module_sizes = collapse_logic.module_sizes(graph) if graph is not None else {}
        self._state.reset()
        self._stats.clear()
        self._fading.clear()
        self._auto_fit = False
        self.details.clear_node()
        self.item.set_model(None)
        self.canvas.reset_hover()
        self._update_controls()
        if graph is None or graph.number_of_nodes() == 0:
            self._placeholder.show()
            self._set_ready()
            return
        self._placeholder.hide()
        auto = positions is None and graph.number_of_nodes() > AUTO_COLLAPSE_NODES and collapse_logic.has_modules(graph)
        self._fit_after_layout = True
        self._request_layout(None if auto else frozenset(), animate=False)
        if self.search_box.text().strip():
            self._search_timer.start()

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

    def _request_layout(self, collapsed: frozenset[str] | None, *, animate: bool, anchor: Hashable | None = None) -> None:
        """Show the graph with ``collapsed`` modules (None: choose a readable depth)."""
        graph = self._graph
        if graph is None:
            return
        self._is_ready = False
        self._remember_anchor(anchor)
        if collapsed is not None:
            state = layout_state(collapsed, self._show_saved)
            self._collapsed = state[0]
            if state == self._pending_state:
                return  # that layout is already being computed
            if self._layout is not None and self._layout.state == state and self._transition is None:
                self._cancel_task()
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
        metrics, show_saved, positions = self.metrics, self._show_saved, self._given_positions

        def job(task):  # worker thread: no Qt objects in here
            chosen = collapsed
            if chosen is None:
                task.report(0.0, "choosing a readable collapse depth")
                chosen = collapse_logic.modules_at_depth(graph, collapse_logic.choose_depth(graph))
            return compute_layout(
                graph,
                chosen,
                metrics=metrics,
                show_saved=show_saved,
                positions=positions,
                progress=task.report,
                cancel=lambda: task.cancelled,
            )

        self._pending_state = layout_state(collapsed, show_saved) if collapsed is not None else ("auto",)
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
        self._collapsed = layout.state[0]
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
        self._after_scene_change()

    def _show_model(self, model: SceneModel) -> None:
        self._state.project(model, self._layout.collapsed)
        self.item.visibility_version += 1
        self.canvas.reset_hover()
        self.item.set_model(model)

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
        self._place_overlays()
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

    # ------------------------------------------------------------------------------
    # queries

    def node_count(self) -> int:
        """Number of nodes shown (boxes count one); the graph's count when nothing is collapsed."""
        return self._layout.graph.number_of_nodes() if self._layout is not None else 0

    def shown_key(self, key: Hashable) -> Hashable:
        """The key that stands for ``key`` now: itself, or the box it is collapsed into."""
        return self._layout.collapsed.shown(key) if self._layout else key

    def node_positions(self) -> dict[Hashable, tuple[float, float]]:
        """``{shown key: (x, y)}`` box centres in scene px, y down (final, not mid-animation)."""
        return dict(self._layout.positions) if self._layout else {}

    def node_rect(self, key: Hashable) -> QRectF | None:
        """Scene rectangle of the box that shows ``key``."""
        if self._layout is None:
            return None
        shown = self.shown_key(key)
        if shown not in self._layout.positions:
            return None
        (x, y), (w, h) = self._layout.positions[shown], self._layout.sizes[shown]
        return QRectF(x - w / 2, y - h / 2, w, h)

    def selected_node(self) -> Hashable | None:
        return self._state.selected

    # ------------------------------------------------------------------------------
    # zoom and navigation

    def fit_to_window(self, animate: bool = True) -> None:
        """Zoom and scroll so the whole graph is visible (the F key, the Fit button)."""
        if self._layout is None or not self._layout.positions:
            return
        # frame the final layout, also in the middle of a collapse animation
        left, top, right, bottom = self._layout.node_bounds()
        self.canvas.fit_rect(QRectF(left, top, right - left, bottom - top), animate=animate and self.animations_enabled)

    def zoom_level(self) -> float:
        return self.canvas.scale_factor()

    def zoom_by(self, factor: float) -> None:
        self._auto_fit = False
        self.canvas.zoom_by(factor)

    def center_on(self, key: Hashable, *, animate: bool = True, zoom_in: bool = False) -> None:
        """Scroll so the node (or the box holding it) is in the middle.

        ``zoom_in``: also zoom to a readable scale when the view is far out.
        """
        rect = self.node_rect(key)
        if rect is None:
            return
        self._auto_fit = False
        scale = 0.9 if zoom_in and self.canvas.scale_factor() < 0.6 else None
        self.canvas.show_at(rect.center(), scale, animate and self.animations_enabled)

    # ------------------------------------------------------------------------------
    # selection, tooltips, details

    def _key_at_index(self, index: int) -> Hashable | None:
        model = self.item.model
        if model is None or index < 0 or index >= len(model):
            return None
        return model.keys[index]

    def _on_canvas_click(self, index: int) -> None:
        key = self._key_at_index(index)
        self.select_node(key)
        if key is not None:
            self.nodeClicked.emit(str(key))

    def _on_canvas_double_click(self, index: int) -> None:
        """A box opens; a node closes the module it belongs to."""
        key = self._key_at_index(index)
        if key is None or self._graph is None:
            return
        module = box_module(key)
        if module is not None:
            self.expand_module(module)
        elif key in self._graph and node_module(self._graph.nodes[key]):
            self.collapse_module(node_module(self._graph.nodes[key]))

    def select_node(self, key: Hashable | None, *, center: bool = False) -> None:
        """Select a node (or box): details panel, and for parameters their path to the loss."""
        if key is not None and (self._graph is None or (key not in self._graph and box_module(key) is None)):
            key = None
        self._state.selected = key
        if key is None:
            self.details.clear_node()
        else:
            self._show_details(key)
        kind = self._graph.nodes[key].get("kind") if key is not None and key in self._graph else None
        if kind in ("param", "leaf"):
            self.highlight_path(key)
        elif self._state.path is not None:
            self.highlight_path(None)
        model = self.item.model
        if model is not None and self._layout is not None:
            self._state.project_selection(model, self._layout.collapsed)
            model.touch_state()
            self.item.update()
        if center and key is not None:
            self.center_on(key, zoom_in=True)

    def _show_details(self, key: Hashable) -> None:
        if self._graph is None or self._layout is None:
            return
        if key not in self._graph and key not in self._layout.graph:
            self.details.clear_node()
            return
        self.details.show_node(self._graph, key, shown=self._layout.collapsed, stats=self._stats.get(key))

    def _navigate_to(self, key: str) -> None:
        if self._graph is not None and (key in self._graph or (self._layout and key in self._layout.graph)):
            self.select_node(key, center=True)

    def _tooltip_at(self, scene_pos: QPointF):
        model = self.item.model
        index = model.node_at(scene_pos.x(), scene_pos.y()) if model is not None else -1
        if index < 0:
            return None
        left, top, width, height = model.node_rect(index)
        return self.tooltip_text(model.keys[index]), QRectF(left, top, width, height)

    def tooltip_text(self, key: Hashable) -> str:
        """The hover tooltip of a shown node: label, kind, shape, module (rich text)."""
        graph = self._layout.graph if self._layout and key in self._layout.graph else self._graph
        return tooltip_html(key, graph.nodes[key], self._stats.get(key))

    def _on_context_menu(self, index: int, global_pos) -> None:
        menu = QMenu(self)
        key = self._key_at_index(index)
        if key is not None and self._graph is not None:
            module = box_module(key)
            if module is not None:
                menu.addAction(f"Expand {module}", lambda: self.expand_module(module))
                menu.addAction(f"Expand {module} completely", lambda: self.expand_module(module, fully=True))
                parent = module.rpartition(".")[0]
                if parent:
                    menu.addAction(f"Collapse {parent}", lambda: self.collapse_module(parent, anchor=key))
            else:
                for ancestor in reversed(collapse_logic.ancestor_modules(node_module(self._graph.nodes[key]))):
                    menu.addAction(f"Collapse {ancestor}", lambda m=ancestor: self.collapse_module(m, anchor=key))
                menu.addAction("Highlight path to the loss", lambda: self.highlight_path(key))
            menu.addAction("Centre here", lambda: self.center_on(key))
            menu.addSeparator()
        menu.addAction("Fit to window", lambda: self.fit_to_window())
        if self._collapsed:
            menu.addAction("Expand all", self.expand_all)
        if self._state.path is not None:
            menu.addAction("Clear path highlight", lambda: self.highlight_path(None))
        menu.addAction(self.export_action)
        menu.exec(global_pos)

    # ------------------------------------------------------------------------------
    # collapse / expand

    def collapsed_modules(self) -> frozenset[str]:
        """The modules drawn as boxes (outermost ones)."""
        return self._layout.collapsed.collapsed if self._layout else frozenset()

    def can_collapse(self) -> bool:
        return self._graph is not None and bool(self._module_sizes) and collapse_logic.has_modules(self._graph)

    def set_collapsed(self, modules: Iterable[str], *, animate: bool = True, anchor: Hashable | None = None) -> None:
        """Draw exactly these modules as boxes (the outermost one wins when nested); animated."""
        if self._graph is None:
            return
        wanted = collapse_logic.outermost(m for m in modules if m in self._module_sizes)
        self._request_layout(wanted, animate=animate, anchor=anchor)

    def collapse_module(self, module: str, *, anchor: Hashable | None = None) -> None:
        """Collapse ``module`` (and everything inside it) into one box."""
        if module in self._module_sizes:
            self.set_collapsed(self._collapsed | {module}, anchor=anchor or box_key(module))

    def expand_module(self, module: str, *, fully: bool = False) -> None:
        """Open ``module``'s box: completely when small (or ``fully``), else one level."""
        if module not in self._module_sizes:
            return
        if fully:
            wanted = {m for m in self._collapsed if m != module and not m.startswith(module + ".")}
        else:
            wanted = collapse_logic.expand_one_level(self._collapsed, module, self._module_sizes)
        self.set_collapsed(wanted, anchor=box_key(module))

    def collapse_to_depth(self, depth: int) -> None:
        """Collapse every module to ``depth`` (1 = top-level modules; 0 = expand all)."""
        if self._graph is not None:
            self.set_collapsed(collapse_logic.modules_at_depth(self._graph, depth, self._module_sizes))

    def expand_all(self) -> None:
        self.set_collapsed(())

    def _current_depth(self) -> int:
        """The depth whose "collapse to depth" gives the current state, else the deepest box's."""
        if not self._collapsed or self._graph is None:
            return 0
        current = collapse_logic.outermost(self._collapsed)
        for depth in range(1, collapse_logic.max_depth(self._graph, self._module_sizes) + 1):
            if collapse_logic.outermost(collapse_logic.modules_at_depth(self._graph, depth, self._module_sizes)) == current:
                return depth
        return max(collapse_logic.module_depth(m) for m in current)

    def _update_controls(self) -> None:
        collapsible = self.can_collapse()
        depth = collapse_logic.max_depth(self._graph, self._module_sizes) if collapsible else 0
        self.toolbar.set_depth(self._current_depth() if collapsible else 0, depth, collapsible)
        self.toolbar.expand_all_button.setEnabled(bool(self._collapsed))
        has_graph = self._graph is not None and self._graph.number_of_nodes() > 0
        has_saved = has_graph and any(a.get("saved") for _, a in self._graph.nodes(data=True))
        self.toolbar.saved_button.setEnabled(has_saved)
        self.export_action.setEnabled(has_graph)
        self.search_box.setEnabled(has_graph)

    def set_show_saved(self, show: bool) -> None:
        """Also list each op's saved tensors inside its box (boxes grow: new layout)."""
        show = bool(show)
        if show == self._show_saved:
            return
        self._show_saved = show
        if self.toolbar.saved_button.isChecked() != show:
            self.toolbar.saved_button.setChecked(show)
        if self._graph is not None:
            self._request_layout(self._collapsed, animate=False)

    # ------------------------------------------------------------------------------
    # search

    def search(self, text: str) -> int:
        """Find nodes whose label or parameter name contains ``text`` (any case); go to the first.

        Returns the number of matches. Matches inside collapsed boxes count;
        going to one selects it and centres on its box.
        """
        self._search_timer.stop()
        self.toolbar.set_search_text(text)
        if self._graph is None:
            return 0
        found = find_matches(self._graph, text)
        # top to bottom through the drawing, so "next" moves down the screen
        positions = self._layout.positions if self._layout else {}
        order = {k: i for i, k in enumerate(found)}
        found.sort(key=lambda k: (*positions.get(self.shown_key(k), (0.0, 0.0))[::-1], order[k]))
        self._state.matches, self._state.match_index = found, -1
        if found:
            self._go_to_match(0)
        else:
            self._project_matches()
            self._update_search_count()
        return len(found)

    def search_next(self) -> Hashable | None:
        """Go to the next match (wraps around); searches first if the text changed."""
        if not self._state.matches:
            if self.search_box.text().strip():
                self.search(self.search_box.text())
            return self.current_match()
        self._go_to_match((self._state.match_index + 1) % len(self._state.matches))
        return self.current_match()

    def search_previous(self) -> Hashable | None:
        if not self._state.matches:
            return None
        self._go_to_match((self._state.match_index - 1) % len(self._state.matches))
        return self.current_match()

    def current_match(self) -> Hashable | None:
        return self._state.current_match

    def search_matches(self) -> list[Hashable]:
        return list(self._state.matches)

    def _go_to_match(self, index: int) -> None:
        self._state.match_index = index
        key = self._state.matches[index]
        self.select_node(key)
        self._project_matches()
        self.center_on(key, zoom_in=True)
        self._update_search_count()

    def _update_search_count(self) -> None:
        matches = self._state.matches
        if not self.search_box.text().strip():
            text = ""
        elif not matches:
            text = "no match"
        else:
            text = f"{self._state.match_index + 1} / {len(matches)}"
        self.search_count.setText(text)

    def _project_matches(self) -> None:
        model = self.item.model
        if model is not None and self._layout is not None:
            self._state.project_matches(model, self._layout.collapsed)
            model.touch_state()
            self.item.update()

    # ------------------------------------------------------------------------------
    # path highlight

    def highlight_path(self, key: Hashable | None) -> None:
        """Highlight every node and edge on a path from ``key`` to the output (None: clear)."""
        if key is None or self._graph is None or key not in self._graph:
            self._state.path = None
        else:
            self._state.path = path_to_outputs(self._graph, key)
        model = self.item.model
        if model is not None and self._layout is not None:
            self._state.project_path(model, self._layout.collapsed)
            model.touch_state()
            self.item.update()
        self._refresh_legend()

    def path_highlight(self) -> tuple[set, set]:
        """``(node keys, edges)`` of the highlighted path, in original keys."""
        return self._state.path if self._state.path is not None else (set(), set())

    # ------------------------------------------------------------------------------
    # training animation API

    def highlight_nodes(self, keys: Iterable[Hashable], role: str | None = "active") -> None:
        """Give nodes a role: ``"active"`` (orange, being computed), ``"visited"`` (pale orange) or None."""
        if role not in ROLE_CODES:
            raise ValueError(f"role must be 'active', 'visited' or None, not {role!r}")
        code = ROLE_CODES[role]
        keys = list(keys)
        for key in keys:
            if code:
                self._state.roles[key] = code
            else:
                self._state.roles.pop(key, None)
        self._update_nodes(keys)

    def flagged_nodes(self) -> set:
        """Keys flagged red (NaN/Inf) by :meth:`flag_nodes`."""
        return set(self._state.flagged)

    def node_roles(self) -> dict:
        """``{key: "active" | "visited"}`` given by :meth:`highlight_nodes`."""
        names = {code: role for role, code in ROLE_CODES.items() if role is not None}
        return {key: names[code] for key, code in self._state.roles.items() if code in names}

    def flag_nodes(self, keys: Iterable[Hashable]) -> None:
        """Mark nodes red (NaN or Inf found); cleared by :meth:`clear_highlights`."""
        keys = list(keys)
        self._state.flagged.update(keys)
        self._update_nodes(keys)

    def set_edge_weights(self, weights: Mapping[tuple[Hashable, Hashable], float]) -> None:
        """Edge width and colour by weight (e.g. gradient norm), relative to the largest.

        Replaces earlier weights; ``{}`` clears them. Edges merged into a box
        edge show the largest weight among them.
        """
        self._state.edge_weights = {tuple(k): float(v) for k, v in weights.items()}
        model = self.item.model
        if model is not None and self._layout is not None:
            self._state.project_weights(model, self._layout.collapsed)
            model.touch_state()
            self.item.update()
        self._refresh_legend()

    def clear_highlights(self) -> None:
        """Drop roles, flags and edge weights (not the selection, search or hidden nodes)."""
        self._state.roles.clear()
        self._state.flagged.clear()
        self._state.edge_weights.clear()
        model = self.item.model
        if model is not None:
            model.role[:] = 0
            model.flagged[:] = False
            model.edge_weight[:] = np.nan
            model.touch_state()
            self.item.update()
        self._refresh_legend()

    def hide_all_nodes(self) -> None:
        """Hide every node (then :meth:`reveal_nodes` them, e.g. in creation order)."""
        self._state.revealed = set()
        self._fading.clear()
        model = self.item.model
        if model is not None:
            model.hidden[:] = True
            self._visibility_changed()

    def reveal_nodes(self, keys: Iterable[Hashable], *, fade: bool = True) -> None:
        """Show hidden nodes again (they fade in); edges appear once both ends are shown."""
        if self._state.revealed is None:
            return
        keys = list(keys)
        self._state.revealed.update(keys)
        model = self.item.model
        if model is None:
            return
        for key in keys:
            i = model.index.get(self.shown_key(key))
            if i is not None and model.hidden[i]:
                model.hidden[i] = False
                if fade and self.animations_enabled:
                    model.alpha[i] = 0.0
                    self._fading[model.keys[i]] = 0.0
        if self._fading and not self._fade_timer.isActive():
            self._fade_timer.start()
        self._visibility_changed()

    def show_all_nodes(self) -> None:
        """End hide/reveal mode: every node is shown."""
        self._state.revealed = None
        self._fading.clear()
        model = self.item.model
        if model is not None:
            model.hidden[:] = False
            model.alpha[:] = 1.0
            self._visibility_changed()

    def hidden_count(self) -> int:
        model = self.item.model
        return int(model.hidden.sum()) if model is not None else 0

    def set_gradient_stats(self, stats: Mapping[Hashable, Mapping[str, Any]]) -> None:
        """Gradient statistics per node key, e.g. ``{"n2": {"norm": 1.2, "mean": 0.0, "max": 0.3}}``.

        Shown in the details panel and tooltips; replaces earlier stats.
        """
        self._stats = {k: dict(v) for k, v in stats.items()}
        if self._state.selected is not None:
            self._show_details(self._state.selected)

    def _visibility_changed(self) -> None:
        self.item.visibility_version += 1
        self.item.model.touch_state()
        self.item.update()
        self.minimap.update()

    def _fade_step(self) -> None:
        model = self.item.model
        if model is None or not self._fading:
            self._fade_timer.stop()
            return
        step = self._fade_timer.interval() / REVEAL_FADE_MS
        for key in list(self._fading):
            i = model.index.get(key)
            value = self._fading[key] = min(1.0, self._fading[key] + step)
            if i is not None:
                model.alpha[i] = value
            if value >= 1.0 or i is None:
                del self._fading[key]
        self.item.update()
        if not self._fading:
            self._fade_timer.stop()

    def _update_nodes(self, keys: list) -> None:
        model = self.item.model
        if model is None or self._layout is None:
            return
        for i in self._state.project_nodes(model, self._layout.collapsed, keys):
            self.item.update_node(i)
        self._refresh_legend()

    def _refresh_legend(self) -> None:
        model = self.item.model
        states = []
        if model is not None:
            checks = (
                ("active", (model.role == ROLE_ACTIVE).any()),
                ("visited", (model.role == ROLE_VISITED).any()),
                ("flagged", model.flagged.any()),
                ("path", model.path_active),
                ("weights", not np.isnan(model.edge_weight).all()),
            )
            states = [name for name, present in checks if present]
        self.legend.set_content(set(model.kinds) if model is not None else set(), states)
        viewport = self.canvas.viewport()
        self.legend.move(10, viewport.height() - self.legend.height() - 10)

    # ------------------------------------------------------------------------------
    # export

    def export(self, path, fmt: str | None = None) -> None:
        """Save what is shown: ``png``, ``svg``, ``dot``, ``graphml`` or ``json`` (default: from the suffix).

        Pictures show the current collapse state and highlights; data formats
        hold the shown graph (boxes included) with the layout's positions.
        """
        if self._layout is None or self.item.model is None:
            raise ValueError("there is no graph to export yet")
        fmt = exporting.format_for(path, fmt)
        if fmt not in ("png", "svg"):
            exporting.export_data(self._layout.graph, path, fmt, self._layout.positions)
            return
        model = self.item.model
        hover, model.hover = model.hover, -1  # the mouse is not part of the picture
        try:
            render = exporting.render_png if fmt == "png" else exporting.render_svg
            render(self.canvas.graph_scene, model.bounds(), path)
        finally:
            model.hover = hover

    def _export_with_dialog(self) -> None:
        if self._layout is None:
            return
        path, chosen = QFileDialog.getSaveFileName(self, "Export graph", "graph.png", exporting.FILE_FILTER)
        if not path:
            return
        try:
            has_suffix = "." in path.replace("\\", "/").rsplit("/", 1)[-1]
            self.export(path, None if has_suffix else exporting.format_of_filter(chosen))
        except Exception as exc:  # shown to the user, not swallowed
            QMessageBox.warning(self, "Export failed", f"Could not export the graph:\n{exc}")


def _alive(view) -> bool:
    """False once ``view`` was deleted (a layout still running reports late)."""
    from shiboken6 import isValid

    return isValid(view) and isValid(view.progress_panel)
