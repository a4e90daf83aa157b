"""GraphView: the autograd graph as an interactive diagram.

What torchviz draws as a static picture, but explorable: zoom, pan, fit,
minimap, hover tooltips, a details panel, search, collapsing modules into
boxes, export. Layout runs off the GUI thread; big graphs (more than
:data:`AUTO_COLLAPSE_NODES` nodes with module information) open collapsed to
the deepest depth that shows at most that many boxes, with runs of alike
sibling modules folded into one box (``blocks.0 … blocks.23  ×24``; double-click
unfolds it). Collapsing, expanding, folding and unfolding re-fit the graph to
the window (a smooth zoom), so the whole new picture is always in view.

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
    view.set_node_note("out0", "loss = 0.0423")  # a value beside a node (None removes it)
    view.set_node_badge_room(source)        # numbers mode: room for tags inside the boxes, planned
    view.set_node_badges({"n3": ["data 0.88", "grad −0.5"]})  # ...and their text, in that room
    view.show_all_nodes()

Signals: ``nodeClicked(str)`` (a node or box was clicked), ``ready()`` (the
scene shows the requested graph or collapse state, animations done),
``layoutFailed(str)``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable, Mapping

import networkx as nx
from PySide6.QtCore import QEasingCurve, QEvent, QPointF, QRectF, QSizeF, Qt, QTimer, QVariantAnimation, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QMenu, QSplitter, QVBoxLayout, QWidget

from gradviz.core import collapse as collapse_logic
from gradviz.core.collapse import box_module, fold_modules, is_fold, node_module
from gradviz.ui import source_editor

from .animation_api import _AnimationApi
from .canvas import FIT_MARGIN, GraphCanvas
from .collapsing import _Collapsing
from .details import NodeDetails, tooltip_html
from .exporting_api import _ExportApi
from .finding import _Finding
from .items import GraphItem
from .layout_job import SceneLayout
from .layout_pipeline import _LayoutPipeline, same_structure
from .legend import Legend, free_corner
from .minimap import Minimap
from .overlays import NodeNotes, ProgressPanel, placeholder
from .stale import StaleBanner
from .state import ViewState
from .style import Fonts, TextMetrics
from .toolbar import GraphToolbar, OverflowButton
from .transition import Transition
from .tuning import AUTO_COLLAPSE_NODES, SEARCH_DELAY_MS, TRANSITION_MS  # AUTO_COLLAPSE_NODES: part of the API


class GraphView(_LayoutPipeline, _Collapsing, _Finding, _AnimationApi, _ExportApi, QWidget):
    """The interactive autograd graph (objectName ``graphView``). See the module docstring."""

    nodeClicked = Signal(str)
    ready = Signal()
    layoutFailed = Signal(str)
    exported = Signal(list)  # the files an export wrote (a tall PNG: several pages)

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
        self._unfolded: frozenset[str] = frozenset()  # fold keys the reader opened
        self._show_saved = False
        self._task = None
        self._generation = 0
        self._pending_state = None
        self._is_ready = True
        self._fit_after_layout = False
        self._font_anchor = None  # (x, y) of the view's centre in the graph, kept across a font change
        # Until the user zooms or pans, the graph stays fitted to the window
        # (it may be laid out while hidden or before the window got its size).
        self._auto_fit = False
        self._anchor = None  # (key, old scene position): kept on screen across a collapse change
        self._anchor_pan = None  # (start, end) view centres while a morph keeps the anchor in place
        self._transition: Transition | None = None
        self._state = ViewState()
        self._stats: dict[Hashable, Mapping[str, Any]] = {}
        self._badges: dict[Hashable, list[str]] = {}
        self._room_source = None  # set_node_badge_room: plans the room of tags inside the boxes
        self._extra_room: dict[Hashable, tuple[str, ...]] = {}  # room grown for tags that did not fit
        self._requested_room = frozenset()  # the tag room of the last layout requested
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
        self.notes = NodeNotes(self)  # values beside nodes, e.g. the loss on the loss node
        self.canvas.viewChanged.connect(self.notes.place)  # keep them inside the pane
        self.canvas.viewChanged.connect(self._place_legend)  # a floating legend: after the notes, around them
        self.canvas.fitRequested.connect(lambda: self.fit_to_window())
        self.canvas.userNavigated.connect(self._stop_auto_fit)
        self.minimap = Minimap(self.canvas)
        self.legend = Legend()  # a strip under the canvas (see _build_widgets), never over the nodes
        self._stage_mode = False  # set_stage_mode: the toolbar row aside, the legend floating
        self._placeholder = placeholder(self.canvas)
        self.progress_panel = ProgressPanel(self.canvas)
        self.stale_banner = StaleBanner(self.canvas)

        self.details = NodeDetails()
        self.details.nodeRequested.connect(self._navigate_to)
        self.details.expandRequested.connect(lambda module: self.expand_module(module))
        self.details.sourceRequested.connect(lambda file, line: source_editor.open_in_editor(file, line))
        self.details.setMinimumWidth(220)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.setObjectName("graphSplitter")
        drawing = QWidget()
        drawing.setObjectName("graphDrawing")
        drawing_layout = self._drawing_layout = QVBoxLayout(drawing)
        drawing_layout.setContentsMargins(0, 0, 0, 0)
        drawing_layout.setSpacing(0)
        drawing_layout.addWidget(self.canvas, 1)
        drawing_layout.addWidget(self.legend)
        self.splitter.addWidget(drawing)
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

        self.animation_action = QAction("Export animation…", self)
        self.animation_action.setObjectName("actionExportAnimation")
        self.animation_action.setToolTip("Save this iteration's forward build-up and backward replay as an animated GIF "
                                         "and numbered PNG frames, for slides")
        self.animation_action.triggered.connect(self.show_animation_dialog)
        self.addAction(self.animation_action)
        # The window sets this seam: () -> the current iteration's record (orders, weights
        # before/after the step) or None; without it the orders come from the graph.
        self.record_source = None

        self.toolbar = GraphToolbar(self.export_action, self.animation_action)
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
        # the toolbar hides what does not fit; "⋯" (outside it, always shown) holds everything
        self.more_button = OverflowButton(self.toolbar)
        self.more_button.findRequested.connect(self._find_from_menu)
        bar_row = QHBoxLayout()
        bar_row.setContentsMargins(0, 0, 4, 0)
        bar_row.setSpacing(0)
        bar_row.addWidget(self.toolbar, 1)
        bar_row.addWidget(self.more_button)
        layout.addLayout(bar_row)
        layout.addWidget(self.splitter, 1)
        self.canvas.resized.connect(self._canvas_resized)

    def _find_from_menu(self) -> None:
        """"Find node…" in the overflow menu: the search box, or a prompt when the box is hidden."""
        if self.search_box.isVisible():
            self.focus_search()
            return
        text, ok = QInputDialog.getText(self, "Find node", "Node or parameter name:", text=self.search_box.text())
        if ok and text.strip():
            self.search(text)

    def _canvas_resized(self) -> None:
        self._place_overlays()
        self._refit()  # still fitted when the legend strip below the canvas changes height

    def focus_search(self) -> None:
        if not self.search_box.isVisible():  # the toolbar stepped aside (stage mode) or is too narrow
            self._find_from_menu()
            return
        self.search_box.setFocus(Qt.ShortcutFocusReason)
        self.search_box.selectAll()

    # ------------------------------------------------------------------------------
    # stage mode: the drawing takes the whole pane

    @property
    def stage_mode(self) -> bool:
        return self._stage_mode

    def set_stage_mode(self, on: bool) -> None:
        """Give the drawing the whole pane (lecture mode on a short screen: every px of
        height is text size at fit): the toolbar row steps aside (its owner brings it
        back; Ctrl+F then asks for a name, F fits) and the legend floats in a corner
        of the drawing that no box covers, instead of taking a strip below it."""
        on = bool(on)
        if on == self._stage_mode:
            return
        self._stage_mode = on
        self.toolbar.setVisible(not on)
        self.more_button.setVisible(not on)
        legend = self.legend
        if on:
            self._drawing_layout.removeWidget(legend)
            legend.setParent(self.canvas.viewport())
        else:
            legend.setParent(self._drawing_layout.parentWidget())
            self._drawing_layout.addWidget(legend)
        legend.set_floating(on)
        legend.setVisible(legend.has_content() and not on)
        self._drawing_layout.activate()  # the canvas takes the new room now
        self._refit()
        self._place_legend()

    def _place_legend(self) -> None:
        """A floating legend goes to the first corner of the drawing free of node boxes,
        edges, notes and the overview; with none free it steps aside until one is."""
        legend = self.legend
        if not legend.floating:
            return
        model = self.item.model
        if not legend.has_content() or model is None:
            legend.hide()
            return
        canvas = self.canvas
        viewport = QRectF(canvas.viewport().rect())
        taken = [self.notes.screen_rect(key) for key in self.notes.keys()]
        if self.minimap.isVisible():
            taken.append(QRectF(self.minimap.geometry()))
        taken = [rect for rect in taken if rect is not None]
        halo = 4.0  # screen px kept clear around each box

        def is_free(rect: QRectF) -> bool:
            if any(rect.intersects(other) for other in taken):
                return False
            scene = canvas.mapToScene(rect.adjusted(-halo, -halo, halo, halo).toRect()).boundingRect()
            corners = (scene.left(), scene.top(), scene.right(), scene.bottom())
            # edges by their bounding boxes: a curve may bulge anywhere inside its box
            return len(model.nodes_in(*corners, pad=0.0)) == 0 and len(model.edges_in(*corners)) == 0

        corner = None
        for width in legend.floating_widths():  # one row if it fits, else wrapped narrower
            corner = free_corner(viewport, QSizeF(width, legend.heightForWidth(width)), is_free)
            if corner is not None:
                break
        if corner is None:
            legend.hide()
            return
        legend.setGeometry(corner.toRect())
        legend.show()
        legend.raise_()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        # With self as the context: a view deleted before the timer fires (a
        # closed gradviz.inspect window) drops the call instead of crashing in it.
        QTimer.singleShot(0, self, self._place_overlays)
        if self._auto_fit:
            QTimer.singleShot(0, self, self._refit)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        QTimer.singleShot(0, self, self._place_overlays)
        if self._auto_fit:
            QTimer.singleShot(0, self, self._refit)

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
        self.notes.set_font(self.font())
        self._cache.clear()
        if self._graph is not None:
            # The app's zoom (Ctrl +/−) scales the graph too: keep the view's scale,
            # so boxes and text grow on screen with the font, around the same spot.
            if self._layout is not None:
                left, top, right, bottom = self._layout.node_bounds()
                centre = self.canvas.visible_scene_rect().center()
                self._font_anchor = ((centre.x() - left) / max(right - left, 1.0), (centre.y() - top) / max(bottom - top, 1.0))
            self._layout = None  # nothing cached matches the new sizes
            # nor a layout still being computed for the old sizes: a restyle sets the
            # font twice in a row, and the layout for the first must not be the one shown
            self._cancel_task()
            self._fit_after_layout = False
            self._auto_fit = False
            self._request_layout(self._collapsed, animate=False)

    def _place_overlays(self) -> None:
        viewport = self.canvas.viewport()
        self.minimap.place()
        self._placeholder.setGeometry(40, 40, max(10, viewport.width() - 80), max(10, viewport.height() - 80))
        self.progress_panel.place(viewport)
        self.stale_banner.place(viewport)
        self.minimap.refresh()
        self._place_legend()

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

    def scene_layout(self) -> SceneLayout | None:
        """What is drawn (collapsed graph, positions, sizes, routes): for renderers such as Export animation."""
        return self._layout

    def shown_graph(self) -> nx.DiGraph | None:
        """The graph as drawn: with collapsed modules as boxes."""
        return self._layout.graph if self._layout else None

    def set_graph(self, graph: nx.DiGraph | None, *, positions: Mapping[Hashable, tuple[float, float]] | None = None) -> None:
        """Show ``graph`` (see :func:`gradviz.autograd_graph` for its conventions).

        Layout runs in the background (``ready`` fires when the scene is
        built); a newer call cancels an older layout. ``positions`` (node
        centres, y down) skip the layout and disable auto-collapsing. Graphs
        over AUTO_COLLAPSE_NODES (150) nodes with ``module`` attributes open collapsed to a
        readable depth. Highlights, search and selection are reset.
        """
        # The same network again (the next iteration): keep how it is shown, so no node moves.
        same = self._layout is not None and graph is not None and self._graph is not None \
            and positions is None and self._given_positions is None and same_structure(self._graph, graph)
        kept = (self._collapsed, self._auto_fit) if same else None
        self._cancel_task()
        self._morph.stop()
        self._transition = None
        self._generation += 1
        self._graph = graph
        self.set_stale(None)  # whoever shows a graph shows a current one
        self._given_positions = positions
        self._collapsed = frozenset()
        if kept is None:
            self._unfolded = frozenset()
        self._cache.clear()
        self._layout = None
        self._module_sizes = collapse_logic.module_sizes(graph) if graph is not None else {}
        self._state.reset()
        self._stats.clear()
        self._extra_room = {}
        self.notes.clear()  # they described the graph shown before
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
        if kept is not None:
            self._fit_after_layout = kept[1]
            self._request_layout(kept[0], animate=False)
        else:
            auto = positions is None and graph.number_of_nodes() > AUTO_COLLAPSE_NODES and collapse_logic.has_modules(graph)
            self._fit_after_layout = True
            self._request_layout(None if auto else frozenset(), animate=False)
        if self.search_box.text().strip():
            self._search_timer.start()

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
        left, top, right, bottom = self._layout.node_bounds()  # tags are inside the boxes
        self.canvas.fit_rect(QRectF(left, top, right - left, bottom - top), animate=animate and self.animations_enabled)

    def width_for_text_size(self, height: int | None = None) -> int | None:
        """How wide this view would have to be for its node labels at the text size
        (zoom 1) when fitted, given a drawing ``height`` px tall (default: the
        drawing's as it is); less where the height binds first. None before a
        layout. A window sharing space with the graph sizes its pane by this."""
        if self._layout is None or not self._layout.positions:
            return None
        left, top, right, bottom = self._layout.node_bounds()
        width, tall = right - left, bottom - top
        if width <= 0 or tall <= 0:
            return None
        room = (self.canvas.viewport().height() if height is None else height) - 2 * FIT_MARGIN
        scale = min(1.0, max(room, 1) / tall)  # past this, a wider pane does not grow the labels
        chrome = self.width() - self.canvas.viewport().width()  # frames, a shown details panel
        return round(width * scale + 2 * FIT_MARGIN + chrome)

    def zoom_level(self) -> float:
        return self.canvas.scale_factor()

    def label_pixel_size(self) -> float:
        """How tall node label text is on screen now, in px: the label font's
        pixel size times the zoom (what a reader at the back of a room sees)."""
        font = self.fonts.label
        pixels = font.pixelSize() if font.pixelSize() > 0 else font.pointSizeF() * self.canvas.logicalDpiY() / 72.0
        return pixels * self.canvas.scale_factor()

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
        if is_fold(key):
            self.unfold(key)
        elif module is not None:
            self.expand_module(module)
        elif key in self._graph and node_module(self._graph.nodes[key]):
            self.collapse_module(node_module(self._graph.nodes[key]))

    def select_node(self, key: Hashable | None, *, center: bool = False) -> None:
        """Select a node (or box): details panel, and for parameters their path to the loss."""
        if key is not None and (self._graph is None or (key not in self._graph and box_module(key) is None and not is_fold(key))):
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
        self.context_menu(self._key_at_index(index)).exec(global_pos)

    def context_menu(self, key: Hashable | None) -> QMenu:
        """The right-click menu for the shown node or box ``key`` (None: empty space)."""
        menu = QMenu(self)
        if key is not None and self._graph is not None:
            module = box_module(key)
            fold = self._fold_holding(module)
            if is_fold(key):
                label = self._layout.graph.nodes[key].get("label", key) if self._layout else key
                menu.addAction(f"Unfold {label}", lambda: self.unfold(key))
                parent = collapse_logic.fold_parent(key)
                if parent in self._module_sizes:
                    menu.addAction(f"Collapse {parent}", lambda: self.collapse_module(parent))
            elif module is not None:
                if fold is not None:
                    menu.addAction(f"Fold {fold_modules(fold)[0]} … {fold_modules(fold)[-1]} again",
                                   lambda: self.fold(fold))
                menu.addAction(f"Expand {module}", lambda: self.expand_module(module))
                menu.addAction(f"Expand {module} completely", lambda: self.expand_module(module, fully=True))
                parent = module.rpartition(".")[0]
                if parent:
                    menu.addAction(f"Collapse {parent}", lambda: self.collapse_module(parent, anchor=key))
            elif key in self._graph:
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
        menu.addAction(self.animation_action)
        return menu
