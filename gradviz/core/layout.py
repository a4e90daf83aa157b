"""Layered (Sugiyama-style) layout for autograd graphs.

Autograd graphs are deep, narrow DAGs whose edges run the way data flows:
parameters and inputs -> ops -> ... -> the output (loss). They read best drawn
top to bottom, like torchviz does, so :func:`layered_layout` puts sources at the
top and the output at the bottom.

Coordinate convention: positions are node CENTRES in pixels, with **y growing
downward** (the convention of Qt's graphics scene and of SVG). Every edge of an
acyclic graph therefore has ``y(target) > y(source)``. The bounding box of the
layout starts at (0, 0).

The pipeline (each step is one function below):

1. break cycles: autograd graphs have none, but a graph from elsewhere might;
   back edges found by an iterative DFS are reversed for the layout only.
2. layers: every node as low as possible (right above its first consumer, so
   a parameter sits right above the op that uses it), then a greedy pass that
   shortens edges further.
3. dummy nodes split edges longer than one layer, so that crossing reduction
   and spacing also account for the edges passing through a layer.
4. ordering within layers: the better of two DFS start orders, then median
   sweeps down and up, each followed by adjacent exchanges ("transpose"),
   keeping the order with the fewest crossings (counted exactly, all layers
   at once, vectorised with numpy).
5. x coordinates: a weighted "edges as short and as vertical as possible"
   objective under the no-overlap constraints; rows are placed one at a time,
   each exactly optimal for its neighbours (an isotonic regression), in
   sweeps down, up and then both ways.
6. y coordinates: one row per layer; the gap between rows scales with the
   tallest node.
7. edge routes (:func:`layered_layout_routed` only): each edge runs down the
   column its source, its dummies and its target keep free in their rows, and
   curves only in the empty gaps between rows (:mod:`gradviz.core.routes`), so
   no edge crosses a box it does not touch.

Everything is deterministic: ties are always broken by the graph's node (and
edge) insertion order, never by hashing, and nothing is random.

This module must not import Qt.
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Any, Callable, Hashable, Mapping, NamedTuple

import numpy as np

from gradviz.core.gcpause import gc_paused
from gradviz.core.routes import Route

__all__ = [
    "LayoutCancelled",
    "count_crossings",
    "LayeredLayout",
    "default_node_size",
    "layered_layout",
    "layered_layout_routed",
]

NodeSize = Callable[[Hashable, Mapping[str, Any]], "tuple[float, float]"]
Progress = Callable[[float, str], Any]

# Text metrics of the default node box (px). They match the UI's default font
# closely enough that boxes neither clip their text nor look empty.
CHAR_WIDTH = 7.5
LINE_HEIGHT = 16.0
H_PADDING = 20.0
V_PADDING = 12.0  # one text line -> 28 px tall, two lines -> 44 px
MIN_NODE_WIDTH = 40.0

# Space between two boxes in a layer (px) unless the caller gives its own (the
# graph view gives its own, graph_view.style.NODE_GAP; exports use this one).
DEFAULT_NODE_GAP = 24.0

# Width reserved for an edge passing through a layer (a dummy node).
DUMMY_WIDTH = 8.0
# Edge routes: several edges leaving (or entering) one box start (or end) this
# far apart along its bottom (top) side, at most, so their arrowheads do not
# pile up on one point; on a narrow box they share its middle 60 %.
PORT_STEP = 10.0
PORT_SPAN = 0.6

# Weights of the x-coordinate objective. Edges of the main computation (op ->
# op) weigh far more than the short edges that feed a parameter in, so the
# chain of ops stays straight and parameters move aside instead. (At half the
# weight each conv moved halfway toward its weight and bias, which sit on one
# side: a chain of convs drifted sideways row after row, and cifar_seq's graph
# came out width-bound with labels below the body text at fit.)
WEIGHT_EDGE = 1.0
WEIGHT_SOURCE_EDGE = 0.1
# Every segment of a long edge (split by dummies) weighs the same, so that at
# the optimum its dummies lie on the straight line between its endpoints: the
# room kept free for the edge is where a straight edge is really drawn. Long
# edges are stiffer still (weight grows with the span squared) because a bend
# in a long edge moves its straight line across many rows, and other nodes
# should rather step aside: e.g. a residual block next to its skip edge.
WEIGHT_LONG_EDGE = 8.0
SPAN_POWER = 2.0

# Crossing reduction: sweeps are capped, and we stop early after this many
# sweeps without improvement (the same numbers Graphviz dot uses).
MAX_SWEEPS = 24
PATIENCE = 8
# ... and after this much work (sweeps times nodes, dummies included), though
# never before MIN_SWEEPS: a sweep costs about 1.5 microseconds per node, and
# on big graphs the first few sweeps gain nearly all there is to gain.
SWEEP_WORK_LIMIT = 10_000
MIN_SWEEPS = 4

# x coordinates: after one sweep down and one up, this many sweeps balancing
# each row between both neighbouring rows (more barely change the picture),
# stopping early once no node moves by more than X_TOLERANCE px.
X_SWEEPS = 1
X_TOLERANCE = 0.5
# Pull of a node toward where it already is. Tiny: it only keeps a node with
# no neighbour on the side being looked at in place.
ANCHOR = 1e-3


class LayeredLayout(NamedTuple):
    """What :func:`layered_layout_routed` returns.

    Attributes:
        positions: ``{node: (x, y)}`` box centres, as :func:`layered_layout` gives them.
        routes: ``{(u, v): route}`` for every edge but self-loops; a route is a
            tuple of columns (see :mod:`gradviz.core.routes`), from ``u``'s box to
            ``v``'s, in the same coordinates.
    """

    positions: dict[Hashable, tuple[float, float]]
    routes: dict[tuple[Hashable, Hashable], Route]


class LayoutCancelled(Exception):
    """Raised by :func:`layered_layout` when its ``cancel`` callable returns true."""


def default_node_size(node: Hashable, attrs: Mapping[str, Any]) -> tuple[float, float]:
    """Estimate the ``(width, height)`` in px of the box that shows ``node``.

    The width follows the longest text line (``CHAR_WIDTH`` px per character
    plus padding); the height follows the number of lines. Parameter and leaf
    nodes show two lines (name and shape), other nodes their ``label``.
    """
    lines = _label_lines(node, attrs)
    longest = max(len(line) for line in lines)
    width = max(MIN_NODE_WIDTH, CHAR_WIDTH * longest + H_PADDING)
    height = V_PADDING + LINE_HEIGHT * len(lines)
    return width, height


def _label_lines(node: Hashable, attrs: Mapping[str, Any]) -> list[str]:
    kind = attrs.get("kind")
    if kind in ("param", "leaf"):
        title = attrs.get("name") or attrs.get("label") or str(node)
        lines = [str(title)]
        shape = attrs.get("shape")
        if shape is not None:
            lines.append(str(tuple(shape)))
    else:
        lines = str(attrs.get("label") or node).split("\n")
    return lines


class _Reporter:
    """Forwards progress and polls ``cancel`` at every step."""

    def __init__(self, progress: Progress | None, cancel: Callable[[], Any] | None):
        self._progress = progress
        self._cancel = cancel

    def __call__(self, fraction: float, message: str) -> None:
        if self._cancel is not None and self._cancel():
            raise LayoutCancelled(f"layout cancelled while {message}")
        if self._progress is not None:
            self._progress(min(1.0, max(0.0, fraction)), message)


def layered_layout(
    graph,
    *,
    node_size: NodeSize | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], Any] | None = None,
    node_gap: float = DEFAULT_NODE_GAP,
    layer_gap: float | None = None,
    max_sweeps: int = MAX_SWEEPS,
) -> dict[Hashable, tuple[float, float]]:
    """Lay ``graph`` out in layers, data flowing from top to bottom.

    Args:
        graph: a networkx (Di)Graph; edges point the way data flows (sources,
            e.g. parameters, end up at the top, the output at the bottom).
        node_size: ``node_size(node, attrs) -> (width, height)`` in px; the
            default is :func:`default_node_size`. No two boxes overlap.
        progress: called as ``progress(fraction, message)`` between steps (the
            GUI runs the layout off-thread and shows a progress bar).
        cancel: polled as often as ``progress``; when it returns true the
            layout stops with :class:`LayoutCancelled`.
        node_gap: minimal horizontal space between two boxes in a layer.
        layer_gap: vertical space between layers; default: the height of the
            tallest node (at least 24 px).
        max_sweeps: cap on crossing-reduction sweeps (fewer: faster, messier).

    Returns:
        ``{node: (x, y)}`` of box centres for every node, y growing downward:
        for every edge ``u -> v`` (cycles aside) ``y[v] > y[u]``. Self-loops are
        ignored; of a cycle, at least one edge (a back edge of a DFS from the
        sources) points upward instead; no edge is ever flat.

    The result depends only on the graph's structure, attributes and node
    insertion order, never on hashing or randomness.
    """
    with gc_paused():
        return _layered_layout(graph, node_size, _Reporter(progress, cancel), node_gap, layer_gap, max_sweeps,
                               routed=False).positions


def layered_layout_routed(graph, **options) -> LayeredLayout:
    """:func:`layered_layout` (same ``options``) plus a route for every edge.

    Routes follow the room the layout keeps free for each edge, so an edge
    drawn along its route never passes through a box it does not touch (a
    straight line from source to target often does, in densely connected
    graphs such as a DenseNet).
    """
    progress, cancel = options.pop("progress", None), options.pop("cancel", None)
    node_size = options.pop("node_size", None)
    node_gap, layer_gap = options.pop("node_gap", DEFAULT_NODE_GAP), options.pop("layer_gap", None)
    max_sweeps = options.pop("max_sweeps", MAX_SWEEPS)
    if options:
        raise TypeError(f"layered_layout_routed() got unexpected options: {', '.join(sorted(options))}")
    with gc_paused():
        return _layered_layout(graph, node_size, _Reporter(progress, cancel), node_gap, layer_gap, max_sweeps,
                               routed=True)


def _layered_layout(graph, node_size, report, node_gap, layer_gap, max_sweeps, *, routed: bool) -> LayeredLayout:
    report(0.0, "preparing layout")
    nodes = list(graph.nodes)
    if not nodes:
        report(1.0, "layout done")
        return LayeredLayout({}, {})
    size_of = node_size or default_node_size
    node_attrs = graph.nodes
    sizes = [size_of(v, node_attrs[v]) for v in nodes]
    widths = [float(w) for w, _ in sizes]
    heights = [float(h) for _, h in sizes]

    n = len(nodes)
    edges = _edge_list(graph, nodes)
    report(0.02, "breaking cycles")
    edges = _break_cycles(n, edges)
    report(0.05, "assigning layers")
    layer = _assign_layers(n, edges)
    gap = layer_gap if layer_gap is not None else max(24.0, max(heights))
    layer = _stack_crowded_sources(layer, edges, widths, heights, node_gap, gap)
    report(0.1, "inserting dummy nodes")
    layered = _LayeredGraph.build(layer, edges)

    def ordering_progress(fraction: float, message: str) -> None:
        report(0.12 + 0.6 * fraction, message)

    rows = _order_layers(layered, max_sweeps, ordering_progress)

    def x_progress(fraction: float, message: str) -> None:
        report(0.72 + 0.25 * fraction, message)

    all_widths = widths + [DUMMY_WIDTH] * (layered.size - n)
    x = _assign_x(layered, rows, all_widths, node_gap, x_progress)
    y_of_layer = _layer_centres(layer, heights, layered.n_layers, gap)

    left = min(xi - wi / 2 for xi, wi in zip(x, all_widths))
    x = [xi - left for xi in x]
    pos = {v: (x[i], y_of_layer[layer[i]]) for i, v in enumerate(nodes)}
    routes = {}
    if routed:
        rows = _row_extents(layer, heights, y_of_layer)
        routes = _edge_routes(graph, nodes, layered, x, [y_of_layer[k] for k in layer], widths, heights, rows)
    report(1.0, "layout done")
    return LayeredLayout(pos, routes)


# ---------------------------------------------------------------------------
# 1. edges and cycles


def _edge_list(graph, nodes: list) -> list[tuple[int, int]]:
    """Edges as index pairs, without self-loops or repeats.

    Listed target by target, each target's in-edges in the order they were
    added: for autograd graphs that is the order of an op's inputs, which the
    initial ordering then keeps left to right (bias, input, weight for addmm).
    """
    index = {v: i for i, v in enumerate(nodes)}
    pred = getattr(graph, "pred", None)  # an undirected graph has none
    pairs = ((u, v) for v in nodes for u in pred[v]) if pred is not None else graph.edges()
    seen: set[tuple[int, int]] = set()
    edges = []
    for u, v in pairs:
        pair = (index[u], index[v])
        if pair[0] == pair[1] or pair in seen:  # a self-loop cannot point downward
            continue
        seen.add(pair)
        edges.append(pair)
    return edges


def _break_cycles(n: int, edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Reverse the back edges of a DFS so that the edges form a DAG.

    The DFS is iterative (graphs have tens of thousands of nodes) and starts
    from the sources first, so in a graph with a few cycles the reversed edges
    are the ones that really point "back" against the data flow.
    """
    out_edges: list[list[int]] = [[] for _ in range(n)]
    has_pred = bytearray(n)
    for e, (u, v) in enumerate(edges):
        out_edges[u].append(e)
        has_pred[v] = 1
    roots = [v for v in range(n) if not has_pred[v]] + [v for v in range(n) if has_pred[v]]

    NEW, ON_STACK, DONE = 0, 1, 2
    state = bytearray(n)
    back: list[int] = []
    for root in roots:
        if state[root] != NEW:
            continue
        state[root] = ON_STACK
        stack = [(root, iter(out_edges[root]))]
        while stack:
            node, todo = stack[-1]
            for e in todo:
                target = edges[e][1]
                if state[target] == NEW:
                    state[target] = ON_STACK
                    stack.append((target, iter(out_edges[target])))
                    break
                if state[target] == ON_STACK:
                    back.append(e)
            else:
                state[node] = DONE
                stack.pop()
    if not back:
        return edges
    reverse = set(back)
    present = set(edges)
    acyclic = []
    for e, (u, v) in enumerate(edges):
        if e in reverse:
            if (v, u) in present:  # a 2-cycle: the other direction already exists
                continue
            present.add((v, u))
            u, v = v, u
        acyclic.append((u, v))
    return acyclic


# ---------------------------------------------------------------------------
# 2. layers


def _topological_order(n: int, succ: list[list[int]], pred: list[list[int]]) -> list[int]:
    """Kahn's algorithm; ready nodes are taken in insertion order (FIFO)."""
    missing = [len(p) for p in pred]
    order = [v for v in range(n) if missing[v] == 0]
    head = 0
    while head < len(order):
        v = order[head]
        head += 1
        for w in succ[v]:
            missing[w] -= 1
            if missing[w] == 0:
                order.append(w)
    return order


def _assign_layers(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Layer index per node (0 = top); every edge goes at least one layer down.

    Start from "as late as possible": each node right above its first
    consumer. For autograd graphs that puts a parameter next to the op that
    uses it instead of in one long top row with edges running down the whole
    graph. Then nodes with more inputs than outputs move up (and vice versa)
    while that shortens the total edge length, e.g. a side output that is not
    the loss moves up next to its producer. Empty layers are squeezed out.
    """
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        succ[u].append(v)
        pred[v].append(u)
    topo = _topological_order(n, succ, pred)

    height = [0] * n  # longest path to a sink
    for v in reversed(topo):
        if succ[v]:
            height[v] = 1 + max([height[w] for w in succ[v]])
    top = max(height)
    layer = [top - h for h in height]
    for v in range(n):
        if not succ[v] and not pred[v]:
            layer[v] = 0  # isolated nodes: top row, not the bottom one

    # Greedy edge shortening: moving v by one layer changes the total edge
    # length by (#in - #out), so move it as far as its neighbours allow in the
    # direction that helps. Every move strictly shortens the total: it ends.
    for _ in range(8):
        moved = False
        for v in topo:
            n_in, n_out = len(pred[v]), len(succ[v])
            if n_out > n_in:
                best = min([layer[w] for w in succ[v]]) - 1
            elif n_in > n_out:
                best = max([layer[u] for u in pred[v]]) + 1
            else:
                continue
            if best != layer[v]:
                layer[v] = best
                moved = True
        if not moved:
            break

    used = sorted(set(layer))
    squeeze = {old: new for new, old in enumerate(used)}
    return [squeeze[k] for k in layer]


# A row holding this many parameters (or other inputs of their own) side by side,
# and wider than STACK_FACTOR times the widest row of everything else, stacks them
# in rows of their own above it. A BiLSTM's eight weights and biases per layer stood
# in one row three times the width of the rest, and its labels came out at 3.5 px at
# fit. Fewer than four stay put: a Linear's or a conv's weight and bias keep their
# place beside it.
# Only a drawing that is wide for its height stacks: a graph pane is about
# PANE_ASPECT as tall as it is wide, and a drawing taller than that is fitted by
# its height, so stacking would only make it smaller (a one-layer LSTM's four
# weights beside its chain, a ResNet's batch norms beside a shortcut stay put).
MIN_STACKED_SOURCES = 4
STACK_FACTOR = 1.5
PANE_ASPECT = 0.75


def _stack_crowded_sources(layer: list[int], edges: list[tuple[int, int]], widths: list[float],
                           heights: list[float], gap: float, layer_gap: float) -> list[int]:
    """``layer`` with the inputs of a too-wide row stacked in new rows right above it.

    Only sources whose one consumer is in the next row move: a source lifted by k rows
    lengthens its one edge by k (a dummy in each row it passes, counted in that row's
    width). Each row, the crowded one included, is filled up to the target width
    (:data:`STACK_FACTOR` times the widest row of everything that does not move);
    rows that are not crowded, and every row's other boxes, keep their order.
    """
    n = len(layer)
    n_layers = max(layer) + 1
    has_pred = bytearray(n)
    consumers: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        has_pred[v] = 1
        consumers[u].append(v)
    movable = bytearray(n)
    sources_in: list[list[int]] = [[] for _ in range(n_layers)]  # each row's movable sources, in node order
    for v in range(n):
        if not has_pred[v] and len(consumers[v]) == 1 and layer[consumers[v][0]] == layer[v] + 1:
            movable[v] = 1
            sources_in[layer[v]].append(v)
    if max(map(len, sources_in)) < MIN_STACKED_SOURCES:
        return layer
    width = [-gap] * n_layers  # each box adds its width and one gap; a row's first has none
    core = [-gap] * n_layers  # the same without the movable sources
    for v in range(n):
        width[layer[v]] += widths[v] + gap
        if not movable[v]:
            core[layer[v]] += widths[v] + gap
    for u, v in edges:
        for k in range(layer[u] + 1, layer[v]):  # a dummy per row a long edge passes
            width[k] += DUMMY_WIDTH + gap
            core[k] += DUMMY_WIDTH + gap
    row_height = [0.0] * n_layers
    for v in range(n):
        row_height[layer[v]] = max(row_height[layer[v]], heights[v])
    if max(width) * PANE_ASPECT <= sum(row_height) + layer_gap * (n_layers - 1):
        return layer  # fitted by its height: narrower would not be bigger
    target = STACK_FACTOR * max(max(core), max(widths))
    lift = [0] * n  # rows above its own each source ends up
    added = [0] * n_layers  # rows stacked above each row
    for row in range(n_layers):
        if len(sources_in[row]) < MIN_STACKED_SOURCES or width[row] <= target:
            continue
        rows = [max(core[row], 0.0)]  # the row itself, then the rows stacked above it
        for v in sources_in[row]:
            level = next((j for j in range(len(rows)) if rows[j] + widths[v] + (gap if rows[j] > 0 else 0.0) <= target
                          and all(rows[i] + DUMMY_WIDTH + gap <= target for i in range(j))), len(rows))
            if level == len(rows):
                rows.append(0.0)
            rows[level] += widths[v] + (gap if rows[level] > 0 else 0.0)
            for i in range(level):
                rows[i] += DUMMY_WIDTH + gap
            lift[v] = level
        added[row] = len(rows) - 1
    if not any(added):
        return layer
    shift = [0] * n_layers  # new index of each old row: every row stacked above it or above a row before it
    total = 0
    for row in range(n_layers):
        total += added[row]
        shift[row] = total
    return [layer[v] + shift[layer[v]] - lift[v] for v in range(n)]


# ---------------------------------------------------------------------------
# 3. dummy nodes


class _LayeredGraph:
    """The "proper" layered graph: real nodes 0..n-1, then dummy nodes.

    Every segment joins two consecutive layers; an edge spanning k layers
    becomes a chain of k segments through k-1 dummies. ``up[v]``/``down[v]``
    list v's neighbours in the layer above/below, with the matching segment
    weights of the x-coordinate objective in ``up_weight``/``down_weight``.
    """

    def __init__(self, n_real: int, layer_of: list[int], n_layers: int):
        self.n_real = n_real
        # {(upper, lower) real edge: the dummies it passes, top to bottom}
        self.chain_of: dict[tuple[int, int], list[int]] = {}
        self.layer_of = layer_of  # real nodes, then dummies
        self.n_layers = n_layers
        self.seg_upper: list[int] = []
        self.seg_lower: list[int] = []
        size = len(layer_of)
        self.up: list[list[int]] = [[] for _ in range(size)]
        self.down: list[list[int]] = [[] for _ in range(size)]
        self.up_weight: list[list[float]] = [[] for _ in range(size)]
        self.down_weight: list[list[float]] = [[] for _ in range(size)]

    @property
    def size(self) -> int:
        return len(self.layer_of)

    def _add_node(self, layer: int) -> int:
        self.layer_of.append(layer)
        for lists in (self.up, self.down, self.up_weight, self.down_weight):
            lists.append([])
        return len(self.layer_of) - 1

    def _add_segment(self, upper: int, lower: int, weight: float) -> None:
        self.seg_upper.append(upper)
        self.seg_lower.append(lower)
        self.down[upper].append(lower)
        self.down_weight[upper].append(weight)
        self.up[lower].append(upper)
        self.up_weight[lower].append(weight)

    @classmethod
    def build(cls, layer: list[int], edges: list[tuple[int, int]]) -> "_LayeredGraph":
        n = len(layer)
        graph = cls(n, list(layer), max(layer) + 1)
        has_pred = bytearray(n)
        for _, v in edges:
            has_pred[v] = 1
        depth = _depths(n, edges)
        for u, v in edges:
            if layer[v] - layer[u] > 1:
                long_weight = WEIGHT_LONG_EDGE * (layer[v] - layer[u]) ** SPAN_POWER
                prev = u
                chain = graph.chain_of[(u, v)] = []
                for k in range(layer[u] + 1, layer[v]):
                    dummy = graph._add_node(k)
                    chain.append(dummy)
                    graph._add_segment(prev, dummy, long_weight)
                    prev = dummy
                graph._add_segment(prev, v, long_weight)
            else:
                graph.chain_of[(u, v)] = []
                # The main computation: u on a longest path into v. A side input (a
                # parameter, or an op on one: a Linear's weight through TBackward0) is
                # light, or each Addmm moved halfway toward its transposed weight and a
                # 75-layer MLP drifted 52 px a layer into a diagonal strip.
                weight = WEIGHT_EDGE if has_pred[u] and depth[u] == depth[v] - 1 else WEIGHT_SOURCE_EDGE
                graph._add_segment(u, v, weight)
        return graph


def _depths(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Longest path from any source to each node, in edges (the edges are acyclic)."""
    succ: list[list[int]] = [[] for _ in range(n)]
    waiting = [0] * n
    for u, v in edges:
        succ[u].append(v)
        waiting[v] += 1
    depth = [0] * n
    ready = [v for v in range(n) if not waiting[v]]
    while ready:
        u = ready.pop()
        for v in succ[u]:
            if depth[u] + 1 > depth[v]:
                depth[v] = depth[u] + 1
            waiting[v] -= 1
            if not waiting[v]:
                ready.append(v)
    return depth


# ---------------------------------------------------------------------------
# 4. ordering within layers


def _order_layers(layered: _LayeredGraph, max_sweeps: int, report: Progress) -> list[list[int]]:
    """Order each layer to reduce crossings; returns the rows, top layer first."""
    size, up, down = layered.size, layered.up, layered.down
    layer_of = layered.layer_of
    counter = _CrossingCounter(layered)

    # Two start orders, as dot tries: DFS up from the bottom (from the loss:
    # an op's inputs then appear in argument order), and DFS down from the
    # top. Sorting is stable, so nodes of a layer stay in insertion order.
    # Each is tidied by transposition; the sweeps then refine the better one.
    bottom_up = sorted(range(size), key=lambda v: -layer_of[v])
    top_down = sorted(range(size), key=layer_of.__getitem__)
    best_rows, best_crossings = None, None
    for start_nodes, neighbours in ((bottom_up, up), (top_down, down)):
        rows = _dfs_rows(start_nodes, neighbours, layer_of, layered.n_layers)
        pos = _positions(rows, size)
        _transpose(rows, pos, up, down)
        crossings = counter.count(pos)
        if best_crossings is None or crossings < best_crossings:  # ties: the first
            best_rows, best_crossings = rows, crossings
        report(0.1, "ordering layers")
        if best_crossings == 0:
            break  # (an autograd graph of a plain feed-forward net often is a tree)
    return _reduce_crossings(best_rows, best_crossings, layered, counter, max_sweeps, report)


def _positions(rows: list[list[int]], size: int) -> list[int]:
    """Index of every node within its row."""
    pos = [0] * size
    for row in rows:
        for i, v in enumerate(row):
            pos[v] = i
    return pos


def _dfs_rows(start_nodes, neighbours, layer_of, n_layers) -> list[list[int]]:
    """Initial order: nodes in the order an iterative DFS first reaches them.

    For a tree (an autograd graph nearly is one, seen from the loss) the DFS
    order is already free of crossings.
    """
    rows: list[list[int]] = [[] for _ in range(n_layers)]
    seen = bytearray(len(layer_of))
    for start in start_nodes:
        if seen[start]:
            continue
        seen[start] = 1
        rows[layer_of[start]].append(start)
        stack = [iter(neighbours[start])]
        while stack:
            for w in stack[-1]:
                if not seen[w]:
                    seen[w] = 1
                    rows[layer_of[w]].append(w)
                    stack.append(iter(neighbours[w]))
                    break
            else:
                stack.pop()
    return rows


def _reduce_crossings(rows, crossings, layered, counter, max_sweeps, report):
    """Median sweeps, alternately down and up, each followed by transposition.

    As in dot, two sweeps out of four order ties the other way round and the
    transpositions in between also swap pairs that tie: that walks along
    plateaus of equal crossing counts instead of getting stuck on them. Stops
    after ``PATIENCE`` sweeps without improvement; returns the best rows.
    """
    up, down = layered.up, layered.down
    pos = _positions(rows, layered.size)
    best, best_rows = crossings, [row[:] for row in rows]
    n_layers = len(rows)
    since_best = 0
    max_sweeps = min(max_sweeps, max(MIN_SWEEPS, SWEEP_WORK_LIMIT // max(1, layered.size)))
    for sweep in range(max_sweeps):
        if best == 0:
            break
        report(0.1 + 0.9 * sweep / max_sweeps, f"reducing crossings (sweep {sweep + 1})")
        reverse = sweep % 4 < 2
        if sweep % 2 == 0:
            _median_sweep(rows, pos, up, range(1, n_layers), reverse)
        else:
            _median_sweep(rows, pos, down, range(n_layers - 2, -1, -1), reverse)
        _transpose(rows, pos, up, down, swap_ties=not reverse)
        crossings = counter.count(pos)
        since_best = 0 if crossings < best else since_best + 1
        if crossings <= best:  # on a tie keep the newer order: it moved on
            best, best_rows = crossings, [row[:] for row in rows]
        if since_best >= PATIENCE:
            break
    report(1.0, "crossings reduced")
    return best_rows


def _median(values: list[int]) -> float:
    """Graphviz's weighted median: for an even count lean toward the denser side."""
    values.sort()
    m = len(values)
    half = m // 2
    if m & 1:
        return float(values[half])
    if m == 2:
        return (values[0] + values[1]) / 2
    left = values[half - 1] - values[0]
    right = values[-1] - values[half]
    if left + right == 0:
        return (values[half - 1] + values[half]) / 2
    return (values[half - 1] * right + values[half] * left) / (left + right)


def _median_sweep(rows, pos, neighbours, layer_sequence, reverse_ties: bool = False) -> None:
    """Sort each layer by the median position of its neighbours in the layer before.

    Nodes without such neighbours keep their slot; ties keep the current order
    (or reverse it, with ``reverse_ties``).
    """
    tie = -1 if reverse_ties else 1
    for k in layer_sequence:
        row = rows[k]
        if len(row) < 2:
            continue
        slots, keyed = [], []
        for i, v in enumerate(row):
            ns = neighbours[v]
            if not ns:
                continue
            slots.append(i)
            if len(ns) == 1:
                keyed.append((pos[ns[0]], tie * i, v))
            else:
                keyed.append((_median([pos[u] for u in ns]), tie * i, v))
        keyed.sort()
        for slot, (_, _, v) in zip(slots, keyed):
            row[slot] = v
            pos[v] = slot


def _pair_crossings(left: list[int], right: list[int], pos: list[int]) -> int:
    """Crossings among the edges of two neighbouring nodes toward one layer."""
    if len(left) == 1 and len(right) == 1:  # by far the commonest case
        return 1 if pos[right[0]] < pos[left[0]] else 0
    if len(left) * len(right) > 64:  # big fan-in/out (e.g. a stack of many tensors)
        right_positions = sorted([pos[b] for b in right])
        return sum(bisect_left(right_positions, pos[a]) for a in left)
    count = 0
    for a in left:
        pa = pos[a]
        for b in right:
            if pos[b] < pa:
                count += 1
    return count


def _transpose(rows, pos, up, down, *, swap_ties: bool = False, max_rounds: int = 4) -> None:
    """Swap neighbours in a layer while that removes crossings (dot's "transpose").

    With ``swap_ties`` pairs whose swap leaves their crossings as they are
    (but not zero) are swapped too; only strict gains start another round.
    Later rounds only look at layers next to one that changed: elsewhere
    nothing changed since the last look.
    """
    n_layers = len(rows)
    todo = bytearray(b"\x01") * n_layers
    for _ in range(max_rounds):
        improved = False
        next_todo = bytearray(n_layers)
        for k in range(n_layers):
            row = rows[k]
            if not todo[k] or len(row) < 2:
                continue
            changed = False
            for i in range(len(row) - 1):
                v, w = row[i], row[i + 1]
                uv, uw, dv, dw = up[v], up[w], down[v], down[w]
                now = swapped = 0
                if uv and uw:
                    now = _pair_crossings(uv, uw, pos)
                    swapped = _pair_crossings(uw, uv, pos)
                if dv and dw:
                    now += _pair_crossings(dv, dw, pos)
                    swapped += _pair_crossings(dw, dv, pos)
                if now == 0:
                    continue  # nothing to gain (also: no edges that could cross)
                if swapped < now or (swap_ties and swapped == now):
                    row[i], row[i + 1] = w, v
                    pos[v], pos[w] = i + 1, i
                    changed = True
                    improved = improved or swapped < now
            if changed:
                for j in range(max(0, k - 1), min(n_layers, k + 2)):
                    next_todo[j] = 1
        if not improved:
            break
        todo = next_todo


class _CrossingCounter:
    """Counts the crossings of a layered graph for a given order, vectorised.

    Two segments between the same pair of layers cross exactly when their
    order at the top and at the bottom disagree, so the crossings are the
    inversions of the bottom positions listed in top order; all layer pairs are
    done at once by offsetting each pair's positions.
    """

    def __init__(self, layered: _LayeredGraph):
        self.upper = np.asarray(layered.seg_upper, dtype=np.int64)
        self.lower = np.asarray(layered.seg_lower, dtype=np.int64)
        layer_of = np.asarray(layered.layer_of, dtype=np.int64)
        self.upper_layer = layer_of[self.upper]

    def count(self, pos: list[int]) -> int:
        if len(self.upper) < 2:
            return 0
        position = np.asarray(pos, dtype=np.int64)
        top, bottom = position[self.upper], position[self.lower]
        order = np.lexsort((bottom, top, self.upper_layer))
        stride = int(position.max()) + 1
        sequence = self.upper_layer[order] * stride + bottom[order]
        return _count_inversions(sequence)


def _count_inversions(values: np.ndarray) -> int:
    """Number of pairs i < j with values[i] > values[j] (non-negative ints).

    A bottom-up merge sort done level by level with numpy: at each level the
    two sorted halves of every block are compared with one global
    ``searchsorted`` (blocks are kept apart by adding a per-block offset).
    """
    n = len(values)
    if n < 2:
        return 0
    size = 1 << (n - 1).bit_length()
    pad = int(values.max()) + 1  # padding at the end never forms an inversion
    a = np.full(size, pad, dtype=np.int64)
    a[:n] = values
    span = pad + 1
    total = 0
    half = 1
    while half < size:
        blocks = a.reshape(-1, 2 * half)
        n_blocks = blocks.shape[0]
        offsets = np.arange(n_blocks, dtype=np.int64)[:, None] * span
        left = (blocks[:, :half] + offsets).ravel()
        right = (blocks[:, half:] + offsets).ravel()
        at = np.searchsorted(left, right, side="right")
        not_greater = at - np.repeat(np.arange(n_blocks, dtype=np.int64) * half, half)
        total += int((half - not_greater).sum())
        a = np.sort(blocks, axis=1).ravel()
        half *= 2
    return total


# ---------------------------------------------------------------------------
# 5. x coordinates


def _assign_x(layered: _LayeredGraph, rows, widths, node_gap: float, report: Progress) -> list[float]:
    """x of every node (real and dummy) for the given order of the rows.

    The aim: every segment as short (as vertical) as possible, weighted
    (``sum weight * (x_upper - x_lower)^2``), while each row keeps its order
    and neighbours in a row stay far enough apart not to overlap. Rows are
    placed one at a time, each exactly optimal given its neighbouring rows:
    first a sweep down aligning every row with the row above and one up
    aligning it with the row below (this straightens chains all the way
    through), then sweeps balancing each row between both sides.
    """
    offset = _packed_offsets(layered, rows, widths, node_gap)
    x = [0.0] * layered.size
    for row in rows:  # start: every row packed and centred on 0
        half = offset[row[-1]] / 2 if row else 0.0
        for v in row:
            x[v] = offset[v] - half
    up, down = layered.up, layered.down
    up_weight, down_weight = layered.up_weight, layered.down_weight
    both = [a + b for a, b in zip(up, down)]
    both_weight = [a + b for a, b in zip(up_weight, down_weight)]
    up_pull = [ANCHOR + sum(w) for w in up_weight]
    down_pull = [ANCHOR + sum(w) for w in down_weight]
    both_pull = [a + b - ANCHOR for a, b in zip(up_pull, down_pull)]
    last = layered.n_layers - 1
    _place_rows(rows, x, offset, up, up_weight, up_pull, range(1, last + 1))
    _place_rows(rows, x, offset, down, down_weight, down_pull, range(last - 1, -1, -1))
    for sweep in range(X_SWEEPS):
        report(sweep / X_SWEEPS, "placing nodes")
        layers = range(last + 1) if sweep % 2 == 0 else range(last, -1, -1)
        if _place_rows(rows, x, offset, both, both_weight, both_pull, layers) < X_TOLERANCE:
            break
    report(1.0, "nodes placed")
    return x


def _packed_offsets(layered: _LayeredGraph, rows, widths, node_gap: float) -> list[float]:
    """Centre of each node when its row is packed as tightly as allowed from 0.

    Two nodes of a row may not come closer than these offsets are apart.
    Edges passing through (dummies) need less room than boxes.
    """
    n_real = layered.n_real
    offset = [0.0] * layered.size
    for row in rows:
        at = 0.0
        for left, right in zip(row, row[1:]):
            gap = node_gap if (left < n_real and right < n_real) else node_gap / 2
            at += (widths[left] + widths[right]) / 2 + gap
            offset[right] = at
    return offset


def _place_rows(rows, x, offset, neighbours, weights, pulls, layer_sequence) -> float:
    """Place each row optimally given its ``neighbours``; returns the biggest move.

    Node v wants to sit at the weighted mean of its neighbours (``pulls[v]``
    is the sum of its weights); with ``y = x - offset`` the no-overlap
    constraints say "y non-decreasing along the row", so the best row is a
    weighted isotonic regression.
    """
    biggest = 0.0
    for k in layer_sequence:
        row = rows[k]
        wanted = []
        for v in row:
            total = ANCHOR * x[v]
            for u, weight in zip(neighbours[v], weights[v]):
                total += weight * x[u]
            wanted.append(total / pulls[v] - offset[v])
        if len(row) > 1 and any(a > b for a, b in zip(wanted, wanted[1:])):
            wanted = _isotonic(wanted, [pulls[v] for v in row])  # else: no overlap anyway
        for v, y in zip(row, wanted):
            new = y + offset[v]
            move = new - x[v]
            if move > biggest or -move > biggest:
                biggest = abs(move)
            x[v] = new
    return biggest


def _isotonic(values: list[float], weights: list[float]) -> list[float]:
    """Weighted least-squares non-decreasing fit (pool adjacent violators)."""
    means: list[float] = []
    totals: list[float] = []
    counts: list[int] = []
    for value, weight in zip(values, weights):
        count = 1
        while means and means[-1] > value:  # merge with the block before
            prev_weight = totals.pop()
            value = (means.pop() * prev_weight + value * weight) / (prev_weight + weight)
            weight += prev_weight
            count += counts.pop()
        means.append(value)
        totals.append(weight)
        counts.append(count)
    fitted: list[float] = []
    for mean, count in zip(means, counts):
        fitted.extend([mean] * count)
    return fitted


# ---------------------------------------------------------------------------
# 6. y coordinates


def _layer_centres(layer: list[int], heights: list[float], n_layers: int, gap: float) -> list[float]:
    """y of each layer's centre line: rows as tall as their tallest node, ``gap`` apart."""
    tallest = [0.0] * n_layers
    for k, height in zip(layer, heights):
        if height > tallest[k]:
            tallest[k] = height
    centres, top = [], 0.0
    for height in tallest:
        centres.append(top + height / 2)
        top += height + gap
    return centres


def _row_extents(layer: list[int], heights: list[float], centres: list[float]) -> list[tuple[float, float]]:
    """(top, bottom) of each row: its centre line ± half its tallest box."""
    tallest = [0.0] * len(centres)
    for k, height in zip(layer, heights):
        tallest[k] = max(tallest[k], height)
    return [(c - t / 2, c + t / 2) for c, t in zip(centres, tallest)]


# ---------------------------------------------------------------------------
# 7. edge routes


def _edge_routes(graph, nodes, layered: _LayeredGraph, x, y, widths, heights, rows) -> dict:
    """A route (see :mod:`gradviz.core.routes`) for every edge of ``graph`` but self-loops.

    Each layered edge runs: down from its port on the source box's bottom to
    the bottom of the source's row; through every row it passes at its dummy's
    slot; from the top of the target's row down to its port on the target's
    top. The vertical runs stay in columns no other box of the row covers, and
    the joins between them lie in the gaps between rows: no box is crossed.
    """
    layer_of = layered.layer_of
    ports_out, ports_in = _ports(layered, x, widths)
    layered_routes = {}
    for (u, v), chain in layered.chain_of.items():
        columns = [(ports_out[u, v], y[u] + heights[u] / 2, rows[layer_of[u]][1])]
        columns += [(x[d], rows[layer_of[d]][0], rows[layer_of[d]][1]) for d in chain]
        columns.append((ports_in[u, v], rows[layer_of[v]][0], y[v] - heights[v] / 2))
        layered_routes[(u, v)] = tuple(columns)

    index = {v: i for i, v in enumerate(nodes)}
    routes = {}
    for a, b in graph.edges():
        i, j = index[a], index[b]
        if i == j:
            continue
        route = layered_routes.get((i, j))
        if route is None:  # reversed to break a cycle: run it back up
            route = tuple((cx, y_to, y_from) for cx, y_from, y_to in reversed(layered_routes[(j, i)]))
        routes[(a, b)] = route
    return routes


def _ports(layered: _LayeredGraph, x, widths):
    """Where each edge leaves its source's bottom and enters its target's top.

    The edges at one side of a box are spread along it in the order of where
    they come from (or go to), so they neither cross each other at the box nor
    end on one point."""
    leaving: dict[int, list] = {}
    arriving: dict[int, list] = {}
    for (u, v), chain in layered.chain_of.items():
        below, above = (chain[0] if chain else v), (chain[-1] if chain else u)
        leaving.setdefault(u, []).append((x[below], (u, v)))
        arriving.setdefault(v, []).append((x[above], (u, v)))
    ports_out, ports_in = {}, {}
    for side, ports in ((leaving, ports_out), (arriving, ports_in)):
        for node, edges in side.items():
            edges.sort()
            count = len(edges)
            step = min(PORT_STEP, PORT_SPAN * widths[node] / (count - 1)) if count > 1 else 0.0
            for i, (_, edge) in enumerate(edges):
                ports[edge] = x[node] + (i - (count - 1) / 2) * step
    return ports_out, ports_in


# ---------------------------------------------------------------------------
# crossings of any drawing


def count_crossings(graph, pos: Mapping[Hashable, tuple[float, float]], *, chunk: int = 2_000_000) -> int:
    """Count the pairs of edges whose straight segments properly cross.

    Each edge is drawn as the straight segment between its endpoints' positions
    in ``pos`` (whatever made the layout: ours, or Graphviz's node positions),
    so any two layouts of a graph are counted the same way. A pair counts when
    the two segments meet in exactly one point inside both; touching, sharing
    an endpoint or overlapping collinearly does not count. Self-loops are
    ignored. ``pos`` must hold every node.

    Only pairs that overlap vertically are tested: edges are sorted by their
    top y, and for each edge the candidates are the following edges that start
    above its bottom. The tests run vectorised in chunks of at most ``chunk``
    pairs, so memory stays bounded on big graphs.
    """
    index = {v: i for i, v in enumerate(graph.nodes)}
    ends = [(index[u], index[v]) for u, v in graph.edges() if u != v]
    if len(ends) < 2:
        return 0
    xy = np.array([pos[v] for v in graph.nodes], dtype=float)
    a = np.array([e[0] for e in ends], dtype=np.int64)
    b = np.array([e[1] for e in ends], dtype=np.int64)
    y_top = np.minimum(xy[a, 1], xy[b, 1])
    y_bottom = np.maximum(xy[a, 1], xy[b, 1])
    order = np.argsort(y_top, kind="stable")
    a, b, y_top, y_bottom = a[order], b[order], y_top[order], y_bottom[order]
    m = len(a)
    # edges i+1 .. stop[i]-1 start strictly above the bottom of edge i
    stop = np.searchsorted(y_top, y_bottom, side="left")
    n_candidates = np.maximum(stop - np.arange(m) - 1, 0)
    cumulative = np.cumsum(n_candidates)
    total = 0
    first = 0
    while first < m:
        base = cumulative[first - 1] if first else 0
        last = int(np.searchsorted(cumulative, base + chunk, side="right"))
        last = max(last, first + 1)
        counts = n_candidates[first:last]
        n_pairs = int(counts.sum())
        if n_pairs:
            i = np.repeat(np.arange(first, last, dtype=np.int64), counts)
            run_start = np.repeat(np.cumsum(counts) - counts, counts)
            j = i + 1 + (np.arange(n_pairs, dtype=np.int64) - run_start)
            total += _count_proper_crossings(xy, a[i], b[i], a[j], b[j])
        first = last
    return total


def _count_proper_crossings(xy, a1, b1, a2, b2) -> int:
    disjoint = (a1 != a2) & (a1 != b2) & (b1 != a2) & (b1 != b2)
    a1, b1, a2, b2 = a1[disjoint], b1[disjoint], a2[disjoint], b2[disjoint]
    p, q, r, s = xy[a1], xy[b1], xy[a2], xy[b2]
    side_r = _orientation(p, q, r)
    side_s = _orientation(p, q, s)
    side_p = _orientation(r, s, p)
    side_q = _orientation(r, s, q)
    crosses = (side_r * side_s < 0) & (side_p * side_q < 0)
    return int(np.count_nonzero(crosses))


def _orientation(p, q, r) -> np.ndarray:
    """Sign of the turn p -> q -> r (+1 left, -1 right, 0 collinear)."""
    cross = (q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0])
    return np.sign(cross)
