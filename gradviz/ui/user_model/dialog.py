"""File → Open Model: the dialog that opens a model someone wrote.

The user picks a file (a ``.py`` file plus the class or factory to call and its
constructor arguments, a ``torch.export`` ``.pt2`` program, or a TorchScript
file), optional weights, the example inputs (shapes + dtype, or a Python
expression, or nothing when the file defines ``example_inputs()``), loss and
optimizer. Check runs everything once in the background and shows what came
out, or the user's own traceback; Open does the same and shows the model in
the window (:func:`gradviz.ui.user_model.opener.open_model_in_window`).

Opening a Python file runs its code. Before the first run of each file (per
path and modification time, remembered in QSettings) the dialog says so and
waits for the user to agree; until then nothing of that file runs, not even to
list its classes.

The dialog is shown with ``show()`` (never ``exec()``), so nothing blocks.
Errors (a bad file, an input shape the model's ``forward`` rejects) appear in
the dialog's status line, the user's own traceback lines in the details box.

Typed fields apply when committed (Enter, or leaving the field), like the
builder's: text that cannot be read stays, red, with a one-line reason under
it, and the last valid value stays in force. The status line wraps in a
scrolling area of its own, so a long error never squashes the form, and
reopening the dialog clears what the last attempt left there.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QKeySequence
from PySide6.QtWidgets import (
    QComboBox, QDialog, QFileDialog, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
    QPlainTextEdit, QPushButton, QScrollArea, QSizePolicy, QVBoxLayout, QWidget,
)

from gradviz.core.model_files import model_file_kind, runs_code
from gradviz.core.vocabulary import LOSSES, OPTIMIZERS
from gradviz.ui import settings, theme, trusted_files
from gradviz.ui.builder.controls import lr_field
from gradviz.ui.builder.param_editors import set_error_state
from gradviz.ui.errors import summary_of
from gradviz.ui.on_screen import keep_on_screen, screen_room, screen_width_room, width_in_lines
from gradviz.ui.validated_field import ValidatedField
from gradviz.ui.worker import LatestTask

# torch loads in the background after start-up: this module is imported when the
# window is built, so everything that needs torch is imported where it is used.
if TYPE_CHECKING:
    from gradviz.ui.host import WindowHost
    from gradviz.core.user_model import UserModelRequest, OpenedUserModel

__all__ = ["OpenModelDialog", "install_open_model", "show_open_model_dialog"]

MIN_WIDTH_PX = 620  # at 100 % text: the fields' hints whole
MIN_WIDTH_LINES = 36  # the same in lines of the dialog's text, for larger text sizes
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")
FILE_FILTER = "PyTorch models (*.py *.pt2 *.pt *.pth *.ts *.torchscript *.jit);;Python files (*.py);;All files (*)"
WEIGHTS_FILTER = "state_dict files (*.pt *.pth *.bin *.ckpt);;All files (*)"
TYPE_TEXT = {
    "python": "Python file: opening it runs its code",
    "export": "torch.export program (.pt2): checked first, refused if loading it could run code",
    "torchscript": "TorchScript file: running it runs its program",
}


def install_open_model(window: "WindowHost") -> None:
    """Add File → Open Model… (Ctrl+Shift+O) to ``window`` and make its model opener."""
    from PySide6.QtGui import QAction

    action = QAction("Open &Model…", window)
    action.setObjectName("actionOpenModel")
    action.setShortcut(QKeySequence("Ctrl+Shift+O"))
    action.setToolTip("Open a PyTorch model from a file (Ctrl+Shift+O)")
    action.setStatusTip("Open your own model (.py, torch.export .pt2, TorchScript) and step through its training")
    action.triggered.connect(lambda: show_open_model_dialog(window))
    window.addAction(action)  # the shortcut works while the menu bar is hidden (full screen)
    window.actions["actionOpenModel"] = action
    # Right after Open…, where people look for "open something".
    file_menu = window.menus["file"]
    entries = file_menu.actions()
    anchor = next((a for a in entries if a.objectName() == "actionOpen"), None)
    following = entries[entries.index(anchor) + 1] if anchor is not None and entries.index(anchor) + 1 < len(entries) else None
    if following is not None:
        file_menu.insertAction(following, action)
    else:
        file_menu.addAction(action)
    # Users' code may never return: the status bar offers to stop it (gradviz.ui.user_code).
    from gradviz.ui.user_code import install_stop_offer

    install_stop_offer(window)


def show_open_model_dialog(window) -> "OpenModelDialog":
    """Show the window's Open Model dialog (one per window: it remembers what was typed)."""
    dialog = getattr(window, "open_model_dialog", None)
    if dialog is None:
        dialog = window.open_model_dialog = OpenModelDialog(window)
    elif not dialog.isVisible():
        dialog.start_clean()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


def _row(*widgets: QWidget, stretch_first: bool = True) -> QHBoxLayout:
    layout = QHBoxLayout()
    layout.setContentsMargins(0, 0, 0, 0)
    for index, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if stretch_first and index == 0 else 0)
    return layout


class OpenModelDialog(QDialog):
    """See the module docstring. ``request()`` is what the fields say, as a ``UserModelRequest``."""

    def __init__(self, window):
        super().__init__(window)
        self.main_window = window
        self.setObjectName("openModelDialog")
        self.setWindowTitle("Open Model")
        self.setModal(False)
        self.setMinimumWidth(MIN_WIDTH_PX)
        self._scan = None  # FileScan of the current Python file, once it ran
        self._scan_job = LatestTask()  # listing the classes of the chosen file
        self._check_job = LatestTask()  # Check: running the model once
        self._checked: tuple[tuple, OpenedUserModel] | None = None  # (request key, result) of the last good Check
        self._applied_path: str | None = None  # the path text in force (applied on commit)
        self._build()
        self._apply_path()

    # -- widgets ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.path_edit = QLineEdit()
        self.path_edit.setObjectName("modelPathEdit")
        self.path_edit.setPlaceholderText("a .py file, a torch.export .pt2 program, or a TorchScript file")
        self.path_edit.editingFinished.connect(self._apply_path)
        browse = QPushButton("Browse…")
        browse.setObjectName("modelBrowseButton")
        browse.clicked.connect(self._browse_model)
        self.type_label = QLabel()
        self.type_label.setObjectName("modelTypeLabel")
        self.type_label.setProperty("role", "muted")
        self.type_label.setWordWrap(True)

        self.warning = QFrame()
        self.warning.setObjectName("codeWarning")
        self.warning.setFrameShape(QFrame.Shape.StyledPanel)
        colours = theme.colours()
        self.warning.setStyleSheet(
            f"QFrame#codeWarning {{ border: 2px solid {colours['error']}; border-radius: 6px; background: {colours['error_bg']}; }}"
        )
        self.warning_text = QLabel()
        self.warning_text.setObjectName("codeWarningText")
        self.warning_text.setWordWrap(True)
        self.trust_button = QPushButton("Run this file")
        self.trust_button.setObjectName("trustFileButton")
        self.trust_button.setToolTip("Remembered for this file until it changes")
        self.trust_button.clicked.connect(self.trust_current_file)
        warning_layout = QHBoxLayout(self.warning)
        warning_layout.addWidget(self.warning_text, 1)
        warning_layout.addWidget(self.trust_button, 0, Qt.AlignmentFlag.AlignVCenter)

        self.class_combo = QComboBox()
        self.class_combo.setObjectName("modelClassCombo")
        self.class_combo.setEditable(True)
        self.class_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.class_combo.lineEdit().setPlaceholderText("the last nn.Module class in the file")
        self.class_combo.setToolTip("An nn.Module class or a function that returns a module")
        self.args_edit = _text_field("modelArgsEdit", _check_arguments)
        self.args_edit.lineEdit().setPlaceholderText("e.g. num_classes=10, width=16 (Python literals)")
        self.weights_edit = QLineEdit()
        self.weights_edit.setObjectName("weightsPathEdit")
        self.weights_edit.setPlaceholderText("optional state_dict file")
        self.weights_edit.setToolTip("Read with torch.load(..., weights_only=True): a weights file cannot run code")
        weights_browse = QPushButton("Browse…")
        weights_browse.setObjectName("weightsBrowseButton")
        weights_browse.clicked.connect(self._browse_weights)

        model_box = QGroupBox("Model")
        model_form = QFormLayout(model_box)
        model_form.addRow("File", _row(self.path_edit, browse))
        model_form.addRow("", self.type_label)
        model_form.addRow("Class or factory", self.class_combo)
        model_form.addRow("Constructor arguments", self.args_edit)
        model_form.addRow(self.args_edit.problem_label)
        model_form.addRow("Weights", _row(self.weights_edit, weights_browse))

        self.shapes_edit = _text_field("inputShapesEdit", _check_shapes)
        self.shapes_edit.lineEdit().setPlaceholderText("batch first, one shape per forward argument: 2, 3, 32, 32; 2, 10")
        self.dtype_combo = QComboBox()
        self.dtype_combo.setObjectName("inputDtypeCombo")
        self.dtype_combo.addItems(DTYPES)
        self.dtype_combo.setToolTip("int64 for token ids (random ids in [0, 10)); floats are randn")
        self.expr_edit = _text_field("inputExprEdit", _check_expression)
        self.expr_edit.lineEdit().setPlaceholderText("or a Python expression, e.g. torch.randint(0, 100, (2, 16)) (runs as code)")
        self.inputs_hint = QLabel()
        self.inputs_hint.setObjectName("inputsHint")
        self.inputs_hint.setWordWrap(True)
        self.inputs_hint.setProperty("role", "muted")
        for edit in (self.shapes_edit, self.expr_edit):
            edit.valueCommitted.connect(self._update_inputs_hint)
        self.dtype_combo.currentTextChanged.connect(self._update_inputs_hint)

        inputs_box = QGroupBox("Example inputs (the batch of every step)")
        inputs_form = QFormLayout(inputs_box)
        inputs_form.addRow("Shapes", _row(self.shapes_edit, self.dtype_combo))
        inputs_form.addRow(self.shapes_edit.problem_label)
        inputs_form.addRow("Expression", self.expr_edit)
        inputs_form.addRow(self.expr_edit.problem_label)
        inputs_form.addRow("", self.inputs_hint)

        self.loss_combo = QComboBox()
        self.loss_combo.setObjectName("modelLossCombo")
        self.loss_combo.addItems(LOSSES)
        self.loss_combo.setToolTip(
            "Computed on the model's first floating-point output against random targets; cross entropy "
            "takes classes on the last dimension, (B, T, V) logits are flattened to (B·T, V)"
        )
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.setObjectName("modelOptimizerCombo")
        self.optimizer_combo.addItems(OPTIMIZERS)
        self.lr_spin = lr_field("modelLrSpin")  # the training toolbar's: 0.01, 1e-05 as typed, steps 1-2-5
        training_box = QGroupBox("Training")
        training_form = QFormLayout(training_box)
        training_form.addRow("Loss", self.loss_combo)
        training_form.addRow("Optimizer", self.optimizer_combo)
        training_form.addRow("Learning rate", self.lr_spin)
        training_form.addRow(self.lr_spin.problem_label)
        for box in (model_box, inputs_box, training_box):
            # The form keeps its rows' heights; a long status or the details take what is left.
            box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        self.status = QLabel()
        self.status.setObjectName("modelCheckStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_area = QScrollArea()
        self.status_area.setObjectName("modelCheckStatusArea")
        self.status_area.setWidget(self.status)
        self.status_area.setWidgetResizable(True)
        self.status_area.setFrameShape(QFrame.Shape.NoFrame)
        self.status_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        line = self.status.fontMetrics().lineSpacing()
        self.status_area.setMaximumHeight(4 * line + 8)  # a very long error scrolls here
        self.status_area.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.details_button = QPushButton("Show details")
        self.details_button.setObjectName("modelErrorDetailsButton")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._toggle_details)
        self.details_button.hide()
        self.details = QPlainTextEdit()
        self.details.setObjectName("modelErrorDetails")
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFont("DejaVu Sans Mono")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.details.setFont(mono)
        self.details.setMinimumHeight(160)
        self.details.hide()

        self.check_button = QPushButton("Check")
        self.check_button.setObjectName("checkModelButton")
        self.check_button.setToolTip("Load the model and run one forward pass and the loss, without opening it")
        self.check_button.clicked.connect(self.check)
        cancel = QPushButton("Cancel")
        cancel.setObjectName("cancelOpenModelButton")
        cancel.clicked.connect(self.close)
        self.open_button = QPushButton("Open")
        self.open_button.setObjectName("openModelButton")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(self.open_model)
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_button)
        buttons.addWidget(self.details_button)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.open_button)

        # Everything but the buttons scrolls when the screen is too short for it (lecture
        # text on a 720p screen): the dialog stays on the screen, Open and Cancel with it.
        form = QWidget()
        form_layout = QVBoxLayout(form)
        form_layout.setContentsMargins(0, 0, 0, 0)
        form_layout.addWidget(self.warning)  # above everything: nothing of the file runs before the user agrees
        form_layout.addWidget(model_box)
        form_layout.addWidget(inputs_box)
        form_layout.addWidget(training_box)
        form_layout.addWidget(self.status_area)
        form_layout.addWidget(self.details, 1)
        self.form_scroll = QScrollArea()
        self.form_scroll.setObjectName("openModelForm")
        self.form_scroll.setWidget(form)
        self.form_scroll.setWidgetResizable(True)
        self.form_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form_scroll, 1)
        layout.addLayout(buttons)

    # -- what the fields say -----------------------------------------------------------------------
    def path(self) -> Path | None:
        text = self.path_edit.text().strip()
        return Path(text).expanduser() if text else None

    def request(self) -> UserModelRequest:
        """The fields as a request; a ``ModelLoadError`` names a field that cannot work."""
        from gradviz.core.user_model_loader import ModelLoadError
        from gradviz.core.user_model import UserModelRequest

        path = self.path()
        if path is None:
            raise ModelLoadError("choose a model file first")
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such file")
        python = model_file_kind(path) == "python"
        return UserModelRequest(
            path=path,
            name=(self.class_combo.currentText().strip() or None) if python else None,
            args=self.args_edit.value() if python else "",
            weights=self.weights_edit.text().strip() or None,
            input_shapes=self.shapes_edit.value(),
            dtype=self.dtype_combo.currentText(),
            input_expression=self.expr_edit.value(),
            loss=self.loss_combo.currentText(),
            optimizer=self.optimizer_combo.currentText(),
            lr=self.lr_spin.value(),
        )

    def set_request(self, request: UserModelRequest) -> None:
        """Fill the fields (scripts, tests, and reopening what was opened last)."""
        self.choose_path(request.path)
        self.class_combo.setEditText(request.name or "")
        self.args_edit.setValue(request.args or "")
        self.weights_edit.setText(str(request.weights or ""))
        self.shapes_edit.setValue(request.input_shapes or "")
        self.dtype_combo.setCurrentText(request.dtype or "float32")
        self.expr_edit.setValue(request.input_expression or "")
        self.loss_combo.setCurrentText(request.loss)
        self.optimizer_combo.setCurrentText(request.optimizer)
        self.lr_spin.setValue(request.lr)

    def needs_trust(self) -> bool:
        """True while the chosen file is code (Python, TorchScript) the user has not agreed to run (in this version)."""
        path = self.path()
        return path is not None and path.is_file() and runs_code(path) and not trusted_files.is_trusted(path)

    # -- file choice and the code warning -------------------------------------------------------------
    def _browse_model(self) -> None:
        start = str(self.path() or settings.last_directory())
        path, _ = QFileDialog.getOpenFileName(self, "Open Model", start, FILE_FILTER)
        if path:
            settings.remember_directory(path)
            self.choose_path(path)

    def _browse_weights(self) -> None:
        start = self.weights_edit.text().strip() or str(self.path() or settings.last_directory())
        path, _ = QFileDialog.getOpenFileName(self, "Weights (state_dict)", start, WEIGHTS_FILTER)
        if path:
            self.weights_edit.setText(path)

    def choose_path(self, path) -> None:
        """Make ``path`` the model file (Browse, scripts, tests): as if typed and committed."""
        self.path_edit.setText(str(path) if path else "")
        self._apply_path()

    def _apply_path(self) -> None:
        text = self.path_edit.text().strip()
        if text != self._applied_path:
            self._applied_path = text
            self._on_path_changed()

    def start_clean(self) -> None:
        """Reopened: what was typed and applied stays; the last attempt's error, red text and
        uncommitted typing go."""
        self.path_edit.setText(self._applied_path or "")
        for field in (self.args_edit, self.shapes_edit, self.expr_edit, self.lr_spin):
            field.revert()
        self._set_status("")
        self._update_trust()

    def _on_path_changed(self) -> None:
        self._scan = None
        self._scan_job.forget()  # a running scan of the previous file is ignored when it ends
        self._checked = None
        self.class_combo.clear()
        path = self.path()
        kind = model_file_kind(path) if path is not None else None
        problem = ""
        if path is None:
            self.type_label.setText("")
        elif not path.is_file():
            problem = f"No such file: {path}"
        elif kind is None:
            problem = f"Unknown model file type {path.suffix or '(no suffix)'!r}: use .py, .pt2 or a TorchScript file"
        else:
            self.type_label.setText(TYPE_TEXT[kind])
        if problem:
            self.type_label.setText(problem)
        self.type_label.setProperty("role", "errorText" if problem else "muted")
        theme.repolish(self.type_label)
        set_error_state(self.path_edit, problem)
        python = kind == "python"
        self.class_combo.setEnabled(python)
        self.args_edit.setEnabled(python)
        self._set_status("")
        self._update_trust()
        if python and path.is_file() and not self.needs_trust():
            self._scan_file(path)
        self._update_inputs_hint()

    def _update_trust(self) -> None:
        needs = self.needs_trust()
        if self.warning.isHidden() == needs:  # isHidden, not isVisible: right before the dialog is shown too
            self.warning.setVisible(needs)
            self._fit_height()
        if needs and model_file_kind(self.path()) == "torchscript":
            self.warning_text.setText(
                f"<b>{self.path().name} is a TorchScript program</b>: running it can read and write files on this "
                "computer with your permissions. Only continue if you trust this file."
            )
        elif needs:
            self.warning_text.setText(
                f"<b>Opening {self.path().name} runs its code</b> on this computer, with your permissions, just like "
                f"<code>python {self.path().name}</code> would. Only continue if you trust this file."
            )
        self.class_combo.setEnabled(model_file_kind(self.path() or "") == "python" and not needs)
        self._update_buttons()

    def trust_current_file(self) -> None:
        """The user agreed to run the chosen Python file: remember it and list its models."""
        path = self.path()
        if path is None or not path.is_file():
            return
        trusted_files.trust(path)
        self._update_trust()
        if model_file_kind(path) == "python":
            self._scan_file(path)

    def _scan_file(self, path: Path) -> None:
        """Run the file in the worker and fill the class combo with what it defines."""
        self._set_status(f"Reading {path.name}…")

        def done(scan):
            self._scan = scan
            typed = self.class_combo.currentText().strip()
            self.class_combo.clear()
            self.class_combo.addItems(scan.candidates)
            self.class_combo.setEditText(typed if typed else (scan.default or ""))
            found = ", ".join(scan.candidates) or "nothing that builds a model"
            self._set_status(f"{path.name} defines: {found}")
            self._update_inputs_hint()
            self._update_buttons()

        def failed(exc, details):
            self._show_error(exc, details)
            self._update_buttons()

        def work(_task):
            from gradviz.core.user_model_loader import scan_python_file

            return scan_python_file(path)

        self._scan_job.start(work, on_done=done, on_error=failed, cancel_previous=False)
        self._update_buttons()

    def _update_inputs_hint(self) -> None:
        """Say which inputs will be used (the committed, valid values: a typo is the field's to show)."""
        expression, shapes = self.expr_edit.value(), self.shapes_edit.value()
        error = False
        if expression:
            text = "Inputs: the expression" + (" (it wins over the shapes)" if shapes else "")
        elif shapes:
            from gradviz.core.user_model_loader import parse_shapes

            parsed = parse_shapes(shapes)
            text = "Inputs: " + ", ".join(str(shape) for shape in parsed) + f" {self.dtype_combo.currentText()}"
        elif self._scan is not None and self._scan.has_example_inputs:
            text = "Inputs: example_inputs() from the file (type shapes to override)"
        else:
            text = "Give the input shape(s), or an expression; a .py file may define example_inputs() instead"
        self.inputs_hint.setText(text)
        self.inputs_hint.setProperty("role", "errorText" if error else "muted")
        self.inputs_hint.style().unpolish(self.inputs_hint)
        self.inputs_hint.style().polish(self.inputs_hint)
        self._checked = None

    def _update_buttons(self) -> None:
        path = self.path()
        ready = path is not None and path.is_file() and model_file_kind(path) is not None and not self.needs_trust()
        opener = getattr(self.main_window, "model_opener", None)
        running = self._check_job.busy or (opener is not None and opener.busy)
        self.check_button.setEnabled(ready and not running)
        self.open_button.setEnabled(ready and not running)

    # -- check and open ---------------------------------------------------------------------------------
    def _valid_request(self) -> UserModelRequest | None:
        from gradviz.core.user_model_loader import ModelLoadError

        if self.needs_trust():
            self._set_status("Agree to run this Python file first (the button in the warning above)", error=True)
            return None
        self._apply_path()
        for field in (self.args_edit, self.shapes_edit, self.expr_edit, self.lr_spin):
            if not field.commit():
                self._set_status(f"✗ Fix the red field first: {field.problem}", error=True)
                return None
        try:
            return self.request()
        except ModelLoadError as exc:
            self._show_error(exc, "")
            return None

    def check(self) -> None:
        """Load and run the model once in the background; show what came out, or the error."""
        request = self._valid_request()
        if request is None:
            return
        key = _request_key(request)
        self._set_status(f"Checking {request.display_name}: running your code…")

        def done(opened):
            self._checked = (key, opened)
            self._set_status(_summary(opened), ok=True)
            self._update_buttons()

        def failed(exc, details):
            self._show_error(exc, details)
            self._update_buttons()

        def work(t):
            from gradviz.core.user_model import open_user_model

            return open_user_model(request, progress=t.report)

        self._check_job.start(
            work, on_done=done, on_error=failed, cancel_previous=False,
            on_progress=lambda f, m: m and self._set_status(f"Checking: {m}…"),
        )
        self._update_buttons()

    def open_model(self) -> None:
        """Open the model in the window: reuse a fresh Check, else load it in the background."""
        request = self._valid_request()
        if request is None:
            return
        from gradviz.ui.user_model.opener import model_opener, open_model_in_window

        opener = model_opener(self.main_window)
        if self._checked is not None and self._checked[0] == _request_key(request):
            opened = self._checked[1]
            self._checked = None  # a session is used by one window state only
            opener.show(opened)
            self.close()
            return
        self._set_status(f"Opening {request.display_name}: running your code…")

        def opened(_result):
            self._set_status("")
            self._update_buttons()
            self.close()

        def failed(exc, details):
            self._show_error(exc, details)
            self._update_buttons()

        open_model_in_window(self.main_window, request, on_opened=opened, on_failed=failed)
        self._update_buttons()

    # -- status line and details ----------------------------------------------------------------------------
    def _set_status(self, text: str, *, ok: bool = False, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("role", "validity")
        self.status.setProperty("ok", "true" if ok else ("false" if error else ""))
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        if not error:
            self.details_button.hide()
            self.details_button.setChecked(False)
            self.details.clear()

    def _show_error(self, exc: BaseException, details: str) -> None:
        from gradviz.core.user_model_loader import ModelLoadError

        message = str(exc) if isinstance(exc, ModelLoadError) else summary_of(exc)
        trace = getattr(exc, "user_traceback", "") or ("" if isinstance(exc, ModelLoadError) else details)
        self._set_status(f"✗ {message}", error=True)
        self.details.setPlainText(trace)
        self.details_button.setVisible(bool(trace))
        if trace:  # the user's own lines are the point: show them right away
            self.details_button.setChecked(True)

    def _toggle_details(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setText("Hide details" if shown else "Show details")
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow (or shrink) to what is shown, keeping the width the user gave the dialog,
        at most the screen's room (the form scrolls), and stay on the screen."""
        layout = self.layout()
        margins = layout.contentsMargins()
        form = self.form_scroll.widget().sizeHint().height() + 2 * self.form_scroll.frameWidth()
        wanted = form + layout.spacing() + layout.itemAt(1).sizeHint().height() + margins.top() + margins.bottom()
        # as wide for its text at lecture sizes as at 100 % (the fields' hints were cut)
        room = screen_width_room(self)
        least = width_in_lines(self, MIN_WIDTH_LINES)
        self.setMinimumWidth(max(MIN_WIDTH_PX, least))
        width = min(max(self.width(), self.sizeHint().width(), least), room)
        self.resize(width, min(wanted, screen_room(self.main_window)))
        if self.isVisible():
            keep_on_screen(self)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self._fit_height()
        keep_on_screen(self)

    def error_text(self) -> str:
        """The status line when it reports a problem, else "" (tests, accessibility)."""
        return self.status.text() if self.status.property("ok") == "false" else ""


def _text_field(name: str, check) -> ValidatedField:
    """A text field whose value is its stripped text, once ``check`` (which raises) accepts it."""
    def parse(text: str) -> str:
        cleaned = text.strip()
        if cleaned:
            check(cleaned)
        return cleaned

    return ValidatedField(name, parse, "", format=str)


def _check_arguments(text: str) -> None:
    from gradviz.core.user_model_loader import ModelLoadError, parse_call_arguments

    try:
        parse_call_arguments(text)
    except ModelLoadError as exc:
        raise ValueError(str(exc)) from None


def _check_shapes(text: str) -> None:
    from gradviz.core.user_model_loader import ModelLoadError, parse_shapes

    try:
        parse_shapes(text)
    except ModelLoadError as exc:
        raise ValueError(str(exc)) from None


def _check_expression(text: str) -> None:
    """Only compiled, not run: running it needs the consent that opening the model asks for."""
    try:
        compile(text, "<example inputs>", "eval")
    except SyntaxError as exc:
        raise ValueError(f"expression: {exc.msg} (column {exc.offset})") from None


def _request_key(request: UserModelRequest) -> tuple:
    """What makes two requests open the same thing, including the file's current version."""
    path = Path(request.path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    return (str(path.resolve()), stamp, request.name, request.args, str(request.weights or ""), request.input_shapes,
            request.dtype, request.input_expression, request.loss, request.optimizer, request.lr)


def _summary(opened: OpenedUserModel) -> str:
    session = opened.session
    output = session.output_description or f"tensor {session.output_shape}"
    return (
        f"✓ {opened.name}: {sum(p.numel() for p in session.model.parameters()):,} parameters, returns {output}, "
        f"loss on {session.loss_output}; graph of {opened.graph.number_of_nodes():,} autograd nodes"
    )
