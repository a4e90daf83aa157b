"""The layer stack: the network as a vertical list of cards, top to bottom.

``LayerStack`` (objectName ``layerStack``) is a scroll area over a
``LayerList``; Residual cards nest another ``LayerList``. The stack owns the
selection and turns every request (from cards, drops, menu actions) into one
undoable edit on the ``NetworkDocument``. When the document changes it updates
cards in place if the structure is unchanged (so an editor keeps focus while
you type) and rebuilds them otherwise.
"""
from __future__ import annotations

import json

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QScrollArea, QVBoxLayout, QWidget

from gradviz.core.spec import NetworkSpec, SpecError
from gradviz.core import edits
from gradviz.ui.builder.document import NetworkDocument
from gradviz.ui.builder.layer_card import PATH_MIME, LayerCard
from gradviz.ui.builder.palette import KIND_MIME


# A big network's cards are built a chunk at a time on the event loop, the
# first ones at once: opening 1,000 layers neither freezes the window nor
# waits for cards nobody has scrolled to yet. A progress bar at the end of the
# stack counts them.
FIRST_CARDS = 40
CARD_CHUNK = 25


def _structure(layers) -> tuple:
    return tuple((layer.name, layer.kind, _structure(layer.layers)) for layer in layers)


def _inner_layers(layer):
    stack = list(layer.layers)
    while stack:
        inner = stack.pop()
        yield inner
        stack.extend(inner.layers)


class LayerList(QFrame):
    """Cards for the layers under one parent (``()`` = top level); accepts drops."""

    def __init__(self, stack: "LayerStack", parent_path: tuple[int, ...], layers, *, first: int | None = None):
        """Cards for ``layers``; with ``first``, only about that many (inner layers counted) now:
        ``build_more`` adds the rest later."""
        super().__init__()
        self.stack = stack
        self.parent_path = parent_path
        self.setAcceptDrops(True)
        nested = bool(parent_path)
        self.setProperty("role", "nestedList" if nested else "stackBackground")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(10 if nested else 8, 6 if nested else 8, 6 if nested else 8, 6 if nested else 8)
        self._layout.setSpacing(6 if nested else 8)
        self.cards: list[LayerCard] = []
        self.total = len(layers)
        self._pending = list(layers)  # layers whose cards are not built yet, in order
        self.progress = QProgressBar()
        self.progress.setObjectName("layerStackProgress")
        self.progress.setRange(0, max(1, self.total))
        self.progress.setFormat("Showing layers… %v of %m")
        self.progress.hide()
        self._layout.addWidget(self.progress)
        self.build_more(len(layers) if first is None else first)
        self.empty_hint = QLabel(
            "Empty block: f(x) = x.\nDrop layers here, or right-click the block → Add inside."
            if nested
            else "No layers yet.\n\nPick a preset above (lenet is the tutorial's network),\n"
            "or double-click / drag layers from the palette."
        )
        self.empty_hint.setObjectName("emptyHint")
        self.empty_hint.setProperty("role", "emptyHint")
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setVisible(not layers)
        self._layout.addWidget(self.empty_hint)
        self.indicator = QFrame()
        self.indicator.setObjectName("dropIndicator")
        self.indicator.setProperty("role", "dropIndicator")
        self.indicator.hide()
        if not nested:
            self._layout.addStretch(1)

    def set_path(self, parent_path: tuple[int, ...]) -> None:
        self.parent_path = parent_path

    @property
    def complete(self) -> bool:
        return not self._pending

    def build_more(self, budget: int) -> list[LayerCard]:
        """Build the next cards, about ``budget`` of them (a block counts its inner layers); return them."""
        built: list[LayerCard] = []
        while self._pending and (budget > 0 or not built):
            layer = self._pending.pop(0)
            card = LayerCard(self.stack, layer, (*self.parent_path, len(self.cards)))
            self._layout.insertWidget(len(self.cards), card)
            self.cards.append(card)
            built.append(card)
            budget -= 1 + sum(1 for _ in _inner_layers(layer))
        self.progress.setValue(len(self.cards))
        self.progress.setVisible(bool(self._pending))
        return built

    # -- drag and drop ------------------------------------------------------------------
    def drop_index(self, y: float) -> int:
        """Position in this list for a drop at height ``y`` (local coordinates)."""
        for index, card in enumerate(self.cards):
            if y < card.geometry().center().y():
                return index
        return self.total  # below the last card (or below the ones built so far): the end

    def _accepts(self, mime) -> bool:
        return mime.hasFormat(KIND_MIME) or mime.hasFormat(PATH_MIME)

    def dragEnterEvent(self, event):  # noqa: N802
        if self._accepts(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event):  # noqa: N802
        if not self._accepts(event.mimeData()):
            event.ignore()
            return
        event.acceptProposedAction()
        index = self.drop_index(event.position().y())
        self._layout.removeWidget(self.indicator)
        self._layout.insertWidget(index, self.indicator)
        self.indicator.show()

    def dragLeaveEvent(self, event):  # noqa: N802
        self.indicator.hide()

    def dropEvent(self, event):  # noqa: N802
        self.indicator.hide()
        mime = event.mimeData()
        index = self.drop_index(event.position().y())
        if mime.hasFormat(KIND_MIME):
            kind = bytes(mime.data(KIND_MIME)).decode()
            event.acceptProposedAction()
            # Deferred: a drop handler must not delete the widget tree it runs in.
            QTimer.singleShot(0, lambda: self.stack.add_layer(kind, self.parent_path, index))
        elif mime.hasFormat(PATH_MIME):
            try:
                path = tuple(json.loads(bytes(mime.data(PATH_MIME)).decode()))
            except (ValueError, TypeError):
                event.ignore()
                return
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.stack.move_layer(path, self.parent_path, index))
        else:
            event.ignore()


class LayerStack(QScrollArea):
    """objectName ``layerStack``. ``selectionChanged(name or "")``, ``message(text)`` for the status bar."""

    selectionChanged = Signal(str)
    message = Signal(str)

    def __init__(self, document: NetworkDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layerStack")
        self.setWidgetResizable(True)
        self.document = document
        self.selected_name: str | None = None
        self._structure: tuple | None = None
        self.top_list: LayerList | None = None
        self.cards: dict[str, LayerCard] = {}
        self._mode = "wide"
        self._generation = 0  # bumps on every rebuild: chunks of an older one stop
        document.changed.connect(self.sync)
        self.sync()

    # -- document → cards ------------------------------------------------------------------
    def sync(self) -> None:
        spec = self.document.spec
        structure = _structure(spec.layers)
        if structure != self._structure:
            self._rebuild(spec)
            self._structure = structure
        self._update_cards(spec)
        if self.selected_name is not None and self.card(self.selected_name) is None:
            self.select(None)

    @property
    def complete(self) -> bool:
        """Every card is built (a big network's cards come a chunk at a time)."""
        return self.top_list is None or self.top_list.complete

    def _rebuild(self, spec: NetworkSpec) -> None:
        scroll = self.verticalScrollBar().value()
        self._generation += 1
        self.top_list = LayerList(self, (), spec.layers, first=FIRST_CARDS)
        self.top_list.setObjectName("layerList")
        # Edits often start inside a card (a button's clicked signal, Enter in the rename
        # field), so the old cards must outlive this call: delete them later, not now.
        old = self.takeWidget()
        self.setWidget(self.top_list)
        if old is not None:
            old.hide()
            old.deleteLater()
        self.cards = {}
        self._index_cards(self.top_list)
        self.fit_cards()
        self.verticalScrollBar().setValue(scroll)
        for name, card in self.cards.items():
            card.set_selected(name == self.selected_name)
        if not self.top_list.complete:
            generation = self._generation
            QTimer.singleShot(0, self, lambda: self._build_more(generation))

    def _build_more(self, generation: int) -> None:
        """One chunk of the remaining cards, then the next chunk on a later turn of the event loop."""
        if generation != self._generation or self.top_list is None or self.top_list.complete:
            return
        self._add_cards(self.top_list.build_more(CARD_CHUNK))
        if self.top_list.complete:
            self.fit_cards()
        else:
            QTimer.singleShot(0, self, lambda: self._build_more(generation))

    def _add_cards(self, built: list[LayerCard]) -> None:
        """Index cards built late and bring them up to date with the document."""
        spec, analysis = self.document.spec, self.document.analysis
        message = str(analysis.error) if analysis.error is not None else ""
        for top in built:
            for card in [top, *self._nested_cards(top)]:
                self.cards[card.layer_name] = card
                layer = edits.layer_at(spec, card.path)
                here = layer.name == analysis.error_layer
                card.update_from(layer, card.path, analysis.shapes.get(layer.name), message if here else "",
                                 analysis.error_field if here else None, shapes_known=analysis.valid)
                card.set_selected(card.layer_name == self.selected_name)
            top.set_mode(self._mode)

    def _nested_cards(self, card: LayerCard) -> list[LayerCard]:
        found, stack = [], [card]
        while stack:
            inner = stack.pop().inner_list
            if inner is not None:
                found.extend(inner.cards)
                stack.extend(inner.cards)
        return found

    def build_all(self) -> None:
        """Build every remaining card now (tests; jumping to a far layer)."""
        while self.top_list is not None and not self.top_list.complete:
            self._add_cards(self.top_list.build_more(len(self.top_list._pending)))
        self.fit_cards()

    def resizeEvent(self, event):  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.fit_cards()

    def fit_cards(self) -> None:
        """Pick the roomiest card layout that fits the visible width (see LayerCard.set_mode)."""
        from shiboken6 import isValid

        # A deferred call (font change) may arrive after a rebuild deleted the list it knew.
        cards = self.top_list.cards if self.top_list is not None and isValid(self.top_list) else []
        if not cards:
            return
        margins = self.top_list.layout().contentsMargins()
        available = self.viewport().width() - margins.left() - margins.right()
        wide = compact = 0
        for card in self.cards.values():
            indent = 24 * (len(card.path) - 1)  # nested lists are indented
            card_wide, card_compact = card.needed_widths()
            wide, compact = max(wide, card_wide + indent), max(compact, card_compact + indent)
        mode = "wide" if wide <= available else "compact" if compact <= available else "narrow"
        self._mode = mode  # cards built later take it too
        for card in cards:
            card.set_mode(mode)

    def changeEvent(self, event):  # noqa: N802 - font changes (zoom, lecture mode) change what fits
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            QTimer.singleShot(0, self.fit_cards)

    def _index_cards(self, layer_list: LayerList) -> None:
        for card in layer_list.cards:
            self.cards[card.layer_name] = card
            if card.inner_list is not None:
                self._index_cards(card.inner_list)

    def _update_cards(self, spec: NetworkSpec) -> None:
        analysis = self.document.analysis
        error_name = analysis.error_layer
        message = str(analysis.error) if analysis.error is not None else ""
        for path, layer in spec.walk():
            card = self.cards.get(layer.name)
            if card is None:
                continue
            here = layer.name == error_name
            card.update_from(
                layer, path, analysis.shapes.get(layer.name), message if here else "",
                analysis.error_field if here else None, shapes_known=analysis.valid,
            )

    # -- selection ------------------------------------------------------------------------------
    def select(self, name: str | None) -> None:
        if name == self.selected_name:
            return
        previous = self.cards.get(self.selected_name) if self.selected_name else None
        if previous is not None:
            previous.set_selected(False)
        self.selected_name = name if self.card(name) is not None else None
        card = self.cards.get(self.selected_name) if self.selected_name else None
        if card is not None:
            card.set_selected(True)
            QTimer.singleShot(0, lambda c=card: self._reveal(c))
        self.selectionChanged.emit(self.selected_name or "")

    def select_neighbour(self, delta: int) -> None:
        """Up/Down through the cards in reading order (inner layers included)."""
        order = [layer.name for _, layer in self.document.spec.walk()]
        if not order:
            return
        if self.selected_name not in order:
            self.select(order[0 if delta > 0 else -1])
            return
        index = max(0, min(len(order) - 1, order.index(self.selected_name) + delta))
        self.select(order[index])

    def keyPressEvent(self, event):  # noqa: N802 - keyboard users walk the stack like a list
        key = event.key()
        if event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier):
            if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
                self.select_neighbour(-1 if key == Qt.Key.Key_Up else 1)
                return
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.selected_name:
                self.begin_rename()
                return
        super().keyPressEvent(event)

    def _reveal(self, card: LayerCard) -> None:
        """Scroll vertically to the card (never sideways: the names sit at the left)."""
        try:
            top = card.mapTo(self.widget(), card.rect().topLeft()).y()
        except (RuntimeError, AttributeError):  # rebuilt meanwhile
            return
        self.ensureVisible(0, top + card.height(), 0, 12)
        self.ensureVisible(0, top, 0, 12)
        self.horizontalScrollBar().setValue(0)

    @property
    def selected_path(self) -> tuple[int, ...] | None:
        return edits.path_of(self.document.spec, self.selected_name) if self.selected_name else None

    def card(self, name: str | None) -> LayerCard | None:
        """The card of layer ``name``; built now if its turn has not come yet."""
        if name is None:
            return None
        card = self.cards.get(name)
        if card is None and self.top_list is not None and not self.top_list.complete:
            path = edits.path_of(self.document.spec, name)
            while path is not None and path[0] >= len(self.top_list.cards):
                self._add_cards(self.top_list.build_more(1))
            card = self.cards.get(name)
        return card

    # -- requests → undoable edits ---------------------------------------------------------------
    def _apply(self, spec: NetworkSpec, text: str, select: str | None = None, merge_key=None) -> None:
        if select is not None:
            self.selected_name = select  # selected after the rebuild the edit triggers
        self.document.edit(spec, text=text, merge_key=merge_key)
        if select is not None:
            self.selected_name = None
            self.select(select)

    def add_layer(self, kind: str, parent: tuple[int, ...] | None = None, index: int | None = None) -> str | None:
        """Add a new ``kind`` layer; by default right after the selected one (or at the end)."""
        spec = self.document.spec
        if parent is None:
            path = self.selected_path
            parent, index = ((), None) if path is None else (path[:-1], path[-1] + 1)
        try:
            layer = edits.new_layer(spec, kind, parent, index)
            siblings = edits.children_of(spec, parent)
            position = len(siblings) if index is None else index
            new_spec = edits.insert_layer(spec, parent, position, layer)
        except (SpecError, IndexError) as exc:
            self.message.emit(f"Cannot add {kind}: {exc}")
            return None
        self._apply(new_spec, f"Add {layer.name} ({kind})", select=layer.name)
        self.message.emit(f"Added {layer.name} ({kind})")
        return layer.name

    def remove_layer(self, path: tuple[int, ...] | None = None) -> None:
        path = self.selected_path if path is None else path
        if path is None:
            return
        spec = self.document.spec
        name = edits.layer_at(spec, path).name
        siblings = edits.children_of(spec, path[:-1])
        # Select a neighbour so Del, Del, Del keeps deleting down the stack.
        neighbour = siblings[path[-1] + 1] if path[-1] + 1 < len(siblings) else (siblings[path[-1] - 1] if path[-1] else None)
        parent_name = edits.layer_at(spec, path[:-1]).name if path[:-1] else None
        next_name = neighbour.name if neighbour is not None else parent_name
        self._apply(edits.remove_layer(spec, path), f"Delete {name}")
        self.select(next_name)
        self.message.emit(f"Deleted {name} (Ctrl+Z to undo)")

    def move_layer_by(self, path: tuple[int, ...] | None, delta: int) -> None:
        path = self.selected_path if path is None else path
        if path is None:
            return
        result = edits.move_by(self.document.spec, path, delta)
        name = edits.layer_at(self.document.spec, path).name
        if result is None:
            self.message.emit(f"{name} is already the {'first' if delta < 0 else 'last'} layer here")
            return
        self._apply(result[0], f"Move {name} {'up' if delta < 0 else 'down'}", select=name)

    def move_layer(self, path: tuple[int, ...], parent: tuple[int, ...], index: int) -> None:
        spec = self.document.spec
        try:
            name = edits.layer_at(spec, path).name
            new_spec = edits.move_layer(spec, path, parent, index)
        except (SpecError, IndexError) as exc:
            self.message.emit(f"Cannot move there: {exc}")
            return
        self._apply(new_spec, f"Move {name}", select=name)

    def duplicate_layer(self, path: tuple[int, ...] | None = None) -> str | None:
        path = self.selected_path if path is None else path
        if path is None:
            return None
        try:
            new_spec, new_path = edits.duplicate_layer(self.document.spec, path)
        except SpecError as exc:  # the copy would pass a limit (gradviz.core.limits)
            self.message.emit(f"Cannot duplicate: {exc}")
            return None
        name = edits.layer_at(new_spec, new_path).name
        self._apply(new_spec, f"Duplicate {edits.layer_at(self.document.spec, path).name}", select=name)
        return name

    def rename_problem(self, path: tuple[int, ...], name: str) -> str:
        """Why ``name`` cannot name the layer at ``path`` ("" if it can)."""
        try:
            edits.check_name(self.document.spec, name, edits.layer_at(self.document.spec, path).name)
        except SpecError as exc:
            return str(exc)
        return ""

    def rename_layer(self, path: tuple[int, ...], name: str) -> bool:
        spec = self.document.spec
        old = edits.layer_at(spec, path).name
        try:
            new_spec = edits.rename_layer(spec, path, name)
        except SpecError as exc:
            self.message.emit(str(exc))
            return False
        self._apply(new_spec, f"Rename {old} → {name.strip()}", select=name.strip())
        return True

    def begin_rename(self) -> None:
        card = self.cards.get(self.selected_name) if self.selected_name else None
        if card is not None:
            card.begin_rename()

    def set_param(self, path: tuple[int, ...], key: str, value) -> None:
        spec = self.document.spec
        name = edits.layer_at(spec, path).name
        self.document.edit(edits.set_param(spec, path, key, value), text=f"Set {name}.{key}", merge_key=("param", name, key))
