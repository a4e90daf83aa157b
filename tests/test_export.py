"""export_graph: DOT, SVG, PNG, GraphML and JSON, all without the Graphviz binary."""
import json
import struct
import xml.etree.ElementTree as ET

import networkx as nx
import pytest

import gradviz
from gradviz.core.export import FORMATS, export_graph, format_for_path, graph_to_dot, graph_to_svg, node_label
from gradviz.core.session import TrainingSession

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def lenet_graph():
    return TrainingSession(gradviz.presets.load("lenet")).preview_graph()


@pytest.fixture(autouse=True)
def no_graphviz(monkeypatch):
    # Whatever is installed, export must not need the `dot` program.
    monkeypatch.setenv("PATH", "")


def _param_key(graph, name):
    return next(k for k, a in graph.nodes(data=True) if a.get("name") == name)


def test_labels_follow_torchviz():
    assert node_label("n1", {"kind": "op", "label": "AddmmBackward0"}) == "AddmmBackward0"
    assert node_label("n2", {"kind": "param", "name": "fc3.bias", "shape": (10,)}) == "fc3.bias\n(10)"
    assert node_label("n3", {"kind": "leaf", "name": "", "shape": (2, 3)}) == "(2, 3)"
    assert node_label("out0", {"kind": "output", "label": "loss"}) == "loss"
    assert node_label(7, {}) == "7"


def test_dot_text(lenet_graph):
    text = graph_to_dot(lenet_graph)
    assert text.startswith("digraph") and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    assert '"MseLossBackward0"' in text
    assert '"fc3.bias\\n(10)"' in text  # two-line label, escaped for DOT
    assert text.count(" -> ") == lenet_graph.number_of_edges()
    assert text.count("fillcolor=") == lenet_graph.number_of_nodes()
    assert 'tooltip="module: fc3"' in text
    key = _param_key(lenet_graph, "fc3.bias")
    assert f'"{key}" [label="fc3.bias\\n(10)", fillcolor="#add8e6"]' in text  # params light blue


def test_dot_escapes_quotes_and_backslashes():
    graph = nx.DiGraph()
    graph.add_node('a"b', kind="op", label='say "hi" \\ bye')
    text = graph_to_dot(graph)
    assert '"a\\"b" [label="say \\"hi\\" \\\\ bye"' in text


def test_svg_is_xml_with_a_box_per_node(lenet_graph):
    root = ET.fromstring(graph_to_svg(lenet_graph).encode("utf-8"))
    assert root.tag == SVG_NS + "svg"
    groups = root.findall(f".//{SVG_NS}g[@class]")
    node_groups = [g for g in groups if g.get("class").startswith("node ")]
    assert len(node_groups) == lenet_graph.number_of_nodes()
    assert len(root.findall(f".//{SVG_NS}path")) == lenet_graph.number_of_edges()  # routed edges
    assert len(root.findall(f".//{SVG_NS}polygon")) == lenet_graph.number_of_edges()  # arrowheads
    texts = [t.text for t in root.iter(SVG_NS + "text")]
    assert "MseLossBackward0" in texts and "fc3.bias" in texts and "(10)" in texts
    colours = {g.get("class"): g.find(SVG_NS + "rect").get("fill") for g in node_groups}
    assert colours["node param"] != colours["node op"] != colours["node output"]
    width, height = float(root.get("width")), float(root.get("height"))
    for rect in root.iter(SVG_NS + "rect"):  # everything inside the canvas
        assert float(rect.get("x")) >= 0 and float(rect.get("x")) + float(rect.get("width")) <= width + 0.1
        assert float(rect.get("y")) >= 0 and float(rect.get("y")) + float(rect.get("height")) <= height + 0.1


def test_svg_edges_run_down_from_producer_to_consumer(lenet_graph):
    # with the default layered layout data flows downward: each arrow tip is below where its edge starts
    root = ET.fromstring(graph_to_svg(lenet_graph))
    paths, tips = list(root.iter(SVG_NS + "path")), list(root.iter(SVG_NS + "polygon"))
    assert len(paths) == len(tips) == lenet_graph.number_of_edges()
    for path, tip in zip(paths, tips):
        start_y = float(path.get("d").split()[1])  # "M<x> <y> ..."
        tip_y = float(tip.get("points").split()[0].split(",")[1])
        assert tip_y > start_y


def test_svg_with_given_positions_draws_straight_edges(lenet_graph):
    positions = {key: (100.0 * i, 50.0 * i) for i, key in enumerate(lenet_graph.nodes)}
    root = ET.fromstring(graph_to_svg(lenet_graph, positions))
    assert len(root.findall(f".//{SVG_NS}line")) == lenet_graph.number_of_edges()
    assert not root.findall(f".//{SVG_NS}path")


def test_svg_with_given_positions(lenet_graph):
    positions = {key: (100.0 * i, 50.0 * i) for i, key in enumerate(lenet_graph.nodes)}
    svg = graph_to_svg(lenet_graph, positions)
    root = ET.fromstring(svg)
    assert float(root.get("width")) > 100 * (len(positions) - 1)
    positions.pop("out0")
    with pytest.raises(ValueError, match="positions lack 1 node.*'out0'"):
        graph_to_svg(lenet_graph, positions)


def test_svg_of_any_networkx_graph():
    graph = nx.path_graph(4, create_using=nx.DiGraph)
    root = ET.fromstring(graph_to_svg(graph))
    assert [t.text for t in root.iter(SVG_NS + "text")] == ["0", "1", "2", "3"]
    assert ET.fromstring(graph_to_svg(nx.DiGraph())).tag == SVG_NS + "svg"


@pytest.mark.gui
def test_png_is_a_valid_image(lenet_graph, tmp_path):
    import gradviz

    path = gradviz.export_graph(lenet_graph, tmp_path / "graph.png")  # the public one rasterises with Qt
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    svg = ET.fromstring(graph_to_svg(lenet_graph))
    assert (width, height) == (round(float(svg.get("width"))), round(float(svg.get("height"))))


@pytest.mark.gui
def test_png_of_a_huge_canvas_is_scaled_down(tmp_path):
    from gradviz.ui.rasterize import svg_to_png

    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="40000" height="100"><rect width="40000" height="100" fill="red"/></svg>'
    data = svg_to_png(svg, tmp_path / "wide.png", max_side=1000).read_bytes()
    assert struct.unpack(">II", data[16:24]) == (1000, 2)
    with pytest.raises(ValueError, match="could not be parsed"):
        svg_to_png("<not svg", tmp_path / "bad.png")


def test_core_png_export_takes_the_rasterizer_it_is_given(lenet_graph, tmp_path):
    """The core draws no pixels: PNG goes through the caller's rasterizer, and without one
    the error says where to get one (the core must not fall back to importing Qt)."""
    calls = []
    path = export_graph(lenet_graph, tmp_path / "graph.png", rasterize=lambda svg, out: calls.append((svg, out)))
    assert path == tmp_path / "graph.png"
    assert len(calls) == 1 and calls[0][1] == path
    assert calls[0][0] == graph_to_svg(lenet_graph)
    with pytest.raises(ValueError, match="PNG export needs a rasterizer: use gradviz.export_graph"):
        export_graph(lenet_graph, tmp_path / "other.png")
    assert not (tmp_path / "other.png").exists()


def test_graphml_loads_back(lenet_graph, tmp_path):
    path = export_graph(lenet_graph, tmp_path / "graph.graphml")
    back = nx.read_graphml(path)
    assert set(back.nodes) == set(lenet_graph.nodes)
    assert set(back.edges) == set(lenet_graph.edges)
    key = _param_key(lenet_graph, "fc1.weight")
    assert back.nodes[key]["name"] == "fc1.weight" and back.nodes[key]["shape"] == "(120, 400)"
    assert back.nodes["out0"]["kind"] == "output"


def test_graphml_and_json_of_a_live_graph_drop_autograd_nodes(tmp_path):
    import torch

    model = torch.nn.Linear(2, 1)
    graph = gradviz.autograd_graph(model(torch.ones(1, 2)).sum(), model)
    assert "fn" in graph.graph
    export_graph(graph, tmp_path / "g.graphml")
    export_graph(graph, tmp_path / "g.json")
    assert "fn" not in nx.read_graphml(tmp_path / "g.graphml").graph
    assert "fn" not in json.loads((tmp_path / "g.json").read_text())["graph"]
    assert "fn" in graph.graph  # the caller's graph is untouched


def test_json_node_link_with_positions(lenet_graph, tmp_path):
    path = export_graph(lenet_graph, tmp_path / "graph.json")
    data = json.loads(path.read_text())
    assert len(data["nodes"]) == lenet_graph.number_of_nodes()
    assert len(data["edges"]) == lenet_graph.number_of_edges()
    by_id = {node["id"]: node for node in data["nodes"]}
    assert all(len(node["pos"]) == 2 and len(node["size"]) == 2 for node in data["nodes"])
    assert by_id["out0"]["pos"][1] > by_id[_param_key(lenet_graph, "conv1.weight")]["pos"][1]
    assert by_id[_param_key(lenet_graph, "fc3.bias")]["shape"] == [10]
    back = nx.node_link_graph(data, edges="edges")
    assert set(back.edges) == set(lenet_graph.edges)


def test_format_from_suffix_or_argument(lenet_graph, tmp_path):
    assert [format_for_path(f"g.{s}") for s in ("dot", "gv", "svg", "PNG", "graphml", "json")] == [
        "dot", "dot", "svg", "png", "graphml", "json",
    ]
    path = export_graph(lenet_graph, tmp_path / "graph.txt", "dot")
    assert path.read_text().startswith("digraph")
    with pytest.raises(ValueError, match="unknown export format 'bmp'; use one of: dot, svg, png, graphml, json"):
        export_graph(lenet_graph, tmp_path / "graph.bmp", "bmp")
    with pytest.raises(ValueError, match=r"cannot tell the export format of .*graph\.bmp.*one of: dot, svg, png, graphml, json"):
        export_graph(lenet_graph, tmp_path / "graph.bmp")
    assert FORMATS == ("dot", "svg", "png", "graphml", "json")


def test_core_export_does_not_import_qt():
    import subprocess
    import sys

    code = (
        "import sys, gradviz.core.export, gradviz.core.session, gradviz.core.data, gradviz.core.summary; "
        "sys.exit(any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_every_node_kind_is_exported_leaf_included(tmp_path):
    """An input with requires_grad=True is a ``leaf`` (neither parameter nor op): every format
    must keep it, with its own colour in SVG, like the other kinds."""
    import torch

    import gradviz

    x = torch.randn(3, requires_grad=True)
    w = torch.nn.Parameter(torch.randn(3))
    graph = gradviz.autograd_graph((x * w).sum(), params={"w": w})
    kinds = {attrs["kind"] for _, attrs in graph.nodes(data=True)}
    assert kinds == {"op", "param", "leaf", "output"}
    leaf = next(k for k, a in graph.nodes(data=True) if a["kind"] == "leaf")

    root = ET.fromstring(graph_to_svg(graph).encode("utf-8"))
    node_groups = [g for g in root.findall(f".//{SVG_NS}g[@class]") if g.get("class").startswith("node ")]
    assert sorted(g.get("class") for g in node_groups) == sorted(f"node {a['kind']}" for _, a in graph.nodes(data=True))
    colours = {g.get("class"): g.find(SVG_NS + "rect").get("fill") for g in node_groups}
    assert len(set(colours.values())) == 4, colours
    assert "(3)" in [t.text for g in node_groups if g.get("class") == "node leaf" for t in g.iter(SVG_NS + "text")]

    assert f'"{leaf}"' in graph_to_dot(graph)
    back = nx.read_graphml(export_graph(graph, tmp_path / "g.graphml"))
    assert back.nodes[str(leaf)]["kind"] == "leaf"
