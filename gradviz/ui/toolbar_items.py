"""Toolbar items that hold a caption and its control together."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget


def captioned(caption: str, control: QWidget, *after: QWidget, name: str = "") -> QWidget:
    """``caption``, ``control`` and any widgets ``after`` it (a value read-out) as one
    toolbar item, the caption the control's buddy. On a toolbar too narrow for
    all its items they move into its overflow menu together: added one by one,
    a caption ("Device", "Speed") stayed behind without its control."""
    item = QWidget()
    if name:
        item.setObjectName(name)
    row = QHBoxLayout(item)
    row.setContentsMargins(0, 0, 4, 0)
    label = QLabel(caption)
    label.setBuddy(control)
    for widget in (label, control, *after):
        row.addWidget(widget)
    item.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
    return item
