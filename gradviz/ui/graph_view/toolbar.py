"""The graph view's toolbar: search, fit, collapse depth, toggles and export."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QLineEdit, QSpinBox, QToolBar, QToolButton


class SearchBox(QLineEdit):
    """Enter: next match, Shift+Enter: previous, Escape: clear."""

    nextRequested = Signal()
    previousRequested = Signal()

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() in (Qt.Key_Return, Qt.Key_Enter):
            (self.previousRequested if event.modifiers() & Qt.ShiftModifier else self.nextRequested).emit()
            event.accept()
        elif event.key() == Qt.Key_Escape:
            self.clear()
            event.accept()
        else:
            super().keyPressEvent(event)


class GraphToolbar(QToolBar):
    """Widgets only (stable objectNames); the GraphView connects them."""

    def __init__(self, export_action: QAction, parent=None):
        super().__init__("Graph", parent)
        self.setObjectName("graphToolbar")
        self.setToolButtonStyle(Qt.ToolButtonTextOnly)

        self.search_box = SearchBox()
        self.search_box.setObjectName("graphSearch")
        self.search_box.setPlaceholderText("Find node or parameter (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setToolTip("Find nodes by op or parameter name, or by the line of your code that made "
                                   "them: model.py:41 (Ctrl+F)")
        self.search_box.setMinimumWidth(200)
        self.search_box.setMaximumWidth(320)
        self.addWidget(self.search_box)
        self.search_previous = self._button("◀", "Previous match (Shift+Enter)", "graphSearchPrev")
        self.search_next = self._button("▶", "Next match (Enter)", "graphSearchNext")
        self.search_count = QLabel("")
        self.search_count.setObjectName("graphSearchCount")
        self.search_count.setMinimumWidth(56)
        self.search_count.setStyleSheet("color: #7c8594; padding: 0 6px;")
        self.addWidget(self.search_count)
        self.addSeparator()

        self.fit_button = self._button("Fit", "Fit the graph to the window (F)", "graphFit")
        self.addSeparator()
        self.addWidget(QLabel(" Collapse depth "))
        self.depth_spin = QSpinBox()
        self.depth_spin.setObjectName("collapseDepthSpin")
        self.depth_spin.setSpecialValueText("off")
        self.depth_spin.setRange(0, 0)
        self.depth_spin.setToolTip("Collapse every module to this depth (1 = top-level modules, off = expanded)")
        self.addWidget(self.depth_spin)
        self.expand_all_button = self._button("Expand all", "Open every collapsed module", "graphExpandAll")
        self.addSeparator()

        self.saved_button = self._button(
            "Saved tensors", "Show the tensors each operation saved for backward", "graphShowSaved", checkable=True
        )
        self.details_button = self._button(
            "Details", "Show or hide the details panel", "graphDetailsToggle", checkable=True
        )
        self.details_button.setChecked(True)
        self.addSeparator()
        self.export_button = QToolButton()
        self.export_button.setObjectName("graphExportButton")
        self.export_button.setDefaultAction(export_action)
        self.export_button.setAutoRaise(True)
        self.addWidget(self.export_button)

    def _button(self, text: str, tip: str, name: str, checkable: bool = False) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setObjectName(name)
        button.setAutoRaise(True)
        button.setCheckable(checkable)
        self.addWidget(button)
        return button

    def set_depth(self, value: int, maximum: int, enabled: bool) -> None:
        """Show a collapse depth without triggering a new collapse."""
        self.depth_spin.blockSignals(True)
        self.depth_spin.setRange(0, maximum)
        self.depth_spin.setValue(value)
        self.depth_spin.blockSignals(False)
        self.depth_spin.setEnabled(enabled)

    def set_search_text(self, text: str) -> None:
        """Put ``text`` in the box without starting another search."""
        if self.search_box.text() != text:
            self.search_box.blockSignals(True)
            self.search_box.setText(text)
            self.search_box.blockSignals(False)
