"""The document the builder edits: the network spec plus the training settings
saved with it, an undo stack, and the shape analysis of the current spec.

Views never change the spec directly; they call ``edit`` (or one of the named
helpers) with the new spec, which becomes an undoable snapshot command. Every
change, including undo/redo, ends in the ``changed`` signal, after which
``spec``, ``settings`` and ``analysis`` are up to date.
"""
from __future__ import annotations

import json
from typing import Hashable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from gradviz.core.limits import check_spec_limits
from gradviz.core.spec import NetworkSpec
from gradviz.core.vocabulary import LOSSES, OPTIMIZERS
from gradviz.core.analysis import Analysis, analyse
from gradviz.ui.builder.commands import SnapshotCommand

DEFAULT_SETTINGS = {"loss": "mse", "optimizer": "sgd", "lr": 0.01, "device": "cpu", "data": None}
DEFAULT_INPUT_SHAPE = (1, 1, 32, 32)


def empty_spec() -> NetworkSpec:
    return NetworkSpec([], DEFAULT_INPUT_SHAPE)


def clean_settings(settings: dict | None) -> dict:
    """Settings from a file or a caller, with unknown or ill-typed values replaced by defaults."""
    result = dict(DEFAULT_SETTINGS)
    for key, value in (settings or {}).items():
        if key == "loss" and value in LOSSES or key == "optimizer" and value in OPTIMIZERS:
            result[key] = value
        elif key == "lr" and isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e6:
            result[key] = float(value)
        elif key == "device" and isinstance(value, str) and value:
            result[key] = value
        elif key == "data" and (value is None or isinstance(value, str)):
            result[key] = value
    return result


class NetworkDocument(QObject):
    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.spec: NetworkSpec = empty_spec()
        self.settings: dict = dict(DEFAULT_SETTINGS)
        self.analysis: Analysis = analyse(self.spec)
        self.undo_stack = QUndoStack(self)
        self.revision = 0  # bumps on every change; autosave compares it

    # -- state -------------------------------------------------------------------
    def state_json(self) -> str:
        return json.dumps({"spec": self.spec.to_dict(), "settings": self.settings}, sort_keys=True)

    def _restore(self, state: str) -> None:
        data = json.loads(state)
        self._set(NetworkSpec.from_dict(data["spec"]), data["settings"])

    def _set(self, spec: NetworkSpec, settings: dict) -> None:
        analysis = analyse(spec)  # everything that can fail before anything changes
        self.spec = spec
        self.settings = dict(settings)
        self.analysis = analysis
        self.revision += 1
        self.changed.emit()

    # -- editing -----------------------------------------------------------------
    def edit(self, spec: NetworkSpec | None = None, *, settings: dict | None = None, text: str, merge_key: Hashable | None = None) -> bool:
        """Make ``spec``/``settings`` current as one undoable step named ``text``.

        Returns False (and records nothing) when nothing would change.
        """
        before = self.state_json()
        new_spec = spec if spec is not None else self.spec
        new_settings = {**self.settings, **(settings or {})}
        after = json.dumps({"spec": new_spec.to_dict(), "settings": new_settings}, sort_keys=True)
        if after == before:
            return False
        self.undo_stack.push(SnapshotCommand(self, before, after, text, merge_key))
        return True

    def set_setting(self, key: str, value) -> bool:
        return self.edit(settings={key: value}, text=f"Set {key}", merge_key=("setting", key))

    def reset(self, spec: NetworkSpec, settings: dict | None = None, *, modified: bool = False) -> None:
        """Replace everything (New, Open, Recover): a fresh undo history.

        All or nothing: the new state is prepared (copied, checked, analysed)
        first; if that raises, the spec, settings, undo history and modified
        flag are exactly as they were.
        """
        check_spec_limits(spec)  # SpecError; a copy of a spec nested too deep would recurse out
        new_spec, new_settings = spec.copy(), clean_settings(settings)
        analysis = analyse(new_spec)
        self.undo_stack.clear()
        self.spec, self.settings, self.analysis = new_spec, new_settings, analysis
        self.revision += 1
        self.changed.emit()
        self.undo_stack.setClean()
        if modified:
            self.undo_stack.resetClean()  # recovered work is not saved anywhere yet

    # -- saved / modified ----------------------------------------------------------
    @property
    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self) -> None:
        self.undo_stack.setClean()
