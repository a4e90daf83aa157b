"""The panel that stands in for the layer builder while a model from a file is
open: what was opened, what it takes and returns, how it is trained (loss,
optimizer and learning rate can be changed here), and the status of every
parameter (trainable, frozen, or no gradient).

A model someone wrote cannot be edited as layer cards: the panel says so and
offers the way back to the builder instead.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableView, QVBoxLayout,
    QWidget,
)

from gradviz.core.model_io import describe_inputs
from gradviz.core.user_model import OpenedUserModel, parameter_counts
from gradviz.ui.builder.controls import LOSS_HELP, OPTIMIZER_HELP, lr_field
from gradviz.ui.elided import DottedNameDelegate, item_text_margins

KIND_TEXT = {"python": "Python file", "export": "torch.export program", "torchscript": "TorchScript file"}
STATUS_HELP = {
    "trainable": "Receives a gradient and is updated by the optimizer",
    "frozen": "requires_grad is False: no gradient, never updated (not an error)",
    "no gradient": "The forward pass did not use it: no gradient, not updated (not an error)",
}
PARAM_COLUMNS = ("Parameter", "Shape", "Status")


class ParameterStatusModel(QAbstractTableModel):
    """Rows of (parameter, shape, status). A model rather than table items: a
    transformer has thousands of parameters, and refreshing after every step
    must not cost the GUI thread one widget item per cell."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[tuple[str, str, str]] = []

    def set_rows(self, rows: list[tuple[str, str, str]]) -> None:
        if rows == self._rows:
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rows(self) -> list[tuple[str, str, str]]:
        return list(self._rows)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(PARAM_COLUMNS)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        text = self._rows[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == Qt.ItemDataRole.ToolTipRole:
            return STATUS_HELP.get(text, text) if index.column() == 2 else text
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt override
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return PARAM_COLUMNS[section]
        return None


def _label(object_name: str, role: str | None = None, *, wrap: bool = True) -> QLabel:
    label = QLabel()
    label.setObjectName(object_name)
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if role:
        label.setProperty("role", role)
    return label


class UserModelPanel(QWidget):
    """Shows one :class:`~gradviz.core.user_model.OpenedUserModel`; ``refresh`` after training steps."""

    closeRequested = Signal()
    showGraphRequested = Signal()
    # The user changed a training setting here; the opener applies it to the session.
    settingChosen = Signal(str, object)  # "loss" | "optimizer" | "lr", value

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("externalModelPanel")
        self.opened: OpenedUserModel | None = None

        self.title = _label("externalModelTitle", "sectionTitle")
        self.source = _label("externalModelSource", "muted")
        self.inputs = _label("externalModelInputs")
        self.output = _label("externalModelOutput")
        self.training = _label("externalModelTraining", "muted")
        self.loss_combo = self._combo("externalLossCombo", LOSS_HELP, "loss")
        self.optimizer_combo = self._combo("externalOptimizerCombo", OPTIMIZER_HELP, "optimizer")
        self.lr_spin = lr_field("externalLrSpin")
        self.lr_spin.setProperty("baseToolTip", "Learning rate of the opened model (from its next step); Enter applies")
        self.lr_spin.setToolTip(self.lr_spin.property("baseToolTip"))
        self.lr_spin.valueCommitted.connect(lambda value: self.settingChosen.emit("lr", float(value)))
        self.params = _label("externalModelParams")
        self.notes = _label("externalModelNotes", "muted")
        hint = QLabel(
            "Opened from a file, so it cannot be edited as layers here: change the file and open it again. "
            "Step through training with the Run menu."
        )
        hint.setWordWrap(True)
        hint.setProperty("role", "muted")

        form = QFormLayout()
        form.addRow("Inputs", self.inputs)
        form.addRow("Output", self.output)
        form.addRow("Loss", self.loss_combo)
        form.addRow("Optimizer", self.optimizer_combo)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow(self.lr_spin.problem_label)
        form.addRow("Batch", self.training)
        form.addRow("Parameters", self.params)

        self.param_model = ParameterStatusModel(self)
        self.table = QTableView()
        self.table.setObjectName("externalParamTable")
        self.table.setModel(self.param_model)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        # A long name loses whole middle parts ("blocks.0…qkv.weight"): which block, which tensor.
        self.table.setItemDelegateForColumn(0, DottedNameDelegate(self.table))
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        # The names take what the shape and status columns leave. Those two are fitted to
        # their few distinct texts (fit_columns), not ResizeToContents: that would
        # measure every row of a big model. Fixed widths in px were too wide for a
        # 300 px panel at 1600×1000, where names were cut to "block…".
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        self._shapes: dict[str, str] = {}
        self.fit_columns()

        graph_button = QPushButton("Show graph")
        graph_button.setObjectName("showExternalGraphButton")
        graph_button.setToolTip("Show the autograd graph of the latest step (or of one forward pass and the loss)")
        graph_button.clicked.connect(self.showGraphRequested)
        close_button = QPushButton("Back to the builder")
        close_button.setObjectName("closeExternalModelButton")
        close_button.setToolTip("Close this model and edit networks as layers again")
        close_button.clicked.connect(self.closeRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(graph_button)
        buttons.addStretch(1)
        buttons.addWidget(close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.source)
        layout.addLayout(form)
        layout.addWidget(self.notes)
        layout.addWidget(self.table, 1)
        layout.addWidget(hint)
        layout.addLayout(buttons)

    def fit_columns(self) -> None:
        """Shape and status columns as wide as their widest text (header included), in the
        table's current font; the parameter names get the rest of the panel."""
        cells, titles = self.table.fontMetrics(), self.table.horizontalHeader().fontMetrics()
        # the text's side margins in a cell, and a header section's (a few px more, and the grid line)
        margin = item_text_margins(self.table) + 6
        statuses = {row[2] for row in self.param_model.rows()}  # those shown: most models' are all "trainable"
        for column, texts in ((1, set(self._shapes.values())), (2, statuses)):
            widest = max([cells.horizontalAdvance(text) for text in texts] + [titles.horizontalAdvance(PARAM_COLUMNS[column])])
            self.table.setColumnWidth(column, widest + margin)

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.fit_columns()  # Ctrl+/− and lecture mode change the text size

    def _combo(self, name: str, help_text: dict, key: str) -> QComboBox:
        combo = QComboBox()
        combo.setObjectName(name)
        for item, text in help_text.items():
            combo.addItem(item, item)
            combo.setItemData(combo.count() - 1, text, Qt.ItemDataRole.ToolTipRole)
        combo.setToolTip(f"The opened model's {key} (from its next step)")
        combo.currentIndexChanged.connect(lambda index: self.settingChosen.emit(key, combo.itemData(index)))
        return combo

    def set_model(self, opened: OpenedUserModel | None) -> None:
        self.opened = opened
        if opened is None:
            self.param_model.set_rows([])
            self._shapes = {}
            return
        loaded, session = opened.loaded, opened.session
        # Shapes never change while the model is open: read them once.
        self._shapes = {name: str(tuple(p.shape)) for name, p in session.model.named_parameters()}
        self.title.setText(f"External model: {loaded.name}")
        self.source.setText(f"{loaded.path} · {KIND_TEXT.get(loaded.kind, loaded.kind)}")
        self.inputs.setText(describe_inputs(loaded.example_inputs))
        if session.output_description:
            self.output.setText(f"{session.output_description}\nthe loss uses {session.loss_output} {session.output_shape}")
        else:
            self.output.setText(f"tensor {session.output_shape}")
        self.notes.setText("\n".join(f"• {note}" for note in opened.notes))
        self.notes.setVisible(bool(opened.notes))
        self.refresh()

    def refresh(self) -> None:
        """Training settings and parameter status, after a step or a settings change."""
        if self.opened is None:
            return
        session = self.opened.session
        for combo, value in ((self.loss_combo, session.loss_name), (self.optimizer_combo, session.optimizer_name)):
            _show_quietly(combo, lambda c=combo, v=value: c.setCurrentIndex(max(0, c.findData(v))))
        self.lr_spin.set_value(session.lr)
        self.training.setText(
            f"your example inputs, the same every step, with fixed random targets · "
            f"{session.iteration} step{'s' if session.iteration != 1 else ''} done"
        )
        status = self.opened.parameter_status()
        self.params.setText(parameter_counts(session, status).describe())
        self.param_model.set_rows([(name, self._shapes.get(name, ""), state) for name, state in status.items()])
        self.fit_columns()

    def status_rows(self) -> list[tuple[str, str, str]]:
        """What the table shows: (parameter, shape, status) rows (tests, copy)."""
        return self.param_model.rows()


def _show_quietly(widget: QWidget, change) -> None:
    """Show the session's value without it looking like the user chose it."""
    widget.blockSignals(True)
    try:
        change()
    finally:
        widget.blockSignals(False)
