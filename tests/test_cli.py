"""The gradviz command line and the summary table behind `gradviz info`."""
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import gradviz
from gradviz import presets
from gradviz.cli import main
from gradviz.core.summary import format_summary, summary_table, total_params


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _assert_usage_error(code, out, err, *fragments):
    assert code == 2
    assert err.startswith("gradviz: error: ") and err.count("\n") == 1, err  # exactly one line
    assert "Traceback" not in err + out
    for fragment in fragments:
        assert fragment in err


# -- summary ---------------------------------------------------------------------------


def test_summary_rows_of_lenet(lenet_spec):
    rows = summary_table(lenet_spec)
    assert [r.name for r in rows][:3] == ["conv1", "relu1", "pool1"]
    conv1 = rows[0]
    assert conv1.output_shape == (1, 6, 28, 28) and conv1.num_params == 156
    assert conv1.derivation == "(32 − 5 + 2·0)/1 + 1 = 28"
    fc1 = next(r for r in rows if r.name == "fc1")
    assert fc1.input_shape == (1, 400) and fc1.num_params == 48_120
    model = gradviz.build_model(lenet_spec)
    assert total_params(rows) == sum(p.numel() for p in model.parameters()) == 61_706


def test_summary_rows_nest_residual_blocks():
    spec = presets.load("resnet_tiny")
    rows = summary_table(spec)
    block = next(r for r in rows if r.name == "block1")
    inner = [r for r in rows if r.position.startswith(block.position + ".")]
    assert [r.depth for r in inner] == [1] * 5 and inner[0].position == f"{block.position}.1"
    assert block.num_params == sum(r.num_params for r in inner)
    assert total_params(rows) == sum(p.numel() for p in gradviz.build_model(spec).parameters())
    assert "  block1_conv1" in format_summary(spec)  # indented under its block


# -- gradviz info ----------------------------------------------------------------------


def test_info_prints_the_layer_table(capsys):
    code, out, err = _run(capsys, "info", "--preset", "lenet")
    assert code == 0 and err == ""
    assert "input (1, 1, 32, 32) -> output (1, 10)" in out
    assert "(32 − 5 + 2·0)/1 + 1 = 28" in out and "16·5·5 = 400" in out
    assert "400·120 + 120 = 48,120" in out
    assert "total parameters: 61,706" in out
    assert out.count("\n") >= 12 + 3


def test_info_of_a_project_file(capsys, tmp_path):
    path = gradviz.save_project(tmp_path / "mine.gvz.json", presets.load("mlp"))
    code, out, _ = _run(capsys, "info", "--project", str(path))
    assert code == 0 and "total parameters: 105" in out  # 2·8+8 + 8·8+8 + 8·1+1


def test_info_lists_presets(capsys):
    code, out, _ = _run(capsys, "info", "--list")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == presets.names()


def test_bad_model_sources_are_one_line_errors(capsys, tmp_path):
    _assert_usage_error(*_run(capsys, "info", "--preset", "alexnet"), "unknown preset 'alexnet'", "lenet")
    _assert_usage_error(*_run(capsys, "info", "--project", str(tmp_path / "gone.gvz.json")), "gone.gvz.json: no such file")
    corrupt = tmp_path / "corrupt.gvz.json"
    corrupt.write_text('{"format": "gradviz-project", "version": 1, "spec": {')
    _assert_usage_error(*_run(capsys, "info", "--project", str(corrupt)), "corrupt.gvz.json", "not valid JSON")
    spec = presets.load("lenet")
    spec.layers[7].params["in_features"] = 500  # fc1 no longer fits the flattened 400
    broken = tmp_path / "shapes.gvz.json"
    broken.write_text(json.dumps({"format": "gradviz-project", "version": 1, "spec": spec.to_dict()}))
    _assert_usage_error(*_run(capsys, "info", "--project", str(broken)), "fc1 expects 500 input features, receives 400")
    _assert_usage_error(*_run(capsys, "info"), "one of the arguments --preset --project --list is required")
    _assert_usage_error(*_run(capsys, "frobnicate"), "invalid choice: 'frobnicate'")


# -- gradviz export --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dot", "svg", "graphml", "json"])
def test_export_formats(capsys, tmp_path, fmt):
    out_file = tmp_path / f"lenet.{fmt}"
    code, out, err = _run(capsys, "export", "--preset", "lenet", "-o", str(out_file))
    assert code == 0 and err == ""
    assert f"wrote {out_file} ({fmt}, 27 nodes" in out
    text = out_file.read_text()
    assert "MseLossBackward0" in text


@pytest.mark.gui
def test_export_png(capsys, tmp_path):
    out_file = tmp_path / "graph.out"
    code, _, _ = _run(capsys, "export", "--preset", "mlp", "--format", "png", "-o", str(out_file))
    assert code == 0 and out_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_loss_and_seed_options(capsys, tmp_path):
    out_file = tmp_path / "g.dot"
    assert _run(capsys, "export", "--preset", "lenet", "--loss", "cross_entropy", "--seed", "3", "-o", str(out_file))[0] == 0
    text = out_file.read_text()
    assert "NllLossBackward0" in text and "LogSoftmaxBackward0" in text and "MseLoss" not in text


def test_export_errors(capsys, tmp_path):
    _assert_usage_error(*_run(capsys, "export", "--preset", "lenet", "-o", str(tmp_path / "g.bmp")), "cannot tell the export format", "svg")
    _assert_usage_error(*_run(capsys, "export", "--preset", "lenet", "-f", "bmp", "-o", str(tmp_path / "g")), "invalid choice: 'bmp'")
    _assert_usage_error(*_run(capsys, "export", "--preset", "lenet", "-o", str(tmp_path / "no" / "dir" / "g.svg")), "cannot write")
    _assert_usage_error(*_run(capsys, "export", "--preset", "lenet", "--loss", "hinge", "-o", "g.svg"), "invalid choice: 'hinge'")
    _assert_usage_error(*_run(capsys, "export", "--preset", "lenet"), "-o/--output")
    assert not list(tmp_path.iterdir())


# -- no subcommand, help ---------------------------------------------------------------


def test_no_command_opens_the_gui(monkeypatch):
    calls = []
    fake = types.ModuleType("gradviz.app")
    fake.main = lambda: calls.append("gui") or 0
    monkeypatch.setitem(sys.modules, "gradviz.app", fake)
    assert main([]) == 0 and calls == ["gui"]


def test_no_display_is_one_line_not_a_qt_abort(monkeypatch, capsys):
    """Without a screen Qt aborted the process: status 134 and seven lines of its own."""
    calls = []
    fake = types.ModuleType("gradviz.app")
    fake.main = lambda: calls.append("gui") or 0
    monkeypatch.setitem(sys.modules, "gradviz.app", fake)
    monkeypatch.setattr(sys, "platform", "linux")
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert main([]) == 2 and calls == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no display" in err[0] and "gradviz export" not in err[0] and "headless" in err[0]


def test_help_and_version(capsys):
    code, out, _ = _run(capsys, "--help")
    assert code == 0 and "info" in out and "export" in out
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and gradviz.__version__ in out


def test_console_script_reports_errors_without_traceback():
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from gradviz.cli import main; sys.exit(main())", "info", "--preset", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("gradviz: error: unknown preset 'nope'") and "Traceback" not in result.stderr



@pytest.mark.parametrize("command", ["info", "export", "explain"])
def test_an_empty_preset_name_is_an_unknown_preset(capsys, tmp_path, command):
    """--preset "" was taken for "no preset": a TypeError and exit 1."""
    argv = [command, "--preset", ""] + (["-o", str(tmp_path / "g.svg")] if command == "export" else [])
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "unknown preset ''" in err[0] and "lenet" in err[0]

@pytest.mark.parametrize("suffix", ["svg", "json", "graphml", "png"])
def test_an_export_that_cannot_finish_leaves_the_previous_file_whole(tmp_path, suffix):
    """A size limit (or a full disk) stopped the write half way: the user's earlier
    export was replaced by 8 KB of a new one (a 0-byte PNG on a full disk). Now the new
    file replaces the old one only once it is complete."""
    target = tmp_path / f"keep.{suffix}"
    assert main(["export", "--preset", "lenet", "-o", str(target)]) == 0
    before = target.read_bytes()
    assert len(before) > 8192
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # EFBIG instead of a kill
        "resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))\n"
        "from gradviz.cli import main\n"
        f"sys.exit(main(['export', '--preset', 'lenet', '--seed', '3', '-o', {str(target)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary file left


def test_a_format_that_contradicts_the_file_name_is_refused(capsys, tmp_path):
    """-f svg -o graph.png wrote SVG text into a file called .png (nothing opens it)."""
    target = tmp_path / "graph.png"
    assert main(["export", "--preset", "lenet", "-f", "svg", "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ends in .png but the format asked for is svg: name it graph.svg" in err[0]
    assert not target.exists()
    assert main(["export", "--preset", "lenet", "-f", "svg", "-o", str(tmp_path / "graph")]) == 0  # no suffix: -f says


@pytest.mark.parametrize("command", ["export", "explain", "open-model"])
def test_a_seed_that_is_no_whole_number_says_so_in_words(capsys, tmp_path, command):
    argv = {"export": ["export", "--preset", "lenet", "-o", str(tmp_path / "g.svg")],
            "explain": ["explain", "--preset", "neuron"],
            "open-model": ["open-model", str(Path(__file__).resolve().parents[1] / "examples" / "small_resnet.py")]}[command]
    assert main(argv + ["--seed", "nan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'nan' is not a whole number" in err[0] and "_seed" not in err[0], err
