"""Edge routes: no edge passes through a box it does not touch (checked geometrically),
on graphs with many long edges (a DenseNet block concatenates every earlier output),
the presets, and a cycle."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

import gradviz
from gradviz.core.layout import default_node_size, layered_layout, layered_layout_routed
from gradviz.core.routes import route_end, route_path_d, route_points


class DenseBlock(nn.Module):
    """torchvision's DenseNet pattern: each layer reads the concatenation of all earlier outputs."""

    def __init__(self, n_layers=6, growth=4, start=4):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(start + i * growth), nn.ReLU(), nn.Conv2d(start + i * growth, growth, 3, padding=1))
            for i in range(n_layers)
        )

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


def dense_graph():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), DenseBlock(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(28, 10))
    return gradviz.trace_model(model, torch.randn(2, 3, 8, 8), loss_fn=lambda o: o.pow(2).mean()).graph


def preset_graph(name):
    return gradviz.TrainingSession(gradviz.presets.load(name)).preview_graph()


def boxes_of(graph, positions):
    keys = list(graph.nodes)
    centre = np.array([positions[k] for k in keys], dtype=float)
    size = np.array([default_node_size(k, graph.nodes[k]) for k in keys], dtype=float)
    return keys, centre - size / 2, centre + size / 2


def crossings_of(points_of_edge, graph, positions, margin=0.5):
    """{edge: boxes it passes through}, for boxes other than its own two ends."""
    keys, low, high = boxes_of(graph, positions)
    index = {k: i for i, k in enumerate(keys)}
    bad = {}
    for (u, v), points in points_of_edge.items():
        pts = np.asarray(points, dtype=float)
        inside = ((pts[:, None, :] > low[None] + margin) & (pts[:, None, :] < high[None] - margin)).all(axis=2).any(axis=0)
        inside[[index[u], index[v]]] = False
        if inside.any():
            bad[(u, v)] = [keys[i] for i in np.flatnonzero(inside)]
    return bad


def straight_points(graph, positions, steps=40):
    return {(u, v): [tuple(np.add(positions[u], np.multiply(t / steps, np.subtract(positions[v], positions[u]))))
                     for t in range(steps + 1)] for u, v in graph.edges if u != v}


GRAPHS = {"densenet_block": dense_graph, "lenet": lambda: preset_graph("lenet"), "resnet_tiny": lambda: preset_graph("resnet_tiny")}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_no_route_passes_through_a_box_it_does_not_touch(name):
    graph = GRAPHS[name]()
    layout = layered_layout_routed(graph)
    assert layout.positions == layered_layout(graph)  # routing never moves a box
    assert set(layout.routes) == {(u, v) for u, v in graph.edges if u != v}
    points = {edge: route_points(route) for edge, route in layout.routes.items()}
    assert crossings_of(points, graph, layout.positions) == {}
    keys, low, high = boxes_of(graph, layout.positions)
    where = {k: i for i, k in enumerate(keys)}
    for (u, v), route in layout.routes.items():
        (sx, sy, _), (ex, ey, direction) = route[0], route_end(route)
        assert low[where[u]][0] <= sx <= high[where[u]][0] and sy == pytest.approx(high[where[u]][1])  # leaves u's bottom
        assert low[where[v]][0] <= ex <= high[where[v]][0] and ey == pytest.approx(low[where[v]][1])  # enters v's top
        assert direction == 1.0


def test_straight_edges_would_cut_boxes_in_the_dense_block():
    """The check above can fail: drawn straight, the DenseNet block's long edges cross boxes."""
    graph = dense_graph()
    positions = layered_layout(graph)
    assert len(crossings_of(straight_points(graph, positions), graph, positions)) >= 3


def test_a_cycle_is_routed_back_up_and_svg_path_text():
    graph = nx.DiGraph([("a", "b"), ("b", "c"), ("c", "a"), ("a", "c")])
    layout = layered_layout_routed(graph)
    directions = {edge: route_end(route)[2] for edge, route in layout.routes.items()}
    assert directions == {("a", "b"): 1.0, ("b", "c"): 1.0, ("a", "c"): 1.0, ("c", "a"): -1.0}
    assert crossings_of({e: route_points(r) for e, r in layout.routes.items()}, graph, layout.positions) == {}
    d = route_path_d(((10.0, 0.0, 5.0), (30.0, 20.0, 40.0)))
    assert d == "M10.0 0.0 L10.0 5.0 C10.0 12.5 30.0 12.5 30.0 20.0 L30.0 40.0"


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected options: colour"):
        layered_layout_routed(nx.DiGraph([(1, 2)]), colour="red")
