"""Model files that would run code when opened: crafted .pt2 archives are refused before torch reads
them (ModelLoadError / CLI exit 2 naming the file and why), and their payload never runs."""
import io
import json
import os
import pickle
import zipfile

import pytest
import torch

from gradviz.cli import main
from gradviz.core.user_model_loader import ModelLoadError, load_user_model, load_weights
from gradviz.core.model_files import code_running_kinds, model_file_kind, runs_code
from gradviz.core.safe_export import export_archive_problem

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Payload:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _exported(tmp_path, dynamic: bool = False):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    path = tmp_path / ("dyn.pt2" if dynamic else "good.pt2")
    shapes = ({0: torch.export.Dim("b", min=2, max=64)},) if dynamic else None
    torch.export.save(torch.export.export(model, (torch.randn(4, 3),), dynamic_shapes=shapes), path)
    return path


def _rewrite(source, target, change):
    """Copy the zip ``source`` to ``target``, ``change(inner_name, bytes) -> bytes | None`` per entry."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for name in src.namelist():
            inner = name.split("/", 1)[1]
            data = change(inner, src.read(name))
            out.writestr(name, data if data is not None else src.read(name))
    return target


def _torch_saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _json_edit(edit):
    def change(data):
        document = json.loads(data)
        edit(document)
        return json.dumps(document).encode()
    return change


def _evil_pickled_weight(good, target, marker):
    def change(inner, data):
        if inner == "data/weights/model_weights_config.json":
            return _json_edit(lambda d: d["config"]["0.weight"].update(use_pickle=True))(data)
        if inner == "data/weights/weight_0":
            return _torch_saved(_Payload(marker))
        return None
    return _rewrite(good, target, change)


def _evil_variants(good, tmp_path, marker):
    """(description, crafted archive): every way we know a .pt2 can make torch.export.load run code."""
    variants = [("pickled weight", _evil_pickled_weight(good, tmp_path / "evil_weight.pt2", marker))]

    def guard(inner, data):
        if inner == "models/model.json":
            return _json_edit(lambda d: d.update(guards_code=[f"open({str(marker)!r}, 'w') is None"]))(data)
        return None
    variants.append(("exec'd guard", _rewrite(good, tmp_path / "evil_guard.pt2", guard)))

    def sample(inner, data):
        return pickle.dumps(_Payload(marker)) if inner == "data/sample_inputs/model.pt" else None
    variants.append(("sample inputs", _rewrite(good, tmp_path / "evil_sample.pt2", sample)))

    def target(inner, data):
        if inner == "models/model.json":
            return _json_edit(lambda d: d["graph_module"]["graph"]["nodes"][0].update(target="torch.os.system"))(data)
        return None
    variants.append(("graph target", _rewrite(good, tmp_path / "evil_target.pt2", target)))

    def opaque(inner, data):
        if inner == "data/constants/model_constants_config.json":
            return json.dumps({"config": {"c": {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": False}}}).encode()
        return None
    variants.append(("opaque constant", _rewrite(good, tmp_path / "evil_opaque.pt2", opaque)))

    def sympy_text(inner, data):
        if inner == "models/model.json":
            def edit(d):
                d["graph_module"]["graph"]["sym_int_values"] = {
                    "s": {"as_expr": {"expr_str": f"open({str(marker)!r}, 'w')", "hint": {"as_int": 1}}}
                }
            return _json_edit(edit)(data)
        return None
    variants.append(("sympy text", _rewrite(good, tmp_path / "evil_sympy.pt2", sympy_text)))
    return variants


def test_the_crafted_archive_really_runs_code_in_torch(tmp_path):
    """The regression's premise: torch.export.load alone runs the payload."""
    marker = tmp_path / "ran"
    evil = _evil_pickled_weight(_exported(tmp_path), tmp_path / "evil.pt2", marker)
    try:
        torch.export.load(str(evil))
    except Exception:  # noqa: BLE001 - loading may fail after the payload ran; that is the point
        pass
    assert marker.exists()


def test_crafted_archives_are_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    for what, evil in _evil_variants(_exported(tmp_path), tmp_path, marker):
        with pytest.raises(ModelLoadError) as caught:
            load_user_model(evil, input_shapes="4, 3")
        assert evil.name in str(caught.value) and "not opened" in str(caught.value), what
        assert caught.value.path == evil
        assert not marker.exists(), what


def test_pickled_weight_is_named_in_the_error(tmp_path):
    evil = _evil_pickled_weight(_exported(tmp_path), tmp_path / "evil.pt2", tmp_path / "ran")
    problem = export_archive_problem(evil)
    assert "'0.weight'" in problem and "use_pickle" in problem and "run code" in problem


def test_cli_refuses_a_crafted_archive_with_one_line(tmp_path, capsys):
    marker = tmp_path / "ran"
    evil = _evil_pickled_weight(_exported(tmp_path), tmp_path / "evil.pt2", marker)
    code = main(["open-model", str(evil), "--inputs", "4, 3"])
    out, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("gradviz: error: evil.pt2 was not opened")
    assert not marker.exists()


def test_honest_archives_still_open(tmp_path):
    for path in (_exported(tmp_path), _exported(tmp_path, dynamic=True)):
        assert export_archive_problem(path) is None
        loaded = load_user_model(path, input_shapes="4, 3")
        assert loaded.kind == "export"


def test_not_a_zip_and_legacy_format_are_refused(tmp_path):
    junk = tmp_path / "junk.pt2"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="not a zip file"):
        load_user_model(junk)
    legacy = tmp_path / "legacy.pt2"
    with zipfile.ZipFile(legacy, "w") as archive:
        archive.writestr("version", "8.0")
        archive.writestr("serialized_state_dict.pt", pickle.dumps(_Payload(tmp_path / "ran")))
    with pytest.raises(ModelLoadError, match="pre-2.8"):
        load_user_model(legacy)
    assert not (tmp_path / "ran").exists()


def test_weights_files_are_read_without_running_pickles(tmp_path):
    marker = tmp_path / "ran"
    weights = tmp_path / "w.pt"
    torch.save({"weight": _Payload(marker)}, weights)
    with pytest.raises(ModelLoadError, match="weights_only=True"):
        load_weights(torch.nn.Linear(3, 2), weights)
    assert not marker.exists()


def test_torchscript_pickles_cannot_name_python_functions(tmp_path):
    """TorchScript's unpickler only builds TorchScript types: a data.pkl calling a Python global fails."""
    marker = tmp_path / "ran"
    scripted = tmp_path / "m.pt"
    torch.jit.script(torch.nn.Linear(3, 2)).save(str(scripted))
    evil = _rewrite(scripted, tmp_path / "evil.pt",
                    lambda inner, data: pickle.dumps(_Payload(marker), protocol=2) if inner.endswith(".pkl") else None)
    with pytest.raises(ModelLoadError):
        load_user_model(evil)
    assert not marker.exists()


def test_torchscript_files_count_as_code_that_runs(tmp_path):
    """TorchScript is a program: its forward can write files (torch.save), so the GUI asks first like for .py."""
    assert runs_code("model.py") and runs_code("model.pt") and runs_code("model.ts")
    assert not runs_code("model.pt2")
    assert set(code_running_kinds()) == {"python", "torchscript"}
    assert model_file_kind("m.pt") == "torchscript"


def test_project_files_are_json_only(tmp_path):
    """A project file holding a pickle is refused as not-JSON; nothing in it is unpickled."""
    from gradviz.core.project import ProjectError, load_project

    marker = tmp_path / "ran"
    path = tmp_path / "p.gvz.json"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ProjectError):
        load_project(path)
    assert not marker.exists() and not os.path.exists("ran")
