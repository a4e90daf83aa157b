"""What the graph animation shows at each moment, as plain data (no Qt, no torch).

The animator (``animator.py``) only plays these sequences; keeping them here
makes them easy to test and keeps the timing code small.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping

import networkx as nx

Key = Hashable


def structure_signature(graph: nx.DiGraph | None) -> tuple | None:
    """Equal for graphs with the same keys, labels and edges: an iteration of the
    same network gives the same graph, which can then stay on screen (no re-layout)."""
    if graph is None:
        return None
    nodes = frozenset((key, attrs.get("label"), attrs.get("name")) for key, attrs in graph.nodes(data=True))
    return nodes, frozenset(graph.edges())


def split_creation_order(graph: nx.DiGraph, creation_order: list[Key], record=None) -> tuple[list[Key], list[Key]]:
    """``(forward ops, loss ops)`` in creation order.

    A record that knows the split (``forward_order``) is used as is; one
    between forward and loss that noted its values (``forward_values``) knows
    how many ops its forward made: the first that many. Otherwise the loss ops
    are the trailing ops created outside any module (the loss runs outside the
    network); at least the last op when no op knows its module.
    """
    forward_order = getattr(record, "forward_order", None) if record is not None else None
    if forward_order:
        known = set(forward_order)
        return [k for k in creation_order if k in known], [k for k in creation_order if k not in known]
    order = [k for k in creation_order if k in graph]
    if not order:
        return [], []
    forward_values = getattr(record, "forward_values", None) if record is not None else None
    if forward_values is not None:
        made = len(forward_values.ops)
        return order[:made], order[made:]
    has_modules = any(graph.nodes[k].get("module") for k in order)
    cut = len(order)
    while cut > 0 and not graph.nodes[order[cut - 1]].get("module"):
        cut -= 1
        if not has_modules:
            break
    if cut == 0:  # nothing knows its module: only the last op is the loss
        cut = len(order) - 1
    return order[:cut], order[cut:]


def reveal_groups(graph: nx.DiGraph, ops: Iterable[Key], already: set[Key] | None = None) -> list[list[Key]]:
    """For each op, the nodes that appear with it: its parameter/leaf inputs, then the op."""
    shown = set(already or ())
    groups = []
    for op in ops:
        group = [u for u in graph.predecessors(op) if u not in shown and graph.nodes[u].get("kind") in ("param", "leaf")]
        group.append(op)
        shown.update(group)
        groups.append(group)
    return groups


def output_nodes(graph: nx.DiGraph) -> list[Key]:
    """The nodes of kind "output" (the values backward starts from), graph order.
    Search's ``graph_search.output_keys`` also falls back to the sinks; this does not."""
    return [k for k, kind in graph.nodes(data="kind") if kind == "output"]


def param_keys(graph: nx.DiGraph) -> dict[str, Key]:
    """``{parameter name: node key}``."""
    return {attrs["name"]: key for key, attrs in graph.nodes(data=True) if attrs.get("kind") == "param" and attrs.get("name")}


def incoming_edge_weights(graph: nx.DiGraph, key: Key, node_norms: Mapping[Key, float | None],
                          edge_norms: Mapping[tuple, float | None] | None = None) -> dict[tuple, float]:
    """Gradient norms sent back along the edges into ``key`` when it runs in backward.

    Per-edge norms when the record has them; otherwise the gradient each
    producer received in total (the same number when it has one consumer).
    """
    weights = {}
    for u in graph.predecessors(key):
        norm = edge_norms.get((u, key)) if edge_norms else None
        if norm is None:
            norm = node_norms.get(u)
        if norm is not None:
            weights[(u, key)] = norm if math.isfinite(norm) else float("inf")
    return weights


def backward_edge_weights(graph: nx.DiGraph, order: Iterable[Key], node_norms, edge_norms=None) -> dict[tuple, float]:
    weights: dict[tuple, float] = {}
    for key in order:
        if key in graph:
            weights.update(incoming_edge_weights(graph, key, node_norms, edge_norms))
    # The view scales widths by the largest weight: an Inf would flatten all
    # others, so non-finite edges get the largest finite weight (they are flagged red anyway).
    finite = [w for w in weights.values() if math.isfinite(w)]
    top = max(finite, default=1.0)
    return {e: (w if math.isfinite(w) else top) for e, w in weights.items()}


def nonfinite_keys(graph: nx.DiGraph, names: Iterable[str], forward_ops: list[Key]) -> list[Key]:
    """Graph keys for a record's ``nonfinite`` names: node keys, parameter names,
    ``"output"`` (the last forward op) and ``"loss"`` (the output node)."""
    params = param_keys(graph)
    keys = []
    for name in names:
        if name in graph:
            keys.append(name)
        elif name in params:
            keys.append(params[name])
        elif name == "output" and forward_ops:
            keys.append(forward_ops[-1])
        elif name == "loss":
            keys.extend(output_nodes(graph))
    return list(dict.fromkeys(keys))


def nonfinite_until(names: Iterable[str], graph: nx.DiGraph, phase: str) -> list[str]:
    """The ``nonfinite`` names that phases up to ``phase`` can have found (for time travel)."""
    allowed = {"forward": {"output"}, "loss": {"output", "loss"}}.get(phase)
    names = list(names)
    if phase == "zero_grad":
        return []
    if allowed is None:
        return names
    return [n for n in names if n in allowed]


LOSS_PHASES = ("loss", "backward", "step")  # the phases after which the loss exists


def loss_note(record, phase: str | None) -> str | None:
    """The text beside the loss node right after ``phase``: ``"loss = 0.0423"``,
    or None before the loss phase has computed it (the node is not there yet)."""
    loss = getattr(record, "loss", None) if record is not None else None
    if phase not in LOSS_PHASES or loss is None:
        return None
    return f"loss = {loss:.4g}"
