"""Finding nodes: text search and a parameter's path to the loss. Pure Python, no Qt."""
from __future__ import annotations

from typing import Any, Hashable, Iterable, Mapping

import networkx as nx

from gradviz.core.node_notes import matches_location, parse_location


def display_name(key: Hashable, attrs: Mapping[str, Any]) -> str:
    """How a node is named in lists and links: parameter name, else its label."""
    if attrs.get("kind") in ("param", "leaf") and attrs.get("name"):
        return str(attrs["name"])
    if attrs.get("kind") == "leaf":
        return "input"
    return str(attrs.get("label") or key)


def matches(attrs: Mapping[str, Any], needle: str) -> bool:
    """Case-insensitive substring match on label, parameter name or the module that made
    the node; ``needle`` lower-case.

    The module counts because collapsed boxes are named after it: a box reading
    ``lm_head`` (a head whose weight is tied to the embedding, so no parameter is
    named after it) or ``layer1.0.relu (call 2)`` must be found by that name."""
    return any(needle in str(attrs.get(field) or "").lower() for field in ("label", "name", "module"))


def find_matches(graph: nx.DiGraph, text: str) -> list[Hashable]:
    """Keys of the nodes whose label, name or module contains ``text`` (any case), graph order.

    ``file:line`` (``transformer_block.py:41``, or a path ending so) finds the
    ops created at that line of the user's code (their ``source``).
    """
    needle = text.strip().lower()
    if not needle:
        return []
    location = parse_location(needle)
    if location is not None:
        at_line = [key for key, attrs in graph.nodes(data=True) if matches_location(attrs, *location)]
        if at_line:
            return at_line
    return [key for key, attrs in graph.nodes(data=True) if matches(attrs, needle)]


def output_keys(graph: nx.DiGraph) -> list[Hashable]:
    """The output nodes: ``graph.graph["roots"]`` when given, else nodes of kind output, else sinks."""
    roots = [k for k in graph.graph.get("roots", ()) if k in graph]
    if roots:
        return roots
    outputs = [k for k, a in graph.nodes(data=True) if a.get("kind") == "output"]
    return outputs or [k for k in graph if graph.out_degree(k) == 0]


def path_to_outputs(
    graph: nx.DiGraph, key: Hashable, outputs: Iterable[Hashable] | None = None
) -> tuple[set[Hashable], set[tuple[Hashable, Hashable]]]:
    """Nodes and edges on any path from ``key`` to an output (both ends included).

    A node is on such a path when it is reachable from ``key`` and an output is
    reachable from it; an edge when both its ends are (then a path runs
    ``key -> ... -> u -> v -> ... -> output``).
    """
    if key not in graph:
        return set(), set()
    targets = set(outputs if outputs is not None else output_keys(graph))
    downstream = nx.descendants(graph, key) | {key}
    upstream: set[Hashable] = set()
    for target in targets & downstream:
        upstream |= nx.ancestors(graph, target) | {target}
    nodes = downstream & upstream
    edges = {(u, v) for u in nodes for v in graph.successors(u) if v in nodes}
    return nodes, edges
