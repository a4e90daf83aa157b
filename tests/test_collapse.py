"""Collapsing an autograd graph by module (pure logic, no Qt)."""
import networkx as nx
import pytest

from gradviz.core import collapse as c


def nested_graph() -> nx.DiGraph:
    """x -> stem.conv -> layer1.0.{conv1,relu,conv2} (+ skip add in layer1.0) -> layer1.1.conv1 -> head -> loss."""
    g = nx.DiGraph()
    g.add_node("x", kind="leaf", label="AccumulateGrad", name="", shape=(1, 3))
    chain = [
        ("stem", "ConvolutionBackward0", "stem"),
        ("l0c1", "ConvolutionBackward0", "layer1.0.conv1"),
        ("l0r", "ReluBackward0", "layer1.0.relu"),
        ("l0c2", "ConvolutionBackward0", "layer1.0.conv2"),
        ("l0add", "AddBackward0", "layer1.0"),
        ("l1c1", "ConvolutionBackward0", "layer1.1.conv1"),
        ("head", "AddmmBackward0", "head"),
        ("loss", "MseLossBackward0", ""),
    ]
    previous = "x"
    for key, label, module in chain:
        g.add_node(key, kind="op", label=label, module=module)
        g.add_edge(previous, key)
        previous = key
    g.add_edge("stem", "l0add")  # the residual skip
    for module, op in (("stem", "stem"), ("layer1.0.conv1", "l0c1"), ("layer1.0.conv2", "l0c2"), ("layer1.1.conv1", "l1c1"), ("head", "head")):
        key = f"{module}.weight"
        g.add_node(key, kind="param", label="AccumulateGrad", name=key, shape=(4, 4))
        g.add_edge(key, op)
    g.add_node("out0", kind="output", label="loss", shape=())
    g.add_edge("loss", "out0")
    g.graph["roots"] = ["out0"]
    return g


def test_node_module_from_attribute_or_param_name():
    assert c.node_module({"kind": "op", "module": "layer1.0"}) == "layer1.0"
    assert c.node_module({"kind": "op"}) == ""
    assert c.node_module({"kind": "param", "name": "fc1.weight"}) == "fc1"
    assert c.node_module({"kind": "param", "name": "weight"}) == ""
    assert c.node_module({"kind": "output", "label": "loss"}) == ""
    assert c.ancestor_modules("layer1.0.conv2") == ["layer1", "layer1.0", "layer1.0.conv2"]
    assert c.module_depth("") == 0 and c.module_depth("layer1.0") == 2


def test_module_sizes_count_submodules():
    sizes = c.module_sizes(nested_graph())
    assert sizes["layer1"] == 8  # layer1.0 (6) + layer1.1.conv1 (op and weight)
    assert sizes["layer1.0"] == 6  # conv1 op+w, relu, conv2 op+w, add
    assert sizes["layer1.0.conv1"] == 2
    assert sizes["stem"] == 2
    assert c.has_modules(nested_graph())
    assert c.max_depth(nested_graph()) == 3


def test_collapse_merges_edges_and_maps_members():
    g = nested_graph()
    shown = c.collapse_graph(g, {"layer1.0"})
    box = c.box_key("layer1.0")
    assert c.box_module(box) == "layer1.0"
    assert shown.graph.number_of_nodes() == g.number_of_nodes() - 6 + 1
    assert sorted(shown.members[box]) == sorted(["l0c1", "layer1.0.conv1.weight", "l0r", "l0c2", "layer1.0.conv2.weight", "l0add"])
    assert all(shown.shown(m) == box for m in shown.members[box])
    assert shown.shown("stem") == "stem"
    attrs = shown.graph.nodes[box]
    assert (attrs["kind"], attrs["label"], attrs["count"], attrs["ops"], attrs["params"]) == ("module", "layer1.0", 6, 4, 2)
    # stem -> layer1.0 twice (the chain and the skip) becomes one edge with count 2
    assert shown.graph.edges["stem", box]["count"] == 2
    assert shown.graph.has_edge(box, "l1c1")
    # edges between shown original nodes keep their attributes, and no self-loops appear
    assert not any(u == v for u, v in shown.graph.edges)
    assert shown.collapsed == frozenset({"layer1.0"})
    # the box sits where its first member was in node order
    order = list(shown.graph.nodes)
    assert order.index(box) == order.index("stem") + 1


def test_outermost_collapse_wins_and_nothing_collapsed_is_identity():
    g = nested_graph()
    shown = c.collapse_graph(g, {"layer1.0", "layer1", "layer1.0.conv1"})
    assert shown.collapsed == frozenset({"layer1"})
    assert c.box_key("layer1.0") not in shown.graph
    assert shown.graph.nodes[c.box_key("layer1")]["count"] == 8
    same = c.collapse_graph(g, ())
    assert same.graph is g and same.shown("l0r") == "l0r"
    assert c.outermost({"a.b", "a", "c"}) == frozenset({"a", "c"})


def test_modules_at_depth_and_shown_count():
    g = nested_graph()
    assert c.modules_at_depth(g, 0) == frozenset()
    assert c.modules_at_depth(g, 1) == frozenset({"stem", "layer1", "head"})
    # depth 2: layer1's children; stem and head have no submodules so stay boxes
    assert c.modules_at_depth(g, 2) == frozenset({"stem", "head", "layer1.0", "layer1.1"})
    for depth in range(4):
        collapsed = c.modules_at_depth(g, depth)
        assert c.shown_count(g, collapsed) == c.collapse_graph(g, collapsed).graph.number_of_nodes()
    counts = [c.shown_count(g, c.modules_at_depth(g, d)) for d in range(1, 4)]
    assert counts == sorted(counts)  # deeper never shows fewer


def test_choose_depth_picks_deepest_readable_level():
    g = nested_graph()
    assert c.choose_depth(g, max_nodes=1000) == 3
    depth1 = c.shown_count(g, c.modules_at_depth(g, 1))
    assert c.choose_depth(g, max_nodes=depth1) == 1
    assert c.choose_depth(g, max_nodes=1) == 1  # never 0 when there are modules
    plain = nx.DiGraph([("a", "b")])
    assert c.choose_depth(plain) == 0


def test_expand_one_level_opens_big_modules_to_their_children():
    g = nested_graph()
    sizes = c.module_sizes(g)
    assert c.expand_one_level({"layer1", "head"}, "layer1", sizes) == frozenset({"head"})
    opened = c.expand_one_level({"layer1", "head"}, "layer1", sizes, expand_fully_max=3)
    assert opened == frozenset({"head", "layer1.0", "layer1.1"})


def test_round_trip_restores_the_original_graph():
    g = nested_graph()
    collapsed = c.collapse_graph(g, c.modules_at_depth(g, 1))
    assert collapsed.graph.number_of_nodes() < g.number_of_nodes()
    back = c.collapse_graph(g, ())
    assert set(back.graph.nodes) == set(g.nodes) and set(back.graph.edges) == set(g.edges)


def test_real_lenet_graph_collapses_per_layer():
    torch = pytest.importorskip("torch")
    import gradviz

    torch.manual_seed(0)
    net = gradviz.build_model(gradviz.presets.load("lenet"))
    traced = gradviz.trace_model(
        net, torch.randn(1, 1, 32, 32), loss_fn=torch.nn.functional.mse_loss, target=torch.randn(1, 10)
    )
    g = traced.graph
    sizes = c.module_sizes(g)
    assert set(sizes) == {"conv1", "conv2", "fc1", "fc2", "fc3"}
    assert sizes["fc1"] == 4  # weight, bias, TBackward0, AddmmBackward0
    shown = c.collapse_graph(g, c.modules_at_depth(g, 1))
    assert shown.graph.number_of_nodes() == g.number_of_nodes() - sum(sizes.values()) + 5
    # the boxes still form one chain from conv1 to the loss
    assert nx.has_path(shown.graph, c.box_key("conv1"), c.box_key("fc3"))
    assert nx.is_directed_acyclic_graph(shown.graph)
