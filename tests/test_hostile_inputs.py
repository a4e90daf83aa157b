"""Hostile, huge and malformed inputs (issue 14): each gives a typed gradviz error naming what to fix,
or exit 2 and one stderr line from the CLI; saves name the user's file and keep links and nothing else."""
import json
import math
import os
import struct
import zlib

import pytest

from gradviz import LayerSpec, NetworkSpec, ProjectError, SpecError, build_model, load_project, presets, save_project
from gradviz.cli import main
from gradviz.core import edits
from gradviz.core.codegen import to_python
from gradviz.core.data import DataError, FolderData
from gradviz.core.memory import MemoryLimitError, check_fits, estimate_memory, format_bytes
from gradviz.core.names import RESERVED_LAYER_NAMES, layer_name_problem
from gradviz.core.project import remove_stale_temp_files
from gradviz.core.session import TrainingError, TrainingSession
from gradviz.core.layers import validate_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _project_text(spec: NetworkSpec) -> str:
    return json.dumps({"format": "gradviz-project", "version": 1, "spec": spec.to_dict(), "extra": {}})


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _mlp(*layers, shape=(2, 8)):
    return NetworkSpec(list(layers), shape)


# -- 3: NaN and infinity ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, field", [("LeakyReLU", "negative_slope"), ("Dropout", "p"), ("BatchNorm1d", "eps")])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_parameters_are_refused_at_edit_naming_layer_and_field(kind, field, value):
    layer = LayerSpec(kind, "act", {"num_features": 8} if kind == "BatchNorm1d" else {})
    spec = edits.set_param(_mlp(layer), (0,), field, value)
    with pytest.raises(SpecError, match="finite") as caught:
        validate_network(spec)
    assert caught.value.layer_name == "act" and caught.value.field == field


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_a_project_file_are_refused_at_load(tmp_path, literal):
    path = tmp_path / "nan.gvz.json"
    text = _project_text(_mlp(LayerSpec("LeakyReLU", "act", {"negative_slope": 0.5})))
    path.write_text(text.replace("0.5", literal))
    with pytest.raises(ProjectError, match="finite") as caught:
        load_project(path)
    assert str(path) in str(caught.value)


def test_a_spec_holding_nan_names_the_layer_when_saving(tmp_path):
    spec = _mlp(LayerSpec("LeakyReLU", "act", {"negative_slope": math.nan}))
    with pytest.raises(ProjectError, match="'act' has negative_slope = nan"):
        save_project(tmp_path / "x.gvz.json", spec)


# -- 4: numbers and nesting json cannot read -----------------------------------------------------------

def test_a_5000_digit_integer_is_a_project_error_and_cli_exit_2(tmp_path, capsys):
    path = tmp_path / "big.gvz.json"
    path.write_text(_project_text(_mlp(LayerSpec("Linear", "fc", {"in_features": 8, "out_features": 2}))).replace(
        '"out_features": 2', '"out_features": ' + "9" * 5000))
    with pytest.raises(ProjectError, match="cannot be read"):
        load_project(path)
    code, _, err = _cli(capsys, "info", "--project", path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(path) in err


def test_deeply_nested_json_is_a_project_error(tmp_path):
    path = tmp_path / "deep.gvz.json"
    path.write_text('{"format": "gradviz-project", "version": 1, "extra": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(ProjectError, match="nested too deeply"):
        load_project(path)


def test_spec_from_json_refuses_huge_integers_and_nesting():
    with pytest.raises(SpecError):
        NetworkSpec.from_json('{"input_shape": [' + "1" * 5000 + "], \"layers\": []}")
    with pytest.raises(SpecError):
        NetworkSpec.from_json("[" * 200_000 + "]" * 200_000)


# -- 5 and 6: names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["parameters", "to", "cuda", "train", "_steps", "state_dict", "zero_grad", "type",
                                  "_parameters", "layers", "spec", "forward"])
def test_names_torch_modules_use_are_refused(name):
    spec = _mlp(LayerSpec("Linear", name, {"in_features": 8, "out_features": 2}))
    with pytest.raises(SpecError) as caught:
        validate_network(spec)
    assert caught.value.field == "name" and caught.value.layer_name == name
    with pytest.raises(SpecError):
        edits.rename_layer(_mlp(LayerSpec("Linear", "fc", {"in_features": 8, "out_features": 2})), (0,), name)


def test_every_nn_module_attribute_is_reserved():
    import torch.nn as nn

    from gradviz.core.build import Net, Residual

    model = build_model(presets.load("lenet"))
    for name in set(dir(nn.Module)) | set(vars(nn.Module())) | set(dir(Net)) | set(dir(Residual)) | set(vars(model)):
        assert layer_name_problem(name), name
    assert not layer_name_problem("conv1") and not layer_name_problem("match")
    assert "parameters" in RESERVED_LAYER_NAMES


@pytest.mark.parametrize("name", ["class", "None", "lambda", "def", "True", "import"])
def test_python_keywords_are_refused_as_layer_and_network_names(name):
    with pytest.raises(SpecError, match="keyword"):
        validate_network(_mlp(LayerSpec("Linear", name, {"in_features": 8, "out_features": 2})))
    with pytest.raises(SpecError, match="keyword"):
        validate_network(NetworkSpec([], (1, 8), name=name))
    with pytest.raises(SpecError):
        NetworkSpec.from_dict({"name": name, "input_shape": [1, 8], "layers": []})


@pytest.mark.parametrize("name", ["torch", "nn", "F", "super", "print"])
def test_network_names_that_hide_what_the_exported_code_uses_are_refused(name):
    with pytest.raises(SpecError, match="exported Python"):
        validate_network(NetworkSpec([], (1, 8), name=name))


def test_residual_blocks_whose_names_give_the_same_class_name_export_both():
    inner = {"in_features": 8, "out_features": 8}
    spec = _mlp(LayerSpec("Residual", "a_b", layers=[LayerSpec("Linear", "fc1", inner)]),
                LayerSpec("Residual", "aB", layers=[LayerSpec("Linear", "fc2", inner), LayerSpec("ReLU", "relu1")]))
    namespace: dict = {}
    exec(compile(to_python(spec), "<to_python>", "exec"), namespace)
    exported = namespace["Net"]()
    assert sorted(n for n, _ in exported.named_parameters()) == sorted(n for n, _ in build_model(spec).named_parameters())


# -- 7: tuple lengths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, field, value, shape", [
    ("Conv2d", "kernel_size", (3, 3, 3), (1, 1, 8, 8)),
    ("Conv2d", "stride", (1,), (1, 1, 8, 8)),
    ("Conv1d", "padding", (1, 1), (1, 1, 8)),
    ("MaxPool2d", "kernel_size", (2, 2, 2), (1, 1, 8, 8)),
    ("AdaptiveAvgPool2d", "output_size", (1, 1, 1), (1, 1, 8, 8)),
])
def test_tuples_must_have_one_entry_per_spatial_dimension(kind, field, value, shape):
    params = {"in_channels": 1, "out_channels": 2} if kind.startswith("Conv") else {}
    spec = NetworkSpec([LayerSpec(kind, "layer", {**params, field: value})], shape)
    with pytest.raises(SpecError, match="spatial dimension") as caught:
        validate_network(spec)
    assert caught.value.layer_name == "layer" and caught.value.field == field


def test_right_length_tuples_still_work():
    spec = NetworkSpec([LayerSpec("Conv2d", "conv", {"in_channels": 1, "out_channels": 2, "kernel_size": (3, 2)})], (1, 1, 8, 8))
    build_model(spec)


# -- 8: images ---------------------------------------------------------------------------------------------

def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _folder_with(tmp_path, name: str, data: bytes):
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        Image.new("L", (8, 8), 128).save(tmp_path / label / "ok.png")
    (tmp_path / "a" / name).write_bytes(data)
    return FolderData(tmp_path)


def _session(data):
    spec = NetworkSpec([LayerSpec("Flatten", "flat"), LayerSpec("Linear", "fc", {"in_features": 64, "out_features": 2})], (2, 1, 8, 8))
    return TrainingSession(spec, data=data, loss="cross_entropy")


@pytest.mark.parametrize("name, data, reason", [
    ("bomb.png", _png_header(20_000, 20_000), "too large"),
    ("truncated.png", _png_header(8, 8)[:40], "cannot read image"),
    ("text.png", b"this is not an image", "cannot read image"),
    ("postscript.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n", "cannot read image"),
    ("gif.png", b"GIF89a\x08\x00\x08\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x00\x00\x00\x00\x00,"
                b"\x00\x00\x00\x00\x08\x00\x08\x00\x00\x02\x07\x84\x8f\xa9\xcb\xed\x0f\x00;", "cannot read image"),
], ids=["bomb", "truncated", "not_an_image", "eps_in_disguise", "gif_in_disguise"])
def test_bad_images_are_data_errors_naming_the_file(tmp_path, name, data, reason):
    session = _session(_folder_with(tmp_path, name, data))
    with pytest.raises(TrainingError, match=reason) as caught:
        session.run_iteration()
    assert isinstance(caught.value.__cause__, DataError) and name in str(caught.value)


# -- 9: preview_graph --------------------------------------------------------------------------------------

def test_a_batch_that_cannot_be_made_is_a_training_error_from_preview_graph():
    from gradviz.core.data import RandomData

    class Failing(RandomData):
        def batch(self, input_shape, output_shape, target):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't allocate memory")

    session = TrainingSession(presets.load("lenet"), data=Failing())
    with pytest.raises(TrainingError, match="can't allocate memory"):
        session.preview_graph()


# -- 10: memory ---------------------------------------------------------------------------------------------

def test_a_network_far_too_big_is_refused_before_allocating_naming_the_largest_layer(capsys):
    spec = _mlp(LayerSpec("Linear", "small", {"in_features": 8, "out_features": 8}),
                LayerSpec("Linear", "huge", {"in_features": 8, "out_features": 10_000_000}),
                LayerSpec("Linear", "giant", {"in_features": 10_000_000, "out_features": 10_000_000}))
    with pytest.raises(MemoryLimitError, match="'giant' \\(Linear") as caught:
        build_model(spec)
    assert caught.value.layer_name == "giant" and caught.value.estimate.total_bytes > 8 * 10**14
    with pytest.raises(MemoryLimitError):
        TrainingSession(spec)


def test_the_estimate_counts_weights_gradients_and_activations():
    spec = presets.load("lenet")
    estimate = estimate_memory(spec)
    assert estimate.parameter_bytes == 2 * 4 * 61_706  # LeNet's 61,706 parameters and their gradients
    assert estimate.input_bytes == 4 * 32 * 32
    assert estimate.largest.name == "fc1"  # 400·120 + 120 weights and their gradients
    assert check_fits(spec, available=10**9) == estimate
    with pytest.raises(MemoryLimitError, match="only 1.0 kB free"):
        check_fits(spec, available=1000)
    assert format_bytes(1500) == "1.5 kB" and format_bytes(12) == "12 B"


def test_cli_export_of_a_network_too_big_is_exit_2(tmp_path, capsys):
    spec = _mlp(LayerSpec("Linear", "giant", {"in_features": 8, "out_features": 10_000_000}),
                LayerSpec("Linear", "giant2", {"in_features": 10_000_000, "out_features": 10_000_000}))
    path = tmp_path / "big.gvz.json"
    save_project(path, spec)
    code, _, err = _cli(capsys, "export", "--project", path, "-o", tmp_path / "g.dot")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "giant2" in err


# -- saving and loading ---------------------------------------------------------------------------------------

def test_a_project_with_a_byte_order_mark_loads(tmp_path, lenet_spec):
    path = tmp_path / "bom.gvz.json"
    path.write_bytes(b"\xef\xbb\xbf" + _project_text(lenet_spec).encode("utf-8"))
    assert load_project(path).spec == lenet_spec


def test_a_failed_save_names_the_users_file_not_the_temporary_one(tmp_path, lenet_spec):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable")
        with pytest.raises(OSError) as caught:
            save_project(folder / "net.gvz.json", lenet_spec)
    finally:
        folder.chmod(0o700)
    assert str(folder / "net.gvz.json") in str(caught.value) and ".tmp" not in str(caught.value)


def test_a_failed_disk_operation_names_the_users_file(tmp_path, lenet_spec, monkeypatch):
    import gradviz.core.project as project

    def refuse(name, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(name))

    monkeypatch.setattr(project.os, "replace", refuse)
    with pytest.raises(PermissionError) as caught:
        save_project(tmp_path / "net.gvz.json", lenet_spec)
    assert str(caught.value) == f"[Errno 13] Permission denied: '{tmp_path / 'net.gvz.json'}'"
    assert list(tmp_path.iterdir()) == []  # and no temporary file is left


def test_saving_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path, lenet_spec):
    real = tmp_path / "real" / "net.gvz.json"
    real.parent.mkdir()
    save_project(real, presets.load("mlp"))
    link = tmp_path / "link.gvz.json"
    link.symlink_to(real)
    save_project(link, lenet_spec)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert load_project(real).spec == lenet_spec
    assert sorted(p.name for p in real.parent.iterdir()) == ["net.gvz.json"]


def test_temporary_files_left_by_a_killed_save_are_removed(tmp_path, lenet_spec):
    path = tmp_path / "net.gvz.json"
    save_project(path, lenet_spec)
    stale = tmp_path / ".net.gvz.json.0123abcd.tmp"
    fresh = tmp_path / ".net.gvz.json.89abcdef.tmp"  # a save running right now in another gradviz
    other = tmp_path / ".notes.txt.0123abcd.tmp"
    unrelated = tmp_path / "keep.tmp"
    for file in (stale, fresh, other, unrelated):
        file.write_text("{")
    old = os.stat(path).st_mtime - 3600
    for file in (stale, other, unrelated):
        os.utime(file, (old, old))
    load_project(path)  # opening a project tidies its own leftovers
    assert not stale.exists() and fresh.exists() and other.exists() and unrelated.exists()
    assert remove_stale_temp_files(tmp_path) == [other]  # the startup sweep of a folder: any of ours
    assert fresh.exists() and unrelated.exists()


def test_cli_errors_stay_one_line_whatever_the_argument_holds(tmp_path, capsys):
    code, _, err = _cli(capsys, "info", "--project", tmp_path / "two\nlines\x85.gvz.json")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "two\\nlines\\x85" in err


@pytest.mark.parametrize("argv, says", [
    (["export", "--preset", "lenet", "-o", "{tmp}/g.dot", "--seed", "9" * 30], "out of range"),
    (["open-model", "{tmp}/m.py", "--inputs", "4, 3", "--seed", "9" * 30], "out of range"),
    (["open-model", "{tmp}/m.py", "--inputs", "99999999999, 99999999"], "needs 40000.0 PB"),
    (["open-model", "{tmp}/m.py", "--input-expr", "exit()"], "SystemExit"),
])
def test_cli_siblings_seed_huge_inputs_and_exit_are_exit_2(tmp_path, capsys, argv, says):
    (tmp_path / "m.py").write_text("import torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n"
                                   "        super().__init__()\n        self.fc = torch.nn.Linear(3, 2)\n"
                                   "    def forward(self, x):\n        return self.fc(x)\n")
    code, _, err = _cli(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err


def test_a_seed_torch_cannot_take_is_a_model_load_error(tmp_path):
    from gradviz.core.user_model_loader import ModelLoadError
    from gradviz.core.user_model import UserModelRequest, open_user_model

    (tmp_path / "m.py").write_text("import torch\ndef net():\n    return torch.nn.Linear(3, 2)\n")
    with pytest.raises(ModelLoadError, match="below 2\\*\\*64"):
        open_user_model(UserModelRequest(path=tmp_path / "m.py", name="net", input_shapes="4, 3", seed=2**70))
