"""`gradviz open-model`: open a model file headlessly, train N steps, summarise, export the graph;
errors are one line plus the user's own traceback lines, exit code 2."""
from pathlib import Path

import pytest

from gradviz.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_opens_an_example_trains_and_summarises(capsys):
    code, out, err = run(capsys, "open-model", EXAMPLES / "lstm_tagger.py", "--loss", "cross_entropy", "--steps", "3",
                         "--optimizer", "adam")
    assert code == 0, err
    assert "model       LSTMTagger from" in out and "(python)" in out
    assert "inputs      (2, 12) int64" in out  # from the file's example_inputs()
    assert "loss cross_entropy on output[0] (2, 12, 5)" in out
    losses = [float(line.split()[-1]) for line in out.splitlines() if line.startswith("step ")]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert "7 tensors: 7 trainable, 0 frozen, 0 without gradient" in out
    assert "graph       22 nodes" in out
    assert "flattened to (24, 5)" in out


def test_inputs_args_and_graph_export(capsys, tmp_path):
    target = tmp_path / "resnet.svg"
    code, out, err = run(capsys, "open-model", EXAMPLES / "small_resnet.py", "--name", "SmallResNet",
                         "--args", "num_classes=4, width=8", "--inputs", "2, 3, 16, 16", "--steps", "1",
                         "--export-graph", target)
    assert code == 0, err
    assert "inputs      (2, 3, 16, 16) float32" in out and "output      tensor (2, 4)" in out
    assert target.read_text().startswith("<?xml") or "<svg" in target.read_text()[:300]
    assert f"wrote       {target}" in out


def test_frozen_and_unused_parameters_are_listed(capsys, tmp_path):
    path = tmp_path / "partly_frozen.py"
    path.write_text(
        "import torch, torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.body = nn.Linear(3, 3).requires_grad_(False)\n"
        "        self.head = nn.Linear(3, 1)\n"
        "        self.spare = nn.Linear(3, 1)\n"
        "    def forward(self, x, y):\n"
        "        return self.head(self.body(x) + y)\n"
    )
    code, out, err = run(capsys, "open-model", path, "--inputs", "4, 3; 4, 3", "--steps", "2")
    assert code == 0, err
    assert "6 tensors: 2 trainable, 2 frozen, 2 without gradient" in out
    assert "frozen:       body.weight, body.bias" in out
    assert "no gradient:  spare.weight, spare.bias" in out


def test_steps_zero_shows_the_graph_of_one_forward_and_loss(capsys):
    code, out, err = run(capsys, "open-model", EXAMPLES / "transformer_block.py", "--input-expr",
                         "torch.randint(0, 100, (1, 8))", "--loss", "cross_entropy", "--steps", "0")
    assert code == 0, err
    assert "step " not in out and "(one forward pass and the loss)" in out
    assert "inputs      (1, 8) int64" in out


def _assert_error(code, err, *fragments):
    assert code == 2
    first, *rest = err.splitlines()
    assert first.startswith("gradviz: error: ")
    for fragment in fragments:
        assert fragment in err
    return rest


def test_wrong_input_shape_is_one_line_plus_the_users_lines(capsys):
    code, out, err = run(capsys, "open-model", EXAMPLES / "small_resnet.py", "--inputs", "2, 3, 32")
    rest = _assert_error(code, err, "SmallResNet.forward failed on inputs of shape (2, 3, 32)")
    assert rest and rest[0] == "Traceback (your code):"
    assert any("small_resnet.py" in line and "in forward" in line for line in rest)
    assert not any("gradviz/core" in line for line in rest)  # gradviz's own frames are left out
    assert out == ""


def test_bad_files_and_arguments(capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nraise RuntimeError('boom at import')\n")
    code, _, err = run(capsys, "open-model", broken)
    rest = _assert_error(code, err, "broken.py failed while running: RuntimeError: boom at import")
    assert any("line 2" in line for line in rest)

    code, _, err = run(capsys, "open-model", EXAMPLES / "small_resnet.py", "--name", "ResNet50")
    assert _assert_error(code, err, "has no class or function named 'ResNet50' (found: BasicBlock, SmallResNet)") == []

    code, _, err = run(capsys, "open-model", tmp_path / "missing.py")
    _assert_error(code, err, "missing.py: no such file")

    code, _, err = run(capsys, "open-model", EXAMPLES / "small_resnet.py", "--loss", "hinge")
    _assert_error(code, err, "invalid choice: 'hinge'")

    code, _, err = run(capsys, "open-model", EXAMPLES / "small_resnet.py", "--inputs", "1,3,32,32", "--input-expr", "x")
    _assert_error(code, err, "not allowed with argument")

    code, _, err = run(capsys, "open-model", EXAMPLES / "small_resnet.py", "--export-graph", tmp_path / "g.xyz")
    _assert_error(code, err, "g.xyz")


def test_the_nan_origin_is_where_nan_first_appeared_not_where_it_got_to(capsys, tmp_path):
    """NaN from log of a negative value on step 1: the summary searched again after the
    step, on weights the NaN had reached by then, and blamed fc.weight ("an earlier
    optimizer step made it so"). It is the search made when NaN first appeared."""
    path = tmp_path / "nan_forward.py"
    path.write_text(
        "import torch, torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.fc = nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        return torch.log(self.fc(x) - 100)\n"
        "def example_inputs():\n"
        "    return torch.randn(2, 4)\n")
    assert main(["open-model", str(path), "--steps", "1"]) == 0
    origin = [line for line in capsys.readouterr().out.splitlines() if line.startswith("nan origin")]
    assert origin and origin[0].startswith("nan origin  forward: log at nan_forward.py:6"), origin
    assert not any("fc.weight" in line for line in origin)


def test_collapse_without_an_export_is_said_not_ignored(capsys):
    """--collapse shapes only the exported graph: given alone it was accepted and did nothing."""
    assert main(["open-model", str(EXAMPLES / "small_resnet.py"), "--steps", "0", "--collapse", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--collapse shapes the exported graph: add --export-graph" in err[0]


@pytest.mark.parametrize("inputs", [[], ["--input-expr", "torch.randn(2, 3, 32, 32)"]], ids=["example_inputs", "input_expr"])
def test_a_dtype_without_input_shapes_is_said_not_ignored(capsys, inputs):
    """--dtype is the dtype of --inputs shapes: with the file's example_inputs() (or an
    expression) giving the inputs, "--dtype float16" and even "--dtype banana" were accepted
    and did nothing; the float32 inputs were used."""
    for dtype in ("float16", "banana"):
        assert main(["open-model", str(EXAMPLES / "small_resnet.py"), "--steps", "0", "--dtype", dtype, *inputs]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--dtype is the dtype of --inputs shapes" in err[0], err
    # with shapes it is what it says
    assert main(["open-model", str(EXAMPLES / "lstm_tagger.py"), "--steps", "0", "--inputs", "2,12", "--dtype", "int64"]) == 0
    assert "(2, 12) int64" in capsys.readouterr().out

