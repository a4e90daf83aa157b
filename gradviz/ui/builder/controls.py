"""Network and training controls bound to the document.

``NetworkHeader`` (above the layer stack): preset combo and input-shape editor.
``TrainingControls``: loss, optimizer, learning rate and device widgets, which
the main window places in its training toolbar. Every change is an undoable
document edit; document changes (undo, open) flow back into the widgets.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit, QWidget

from gradviz.core import presets
from gradviz.ui.builder import text_values
from gradviz.ui.builder.document import LOSSES, OPTIMIZERS, NetworkDocument
from gradviz.ui.builder.param_editors import route_undo_to_document, set_error_state

LOSS_HELP = {
    "mse": "Mean squared error: regression, and the tutorial's MSELoss",
    "l1": "Mean absolute error",
    "cross_entropy": "Classification from raw scores (logits)",
    "nll": "Negative log-likelihood: classification after LogSoftmax",
}
OPTIMIZER_HELP = {
    "sgd": "torch.optim.SGD: w ← w − lr·∂L/∂w",
    "sgd_momentum": "SGD with momentum 0.9",
    "adam": "torch.optim.Adam",
    "manual_sgd": "The tutorial's hand-written update: p.data.sub_(p.grad.data * lr)",
}
DATA_HELP = {
    "random": "The tutorial's fixed random input and target (any network)",
    "digits": "8×8 handwritten digits, 10 classes: input (N, 1, 8, 8) or (N, 64), 10 outputs",
}
PRESET_PLACEHOLDER = "Load preset…"


class LogSpinBox(QDoubleSpinBox):
    """A learning-rate box: shows 0.01 / 1e-05 as typed, steps along 1, 2, 5 × 10ᵏ."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(10)
        self.setRange(1e-7, 10.0)
        self.setKeyboardTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def textFromValue(self, value: float) -> str:  # noqa: N802
        return f"{value:g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text.replace("−", "-"))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        try:
            number = float(text.replace("−", "-"))
        except ValueError:
            # "1e-" and "" are on their way to a number
            ok = all(ch in "0123456789.eE-+−" for ch in text)
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos
        if self.minimum() <= number <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:  # noqa: N802
        value = self.value()
        for _ in range(abs(steps)):
            value = _next_step(value, up=steps > 0)
        self.setValue(min(self.maximum(), max(self.minimum(), value)))

    def wheelEvent(self, event):  # noqa: N802 - only when focused, like the card editors
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


def _next_step(value: float, up: bool) -> float:
    exponent = math.floor(math.log10(value)) if value > 0 else -7
    ladder = sorted({m * 10.0 ** e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)})
    if up:
        return next((v for v in ladder if v > value * (1 + 1e-9)), ladder[-1])
    return next((v for v in reversed(ladder) if v < value * (1 - 1e-9)), ladder[0])


def _combo(name: str, items, help_text: dict | None = None) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    for item in items:
        combo.addItem(item, item)
        if help_text and item in help_text:
            combo.setItemData(combo.count() - 1, help_text[item], Qt.ItemDataRole.ToolTipRole)
    return combo


class NetworkHeader(QWidget):
    """Preset combo (``presetCombo``) and input shape (``inputShapeEdit``)."""

    def __init__(self, document: NetworkDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("networkHeader")
        self.document = document
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("presetCombo")
        self.preset_combo.addItem(PRESET_PLACEHOLDER, None)
        for name in presets.names():
            self.preset_combo.addItem(name, name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, presets.DESCRIPTIONS.get(name, ""), Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.setToolTip("Replace the network by a ready-made one (undoable)")
        # Scrolling the mouse wheel over the panel must not load preset after preset.
        self.preset_combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.preset_combo.installEventFilter(self)
        self.preset_combo.currentIndexChanged.connect(self._preset_chosen)

        self.input_edit = QLineEdit()
        self.input_edit.setObjectName("inputShapeEdit")
        self.input_edit.setPlaceholderText("e.g. 1, 1, 32, 32")
        self.input_edit.setProperty("baseToolTip", "Input tensor shape, batch first: N, C, H, W for images (1, 1, 32, 32), N, features for vectors (4, 2)")
        self.input_edit.setToolTip(self.input_edit.property("baseToolTip"))
        self.input_edit.textEdited.connect(self._input_edited)
        self.input_edit.editingFinished.connect(self._input_finished)
        route_undo_to_document(self.input_edit)
        self.input_problem = ""

        layout = QFormLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.setHorizontalSpacing(10)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        preset_label = QLabel("&Preset")
        preset_label.setBuddy(self.preset_combo)
        input_label = QLabel("&Input shape")
        input_label.setBuddy(self.input_edit)
        layout.addRow(preset_label, self.preset_combo)
        layout.addRow(input_label, self.input_edit)
        document.changed.connect(self.sync)
        self.sync()

    def eventFilter(self, watched, event):  # noqa: N802
        if watched is self.preset_combo and event.type() == QEvent.Type.Wheel and not watched.hasFocus():
            event.ignore()
            return True
        return super().eventFilter(watched, event)

    def load_preset(self, name: str) -> None:
        spec = presets.load(name)
        spec.name = self.document.spec.name
        self.document.edit(spec, text=f"Load preset {name}")

    def _preset_chosen(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name:
            self.load_preset(name)

    def _input_edited(self, text: str) -> None:
        try:
            shape = text_values.parse_input_shape(text)
        except ValueError as exc:
            self.input_problem = str(exc)
            set_error_state(self.input_edit, self.input_problem)
            return
        self.input_problem = ""
        set_error_state(self.input_edit, "")
        self.document.edit(_with_input(self.document.spec, shape), text="Set input shape", merge_key=("input_shape",))

    def _input_finished(self) -> None:
        if self.input_problem:  # unreadable text: show the shape in force again
            self.input_problem = ""
            self.input_edit.setText(text_values.format_value(self.document.spec.input_shape))
            set_error_state(self.input_edit, "")

    def sync(self) -> None:
        spec = self.document.spec
        try:
            typed = text_values.parse_input_shape(self.input_edit.text())
        except ValueError:
            typed = None
        if not (self.input_edit.hasFocus() and typed == tuple(spec.input_shape)):
            self.input_edit.setText(text_values.format_value(tuple(spec.input_shape)))
        error = self.document.analysis.error
        input_error = error is not None and getattr(error, "field", None) == "input_shape"
        if not self.input_problem:
            set_error_state(self.input_edit, str(error) if input_error else "")
        # Show the preset the network currently is, if any; otherwise the placeholder,
        # so that choosing a preset again after editing reloads it.
        current = next((name for name in presets.names() if _same_network(presets.load(name), spec)), None)
        index = self.preset_combo.findData(current) if current else 0
        if index != self.preset_combo.currentIndex():
            self.preset_combo.blockSignals(True)
            self.preset_combo.setCurrentIndex(max(0, index))
            self.preset_combo.blockSignals(False)


def _same_network(a, b) -> bool:
    return a.layers == b.layers and tuple(a.input_shape) == tuple(b.input_shape)


def _with_input(spec, shape):
    new = spec.copy()
    new.input_shape = tuple(shape)
    return new


class TrainingControls(QObject):
    """``lossCombo``, ``optimizerCombo``, ``lrSpin``, ``deviceCombo`` bound to the document's settings."""

    def __init__(self, document: NetworkDocument, parent: QObject | None = None):
        super().__init__(parent)
        self.document = document
        self.loss_combo = _combo("lossCombo", LOSSES, LOSS_HELP)
        self.loss_combo.setToolTip("Loss function")
        self.optimizer_combo = _combo("optimizerCombo", OPTIMIZERS, OPTIMIZER_HELP)
        self.optimizer_combo.setToolTip("How the weights are updated from their gradients")
        self.lr_spin = LogSpinBox()
        self.lr_spin.setObjectName("lrSpin")
        self.lr_spin.setValue(0.01)
        self.lr_spin.setToolTip("Learning rate; arrows step 0.001 → 0.002 → 0.005 → 0.01 …")
        route_undo_to_document(self.lr_spin)
        # None in the document means the session's default, the random data.
        self.data_combo = _combo("dataCombo", list(DATA_HELP), DATA_HELP)
        self.data_combo.setToolTip("Where the training batches come from")
        self.device_combo = _combo("deviceCombo", ["cpu"])
        self.device_combo.setToolTip("Where tensors live")
        self.set_devices(["cpu"])
        self.loss_combo.currentIndexChanged.connect(lambda i: self._set("loss", self.loss_combo.itemData(i)))
        self.optimizer_combo.currentIndexChanged.connect(lambda i: self._set("optimizer", self.optimizer_combo.itemData(i)))
        self.device_combo.currentIndexChanged.connect(lambda i: self._set("device", self.device_combo.itemData(i)))
        self.lr_spin.valueChanged.connect(lambda v: self._set("lr", float(v)))
        self.data_combo.currentIndexChanged.connect(self._data_chosen)
        document.changed.connect(self.sync)
        self.sync()

    def widgets(self) -> list[tuple[str, QWidget]]:
        return [
            ("Loss", self.loss_combo), ("Optimizer", self.optimizer_combo), ("lr", self.lr_spin),
            ("Data", self.data_combo), ("Device", self.device_combo),
        ]

    def _data_chosen(self, index: int) -> None:
        name = self.data_combo.itemData(index)
        value = None if name == "random" else name
        if self.document.settings.get("data") != value:
            self.document.set_setting("data", value)

    def set_devices(self, devices: list[str]) -> None:
        """Fill the device combo; the document's device stays listed even if not available here."""
        wanted = self.document.settings.get("device") or "cpu"
        items = list(dict.fromkeys(["cpu", *devices]))
        self.device_combo.blockSignals(True)
        self.device_combo.clear()
        for device in items:
            self.device_combo.addItem(device, device)
        if wanted not in items:
            self.device_combo.addItem(f"{wanted} (not available here)", wanted)
        self.device_combo.setCurrentIndex(self.device_combo.findData(wanted))
        self.device_combo.blockSignals(False)

    def available_devices(self) -> list[str]:
        return [self.device_combo.itemData(i) for i in range(self.device_combo.count()) if "not available" not in self.device_combo.itemText(i)]

    def _set(self, key: str, value) -> None:
        if value is not None and self.document.settings.get(key) != value:
            self.document.set_setting(key, value)

    def sync(self) -> None:
        settings = self.document.settings
        for combo, key in ((self.loss_combo, "loss"), (self.optimizer_combo, "optimizer")):
            index = combo.findData(settings.get(key))
            if index >= 0 and index != combo.currentIndex():
                combo.blockSignals(True)
                combo.setCurrentIndex(index)
                combo.blockSignals(False)
        data = settings.get("data") if isinstance(settings.get("data"), str) else "random"
        index = self.data_combo.findData(data)
        if index < 0:  # a source this UI does not offer (e.g. a folder set from a script)
            self.data_combo.addItem(data, data)
            index = self.data_combo.count() - 1
        if index != self.data_combo.currentIndex():
            self.data_combo.blockSignals(True)
            self.data_combo.setCurrentIndex(index)
            self.data_combo.blockSignals(False)
        device = settings.get("device") or "cpu"
        if self.device_combo.findData(device) < 0:
            self.set_devices(self.available_devices())
        elif self.device_combo.currentData() != device:
            self.device_combo.blockSignals(True)
            self.device_combo.setCurrentIndex(self.device_combo.findData(device))
            self.device_combo.blockSignals(False)
        lr = float(settings.get("lr", 0.01))
        if not math.isclose(self.lr_spin.value(), lr, rel_tol=1e-9):
            self.lr_spin.blockSignals(True)
            self.lr_spin.setValue(lr)
            self.lr_spin.blockSignals(False)
