"""Saving what the graph view shows: pictures (PNG, SVG) rendered from the scene,
data (DOT, GraphML, JSON) through :func:`gradviz.export_graph` with the view's positions."""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Hashable, Mapping

import networkx as nx
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QImage, QPainter, QTransform
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from gradviz.core.atomic_files import replaced_atomically
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
RENDER_BAND_PX = 2048  # a page is drawn in bands this tall (see render_png; 2048 measured best)
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
    # a page is encoded in a thread while the next is drawn (zlib runs without the GIL)
    with ThreadPoolExecutor(max_workers=2) as encoders:
        pending = [encoders.submit(save_png, _draw_page(scene, plan, index), target)
                   for index, target in enumerate(paths)]
        for job in pending:
            job.result()  # an OSError of any page is the export's error
    return paths


def _draw_page(scene, plan, index: int) -> QImage:
    """Page ``index`` of ``plan`` drawn from ``scene`` (GUI thread)."""
    left, top, right, bottom = plan.pages[index]
    width, height = plan.page_size(index)
    image = QImage(width, height, QImage.Format_ARGB32_Premultiplied)
    image.fill(style.color(style.BACKGROUND))
    painter = QPainter(image)
    painter.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
    # In bands, painting the items directly with each band as the exposed rectangle:
    # the graph item then draws only what touches the band (scene.render would expose
    # the whole item for every page), and Qt strokes the short edge paths of a band
    # much faster than the path of a whole page (long edges are stroked once per band).
    sx, sy = width / (right - left), height / (bottom - top)
    items = [item for item in scene.items(Qt.AscendingOrder) if item.isVisible()]
    for band_top in range(0, height, RENDER_BAND_PX):
        band_h = min(RENDER_BAND_PX, height - band_top)
        painter.save()
        painter.setClipRect(QRectF(0, band_top, width, band_h))
        painter.setTransform(QTransform(sx, 0, 0, sy, -left * sx, -top * sy))
        band = QRectF(left, top + band_top / sy, right - left, band_h / sy)
        for item in items:
            option = QStyleOptionGraphicsItem()
            option.exposedRect = item.mapRectFromScene(band)
            painter.save()
            painter.setTransform(item.sceneTransform(), True)
            painter.setOpacity(item.effectiveOpacity())
            item.paint(painter, option, None)
            painter.restore()
        painter.restore()
    painter.end()
    return image


def render_svg(scene, bounds, path, title: str = "gradviz graph") -> None:
    """Render ``bounds`` of ``scene`` to an SVG at scene scale (vector text and shapes)."""
    from PySide6.QtSvg import QSvgGenerator  # part of PySide6-Essentials

    with replaced_atomically(path) as tmp:  # all or nothing, as every export
        _render_svg_to(scene, bounds, tmp, title, QSvgGenerator)


def _render_svg_to(scene, bounds, path, title: str, QSvgGenerator) -> None:  # noqa: N803 - the Qt class, imported late
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
