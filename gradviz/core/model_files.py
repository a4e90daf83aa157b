"""Which kind of model file a path is, by its suffix. Imports nothing heavy
(no torch), so the GUI can label a chosen file before torch has loaded.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["EXPORT_SUFFIXES", "PYTHON_SUFFIXES", "SCRIPT_SUFFIXES", "model_file_kind"]

PYTHON_SUFFIXES = (".py",)
EXPORT_SUFFIXES = (".pt2",)
SCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")


def model_file_kind(path: str | Path) -> str | None:
    """``"python"``, ``"export"`` or ``"torchscript"`` by the file's suffix; None when unknown.

    Only a Python file runs the user's code when opened (the GUI warns first).
    """
    suffix = Path(path).suffix.lower()
    if suffix in PYTHON_SUFFIXES:
        return "python"
    if suffix in EXPORT_SUFFIXES:
        return "export"
    if suffix in SCRIPT_SUFFIXES:
        return "torchscript"
    return None
