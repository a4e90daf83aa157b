"""Readable error dialogs, and the global hook that turns crashes into them.

An exception nobody caught (in a slot, an event handler, a thread) must never
take a lecture down: ``install_excepthook`` routes it to a non-modal dialog with
a one-line summary and expandable details, lets registered callbacks autosave
first, and the app keeps running. Expected problems (a corrupt project file)
use ``show_error`` with the same dialog, minus the "unexpected" wording.

Dialogs are shown with ``show()``, never ``exec()``: nothing blocks, so tests
(and a lecture) never hang on a forgotten modal box.
"""
from __future__ import annotations

import sys
import threading
import traceback
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QApplication, QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QStyle, QVBoxLayout, QWidget,
)

from gradviz.ui.on_screen import keep_on_screen

_DETAILS_LIMIT = 200_000  # characters kept in the details box; a runaway loop must not eat memory


class ErrorDialog(QDialog):
    """Summary, reassurance, and the traceback behind a "Show details" toggle."""

    def __init__(self, parent: QWidget | None, title: str, summary: str, details: str = "", *, unexpected: bool = False):
        super().__init__(parent)
        self.setObjectName("errorDialog")
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setModal(False)
        self.unexpected = unexpected
        self.count = 1

        icon = QLabel()
        kind = QStyle.StandardPixmap.SP_MessageBoxCritical if unexpected else QStyle.StandardPixmap.SP_MessageBoxWarning
        icon.setPixmap(self.style().standardIcon(kind).pixmap(40, 40))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)

        self.summary_label = QLabel(summary)
        self.summary_label.setObjectName("errorSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label.setProperty("role", "sectionTitle")
        text_column = QVBoxLayout()
        text_column.addWidget(self.summary_label)
        if unexpected:
            reassurance = QLabel(
                "Your work is safe: the network stays open and was autosaved. You can keep working.\n"
                "If this keeps happening, copy the details into a bug report."
            )
            reassurance.setWordWrap(True)
            reassurance.setProperty("role", "muted")
            text_column.addWidget(reassurance)
        self.count_label = QLabel()
        self.count_label.setObjectName("errorCount")
        self.count_label.setProperty("role", "muted")
        self.count_label.hide()
        text_column.addWidget(self.count_label)

        top = QHBoxLayout()
        top.addWidget(icon)
        top.addLayout(text_column, 1)

        self.details = QPlainTextEdit(details)
        self.details.setObjectName("errorDetails")
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setMinimumHeight(180)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.details.hide()

        self.details_button = QPushButton("Show details")
        self.details_button.setObjectName("errorDetailsButton")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._toggle_details)
        self.details_button.setVisible(bool(details))
        copy_button = QPushButton("Copy details")
        copy_button.setObjectName("errorCopyButton")
        copy_button.clicked.connect(self.copy_details)
        copy_button.setVisible(bool(details))
        close_button = QPushButton("Close")
        close_button.setObjectName("errorCloseButton")
        close_button.setDefault(True)
        close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.details_button)
        buttons.addWidget(copy_button)
        buttons.addStretch(1)
        buttons.addWidget(close_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details, 1)
        layout.addLayout(buttons)
        self.setMinimumWidth(520)

    def summary(self) -> str:
        return self.summary_label.text()

    def add_occurrence(self, summary: str, details: str) -> None:
        """Another error while this dialog is open: count it instead of stacking windows."""
        self.count += 1
        self.summary_label.setText(summary)
        self.count_label.setText(f"{self.count} errors so far; the latest is shown first in the details.")
        self.count_label.show()
        text = details + "\n" + "─" * 60 + "\n" + self.details.toPlainText()
        self.details.setPlainText(text[:_DETAILS_LIMIT])
        self.details_button.show()

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(f"{self.summary()}\n\n{self.details.toPlainText()}")

    def _toggle_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setText("Hide details" if shown else "Show details")
        self.adjustSize()
        keep_on_screen(self)  # grown downwards, its buttons stay on the screen

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        keep_on_screen(self)


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> ErrorDialog:
    """Show an expected problem (bad file, bad input) without blocking."""
    dialog = ErrorDialog(parent, title, message, details)
    _state["last"] = dialog
    dialog.show()
    dialog.raise_()
    return dialog


def last_dialog() -> ErrorDialog | None:
    """The most recent error dialog still open (tests, and the hook's de-duplication)."""
    dialog = _state.get("last")
    try:
        if dialog is not None and dialog.isVisible():
            return dialog
    except RuntimeError:  # deleted on close
        pass
    return None


# -- the global hook ----------------------------------------------------------------

class _Relay(QObject):
    """Carries exceptions from other threads to the GUI thread (widgets live there)."""

    reported = Signal(str, str)

    @Slot(str, str)
    def show(self, summary: str, details: str) -> None:
        _show_unexpected(summary, details)


_state: dict = {"parent": None, "callbacks": [], "busy": False, "relay": None, "last": None, "unexpected": None}


def summary_of(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def report_exception(exc_type, exc, tb) -> None:
    """What the hook does; callable directly (tests, background-task failures)."""
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    try:
        sys.stderr.write(details)  # developers running from a terminal still see the traceback
    except Exception:  # noqa: BLE001 - no stderr (pythonw): the dialog is enough
        pass
    for callback in list(_state["callbacks"]):
        try:
            callback()  # e.g. autosave the project before anything else can go wrong
        except Exception:  # noqa: BLE001 - a failing autosave must not hide the original error
            traceback.print_exc()
    summary = f"Unexpected error — {summary_of(exc)}"
    app = QApplication.instance()
    if app is None:
        return
    # Widgets may only be touched from the GUI (main) thread; elsewhere, queue it there.
    if threading.current_thread() is threading.main_thread():
        _show_unexpected(summary, details)
    elif _state["relay"] is not None:
        _state["relay"].reported.emit(summary, details)  # queued to the GUI thread


def _show_unexpected(summary: str, details: str) -> None:
    if _state["busy"]:  # the dialog itself failed: do not recurse
        return
    _state["busy"] = True
    try:
        existing = _state.get("unexpected")
        try:
            if existing is not None and existing.isVisible():
                existing.add_occurrence(summary, details)
                return
        except RuntimeError:  # the old dialog was deleted
            pass
        parent_getter = _state["parent"]
        parent = parent_getter() if callable(parent_getter) else None
        dialog = ErrorDialog(parent, "gradviz — unexpected error", summary, details, unexpected=True)
        _state["unexpected"] = _state["last"] = dialog
        dialog.show()
        dialog.raise_()
    except Exception:  # noqa: BLE001 - last resort: at least the terminal shows it
        traceback.print_exc()
    finally:
        _state["busy"] = False


def _excepthook(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    report_exception(exc_type, exc, tb)


def _thread_excepthook(args) -> None:
    if args.exc_type is SystemExit:
        return
    report_exception(args.exc_type, args.exc_value, args.exc_traceback)


def install_excepthook(parent: Callable[[], QWidget | None] | None = None, on_error: Callable[[], None] | None = None) -> Callable[[], None]:
    """Route uncaught exceptions (Python and Qt slots, any thread) to an error dialog.

    ``parent`` returns the widget to centre the dialog on; ``on_error`` runs
    before the dialog (autosave). Returns a function that restores the previous hooks.
    """
    previous_hook, previous_thread_hook = sys.excepthook, threading.excepthook
    if _state["relay"] is None and QApplication.instance() is not None:
        relay = _Relay()
        relay.reported.connect(relay.show, Qt.ConnectionType.QueuedConnection)
        _state["relay"] = relay
    _state["parent"] = parent
    if on_error is not None:
        _state["callbacks"].append(on_error)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook

    def uninstall() -> None:
        sys.excepthook, threading.excepthook = previous_hook, previous_thread_hook
        if on_error in _state["callbacks"]:
            _state["callbacks"].remove(on_error)
        _state["parent"] = None

    return uninstall
