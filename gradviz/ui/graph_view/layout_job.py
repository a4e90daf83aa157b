"""The background part of showing a graph: collapse it, size its boxes, lay it out.

:func:`compute_layout` runs in a worker thread (see :mod:`gradviz.ui.worker`),
so it touches no Qt object: box sizes come from :class:`~.style.TextMetrics`
measured beforehand on the GUI thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Mapping

import networkx as nx
import numpy as np

from gradviz.core.collapse import CollapsedGraph, collapse_graph
from gradviz.core.layout import layered_layout_routed
from gradviz.core.routes import Route

from .style import NODE_GAP, STACK_REACH, TextMetrics, layer_gap, node_lines, node_size
from .tags import Room, band_size


@dataclass
class SceneLayout:
    """Everything the scene needs to draw one state of the graph.

    ``state`` identifies what was laid out (collapsed set, saved-tensor toggle)
    so results can be cached and stale ones recognised.
    """

    state: tuple
    collapsed: CollapsedGraph
    positions: dict[Hashable, tuple[float, float]]
    sizes: dict[Hashable, tuple[float, float]]
    lines: dict[Hashable, list[tuple[str, str]]]
    # {(u, v): route} around the boxes (gradviz.core.routes); empty when the
    # positions came from elsewhere (then edges are drawn as plain curves)
    routes: dict[tuple[Hashable, Hashable], Route] = None
    # {key: height of the tag band at the bottom of its box} for boxes laid out
    # with room for a tag (numbers mode, see .tags); absent: no tag room
    tag_heights: dict[Hashable, float] = None

    def __post_init__(self):
        if self.routes is None:
            self.routes = {}
        if self.tag_heights is None:
            self.tag_heights = {}

    @property
    def graph(self) -> nx.DiGraph:
        return self.collapsed.graph

    def node_bounds(self) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)`` of all boxes."""
        if not self.positions:
            return (0.0, 0.0, 1.0, 1.0)
        keys = list(self.positions)
        xy = np.array([self.positions[k] for k in keys], dtype=float)
        wh = np.array([self.sizes[k] for k in keys], dtype=float)
        low, high = xy - wh / 2, xy + wh / 2
        return (float(low[:, 0].min()), float(low[:, 1].min()), float(high[:, 0].max()), float(high[:, 1].max()))


def layout_state(
    collapsed: Iterable[str], show_saved: bool, unfolded: Iterable[str] = (), tag_room: Room | None = None
) -> tuple:
    """A hashable description of one way to show the graph: collapsed modules,
    saved-tensor toggle, folds of repeated modules the reader opened, room for tags."""
    room = frozenset((key, tuple(rows)) for key, rows in (tag_room or {}).items())
    return (frozenset(collapsed), bool(show_saved), frozenset(unfolded), room)


def compute_layout(
    graph: nx.DiGraph,
    collapsed: Iterable[str],
    *,
    metrics: TextMetrics,
    show_saved: bool = False,
    unfolded: Iterable[str] = (),
    tag_room: Room | None = None,
    positions: Mapping[Hashable, tuple[float, float]] | None = None,
    progress: Callable[[float, str], Any] | None = None,
    cancel: Callable[[], Any] | None = None,
) -> SceneLayout:
    """Collapse ``graph``, size every box and lay the result out.

    ``positions`` (box centres for the original graph's nodes) replaces the
    layout step when nothing is collapsed and it covers every node.
    ``tag_room`` (key -> the widest lines its tag will hold) makes those
    boxes taller and wide enough for a tag band under their label, so the
    layout keeps tags clear of everything else.
    Raises :class:`gradviz.core.layout.LayoutCancelled` when ``cancel()``
    becomes true.
    """
    state = layout_state(collapsed, show_saved, unfolded, tag_room)
    tag_room = tag_room or {}
    report = progress or (lambda fraction, message: None)
    report(0.0, "grouping modules" if state[0] else "measuring nodes")
    # runs of alike sibling boxes fold into one (blocks.0 … blocks.23  ×24)
    shown = collapse_graph(graph, state[0], fold=True, unfolded=state[2])
    shown_graph = shown.graph

    width_cache: dict[tuple[str, str], float] = {}
    lines: dict[Hashable, list[tuple[str, str]]] = {}
    sizes: dict[Hashable, tuple[float, float]] = {}
    tag_heights: dict[Hashable, float] = {}
    for key, attrs in shown_graph.nodes(data=True):
        node_text = node_lines(key, attrs, show_saved)
        lines[key] = node_text
        sizes[key] = node_size(node_text, metrics, width_cache)
        rows = tag_room.get(key)
        if rows:
            (width, height), (band_width, band_height) = sizes[key], band_size(rows, metrics)
            sizes[key] = (max(width, band_width), height + band_height)
            tag_heights[key] = band_height
        if attrs.get("kind") == "module":  # its stack of cards is inside its box
            width, height = sizes[key]
            sizes[key] = (width + STACK_REACH[0], height + STACK_REACH[1])

    routes = {}
    if positions is not None and not state[0] and all(k in positions for k in shown_graph):
        pos = {k: (float(positions[k][0]), float(positions[k][1])) for k in shown_graph}
    else:
        pos, routes = layered_layout_routed(
            shown_graph,
            node_size=lambda key, attrs: sizes[key],
            node_gap=NODE_GAP,
            layer_gap=layer_gap(sizes.values()),
            progress=lambda f, m: report(0.05 + 0.95 * f, m),
            cancel=cancel,
        )
    report(1.0, "layout done")
    return SceneLayout(state=state, collapsed=shown, positions=pos, sizes=sizes, lines=lines, routes=routes,
                       tag_heights=tag_heights)
