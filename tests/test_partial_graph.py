"""Partial graph on a forward crash: the graph up to the last op that worked, the failed op marked
with its line and the message; in the API, `gradviz open-model` and the loader's error."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from gradviz.cli import main
from gradviz.core.user_model_loader import ModelLoadError
from gradviz.core.partial_graph import FAILED_KEY, trace_until_crash
from gradviz.core.user_model import UserModelRequest, open_user_model

HERE = Path(__file__).resolve()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def line_of(marker: str, path: Path = HERE) -> int:
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if marker in text and "line_of(" not in text:
            return number
    raise AssertionError(marker)


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return torch.relu(self.fc(x)) + x


class DeepMismatch(nn.Module):
    """Residual blocks, then a head that expects the wrong width: the crash is deep inside."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Block(6), Block(6))
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        h = self.blocks(x)
        skip = h * 2  # a branch kept for later: still in the partial graph
        return self.head(h) + skip  # @crash


def test_graph_up_to_the_failing_op_with_its_line_and_message():
    model = DeepMismatch()
    crash = trace_until_crash(model, torch.randn(3, 6))
    assert crash is not None
    graph = crash.graph
    failed = graph.nodes[FAILED_KEY]
    assert failed["failed"] is True and crash.op == "linear"
    assert "mat1 and mat2 shapes cannot be multiplied (3x6 and 5x2)" in failed["error"]
    assert failed["source"]["line"] == line_of("@crash") and crash.source.function == "forward"
    assert crash.input_shapes == [(3, 6), (2, 5), (2,)]
    assert "linear((3, 6), (2, 5), (2,)) failed at test_partial_graph.py" in crash.describe()
    # everything the two blocks did is there, with modules; the head's params feed the failed op
    labels = sorted(a["label"] for _, a in graph.nodes(data=True) if a.get("kind") == "op" and not a.get("failed"))
    assert labels == sorted(["AddmmBackward0", "TBackward0", "ReluBackward0", "AddBackward0"] * 2 + ["MulBackward0"])
    modules = {a.get("module") for _, a in graph.nodes(data=True) if a.get("label") == "AddmmBackward0"}
    assert modules == {"blocks.0.fc", "blocks.1.fc"}
    params = {a["name"] for _, a in graph.nodes(data=True) if a.get("kind") == "param"}
    assert params == {"blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.fc.weight", "blocks.1.fc.bias",
                      "head.weight", "head.bias"}
    into_failed = {graph.nodes[u].get("name") or graph.nodes[u]["label"] for u in graph.predecessors(FAILED_KEY)}
    assert into_failed == {"AddBackward0", "head.weight", "head.bias"}
    assert graph.graph["roots"] == [FAILED_KEY] and "fn" not in graph.graph
    assert not any(a.get("kind") == "output" for _, a in graph.nodes(data=True))


def test_a_forward_that_runs_gives_none_and_state_is_kept():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    stats = model[1].running_mean.clone()
    assert trace_until_crash(model, torch.randn(4, 3)) is None
    assert torch.equal(model[1].running_mean, stats)


def test_error_in_plain_python_marks_the_users_line():
    class Asserts(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x):
            h = self.fc(x)
            raise ValueError("bad width")  # @python-raise

    crash = trace_until_crash(Asserts(), torch.randn(1, 2))
    assert crash.op is None and crash.message == "ValueError: bad width"
    assert crash.source.line == line_of("@python-raise")
    assert "AddmmBackward0" in {a["label"] for _, a in crash.graph.nodes(data=True)}


MODEL_FILE = '''
import torch, torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.fc(h.flatten(1))  # wrong in_features
'''


def test_opened_model_error_carries_the_partial_graph_and_the_cli_exports_it(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(MODEL_FILE)
    with pytest.raises(ModelLoadError) as info:
        open_user_model(UserModelRequest(path=path, input_shapes="2, 1, 6, 6"))
    crash = info.value.crash
    assert crash is not None and crash.source.line == 12 and crash.source.file == str(path)
    assert {"ConvolutionBackward0", "ReluBackward0"} <= {a["label"] for _, a in crash.graph.nodes(data=True)}

    out_file = tmp_path / "partial.json"
    code = main(["open-model", str(path), "--inputs", "2, 1, 6, 6", "--export-graph", str(out_file)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    first, *rest = err.splitlines()
    assert first.startswith("gradviz: error: Net.forward failed") and "mat1 and mat2" in first
    assert any(line.startswith("failed op: linear((2, 64), (2, 10), (2,)) failed at net.py:12") for line in rest)
    assert any(str(out_file) in line for line in rest)
    nodes = {n["id"]: n for n in json.loads(out_file.read_text())["nodes"]}
    assert nodes[FAILED_KEY]["failed"] is True and "mat1 and mat2" in nodes[FAILED_KEY]["error"]
    assert nodes[FAILED_KEY]["source"]["line"] == 12


def test_hand_built_resnet_with_in_place_ops_crashing_at_its_head():
    import importlib.util

    path = HERE.parents[1] / "examples" / "small_resnet.py"
    spec = importlib.util.spec_from_file_location("small_resnet_for_crash", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = module.SmallResNet(num_classes=4, width=8)
    model.fc = nn.Linear(5, 4)  # expects 5 features, gets 16
    crash = trace_until_crash(model, torch.randn(2, 3, 16, 16))
    graph = crash.graph
    head = line_of("return self.fc(torch.flatten(self.pool(x), 1))", path)
    assert crash.op == "linear" and crash.source.line == head and crash.source.file == str(path)
    ops = [a for _, a in graph.nodes(data=True) if a.get("kind") == "op" and not a.get("failed")]
    # stem, 2 + 2 blocks of two convs, one 1×1 shortcut: every conv ran before the head failed
    assert sum(a["label"] == "ConvolutionBackward0" for a in ops) == 10
    assert any(a["label"] == "ReluBackward0" and a.get("module") == "layer1.0.relu" for a in ops)
    # ops inside the blocks point at the block's forward lines
    block_lines = {a["source"]["line"] for a in ops if a.get("module", "").startswith("layer1.0")}
    assert line_of("out = self.relu(self.bn1(self.conv1(x)))", path) in block_lines
    into_failed = {graph.nodes[u].get("name") or graph.nodes[u]["label"] for u in graph.predecessors(FAILED_KEY)}
    assert into_failed == {"ViewBackward0", "fc.weight", "fc.bias"}
