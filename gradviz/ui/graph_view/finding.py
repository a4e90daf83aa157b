"""Finding nodes: search as you type (by label, parameter name, module or file:line) and a
node's path to the loss.

Part of :class:`~gradviz.ui.graph_view.view.GraphView` (a mixin over its state)."""
from __future__ import annotations

from typing import Hashable

from gradviz.core.display.graph_search import find_matches, path_to_outputs


class _Finding:
    # ------------------------------------------------------------------------------
    # search

    def search(self, text: str) -> int:
        """Find nodes whose label, parameter name or module contains ``text`` (any case), or made at
        ``file:line`` of the user's code; go to the first.

        Returns the number of matches. Matches inside collapsed boxes count;
        going to one selects it and centres on its box.
        """
        self._search_timer.stop()
        self.toolbar.set_search_text(text)
        if self._graph is None:
            return 0
        found = find_matches(self._graph, text)
        # top to bottom through the drawing, so "next" moves down the screen
        positions = self._layout.positions if self._layout else {}
        order = {k: i for i, k in enumerate(found)}
        found.sort(key=lambda k: (*positions.get(self.shown_key(k), (0.0, 0.0))[::-1], order[k]))
        self._state.matches, self._state.match_index = found, -1
        if found:
            self._go_to_match(0)
        else:
            self._project_matches()
            self._update_search_count()
        return len(found)

    def search_next(self) -> Hashable | None:
        """Go to the next match (wraps around); searches first if the text changed."""
        if not self._state.matches:
            if self.search_box.text().strip():
                self.search(self.search_box.text())
            return self.current_match()
        self._go_to_match((self._state.match_index + 1) % len(self._state.matches))
        return self.current_match()

    def search_previous(self) -> Hashable | None:
        if not self._state.matches:
            return None
        self._go_to_match((self._state.match_index - 1) % len(self._state.matches))
        return self.current_match()

    def current_match(self) -> Hashable | None:
        return self._state.current_match

    def search_matches(self) -> list[Hashable]:
        return list(self._state.matches)

    def _go_to_match(self, index: int) -> None:
        self._state.match_index = index
        key = self._state.matches[index]
        self.select_node(key)
        self._project_matches()
        self.center_on(key, zoom_in=True)
        self._update_search_count()

    def _update_search_count(self) -> None:
        matches = self._state.matches
        if not self.search_box.text().strip():
            text = ""
        elif not matches:
            text = "no match"
        else:
            text = f"{self._state.match_index + 1} / {len(matches)}"
        self.search_count.setText(text)

    def _project_matches(self) -> None:
        model = self.item.model
        if model is not None and self._layout is not None:
            self._state.project_matches(model, self._layout.collapsed)
            model.touch_state()
            self.item.update()

    # ------------------------------------------------------------------------------
    # path highlight

    def highlight_path(self, key: Hashable | None) -> None:
        """Highlight every node and edge on a path from ``key`` to the output (None: clear)."""
        if key is None or self._graph is None or key not in self._graph:
            self._state.path = None
        else:
            self._state.path = path_to_outputs(self._graph, key)
        model = self.item.model
        if model is not None and self._layout is not None:
            self._state.project_path(model, self._layout.collapsed)
            model.touch_state()
            self.item.update()
        self._refresh_legend()

    def path_highlight(self) -> tuple[set, set]:
        """``(node keys, edges)`` of the highlighted path, in original keys."""
        return self._state.path if self._state.path is not None else (set(), set())
