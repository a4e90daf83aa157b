"""Model summary panel: one row per layer (name, kind, output shape, derivation,
parameters) with totals, like ``print(model)`` plus the arithmetic behind it.

Copy (button or Ctrl+C inside the panel) puts the table on the clipboard as
aligned plain text, ready to paste into notes or an issue.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from gradviz.core.shapes import LayerShape
from gradviz.ui.builder.document import NetworkDocument

COLUMNS = ("Layer", "Kind", "Output shape", "Derivation", "Params")


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


class SummaryView(QWidget):
    """The table and its totals line; lives in the ``summaryPanel`` dock."""

    def __init__(self, document: NetworkDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("summaryView")
        self.document = document
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("summaryTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        # Scroll rather than demand width: the dock shares its row with the graph.
        self.table.setMinimumWidth(160)
        self.table.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)

        self.totals = QLabel()
        self.totals.setObjectName("summaryTotals")
        self.totals.setProperty("role", "totals")
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.totals.setWordWrap(True)
        copy_button = QPushButton("Copy")
        copy_button.setObjectName("copySummaryButton")
        copy_button.setToolTip("Copy the summary as text (Ctrl+C)")
        copy_button.clicked.connect(self.copy)
        from gradviz.ui.theme import bind_icon

        bind_icon(copy_button, "copy")
        shortcut = QShortcut(QKeySequence.StandardKey.Copy, self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(self.copy)

        bottom = QHBoxLayout()
        bottom.addWidget(self.totals, 1)
        bottom.addWidget(copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        document.changed.connect(self.refresh)
        self.refresh()

    # -- content -----------------------------------------------------------------------
    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """The table as text rows (input row first; inner layers indented)."""
        spec, analysis = self.document.spec, self.document.analysis
        rows = [("input", "", _fmt(spec.input_shape), "", "")]

        def add(layers, depth: int) -> None:
            for layer in layers:
                shape: LayerShape | None = analysis.shapes.get(layer.name)
                name = "    " * depth + ("↳ " if depth else "") + layer.name
                if shape is None:
                    broken = layer.name == analysis.error_layer
                    rows.append((name, layer.kind, "error" if broken else "?", "⚠ see the red card" if broken else "", ""))
                else:
                    params = f"{shape.num_params:,}" if shape.num_params or layer.kind != "Residual" else "0"
                    rows.append((name, layer.kind, _fmt(shape.output_shape), shape.derivation, params))
                add(layer.layers, depth + 1)

        add(spec.layers, 0)
        return rows

    def totals_text(self) -> str:
        spec, analysis = self.document.spec, self.document.analysis
        if not spec.layers:
            return "No layers yet."
        if not analysis.valid:
            return f"Invalid network — {analysis.error}"
        total = analysis.total_params
        return f"{len(spec.layers)} layers · {total:,} parameters · {_fmt(spec.input_shape)} → {_fmt(analysis.output_shape(spec))}"

    def refresh(self) -> None:
        rows = self.rows()
        self.table.setRowCount(len(rows))
        error_layer = self.document.analysis.error_layer
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c == 4:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if error_layer and row[0].strip().removeprefix("↳ ") == error_layer:
                    item.setForeground(self.palette().brightText())
                self.table.setItem(r, c, item)
        self.totals.setText(self.totals_text())
        ok = "false" if not self.document.analysis.valid else "true"
        if self.totals.property("ok") != ok:
            self.totals.setProperty("ok", ok)
            from gradviz.ui.theme import repolish

            repolish(self.totals)

    def as_text(self) -> str:
        rows = [COLUMNS, *self.rows()]
        widths = [max(len(row[c]) for row in rows) for c in range(len(COLUMNS))]
        lines = []
        for i, row in enumerate(rows):
            cells = [row[c].rjust(widths[c]) if c == 4 else row[c].ljust(widths[c]) for c in range(len(COLUMNS))]
            lines.append("  ".join(cells).rstrip())
            if i == 0:
                lines.append("  ".join("─" * w for w in widths))
        lines.append("")
        lines.append(self.totals_text())
        return "\n".join(lines)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.as_text())
