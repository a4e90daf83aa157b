"""The public ``gradviz.export_graph``: the core exporter with Qt as its PNG rasterizer.

:mod:`gradviz.core.export` writes every format but draws no pixels (the core
never imports Qt); this module, outside the core, hands it
:func:`gradviz.ui.rasterize.svg_to_png` for PNG. Qt loads only when a PNG is
written, so DOT, SVG, GraphML and JSON export work without PySide6.
"""
from __future__ import annotations

import os
from pathlib import Path

import networkx as nx

from gradviz.core.export import Positions, export_graph as _export_graph

__all__ = ["export_graph"]


def _rasterize_with_qt(svg: str, path: Path) -> Path:
    from gradviz.ui.rasterize import svg_to_png  # Qt loads here, not at import time

    return svg_to_png(svg, path)


def export_graph(graph: nx.DiGraph, path: str | os.PathLike, format: str | None = None, *,
                 positions: Positions | None = None) -> Path:
    """Write ``graph`` to ``path`` as DOT, SVG, PNG, GraphML or JSON (see :func:`gradviz.core.export.export_graph`)."""
    return _export_graph(graph, path, format, positions=positions, rasterize=_rasterize_with_qt)
