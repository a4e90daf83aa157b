"""Parameter editors generated from the catalogue's ``ParamDecl``s.

bool → check box; everything else (int, float, size, shape, optional) → a
``ValidatedField`` that reads "5", "2, 3", "1e-5", or empty for "the default"
(optional), checks the declared range, and applies the value when committed
(Enter, or leaving the field). int fields step with the arrows, within range.

Every editor has the same small interface: ``set_value(value)`` (no signal),
``valueCommitted(object)`` when the user commits a new readable value, and
``problemChanged(str)`` with a one-line reason while the text cannot be used
("" once it can again). The editor's objectName is ``param_<name>``.
"""
from __future__ import annotations

from functools import partial

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QCheckBox, QLineEdit, QSizePolicy, QWidget

from gradviz.core import text_values
from gradviz.core.layers import BOOL, FLOAT, INT, SHAPE, SIZE, ParamDecl
from gradviz.ui.theme import repolish
from gradviz.ui.validated_field import ValidatedField


def _tooltip(decl: ParamDecl) -> str:
    parts = [f"<b>{decl.name}</b> — {decl.help}"]
    if decl.min is not None or decl.max is not None:
        low = "−∞" if decl.min is None else f"{decl.min:g}"
        high = "∞" if decl.max is None else f"{decl.max:g}"
        parts.append(f"allowed: {low} … {high}")
    if decl.type == SIZE:
        parts.append("one number (5) or one per dimension (2, 3)")
    if decl.optional:
        parts.append("leave empty for the default")
    if decl.default is not None:
        parts.append(f"default: {text_values.format_value(decl.default)}")
    return "<br>".join(parts)


def set_error_state(widget: QWidget, message: str) -> None:
    """Red border + tooltip on an editor (``message`` empty clears it)."""
    if isinstance(widget, ValidatedField):  # keeps its own problem with the text, adds this one
        widget.set_outside_error(message)
        return
    has_error = bool(message)
    if widget.property("error") != has_error:
        widget.setProperty("error", has_error)
        repolish(widget)
    base = widget.property("baseToolTip") or ""
    widget.setToolTip(f"{message}<hr>{base}" if has_error else base)


class DocumentUndoFilter(QObject):
    """Lets Ctrl+Z / Ctrl+Shift+Z reach the document's undo even while a text field has
    focus: committed values are document edits, so the field's private undo would only confuse."""

    def eventFilter(self, watched, event):  # noqa: N802
        if event.type() == QEvent.Type.ShortcutOverride and (
            event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo)
            or (event.key() == Qt.Key.Key_Y and event.modifiers() == Qt.KeyboardModifier.ControlModifier)
        ):
            event.ignore()
            return True
        return False


UNDO_FILTER: DocumentUndoFilter | None = None


def route_undo_to_document(widget: QWidget) -> None:
    global UNDO_FILTER
    if UNDO_FILTER is None:
        UNDO_FILTER = DocumentUndoFilter()
    widget.installEventFilter(UNDO_FILTER)
    for child in widget.findChildren(QLineEdit):  # spin boxes type into an inner line edit
        child.installEventFilter(UNDO_FILTER)


class BoolEditor(QCheckBox):
    valueCommitted = Signal(object)
    problemChanged = Signal(str)  # never: a check box is always readable

    def __init__(self, decl: ParamDecl, parent: QWidget | None = None):
        super().__init__(decl.name, parent)
        self.decl = decl
        self.toggled.connect(lambda on: self.valueCommitted.emit(bool(on)))

    def set_value(self, value) -> None:
        self.blockSignals(True)
        self.setChecked(bool(value))
        self.blockSignals(False)


def make_editor(decl: ParamDecl, parent: QWidget | None = None) -> QWidget:
    if decl.type == BOOL:
        editor: QWidget = BoolEditor(decl, parent)
        editor.setObjectName(f"param_{decl.name}")
    elif decl.type in (FLOAT, SIZE, SHAPE, INT):
        step = partial(text_values.step_int, decl) if decl.type == INT else None
        editor = ValidatedField(f"param_{decl.name}", partial(text_values.parse_param, decl), decl.default, step=step, parent=parent)
        editor.decl = decl
        if decl.optional:
            editor.lineEdit().setPlaceholderText("default")
        # Expanding, so the editor columns of a card line up.
        editor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    else:  # pragma: no cover - a catalogue type the UI does not know yet
        raise ValueError(f"no editor for parameter type {decl.type!r}")
    editor.setProperty("baseToolTip", _tooltip(decl))
    editor.setToolTip(_tooltip(decl))
    route_undo_to_document(editor)
    return editor
