"""What the view highlights, kept in the original graph's keys.

Highlights survive collapsing and expanding because they are remembered per
original node (``"n12"``) and *projected* onto whichever :class:`SceneModel`
is drawn: a node inside a collapsed box lends its state to the box (the
strongest role wins, one flagged member flags the box). No Qt here.
"""
from __future__ import annotations

from typing import Hashable, Iterable

import numpy as np

from gradviz.core.collapse import CollapsedGraph

from .model import SceneModel


class ViewState:
    """Roles, flags, hidden nodes, edge weights, search matches, selection and path."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.roles: dict[Hashable, int] = {}
        self.flagged: set[Hashable] = set()
        self.revealed: set[Hashable] | None = None  # None: every node shown
        self.edge_weights: dict[tuple, float] = {}
        self.matches: list[Hashable] = []
        self.match_index = -1
        self.selected: Hashable | None = None
        self.path: tuple[set, set] | None = None  # (nodes, edges) from a node to the outputs

    @property
    def current_match(self) -> Hashable | None:
        return self.matches[self.match_index] if 0 <= self.match_index < len(self.matches) else None

    # -- projection ----------------------------------------------------------------
    def project(self, model: SceneModel, shown: CollapsedGraph) -> None:
        """Put the whole state onto a freshly built model."""
        index = model.index
        for key, code in self.roles.items():
            i = index.get(shown.shown(key))
            if i is not None and code > model.role[i]:
                model.role[i] = code
        for key in self.flagged:
            i = index.get(shown.shown(key))
            if i is not None:
                model.flagged[i] = True
        self.project_hidden(model, shown)
        self.project_weights(model, shown)
        self.project_path(model, shown)
        self.project_matches(model, shown)
        self.project_selection(model, shown)
        model.touch_state()

    def project_nodes(self, model: SceneModel, shown: CollapsedGraph, keys: Iterable[Hashable]) -> list[int]:
        """Re-project roles and flags of the shown nodes standing for ``keys``; their indices."""
        changed = []
        for key in {shown.shown(k) for k in keys}:
            i = model.index.get(key)
            if i is None:
                continue
            members = shown.members.get(key, (key,))
            model.role[i] = max((self.roles.get(m, 0) for m in members), default=0)
            model.flagged[i] = any(m in self.flagged for m in members)
            changed.append(i)
        model.touch_state()
        return changed

    def project_hidden(self, model: SceneModel, shown: CollapsedGraph) -> None:
        if self.revealed is None:
            model.hidden[:] = False
            return
        model.hidden[:] = True
        for key in self.revealed:
            i = model.index.get(shown.shown(key))
            if i is not None:
                model.hidden[i] = False

    def project_weights(self, model: SceneModel, shown: CollapsedGraph) -> None:
        """Edge weights; edges merged into one box edge show the largest."""
        model.edge_weight[:] = np.nan
        index = model.index
        for (u, v), weight in self.edge_weights.items():
            e = model.edge_index.get((index.get(shown.shown(u), -1), index.get(shown.shown(v), -1)))
            if e is not None:
                current = model.edge_weight[e]
                model.edge_weight[e] = weight if np.isnan(current) else max(current, weight)

    def project_path(self, model: SceneModel, shown: CollapsedGraph) -> None:
        model.path_nodes[:] = False
        model.path_edges[:] = False
        model.path_active = self.path is not None
        if self.path is None:
            return
        nodes, edges = self.path
        index = model.index
        for key in nodes:
            i = index.get(shown.shown(key))
            if i is not None:
                model.path_nodes[i] = True
        for u, v in edges:
            e = model.edge_index.get((index.get(shown.shown(u), -1), index.get(shown.shown(v), -1)))
            if e is not None:
                model.path_edges[e] = True

    def project_matches(self, model: SceneModel, shown: CollapsedGraph) -> None:
        model.matched[:] = False
        for key in self.matches:
            i = model.index.get(shown.shown(key))
            if i is not None:
                model.matched[i] = True
        current = self.current_match
        model.current = model.index.get(shown.shown(current), -1) if current is not None else -1

    def project_selection(self, model: SceneModel, shown: CollapsedGraph) -> None:
        selected = self.selected
        model.selected = model.index.get(shown.shown(selected), -1) if selected is not None else -1
