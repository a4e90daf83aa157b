"""PNG export of tall graphs: text stays >= 10 px, the picture is cut into numbered pages
between rows of boxes, and the core plans the pages without Qt."""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
import torch

import gradviz
from gradviz.core.export import (MIN_TEXT_PX, PAGE_MAX_SIDE, export_png_pages, free_cuts, graph_to_svg, page_paths,
                                 plan_png_pages)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from transformer_block import TinyTransformer, example_inputs  # noqa: E402


def png_size(path) -> tuple[int, int]:
    return struct.unpack(">II", Path(path).read_bytes()[16:24])


def test_a_small_drawing_is_one_crisp_page():
    plan = plan_png_pages((0, 0, 600, 800), text_px=12, preferred_scale=2.0)
    assert plan.scale == 2.0 and plan.pages == ((0, 0, 600, 800),)


def test_a_tall_drawing_is_cut_into_pages_with_readable_text():
    # GPT-2 12 layers, as the issue measured it: 754 x 41806 units of 12 px text
    bounds = (0.0, 0.0, 754.0, 41806.0)
    plan = plan_png_pages(bounds, text_px=12, preferred_scale=2.0)
    assert plan.scale * 12 >= MIN_TEXT_PX  # never shrunk below readable
    assert len(plan.pages) >= 2
    for index in range(len(plan.pages)):
        width, height = plan.page_size(index)
        assert width <= PAGE_MAX_SIDE and height <= PAGE_MAX_SIDE
    # the pages tile the drawing exactly, top to bottom
    assert plan.pages[0][1] == 0.0 and plan.pages[-1][3] == 41806.0
    assert all(a[3] == b[1] for a, b in zip(plan.pages, plan.pages[1:]))


def test_page_breaks_fall_between_rows_of_boxes():
    rows = [(y, y + 30.0) for y in range(0, 40000, 50)]  # boxes 30 high, gaps of 20
    cuts = free_cuts(rows)
    assert cuts[:2] == [40.0, 90.0]
    plan = plan_png_pages((0, 0, 700, 40000), text_px=12, cuts=cuts)
    assert len(plan.pages) > 1
    for _, top, _, bottom in plan.pages[:-1]:
        assert not any(t < bottom < b for t, b in rows), bottom  # no box is split


def test_overlapping_boxes_leave_no_cut_inside_them():
    assert free_cuts([(0, 10), (5, 20), (30, 40)]) == [25.0]


def test_page_names():
    assert page_paths("out/graph.png", 1) == [Path("out/graph.png")]
    assert page_paths("out/graph.png", 3) == [Path("out/graph-p1.png"), Path("out/graph-p2.png"), Path("out/graph-p3.png")]


@pytest.fixture(scope="module")
def tall_graph():
    torch.manual_seed(0)
    model = TinyTransformer(n_layers=12)
    return gradviz.trace_model(model, example_inputs(), loss_fn=lambda o: o.float().pow(2).mean()).graph


def test_core_export_writes_numbered_pages_through_the_rasterizer(tall_graph, tmp_path):
    calls = []
    paths = export_png_pages(tall_graph, tmp_path / "graph.png", lambda svg, out: calls.append((svg, out)))
    assert [out for _, out in calls] == paths == page_paths(tmp_path / "graph.png", len(paths))
    assert len(paths) >= 2
    full_height = float(graph_to_svg(tall_graph).split('height="', 1)[1].split('"', 1)[0])
    tops = []
    for svg, _ in calls:
        head = svg.split("<svg ", 1)[1].split(">", 1)[0]
        view_box = [float(v) for v in head.split('viewBox="', 1)[1].split('"', 1)[0].split()]
        width = float(head.split('width="', 1)[1].split('"', 1)[0])
        assert width / view_box[2] * 12 >= MIN_TEXT_PX  # 12 px SVG text stays >= 10 px
        tops.append(view_box[1])
    assert tops[0] == 0.0 and tops == sorted(tops) and tops[-1] < full_height


def test_qt_export_of_a_tall_graph_keeps_text_readable(tall_graph, tmp_path):
    pytest.importorskip("PySide6")
    from gradviz.graph_export import export_graph

    first = export_graph(tall_graph, tmp_path / "graph.png")
    assert first.name == "graph-p1.png"
    pages = sorted(tmp_path.glob("graph-p*.png"))
    assert len(pages) >= 2
    svg = graph_to_svg(tall_graph)
    svg_width = float(svg.split('width="', 1)[1].split('"', 1)[0])
    for page in pages:
        width, height = png_size(page)
        assert height <= PAGE_MAX_SIDE
        assert width / svg_width * 12 >= MIN_TEXT_PX - 0.01


def test_the_view_exports_a_tall_graph_in_readable_pages(qtbot, tmp_path):
    from gradviz.ui.graph_view import GraphView

    torch.manual_seed(0)  # 24 blocks: ~1,500 nodes in a column, even with the compact rows of the view
    tall_graph = gradviz.trace_model(TinyTransformer(n_layers=24), example_inputs(),
                                     loss_fn=lambda o: o.float().pow(2).mean()).graph

    view = GraphView()
    view.animations_enabled = False
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    with qtbot.waitSignal(view.ready, timeout=60_000):
        view.set_graph(tall_graph)
    with qtbot.waitSignal(view.ready, timeout=60_000):
        view.expand_all()  # far taller than one readable image
    written = view.export(tmp_path / "view.png")
    assert [p.name for p in written] == [f"view-p{i}.png" for i in range(1, len(written) + 1)]
    assert len(written) >= 2
    left, _, right, _ = view.item.model.bounds()
    scene_width = right - left + 2 * 16  # the export's margin
    for page in written:
        width, height = png_size(page)
        assert height <= PAGE_MAX_SIDE
        assert width / scene_width * view.metrics_text_px() >= MIN_TEXT_PX - 0.01
    # every node is on a page whole: the pages' heights add up to the drawing's
    total = sum(png_size(p)[1] for p in written)
    _, top, _, bottom = view.item.model.bounds()
    scale = png_size(written[0])[0] / scene_width
    assert abs(total - (bottom - top + 32) * scale) <= 0.01 * total  # (widths are rounded up to whole px)


@pytest.mark.parametrize("width", [333, 512])  # 333*3 bytes: rows padded to 4 in a QImage
def test_save_png_writes_exactly_the_pixels(qtbot, tmp_path, width):
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QColor, QImage, QPainter

    from gradviz.ui.rasterize import save_png

    image = QImage(width, 77, QImage.Format_ARGB32_Premultiplied)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setBrush(QColor("#add8e6"))
    painter.drawRoundedRect(QRectF(5, 5, width - 10, 60), 6, 6)
    painter.drawText(QRectF(10, 10, width - 20, 40), Qt.AlignCenter, "AddmmBackward0")
    painter.end()
    path = save_png(image, tmp_path / "x.png")
    back = QImage(str(path)).convertToFormat(QImage.Format_RGB32)
    assert back.size() == image.size()
    assert back == image.convertToFormat(QImage.Format_RGB32)
    with pytest.raises(OSError, match="cannot write PNG file"):
        save_png(image, tmp_path / "no such folder" / "x.png")


def test_a_very_wide_drawing_is_cut_into_columns_too():
    plan = plan_png_pages((0.0, 0.0, 60000.0, 30000.0), text_px=12)
    assert plan.scale * 12 >= MIN_TEXT_PX
    lefts = sorted({page[0] for page in plan.pages})
    assert len(lefts) >= 4  # 60000 units at 10/12 px each: over three 16384 px columns
    for index in range(len(plan.pages)):
        width, height = plan.page_size(index)
        assert width <= PAGE_MAX_SIDE and height <= PAGE_MAX_SIDE and width * height <= 40_000_000 + PAGE_MAX_SIDE
    area = sum((r - l) * (b - t) for l, t, r, b in plan.pages)
    assert abs(area - 60000.0 * 30000.0) < 1.0  # the pages tile the drawing


def test_the_png_benchmark_runs(qtbot):
    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench import png_export

    [row] = png_export.run(blocks=(1,))
    assert row["pages"] == 1 and row["min_text_px"] >= MIN_TEXT_PX
    assert set(row) >= {"svg_s", "png_s", "png_over_svg", "view_png_s", "view_png_over_svg", "old_png_s"}
