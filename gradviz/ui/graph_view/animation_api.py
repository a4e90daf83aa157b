"""What the training animation calls: roles, flags, edge weights by gradient norm,
hide/reveal, badges and notes beside nodes. Cheap to call often; the state
survives collapsing and expanding.

Part of :class:`~gradviz.ui.graph_view.view.GraphView` (a mixin over its state)."""
from __future__ import annotations

from typing import Any, Hashable, Iterable, Mapping

import networkx as nx
import numpy as np
from PySide6.QtCore import QRectF

from .layout_job import layout_state
from .model import ROLE_ACTIVE, ROLE_CODES, ROLE_VISITED
from .tags import TAG_STYLE, RoomSource, arrange, band_size, merge_rows, room_rows
from .tuning import REVEAL_FADE_MS


class _AnimationApi:
    # ------------------------------------------------------------------------------
    # training animation API

    def highlight_nodes(self, keys: Iterable[Hashable], role: str | None = "active") -> None:
        """Give nodes a role: ``"active"`` (orange, being computed), ``"visited"`` (pale orange) or None."""
        if role not in ROLE_CODES:
            raise ValueError(f"role must be 'active', 'visited' or None, not {role!r}")
        code = ROLE_CODES[role]
        keys = list(keys)
        for key in keys:
            if code:
                self._state.roles[key] = code
            else:
                self._state.roles.pop(key, None)
        self._update_nodes(keys)

    def flagged_nodes(self) -> set:
        """Keys flagged red (NaN/Inf) by :meth:`flag_nodes`."""
        return set(self._state.flagged)

    def node_roles(self) -> dict:
        """``{key: "active" | "visited"}`` given by :meth:`highlight_nodes`."""
        names = {code: role for role, code in ROLE_CODES.items() if role is not None}
        return {key: names[code] for key, code in self._state.roles.items() if code in names}

    def show_problem(self, key: Hashable) -> None:
        """Point at the node where something went wrong (the op that raised, where NaN
        starts): flagged red, selected and centred, with the details panel open where
        the graph keeps room beside it (else the toolbar's Details toggle opens it)."""
        self.flag_nodes([key])
        if self.width() >= 3 * self.details.minimumWidth():
            self.toolbar.details_button.setChecked(True)
        self.select_node(key, center=True)

    def set_graph_with_problem(self, graph: nx.DiGraph, key: Hashable) -> None:
        """:meth:`set_graph`, then :meth:`show_problem` once the graph is on screen."""

        def mark() -> None:
            self.ready.disconnect(mark)
            if self._graph is graph and key in graph:
                self.show_problem(key)

        self.ready.connect(mark)
        self.set_graph(graph)

    def flag_nodes(self, keys: Iterable[Hashable]) -> None:
        """Mark nodes red (NaN or Inf found); cleared by :meth:`clear_highlights`."""
        keys = list(keys)
        self._state.flagged.update(keys)
        self._update_nodes(keys)

    def set_edge_weights(self, weights: Mapping[tuple[Hashable, Hashable], float]) -> None:
        """Edge width and colour by weight (e.g. gradient norm), relative to the largest.

        Replaces earlier weights; ``{}`` clears them. Edges merged into a box
        edge show the largest weight among them.
        """
        self._state.edge_weights = {tuple(k): float(v) for k, v in weights.items()}
        model = self.item.model
        if model is not None and self._layout is not None:
            self._state.project_weights(model, self._layout.collapsed)
            model.touch_state()
            self.item.update()
        self._refresh_legend()

    def clear_highlights(self) -> None:
        """Drop roles, flags and edge weights (not the selection, search or hidden nodes)."""
        self._state.roles.clear()
        self._state.flagged.clear()
        self._state.edge_weights.clear()
        model = self.item.model
        if model is not None:
            model.role[:] = 0
            model.flagged[:] = False
            model.edge_weight[:] = np.nan
            model.touch_state()
            self.item.update()
        self._refresh_legend()

    def hide_all_nodes(self) -> None:
        """Hide every node (then :meth:`reveal_nodes` them, e.g. in creation order)."""
        self._state.revealed = set()
        self._fading.clear()
        model = self.item.model
        if model is not None:
            model.hidden[:] = True
            self._visibility_changed()

    def reveal_nodes(self, keys: Iterable[Hashable], *, fade: bool = True) -> None:
        """Show hidden nodes again (they fade in); edges appear once both ends are shown."""
        if self._state.revealed is None:
            return
        keys = list(keys)
        self._state.revealed.update(keys)
        model = self.item.model
        if model is None:
            return
        for key in keys:
            i = model.index.get(self.shown_key(key))
            if i is not None and model.hidden[i]:
                model.hidden[i] = False
                if fade and self.animations_enabled:
                    model.alpha[i] = 0.0
                    self._fading[model.keys[i]] = 0.0
                else:  # e.g. a skipped build-up: a fade cut short must not leave it transparent
                    model.alpha[i] = 1.0
                    self._fading.pop(model.keys[i], None)
        if self._fading and not self._fade_timer.isActive():
            self._fade_timer.start()
        self._visibility_changed()

    def show_all_nodes(self) -> None:
        """End hide/reveal mode: every node is shown."""
        self._state.revealed = None
        self._fading.clear()
        model = self.item.model
        if model is not None:
            model.hidden[:] = False
            model.alpha[:] = 1.0
            self._visibility_changed()

    def hidden_count(self) -> int:
        model = self.item.model
        return int(model.hidden.sum()) if model is not None else 0

    def set_node_badges(self, badges: Mapping[Hashable, Iterable[str]]) -> None:
        """Text lines per node key shown in a tag inside its box, under its label
        (numbers mode: ``["data 0.88", "grad −0.5"]``); replaces earlier ones,
        ``{}`` clears them. Keys inside a collapsed box are not shown (a box holds
        many values). The tag goes in the room :meth:`set_node_badge_room`
        planned; a tag that does not fit its room gets more (the graph is laid
        out again), so a tag never covers anything else."""
        self._badges = {k: list(v) for k, v in badges.items()}
        self._apply_badges()

    def set_node_badge_room(self, source: RoomSource | None) -> None:
        """Plan the tags' room before their text exists: ``source(graph,
        measure)`` gives ``{key: the widest lines its tag will hold}``
        (``measure(text)``: the text's width in the tag font). The boxes are laid
        out with that room, so they keep their place when tags fill in or
        change. None: no room planned. Cheap when the room stays the same; the
        graph is laid out again when it changes (and on font changes)."""
        self._room_source = source
        self._update_tag_room()

    def _measure_tag(self, text: str) -> float:
        return self.metrics.width(text, TAG_STYLE)

    def _tag_room(self, graph) -> dict:
        """The room the next layout gives tags: the source's, widened for tags that did not fit."""
        if graph is None:
            return {}
        room = dict(self._room_source(graph, self._measure_tag)) if self._room_source is not None else {}
        for key, rows in self._extra_room.items():
            room[key] = merge_rows(room.get(key, ()), rows, self._measure_tag)
        return {key: tuple(rows) for key, rows in room.items() if rows and key in graph}

    def _update_tag_room(self) -> None:
        graph = self._graph
        if graph is None or (self._layout is None and self._task is None):
            return  # set_graph lays out with the room in force
        room = layout_state((), False, (), self._tag_room(graph))[3]
        pending = self._task is not None
        if room == (self._requested_room if pending else self._layout.state[3]):
            return
        if not pending:
            self._fit_after_layout = self._auto_fit
        self._request_layout(None if pending and self._pending_state == ("auto",) else self._collapsed, animate=False)

    def node_badges(self) -> dict[Hashable, list[str]]:
        """The lines given by :meth:`set_node_badges`, by node key."""
        return {k: list(v) for k, v in self._badges.items()}

    def _apply_badges(self) -> None:
        model = self.item.model
        shown = {k: v for k, v in self._badges.items() if model is not None and k in model.index}
        if shown and self._transition is None and self._task is None:
            self._make_room(shown, model)
        self.item.set_badges(shown)

    def _make_room(self, shown: Mapping[Hashable, list[str]], model) -> None:
        """Widen the room of tags their box cannot hold (no room planned, a longer text)."""
        grown = False
        for key, lines in shown.items():
            i = model.index[key]
            rows = arrange(lines, room_rows(model.tag_h[i], self.metrics.line_heights[TAG_STYLE]))
            width, height = band_size(rows, self.metrics)
            if height > model.tag_h[i] + 0.5 or width > model.w[i] + 0.5:
                self._extra_room[key] = merge_rows(self._extra_room.get(key, ()), lines, self._measure_tag)
                grown = True
        if grown:
            self._update_tag_room()

    def set_gradient_stats(self, stats: Mapping[Hashable, Mapping[str, Any]]) -> None:
        """Gradient statistics per node key, e.g. ``{"n2": {"norm": 1.2, "mean": 0.0, "max": 0.3}}``.

        Shown in the details panel and tooltips; replaces earlier stats.
        """
        self._stats = {k: dict(v) for k, v in stats.items()}
        if self._state.selected is not None:
            self._show_details(self._state.selected)

    def _visibility_changed(self) -> None:
        self.notes.place()
        self._place_legend()
        self.item.visibility_version += 1
        self.item.model.touch_state()
        self.item.update()
        self.minimap.update()

    def _fade_step(self) -> None:
        model = self.item.model
        if model is None or not self._fading:
            self._fade_timer.stop()
            return
        step = self._fade_timer.interval() / REVEAL_FADE_MS
        for key in list(self._fading):
            i = model.index.get(key)
            value = self._fading[key] = min(1.0, self._fading[key] + step)
            if i is not None:
                model.alpha[i] = value
            if value >= 1.0 or i is None:
                del self._fading[key]
        self.item.update()
        if not self._fading:
            self._fade_timer.stop()

    # ------------------------------------------------------------------------------
    # notes beside nodes (e.g. the loss value on the loss node)

    def set_node_note(self, key: Hashable, text: str | None) -> None:
        """Show ``text`` beside the node ``key`` (or the box holding it) at a fixed,
        readable size on screen; None or "" removes it. Hidden nodes hide their
        note; a new graph removes all notes; a stale graph dims them."""
        self.notes.set(key, text)
        self._place_legend()  # a floating legend keeps clear of the note

    def node_note(self, key: Hashable) -> str | None:
        """The note's text beside ``key`` while it is on screen (not hidden with its node)."""
        return self.notes.text(key)

    def node_note_rect(self, key: Hashable) -> QRectF | None:
        """Where the note of ``key`` is drawn, in the canvas viewport's pixels (None when not shown)."""
        return self.notes.screen_rect(key)

    def _update_nodes(self, keys: list) -> None:
        model = self.item.model
        if model is None or self._layout is None:
            return
        for i in self._state.project_nodes(model, self._layout.collapsed, keys):
            self.item.update_node(i)
        self._refresh_legend()

    def _refresh_legend(self) -> None:
        model = self.item.model
        states = []
        if model is not None:
            checks = (
                ("active", (model.role == ROLE_ACTIVE).any()),
                ("visited", (model.role == ROLE_VISITED).any()),
                ("flagged", model.flagged.any()),
                ("path", model.path_active),
                ("weights", not np.isnan(model.edge_weight).all()),
            )
            states = [name for name, present in checks if present]
        self.legend.set_content(set(model.kinds) if model is not None else set(), states)
        self._place_legend()
