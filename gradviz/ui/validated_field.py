"""One text field for every typed value (lr, input shape, layer parameters, dialog fields).

A value is applied when it is *committed* (Enter, or focus leaving the field),
never on a keystroke. Text that cannot be read stays as typed, marked red
(property ``error``), with a one-line reason in ``problem`` and in
``problem_label`` (placed by the owner, under or beside the field); the last
valid value stays in force until the text is fixed. Esc puts the value in force
back. Nothing is rounded or clamped: the parse function either returns the
value the text says or raises ``ValueError`` with the reason (parsing lives in
``gradviz.core.text_values``, without Qt).

Built on ``QAbstractSpinBox`` rather than ``QSpinBox``/``QDoubleSpinBox``: those
clamp to their range and revert unreadable text on focus-out, by design. Here
the arrows (and Up/Down, the wheel while focused) exist only when a ``step``
function is given, and each step is a commit.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, Signal
from PySide6.QtWidgets import QAbstractSpinBox, QLabel, QWidget

from gradviz.core.text_values import format_value
from gradviz.ui.theme import repolish

Parse = Callable[[str], Any]
Step = Callable[[Any, int], Any]


class ValidatedField(QAbstractSpinBox):
    """See the module docstring.

    valueCommitted(object): the user committed a new, valid value (or ``setValue`` set one).
    problemChanged(str): why the typed text cannot be used; "" once it can.
    """

    valueCommitted = Signal(object)
    problemChanged = Signal(str)

    def __init__(self, name: str, parse: Parse, value: Any = None, *, format: Callable[[Any], str] = format_value,
                 step: Step | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(name)
        self._parse = parse
        self._format = format
        self._step = step
        self._value = value
        self._problem = ""
        self._outside_error = ""
        self.problem_label = QLabel()
        self.problem_label.setObjectName(f"{name}Problem")
        self.problem_label.setProperty("role", "errorText")
        self.problem_label.setWordWrap(True)
        self.problem_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem_label.hide()
        # Arrows only with a step function. Hidden by the theme (``arrows`` false), not by
        # NoButtons: with a style sheet, NoButtons leaves the text field 1 px wide.
        self.setProperty("arrows", step is not None)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel over a scrolled panel must not change values
        self.setKeyboardTracking(False)
        self.lineEdit().setText(self._format(value))
        self.editingFinished.connect(self.commit)

    # -- the value in force -----------------------------------------------------------------
    def value(self) -> Any:
        """The last committed valid value (not what is typed, while that is unreadable)."""
        return self._value

    def setValue(self, value: Any) -> None:  # noqa: N802 - like QSpinBox.setValue: announces a change
        """Show and commit ``value`` (scripts, tests, the arrows)."""
        self.lineEdit().setText(self._format(value))
        self.commit()

    def set_value(self, value: Any) -> None:
        """Show ``value`` from the model, without a signal. Text the user is working on stays
        while the value in force is unchanged; a different value (undo, open) replaces it."""
        if value == self._value and (self._problem or self.lineEdit().isModified()):
            return
        self._value = value
        self.lineEdit().setText(self._format(value))
        self.lineEdit().setModified(False)
        self._set_problem("")

    def text_value(self) -> Any:
        """What the text says now, or ``ValueError`` with the reason (does not commit)."""
        return self._parse(self.lineEdit().text())

    @property
    def problem(self) -> str:
        return self._problem

    @property
    def pending(self) -> bool:
        """Typed but not committed yet."""
        return self.lineEdit().isModified()

    def commit(self) -> bool:
        """Apply the text: a valid value becomes the value in force (``valueCommitted`` if it
        changed); invalid text stays, marked, and nothing else changes. True when valid."""
        try:
            value = self._parse(self.lineEdit().text())
        except ValueError as exc:
            self._set_problem(str(exc).splitlines()[0] if str(exc) else "invalid value")
            return False
        self.lineEdit().setModified(False)
        self._set_problem("")
        changed = value != self._value
        self._value = value
        formatted = self._format(value)
        if self.lineEdit().text() != formatted:
            self.lineEdit().setText(formatted)  # the same value, written the usual way ("2,3" → "2, 3")
        if changed:
            self.valueCommitted.emit(value)
        return True

    def revert(self) -> None:
        """Show the value in force again (Esc)."""
        self.lineEdit().setText(self._format(self._value))
        self.lineEdit().setModified(False)
        self._set_problem("")

    # -- marks --------------------------------------------------------------------------------
    def set_outside_error(self, message: str) -> None:
        """A valid value that something else rejects (e.g. the network's shapes): marked red too."""
        self._outside_error = message
        self._show_marks()

    def _set_problem(self, message: str) -> None:
        if message != self._problem:
            self._problem = message
            self._show_marks()
            self.problemChanged.emit(message)

    def _show_marks(self) -> None:
        message = self._problem or self._outside_error
        if self.property("error") != bool(message):
            self.setProperty("error", bool(message))
            repolish(self)
        base = self.property("baseToolTip") or ""
        self.setToolTip(f"{message}<hr>{base}" if message and base else (message or base))
        self.problem_label.setText(message)
        self.problem_label.setToolTip(message)
        self.problem_label.setVisible(bool(message))

    # -- keys, arrows, wheel ----------------------------------------------------------------------
    def keyPressEvent(self, event):  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape and (self._problem or self.pending):
            self.revert()
            event.accept()
            return
        super().keyPressEvent(event)

    def _stepped(self, steps: int):
        if self._step is None or self._value is None:
            return None
        return self._step(self._value, steps)

    def stepEnabled(self):  # noqa: N802 - Qt override
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self._stepped(1) is not None:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if self._stepped(-1) is not None:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt override: a step is a commit
        value = self._stepped(steps)
        if value is not None:
            self.setValue(value)

    def wheelEvent(self, event):  # noqa: N802 - only when focused, so scrolling a panel changes nothing
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class ProblemUnderField(QObject):
    """Shows a field's ``problem_label`` floating just under the field, over what is there.

    For fields in a toolbar: a label beside them would widen the toolbar and push the
    field itself into the overflow menu. Follows the field when the window is resized
    or the toolbar lays out again; hidden while the field is (e.g. in the overflow menu).
    """

    _EVENTS = (QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.Hide, QEvent.Type.LayoutRequest)

    def __init__(self, field: ValidatedField):
        super().__init__(field)
        self.field = field
        self._window: QWidget | None = None
        label = field.problem_label
        label.setWordWrap(False)
        label.setMargin(4)
        label.setAutoFillBackground(True)  # readable over whatever lies under the toolbar
        field.problemChanged.connect(self.place)
        field.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802 - Qt override
        if event.type() in self._EVENTS and self.field.problem:
            self.place()
        return False

    def place(self) -> None:
        field, label = self.field, self.field.problem_label
        window = field.window()
        if not field.problem or window is field or not field.isVisible():
            label.hide()
            return
        if window is not self._window:
            if self._window is not None:
                self._window.removeEventFilter(self)
            self._window = window
            label.setParent(window)
            window.installEventFilter(self)
        label.adjustSize()
        below = field.mapTo(window, QPoint(0, field.height() + 2))
        label.move(max(0, min(below.x(), window.width() - label.width())), below.y())
        label.show()
        label.raise_()
