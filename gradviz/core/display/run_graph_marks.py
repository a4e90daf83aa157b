"""What the graph view shows for one recorded iteration (Qt-free).

A watched training loop runs its own ``backward()``, so a run file holds each
*parameter's* gradient norm, not the gradient at every autograd node. The
graph therefore shows what is known: each parameter's edge into the op that
used it carries that parameter's gradient norm (width and colour, relative to
the largest), its node's details list the gradient, weight and update norms,
and nodes of parameters (or the loss) with NaN/Inf are flagged red.
"""
from __future__ import annotations

import math
from collections.abc import Hashable

import networkx as nx

from gradviz.core.display.graph_steps import nonfinite_keys, param_keys, split_creation_order

__all__ = ["GraphMarks", "graph_marks"]


class GraphMarks:
    """``edge_weights`` for ``GraphView.set_edge_weights``, ``stats`` for
    ``set_gradient_stats`` and ``flagged`` for ``flag_nodes``."""

    def __init__(self, edge_weights: dict, stats: dict, flagged: list):
        self.edge_weights = edge_weights
        self.stats = stats
        self.flagged = flagged


def graph_marks(graph: nx.DiGraph, record) -> GraphMarks:
    params: dict[str, Hashable] = param_keys(graph)
    grad_norms = record.grad_norms or {}
    weight_norms = getattr(record, "weight_norms", {}) or {}
    update_norms = getattr(record, "update_norms", {}) or {}
    weights: dict[tuple, float] = {}
    stats: dict[Hashable, dict[str, float]] = {}
    for name, key in params.items():
        norm = grad_norms.get(name)
        entry = {}
        if norm is not None:
            entry["norm"] = norm
            for consumer in graph.successors(key):
                weights[(key, consumer)] = norm
        if name in weight_norms:
            entry["weight norm"] = weight_norms[name]
        if name in update_norms:
            entry["update norm"] = update_norms[name]
        if entry:
            stats[key] = entry
    # The view scales by the largest weight: an Inf would flatten every other
    # edge, so non-finite ones get the largest finite weight (they are flagged red).
    top = max((w for w in weights.values() if math.isfinite(w)), default=1.0)
    weights = {edge: (w if math.isfinite(w) else top) for edge, w in weights.items()}
    forward, _loss = split_creation_order(graph, list(graph.graph.get("creation_order", ())), record)
    flagged = nonfinite_keys(graph, record.nonfinite or [], forward)
    return GraphMarks(weights, stats, flagged)
