"""Folding repeated sibling modules: ``blocks.0 … blocks.23  ×24`` as one box.

Checked on a decoder-only transformer (examples/transformer_block.py, 24 blocks),
a T5-style ``ModuleList`` whose residual adds run in the parent's ``forward``
between the blocks, and a hand-built resnet34-style stage whose first block
differs (downsample) from the rest."""
from __future__ import annotations

import sys
from pathlib import Path

import networkx as nx
import pytest
import torch
from torch import nn

import gradviz
from gradviz.core import collapse as c

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from test_collapse_calls import BasicBlock, T5StyleStack, traced  # noqa: E402
from transformer_block import TinyTransformer, example_inputs  # noqa: E402


class Stage34(nn.Module):
    """resnet34's layer2 shape: a downsampling block, then three alike blocks."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16), BasicBlock(16, 16), BasicBlock(16, 16))
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(self.layer2(self.stem(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def transformer():
    torch.manual_seed(0)
    return gradviz.trace_model(TinyTransformer(n_layers=24), example_inputs(), loss_fn=lambda o: o.float().pow(2).mean()).graph


def _check_partition(graph, result):
    """Every original node is shown as itself or inside exactly one box; members agree with group_of."""
    shown_plain = {k for k in result.graph if k in graph}
    assert set(result.group_of) | shown_plain == set(graph)
    assert not set(result.group_of) & shown_plain
    for box, members in result.members.items():
        assert box in result.graph
        assert all(result.group_of[m] == box for m in members)
    assert sum(len(m) for m in result.members.values()) == len(result.group_of)


def test_24_blocks_fold_into_one_labelled_box(transformer):
    graph = transformer
    result = c.collapse_graph(graph, c.modules_at_depth(graph, 2), fold=True)
    folds = [k for k in result.graph if c.is_fold(k)]
    assert folds == [c.fold_key("blocks", 0, 23)]
    attrs = result.graph.nodes[folds[0]]
    assert attrs["label"] == "blocks.0 … blocks.23  ×24"
    assert attrs["kind"] == "module" and attrs["repeats"] == 24
    assert c.fold_modules(folds[0]) == [f"blocks.{i}" for i in range(24)]
    assert attrs["count"] == len(result.members[folds[0]])
    assert nx.is_directed_acyclic_graph(result.graph)
    _check_partition(graph, result)
    # without folding the same depth shows the 24 blocks
    plain = c.collapse_graph(graph, c.modules_at_depth(graph, 2))
    assert result.graph.number_of_nodes() == plain.graph.number_of_nodes() - 23


def test_an_unfolded_fold_shows_its_repeats_again(transformer):
    graph = transformer
    key = c.fold_key("blocks", 0, 23)
    result = c.collapse_graph(graph, c.modules_at_depth(graph, 2), fold=True, unfolded={key})
    assert key not in result.graph
    assert all(c.box_key(f"blocks.{i}") in result.graph for i in range(24))


def test_residual_adds_between_blocks_go_into_the_fold_and_it_stays_acyclic():
    graph = traced(T5StyleStack(n_blocks=5), torch.randint(0, 20, (2, 5))).graph
    wanted = {f"block.{i}" for i in range(5)}
    result = c.collapse_graph(graph, wanted, fold=True)
    key = c.fold_key("block", 0, 4)
    assert key in result.graph, list(result.graph)
    assert nx.is_directed_acyclic_graph(result.graph)
    _check_partition(graph, result)
    # the adds of the parent's forward between the blocks are inside, the first block's input is not
    inside_ops = [m for m in result.members[key] if graph.nodes[m].get("module") == ""]
    assert inside_ops, "the residual adds between the blocks belong to the fold"


def test_only_alike_siblings_fold_and_every_depth_stays_acyclic():
    graph = traced(Stage34(), torch.randn(2, 3, 16, 16)).graph
    result = c.collapse_graph(graph, c.modules_at_depth(graph, 2), fold=True)
    folds = [k for k in result.graph if c.is_fold(k)]
    # layer2.0 downsamples (different nodes): the fold starts at layer2.1
    assert folds == [c.fold_key("layer2", 1, 3)]
    assert c.box_key("layer2.0") in result.graph
    assert result.graph.nodes[folds[0]]["label"] == "layer2.1 … layer2.3  ×3"
    for depth in range(c.max_depth(graph) + 1):
        shown = c.collapse_graph(graph, c.modules_at_depth(graph, depth), fold=True).graph
        assert nx.is_directed_acyclic_graph(shown), depth


def test_fewer_than_three_repeats_stay_apart():
    graph = traced(T5StyleStack(n_blocks=2), torch.randint(0, 20, (2, 5))).graph
    result = c.collapse_graph(graph, {"block.0", "block.1"}, fold=True)
    assert not [k for k in result.graph if c.is_fold(k)]


def test_readable_collapse_is_the_rule_big_graphs_open_with(transformer):
    wanted = c.readable_collapse(transformer)
    shown = c.collapse_graph(transformer, wanted, fold=True).graph
    unfolded = c.collapse_graph(transformer, wanted).graph
    assert unfolded.number_of_nodes() <= c.READABLE_BOXES < transformer.number_of_nodes()
    assert [k for k in shown if c.is_fold(k)] == [c.fold_key("blocks", 0, 23)]
    small = traced(T5StyleStack(n_blocks=2), torch.randint(0, 20, (2, 5))).graph
    assert small.number_of_nodes() <= c.READABLE_BOXES and c.readable_collapse(small) == frozenset()


def test_open_model_exports_the_collapsed_folded_graph(capsys, tmp_path):
    from gradviz.cli import main

    examples = Path(__file__).resolve().parents[1] / "examples"
    target = tmp_path / "tr.json"
    code = main(["open-model", str(examples / "transformer_block.py"), "--args", "n_layers=24", "--loss", "cross_entropy",
                 "--steps", "0", "--export-graph", str(target), "--collapse", "auto"])
    out, err = capsys.readouterr()
    assert code == 0, err
    import json

    nodes = json.loads(target.read_text())["nodes"]
    assert len(nodes) <= c.READABLE_BOXES
    assert "blocks.0 … blocks.23  ×24" in [n.get("label") for n in nodes]
    assert "collapsed   " in out
    code = main(["open-model", str(examples / "transformer_block.py"), "--export-graph", str(target), "--collapse", "deep"])
    assert code == 2  # a usage error: one line on stderr
    assert "--collapse: expected 'auto' or a depth" in capsys.readouterr().err


def _mlp(n_pairs, top_level=False):
    """A multi-layer perceptron as people write it: one ``Sequential`` of Linear, ReLU, Linear, ReLU, …, Linear."""
    torch.manual_seed(0)
    layers = [nn.Linear(16, 16) if i % 2 == 0 else nn.ReLU() for i in range(2 * n_pairs)] + [nn.Linear(16, 3)]
    if top_level:
        return nn.Sequential(*layers)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(*layers)

        def forward(self, x):
            return self.net(x)

    return Net()


def test_a_repeated_group_of_siblings_folds_as_one_box_that_counts_the_groups():
    graph = gradviz.trace_model(_mlp(40), torch.randn(2, 16), loss_fn=lambda o: o.pow(2).mean()).graph
    result = c.collapse_graph(graph, c.modules_at_depth(graph, 2), fold=True)
    folds = [k for k in result.graph if c.is_fold(k)]
    # Linear, ReLU forty times: one fold of 80 modules; the last Linear (other shape counts alike, but it
    # has no ReLU after it) stays its own box
    assert folds == [c.fold_key("net", 0, 79)]
    attrs = result.graph.nodes[folds[0]]
    assert attrs["label"] == "net.0 … net.79  ×40 (2 modules each)"
    assert (attrs["repeats"], attrs["period"]) == (40, 2)
    assert c.fold_modules(folds[0]) == [f"net.{i}" for i in range(80)]
    assert c.box_key("net.80") in result.graph
    _check_partition(graph, result)
    assert nx.is_directed_acyclic_graph(result.graph)
    # unfolded, every one of the 80 is its own box again
    opened = c.collapse_graph(graph, c.modules_at_depth(graph, 2), fold=True, unfolded={folds[0]})
    assert not [k for k in opened.graph if c.is_fold(k)] and c.box_key("net.41") in opened.graph


def test_the_children_of_a_model_that_is_a_sequential_fold_too():
    """``nn.Sequential(...)`` itself names its children "0", "1", …: no parent before the number."""
    graph = gradviz.trace_model(_mlp(100, top_level=True), torch.randn(2, 16), loss_fn=lambda o: o.pow(2).mean()).graph
    wanted = c.readable_collapse(graph)
    result = c.collapse_graph(graph, wanted, fold=True)
    folds = [k for k in result.graph if c.is_fold(k)]
    assert folds == [c.fold_key("", 0, 199)]
    assert result.graph.nodes[folds[0]]["label"] == "0 … 199  ×100 (2 modules each)"
    assert c.fold_modules(folds[0]) == [str(i) for i in range(200)]
    assert c.fold_parent(folds[0]) == ""
    # it opened readable: before, 200 boxes of a 503-node graph were shown side by side
    assert result.graph.number_of_nodes() <= c.READABLE_BOXES
    _check_partition(graph, result)


@pytest.mark.parametrize("looks, runs", [
    ("AAAAAA", [(0, 6, 1)]),            # alike blocks: ×6, not three pairs
    ("ABABAB", [(0, 6, 2)]),
    ("XABABABA", [(1, 7, 2)]),          # a stem before, half a pair after: outside the fold
    ("ABCABCABCAB", [(0, 9, 3)]),
    ("ABABA", []),                      # two pairs and a half: too few
    ("AAABABAB", [(0, 3, 1)]),          # found left to right: the A's take the first, BABAB is two pairs
])
def test_periodic_runs_prefer_single_repeats_and_need_three_groups(looks, runs):
    assert c._periodic_runs(list(looks)) == runs


def test_a_model_that_would_open_as_one_box_opens_a_level_deeper_with_its_repeats_folded():
    """One ``Sequential`` of 100 Linear/ReLU pairs inside a model: the readable depth is the
    whole ``net`` as one box; one level deeper, folded, says what it holds."""
    graph = gradviz.trace_model(_mlp(100), torch.randn(2, 16), loss_fn=lambda o: o.pow(2).mean()).graph
    assert c.choose_depth(graph) == 1 and c.shown_count(graph, c.modules_at_depth(graph, 1)) <= c.FEW_BOXES
    wanted = c.readable_collapse(graph)
    assert wanted == c.modules_at_depth(graph, 2)
    shown = c.collapse_graph(graph, wanted, fold=True).graph
    assert [k for k in shown if c.is_fold(k)] == [c.fold_key("net", 0, 199)]
    assert shown.number_of_nodes() <= c.FEW_BOXES


def test_an_animation_frame_of_a_fold_of_groups_does_not_miscount_it():
    """Its caption said "net.0 … net.79  ×80": eighty modules, but forty repeats of a pair."""
    from gradviz.core.animation import animation_frames

    graph = gradviz.trace_model(_mlp(40), torch.randn(2, 16), loss_fn=lambda o: o.pow(2).mean()).graph
    result = c.collapse_graph(graph, c.modules_at_depth(graph, 2), fold=True)
    frames = animation_frames(graph, shown=lambda key: result.group_of.get(key, key))
    fold = c.fold_key("net", 0, 79)
    captions = [f.caption for f in frames if fold in f.active]
    assert captions and all("net.0 … net.79 (" in text and "×" not in text for text in captions), captions


class Head(nn.Module):
    """The classifier tail most CNNs end with: ``Sequential(conv, ReLU, pool, Flatten, Linear)``.
    ``tail.1``, ``tail.2`` and ``tail.3`` each hold one op and no parameter, yet they are
    three different layers, not one repeated three times."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3, padding=1)
        self.tail = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(16, 10))

    def forward(self, x):
        return self.tail(self.body(x))


def test_different_layers_of_the_same_size_do_not_fold():
    graph = traced(Head(), torch.randn(2, 3, 16, 16)).graph
    for depth in range(c.max_depth(graph) + 1):
        shown = c.collapse_graph(graph, c.modules_at_depth(graph, depth), fold=True).graph
        assert [k for k in shown if c.is_fold(k)] == [], depth  # was "tail.1 … tail.3  ×3"
    # three ReLUs in a row are alike: they still fold
    relus = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.ReLU(), nn.ReLU()))
    graph = traced(relus, torch.randn(2, 4)).graph
    shown = c.collapse_graph(graph, c.modules_at_depth(graph, 2), fold=True).graph
    assert [k for k in shown if c.is_fold(k)] == [c.fold_key("1", 1, 3)]
