"""The layer palette: every catalogue kind, grouped, with its help as tooltip.

Double-click (or Enter) adds the kind after the selected card; dragging it
onto the layer stack inserts it where it is dropped. ``kinds_menu`` builds the
same grouping as a menu (context menus, Network → Add layer).
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QMenu, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from gradviz.core.layers import GROUPS, LayerKind, layer_kinds

KIND_MIME = "application/x-gradviz-layer-kind"
KIND_ROLE = Qt.ItemDataRole.UserRole

GROUP_TITLES = {
    "convolution": "Convolution", "pooling": "Pooling", "linear": "Linear", "activation": "Activation",
    "normalisation": "Normalisation", "structure": "Structure",
}


def kind_tooltip(kind: LayerKind) -> str:
    lines = [f"<b>{kind.name}</b> — {kind.help}"]
    if kind.params:
        lines.append("<br>Parameters: " + ", ".join(p.name for p in kind.params))
    if kind.container:
        lines.append("<br>Holds inner layers: drop layers into it.")
    lines.append("<br><i>Double-click to add after the selected layer, or drag it into the stack.</i>")
    return "".join(lines)


def grouped_kinds() -> list[tuple[str, list[LayerKind]]]:
    kinds = list(layer_kinds().values())
    groups = [(group, [k for k in kinds if k.group == group]) for group in GROUPS]
    unknown = [k for k in kinds if k.group not in GROUPS]  # a group added to the catalogue later
    if unknown:
        groups.append(("other", unknown))
    return [(group, items) for group, items in groups if items]


def kinds_menu(title: str, on_kind: Callable[[str], None], parent: QWidget | None = None) -> QMenu:
    """A menu of every kind, one submenu per group."""
    menu = QMenu(title, parent)
    for group, kinds in grouped_kinds():
        sub = menu.addMenu(GROUP_TITLES.get(group, group.title()))
        for kind in kinds:
            action = sub.addAction(kind.name)
            action.setToolTip(kind.help)
            action.setStatusTip(f"{kind.name}: {kind.help}")
            action.triggered.connect(lambda _=False, name=kind.name: on_kind(name))
    menu.setToolTipsVisible(True)
    return menu


class _KindTree(QTreeWidget):
    def mimeData(self, items):  # noqa: N802 - Qt override: drag carries the kind name
        data = QMimeData()
        kinds = [item.data(0, KIND_ROLE) for item in items if item.data(0, KIND_ROLE)]
        if kinds:
            data.setData(KIND_MIME, kinds[0].encode())
            data.setText(kinds[0])
        return data

    def mimeTypes(self):  # noqa: N802
        return [KIND_MIME]

    def startDrag(self, actions):  # noqa: N802 - copy, never move, out of the palette
        item = self.currentItem()
        if item is None or not item.data(0, KIND_ROLE):
            return
        drag = QDrag(self)
        drag.setMimeData(self.mimeData([item]))
        drag.exec(Qt.DropAction.CopyAction)


class LayerPalette(QWidget):
    """objectName ``layerPalette``; ``kindActivated(kind)`` on double-click / Enter."""

    kindActivated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layerPalette")
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("paletteFilter")
        self.filter_edit.setPlaceholderText("Filter layers…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._filter)
        self.tree = _KindTree()
        self.tree.setObjectName("paletteTree")
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setRootIsDecorated(True)
        self.tree.setIndentation(14)
        self.tree.itemActivated.connect(self._activated)
        self._items: dict[str, QTreeWidgetItem] = {}
        for group, kinds in grouped_kinds():
            group_item = QTreeWidgetItem([GROUP_TITLES.get(group, group.title())])
            group_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group_item.font(0)
            font.setBold(True)
            group_item.setFont(0, font)
            self.tree.addTopLevelItem(group_item)
            for kind in kinds:
                item = QTreeWidgetItem([kind.name])
                item.setData(0, KIND_ROLE, kind.name)
                item.setToolTip(0, kind_tooltip(kind))
                item.setStatusTip(0, f"{kind.name}: {kind.help}")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                group_item.addChild(item)
                self._items[kind.name] = item
            group_item.setExpanded(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.filter_edit)
        layout.addWidget(self.tree, 1)

    def kinds(self) -> list[str]:
        """Every kind shown, in palette order."""
        return list(self._items)

    def item_for(self, kind: str) -> QTreeWidgetItem:
        return self._items[kind]

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        kind = item.data(0, KIND_ROLE)
        if kind:
            self.kindActivated.emit(kind)

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for index in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(index)
            visible = 0
            for child_index in range(group.childCount()):
                child = group.child(child_index)
                kind = layer_kinds()[child.data(0, KIND_ROLE)]
                match = not needle or needle in kind.name.lower() or needle in kind.help.lower() or needle in kind.group
                child.setHidden(not match)
                visible += match
            group.setHidden(visible == 0)
