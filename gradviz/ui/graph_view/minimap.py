"""A small overview of the whole graph in the canvas corner; click or drag to jump.

Autograd graphs are very tall and narrow (a 20k-node graph is ~1.5k px wide
and ~650k px tall), so the overview is stretched to fill its box in both
directions: it shows *where* you are, not the exact shape.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

from . import style
from .items import OVERVIEW_EDGE, OVERVIEW_FILL

WIDTH = 120
MARGIN = 6


class Minimap(QWidget):
    """Overview of ``canvas.item.model`` with the visible area as a rectangle."""

    def __init__(self, canvas):
        super().__init__(canvas)
        self.setObjectName("graphMinimap")
        self.canvas = canvas
        self.setCursor(Qt.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move there")
        self._image: QImage | None = None
        self._image_key = None
        self.hide()

    # -- geometry -----------------------------------------------------------------
    def _content(self) -> QRectF:
        return QRectF(self.rect()).adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)

    def _scene_bounds(self) -> QRectF | None:
        model = self.canvas.item.model
        if model is None or not len(model):
            return None
        left, top, right, bottom = model.node_bounds()
        return QRectF(left, top, max(right - left, 1.0), max(bottom - top, 1.0))

    def _to_map(self, point: QPointF, bounds: QRectF, content: QRectF) -> QPointF:
        return QPointF(
            content.left() + (point.x() - bounds.left()) / bounds.width() * content.width(),
            content.top() + (point.y() - bounds.top()) / bounds.height() * content.height(),
        )

    def _to_scene(self, point: QPointF, bounds: QRectF, content: QRectF) -> QPointF:
        return QPointF(
            bounds.left() + (point.x() - content.left()) / max(content.width(), 1) * bounds.width(),
            bounds.top() + (point.y() - content.top()) / max(content.height(), 1) * bounds.height(),
        )

    def place(self) -> None:
        """Top-right corner of the canvas, about half its height."""
        parent = self.canvas.viewport()
        height = int(min(360, max(120, parent.height() * 0.45)))
        self.setGeometry(parent.width() - WIDTH - 10, 10, WIDTH, height)

    def refresh(self) -> None:
        """Show when the graph does not fit the view, and redraw the viewport frame."""
        bounds = self._scene_bounds()
        wanted = bounds is not None and not self.canvas.visible_scene_rect().contains(bounds)
        if wanted != self.isVisible():
            self.setVisible(wanted)
        if wanted:
            self.update()

    # -- painting -----------------------------------------------------------------
    def _overview_image(self, bounds: QRectF, content: QRectF) -> QImage:
        model = self.canvas.item.model
        key = (id(model), model.version, self.canvas.item.visibility_version, int(content.width()), int(content.height()))
        if key != self._image_key:
            size = content.size().toSize()
            image = QImage(max(size.width(), 1), max(size.height(), 1), QImage.Format_ARGB32_Premultiplied)
            image.fill(Qt.transparent)
            painter = QPainter(image)
            painter.scale(image.width() / bounds.width(), image.height() / bounds.height())
            painter.translate(-bounds.left(), -bounds.top())
            paths = self.canvas.item.overview_paths(model)
            edge_pen = QPen(style.color(OVERVIEW_EDGE), 0)
            edge_pen.setCosmetic(True)
            painter.strokePath(paths["edges"], edge_pen)
            for kind, path in paths["nodes"].items():
                colour = style.color(OVERVIEW_FILL.get(kind, OVERVIEW_FILL["op"]))
                pen = QPen(colour, 0)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.setBrush(colour)
                painter.drawPath(path)
            painter.end()
            self._image, self._image_key = image, key
        return self._image

    def paintEvent(self, event) -> None:  # noqa: N802
        bounds = self._scene_bounds()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setPen(QPen(style.color("#94a3b8"), 1))
        painter.setBrush(style.color("#ffffff", 0.92))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        if bounds is None:
            return
        content = self._content()
        painter.drawImage(content.topLeft(), self._overview_image(bounds, content))
        visible = self.canvas.visible_scene_rect()
        frame = QRectF(self._to_map(visible.topLeft(), bounds, content), self._to_map(visible.bottomRight(), bounds, content))
        frame = frame.intersected(content)
        # keep the frame findable when the view is a sliver of a huge graph
        if frame.height() < 6:
            frame.adjust(0, -(6 - frame.height()) / 2, 0, (6 - frame.height()) / 2)
        if frame.width() < 6:
            frame.adjust(-(6 - frame.width()) / 2, 0, (6 - frame.width()) / 2, 0)
        painter.setPen(QPen(style.color("#2563eb"), 1.5))
        painter.setBrush(style.color("#3b82f6", 0.18))
        painter.drawRect(frame)

    # -- jumping --------------------------------------------------------------------
    def _jump(self, pos) -> None:
        bounds = self._scene_bounds()
        if bounds is not None:
            self.canvas.show_at(self._to_scene(QPointF(pos), bounds, self._content()), animate=False)
            self.canvas.userNavigated.emit()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton:
            self._jump(event.position())
            event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if event.buttons() & Qt.LeftButton:
            self._jump(event.position())
            event.accept()
