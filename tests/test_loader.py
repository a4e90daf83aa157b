"""Opening users' models: Python files, torch.export programs, TorchScript, safe weights, clear errors."""
from pathlib import Path

import pytest
import torch

import gradviz
from gradviz.core.user_model_loader import (
    ModelLoadError, load_user_model, make_example_inputs, parse_call_arguments, parse_shapes,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    "file, cls, input_shape",
    [("small_resnet.py", "SmallResNet", (2, 3, 32, 32)), ("transformer_block.py", "TinyTransformer", (2, 16)),
     ("lstm_tagger.py", "LSTMTagger", (2, 12))],
)
def test_examples_open_with_their_example_inputs(file, cls, input_shape):
    loaded = load_user_model(EXAMPLES / file)
    assert loaded.name == cls and loaded.kind == "python"
    assert tuple(loaded.example_inputs[0].shape) == input_shape
    assert isinstance(loaded.module, torch.nn.Module)


def test_constructor_arguments_from_text():
    loaded = load_user_model(EXAMPLES / "transformer_block.py", name="TinyTransformer", args="n_layers=3, d_model=16")
    assert len(loaded.module.blocks) == 3
    assert loaded.module.embed.weight.shape == (100, 16)


def write(tmp_path, text, name="model.py"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_import_error_shows_users_own_lines(tmp_path):
    path = write(tmp_path, "import torch\nimport not_a_real_package_xyz\n")
    with pytest.raises(ModelLoadError) as info:
        load_user_model(path)
    assert "not_a_real_package_xyz" in str(info.value)
    assert str(path) in info.value.user_traceback and "line 2" in info.value.user_traceback
    assert "gradviz" not in info.value.user_traceback.replace(str(path), "")


def test_syntax_error_is_reported(tmp_path):
    path = write(tmp_path, "def broken(:\n    pass\n")
    with pytest.raises(ModelLoadError, match="SyntaxError"):
        load_user_model(path)


def test_missing_class_lists_what_exists(tmp_path):
    path = write(tmp_path, "import torch.nn as nn\nclass A(nn.Module):\n    pass\n")
    with pytest.raises(ModelLoadError, match=r"no class or function named 'B' \(found: A\)"):
        load_user_model(path, name="B")


def test_wrong_input_shape_names_forward_and_user_line(tmp_path):
    path = write(tmp_path, (
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    ))
    with pytest.raises(ModelLoadError) as info:
        load_user_model(path, input_shapes="1, 5")
    assert "Net.forward failed on inputs of shape (1, 5)" in str(info.value)
    assert "line 7" in info.value.user_traceback
    assert load_user_model(path, input_shapes="3, 4").example_inputs[0].shape == (3, 4)


def test_factory_function_and_non_module_result(tmp_path):
    path = write(tmp_path, "import torch.nn as nn\ndef make(width):\n    return nn.Linear(width, 1)\ndef nothing():\n    return 3\n")
    assert load_user_model(path, name="make", args="7", input_shapes="2, 7").module.in_features == 7
    with pytest.raises(ModelLoadError, match="not a torch.nn.Module"):
        load_user_model(path, name="nothing")


def test_weights_load_safely_and_mismatch_is_clear(tmp_path):
    loaded = load_user_model(EXAMPLES / "lstm_tagger.py")
    weights = tmp_path / "w.pt"
    torch.save(loaded.module.state_dict(), weights)
    again = load_user_model(EXAMPLES / "lstm_tagger.py", weights=weights)
    assert torch.equal(again.module.tagger.weight, loaded.module.tagger.weight)
    assert any("weights loaded" in note for note in again.notes)
    with pytest.raises(ModelLoadError, match="does not (fit|match)"):
        load_user_model(EXAMPLES / "lstm_tagger.py", args="hidden=8", weights=weights)


def test_weights_that_need_pickle_code_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(ModelLoadError, match="weights_only"):
        load_user_model(EXAMPLES / "lstm_tagger.py", weights=path)


def test_torch_export_program(tmp_path):
    loaded = load_user_model(EXAMPLES / "small_resnet.py")
    program = torch.export.export(loaded.module.eval(), loaded.example_inputs)
    path = tmp_path / "resnet.pt2"
    torch.export.save(program, path)
    opened = load_user_model(path, inputs=loaded.example_inputs)
    assert opened.kind == "export"
    opened.module(*loaded.example_inputs).sum().backward()
    assert all(p.grad is not None for p in opened.module.parameters())


def test_torchscript_file(tmp_path):
    loaded = load_user_model(EXAMPLES / "small_resnet.py")
    path = tmp_path / "resnet.ts"
    torch.jit.script(loaded.module).save(str(path))
    opened = load_user_model(path, input_shapes="2, 3, 32, 32")
    assert opened.kind == "torchscript"
    graph = gradviz.autograd_graph(opened.module(*opened.example_inputs).sum(), opened.module)
    assert sum(1 for _, d in graph.nodes(data=True) if d["kind"] == "param") == len(list(opened.module.parameters()))


@pytest.mark.parametrize("name, match", [("nope.py", "no such file"), ("model.onnx", "unknown model file type")])
def test_bad_paths(tmp_path, name, match):
    path = tmp_path / name
    if name.endswith(".onnx"):
        path.write_bytes(b"\x00")
    with pytest.raises(ModelLoadError, match=match):
        load_user_model(path)


def test_corrupt_export_and_script_files(tmp_path):
    for suffix in (".pt2", ".ts"):
        path = write(tmp_path, "garbage", "bad" + suffix)
        with pytest.raises(ModelLoadError, match="not a readable"):
            load_user_model(path)


def test_parsers():
    assert parse_call_arguments("64, n_heads=4") == ((64,), {"n_heads": 4})
    assert parse_call_arguments("") == ((), {})
    with pytest.raises(ModelLoadError):
        parse_call_arguments("os.system('x')")
    assert parse_shapes("1, 3, 32, 32; 1, 10") == [(1, 3, 32, 32), (1, 10)]
    with pytest.raises(ModelLoadError, match="integers"):
        parse_shapes("a, b")
    with pytest.raises(ModelLoadError, match="positive"):
        parse_shapes("0, 3")
    tokens, = make_example_inputs("2, 5", "int64")
    assert tokens.dtype == torch.int64 and tokens.shape == (2, 5)
    a, b = make_example_inputs(expression="(torch.zeros(1, 2), torch.ones(3))")
    assert a.shape == (1, 2) and b.shape == (3,)
    with pytest.raises(ModelLoadError, match="expression"):
        make_example_inputs(expression="1 / 0")
    with pytest.raises(ModelLoadError, match="dtype"):
        make_example_inputs("1, 2", "complex999")


@pytest.mark.parametrize("where, expected", [
    ("init", "Net(...) failed: SystemExit: 3"),
    ("hook", "example_inputs() failed: SystemExit: 3"),
    ("forward", "Net.forward failed on inputs of shape (2, 4): SystemExit: 3"),
    ("base", "Net.forward failed on inputs of shape (2, 4): Weird: odd"),
])
def test_the_users_sys_exit_is_an_error_not_the_end_of_gradviz(tmp_path, where, expected):
    """Caught as Exception only, sys.exit() in a model's __init__, example_inputs() or
    forward (or a BaseException subclass) ended `gradviz open-model` with the model's
    status (0: as if all went well) and no word."""
    raising = "sys.exit(3)" if where != "base" else "raise Weird('odd')"
    path = write(tmp_path, (
        "import sys, torch, torch.nn as nn\n"
        "class Weird(BaseException): pass\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n"
        f"        {raising if where == 'init' else 'pass'}\n"
        "    def forward(self, x):\n"
        f"        {raising if where in ('forward', 'base') else 'pass'}\n"
        "        return self.fc(x)\n"
        "def example_inputs():\n"
        f"    {raising if where == 'hook' else 'pass'}\n"
        "    return torch.randn(2, 4)\n"
    ))
    with pytest.raises(ModelLoadError) as info:
        load_user_model(path)
    assert expected in str(info.value)
    from gradviz.cli import main

    assert main(["open-model", str(path), "--steps", "0"]) == 2


def test_sys_exit_during_training_is_a_training_error(tmp_path):
    from gradviz.core.records import TrainingError

    class Quits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 1:  # the session's first look at the model goes through
                raise SystemExit(0)
            return self.fc(x)

    session = gradviz.TrainingSession(Quits(), inputs=torch.randn(2, 4))
    with pytest.raises(TrainingError, match=r"forward: the model called sys.exit\(0\)"):
        session.run_iteration()


def test_an_empty_or_pickled_weights_file_is_one_clear_refusal(tmp_path):
    """An empty file's error has no text: the message took its first line (IndexError).
    A pickled file got torch's warning about the pickle protocol printed before the refusal."""
    import pickle
    import warnings

    from gradviz.core.user_model_loader import load_weights

    model = torch.nn.Linear(2, 2)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"weights file empty.pth cannot be read safely .*EOFError"):
        load_weights(model, empty)
    pickled = tmp_path / "evil.pth"
    pickled.write_bytes(pickle.dumps({"weight": ModelLoadError("not a tensor")}, protocol=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModelLoadError, match="cannot be read safely"):
            load_weights(model, pickled)
