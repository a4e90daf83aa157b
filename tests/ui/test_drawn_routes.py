"""Edges never run through boxes, checked on what is *drawn*: the SVG export of the view,
parsed, at every collapse depth of models nobody here laid out by hand (a module called
three times, a DenseNet block, an Inception block). tests/test_routes.py checks the core
layout's routes against its box sizes; this checks the boxes as painted, which are more
than the layout's size where the painter adds to them (a collapsed module's stack of cards)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradviz
from gradviz.core.collapse import max_depth
from gradviz.ui.graph_view.style import ARROW_LENGTH
from tests.ui.graph_views import shown_graph_view

pytestmark = pytest.mark.gui

SVG = "{http://www.w3.org/2000/svg}"


class Thrice(nn.Module):
    """One submodule called three times in a row (a weight-shared refinement loop)."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 16)
        self.shared = nn.Sequential(nn.Linear(16, 16), nn.Tanh())
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        x = self.inp(x)
        for _ in range(3):
            x = x + self.shared(x)
        return self.out(x)


class DenseLayer(nn.Module):
    def __init__(self, channels, growth):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, growth, 3, padding=1, bias=False)

    def forward(self, features):
        return self.conv(F.relu(self.norm(torch.cat(features, 1))))


class Dense(nn.Module):
    """torchvision's DenseNet block: every layer reads all earlier outputs."""

    def __init__(self, layers=5, channels=8, growth=4):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.block = nn.ModuleList(DenseLayer(channels + i * growth, growth) for i in range(layers))
        self.fc = nn.Linear(channels + layers * growth, 10)

    def forward(self, x):
        features = [self.stem(x)]
        for layer in self.block:
            features.append(layer(features))
        return self.fc(torch.cat(features, 1).mean((2, 3)))


class Inception(nn.Module):
    """Four parallel branches concatenated."""

    def __init__(self, c=8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.b1 = nn.Conv2d(c, 4, 1)
        self.b2 = nn.Sequential(nn.Conv2d(c, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1))
        self.b3 = nn.Sequential(nn.Conv2d(c, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 5, padding=2))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c, 4, 1))
        self.fc = nn.Linear(18, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        y = torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)
        return self.fc(y.mean((2, 3)))


MODELS = {
    "thrice": (Thrice, lambda: torch.randn(4, 8)),
    "densenet": (Dense, lambda: torch.randn(2, 3, 8, 8)),
    "inception": (Inception, lambda: torch.randn(2, 3, 8, 8)),
}


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]


def _points(d: str) -> list[tuple[float, float]]:
    """The points of one SVG subpath (``M``, ``L``, ``C``; curves sampled)."""
    points, current = [], None
    for command, args in re.findall(r"([MLCZ])([^MLCZ]*)", d):
        values = _numbers(args)
        if command in "ML":
            for i in range(0, len(values), 2):
                current = (values[i], values[i + 1])
                points.append(current)
        elif command == "C":
            for i in range(0, len(values), 6):
                p0, p1, p2, p3 = (np.array(current), np.array(values[i:i + 2]), np.array(values[i + 2:i + 4]),
                                  np.array(values[i + 4:i + 6]))
                for t in np.linspace(0, 1, 17)[1:]:
                    u = 1 - t
                    points.append(tuple(u ** 3 * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t ** 3 * p3))
                current = tuple(p3)
    return points


def drawn_edges_and_shapes(svg_path):
    """``(edges, shapes)`` of an SVG export: each edge's stroke as points (open paths
    stroked with round caps and no fill), each filled and outlined shape (box, card) as
    ``(left, top, right, bottom)``."""
    root = ET.parse(svg_path).getroot()
    edges, shapes = [], set()
    for group in root.iter(SVG + "g"):
        dx, dy = _numbers(group.get("transform", "matrix(1,0,0,1,0,0)"))[4:6]
        fill, stroke = group.get("fill"), group.get("stroke")
        for path in group.findall(SVG + "path"):
            for sub in ("M" + part for part in path.get("d").split("M") if part.strip()):
                points = [(x + dx, y + dy) for x, y in _points(sub)]
                if fill == "none" and group.get("stroke-linecap") == "round" and "Z" not in sub:
                    edges.append(np.array(points))
                elif fill not in (None, "none") and stroke not in (None, "none"):
                    xy = np.array(points)
                    shapes.add((*np.round(xy.min(axis=0), 2), *np.round(xy.max(axis=0), 2)))
    return edges, np.array(sorted(shapes))


def edges_through_shapes(edges, shapes, margin=1.0):
    """Edges with a point inside a shape other than those at their two ends: the shapes
    around where the stroke starts (its source, under it) and the one whose top is just
    below where it stops (its target: the arrowhead covers the last ARROW_LENGTH px)."""
    left, top, right, bottom = shapes.T
    bad = []
    for points in edges:
        (sx, sy), (ex, ey) = points[0], points[-1]
        own = (sx >= left - 1.5) & (sx <= right + 1.5) & (sy >= top - 1.5) & (sy <= bottom + 1.5)
        own |= (ex >= left - 1.5) & (ex <= right + 1.5) & (top >= ey - 1.5) & (top <= ey + ARROW_LENGTH + 1.5)
        inside = ((points[:, None, 0] > left + margin) & (points[:, None, 0] < right - margin)
                  & (points[:, None, 1] > top + margin) & (points[:, None, 1] < bottom - margin)).any(axis=0)
        hit = inside & ~own
        if hit.any():
            bad.append((points[0].round(1).tolist(), points[-1].round(1).tolist(), shapes[hit].tolist()))
    return bad


@pytest.mark.parametrize("name", sorted(MODELS))
def test_no_drawn_edge_runs_through_a_drawn_box(qtbot, tmp_path, name):
    make, inputs = MODELS[name]
    torch.manual_seed(0)
    graph = gradviz.trace_model(make(), inputs(), loss_fn=lambda out: out.pow(2).mean()).graph
    view = shown_graph_view(qtbot)
    with qtbot.waitSignal(view.ready, timeout=30_000):
        view.set_graph(graph)
    for depth in range(max_depth(graph) + 1):
        view.collapse_to_depth(depth)
        assert view.wait_until_ready(30_000)
        svg = tmp_path / f"{name}-{depth}.svg"
        view.export(svg)
        edges, shapes = drawn_edges_and_shapes(svg)
        assert len(edges) >= view.shown_graph().number_of_edges() - 1  # the parser sees the edges
        assert len(shapes) >= view.node_count()  # and every box
        assert edges_through_shapes(edges, shapes) == [], depth


def test_an_export_during_a_collapse_animation_draws_where_it_ends(qtbot, tmp_path):
    """With animations on (as users have them), exporting right after a depth change
    gave the morph's first frame: new boxes piled on the old ones, edges as loose curves."""
    make, inputs = MODELS["thrice"]
    torch.manual_seed(0)
    graph = gradviz.trace_model(make(), inputs(), loss_fn=lambda out: out.pow(2).mean()).graph
    view = shown_graph_view(qtbot, (1200, 800), animations=True)
    with qtbot.waitSignal(view.ready, timeout=30_000):
        view.set_graph(graph)
    view.collapse_to_depth(1)
    assert view.wait_until_ready(30_000)
    shown = view.item.model
    view.collapse_to_depth(2)
    qtbot.waitUntil(lambda: view.item.model is not shown, timeout=30_000)  # the morph has begun
    assert not view.is_ready()
    during, after = tmp_path / "during.svg", tmp_path / "after.svg"
    view.export(during)
    assert view.wait_until_ready(30_000)
    view.export(after)
    assert during.read_text() == after.read_text()
    edges, shapes = drawn_edges_and_shapes(during)
    assert edges_through_shapes(edges, shapes) == []
