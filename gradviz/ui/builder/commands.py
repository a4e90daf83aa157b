"""Undo commands: snapshots of the whole document (spec + training settings).

Storing the JSON before and after each edit is simpler and more robust than
writing an inverse for every kind of edit: any edit, however it was computed,
undoes exactly. Networks are small (kilobytes), so snapshots cost nothing.

Consecutive edits of the same field (typing 2, 25, 256 into in_features) merge
into one command, so one Ctrl+Z undoes the whole value.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Hashable

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from gradviz.ui.builder.document import NetworkDocument

_MERGEABLE_ID = 0x6776  # any constant: Qt only merges commands whose id() match


class SnapshotCommand(QUndoCommand):
    def __init__(self, document: "NetworkDocument", before: str, after: str, text: str, merge_key: Hashable | None = None):
        super().__init__(text)
        self.document = document
        self.before = before
        self.after = after
        self.merge_key = merge_key

    def redo(self) -> None:
        self.document._restore(self.after)

    def undo(self) -> None:
        self.document._restore(self.before)

    def id(self) -> int:
        return _MERGEABLE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SnapshotCommand) or other.merge_key != self.merge_key or self.merge_key is None:
            return False
        self.after = other.after
        # Typing a value and then its original back leaves nothing to undo.
        self.setObsolete(self.after == self.before)
        return True
