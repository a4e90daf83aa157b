"""Collapse an autograd graph by module: a whole ``conv1`` or ``layer1.0`` becomes one box.

Big models give autograd graphs of thousands of nodes; grouping the nodes by
the module that created them (the ``module`` attribute that
:func:`gradviz.trace_model` sets, qualified names nested by ".") turns them
into something a person can read. This module holds the pure logic: which
original node is drawn as which box, and the smaller graph with the boxes and
the merged edges. The UI animates between such graphs and lays each one out.

Conventions:

* A node belongs to a module: op nodes through their ``module`` attribute,
  parameter nodes through their name (``"layer1.0.conv1.weight"`` belongs to
  ``"layer1.0.conv1"``). Outputs, leaves and ops of the top level (``""``)
  belong to no module and are never collapsed.
* A module also contains the nodes of its submodules: collapsing ``layer1``
  hides ``layer1.0.conv1``'s nodes too.
* A *collapsed set* is a set of module names. When both a module and one of
  its ancestors are in it, the outermost one wins.
* The box of module ``m`` has the key ``box_key(m) == "module:" + m`` and the
  attributes ``kind="module"``, ``label=m``, ``module=m`` and ``count`` (how
  many original nodes it stands for), ``ops`` and ``params``.
* A module *called* more than once in the forward (ResNet's BasicBlock applies
  one ``relu`` twice; T5 one ``dropout`` before and after its blocks) is one box
  per call, ``box_key(m, k)`` labelled ``"m (call k)"`` with ``call=k``, going by
  the op nodes' ``calls`` attribute (:attr:`gradviz.core.graph.ForwardRecorder.call_of`).
  One box for both calls would merge two places of the data flow: the drawing
  would get cycles and show flows that do not exist. A call is a contiguous run
  of autograd's creation order, so boxes of calls keep an acyclic graph acyclic.
  Its parameters go into the box of the first call that uses them (they only
  feed forward from there); a parameter no call of its module uses stays a node.
* A box that would still sit on a cycle is opened one level (its submodules
  become the boxes) until none does. That happens to containers that are never
  called themselves: a ``ModuleList`` of blocks whose residual adds run in the
  parent's ``forward`` between the blocks. A collapsed graph of an acyclic
  graph is therefore always acyclic.
* *Folding* (``collapse_graph(..., fold=True)``): a run of at least
  :data:`FOLD_MIN_REPEATS` sibling boxes numbered one after another
  (``blocks.0``, ``blocks.1``, ... as a ``ModuleList`` or ``Sequential`` names
  them) that look alike (same numbers of nodes, ops and parameters, and the
  same ops: a ReLU, a pool and a Flatten are not three repeats) becomes
  one box ``fold_key("blocks", 0, 23)`` labelled ``"blocks.0 … blocks.23  ×24"``
  (``kind="module"``, ``module`` the parent, ``repeats``, ``folded``: the
  modules in it). Ops between the repeats (a residual add in the parent's
  ``forward``) go into the fold too: the fold holds every node on a path from
  one repeat to another, so contracting it keeps the graph acyclic. Alike
  *groups* repeat too: a ``Sequential`` of ``Linear, ReLU, Linear, ReLU, …``
  repeats a pattern of :data:`FOLD_MAX_PERIOD` boxes at most; it folds into
  ``"net.0 … net.199  ×100 (2 modules each)"`` with ``period`` 2, ``repeats``
  100 (a run of single alike boxes is preferred where both fit). The children
  of a model that *is* a ``Sequential`` are numbered without a parent
  (``"0"``, ``"1"``, …) and fold as ``fold_key("", 0, 199)``. ``unfolded``
  names folds (their keys) the reader opened: every repeat of the same parent
  is shown as its own box again.
* Edges between two boxes, or a box and a node, are merged: one edge per pair
  with ``count`` = how many original edges it stands for. Edges inside a box
  disappear. Edges between two shown original nodes keep their attributes.

No Qt here: this runs in worker threads and in tests.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import networkx as nx

__all__ = [
    "BOX_PREFIX",
    "FOLD_MAX_PERIOD",
    "FOLD_MIN_REPEATS",
    "FOLD_PREFIX",
    "fold_key",
    "fold_modules",
    "fold_parent",
    "is_fold",
    "CollapsedGraph",
    "ancestor_modules",
    "box_call",
    "box_key",
    "box_module",
    "choose_depth",
    "collapse_graph",
    "expand_one_level",
    "has_modules",
    "max_depth",
    "module_depth",
    "module_calls",
    "module_sizes",
    "modules_at_depth",
    "node_module",
    "outermost",
    "READABLE_BOXES",
    "readable_collapse",
    "shown_count",
]

BOX_PREFIX = "module:"
FOLD_PREFIX = "fold:"
# Fewer alike siblings than this stay separate boxes: folding two saves one box
# but hides that there are two.
FOLD_MIN_REPEATS = 3
# The longest pattern of sibling boxes that folds as a repeat (Linear, ReLU,
# Dropout: 3; a fourth for a norm): longer ones would rarely repeat three times
# and a fold of them would say little.
FOLD_MAX_PERIOD = 4
# A fold takes in at most this many extra nodes per repeat (ops between the
# repeats); more means the repeats are not a plain chain, so they stay apart.
FOLD_MAX_EXTRA_PER_REPEAT = 4

# choose_depth: the deepest level whose collapsed graph has at most this many
# nodes is "readable": about two screens of boxes at a legible zoom (a
# 24-block transformer opens as its 24 blocks, not 300 attention heads).
READABLE_NODES = 120
# A graph with more nodes than this opens collapsed (GUI, ``open-model --collapse auto``):
# about what stays readable at fit in a graph pane of the default window.
READABLE_BOXES = 150
# readable_collapse: a readable depth showing at most this many boxes and nodes shows
# next to nothing (the whole model as a box or two); one level deeper with its
# repeats folded usually says more.
FEW_BOXES = 8
# expand_one_level: a module bigger than this opens with its children collapsed,
# so opening "blocks" of a 24-block model shows 24 boxes, not 5000 nodes.
EXPAND_FULLY_MAX = 150


_CALL_SUFFIX = re.compile(r" \(call (\d+)\)$")


def call_label(module: str, call: int) -> str:
    """``"layer1.0.relu (call 2)"``: how one call of a module called several times is named."""
    return f"{module} (call {call})"


def box_key(module: str, call: int | None = None) -> str:
    """The key of the box that stands for ``module`` (or its ``call``-th call) in a collapsed graph."""
    return BOX_PREFIX + (module if call is None else call_label(module, call))


def _child(parent: str, index: int) -> str:
    """``"blocks.3"``; ``"3"`` for a child of the model itself (a model that is a ``Sequential``)."""
    return f"{parent}.{index}" if parent else str(index)


def fold_key(parent: str, first: int, last: int) -> str:
    """The key of the box folding ``parent.first`` ... ``parent.last`` (see the module docstring)."""
    return f"{FOLD_PREFIX}{parent}.{first}-{last}"


def is_fold(key: Any) -> bool:
    return isinstance(key, str) and key.startswith(FOLD_PREFIX)


def fold_modules(key: Any) -> list[str]:
    """The modules a fold key stands for, in order (``[]`` when ``key`` is no fold)."""
    if not is_fold(key):
        return []
    parent, _, span = key[len(FOLD_PREFIX):].rpartition(".")
    first, _, last = span.partition("-")
    return [_child(parent, i) for i in range(int(first), int(last) + 1)]


def fold_parent(key: Any) -> str | None:
    """``"blocks"`` for ``"fold:blocks.0-23"`` (None when ``key`` is no fold)."""
    return key[len(FOLD_PREFIX):].rpartition(".")[0] if is_fold(key) else None


def fold_label(parent: str, first: int, last: int, period: int = 1) -> str:
    """``"blocks.0 … blocks.23  ×24"``: how a fold is named on screen; a fold of
    repeated groups says how big a group is: ``"net.0 … net.199  ×100 (2 modules each)"``."""
    repeats = (last - first + 1) // period
    each = f" ({period} modules each)" if period > 1 else ""
    return f"{_child(parent, first)} … {_child(parent, last)}  ×{repeats}{each}"


def box_module(key: Any) -> str | None:
    """The module a box key stands for, or None when ``key`` is not a box."""
    if isinstance(key, str) and key.startswith(BOX_PREFIX):
        return _CALL_SUFFIX.sub("", key[len(BOX_PREFIX):])
    return None


def box_call(key: Any) -> int | None:
    """Which call of its module a box stands for; None for a whole module (or not a box)."""
    if isinstance(key, str) and key.startswith(BOX_PREFIX):
        match = _CALL_SUFFIX.search(key)
        return int(match.group(1)) if match else None
    return None


def node_module(attrs: Mapping[str, Any]) -> str:
    """The qualified module a node belongs to (``""``: none, never collapsed)."""
    kind = attrs.get("kind")
    if kind == "op":
        return attrs.get("module") or ""
    if kind == "param":
        # "fc1.weight" belongs to fc1; a bare "weight" to the top level
        return (attrs.get("name") or "").rpartition(".")[0]
    if kind == "module":
        return attrs.get("module") or ""
    return ""


def module_depth(module: str) -> int:
    """``""`` -> 0, ``"conv1"`` -> 1, ``"layer1.0"`` -> 2, ..."""
    return module.count(".") + 1 if module else 0


def ancestor_modules(module: str) -> list[str]:
    """``"layer1.0.conv2"`` -> ``["layer1", "layer1.0", "layer1.0.conv2"]`` (outermost first)."""
    if not module:
        return []
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def module_sizes(graph: nx.DiGraph) -> dict[str, int]:
    """``{module: number of nodes in it and its submodules}``, in order of first appearance.

    Every ancestor of a node's module is listed, also ones that own no node
    directly (a ``ModuleList`` such as ``"blocks"``).
    """
    sizes: dict[str, int] = {}
    prefixes_of: dict[str, list[str]] = {}  # few distinct modules, many nodes
    for _, attrs in graph.nodes(data=True):
        module = node_module(attrs)
        if not module:
            continue
        prefixes = prefixes_of.get(module)
        if prefixes is None:
            prefixes = prefixes_of[module] = ancestor_modules(module)
        for prefix in prefixes:
            sizes[prefix] = sizes.get(prefix, 0) + 1
    return sizes


def module_calls(graph: nx.DiGraph) -> dict[str, int]:
    """``{module: how many of its calls made op nodes}`` from the op nodes' ``calls``."""
    seen: dict[str, set[int]] = {}
    paths: set[tuple] = set()  # many nodes share one call path
    for _, attrs in graph.nodes(data=True):
        calls = attrs.get("calls")
        if calls and calls not in paths:
            paths.add(calls)
            for module, number in calls:
                seen.setdefault(module, set()).add(number)
    return {module: len(numbers) for module, numbers in seen.items()}


def has_modules(graph: nx.DiGraph) -> bool:
    """Whether any op node knows its module (only then is collapsing meaningful)."""
    return any(a.get("kind") == "op" and a.get("module") for _, a in graph.nodes(data=True))


def max_depth(graph: nx.DiGraph, sizes: Mapping[str, int] | None = None) -> int:
    """The deepest module nesting in ``graph`` (0 without modules)."""
    sizes = module_sizes(graph) if sizes is None else sizes
    return max((module_depth(m) for m in sizes), default=0)


def _children(sizes: Mapping[str, int]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {m: [] for m in sizes}
    for module in sizes:
        parent = module.rpartition(".")[0]
        if parent in children:
            children[parent].append(module)
    return children


def modules_at_depth(
    graph: nx.DiGraph, depth: int, sizes: Mapping[str, int] | None = None
) -> frozenset[str]:
    """The collapsed set for "collapse everything to depth ``depth``".

    Depth 1 collapses the top-level modules (``conv1``, ``layer1``, ...),
    depth 2 their children (``layer1.0``, ...), and so on; depth 0 collapses
    nothing. Modules shallower than ``depth`` without submodules (``conv1``
    at depth 2) are collapsed too, so every part of the model is shown at the
    same level of abstraction.
    """
    if depth <= 0:
        return frozenset()
    sizes = module_sizes(graph) if sizes is None else sizes
    children = _children(sizes)
    return frozenset(
        m
        for m in sizes
        if module_depth(m) == depth or (module_depth(m) < depth and not children[m])
    )


def outermost(collapsed: Iterable[str]) -> frozenset[str]:
    """``collapsed`` without the modules that have a collapsed ancestor."""
    collapsed = set(m for m in collapsed if m)
    return frozenset(
        m for m in collapsed if not any(a in collapsed for a in ancestor_modules(m)[:-1])
    )


def _box_of_module(collapsed: frozenset[str]):
    """A cached ``module -> outermost collapsed ancestor (or None)`` lookup."""
    cache: dict[str, str | None] = {}

    def box_of(module: str) -> str | None:
        if not module:
            return None
        if module not in cache:
            cache[module] = next((a for a in ancestor_modules(module) if a in collapsed), None)
        return cache[module]

    return box_of


def _box_assigner(graph: nx.DiGraph, wanted: frozenset[str]):
    """A ``(key, attrs) -> box key or None`` function for collapsing ``wanted``."""
    box_of = _box_of_module(wanted)
    split = {m for m, n in module_calls(graph).items() if n > 1 and m in wanted}
    nodes = graph.nodes

    def call_in(attrs: Mapping[str, Any], module: str) -> int | None:
        for name, number in attrs.get("calls") or ():
            if name == module:
                return number
        return None

    def assign(key: Any, attrs: Mapping[str, Any]) -> str | None:
        module = box_of(node_module(attrs))
        if module is None or module not in split:
            return None if module is None else box_key(module)
        if attrs.get("kind") == "param":
            used_in = [call_in(nodes[c], module) for c in graph.successors(key)]
            used_in = [number for number in used_in if number is not None]
            return box_key(module, min(used_in)) if used_in else None
        number = call_in(attrs, module)
        return box_key(module) if number is None else box_key(module, number)

    return assign


@dataclass
class CollapsedGraph:
    """A graph with some modules drawn as boxes.

    Attributes:
        graph: the graph to draw (the original graph object itself when nothing
            is collapsed).
        group_of: ``{original key: box key}`` for every node inside a box;
            nodes that are shown as themselves are not listed.
        members: ``{box key: [original keys, in graph order]}``.
        collapsed: the outermost collapsed modules that hold at least one node.
    """

    graph: nx.DiGraph
    group_of: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    collapsed: frozenset[str] = frozenset()

    def shown(self, key: str) -> str:
        """The key that stands for original node ``key`` in :attr:`graph`."""
        return self.group_of.get(key, key)


def collapse_graph(graph: nx.DiGraph, collapsed: Iterable[str], *, fold: bool = False,
                   unfolded: Iterable[str] = ()) -> CollapsedGraph:
    """Draw every module in ``collapsed`` (outermost wins) as one box (one per call).

    Node order is deterministic: original order, each box inserted where its
    first member was. Boxes carry ``count``, ``ops`` and ``params``. Boxes that
    would close a cycle are opened one level, so that what is drawn is a
    true picture of the data flow (see the module docstring). ``fold``: runs
    of alike numbered sibling boxes become one box each, except the fold keys
    in ``unfolded`` (see the module docstring).
    """
    result = _collapse(graph, collapsed)
    return fold_repeats(result, unfolded, source=graph) if fold else result


def _collapse(graph: nx.DiGraph, collapsed: Iterable[str]) -> CollapsedGraph:
    wanted = outermost(collapsed)
    if not wanted:
        return CollapsedGraph(graph=graph)
    children = None
    while True:
        result = _collapse_once(graph, wanted)
        cyclic = _boxes_on_cycles(result.graph)
        if not cyclic:
            return result
        if children is None:
            children = _children(module_sizes(graph))
        for module in {box_module(box) for box in cyclic}:
            wanted = (wanted - {module}) | frozenset(children.get(module, ()))
        wanted = outermost(wanted)
        if not wanted:
            return CollapsedGraph(graph=graph)


_NUMBERED = re.compile(r"^(?:(.*)\.)?(\d+)$")  # "blocks.3", or "3" (a child of the model)


def _box_look(result: CollapsedGraph, box: str, source: nx.DiGraph | None) -> tuple:
    """What makes two boxes repeats of one another: their numbers of nodes, ops and
    parameters and, with the ``source`` graph, which ops they run. Counts alone made
    a ``ReLU``, an ``AdaptiveAvgPool2d`` and a ``Flatten`` (one op each) "×3" of one thing."""
    attrs = result.graph.nodes[box]
    look = tuple(attrs.get(a, 0) for a in ("count", "ops", "params"))
    if source is None:
        return look
    ops = sorted(source.nodes[m].get("label", "") for m in result.members.get(box, ())
                 if source.nodes[m].get("kind") == "op")
    return look + tuple(ops)


def _repeat_runs(result: CollapsedGraph,
                 source: nx.DiGraph | None = None) -> list[tuple[str, int, int, int, list[str]]]:
    """``(parent, first, last, period, box keys)`` of every run of alike numbered sibling
    boxes, or of alike groups of ``period`` of them (see :func:`_periodic_runs`)."""
    shown = result.graph
    by_parent: dict[str, dict[int, str]] = {}
    for key, attrs in shown.nodes(data=True):
        if attrs.get("kind") != "module" or is_fold(key) or box_call(key) is not None:
            continue
        match = _NUMBERED.match(box_module(key) or "")
        if match:
            by_parent.setdefault(match.group(1) or "", {})[int(match.group(2))] = key
    runs = []
    for parent, boxes in by_parent.items():
        look = {i: _box_look(result, k, source) for i, k in boxes.items()}
        # numbered one after another: a gap (a sibling not shown as a box) ends a run
        segment: list[int] = []
        for i in sorted(boxes) + [None]:
            if segment and i is not None and i == segment[-1] + 1:
                segment.append(i)
                continue
            for start, end, period in _periodic_runs([look[j] for j in segment]):
                numbers = segment[start:end]
                runs.append((parent, numbers[0], numbers[-1], period, [boxes[j] for j in numbers]))
            segment = [i] if i is not None else []
    return runs


def _periodic_runs(looks: list) -> list[tuple[int, int, int]]:
    """``(start, end, period)`` of the runs in ``looks`` (a list slice ``start:end``)
    that repeat a group of ``period`` looks at least :data:`FOLD_MIN_REPEATS` times,
    found left to right. At each place the period covering most wins, the shorter
    on a tie (six alike blocks are ×6, not three pairs ×3)."""
    runs = []
    start = 0
    while start < len(looks):
        best = (0, 0)  # (values covered, period)
        for period in range(1, FOLD_MAX_PERIOD + 1):
            end = start + period
            while end < len(looks) and looks[end] == looks[end - period]:
                end += 1
            covered = (end - start) // period * period
            if covered // period >= FOLD_MIN_REPEATS and covered > best[0]:
                best = (covered, period)
        covered, period = best
        if covered:
            runs.append((start, start + covered, period))
            start += covered
        else:
            start += 1
    return runs


def _hull(shown: nx.DiGraph, keys: list[str]) -> set:
    """``keys`` and every node on a path between two of them (contracting it keeps a DAG a DAG)."""
    return set(keys) | (_reach(shown.successors, keys) & _reach(shown.predecessors, keys))


def _reach(step, start) -> set:
    """Every node reached from any of ``start`` by ``step`` (one search for all of them)."""
    seen: set = set()
    stack = list(start)
    while stack:
        for nxt in step(stack.pop()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def fold_repeats(result: CollapsedGraph, unfolded: Iterable[str] = (), *,
                 source: nx.DiGraph | None = None) -> CollapsedGraph:
    """Fold runs of alike numbered sibling boxes of ``result`` into one box each (see the module docstring).

    ``source``: the graph ``result`` was collapsed from; with it, boxes are alike only
    when they also run the same ops (always pass it; without, only counts compare)."""
    # opening one fold opens its parent's repeats for good: expanding one of
    # them must not fold the others again under a new key
    opened = {fold_parent(key) for key in unfolded}
    for parent, first, last, period, keys in _repeat_runs(result, source):
        key = fold_key(parent, first, last)
        if parent in opened:
            continue
        hull = _hull(result.graph, keys)
        extras = hull - set(keys)
        if len(extras) > FOLD_MAX_EXTRA_PER_REPEAT * len(keys) or any(
                result.graph.nodes[k].get("kind") == "module" for k in extras):
            continue  # not a plain chain of repeats: folding would hide other structure
        folded = [box_module(k) for k in keys]
        attrs = dict(kind="module", label=fold_label(parent, first, last, period), module=parent,
                     repeats=len(keys) // period, period=period, folded=folded)
        result = _contract(result, hull, key, attrs)
    return result


def _contract(result: CollapsedGraph, hull: set, key: str, attrs: dict) -> CollapsedGraph:
    """``result`` with the shown nodes ``hull`` drawn as one node ``key`` (edges merged)."""
    shown = result.graph
    new = nx.DiGraph()
    new.graph.update(shown.graph)
    totals = {"count": 0, "ops": 0, "params": 0}
    for node, node_attrs in shown.nodes(data=True):
        if node not in hull:
            new.add_node(node, **node_attrs)
            continue
        if key not in new:
            new.add_node(key, **attrs)
        if node_attrs.get("kind") == "module":
            for name in totals:
                totals[name] += node_attrs.get(name, 0)
        else:
            totals["count"] += 1
            totals["ops" if node_attrs.get("kind") == "op" else "params"] += node_attrs.get("kind") in ("op", "param")
    new.nodes[key].update(totals)
    succ = new._succ
    for u, v, data in shown.edges(data=True):
        gu, gv = (key if u in hull else u), (key if v in hull else v)
        if gu == gv:
            continue
        if gu == u and gv == v:
            new.add_edge(u, v, **data)
            continue
        existing = succ[gu].get(gv)
        if existing is None:
            new.add_edge(gu, gv, count=data.get("count", 1))
        else:
            existing["count"] = existing.get("count", 1) + data.get("count", 1)
    group_of = {orig: (key if box in hull else box) for orig, box in result.group_of.items()}
    members = {box: keys for box, keys in result.members.items() if box not in hull}
    inside = set()
    for node in hull:
        inside.update(result.members.get(node, [node]))
    for orig in inside:
        group_of[orig] = key
    members[key] = _in_graph_order(result, inside)
    return CollapsedGraph(graph=new, group_of=group_of, members=members, collapsed=result.collapsed)


def _in_graph_order(result: CollapsedGraph, keys: set) -> list:
    """``keys`` (original node keys) in the original graph's order."""
    order = []
    for box_or_node in result.graph.nodes:
        order.extend(k for k in result.members.get(box_or_node, [box_or_node]) if k in keys)
    return order


def _boxes_on_cycles(shown: nx.DiGraph) -> list[str]:
    """The boxes that lie on a cycle of ``shown`` (none for an honest collapse)."""
    if nx.is_directed_acyclic_graph(shown):
        return []
    return [key for component in nx.strongly_connected_components(shown) if len(component) > 1
            for key in component if box_module(key) is not None]


def _collapse_once(graph: nx.DiGraph, wanted: frozenset[str]) -> CollapsedGraph:
    assign = _box_assigner(graph, wanted)

    group_of: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    shown = nx.DiGraph()
    shown.graph.update({k: v for k, v in graph.graph.items() if k != "fn"})
    for key, attrs in graph.nodes(data=True):
        box = assign(key, attrs)
        if box is None:
            shown.add_node(key, **attrs)
            continue
        group_of[key] = box
        if box not in members:
            members[box] = []
            module, call = box_module(box), box_call(box)
            extra = {} if call is None else {"call": call}
            shown.add_node(box, kind="module", label=box[len(BOX_PREFIX):], module=module, count=0, ops=0, params=0,
                           **extra)
        members[box].append(key)
        box_attrs = shown.nodes[box]
        box_attrs["count"] += 1
        if attrs.get("kind") == "op":
            box_attrs["ops"] += 1
        elif attrs.get("kind") == "param":
            box_attrs["params"] += 1

    succ = shown._succ  # read-only peek to find an existing merged edge fast
    for u, v, data in graph.edges(data=True):
        gu, gv = group_of.get(u, u), group_of.get(v, v)
        if gu == gv:
            continue  # inside one box
        if gu == u and gv == v:
            shown.add_edge(u, v, **data)
            continue
        existing = succ[gu].get(gv)
        if existing is None:
            shown.add_edge(gu, gv, count=1)
        else:
            existing["count"] = existing.get("count", 1) + 1
    return CollapsedGraph(
        graph=shown,
        group_of=group_of,
        members=members,
        collapsed=frozenset(box_module(b) for b in members),
    )


def shown_count(graph: nx.DiGraph, collapsed: Iterable[str]) -> int:
    """How many nodes :func:`collapse_graph` shows for ``collapsed``.

    Counted without building the graph when no box can close a cycle (the
    common case); otherwise the graph is built, since opening such boxes
    changes the count."""
    wanted = outermost(collapsed)
    if not wanted:
        return graph.number_of_nodes()
    assign = _box_assigner(graph, wanted)
    group_of: dict[Any, str] = {}
    plain = 0
    for key, attrs in graph.nodes(data=True):
        box = assign(key, attrs)
        if box is None:
            plain += 1
        else:
            group_of[key] = box
    if _may_close_a_cycle(graph, group_of):
        return collapse_graph(graph, wanted).graph.number_of_nodes()
    return plain + len(set(group_of.values()))


def _may_close_a_cycle(graph: nx.DiGraph, group_of: Mapping[Any, str]) -> bool:
    """Whether merging ``group_of``'s boxes makes a cycle (checked on box-level reachability)."""
    quotient = nx.DiGraph()
    for u, v in graph.edges():
        gu, gv = group_of.get(u, u), group_of.get(v, v)
        if gu != gv:
            quotient.add_edge(gu, gv)
    return not nx.is_directed_acyclic_graph(quotient)


def choose_depth(graph: nx.DiGraph, max_nodes: int = READABLE_NODES) -> int:
    """The deepest collapse depth whose graph shows at most ``max_nodes`` nodes.

    Depth 1 when even that shows more; 0 when the graph has no modules. The
    UI uses it to open very big graphs at a readable level.
    """
    sizes = module_sizes(graph)
    deepest = max_depth(graph, sizes)
    best = 1 if deepest else 0
    for depth in range(1, deepest + 1):
        if shown_count(graph, modules_at_depth(graph, depth, sizes)) <= max_nodes:
            best = depth
        else:
            break  # deeper levels only show more
    return best


def readable_collapse(graph: nx.DiGraph, max_nodes: int = READABLE_BOXES) -> frozenset[str]:
    """The collapsed set a graph opens with: none for at most ``max_nodes`` nodes (or no
    modules), else every module at the deepest depth showing at most ``max_nodes``
    boxes (:func:`choose_depth`). Draw it with ``collapse_graph(..., fold=True)``:
    alike repeats then fold into one box, and unfolding them still shows at most
    ``max_nodes`` boxes.

    Except where that depth shows next to nothing (at most :data:`FEW_BOXES`: a
    model whose one ``Sequential`` holds 60 Linear/ReLU pairs is then a single
    "net" box): when the next depth, folded, shows at most ``max_nodes``, it opens
    there (``net.1 … net.120  ×60 (2 modules each)`` says what the box holds;
    unfolding that fold then shows more than ``max_nodes``, as the reader asked)."""
    if graph.number_of_nodes() <= max_nodes or not has_modules(graph):
        return frozenset()
    sizes = module_sizes(graph)
    depth = choose_depth(graph, max_nodes)
    wanted = modules_at_depth(graph, depth, sizes)
    if depth < max_depth(graph, sizes) and shown_count(graph, wanted) <= FEW_BOXES:
        deeper = modules_at_depth(graph, depth + 1, sizes)
        if collapse_graph(graph, deeper, fold=True).graph.number_of_nodes() <= max_nodes:
            return deeper
    return wanted


def expand_one_level(
    collapsed: Iterable[str],
    module: str,
    sizes: Mapping[str, int],
    expand_fully_max: int = EXPAND_FULLY_MAX,
) -> frozenset[str]:
    """The collapsed set after opening ``module``'s box.

    A small module (at most ``expand_fully_max`` nodes) opens completely; a
    bigger one shows its direct submodules as boxes, so opening a huge box
    does not flood the screen.
    """
    result = set(outermost(collapsed))
    result.discard(module)
    if sizes.get(module, 0) > expand_fully_max:
        result.update(_children(sizes).get(module, []))
    return frozenset(result)
