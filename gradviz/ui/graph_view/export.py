"""Saving what the graph view shows: pictures (PNG, SVG) rendered from the scene,
data (DOT, GraphML, JSON) through :func:`gradviz.export_graph` with the view's positions."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Hashable, Mapping

import networkx as nx
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter

from gradviz.core.export import MIN_TEXT_PX, free_cuts, page_paths, plan_png_pages
from gradviz.ui.rasterize import save_png

from . import style

__all__ = ["FILE_FILTER", "FORMATS", "MIN_TEXT_PX", "export_data", "format_for", "format_of_filter", "render_png",
           "render_svg"]

# file suffix -> format
FORMATS = {"png": "png", "svg": "svg", "dot": "dot", "gv": "dot", "graphml": "graphml", "json": "json"}
FILE_FILTER = (
    "PNG image (*.png);;SVG drawing (*.svg);;Graphviz DOT (*.dot *.gv);;GraphML (*.graphml);;JSON (*.json)"
)

# PNG: twice the scene resolution for crisp text while the picture is small;
# bigger ones at less, never with text under MIN_TEXT_PX (then in pages):
# see gradviz.core.export.plan_png_pages.
PNG_SCALE = 2.0
MARGIN = 16.0


def format_for(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The export format for ``path``: ``fmt`` if given, else from the suffix."""
    name = (fmt or Path(path).suffix.lstrip(".")).lower()
    if name not in FORMATS:
        raise ValueError(f"unknown export format {name!r}; use one of: png, svg, dot, graphml, json")
    return FORMATS[name]


def _source_rect(bounds: tuple[float, float, float, float]) -> QRectF:
    left, top, right, bottom = bounds
    return QRectF(left, top, right - left, bottom - top).adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)


def render_png(scene, bounds, path, *, text_px: float = 12.0, boxes=()) -> list[Path]:
    """Render ``bounds`` of ``scene`` to PNG on white: one file, or pages ``name-p1.png``, …
    when one image would make text (``text_px`` high in the scene) smaller than
    :data:`MIN_TEXT_PX`. Pages break between the ``(top, bottom)`` spans of ``boxes``.
    Drawn straight from the scene with QPainter, encoded by :func:`gradviz.ui.rasterize.save_png`.
    Returns the files written."""
    source = _source_rect(bounds)
    plan = plan_png_pages((source.left(), source.top(), source.right(), source.bottom()), text_px=text_px,
                          preferred_scale=PNG_SCALE, cuts=free_cuts(boxes))
    paths = page_paths(path, len(plan.pages))
    for index, target in enumerate(paths):
        left, top, right, bottom = plan.pages[index]
        width, height = plan.page_size(index)
        image = QImage(width, height, QImage.Format_ARGB32_Premultiplied)
        image.fill(style.color(style.BACKGROUND))
        painter = QPainter(image)
        painter.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        scene.render(painter, QRectF(0, 0, width, height), QRectF(left, top, right - left, bottom - top),
                     Qt.IgnoreAspectRatio)
        painter.end()
        save_png(image, target)
    return paths


def render_svg(scene, bounds, path, title: str = "gradviz graph") -> None:
    """Render ``bounds`` of ``scene`` to an SVG at scene scale (vector text and shapes)."""
    from PySide6.QtSvg import QSvgGenerator  # part of PySide6-Essentials

    source = _source_rect(bounds)
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(QSize(int(math.ceil(source.width())), int(math.ceil(source.height()))))
    generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
    generator.setTitle(title)
    generator.setDescription("autograd graph drawn by gradviz")
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"could not write {path}")
    painter.fillRect(QRectF(0, 0, source.width(), source.height()), style.color(style.BACKGROUND))
    scene.render(painter, QRectF(0, 0, source.width(), source.height()), source, Qt.KeepAspectRatio)
    painter.end()


def export_data(graph: nx.DiGraph, path, fmt: str, positions: Mapping[Hashable, tuple[float, float]]) -> None:
    """DOT, GraphML or JSON of the shown graph through the core exporter."""
    from gradviz.core.export import export_graph

    export_graph(graph, path, fmt, positions=positions)


def format_of_filter(chosen_filter: str) -> str:
    """The format of a :data:`FILE_FILTER` entry the file dialog returned (PNG if unknown)."""
    for suffix, name in FORMATS.items():
        if f"*.{suffix}" in chosen_filter:
            return name
    return "png"
