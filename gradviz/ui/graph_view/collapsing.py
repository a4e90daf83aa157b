"""Collapsing modules into boxes, folding repeated siblings, expanding them again
(each change re-fits the graph to the window).

Part of :class:`~gradviz.ui.graph_view.view.GraphView` (a mixin over its state)."""
from __future__ import annotations

from typing import Hashable, Iterable

from gradviz.core import collapse as collapse_logic
from gradviz.core.collapse import box_key, fold_modules, is_fold


class _Collapsing:
    # ------------------------------------------------------------------------------
    # collapse / expand

    def collapsed_modules(self) -> frozenset[str]:
        """The modules drawn as boxes (outermost ones)."""
        return self._layout.collapsed.collapsed if self._layout else frozenset()

    def can_collapse(self) -> bool:
        return self._graph is not None and bool(self._module_sizes) and collapse_logic.has_modules(self._graph)

    def set_collapsed(self, modules: Iterable[str], *, animate: bool = True, anchor: Hashable | None = None) -> None:
        """Draw exactly these modules as boxes (the outermost one wins when nested); animated."""
        if self._graph is None:
            return
        wanted = collapse_logic.outermost(m for m in modules if m in self._module_sizes)
        self._fit_after_layout = True  # every collapse change re-fits (see the module docstring)
        self._request_layout(wanted, animate=animate, anchor=anchor)

    def unfold(self, key: str) -> None:
        """Show the repeats of the fold ``key`` (``"fold:blocks.0-23"``) as their own boxes; re-fits."""
        if self._graph is None or not is_fold(key):
            return
        self._unfolded = self._unfolded | {key}
        self._fit_after_layout = True
        self._request_layout(self._collapsed, animate=True)

    def fold(self, key: str) -> None:
        """Fold the repeats of ``key`` into one box again (after :meth:`unfold`); re-fits."""
        if self._graph is None or key not in self._unfolded:
            return
        self._unfolded = self._unfolded - {key}
        self._fit_after_layout = True
        self._request_layout(self._collapsed, animate=True)

    def folds(self) -> list[str]:
        """The fold keys shown now (each a box standing for several alike modules)."""
        return [k for k in self._layout.graph if is_fold(k)] if self._layout else []

    def _fold_holding(self, module: str | None) -> str | None:
        """The unfolded fold that ``module`` (or one of its ancestors) is a repeat of, if any."""
        if not module:
            return None
        mine = set(collapse_logic.ancestor_modules(module))
        return next((key for key in sorted(self._unfolded) if mine & set(fold_modules(key))), None)

    def collapse_module(self, module: str, *, anchor: Hashable | None = None) -> None:
        """Collapse ``module`` (and everything inside it) into one box."""
        if module in self._module_sizes:
            self.set_collapsed(self._collapsed | {module}, anchor=anchor or box_key(module))

    def expand_module(self, module: str, *, fully: bool = False) -> None:
        """Open ``module``'s box: completely when small (or ``fully``), else one level.

        A fold key (``"fold:blocks.0-23"``) unfolds (see :meth:`unfold`)."""
        if is_fold(module):
            self.unfold(module)
            return
        if module not in self._module_sizes:
            return
        if fully:
            wanted = {m for m in self._collapsed if m != module and not m.startswith(module + ".")}
        else:
            wanted = collapse_logic.expand_one_level(self._collapsed, module, self._module_sizes)
        self.set_collapsed(wanted, anchor=box_key(module))

    def collapse_to_depth(self, depth: int) -> None:
        """Collapse every module to ``depth`` (1 = top-level modules; 0 = expand all)."""
        if self._graph is not None:
            self.set_collapsed(collapse_logic.modules_at_depth(self._graph, depth, self._module_sizes))

    def expand_all(self) -> None:
        self.set_collapsed(())

    def _current_depth(self) -> int:
        """The depth whose "collapse to depth" gives the current state, else the deepest box's."""
        if not self._collapsed or self._graph is None:
            return 0
        current = collapse_logic.outermost(self._collapsed)
        for depth in range(1, collapse_logic.max_depth(self._graph, self._module_sizes) + 1):
            if collapse_logic.outermost(collapse_logic.modules_at_depth(self._graph, depth, self._module_sizes)) == current:
                return depth
        return max(collapse_logic.module_depth(m) for m in current)

    def _update_controls(self) -> None:
        collapsible = self.can_collapse()
        depth = collapse_logic.max_depth(self._graph, self._module_sizes) if collapsible else 0
        self.toolbar.set_depth(self._current_depth() if collapsible else 0, depth, collapsible)
        self.toolbar.expand_all_button.setEnabled(bool(self._collapsed))
        has_graph = self._graph is not None and self._graph.number_of_nodes() > 0
        has_saved = has_graph and any(a.get("saved") for _, a in self._graph.nodes(data=True))
        self.toolbar.saved_button.setEnabled(has_saved)
        self.export_action.setEnabled(has_graph)
        self.animation_action.setEnabled(has_graph)
        self.search_box.setEnabled(has_graph)

    def set_show_saved(self, show: bool) -> None:
        """Also list each op's saved tensors inside its box (boxes grow: new layout)."""
        show = bool(show)
        if show == self._show_saved:
            return
        self._show_saved = show
        if self.toolbar.saved_button.isChecked() != show:
            self.toolbar.saved_button.setChecked(show)
        if self._graph is not None:
            self._request_layout(self._collapsed, animate=False)
