"""Network and training controls bound to the document.

``NetworkHeader`` (above the layer stack): preset combo and input-shape editor.
``TrainingControls``: loss, optimizer, learning rate and device widgets, which
the main window places in its training toolbar. Every change is an undoable
document edit; document changes (undo, open) flow back into the widgets.
Typed values (input shape, lr) apply when committed (Enter, or leaving the
field); unreadable text stays, red, with its reason, and changes nothing.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget

from gradviz.core import presets, text_values
from gradviz.core.vocabulary import LOSSES, OPTIMIZERS
from gradviz.ui.builder.document import NetworkDocument
from gradviz.ui.builder.param_editors import route_undo_to_document
from gradviz.ui.validated_field import ProblemUnderField, ValidatedField

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


def lr_field(name: str, value: float = 0.01, parent: QWidget | None = None) -> ValidatedField:
    """A learning-rate field: shows 0.01 / 1e-05 as typed, steps along 1, 2, 5 × 10ᵏ, applies on
    Enter; "1e6" or "abc" stay red with the reason instead of becoming 10 or the old value."""
    field = ValidatedField(name, text_values.parse_lr, float(value), step=text_values.step_lr, parent=parent)
    field.setProperty("baseToolTip", f"Learning rate, a positive number ≤ {text_values.LR_MAX:g}; "
                                     "arrows step 0.001 → 0.002 → 0.005 → 0.01 …; Enter applies")
    field.setToolTip(field.property("baseToolTip"))
    return field


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

        self.input_edit = ValidatedField("inputShapeEdit", text_values.parse_input_shape, tuple(document.spec.input_shape))
        self.input_edit.lineEdit().setPlaceholderText("e.g. 1, 1, 32, 32")
        self.input_edit.setProperty("baseToolTip", "Input tensor shape, batch first: N, C, H, W for images (1, 1, 32, 32), N, features for vectors (4, 2); Enter applies")
        self.input_edit.setToolTip(self.input_edit.property("baseToolTip"))
        self.input_edit.valueCommitted.connect(self._input_committed)
        route_undo_to_document(self.input_edit)

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
        layout.addRow(self.input_edit.problem_label)  # the one-line reason under the field, while there is one
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

    @property
    def input_problem(self) -> str:
        """Why the typed input shape cannot be used ("" when it can)."""
        return self.input_edit.problem

    def _input_committed(self, shape: tuple) -> None:
        self.document.edit(_with_input(self.document.spec, shape), text="Set input shape", merge_key=("input_shape",))

    def sync(self) -> None:
        spec = self.document.spec
        self.input_edit.set_value(tuple(spec.input_shape))
        error = self.document.analysis.error
        input_error = error is not None and getattr(error, "field", None) == "input_shape"
        self.input_edit.set_outside_error(str(error) if input_error else "")
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
        self.lr_spin = lr_field("lrSpin", document.settings.get("lr", 0.01))
        self._lr_problem = ProblemUnderField(self.lr_spin)  # in the toolbar: under the field, not beside it
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
        self.lr_spin.valueCommitted.connect(lambda v: self._set("lr", float(v)))
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
        self.lr_spin.set_value(float(settings.get("lr", 0.01)))
