"""Parameter editors generated from the catalogue's ``ParamDecl``s.

int → spin box with the declared range; float → line edit (spin boxes cannot
show 1e-5 and 0.5 with the same decimals); bool → check box; size/shape →
line edit accepting "5" or "2, 3"; optional → empty means None.

Every editor has the same small interface: ``set_value(value)`` (no signal),
``valueEdited(object)`` when the user changes it to a readable value, and
``problem(str)`` with a readable message while the text cannot be read ("" once
it can again). The editor's objectName is ``param_<name>``.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QCheckBox, QLineEdit, QSizePolicy, QSpinBox, QWidget

from gradviz.core.layers import BOOL, FLOAT, INT, SHAPE, SIZE, ParamDecl
from gradviz.ui.builder import text_values
from gradviz.ui.theme import repolish

_INT32 = 2**31 - 1


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
    has_error = bool(message)
    if widget.property("error") != has_error:
        widget.setProperty("error", has_error)
        repolish(widget)
    base = widget.property("baseToolTip") or ""
    widget.setToolTip(f"{message}<hr>{base}" if has_error else base)


class DocumentUndoFilter(QObject):
    """Lets Ctrl+Z / Ctrl+Shift+Z reach the document's undo even while a text field has
    focus: values apply live, so the field's private undo would only confuse."""

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


class IntEditor(QSpinBox):
    valueEdited = Signal(object)
    problem = Signal(str)

    def __init__(self, decl: ParamDecl, parent: QWidget | None = None):
        super().__init__(parent)
        self.decl = decl
        low = -_INT32 if decl.min is None else max(-_INT32, int(decl.min))
        high = _INT32 if decl.max is None else min(_INT32, int(decl.max))
        self.setRange(low, high)
        self.setAccelerated(True)
        # Expanding like the line edits, so the editor columns of a card line up.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        # Scrolling the layer stack must not change values under the mouse.
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.valueChanged.connect(lambda v: self.valueEdited.emit(int(v)))

    def set_value(self, value) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and value != self.value():
            self.blockSignals(True)
            self.setValue(value)
            self.blockSignals(False)

    def wheelEvent(self, event):  # noqa: N802 - Qt override
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class BoolEditor(QCheckBox):
    valueEdited = Signal(object)
    problem = Signal(str)

    def __init__(self, decl: ParamDecl, parent: QWidget | None = None):
        super().__init__(decl.name, parent)
        self.decl = decl
        self.toggled.connect(lambda on: self.valueEdited.emit(bool(on)))

    def set_value(self, value) -> None:
        self.blockSignals(True)
        self.setChecked(bool(value))
        self.blockSignals(False)


class TextEditor(QLineEdit):
    """float, size, shape and optional values: typed as text, parsed on every keystroke."""

    valueEdited = Signal(object)
    problem = Signal(str)

    def __init__(self, decl: ParamDecl, parent: QWidget | None = None):
        super().__init__(parent)
        self.decl = decl
        self._value = decl.default
        self._problem = ""
        if decl.optional:
            self.setPlaceholderText("default")
        self.textEdited.connect(self._on_text)
        self.editingFinished.connect(self._on_finished)

    def parse(self, text: str):
        decl = self.decl
        if decl.type == FLOAT:
            return text_values.parse_float(text, decl.name, optional=decl.optional)
        if decl.type == SHAPE:
            return text_values.parse_shape(text, decl.name, optional=decl.optional)
        if decl.type == INT:
            if not text.strip() and decl.optional:
                return None
            numbers = text_values.parse_int_list(text, decl.name)
            if len(numbers) != 1:
                raise ValueError(f"{decl.name}: one whole number expected, got {text.strip()!r}")
            return numbers[0]
        return text_values.parse_size(text, decl.name, optional=decl.optional)

    def set_value(self, value) -> None:
        self._value = value
        try:
            unchanged = self.parse(self.text()) == value
        except ValueError:
            unchanged = False
        # While the user types "2,3" do not reformat it to "2, 3" under the cursor.
        if not (unchanged and self.hasFocus()):
            self.setText(text_values.format_value(value))
        self._set_problem("")

    def _on_text(self, text: str) -> None:
        try:
            value = self.parse(text)
        except ValueError as exc:
            self._set_problem(str(exc))
            return
        self._set_problem("")
        self._value = value
        self.valueEdited.emit(value)

    def _on_finished(self) -> None:
        if self._problem:  # leaving a field with unreadable text: show the value in force again
            self.setText(text_values.format_value(self._value))
            self._set_problem("")

    def _set_problem(self, message: str) -> None:
        if message != self._problem:
            self._problem = message
            self.problem.emit(message)


def make_editor(decl: ParamDecl, parent: QWidget | None = None) -> QWidget:
    if decl.type == BOOL:
        editor: QWidget = BoolEditor(decl, parent)
    elif decl.type == INT and not decl.optional:
        editor = IntEditor(decl, parent)
    elif decl.type in (FLOAT, SIZE, SHAPE, INT):
        editor = TextEditor(decl, parent)
    else:  # pragma: no cover - a catalogue type the UI does not know yet
        raise ValueError(f"no editor for parameter type {decl.type!r}")
    editor.setObjectName(f"param_{decl.name}")
    editor.setProperty("baseToolTip", _tooltip(decl))
    editor.setToolTip(_tooltip(decl))
    editor.problem.connect(lambda message, e=editor: set_error_state(e, message))
    route_undo_to_document(editor)
    return editor
