"""One vocabulary: the phase, loss, optimizer and record-level names are defined once,
in the torch-free ``gradviz.core.vocabulary``, and everyone else imports them."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("PHASES", "LOSSES", "OPTIMIZERS", "RECORD_LEVELS", "SESSION_EVENTS")


def _assignments(name: str) -> list[str]:
    """Every module-level ``NAME = ...`` of ``name`` under gradviz/ and bench/."""
    found = []
    for path in sorted([*ROOT.joinpath("gradviz").rglob("*.py"), *ROOT.joinpath("bench").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found.append(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("name", SHARED)
def test_each_shared_name_is_defined_once(name):
    assert _assignments(name) == ["gradviz/core/vocabulary.py"]


def test_vocabulary_does_not_load_torch():
    code = "import sys, gradviz.core.vocabulary as v; print('torch' in sys.modules, v.PHASES[0])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "zero_grad"]


def test_session_and_ui_use_the_same_objects():
    from gradviz.core import session, vocabulary
    from gradviz.ui.training import phase_indicator
    from gradviz.ui.builder import document
    assert session.PHASES is vocabulary.PHASES is phase_indicator.PHASES
    assert document.LOSSES is session.LOSSES and document.OPTIMIZERS is session.OPTIMIZERS
