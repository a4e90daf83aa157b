"""Benchmark: PNG export vs SVG export of the same graph, in the same run (ratios).

For the 2-, 12- and 24-block ``examples/transformer_block.py`` (139 / 759 / 1,504
autograd nodes, drawn fully expanded: tall pictures) it times:

* ``svg_s``: :func:`gradviz.export_graph` to SVG (layout + SVG text),
* ``png_s``: the same to PNG (layout + SVG + Qt raster + Pillow encoding; pages
  when the text would go under 10 px),
* ``old_png_s``: the previous way for reference: the whole SVG rasterised into
  one image of at most 16384 px a side and saved with Qt's PNG writer,
* ``view_svg_s`` / ``view_png_s``: the graph view's File-export of what it shows
  (rendered from the scene), fully expanded (the tall worst case),
* ``view_old_png_s``: the view's previous PNG export for reference: twice the
  scene resolution up to 60 Mpx in one image, Qt's PNG writer,

plus ``png_over_svg`` = png_s / svg_s, the pages written and the smallest text
height in px in the PNGs (12 px SVG text times the page scale).

    python bench/png_export.py [--blocks 2 12 24]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))


def _old_png(svg: str, path: Path, max_side: int = 16384) -> float:
    """The pre-paging export: one image shrunk to max_side, Qt's PNG writer. Returns the text px."""
    from PySide6.QtCore import QByteArray, QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(QByteArray(svg.encode()))
    size = renderer.defaultSize()
    shrink = min(1.0, max_side / max(size.width(), size.height()))
    image = QImage(max(1, round(size.width() * shrink)), max(1, round(size.height() * shrink)), QImage.Format_ARGB32)
    image.fill(Qt.white)
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    image.save(str(path), "PNG")
    return 12 * shrink


def _old_view_png(view, path: Path) -> float:
    """The view's pre-paging PNG export. Returns the label text px in it."""
    import math

    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter

    left, top, right, bottom = view.item.model.bounds()
    source = QRectF(left, top, right - left, bottom - top).adjusted(-16, -16, 16, 16)
    scale = min(2.0, 32000 / source.width(), 32000 / source.height(), math.sqrt(60e6 / (source.width() * source.height())))
    image = QImage(int(source.width() * scale), int(source.height() * scale), QImage.Format_ARGB32_Premultiplied)
    image.fill(Qt.white)
    painter = QPainter(image)
    painter.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
    view.canvas.graph_scene.render(painter, QRectF(0, 0, image.width(), image.height()), source, Qt.KeepAspectRatio)
    painter.end()
    image.save(str(path), "PNG")
    return view.metrics_text_px() * scale


def run(blocks=(2, 12, 24)) -> list[dict]:
    import torch
    from PySide6.QtWidgets import QApplication

    import gradviz
    from gradviz.core.export import graph_to_svg
    from gradviz.ui.graph_view import GraphView
    from transformer_block import TinyTransformer, example_inputs

    app = QApplication.instance() or QApplication([])  # noqa: F841 (fonts need it)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in blocks:
            torch.manual_seed(0)
            graph = gradviz.trace_model(TinyTransformer(n_layers=n), example_inputs(),
                                        loss_fn=lambda o: o.float().pow(2).mean()).graph
            t = time.perf_counter()
            gradviz.export_graph(graph, tmp / f"g{n}.svg")
            svg_s = time.perf_counter() - t
            t = time.perf_counter()
            first = gradviz.export_graph(graph, tmp / f"g{n}.png")
            png_s = time.perf_counter() - t
            pages = sorted(tmp.glob(f"g{n}-p*.png")) or [first]
            svg = graph_to_svg(graph)
            svg_w = float(svg.split('width="', 1)[1].split('"', 1)[0])
            from PIL import Image

            text_px = min(Image.open(p).size[0] / svg_w * 12 for p in pages)
            t = time.perf_counter()
            old_text_px = _old_png(svg, tmp / f"old{n}.png")
            old_s = time.perf_counter() - t

            view = GraphView()
            view.animations_enabled = False
            view.resize(1200, 800)
            view.show()
            view.set_graph(graph)
            view.wait_until_ready(120_000)
            view.expand_all()
            view.wait_until_ready(120_000)
            t = time.perf_counter()
            view.export(tmp / f"v{n}.svg")
            view_svg_s = time.perf_counter() - t
            t = time.perf_counter()
            view_pages = view.export(tmp / f"v{n}.png")
            view_png_s = time.perf_counter() - t
            t = time.perf_counter()
            view_old_text_px = _old_view_png(view, tmp / f"vold{n}.png")
            view_old_s = time.perf_counter() - t
            view.close()
            view.deleteLater()
            rows.append(dict(blocks=n, nodes=graph.number_of_nodes(), svg_s=round(svg_s, 3), png_s=round(png_s, 3),
                             png_over_svg=round(png_s / svg_s, 2), pages=len(pages), min_text_px=round(text_px, 1),
                             old_png_s=round(old_s, 3), old_text_px=round(old_text_px, 1),
                             view_svg_s=round(view_svg_s, 3), view_png_s=round(view_png_s, 3),
                             view_png_over_svg=round(view_png_s / max(view_svg_s, 1e-6), 2),
                             view_pages=len(view_pages), view_old_png_s=round(view_old_s, 3),
                             view_old_text_px=round(view_old_text_px, 1)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[2, 12, 24])
    args = parser.parse_args(argv)
    for row in run(args.blocks):
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
