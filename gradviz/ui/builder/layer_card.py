"""One card per layer in the stack: name, kind, parameter editors, output shape,
derivation, parameter count, and the error when this layer is the broken one.

Cards do not edit the document themselves: they ask their ``LayerStack``
(``self.stack``), which owns selection and turns requests into undoable edits.
A Residual card holds a nested ``LayerList`` for its inner layers.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QPoint, Qt
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import (
    QApplication, QFrame, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QMenu, QSizePolicy, QToolButton, QVBoxLayout,
    QWidget,
)

from gradviz.core.layers import BOOL, get_kind, resolved_params
from gradviz.core.shapes import LayerShape, format_shape
from gradviz.core.spec import LayerSpec
from gradviz.ui.builder.palette import kinds_menu
from gradviz.ui.builder.param_editors import make_editor, set_error_state
from gradviz.ui.theme import bind_icon, repolish

if TYPE_CHECKING:
    from gradviz.ui.builder.layer_stack import LayerList, LayerStack

PATH_MIME = "application/x-gradviz-layer-path"
_PAIRS_PER_ROW = 2  # label+editor pairs per grid row: compact, still readable at lecture sizes


class _NameLabel(QLabel):
    def __init__(self, card: "LayerCard"):
        super().__init__()
        self.card = card

    def mouseDoubleClickEvent(self, event):  # noqa: N802 - Qt override: inline rename
        self.card.begin_rename()


class LayerCard(QFrame):
    def __init__(self, stack: "LayerStack", layer: LayerSpec, path: tuple[int, ...]):
        super().__init__()
        self.stack = stack
        self.layer_name = layer.name
        self.kind_name = layer.kind
        self.path = path
        self.kind = get_kind(layer.kind)
        self.setObjectName(f"layerCard_{layer.name}")
        self.setProperty("role", "layerCard")
        self.setProperty("selected", False)
        self.setProperty("error", False)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.setToolTip(f"{self.kind.name}: {self.kind.help}")
        self._drag_start: QPoint | None = None
        self._local_problems: dict[str, str] = {}  # editor (or "rename") → why its text cannot be used
        self._analysis_error = ""
        self.rename_edit: QLineEdit | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(6)
        layout.addLayout(self._build_header())

        self.editors: dict[str, QWidget] = {}
        if self.kind.params:
            layout.addLayout(self._build_params())

        info = self.info_row = QHBoxLayout()
        info.setSpacing(12)
        self.derivation_label = QLabel()
        self.derivation_label.setObjectName("layerDerivation")
        self.derivation_label.setProperty("role", "derivation")
        self.derivation_label.setWordWrap(True)
        self.derivation_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        info.addWidget(self.derivation_label, 1)
        layout.addLayout(info)

        self.error_label = QLabel()
        self.error_label.setObjectName("layerError")
        self.error_label.setProperty("role", "errorText")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.inner_list: "LayerList | None" = None
        if self.kind.container:
            from gradviz.ui.builder.layer_stack import LayerList

            self.inner_list = LayerList(stack, path, layer.layers)
            self.inner_list.setObjectName(f"nestedList_{layer.name}")
            layout.addWidget(self.inner_list)

    # -- construction ---------------------------------------------------------------
    def _build_header(self) -> QHBoxLayout:
        header = QHBoxLayout()
        header.setSpacing(8)
        handle = QLabel("⠿")
        handle.setObjectName("dragHandle")
        handle.setProperty("role", "handle")
        handle.setToolTip("Drag to reorder (or Alt+Up / Alt+Down)")
        handle.setCursor(Qt.CursorShape.OpenHandCursor)
        header.addWidget(handle)

        self.name_label = _NameLabel(self)
        self.name_label.setObjectName("layerName")
        self.name_label.setProperty("role", "cardTitle")
        self.name_label.setText(self.layer_name)
        self.name_label.setToolTip("Double-click (or F2) to rename")
        header.addWidget(self.name_label)

        kind_chip = QLabel(self.kind.name)
        kind_chip.setObjectName("layerKind")
        kind_chip.setProperty("role", "kindChip")
        kind_chip.setToolTip(self.kind.help)
        header.addWidget(kind_chip)
        header.addStretch(1)

        self.shape_label = QLabel()
        self.shape_label.setObjectName("layerOutputShape")
        self.shape_label.setProperty("role", "shape")
        self.shape_label.setToolTip("Output shape of this layer")
        header.addWidget(self.shape_label)
        self.header_row = header
        self.mode = "wide"
        self._buttons: list[QToolButton] = []

        for name, icon_name, glyph, tip, slot in (
            ("moveUpButton", "up", "▲", "Move up (Alt+Up)", lambda: self.stack.move_layer_by(self.path, -1)),
            ("moveDownButton", "down", "▼", "Move down (Alt+Down)", lambda: self.stack.move_layer_by(self.path, +1)),
            ("duplicateButton", "duplicate", "⧉", "Duplicate (Ctrl+D)", lambda: self.stack.duplicate_layer(self.path)),
            ("deleteButton", "delete", "✕", "Delete (Del)", lambda: self.stack.remove_layer(self.path)),
        ):
            button = QToolButton()
            button.setObjectName(name)
            button.setProperty("role", "cardButton")
            button.setToolTip(tip)
            button.setAutoRaise(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            bind_icon(button, icon_name)
            if button.icon().isNull():
                button.setText(glyph)
            button.clicked.connect(slot)
            header.addWidget(button)
            self._buttons.append(button)
        return header

    def _build_params(self) -> QGridLayout:
        self.param_grid = QGridLayout()
        self.param_grid.setHorizontalSpacing(8)
        self.param_grid.setVerticalSpacing(4)
        self._param_cells: list[tuple[QLabel | None, QWidget]] = []
        values = resolved_params(LayerSpec(self.kind_name, self.layer_name, {}))
        for decl in self.kind.params:
            editor = make_editor(decl)
            # Size hints of spin boxes come from their range (10,000,000 is wide); cards
            # must fit a narrow dock at lecture font sizes, so let editors shrink.
            editor.setMinimumWidth(56)
            editor.set_value(values.get(decl.name))
            editor.valueCommitted.connect(lambda value, key=decl.name: self.stack.set_param(self.path, key, value))
            editor.problemChanged.connect(lambda message, key=decl.name: self._on_local_problem(message, key))
            self.editors[decl.name] = editor
            label = None
            if decl.type != BOOL:  # a check box carries its own label
                label = QLabel(decl.name)
                label.setProperty("role", "paramLabel")
                label.setToolTip(editor.toolTip())
                label.setBuddy(editor)
            self._param_cells.append((label, editor))
        self._place_params(_PAIRS_PER_ROW)
        return self.param_grid

    def _place_params(self, pairs_per_row: int) -> None:
        grid = self.param_grid
        for label, editor in self._param_cells:
            for widget in (label, editor):
                if widget is not None:
                    grid.removeWidget(widget)
        for column in range(2 * _PAIRS_PER_ROW):
            grid.setColumnStretch(column, 0)
        for slot, (label, editor) in enumerate(self._param_cells):
            row, column = divmod(slot, pairs_per_row)
            if label is None:
                grid.addWidget(editor, row, column * 2, 1, 2)
            else:
                grid.addWidget(label, row, column * 2)
                grid.addWidget(editor, row, column * 2 + 1)
        for column in range(pairs_per_row):
            grid.setColumnStretch(column * 2 + 1, 1)
        self._pairs_per_row = pairs_per_row

    # -- fitting the width: wide, compact, narrow ----------------------------------------
    # Docks get narrow (lecture-size text, many panels open). Rather than scroll
    # sideways, cards step down: "wide" has the output shape in the header;
    # "compact" moves it under the parameters; "narrow" also puts one parameter
    # per row and shows the move/duplicate/delete buttons only on the selected card.

    def needed_widths(self) -> tuple[int, int]:
        """Widths the wide and the compact layouts need."""
        margins = self.layout().contentsMargins()
        extra = margins.left() + margins.right()
        header = self.header_row.sizeHint().width()
        if self.mode != "wide":
            header += self.shape_label.sizeHint().width() + self.header_row.spacing()
        if self.mode == "narrow" and not self._buttons[0].isVisible():
            header += sum(b.sizeHint().width() + self.header_row.spacing() for b in self._buttons)
        grid = 0
        if self.kind.params:
            # Minimum widths (editors may shrink to 56 px) plus some room to read a value;
            # spin boxes' own size hints reflect their 10,000,000 maximum, not the value.
            grid = self.param_grid.minimumSize().width()
            if self._pairs_per_row == 1:
                grid = 2 * grid + self.param_grid.horizontalSpacing()
            grid += _PAIRS_PER_ROW * 40
        compact = max(header - self.shape_label.sizeHint().width(), grid)
        wide = max(header, grid)
        return wide + extra, compact + extra

    def set_mode(self, mode: str) -> None:
        if mode == self.mode:
            return
        if (mode == "wide") != (self.mode == "wide"):
            if mode == "wide":
                self.info_row.removeWidget(self.shape_label)
                self.header_row.insertWidget(self.header_row.indexOf(self._buttons[0]), self.shape_label)
            else:
                self.header_row.removeWidget(self.shape_label)
                self.info_row.insertWidget(0, self.shape_label, 0, Qt.AlignmentFlag.AlignTop)
        if self.kind.params:
            self._place_params(1 if mode == "narrow" else _PAIRS_PER_ROW)
        self.mode = mode
        self._show_buttons()
        if self.inner_list is not None:
            for card in self.inner_list.cards:
                card.set_mode(mode)

    def _show_buttons(self) -> None:
        visible = self.mode != "narrow" or bool(self.property("selected"))
        for button in self._buttons:
            button.setVisible(visible)

    # -- state from the document ---------------------------------------------------
    def update_from(self, layer: LayerSpec, path: tuple[int, ...], shape: LayerShape | None, error: str, error_field: str | None, shapes_known: bool) -> None:
        self.path = path
        values = resolved_params(layer)
        for key, editor in self.editors.items():
            editor.set_value(values.get(key))
            set_error_state(editor, error if error and error_field == key else "")
        if shape is not None:
            self.shape_label.setText(f"→ {format_shape(shape.output_shape)}")
            text = shape.derivation
            if shape.params_derivation and shape.num_params:
                text += f"\u2003\u2003params {shape.params_derivation}"  # em spaces: wraps cleanly
            elif shape.num_params:  # a Residual: the sum of its inner layers
                text += f"\u2003\u2003{shape.num_params:,} params"
            self.derivation_label.setText(text)
            self.derivation_label.setToolTip(
                f"input {format_shape(shape.input_shape)} → output {format_shape(shape.output_shape)}"
            )
            self.derivation_label.show()
        else:
            self.shape_label.setText("→ ?" if not error else "")
            self.derivation_label.setText("" if error else ("shape unknown until the error above is fixed" if not shapes_known else ""))
            self.derivation_label.setVisible(bool(self.derivation_label.text()))
        if self.inner_list is not None:
            self.inner_list.set_path(path)
        self._analysis_error = error
        self._show_error()

    def _on_local_problem(self, message: str, source: str = "rename") -> None:
        if message:
            self._local_problems[source] = message
        else:
            self._local_problems.pop(source, None)
        self._show_error()

    def _show_error(self) -> None:
        local = next(iter(self._local_problems.values()), "")
        message = local or self._analysis_error
        self.error_label.setText(f"⚠ {message}" if message else "")
        self.error_label.setVisible(bool(message))
        if self.property("error") != bool(message):
            self.setProperty("error", bool(message))
            repolish(self)

    # -- queries (tests, the stack) -------------------------------------------------
    @property
    def has_error(self) -> bool:
        return bool(self.property("error"))

    def error_text(self) -> str:
        return self.error_label.text().removeprefix("⚠ ")

    def set_selected(self, selected: bool) -> None:
        if self.property("selected") != selected:
            self.setProperty("selected", selected)
            repolish(self)
            self._show_buttons()

    # -- rename ------------------------------------------------------------------------
    def begin_rename(self) -> None:
        if self.rename_edit is not None:
            return
        edit = QLineEdit(self.layer_name)
        edit.setObjectName("renameEdit")
        edit.setToolTip("Enter to rename, Esc to cancel")
        edit.selectAll()
        self.rename_edit = edit
        header = self.layout().itemAt(0).layout()
        header.replaceWidget(self.name_label, edit)
        self.name_label.hide()
        edit.textEdited.connect(self._check_rename)
        edit.returnPressed.connect(self.commit_rename)
        edit.editingFinished.connect(self._rename_focus_lost)
        edit.installEventFilter(self)
        edit.setFocus()

    def _check_rename(self, text: str) -> None:
        message = self.stack.rename_problem(self.path, text.strip())
        set_error_state(self.rename_edit, message)
        self._on_local_problem(message)

    def commit_rename(self) -> bool:
        """Apply the typed name; an invalid one stays in the editor, red, with the reason."""
        if self.rename_edit is None:
            return False
        name = self.rename_edit.text().strip()
        if name == self.layer_name:
            self.cancel_rename()
            return True
        message = self.stack.rename_problem(self.path, name)
        if message:
            set_error_state(self.rename_edit, message)
            self._on_local_problem(message)
            return False
        self._end_rename()
        self.stack.rename_layer(self.path, name)  # rebuilds the cards
        return True

    def cancel_rename(self) -> None:
        self._end_rename()

    def _rename_focus_lost(self) -> None:
        # Leaving the editor commits; a name that cannot be used stays, red, with its
        # reason, until it is fixed or Esc cancels (never silently dropped).
        if self.rename_edit is not None and not self.rename_edit.hasFocus():
            self.commit_rename()

    def _end_rename(self) -> None:
        edit, self.rename_edit = self.rename_edit, None
        if edit is None:
            return
        header = self.layout().itemAt(0).layout()
        header.replaceWidget(edit, self.name_label)
        self.name_label.show()
        edit.hide()
        edit.deleteLater()
        self._on_local_problem("")

    def eventFilter(self, watched, event):  # noqa: N802 - Esc cancels an inline rename
        if watched is self.rename_edit and event.type() == event.Type.KeyPress and event.key() == Qt.Key.Key_Escape:
            self.cancel_rename()
            return True
        return super().eventFilter(watched, event)

    # -- mouse: select, drag, context menu ------------------------------------------------
    def mousePressEvent(self, event):  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_start = event.position().toPoint()
            self.stack.select(self.layer_name)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):  # noqa: N802
        if self._drag_start is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return
        if (event.position().toPoint() - self._drag_start).manhattanLength() < QApplication.startDragDistance():
            return
        self._drag_start = None
        data = QMimeData()
        data.setData(PATH_MIME, json.dumps(list(self.path)).encode())
        data.setText(self.layer_name)
        drag = QDrag(self)
        drag.setMimeData(data)
        drag.setPixmap(self.grab().scaledToWidth(min(320, self.width()), Qt.TransformationMode.SmoothTransformation))
        drag.setHotSpot(QPoint(20, 16))
        drag.exec(Qt.DropAction.MoveAction)

    def mouseReleaseEvent(self, event):  # noqa: N802
        self._drag_start = None
        super().mouseReleaseEvent(event)

    def contextMenuEvent(self, event):  # noqa: N802
        self.stack.select(self.layer_name)
        menu = self.build_context_menu()
        menu.exec(event.globalPos())

    def build_context_menu(self) -> QMenu:
        menu = QMenu(self)
        path = self.path
        insert = kinds_menu("Insert after", lambda kind: self.stack.add_layer(kind, path[:-1], path[-1] + 1), menu)
        menu.addMenu(insert)
        if self.kind.container:
            inside = kinds_menu("Add inside", lambda kind: self.stack.add_layer(kind, path, None), menu)
            inside.setObjectName("addInsideMenu")
            menu.addMenu(inside)
        menu.addSeparator()
        menu.addAction("Rename…\tF2", self.begin_rename)
        menu.addAction("Duplicate\tCtrl+D", lambda: self.stack.duplicate_layer(path))
        menu.addAction("Move up\tAlt+Up", lambda: self.stack.move_layer_by(path, -1))
        menu.addAction("Move down\tAlt+Down", lambda: self.stack.move_layer_by(path, +1))
        menu.addSeparator()
        menu.addAction("Delete\tDel", lambda: self.stack.remove_layer(path))
        return menu
