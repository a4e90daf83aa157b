"""Which kind of model file a path is, by its suffix. Imports nothing heavy
(no torch), so the GUI can label a chosen file before torch has loaded.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["EXPORT_SUFFIXES", "PYTHON_SUFFIXES", "SCRIPT_SUFFIXES", "code_running_kinds", "model_file_kind", "runs_code"]

PYTHON_SUFFIXES = (".py",)
EXPORT_SUFFIXES = (".pt2",)
SCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")


def model_file_kind(path: str | Path) -> str | None:
    """``"python"``, ``"export"`` or ``"torchscript"`` by the file's suffix; None when unknown.

    Python and TorchScript files are programs (see :func:`runs_code`); a
    ``.pt2`` is checked and refused when it could run code (``safe_export``).
    """
    suffix = Path(path).suffix.lower()
    if suffix in PYTHON_SUFFIXES:
        return "python"
    if suffix in EXPORT_SUFFIXES:
        return "export"
    if suffix in SCRIPT_SUFFIXES:
        return "torchscript"
    return None


# A Python file runs as Python. A TorchScript file is a program too: its
# unpickler only builds TorchScript types, but its forward can call any
# TorchScript builtin, e.g. torch.save to overwrite a file. A .pt2 is not here:
# gradviz refuses the archives whose loading could run code (core.safe_export).
_CODE_RUNNING_KINDS = ("python", "torchscript")


def code_running_kinds() -> tuple[str, ...]:
    """The model file kinds that run the file's own program when opened or run."""
    return _CODE_RUNNING_KINDS


def runs_code(path: str | Path) -> bool:
    """True for files whose own program runs when opened: ask the user before opening them."""
    return model_file_kind(path) in _CODE_RUNNING_KINDS
