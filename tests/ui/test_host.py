"""The window's host interface (gradviz.ui.host.WindowHost) is the only seam the
extensions use: the window provides all of it, and the extensions neither probe the
window with getattr/hasattr nor reach into its private parts or find widgets by name."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gradviz.ui.host import HOST_MEMBERS, WindowHost

UI = Path(__file__).resolve().parents[2] / "gradviz" / "ui"
EXTENSIONS = [UI / "training" / "install.py", UI / "user_model" / "opener.py", UI / "user_model" / "dialog.py"]
# What an extension keeps on the window for itself (made on first use, one per window).
OWN_ATTRIBUTES = ("model_opener", "open_model_dialog")


def test_main_window_provides_the_whole_host_interface(qtbot):
    from gradviz.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    missing = [name for name in HOST_MEMBERS if name != "graph_view" and not hasattr(window, name)]
    assert missing == []
    assert not window.has_graph_view  # asking whether it exists does not make it
    assert isinstance(window, WindowHost)  # runtime check of every member (this one makes the view)
    assert window.has_graph_view and window.graph_view is window.graph_view


def _probes(path: Path) -> list[str]:
    """getattr/hasattr on the window, private window members, findChild, in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                and node.args and "window" in ast.unparse(node.args[0]) \
                and not (len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value in OWN_ATTRIBUTES):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and ast.unparse(node.value) in ("window", "self.window", "w"):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, ast.Attribute) and node.attr in ("findChild", "findChildren"):
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("path", EXTENSIONS, ids=lambda p: p.name)
def test_extensions_use_only_the_host_interface(path):
    assert _probes(path) == []


def test_the_probe_finds_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(window):\n    getattr(window, 'x', None)\n    window._ensure()\n    window.findChild(object, 'y')\n")
    assert len(_probes(bad)) == 3
