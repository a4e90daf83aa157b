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
