"""Collapse by module *call*: a module used twice is two boxes, and a collapsed graph of an
acyclic graph is acyclic. Checked on architectures written the way torchvision and
Hugging Face write them (gradviz did not design them): a ResNet BasicBlock applies one
``relu`` twice, a T5-style stack applies one ``dropout`` before and after its blocks,
an encoder is applied to two inputs (siamese), and a language model ties its embedding
to its output head."""
from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch import nn

import gradviz
from gradviz.core import collapse as c
from gradviz.core.layout import layered_layout


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock, as written there: ``self.relu`` twice."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class TinyResNet(nn.Module):
    """resnet18's shape, two blocks a stage, narrow: the stem's relu is used once, each block's twice."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class T5StyleStack(nn.Module):
    """Hugging Face's T5Stack pattern: one ``dropout`` module after the embeddings and again after the final norm."""

    def __init__(self, vocab=20, d=8, n_blocks=2):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, d)
        self.block = nn.ModuleList(nn.Sequential(nn.Linear(d, d), nn.GELU()) for _ in range(n_blocks))
        self.final_layer_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(0.1)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.embed_tokens.weight  # tied

    def forward(self, ids):
        h = self.dropout(self.embed_tokens(ids))
        for layer in self.block:
            h = h + layer(h)
        return self.lm_head(self.dropout(self.final_layer_norm(h)))


class Siamese(nn.Module):
    """One encoder applied to two inputs; the parameters are shared by both calls."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
        self.head = nn.Linear(3, 1)

    def forward(self, a, b):
        return self.head((self.encoder(a) - self.encoder(b)).abs())


def traced(model, *inputs):
    torch.manual_seed(0)
    model.train()
    return gradviz.trace_model(model, *inputs, loss_fn=lambda out: out.float().pow(2).mean())


CASES = {
    "resnet": lambda: traced(TinyResNet(), torch.randn(2, 3, 32, 32)),
    "t5": lambda: traced(T5StyleStack(), torch.randint(0, 20, (2, 5))),
    "siamese": lambda: traced(Siamese(), torch.randn(2, 4), torch.randn(2, 4)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    return request.param, CASES[request.param]().graph


def test_every_depth_of_collapse_stays_acyclic_and_lays_out_downward(case):
    name, graph = case
    assert nx.is_directed_acyclic_graph(graph)
    for depth in range(0, c.max_depth(graph) + 1):
        shown = c.collapse_graph(graph, c.modules_at_depth(graph, depth)).graph
        assert nx.is_directed_acyclic_graph(shown), (name, depth, nx.find_cycle(shown))
        assert c.shown_count(graph, c.modules_at_depth(graph, depth)) == shown.number_of_nodes()
        pos = layered_layout(shown)
        upward = [(u, v) for u, v in shown.edges if u != v and pos[v][1] <= pos[u][1]]
        assert upward == [], (name, depth, upward)


def test_each_relu_call_of_a_basic_block_is_its_own_box():
    graph = CASES["resnet"]().graph
    assert c.module_calls(graph)["layer1.0.relu"] == 2 and c.module_calls(graph)["relu"] == 1
    shown = c.collapse_graph(graph, c.modules_at_depth(graph, 3)).graph
    first, second = c.box_key("layer1.0.relu", 1), c.box_key("layer1.0.relu", 2)
    assert first in shown and second in shown and c.box_key("layer1.0.relu") not in shown
    assert shown.nodes[second]["label"] == "layer1.0.relu (call 2)" and shown.nodes[second]["call"] == 2
    assert c.box_module(second) == "layer1.0.relu" and c.box_call(second) == 2 and c.box_call(c.box_key("fc")) is None
    assert c.box_key("relu") in shown  # called once: one box, as before
    # The true flow: call 1 feeds conv2 of the same block; call 2 (after the skip add) feeds the next block.
    assert shown.has_edge(first, c.box_key("layer1.0.conv2"))
    assert not shown.has_edge(first, c.box_key("layer1.1.conv1"))
    assert nx.has_path(shown, second, c.box_key("layer1.1.conv1"))
    # a false flow the merged box showed: layer1.1.conv1 fed straight from layer1.0's relu... only via call 2
    assert not nx.has_path(shown, c.box_key("layer1.0.conv2"), first)


def test_dropout_called_twice_and_tied_weights():
    graph = CASES["t5"]().graph
    assert c.module_calls(graph)["dropout"] == 2
    shown = c.collapse_graph(graph, c.modules_at_depth(graph, 1)).graph
    assert nx.is_directed_acyclic_graph(shown)
    early, late = c.box_key("dropout", 1), c.box_key("dropout", 2)
    # ``block`` is a ModuleList, never called itself: its residual adds run in the stack's
    # forward between the blocks, so one box for it would be a cycle. It opens into its blocks.
    assert c.box_key("block") not in shown
    first, second = c.box_key("block.0"), c.box_key("block.1")
    assert nx.has_path(shown, early, first) and nx.has_path(shown, first, second) and nx.has_path(shown, second, late)
    assert nx.has_path(shown, late, c.box_key("lm_head"))
    # the embedding's weight, tied to the head, sits in the embedding's box and feeds the head too
    assert shown.has_edge(c.box_key("embed_tokens"), c.box_key("lm_head"))


def test_a_container_whose_box_would_close_a_cycle_is_opened():
    """Without the cycle check the ModuleList's box and the adds between its blocks form a cycle."""
    graph = CASES["t5"]().graph
    once = c._collapse_once(graph, frozenset({"block"}))
    assert not nx.is_directed_acyclic_graph(once.graph)
    fixed = c.collapse_graph(graph, {"block"})
    assert fixed.collapsed == {"block.0", "block.1"} and nx.is_directed_acyclic_graph(fixed.graph)
    assert c.shown_count(graph, {"block"}) == fixed.graph.number_of_nodes()


def test_shared_parameters_sit_in_the_first_call_that_uses_them():
    graph = CASES["siamese"]().graph
    collapsed = c.collapse_graph(graph, {"encoder"})
    assert c.module_calls(graph)["encoder"] == 2
    first, second = c.box_key("encoder", 1), c.box_key("encoder", 2)
    params = {graph.nodes[k]["name"] for k in collapsed.members[first] if graph.nodes[k]["kind"] == "param"}
    assert params == {"encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias"}
    assert not any(graph.nodes[k]["kind"] == "param" for k in collapsed.members[second])
    assert collapsed.graph.has_edge(first, second)  # the shared weights feed the second call
    assert nx.is_directed_acyclic_graph(collapsed.graph)


def test_recorded_calls_say_which_call_made_each_op():
    graph = CASES["resnet"]().graph
    relus = [a for _, a in graph.nodes(data=True) if a.get("module") == "layer2.1.relu"]
    assert sorted(dict(a["calls"])["layer2.1.relu"] for a in relus) == [1, 2]
    for attrs in relus:
        assert [m for m, _ in attrs["calls"]][-3:] == ["layer2", "layer2.1", "layer2.1.relu"]
