"""The graph view's toolbar: search, fit, collapse depth, toggles and export.

When the pane is too narrow for every control, the toolbar hides the ones
that do not fit; the "⋯" button (:class:`OverflowButton`, objectName
``graphMoreButton``) stays at the right edge and its menu holds *every*
control of the toolbar, so none is ever out of reach."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QLabel, QLineEdit, QMenu, QSpinBox, QToolBar, QToolButton


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

    def __init__(self, export_action: QAction, animation_action: QAction | None = None, parent=None):
        super().__init__("Graph", parent)
        self.setObjectName("graphToolbar")
        self.setToolButtonStyle(Qt.ToolButtonTextOnly)
        # Qt's own "»" extension shows the hidden widgets in a cramped popup; the view's
        # "⋯" menu (OverflowButton) holds every control instead, so one way is enough.
        self.setStyleSheet("QToolButton#qt_toolbar_ext_button { max-width: 0px; max-height: 0px; border: none;"
                           " padding: 0px; margin: 0px; }")

        self.search_box = SearchBox()
        self.search_box.setObjectName("graphSearch")
        self.search_box.setPlaceholderText("Find node or parameter (Ctrl+F)")
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setToolTip("Find nodes by op, parameter or module name (a collapsed box's name), "
                                   "or by the line of your code that made them: model.py:41 (Ctrl+F)")
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
        self.animation_button = None
        if animation_action is not None:
            self.animation_button = QToolButton()
            self.animation_button.setObjectName("graphExportAnimationButton")
            self.animation_button.setDefaultAction(animation_action)
            self.animation_button.setAutoRaise(True)
            self.addWidget(self.animation_button)

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


class OverflowButton(QToolButton):
    """"⋯": a menu with every control of ``toolbar``, built when it opens (so it is current).

    Buttons appear as actions (same text, tooltip, checked and enabled state)
    that click them; the collapse depth as a submenu; the search box as
    "Find node…", which emits :attr:`findRequested` (the view asks for the text
    when the box itself is hidden)."""

    findRequested = Signal()

    def __init__(self, toolbar: GraphToolbar, parent=None):
        super().__init__(parent)
        self.toolbar = toolbar
        self.setObjectName("graphMoreButton")
        self.setText("⋯")
        self.setToolTip("All graph controls (also those that do not fit the pane)")
        self.setAutoRaise(True)
        self.setPopupMode(QToolButton.InstantPopup)
        self.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0px; }")
        self.overflow_menu = QMenu(self)
        self.overflow_menu.setObjectName("graphMoreMenu")
        self.overflow_menu.aboutToShow.connect(self.rebuild)
        self.setMenu(self.overflow_menu)

    def rebuild(self) -> None:
        """Fill the menu from the toolbar's controls as they are now."""
        menu = self.overflow_menu
        menu.clear()
        for action in self.toolbar.actions():
            if action.isSeparator():
                if menu.actions() and not menu.actions()[-1].isSeparator():
                    menu.addSeparator()
                continue
            widget = self.toolbar.widgetForAction(action)
            if isinstance(widget, SearchBox):
                find = menu.addAction("Find node…", self.findRequested.emit)
                find.setObjectName("graphMoreFind")
                find.setEnabled(widget.isEnabled())
            elif isinstance(widget, QSpinBox):
                self._depth_menu(menu, widget)
            elif isinstance(widget, QToolButton):
                self._mirror(menu, widget)

    def _mirror(self, menu: QMenu, button: QToolButton) -> None:
        source = button.defaultAction()
        text = (source.text() if source is not None else button.text()) or button.toolTip()
        mirror = menu.addAction(text)
        mirror.setObjectName("graphMore_" + button.objectName())
        mirror.setToolTip(button.toolTip())
        mirror.setCheckable(button.isCheckable())
        mirror.setChecked(button.isChecked())
        mirror.setEnabled(button.isEnabled())
        mirror.triggered.connect(button.click)

    def _depth_menu(self, menu: QMenu, spin: QSpinBox) -> None:
        sub = menu.addMenu("Collapse depth")
        sub.menuAction().setObjectName("graphMore_" + spin.objectName())
        sub.setEnabled(spin.isEnabled())
        group = QActionGroup(sub)
        for depth in range(spin.minimum(), spin.maximum() + 1):
            name = spin.specialValueText() if depth == spin.minimum() and spin.specialValueText() else str(depth)
            item = sub.addAction(name)
            item.setCheckable(True)
            item.setChecked(depth == spin.value())
            group.addAction(item)
            item.triggered.connect(lambda _=False, d=depth: spin.setValue(d))

    def menu_texts(self) -> list[str]:
        """The entries of the (rebuilt) menu, for tests: ``"Collapse depth"`` for the submenu."""
        self.rebuild()
        return [a.text() for a in self.overflow_menu.actions() if not a.isSeparator()]
