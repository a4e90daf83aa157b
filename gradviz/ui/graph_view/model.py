"""The drawn graph as numpy arrays: geometry, visual state and spatial queries.

One :class:`GraphItem` paints every node and edge from a :class:`SceneModel`,
instead of one QGraphicsItem per node: with 20k nodes, per-item Python
``paint`` calls (and building 40k items) are far too slow, while culling,
hit-testing and state changes on arrays cost microseconds.

Coordinates are scene px, node positions are box centres, y grows downward.
No painting here; only geometry and state.
"""
from __future__ import annotations

from typing import Any, Hashable, Iterable, Mapping

import numpy as np

from .layout_job import SceneLayout
from .style import ARROW_LENGTH, CORNER

# node roles set by the training animation (higher wins when merged into a box)
ROLE_NONE, ROLE_VISITED, ROLE_ACTIVE = 0, 1, 2
ROLE_CODES = {None: ROLE_NONE, "visited": ROLE_VISITED, "active": ROLE_ACTIVE}

# Inputs arriving at one box are spread along its top edge (and outputs along
# its bottom), at most this far apart, so arrowheads do not pile up.
ATTACH_SPACING = 12.0
# Vertical pull of an edge's curve ends: long edges stay nearly straight
# (the layout reserved a straight corridor for them), short ones look smooth.
CURVE_PULL_MAX = 60.0
CURVE_PULL_MIN = 12.0


class SceneModel:
    """Nodes and edges of one shown graph, plus per-node and per-edge visual state.

    ``version`` grows on every geometry change and ``state_version`` on every
    state change, so painters can cache batched paths.
    """

    def __init__(
        self,
        keys: list[Hashable],
        attrs: list[Mapping[str, Any]],
        lines: list[list[tuple[str, str]]],
        xy: np.ndarray,
        wh: np.ndarray,
        edges: list[tuple[int, int]],
        edge_counts: Iterable[int] | None = None,
        routes: list | None = None,
        tag_heights: Iterable[float] | None = None,
    ):
        self.keys = list(keys)
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.attrs = attrs
        self.kinds = [a.get("kind") or "op" for a in attrs]
        self.lines = lines
        n = len(self.keys)
        self.x = np.asarray(xy[:, 0], dtype=float).copy() if n else np.zeros(0)
        self.y = np.asarray(xy[:, 1], dtype=float).copy() if n else np.zeros(0)
        self.w = np.asarray(wh[:, 0], dtype=float).copy() if n else np.zeros(0)
        self.h = np.asarray(wh[:, 1], dtype=float).copy() if n else np.zeros(0)
        # height of the tag band at the bottom of each box (numbers mode; 0: none)
        self.tag_h = np.asarray(list(tag_heights), dtype=float) if tag_heights is not None else np.zeros(n)
        self.alpha = np.ones(n)
        edge_array = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        self.src = edge_array[:, 0].copy()
        self.dst = edge_array[:, 1].copy()
        self.edge_alpha = np.ones(len(self.src))
        self.edge_counts = (
            np.asarray(list(edge_counts), dtype=np.int64) if edge_counts is not None else np.ones(len(self.src), dtype=np.int64)
        )
        self.edge_index = {(int(u), int(v)): i for i, (u, v) in enumerate(zip(self.src, self.dst))}
        # Routes around the boxes, one per edge (gradviz.core.routes), valid
        # while the boxes sit where the layout put them: a morph moves boxes
        # through in-between places, where plain curves are drawn instead.
        self.routes = list(routes) if routes is not None and len(routes) == len(self.src) else None
        self._routed_at = (self.x.copy(), self.y.copy()) if self.routes is not None else None
        self.routed = self.routes is not None
        self.version = 0
        self.state_version = 0
        self._reset_state()
        self.update_geometry()

    # -- construction ------------------------------------------------------
    @classmethod
    def from_layout(cls, layout: SceneLayout) -> "SceneModel":
        graph = layout.graph
        keys = list(graph.nodes)
        index = {k: i for i, k in enumerate(keys)}
        xy = np.array([layout.positions[k] for k in keys], dtype=float).reshape(-1, 2)
        wh = np.array([layout.sizes[k] for k in keys], dtype=float).reshape(-1, 2)
        edges, counts, routes = [], [], []
        for u, v, data in graph.edges(data=True):
            if u == v:
                continue
            edges.append((index[u], index[v]))
            counts.append(int(data.get("count", 1)))
            routes.append(layout.routes.get((u, v)))
        if not all(route is not None for route in routes):
            routes = None
        tags = [layout.tag_heights.get(k, 0.0) for k in keys]
        return cls(keys, [graph.nodes[k] for k in keys], [layout.lines[k] for k in keys], xy, wh, edges, counts, routes,
                   tags)

    def __len__(self) -> int:
        return len(self.keys)

    # -- state ---------------------------------------------------------------
    def _reset_state(self) -> None:
        n, m = len(self.keys), len(self.src)
        self.role = np.zeros(n, dtype=np.int8)
        self.flagged = np.zeros(n, dtype=bool)
        self.matched = np.zeros(n, dtype=bool)
        self.hidden = np.zeros(n, dtype=bool)
        self.path_nodes = np.zeros(n, dtype=bool)
        self.path_edges = np.zeros(m, dtype=bool)
        self.path_active = False
        self.edge_weight = np.full(m, np.nan)
        self.current = -1  # the current search match
        self.selected = -1
        self.hover = -1

    def touch_state(self) -> None:
        self.state_version += 1

    def visible_edges_mask(self) -> np.ndarray:
        """Edges whose two ends are shown (hidden nodes take their edges with them)."""
        if not self.hidden.any():
            return np.ones(len(self.src), dtype=bool)
        return ~(self.hidden[self.src] | self.hidden[self.dst])

    # -- geometry ------------------------------------------------------------
    def set_centres(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x[:] = x
        self.y[:] = y
        if self._routed_at is not None:
            self.routed = np.array_equal(self.x, self._routed_at[0]) and np.array_equal(self.y, self._routed_at[1])
        self.update_geometry()

    def update_geometry(self) -> None:
        """Recompute box corners and edge end points after positions changed."""
        self.x0 = self.x - self.w / 2
        self.x1 = self.x + self.w / 2
        self.y0 = self.y - self.h / 2
        self.y1 = self.y + self.h / 2
        src, dst = self.src, self.dst
        if len(src):
            # inputs spread along the target's top edge, ordered by source x
            # (so they do not cross right above the box), outputs along the
            # source's bottom edge ordered by target x
            in_offset = _spread(dst, self.x[src], self.w)
            out_offset = _spread(src, self.x[dst], self.w)
            self.sx = self.x[src] + out_offset
            self.sy = self.y1[src]
            self.ex = self.x[dst] + in_offset
            self.ey = self.y0[dst]
        else:
            self.sx = self.sy = self.ex = self.ey = np.zeros(0)
        dy = self.ey - ARROW_LENGTH - self.sy
        self.pull = np.clip(np.abs(dy) * 0.5, CURVE_PULL_MIN, CURVE_PULL_MAX)
        if self.routed:
            # a route's runs and curves stay within its columns' x and y range
            columns = [np.asarray(route, dtype=float) for route in self.routes]
            self.ex0 = np.array([c[:, 0].min() for c in columns]) - ATTACH_SPACING
            self.ex1 = np.array([c[:, 0].max() for c in columns]) + ATTACH_SPACING
            self.ey0 = np.array([c[:, 1:].min() for c in columns])
            self.ey1 = np.array([c[:, 1:].max() for c in columns])
        else:
            # bounding boxes of the curves (a cubic stays inside its control
            # points' hull; upward edges loop out by up to ``pull``)
            self.ex0 = np.minimum(self.sx, self.ex) - ATTACH_SPACING
            self.ex1 = np.maximum(self.sx, self.ex) + ATTACH_SPACING
            self.ey0 = np.minimum(self.sy, self.ey) - self.pull
            self.ey1 = np.maximum(self.sy, self.ey) + self.pull
        self.version += 1

    def bounds(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)`` of all boxes and edges."""
        if not len(self.keys):
            return (0.0, 0.0, 1.0, 1.0)
        left = min(self.x0.min(), self.ex0.min() if len(self.src) else np.inf)
        top = min(self.y0.min(), self.ey0.min() if len(self.src) else np.inf)
        right = max(self.x1.max(), self.ex1.max() if len(self.src) else -np.inf)
        bottom = max(self.y1.max(), self.ey1.max() if len(self.src) else -np.inf)
        return (float(left - margin), float(top - margin), float(right + margin), float(bottom + margin))

    def node_bounds(self) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)`` of the boxes only (what "fit" frames)."""
        if not len(self.keys):
            return (0.0, 0.0, 1.0, 1.0)
        return (float(self.x0.min()), float(self.y0.min()), float(self.x1.max()), float(self.y1.max()))

    # -- spatial queries -----------------------------------------------------
    def nodes_in(self, left: float, top: float, right: float, bottom: float, pad: float = 8.0) -> np.ndarray:
        """Indices of boxes that touch the rectangle (``pad`` for halos), drawing order."""
        mask = (self.x1 >= left - pad) & (self.x0 <= right + pad) & (self.y1 >= top - pad) & (self.y0 <= bottom + pad)
        return np.flatnonzero(mask)

    def edges_in(self, left: float, top: float, right: float, bottom: float) -> np.ndarray:
        mask = (self.ex1 >= left) & (self.ex0 <= right) & (self.ey1 >= top) & (self.ey0 <= bottom)
        return np.flatnonzero(mask)

    def node_at(self, px: float, py: float) -> int:
        """Index of the shown box under a scene point, or -1."""
        if not len(self.keys):
            return -1
        mask = (self.x0 <= px) & (px <= self.x1) & (self.y0 <= py) & (py <= self.y1) & ~self.hidden
        hits = np.flatnonzero(mask)
        return int(hits[-1]) if len(hits) else -1  # the last one is drawn on top

    def node_rect(self, i: int) -> tuple[float, float, float, float]:
        """``(left, top, width, height)`` of box ``i``."""
        return (float(self.x0[i]), float(self.y0[i]), float(self.w[i]), float(self.h[i]))


def _spread(group: np.ndarray, order_key: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Horizontal offsets that spread the edges meeting one box side by side.

    ``group[e]`` is the box edge ``e`` attaches to, ``order_key[e]`` where its
    other end is; edges are placed left to right in that order, centred on
    the box, at most ``ATTACH_SPACING`` apart and inside the rounded corners.
    """
    m = len(group)
    order = np.lexsort((np.arange(m), order_key, group))
    grouped = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(grouped)) + 1]
    counts = np.diff(np.r_[starts, m])
    rank = np.arange(m) - np.repeat(starts, counts)
    degree = np.repeat(counts, counts)
    room = np.maximum(widths[grouped] - 2 * CORNER, 0.0)
    spacing = np.minimum(ATTACH_SPACING, room / np.maximum(degree, 1))
    offset = np.empty(m)
    offset[order] = (rank - (degree - 1) / 2.0) * spacing
    return offset
