"""Project files: versioned JSON, atomic saves, clear errors for every kind of bad file."""
import json
import os

import pytest

import gradviz
from gradviz import ProjectError
from gradviz.core import project as project_module


def test_round_trip_with_extra(tmp_path, lenet_spec):
    path = tmp_path / "net.gvz.json"
    gradviz.save_project(path, lenet_spec, lr=0.01, loss="mse")
    loaded = gradviz.load_project(path)
    assert loaded.spec == lenet_spec
    assert loaded.extra == {"lr": 0.01, "loss": "mse"}
    assert json.loads(path.read_text())["version"] == project_module.FORMAT_VERSION


@pytest.mark.parametrize(
    "content, match",
    [
        ("", "empty"),
        ('{"format": "gradviz-project", "version": 1, "spec": {"input_sh', "corrupt or truncated"),
        ("\x00\x01garbage", "not valid JSON"),
        ('{"hello": 1}', "not a gradviz project"),
        ('{"format": "gradviz-project", "version": 99, "spec": {}}', "newer gradviz"),
        ('{"format": "gradviz-project", "version": 1, "spec": {"input_shape": [1, 4], "layers": [{"kind": "Nope", "name": "x"}]}}',
         "unknown layer kind"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, content, match):
    path = tmp_path / "bad.gvz.json"
    path.write_text(content)
    with pytest.raises(ProjectError, match=match) as info:
        gradviz.load_project(path)
    assert str(path) in str(info.value)


def test_truncated_real_file_is_rejected(tmp_path, lenet_spec):
    path = tmp_path / "net.gvz.json"
    gradviz.save_project(path, lenet_spec)
    text = path.read_text()
    for cut in (10, len(text) // 2, len(text) - 2):
        path.write_text(text[:cut])
        with pytest.raises(ProjectError):
            gradviz.load_project(path)


def test_missing_file(tmp_path):
    with pytest.raises(ProjectError, match="no such file"):
        gradviz.load_project(tmp_path / "nope.gvz.json")


def test_crash_mid_save_keeps_old_file(tmp_path, lenet_spec, monkeypatch):
    path = tmp_path / "net.gvz.json"
    gradviz.save_project(path, lenet_spec)
    before = path.read_text()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        gradviz.save_project(path, gradviz.presets.load("mlp"))
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.gvz.json"]  # no temp file left


def test_unserialisable_extra_is_a_project_error(tmp_path, lenet_spec):
    with pytest.raises(ProjectError, match="JSON"):
        gradviz.save_project(tmp_path / "x.gvz.json", lenet_spec, thing=object())


def test_saved_files_get_normal_permissions_and_keep_existing_ones(tmp_path, lenet_spec):
    path = tmp_path / "net.gvz.json"
    umask = os.umask(0o022)
    try:
        gradviz.save_project(path, lenet_spec)
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o640)
        gradviz.save_project(path, lenet_spec)
        assert path.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)
