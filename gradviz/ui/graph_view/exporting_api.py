"""Export the graph as it is (not faded by the selection unless asked): SVG, PNG
(in pages when tall), DOT, GraphML, JSON, and the animation dialog.

Part of :class:`~gradviz.ui.graph_view.view.GraphView` (a mixin over its state)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PySide6.QtGui import QFontInfo
from PySide6.QtWidgets import QFileDialog, QMessageBox

from . import export as exporting


class _ExportApi:
    # ------------------------------------------------------------------------------
    # export

    def export(self, path, fmt: str | None = None, *, highlights: bool = False) -> list:
        """Save what is shown: ``png``, ``svg``, ``dot``, ``graphml`` or ``json`` (default: from the suffix).

        Pictures show the current collapse state as the graph is: without the
        dimming of a selection, search or path highlight, the training roles
        and the out-of-date fade, unless ``highlights`` (then as on screen); while
        a collapse animates, as it ends (the animation jumps there).
        Data formats hold the shown graph (boxes included) with the layout's
        positions. Returns the files written: a PNG too tall to keep its text
        readable is split into pages ``name-p1.png``, ``name-p2.png``, …
        (see :func:`gradviz.ui.graph_view.export.render_png`).
        """
        if self._layout is None or self.item.model is None:
            raise ValueError("there is no graph to export yet")
        fmt = exporting.format_for(path, fmt)
        if self._transition is not None:
            # a collapse is morphing: the picture is of where it ends, not of a frame
            # with the new boxes piled on the old ones
            self._morph.stop()
            self._morph_done()
        if fmt not in ("png", "svg"):
            exporting.export_data(self._layout.graph, path, fmt, self._layout.positions)
            return [Path(path)]
        with self._picture_state(highlights):
            if fmt == "png":
                model = self.item.model
                return exporting.render_png(self.canvas.graph_scene, model.bounds(), path,
                                            text_px=self.metrics_text_px(), boxes=zip(model.y0, model.y1))
            exporting.render_svg(self.canvas.graph_scene, self.item.model.bounds(), path)
            return [Path(path)]

    def metrics_text_px(self) -> float:
        """The pixel height of node label text at 100 % zoom (what PNG export keeps >= 10 px)."""
        return float(QFontInfo(self.fonts.label).pixelSize())

    @contextmanager
    def _picture_state(self, highlights: bool):
        """The model as a picture shows it: no hover; with ``highlights`` False also no dimming or roles."""
        model, item = self.item.model, self.item
        names = ("hover", "path_active", "matched", "current", "selected", "hidden", "alpha", "role", "flagged", "edge_weight")
        saved = {name: np.copy(getattr(model, name)) if isinstance(getattr(model, name), np.ndarray) else getattr(model, name)
                 for name in names}
        opacity = item.opacity()
        model.hover = -1  # the mouse is not part of the picture
        if not highlights:
            model.path_active, model.current, model.selected = False, -1, -1
            model.matched[:] = False
            model.hidden[:] = False
            model.alpha[:] = 1.0
            model.role[:] = 0
            model.flagged[:] = False
            model.edge_weight[:] = np.nan
            item.setOpacity(1.0)
        item.visibility_version += 1
        model.touch_state()
        try:
            yield
        finally:
            for name, value in saved.items():
                current = getattr(model, name)
                if isinstance(current, np.ndarray):
                    current[...] = value
                else:
                    setattr(model, name, value)
            item.setOpacity(opacity)
            item.visibility_version += 1
            model.touch_state()
            item.update()

    def show_animation_dialog(self):
        """Export animation…: ask size and outputs, then write the GIF and frames off the GUI's way."""
        from .animation import AnimationDialog

        if self._layout is None:
            return None
        record = self.record_source() if self.record_source is not None else None
        dialog = AnimationDialog(self, record=record)
        dialog.accepted.connect(lambda: dialog.written and self.exported.emit(list(dialog.written)))
        dialog.open()
        return dialog

    def _export_with_dialog(self) -> None:
        if self._layout is None:
            return
        path, chosen = QFileDialog.getSaveFileName(self, "Export graph", "graph.png", exporting.FILE_FILTER)
        if not path:
            return
        try:
            has_suffix = "." in path.replace("\\", "/").rsplit("/", 1)[-1]
            written = self.export(path, None if has_suffix else exporting.format_of_filter(chosen))
        except Exception as exc:  # shown to the user, not swallowed
            QMessageBox.warning(self, "Export failed", f"Could not export the graph:\n{exc}")
            return
        if len(written) > 1:  # say so: the user looks for one file
            QMessageBox.information(
                self, "Graph exported in pages",
                f"The graph is too tall for one readable PNG, so it was saved as {len(written)} pages:\n"
                f"{written[0].name} … {written[-1].name}\n(text stays at least {exporting.MIN_TEXT_PX} px high; "
                "SVG keeps it in one file)")
        self.exported.emit([str(p) for p in written])
