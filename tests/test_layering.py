"""Layering: ``gradviz/core`` is pure Python + torch + networkx and never reaches into Qt
or the UI, not even lazily inside a function. Checked on the source (every import
statement and every ``importlib.import_module``/``__import__`` call with a literal name),
so an import that only runs on some path (a PNG export, an error branch) is caught too."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "gradviz" / "core"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "gradviz.ui")


def _imported_names(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, dotted module name) for every import in ``tree``; relative imports resolved against ``module``."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.append((node.lineno, target))
            names += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                names.append((node.lineno, node.args[0].value))
    return names


def _forbidden(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in FORBIDDEN)


def _violations(path: Path) -> list[str]:
    module = "gradviz.core." + ".".join(path.relative_to(CORE).with_suffix("").parts)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{path.name}:{line}: imports {name}" for line, name in _imported_names(tree, module) if _forbidden(name)]


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_never_imports_qt_or_the_ui(path):
    assert _violations(path) == []


@pytest.mark.parametrize("source", [
    "from PySide6.QtGui import QImage",
    "def f():\n    from gradviz.ui.rasterize import svg_to_png\n",
    "import pyqtgraph as pg",
    "from ..ui import theme",
    "import importlib\nimportlib.import_module('gradviz.ui.graph_view')",
])
def test_the_check_sees_every_kind_of_import(tmp_path, source, monkeypatch):
    """The guard itself must be able to fail: each of these is a violation."""
    monkeypatch.setattr(__import__(__name__), "CORE", tmp_path)
    path = tmp_path / "bad.py"
    path.write_text(source)
    assert _violations(path), source


def test_the_check_lets_ordinary_imports_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(__import__(__name__), "CORE", tmp_path)
    path = tmp_path / "ok.py"
    path.write_text("import torch\nimport networkx as nx\nfrom gradviz.core.spec import LayerSpec\nfrom . import shapes\n")
    assert _violations(path) == []


def _core_import_graph() -> dict[str, set[str]]:
    """Module -> the gradviz.core modules it imports anywhere (lazy imports included)."""
    graph = {}
    for path in sorted(CORE.rglob("*.py")):
        module = "gradviz.core." + ".".join(path.relative_to(CORE).with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {name for _, name in _imported_names(tree, module) if name in
                         {"gradviz.core." + ".".join(p.relative_to(CORE).with_suffix("").parts) for p in CORE.rglob("*.py")}}
        graph[module].discard(module)
    return graph


def test_core_has_no_import_cycles():
    """No circle of imports inside core, lazy ones included: the spec is plain data that the
    limits and the layer catalogue check, and nothing below imports back up."""
    import networkx as nx

    graph = nx.DiGraph([(a, b) for a, targets in _core_import_graph().items() for b in targets])
    assert [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1] == []
