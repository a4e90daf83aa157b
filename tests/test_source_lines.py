"""Node → source line: every op node made by user code knows the file, line and function."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gradviz
from gradviz.core.graph import ForwardRecorder, autograd_graph
from gradviz.core.session import TrainingSession
from gradviz.core.source_lines import (
    SourceLine,
    SourceRecorder,
    add_source_lines,
    nodes_at,
    parse_location,
    source_of,
)
from gradviz.core.user_model import UserModelRequest, open_user_model
from gradviz.core.display.graph_search import find_matches

HERE = Path(__file__).resolve()
EXAMPLES = HERE.parents[1] / "examples"


def line_of(marker: str, path: Path = HERE) -> int:
    """The number of the line holding ``marker`` (a comment tag in the code)."""
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if marker in text and "line_of(" not in text:
            return number
    raise AssertionError(f"{marker} not in {path}")


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class TwoCalls(nn.Module):
    """A module called twice, tied weights, a custom Function and two outputs."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Tanh()
        self.out = nn.Linear(4, 4, bias=False)
        self.out.weight = self.fc.weight  # tied

    def forward(self, x):
        h = self.act(self.fc(x))  # @fc-first
        h = self.act(self.fc(h))  # @fc-second
        s = Square.apply(h)  # @square
        return self.out(s), s.sum(dim=1)  # @outputs


def record(model, *inputs, loss_fn):
    with ForwardRecorder(model) as rec, SourceRecorder() as sources:
        loss = loss_fn(model(*inputs))  # @loss-line
    graph = autograd_graph(loss, model, module_of=rec.module_of)
    add_source_lines(graph, sources)
    return graph


def ops_by_line(graph) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for _, attrs in graph.nodes(data=True):
        line = source_of(attrs)
        if line is not None:
            found.setdefault(line.line, []).append(attrs["label"])
    return found


def test_each_op_names_the_line_that_made_it():
    model = TwoCalls()
    graph = record(model, torch.randn(3, 4), loss_fn=lambda out: out[0].sum() + out[1].sum())  # @lambda
    by_line = ops_by_line(graph)
    assert sorted(by_line[line_of("@fc-first")]) == ["AddmmBackward0", "TBackward0", "TanhBackward0"]
    assert sorted(by_line[line_of("@fc-second")]) == ["AddmmBackward0", "TBackward0", "TanhBackward0"]
    assert by_line[line_of("@square")] == ["SquareBackward"]
    assert "SumBackward1" in by_line[line_of("@outputs")]
    # the loss's ops: the lambda's line, where they were written (not where it was called)
    assert line_of("@loss-line") not in by_line
    assert sorted(by_line[line_of("@lambda")]) == ["AddBackward0", "SumBackward0", "SumBackward0"]
    # params and outputs have no source; every op has one
    for _, attrs in graph.nodes(data=True):
        assert ("source" in attrs) == (attrs["kind"] == "op"), attrs
    square = next(a for _, a in graph.nodes(data=True) if a["label"] == "SquareBackward")
    line = source_of(square)
    assert line.file == str(HERE) and line.function == "forward"
    assert line.code == "s = Square.apply(h)  # @square"
    assert str(line) == f"test_source_lines.py:{line_of('@square')} in forward: s = Square.apply(h)  # @square"


def test_order_of_recorders_does_not_matter():
    model = TwoCalls()
    x = torch.randn(3, 4)
    with SourceRecorder() as sources, ForwardRecorder(model) as rec:
        loss = model(x)[0].sum()
    graph = autograd_graph(loss, model, module_of=rec.module_of)
    add_source_lines(graph, sources)
    assert sorted(ops_by_line(graph)[line_of("@fc-first")]) == ["AddmmBackward0", "TBackward0", "TanhBackward0"]


def test_one_call_making_several_nodes_gives_them_all_its_line():
    x = torch.randn(4, 5, requires_grad=True)
    target = torch.tensor([0, 1, 2, 3])
    with SourceRecorder() as sources:
        loss = F.cross_entropy(x * 2, target)  # @cross-entropy
    graph = autograd_graph(loss)
    add_source_lines(graph, sources)
    assert sorted(ops_by_line(graph)[line_of("@cross-entropy")]) == [
        "LogSoftmaxBackward0", "MulBackward0", "NllLossBackward0",
    ]


def test_switched_off_records_nothing():
    model = TwoCalls()
    with SourceRecorder(enabled=False) as sources:
        loss = model(torch.randn(2, 4))[0].sum()
    graph = autograd_graph(loss, model)
    assert add_source_lines(graph, sources) == 0
    assert not any("source" in a for _, a in graph.nodes(data=True))


def test_ops_made_by_gradviz_itself_have_no_line():
    # a spec-built LeNet: forward is gradviz's, the loss too: no user line at all
    session = TrainingSession(gradviz.presets.load("lenet"))
    record = session.run_iteration()
    assert not any("source" in a for _, a in record.graph.nodes(data=True))


def test_session_records_source_when_switched_on_and_one_off_graphs_always_have_it():
    model = TwoCalls()
    session = TrainingSession(model, inputs=torch.randn(2, 4))
    assert session.source_lines is False  # off by default: it would take a record past its budget
    assert ops_by_line(session.run_iteration().graph) == {}
    assert line_of("@fc-second") in ops_by_line(session.preview_graph())  # F5's one-off graph: always
    session.source_lines = True  # what the app does while the node inspector is shown
    record = session.run_iteration()
    assert line_of("@square") in ops_by_line(record.graph)


def test_opened_transformer_points_at_the_attention_line_and_json_carries_it(tmp_path):
    path = EXAMPLES / "transformer_block.py"
    scores = line_of("scores = q @ k.transpose(-2, -1)", path)
    opened = open_user_model(UserModelRequest(path=path, name="TinyTransformer", input_expression="torch.randint(0, 100, (2, 8))",
                                          loss="cross_entropy"))
    graph = opened.graph
    at_line = nodes_at(graph, "transformer_block.py", scores)
    labels = sorted(graph.nodes[k]["label"] for k in at_line)
    # one block's attention scores per layer (2 layers): q @ kᵀ, then / √d
    assert labels.count("DivBackward0") == 2 and labels.count("TransposeBackward0") >= 2
    line = source_of(graph.nodes[at_line[0]])
    assert line.function == "forward" and line.code.startswith("scores = q @ k.transpose(-2, -1)")
    assert [n for n, _ in line.context(2, 2)] == list(range(scores - 2, scores + 3))
    # search by file:line, also with a path suffix; plain text search still works
    assert find_matches(graph, f"transformer_block.py:{scores}") == at_line
    assert find_matches(graph, f"examples/transformer_block.py:{scores}") == at_line
    assert find_matches(graph, "Softmax") and find_matches(graph, "nosuchfile.py:3") == []
    out = tmp_path / "g.json"
    gradviz.export_graph(graph, out)
    nodes = {n["id"]: n for n in json.loads(out.read_text())["nodes"]}
    assert nodes[at_line[0]]["source"]["line"] == scores
    assert nodes[at_line[0]]["source"]["file"].endswith("transformer_block.py")


@pytest.mark.parametrize(
    "text, expected",
    [("a.py:41", ("a.py", 41)), (" dir/a.py:7 ", ("dir/a.py", 7)), ("a.py", None), ("relu", None), (":4", None)],
)
def test_parse_location(text, expected):
    assert parse_location(text) == expected


def test_source_line_round_trips_through_a_dict():
    line = SourceLine("/x/y.py", 3, "f", "a = b")
    assert SourceLine.from_dict(line.as_dict()) == line
    assert source_of({"source": {"file": "y.py"}}) is None


def test_tooltip_and_details_show_the_line():
    from gradviz.ui.graph_view.details import node_html, source_link, tooltip_html

    model = TwoCalls()
    graph = record(model, torch.randn(3, 4), loss_fn=lambda out: out[0].sum())
    key = next(k for k, a in graph.nodes(data=True) if a.get("label") == "SquareBackward")
    square = line_of("@square")
    assert f"line: test_source_lines.py:{square} in forward" in tooltip_html(key, graph.nodes[key])
    html = node_html(graph, key)
    assert "Open in editor" in html and source_link(str(HERE), square) in html
    assert "s = Square.apply(h)" in html and "@fc-second" in html  # the line and the one before it


def test_code_torch_generates_is_not_the_users_line():
    traced = torch.fx.symbolic_trace(nn.Sequential(nn.Linear(3, 3), nn.Tanh()))  # generated forward code
    with SourceRecorder() as sources:
        loss = traced(torch.randn(2, 3)).sum()  # @fx-call
    graph = autograd_graph(loss)
    add_source_lines(graph, sources)
    assert set(ops_by_line(graph)) == {line_of("@fx-call")}


def test_bad_arguments_are_typed_errors():
    from gradviz.core.nan_origin import find_first_nonfinite
    from gradviz.core.partial_graph import trace_until_crash

    with pytest.raises(TypeError, match="needs a torch.nn.Module"):
        find_first_nonfinite(torch.randn(2), torch.randn(2))
    with pytest.raises(TypeError, match="needs a torch.nn.Module"):
        trace_until_crash(lambda x: x, torch.randn(2))


def test_the_benchmark_runs_and_counts_the_lines_it_captured():
    import sys

    root = str(HERE.parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench import source_lines as bench

    torch.set_num_threads(1)
    row = bench.measure("transformer 2x16", rounds=1, block=1)
    # every op has its line: the forward's and those of the benchmark's own loss function
    assert row["ops"] == row["ops_with_source"] == 110
    assert set(row) >= {"full", "full+source", "source/full", "forward+source", "forward+anomaly"}
    # nn.Sequential's forward is torch's code: only the benchmark's loss function (mul, mean) has lines
    assert bench.measure("mlp20 b2", rounds=1, block=1)["ops_with_source"] == 2


def test_a_loss_function_the_user_wrote_has_its_lines_in_a_step():
    def my_loss(output, target):
        return ((output - target) ** 2).mean()  # @my-loss

    session = TrainingSession(nn.Sequential(nn.Linear(4, 2)), inputs=torch.randn(3, 4), loss=my_loss)
    session.source_lines = True
    by_line = ops_by_line(session.run_iteration().graph)
    assert sorted(by_line) == [line_of("@my-loss")]
    assert sorted(by_line[line_of("@my-loss")]) == ["MeanBackward0", "PowBackward0", "SubBackward0"]
