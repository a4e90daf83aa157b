"""Morphing one shown graph into another when modules collapse or expand.

Nodes present in both move to their new place. Nodes swallowed by a new box
glide into it while fading out, and the box fades in where its members were;
expanding does the reverse. The interpolation runs on one :class:`SceneModel`
holding the union of both graphs; the view replaces it with the final model
at the end. No Qt here except through the model's painter later.
"""
from __future__ import annotations

import numpy as np

from gradviz.core.collapse import box_module

from .layout_job import SceneLayout
from .model import SceneModel


class Transition:
    """Union model plus start and end positions and opacities; ``apply(t)`` for t in [0, 1]."""

    def __init__(self, old: SceneLayout, new: SceneLayout):
        old_graph, new_graph = old.graph, new.graph
        old_pos, new_pos = old.positions, new.positions
        old_cg, new_cg = old.collapsed, new.collapsed

        leaving = [k for k in old_graph if k not in new_graph]
        keys = leaving + list(new_graph)  # leaving nodes underneath
        start, end = [], []
        alpha0, alpha1 = [], []
        for key in leaving:
            start.append(old_pos[key])
            end.append(_centre(_targets(key, old_cg, new_cg), new_pos, old_pos[key]))
            alpha0.append(1.0)
            alpha1.append(0.0)
        for key in new_graph:
            if key in old_pos:
                start.append(old_pos[key])
                alpha0.append(1.0)
            else:
                start.append(_centre(_targets(key, new_cg, old_cg), old_pos, new_pos[key]))
                alpha0.append(0.0)
            end.append(new_pos[key])
            alpha1.append(1.0)

        attrs = [old_graph.nodes[k] for k in leaving] + [new_graph.nodes[k] for k in new_graph]
        lines = [old.lines[k] for k in leaving] + [new.lines[k] for k in new_graph]
        sizes = np.array([old.sizes[k] for k in leaving] + [new.sizes[k] for k in new_graph], dtype=float)
        tags = [old.tag_heights.get(k, 0.0) for k in leaving] + [new.tag_heights.get(k, 0.0) for k in new_graph]
        index = {k: i for i, k in enumerate(keys)}
        edges, counts, e_alpha0, e_alpha1 = [], [], [], []
        for u, v, data in old_graph.edges(data=True):
            if u != v and not new_graph.has_edge(u, v):
                edges.append((index[u], index[v]))
                counts.append(int(data.get("count", 1)))
                e_alpha0.append(1.0)
                e_alpha1.append(0.0)
        for u, v, data in new_graph.edges(data=True):
            if u != v:
                edges.append((index[u], index[v]))
                counts.append(int(data.get("count", 1)))
                e_alpha0.append(1.0 if old_graph.has_edge(u, v) else 0.0)
                e_alpha1.append(1.0)

        self.start = np.array(start, dtype=float).reshape(-1, 2)
        self.end = np.array(end, dtype=float).reshape(-1, 2)
        self.alpha0, self.alpha1 = np.array(alpha0), np.array(alpha1)
        self.edge_alpha0, self.edge_alpha1 = np.array(e_alpha0), np.array(e_alpha1)
        self.model = SceneModel(keys, attrs, lines, self.start.copy(), sizes, edges, counts, tag_heights=tags)
        self.apply(0.0)

    def __len__(self) -> int:
        return len(self.model)

    def apply(self, t: float) -> None:
        """Put the union model at fraction ``t`` (already eased) of the way."""
        xy = self.start + (self.end - self.start) * t
        self.model.alpha[:] = self.alpha0 + (self.alpha1 - self.alpha0) * t
        self.model.edge_alpha[:] = self.edge_alpha0 + (self.edge_alpha1 - self.edge_alpha0) * t
        self.model.set_centres(xy[:, 0], xy[:, 1])


def _targets(key, own, other) -> list:
    """Where ``key`` (shown in the ``own`` collapsed graph) is in the ``other`` one.

    A box stands for its members, wherever ``other`` shows them; an original
    node is wherever ``other`` shows it (itself or the box it went into).
    """
    if box_module(key) is not None and key in own.members:
        return sorted({other.shown(m) for m in own.members[key]}, key=str)
    return [other.shown(key)]


def _centre(keys, positions, default) -> tuple[float, float]:
    known = [positions[k] for k in keys if k in positions]
    if not known:
        return default
    return (sum(p[0] for p in known) / len(known), sum(p[1] for p in known) / len(known))
