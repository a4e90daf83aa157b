"""The zoomable, pannable QGraphicsView that shows the graph item.

Interaction: wheel (and pinch, and +/-) zooms around the cursor, dragging
pans, F fits the graph, 0 goes to 100 %. Clicks and hovers are resolved to
node indices with the model's array hit-test (the graph is one item) and
reported as signals; the owning GraphView decides what they mean.
"""
from __future__ import annotations

import math
from typing import Callable

from PySide6.QtCore import QEasingCurve, QEvent, QPointF, QRectF, Qt, QVariantAnimation, Signal
from PySide6.QtGui import QPainter, QTransform
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView, QToolTip

from . import style
from .items import GraphItem

MIN_SCALE = 0.0002
MAX_SCALE = 4.0
FIT_MAX_SCALE = 1.5
# px around the graph at fit: a frame, no more (each px of it costs text size)
FIT_MARGIN = 12.0
WHEEL_ZOOM_PER_NOTCH = 1.2
KEY_ZOOM = 1.25
CLICK_SLOP_PX = 5  # a press that moves less than this is a click, not a drag
VIEW_ANIMATION_MS = 260


class GraphScene(QGraphicsScene):
    """Scene that asks its owner for node tooltips (the graph is a single item)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        # One item: an index would only cost time.
        self.setItemIndexMethod(QGraphicsScene.NoIndex)
        self.tooltip_at: Callable[[QPointF], "tuple[str, QRectF] | None"] | None = None

    def helpEvent(self, event) -> None:  # noqa: N802 (Qt API)
        found = self.tooltip_at(event.scenePos()) if self.tooltip_at else None
        viewport = event.widget()
        if not found or viewport is None:
            QToolTip.hideText()
            event.ignore()
            return
        text, scene_rect = found
        view = viewport.parentWidget()
        area = view.mapFromScene(scene_rect).boundingRect() if isinstance(view, QGraphicsView) else viewport.rect()
        QToolTip.showText(event.screenPos(), text, viewport, area)
        event.accept()


class GraphCanvas(QGraphicsView):
    """QGraphicsView with zoom/pan/fit and node-level mouse signals.

    Signals:
        nodeClicked(int): index in the item's model, -1 for empty space.
        nodeDoubleClicked(int)
        nodeContextMenu(int, QPoint): right click (index -1 on empty space).
        hoverChanged(int)
        viewChanged(): zoom or scroll changed (minimap follows).
        fitRequested(): the F key was pressed.
        userNavigated(): wheel, pinch, zoom keys or a drag moved the view.
    """

    nodeClicked = Signal(int)
    nodeDoubleClicked = Signal(int)
    nodeContextMenu = Signal(int, object)
    hoverChanged = Signal(int)
    viewChanged = Signal()
    fitRequested = Signal()  # the F key
    userNavigated = Signal()  # the user zoomed or panned by hand
    resized = Signal()  # the viewport got a new size (e.g. the legend strip below grew)

    def __init__(self, item: GraphItem, parent=None):
        super().__init__(parent)
        self.setObjectName("graphCanvas")
        self.item = item
        self.graph_scene = GraphScene(self)
        self.graph_scene.addItem(item)
        self.setScene(self.graph_scene)
        self.setBackgroundBrush(style.color(style.BACKGROUND))
        self.setFrameShape(QFrame.NoFrame)
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        # The minimap shows where we are; scroll bars only take room.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setViewportUpdateMode(QGraphicsView.MinimalViewportUpdate)
        self.setFocusPolicy(Qt.StrongFocus)
        self.viewport().setMouseTracking(True)
        self.viewport().grabGesture(Qt.PinchGesture)
        self.animations_enabled = True
        self._press_pos = None
        self._hover = -1
        self._view_animation = QVariantAnimation(self)
        self._view_animation.setEasingCurve(QEasingCurve.OutCubic)
        self._view_animation.valueChanged.connect(self._animate_view_step)
        self._view_from = self._view_to = None
        self._content: QRectF | None = None

    # -- scene extent ---------------------------------------------------------------
    def set_content_bounds(self, rect: QRectF | None) -> None:
        """The graph's extent; the scene adds half a viewport around it so any node can be centred."""
        self._content = QRectF(rect) if rect is not None else None
        self._update_scene_rect()

    def _update_scene_rect(self, keep_centre: bool = True) -> None:
        if self._content is None:
            self.setSceneRect(QRectF(0, 0, 1, 1))
            return
        scale = max(self.scale_factor(), MIN_SCALE)
        margin_x = self.viewport().width() / (2 * scale)
        margin_y = self.viewport().height() / (2 * scale)
        wanted = self._content.adjusted(-margin_x, -margin_y, margin_x, margin_y)
        if wanted != self.sceneRect():
            centre = self.visible_scene_rect().center()
            self.setSceneRect(wanted)
            if keep_centre:
                self.centerOn(centre)

    # -- zoom ------------------------------------------------------------------
    def scale_factor(self) -> float:
        return self.transform().m11()

    def set_scale(self, scale: float) -> None:
        scale = min(MAX_SCALE, max(MIN_SCALE, scale))
        current = self.scale_factor()
        if current > 0 and not math.isclose(scale, current):
            self.scale(scale / current, scale / current)
            self._update_scene_rect()
            self.viewChanged.emit()

    def zoom_by(self, factor: float) -> None:
        self._view_animation.stop()
        self.set_scale(self.scale_factor() * factor)

    def fit_scale(self, rect: QRectF, margin: float = FIT_MARGIN) -> float:
        view = self.viewport().rect().adjusted(int(margin), int(margin), -int(margin), -int(margin))
        if rect.isEmpty() or view.width() <= 0 or view.height() <= 0:
            return 1.0
        # Small graphs grow a little (readable from the back of a lecture
        # hall) but not without bound: huge boxes are not clearer boxes.
        return min(FIT_MAX_SCALE, view.width() / rect.width(), view.height() / rect.height())

    def fit_rect(self, rect: QRectF, animate: bool = True) -> None:
        self.show_at(rect.center(), self.fit_scale(rect), animate)

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    # -- moving the view --------------------------------------------------------
    def show_at(self, centre: QPointF, scale: float | None = None, animate: bool = True) -> None:
        """Centre the view on ``centre`` at ``scale`` (default: keep), smoothly."""
        scale = self.scale_factor() if scale is None else min(MAX_SCALE, max(MIN_SCALE, scale))
        self._view_animation.stop()
        if not (animate and self.animations_enabled and self.isVisible()):
            self._apply_view(centre, scale)
            return
        self._view_from = (self.visible_scene_rect().center(), self.scale_factor())
        self._view_to = (QPointF(centre), scale)
        self._view_animation.setDuration(VIEW_ANIMATION_MS)
        self._view_animation.setStartValue(0.0)
        self._view_animation.setEndValue(1.0)
        self._view_animation.start()

    def _apply_view(self, centre: QPointF, scale: float) -> None:
        self.setTransform(QTransform.fromScale(scale, scale))
        self._update_scene_rect(keep_centre=False)
        self.centerOn(centre)
        self.viewChanged.emit()

    def _animate_view_step(self, t) -> None:
        if self._view_from is None:
            return
        (c0, s0), (c1, s1) = self._view_from, self._view_to
        t = float(t)
        # zoom interpolates in log space: constant perceived speed
        scale = math.exp(math.log(s0) + (math.log(s1) - math.log(s0)) * t)
        centre = QPointF(c0.x() + (c1.x() - c0.x()) * t, c0.y() + (c1.y() - c0.y()) * t)
        self._apply_view(centre, scale)

    def stop_animation(self) -> None:
        self._view_animation.stop()

    # -- input --------------------------------------------------------------------
    def wheelEvent(self, event) -> None:  # noqa: N802
        if event.modifiers() & Qt.ShiftModifier:
            super().wheelEvent(event)  # Shift+wheel scrolls
            return
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if delta:
            self.zoom_by(WHEEL_ZOOM_PER_NOTCH ** (delta / 120.0))
            self.userNavigated.emit()
        event.accept()

    def viewportEvent(self, event) -> bool:  # noqa: N802
        if event.type() == QEvent.Gesture:
            pinch = event.gesture(Qt.PinchGesture)
            if pinch is not None:
                self.zoom_by(pinch.scaleFactor())
                self.userNavigated.emit()
                event.accept()
                return True
        if event.type() == QEvent.NativeGesture and event.gestureType() == Qt.ZoomNativeGesture:
            self.zoom_by(1.0 + event.value())  # trackpad pinch on macOS
            self.userNavigated.emit()
            return True
        return super().viewportEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        key = event.key()
        if key in (Qt.Key_Plus, Qt.Key_Equal):
            self._zoom_centre(KEY_ZOOM)
            self.userNavigated.emit()
        elif key in (Qt.Key_Minus, Qt.Key_Underscore):
            self._zoom_centre(1 / KEY_ZOOM)
            self.userNavigated.emit()
        elif key == Qt.Key_F and not event.modifiers() & (Qt.ControlModifier | Qt.MetaModifier):
            self.fitRequested.emit()
        elif key == Qt.Key_0:
            self.show_at(self.visible_scene_rect().center(), 1.0)
            self.userNavigated.emit()
        else:
            super().keyPressEvent(event)

    def _zoom_centre(self, factor: float) -> None:
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.AnchorViewCenter)
        self.zoom_by(factor)
        self.setTransformationAnchor(anchor)

    def _index_at(self, view_pos) -> int:
        model = self.item.model
        if model is None:
            return -1
        scene_pos = self.mapToScene(view_pos)
        return model.node_at(scene_pos.x(), scene_pos.y())

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._press_pos = event.position().toPoint() if event.button() == Qt.LeftButton else None
        self.setFocus(Qt.MouseFocusReason)
        self._view_animation.stop()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        super().mouseReleaseEvent(event)
        if event.button() == Qt.LeftButton and self._press_pos is not None:
            moved = (event.position().toPoint() - self._press_pos).manhattanLength()
            self._press_pos = None
            if moved < CLICK_SLOP_PX:
                self.nodeClicked.emit(self._index_at(event.position().toPoint()))
            else:
                self.userNavigated.emit()  # a drag panned the view

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.LeftButton:
            index = self._index_at(event.position().toPoint())
            if index >= 0:
                self.nodeDoubleClicked.emit(index)
                event.accept()
                return
        super().mouseDoubleClickEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        super().mouseMoveEvent(event)
        if event.buttons() == Qt.NoButton:
            self.set_hover(self._index_at(event.position().toPoint()))

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.set_hover(-1)
        super().leaveEvent(event)

    def set_hover(self, index: int) -> None:
        model = self.item.model
        if model is None or index == self._hover:
            return
        old, self._hover = self._hover, index
        model.hover = index
        self.item.update_node(old)
        self.item.update_node(index)
        self.hoverChanged.emit(index)

    def reset_hover(self) -> None:
        self._hover = -1

    def contextMenuEvent(self, event) -> None:  # noqa: N802
        self.nodeContextMenu.emit(self._index_at(event.pos()), event.globalPos())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._update_scene_rect()
        self.viewChanged.emit()
        self.resized.emit()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802
        super().scrollContentsBy(dx, dy)
        self.viewChanged.emit()
