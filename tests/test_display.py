"""What the views show, decided without Qt (gradviz.core.display): search, the
training graph's phases, tensors laid out as images. No display, no Qt import."""
from __future__ import annotations

import subprocess
import sys

import networkx as nx
import numpy as np
import pytest

from gradviz.core.display import graph_search, graph_steps, tensor_images


def _graph() -> nx.DiGraph:
    """x -> mm -> add -> loss(output); w (param) -> mm; b (param) -> add."""
    g = nx.DiGraph()
    g.add_node("x", kind="leaf", name="x", label="x")
    g.add_node("w", kind="param", name="fc.weight", label="fc.weight (2, 3)")
    g.add_node("b", kind="param", name="fc.bias", label="fc.bias (2,)")
    g.add_node("mm", kind="op", label="MmBackward0")
    g.add_node("add", kind="op", label="AddBackward0")
    g.add_node("out", kind="output", label="MseLossBackward0")
    g.add_edges_from([("x", "mm"), ("w", "mm"), ("mm", "add"), ("b", "add"), ("add", "out")])
    return g


def test_importing_the_display_logic_loads_no_qt():
    code = ("import sys, gradviz.core.display.graph_search, gradviz.core.display.graph_steps, "
            "gradviz.core.display.tensor_images; print(any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_search_finds_labels_and_parameter_names_in_any_case():
    g = _graph()
    assert graph_search.find_matches(g, "  BACKWARD0 ") == ["mm", "add", "out"]
    assert graph_search.find_matches(g, "fc.") == ["w", "b"]
    assert graph_search.find_matches(g, "   ") == []
    assert graph_search.display_name("w", g.nodes["w"]) == "fc.weight"
    assert graph_search.display_name("mm", g.nodes["mm"]) == "MmBackward0"


def test_a_parameters_path_to_the_loss_skips_side_branches():
    nodes, edges = graph_search.path_to_outputs(_graph(), "w")
    assert nodes == {"w", "mm", "add", "out"}
    assert edges == {("w", "mm"), ("mm", "add"), ("add", "out")}
    assert graph_search.path_to_outputs(_graph(), "missing") == (set(), set())


def test_graph_steps_name_parameters_and_outputs():
    g = _graph()
    assert graph_steps.param_keys(g) == {"fc.weight": "w", "fc.bias": "b"}
    assert graph_steps.output_nodes(g) == ["out"]
    assert graph_steps.structure_signature(g) == graph_steps.structure_signature(_graph())
    h = _graph()
    h.add_edge("x", "add")
    assert graph_steps.structure_signature(h) != graph_steps.structure_signature(g)


@pytest.mark.parametrize("shape, image_shape", [((6, 1, 5, 5), (5, 6 * 5 + 5)), ((10, 84), (10, 84)), ((6,), (1, 6))])
def test_tensors_become_images_with_an_index_under_every_pixel(shape, image_shape):
    values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    image, index = tensor_images.layout(values)
    assert image.shape == index.shape == image_shape
    filled = index >= 0
    assert sorted(index[filled].tolist()) == list(range(values.size))  # every element drawn once
    assert np.array_equal(image[filled], values.reshape(-1)[index[filled]])  # and where the index says
    assert np.isnan(image[~filled]).all()  # gaps are transparent


def test_search_finds_a_node_by_the_module_that_made_it():
    """Collapsed boxes are named after modules: a head with a tied weight owns no parameter,
    so only its module names it."""
    g = _graph()
    g.nodes["mm"]["module"] = "lm_head"
    assert graph_search.find_matches(g, "LM_HEAD") == ["mm"]
    assert graph_search.find_matches(g, "fc.") == ["w", "b"]  # a module "" (top level) matches nothing
