"""Small panels drawn over the canvas: layout progress, the empty-graph hint and notes beside nodes."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QFrame, QGraphicsItem, QLabel, QProgressBar, QVBoxLayout, QWidget


class ProgressPanel(QFrame):
    """"Laying out N nodes…" with a progress bar, centred at the top of the canvas."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("graphLayoutProgress")
        self.setStyleSheet(
            "#graphLayoutProgress { background: rgba(255,255,255,235); border: 1px solid #cbd5e1;"
            " border-radius: 8px; } #graphLayoutProgress QLabel { color: #1f2937; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 12)
        self.label = QLabel("Laying out the graph…")
        self.bar = QProgressBar()
        self.bar.setObjectName("graphLayoutProgressBar")
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self.hide()

    def begin(self, text: str) -> None:
        self.label.setText(text)
        self.bar.setValue(0)
        self.show()
        self.raise_()

    def report(self, fraction: float, message: str) -> None:
        self.bar.setValue(int(fraction * 1000))
        if message:
            self.label.setText(f"Laying out the graph: {message}…")

    def place(self, area: QWidget) -> None:
        self.setFixedWidth(min(360, max(200, area.width() - 40)))
        self.adjustSize()
        self.move((area.width() - self.width()) // 2, 24)


def placeholder(parent: QWidget) -> QLabel:
    """The hint shown while there is no graph."""
    label = QLabel("No graph yet: run a forward pass to see what autograd records.", parent)
    label.setObjectName("graphPlaceholder")
    label.setAlignment(Qt.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet("color: #7c8594; font-size: 13pt;")
    return label


# -- notes beside nodes ---------------------------------------------------------------
NOTE_SCALE = 1.3  # the note's text relative to the view's font: read from the back of a room
NOTE_GAP_PX = 10  # between the node's box and its note, on screen
# Where no place is clear, covering a box (its name, a numbers-mode tag) counts
# this many times the area of the note cut off by the pane's edge: a node at the
# edge takes its note partly out of view with it (a pan brings both back); a note
# slid over another box hid that box's name (the loss over MseLossBackward0).
COVER_WEIGHT = 4.0
NOTE_PAD_PX = (8, 4)


class NodeNote(QGraphicsItem):
    """A short text beside a node, e.g. ``loss = 0.0423``, at a fixed size on screen.

    It ignores the view's zoom (``ItemIgnoresTransformations``): zoomed out to
    fit a big graph, the node's own label may be small, the value stays
    readable. Its position is the right edge of the node's box (scene
    coordinates); everything below is drawn in screen pixels from there.
    """

    def __init__(self, text: str, font: QFont):
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(10)  # above the graph item
        self._font = QFont(font)
        self._font.setBold(True)
        self._side = "right"
        self.set_text(text)

    @property
    def text(self) -> str:
        return self._text

    def set_text(self, text: str) -> None:
        self.prepareGeometryChange()
        self._text = text
        metrics = QFontMetricsF(self._font)
        pad_x, pad_y = NOTE_PAD_PX
        width = metrics.horizontalAdvance(text) + 2 * pad_x
        height = metrics.height() + 2 * pad_y
        gap = NOTE_GAP_PX
        self._box = {
            "right": QRectF(gap, -height / 2, width, height),
            "left": QRectF(-gap - width, -height / 2, width, height),
            "below": QRectF(-width / 2, gap, width, height),
            "above": QRectF(-width / 2, -gap - height, width, height),
        }[self._side]
        self.update()

    @property
    def side(self) -> str:
        return self._side

    def set_side(self, side: str) -> None:
        """Where the note stands from its anchor (the middle of that side of the node's box):
        ``"right"``, ``"left"``, ``"below"`` or ``"above"``."""
        if side != self._side:
            self._side = side
            self.set_text(self._text)

    def screen_rect(self, side: str) -> QRectF:
        """The note's rectangle on screen, relative to its anchor, were it on ``side``."""
        current = self._side
        self.set_side(side)
        rect = self.boundingRect()
        self.set_side(current)
        return rect

    def set_font(self, font: QFont) -> None:
        self._font = QFont(font)
        self._font.setBold(True)
        self.set_text(self._text)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._box.united(QRectF(-1, -1, 2, 2)).adjusted(-1, -1, 1, 1)  # the box and the leader line

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # a short leader line from the box to the note says whose value it is
        painter.setPen(QPen(QColor(NOTE_BORDER), 2))
        end = {"right": (NOTE_GAP_PX, 0), "left": (-NOTE_GAP_PX, 0), "below": (0, NOTE_GAP_PX), "above": (0, -NOTE_GAP_PX)}
        painter.drawLine(QPointF(0, 0), QPointF(*end[self._side]))
        painter.setBrush(QColor(NOTE_FILL))
        painter.drawRoundedRect(self._box, 5, 5)
        painter.setPen(QColor(NOTE_TEXT))
        painter.setFont(self._font)
        painter.drawText(self._box, Qt.AlignmentFlag.AlignCenter, self._text)


# A note is a value the class should read: dark text on white, the output colour's border.
NOTE_FILL, NOTE_BORDER, NOTE_TEXT = "#ffffff", "#15803d", "#052e16"


def note_font(base: QFont) -> QFont:
    font = QFont(base)
    size = base.pointSizeF() if base.pointSizeF() > 0 else 10.0
    font.setPointSizeF(size * NOTE_SCALE)
    return font


class NodeNotes:
    """The notes of one GraphView: kept beside their nodes, hidden with them, inside the pane.

    A note goes right of its node's box, else left, below or above: wherever
    the pane's edge does not cut it, the legend (drawn over the graph) does
    not cover it and it covers no other box (numbers mode's tags are inside
    the boxes: a note over a box would hide them).
    """

    def __init__(self, view):
        self._view = view
        self._notes: dict = {}  # node key -> NodeNote
        self._opacity = 1.0

    def set(self, key, text: str | None) -> None:
        note = self._notes.get(key)
        scene = self._view.canvas.graph_scene
        if not text:
            if note is not None:
                scene.removeItem(self._notes.pop(key))
            return
        if note is None:
            note = self._notes[key] = NodeNote(text, note_font(self._view.font()))
            note.setOpacity(self._opacity)
            scene.addItem(note)
        else:
            note.set_text(text)
        self.place()

    def text(self, key) -> str | None:
        note = self._notes.get(key)
        return note.text if note is not None and note.isVisible() else None

    def keys(self) -> list:
        """The nodes that have a note."""
        return list(self._notes)

    def screen_rect(self, key) -> QRectF | None:
        note = self._notes.get(key)
        if note is None or not note.isVisible():
            return None
        # it ignores the zoom: only its device transform knows where it lands
        return note.deviceTransform(self._view.canvas.viewportTransform()).mapRect(note.boundingRect())

    def clear(self) -> None:
        scene = self._view.canvas.graph_scene
        for note in self._notes.values():
            scene.removeItem(note)
        self._notes.clear()

    def opacity(self, key) -> float | None:
        """How opaque the note of ``key`` is drawn (dimmed while the graph is stale)."""
        note = self._notes.get(key)
        return note.opacity() if note is not None else None

    def set_opacity(self, opacity: float) -> None:
        self._opacity = opacity
        for note in self._notes.values():
            note.setOpacity(opacity)

    def set_font(self, base: QFont) -> None:
        for note in self._notes.values():
            note.set_font(note_font(base))

    def place(self) -> None:
        view = self._view
        model = view.item.model
        for key, note in self._notes.items():
            rect = view.node_rect(key)
            i = model.index.get(view.shown_key(key)) if model is not None else None
            if rect is None or i is None or model.hidden[i]:
                note.hide()
                continue
            placing = self._side(note, rect)
            if placing is None:  # its node is out of sight: so is the note
                note.hide()
                continue
            side, shift = placing
            note.set_side(side)
            scale = max(view.canvas.scale_factor(), 1e-9)  # the note ignores the zoom: its shift is in screen px
            note.setPos(side_anchor(rect, side) + QPointF(shift.x() / scale, shift.y() / scale))
            note.show()

    def _side(self, note: NodeNote, rect: QRectF) -> tuple[str, QPointF] | None:
        """The side for ``note`` beside the box ``rect`` and its shift on screen (px);
        None when the box is mostly out of sight (past the pane's edge, under the
        legend): slid into the pane, its note stood over other boxes."""
        canvas, legend = self._view.canvas, getattr(self._view, "legend", None)
        viewport = QRectF(canvas.viewport().rect()).adjusted(4, 4, -4, -4)
        covered = QRectF()
        if legend is not None and legend.isVisible() and legend.parentWidget() is not None:
            box = QRectF(legend.geometry())
            covered = box.translated(QPointF(canvas.viewport().mapFrom(legend.parentWidget(), QPoint(0, 0))))
        boxes = self._screen_boxes(rect)
        own = QRectF(canvas.mapFromScene(rect).boundingRect())
        # (side, shift) -> how much of the note is cut off, plus COVER_WEIGHT × what it covers (px²)
        hidden = {}
        text_area = own.adjusted(NOTE_PAD_PX[0], NOTE_PAD_PX[1], -NOTE_PAD_PX[0], -NOTE_PAD_PX[1])
        seen = own.intersected(viewport)
        if _area(seen) - _area(seen.intersected(covered)) < 0.5 * _area(own):
            return None
        for side in ("right", "left", "below", "above"):
            anchor = QPointF(canvas.mapFromScene(side_anchor(rect, side)))
            beside = note.screen_rect(side).translated(anchor)
            # slid into the pane when the edge cuts it, as long as it stays off its own
            # box's text; or left where it is, cut with its node at the pane's edge
            shift = QPointF(max(viewport.left() - beside.left(), 0) - max(beside.right() - viewport.right(), 0),
                            max(viewport.top() - beside.top(), 0) - max(beside.bottom() - viewport.bottom(), 0))
            shifts = [shift, QPointF()] if not shift.isNull() else [shift]
            for shift in shifts:
                placed = beside.translated(shift)
                if not shift.isNull() and _area(placed.intersected(text_area)) > 0:
                    continue
                over = sum(_area(placed.intersected(box)) for box in boxes + [covered])
                cut = _area(placed) - _area(placed.intersected(viewport))
                hidden[(side, shift.x(), shift.y())] = cut + COVER_WEIGHT * over
                if hidden[(side, shift.x(), shift.y())] == 0:
                    return side, shift
        side, dx, dy = min(hidden, key=hidden.get)  # no place is clear: the one that hides least
        return side, QPointF(dx, dy)

    def _screen_boxes(self, own: QRectF) -> list[QRectF]:
        """The other shown boxes on screen near ``own`` (a note should not cover them)."""
        view = self._view
        model, canvas = view.item.model, view.canvas
        if model is None:
            return []
        reach = max(canvas.viewport().width(), canvas.viewport().height()) / max(canvas.scale_factor(), 1e-9)
        near = model.nodes_in(own.left() - reach, own.top() - reach, own.right() + reach, own.bottom() + reach, pad=0.0)
        boxes = []
        for i in near[~model.hidden[near]].tolist():
            box = QRectF(*model.node_rect(i))
            if box != own:
                boxes.append(QRectF(canvas.mapFromScene(box).boundingRect()))
        return boxes


def _area(rect: QRectF) -> float:
    return max(rect.width(), 0.0) * max(rect.height(), 0.0) if rect.isValid() else 0.0


def side_anchor(rect: QRectF, side: str) -> QPointF:
    """The middle of ``side`` of a node's box: where a note on that side starts."""
    return {"right": QPointF(rect.right(), rect.center().y()), "left": QPointF(rect.left(), rect.center().y()),
            "below": QPointF(rect.center().x(), rect.bottom()), "above": QPointF(rect.center().x(), rect.top())}[side]
