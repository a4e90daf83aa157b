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
* Edges between two boxes, or a box and a node, are merged: one edge per pair
  with ``count`` = how many original edges it stands for. Edges inside a box
  disappear. Edges between two shown original nodes keep their attributes.

No Qt here: this runs in worker threads and in tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import networkx as nx

__all__ = [
    "BOX_PREFIX",
    "CollapsedGraph",
    "ancestor_modules",
    "box_key",
    "box_module",
    "choose_depth",
    "collapse_graph",
    "expand_one_level",
    "has_modules",
    "max_depth",
    "module_depth",
    "module_sizes",
    "modules_at_depth",
    "node_module",
    "outermost",
    "shown_count",
]

BOX_PREFIX = "module:"

# choose_depth: the deepest level whose collapsed graph has at most this many
# nodes is "readable": about two screens of boxes at a legible zoom (a
# 24-block transformer opens as its 24 blocks, not 300 attention heads).
READABLE_NODES = 120
# expand_one_level: a module bigger than this opens with its children collapsed,
# so opening "blocks" of a 24-block model shows 24 boxes, not 5000 nodes.
EXPAND_FULLY_MAX = 150


def box_key(module: str) -> str:
    """The key of the box that stands for ``module`` in a collapsed graph."""
    return BOX_PREFIX + module


def box_module(key: Any) -> str | None:
    """The module a box key stands for, or None when ``key`` is not a box."""
    if isinstance(key, str) and key.startswith(BOX_PREFIX):
        return key[len(BOX_PREFIX):]
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


def collapse_graph(graph: nx.DiGraph, collapsed: Iterable[str]) -> CollapsedGraph:
    """Draw every module in ``collapsed`` (outermost wins) as one box.

    Node order is deterministic: original order, each box inserted where its
    first member was. Boxes carry ``count``, ``ops`` and ``params``.
    """
    wanted = outermost(collapsed)
    if not wanted:
        return CollapsedGraph(graph=graph)
    box_of = _box_of_module(wanted)

    group_of: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    shown = nx.DiGraph()
    shown.graph.update({k: v for k, v in graph.graph.items() if k != "fn"})
    for key, attrs in graph.nodes(data=True):
        module = box_of(node_module(attrs))
        if module is None:
            shown.add_node(key, **attrs)
            continue
        box = box_key(module)
        group_of[key] = box
        if box not in members:
            members[box] = []
            shown.add_node(box, kind="module", label=module, module=module, count=0, ops=0, params=0)
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
    """How many nodes :func:`collapse_graph` would show, without building the graph."""
    wanted = outermost(collapsed)
    if not wanted:
        return graph.number_of_nodes()
    box_of = _box_of_module(wanted)
    boxes: set[str] = set()
    plain = 0
    for _, attrs in graph.nodes(data=True):
        module = box_of(node_module(attrs))
        if module is None:
            plain += 1
        else:
            boxes.add(module)
    return plain + len(boxes)


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
