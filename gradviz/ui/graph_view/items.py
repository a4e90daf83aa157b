"""The one QGraphicsItem that paints the whole graph, with level of detail.

Zoomed in (scale >= ``DETAIL_SCALE``) only the boxes and edges that touch the
exposed rectangle are drawn, in full: rounded boxes with text, curved edges
with arrowheads, state halos. Zoomed out, text would be unreadable and
thousands of nodes may be visible, so nodes become plain rectangles batched
into one path per kind and edges straight segments in one path, without
antialiasing (cached for the whole graph, or built for just the visible part
when that is small), plus the highlighted states on top and, when few nodes
show, screen-size labels. That keeps a repaint after a pan well under 33 ms
even at 20k nodes (bench/graph_view.py).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from gradviz.core.routes import curve_controls, route_end
from gradviz.ui.elided import elide_dotted

from . import style
from .model import ROLE_ACTIVE, ROLE_VISITED, SceneModel
from .style import ARROW_HALF_WIDTH, ARROW_LENGTH, CORNER, DETAIL_SCALE, Fonts
from .tags import TAG_FILL, TAG_PAD_Y, TAG_RULE, TAG_STYLE, TAG_TEXT, arrange, room_rows

# Zoomed out, pale fills vanish against white; these stronger fills keep
# kinds apart at a glance.
OVERVIEW_FILL = {
    "output": "#22c55e",
    "op": "#9ca3af",
    "param": "#60a5fa",
    "leaf": "#d4d4d8",
    "module": "#a78bfa",
}
OVERVIEW_EDGE = "#b6bcc7"
# Zoomed out on part of a big graph, the visible nodes (up to this many) are
# drawn from fresh paths instead of the cached whole-graph ones.
OVERVIEW_CULL_NODES = 3000
# States drawn zoomed out grow to at least this many screen px, so a flagged
# node stays visible in a 20k-node overview.
MARKER_MIN_PX = 7.0
DIMMED = 0.28  # opacity of everything off the highlighted path
# Zoomed out but with few nodes on screen (a collapsed 24-block model at fit),
# each box gets a small screen-size label beside it, like a map's place names.
OVERVIEW_LABEL_MAX_NODES = 300
OVERVIEW_LABEL_MIN_SCALE = 0.05
OVERVIEW_LABEL_COLOUR = "#1f2937"
WEIGHT_BUCKETS = 8


@lru_cache(maxsize=512)
def _pen(color: str, width: float, cosmetic: bool = False, dashed: bool = False) -> QPen:
    """A pen by colour name; cached because paint() asks for the same few thousands of times."""
    pen = QPen(style.color(color), width)
    pen.setCosmetic(cosmetic)
    pen.setCapStyle(Qt.RoundCap)
    pen.setJoinStyle(Qt.RoundJoin)
    if dashed:
        pen.setStyle(Qt.DashLine)
    return pen


def weight_bucket(weights: np.ndarray) -> np.ndarray:
    """Edge weights -> 0..WEIGHT_BUCKETS-1 (-1 where unset), relative to the largest.

    The square root spreads the small values, which gradient norms mostly are.
    """
    buckets = np.full(len(weights), -1, dtype=np.int64)
    known = ~np.isnan(weights)
    if known.any():
        values = np.abs(weights[known])
        top = float(values.max())
        scaled = np.sqrt(values / top) if top > 0 else np.zeros_like(values)
        buckets[known] = np.minimum((scaled * WEIGHT_BUCKETS).astype(np.int64), WEIGHT_BUCKETS - 1)
    return buckets


def weight_style(bucket: int) -> tuple[str, float]:
    """``(colour, width)`` of an edge in weight bucket ``bucket``."""
    t = (bucket + 1) / WEIGHT_BUCKETS
    low, high = style.color(style.WEIGHT_LOW), style.color(style.WEIGHT_HIGH)
    mixed = style.color(
        "#{:02x}{:02x}{:02x}".format(
            round(low.red() + (high.red() - low.red()) * t),
            round(low.green() + (high.green() - low.green()) * t),
            round(low.blue() + (high.blue() - low.blue()) * t),
        )
    )
    return mixed.name(), 1.2 + 5.0 * t


class GraphItem(QGraphicsItem):
    """Paints a :class:`SceneModel`. Interaction (hover, clicks) lives in the view."""

    def __init__(self, fonts: Fonts):
        super().__init__()
        self.setFlag(QGraphicsItem.ItemUsesExtendedStyleOption, True)
        self.set_fonts(fonts)
        self.model: SceneModel | None = None
        self._rect = QRectF()
        self._overview_key = None
        self._overview: dict = {}
        self.visibility_version = 0  # bumped by the view when nodes are hidden/revealed
        self.badges: dict = {}  # shown key -> lines drawn in the tag band of its box (numbers mode)
        # (key, screen rect, text) of each name the last zoomed-out paint put beside its box
        self.overview_labels: list = []

    def set_fonts(self, fonts: Fonts) -> None:
        self.fonts = fonts
        self._line_heights = {
            name: QFontMetricsF(fonts.for_style(name)).height() for name in ("label", "bold", "small")
        }
        self._line_heights[style.NAME_SHAPE] = max(self._line_heights["bold"], self._line_heights["label"])
        self._bold_metrics, self._label_metrics = QFontMetricsF(fonts.bold), QFontMetricsF(fonts.label)
        self.update()

    # -- model ---------------------------------------------------------------
    def set_model(self, model: SceneModel | None) -> None:
        self.prepareGeometryChange()
        self.model = model
        self._overview_key = None
        self._rect = self._bounds()
        self.update()

    def geometry_changed(self) -> None:
        """Call after the model's positions changed (animations)."""
        self.prepareGeometryChange()
        self._rect = self._bounds()
        self.update()

    def _bounds(self) -> QRectF:
        if self.model is None:
            return QRectF()
        left, top, right, bottom = self.model.bounds(margin=12.0)
        return QRectF(left, top, right - left, bottom - top)

    def set_badges(self, badges: dict) -> None:
        """Lines of text per shown key, drawn in the tag band of the node's box; ``{}`` removes them."""
        self.badges = {key: list(lines) for key, lines in badges.items() if lines}
        self.update()

    def badge_boxes(self) -> dict:
        """Node index -> the scene rectangle of its tag: the band at the bottom of
        its box that the layout made room for (nodes with a tag and room only)."""
        m = self.model
        if m is None or not self.badges:
            return {}
        boxes = {}
        for node_key in self.badges:
            i = m.index.get(node_key)
            if i is not None and m.tag_h[i] > 0:
                reach_x, reach_y = style.STACK_REACH if m.kinds[i] == "module" else (0.0, 0.0)  # the front card's band
                boxes[i] = QRectF(m.x0[i], m.y1[i] - reach_y - m.tag_h[i], m.w[i] - reach_x, m.tag_h[i])
        return boxes

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._rect

    def update_node(self, i: int) -> None:
        """Repaint just around node ``i`` (hover, roles), halos and zoomed-out markers included."""
        if self.model is not None and 0 <= i < len(self.model):
            left, top, width, height = self.model.node_rect(i)
            views = self.scene().views() if self.scene() is not None else []
            scale = views[0].transform().m11() if views else 1.0
            pad = max(10.0, MARKER_MIN_PX / max(scale, 1e-9))
            self.update(QRectF(left - pad, top - pad, width + 2 * pad, height + 2 * pad))

    # -- painting ------------------------------------------------------------
    def paint(self, painter: QPainter, option, widget=None) -> None:
        model = self.model
        if model is None or not len(model):
            return
        scale = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        exposed = option.exposedRect
        if exposed.isEmpty():
            exposed = self._rect
        self.overview_labels = []  # this paint's, if it puts any beside the boxes
        if scale >= DETAIL_SCALE:
            self._paint_detail(painter, model, exposed)
        else:
            self._paint_overview(painter, model, exposed, scale)

    # detail ------------------------------------------------------------------
    def _paint_detail(self, p: QPainter, m: SceneModel, exposed: QRectF) -> None:
        p.setRenderHint(QPainter.Antialiasing, True)
        p.setRenderHint(QPainter.TextAntialiasing, True)
        bounds = (exposed.left(), exposed.top(), exposed.right(), exposed.bottom())
        edges = m.edges_in(*bounds)
        if len(edges):
            edges = edges[m.visible_edges_mask()[edges]]
            self._draw_edges(p, m, edges)
        nodes = m.nodes_in(*bounds)
        if len(nodes):
            nodes = nodes[~m.hidden[nodes]]
            for i in nodes.tolist():
                self._draw_node(p, m, i)
        p.setOpacity(1.0)

    def _draw_edges(self, p: QPainter, m: SceneModel, edges: np.ndarray) -> None:
        # Edges with the same look are batched into one stroke and one fill
        # (arrowheads); the look depends on path highlight, weight, merge
        # count and opacity.
        buckets = weight_bucket(m.edge_weight[edges]) if not np.isnan(m.edge_weight).all() else np.full(len(edges), -1)
        alpha = np.minimum(m.alpha[m.src[edges]], m.alpha[m.dst[edges]]) * m.edge_alpha[edges]
        on_path = m.path_edges[edges]
        if m.path_active:
            alpha = np.where(on_path, alpha, alpha * DIMMED)
        alpha_step = np.round(alpha * 10).astype(np.int64)
        thickness = np.minimum(np.log2(np.maximum(m.edge_counts[edges], 1)).astype(np.int64), 3)
        groups: dict[tuple, list[int]] = {}
        for j, e in enumerate(edges.tolist()):
            if alpha_step[j] <= 0:
                continue
            key = (bool(on_path[j]) and m.path_active, int(buckets[j]), int(thickness[j]), int(alpha_step[j]))
            groups.setdefault(key, []).append(e)
        for (path_edge, bucket, thick, alpha10), members in groups.items():
            if path_edge:
                colour, width = style.PATH, 2.6
            elif bucket >= 0:
                colour, width = weight_style(bucket)
            else:
                colour, width = style.EDGE, style.EDGE_WIDTH
            width += 0.8 * thick
            curves, arrows = QPainterPath(), QPainterPath()
            head = max(ARROW_HALF_WIDTH, width * 1.6)
            for e in members:
                x1, y1, base = _add_edge_curve(curves, m, e)
                arrows.moveTo(x1, y1)
                arrows.lineTo(x1 - head, base)
                arrows.lineTo(x1 + head, base)
                arrows.closeSubpath()
            p.setOpacity(alpha10 / 10.0)
            p.strokePath(curves, _pen(colour, width))
            p.fillPath(arrows, style.color(colour))

    def _node_colours(self, m: SceneModel, i: int):
        kind = m.kinds[i]
        look = style.kind_style(kind)
        fill, border, width = look.fill, look.border, 1.3
        if kind in ("param", "output", "module"):
            width = 1.8
        if m.flagged[i]:
            fill, border, width = style.FLAG_FILL, style.FLAG_BORDER, 3.0
        elif m.role[i] == ROLE_ACTIVE:
            fill, border, width = style.ACTIVE_FILL, style.ACTIVE_BORDER, 3.0
        elif m.role[i] == ROLE_VISITED:
            # 1.6, not 2: the border runs 3.5 px from the text (PAD_Y); a heavier
            # one crowded the glyphs read from afar (OCR of the 1600×1000 lecture
            # screenshot at half size: 11 -> 13 of LeNet's 15 names), and the
            # strong orange still marks the state on a washed-out projector.
            fill, border, width = style.VISITED_FILL, style.VISITED_BORDER, 1.6
        if m.path_active and m.path_nodes[i] and not m.flagged[i]:
            border, width = style.PATH, 2.6
        if i == m.hover:
            width += 0.8
            if border == look.border:
                border = style.HOVER_BORDER
        return look, fill, border, width

    def _draw_node(self, p: QPainter, m: SceneModel, i: int) -> None:
        opacity = float(m.alpha[i])
        if m.path_active and not m.path_nodes[i]:
            opacity *= DIMMED
        if opacity <= 0.02:
            return
        p.setOpacity(opacity)
        rect = QRectF(m.x0[i], m.y0[i], m.w[i], m.h[i])
        look, fill, border, width = self._node_colours(m, i)
        kind = m.kinds[i]

        if m.matched[i]:
            grow = 7.0 if i == m.current else 4.0
            p.setPen(Qt.NoPen)
            p.setBrush(style.color(style.SEARCH_MATCH, 0.9 if i == m.current else 0.55))
            p.drawRoundedRect(rect.adjusted(-grow, -grow, grow, grow), CORNER + grow, CORNER + grow)

        p.setBrush(QBrush(style.color(fill)))
        outline = rect  # what the selection ring goes around: the whole box, cards and all
        if kind == "module":
            # a small stack of cards: "there is more inside"; the front card holds
            # the text, the two behind fill the rest of the box (style.STACK_REACH)
            rect = rect.adjusted(0, 0, -style.STACK_REACH[0], -style.STACK_REACH[1])
            p.setPen(_pen(border, 1.2))
            for step in (2, 1):
                p.drawRoundedRect(rect.translated(style.STACK_OFFSET[0] * step, style.STACK_OFFSET[1] * step),
                                  CORNER, CORNER)
        p.setPen(_pen(border, width, dashed=(kind == "leaf" and not m.flagged[i])))
        p.drawRoundedRect(rect, CORNER, CORNER)
        tag_height = float(m.tag_h[i])
        if tag_height > 0:
            self._draw_tag_band(p, rect, tag_height, border, width, dashed=(kind == "leaf" and not m.flagged[i]))

        if i == m.selected:
            p.setBrush(Qt.NoBrush)
            p.setPen(_pen(style.SELECTED, 2.2))
            p.drawRoundedRect(outline.adjusted(-4.5, -4.5, 4.5, 4.5), CORNER + 4, CORNER + 4)

        label = rect.adjusted(0, 0, 0, -tag_height)  # the tag band is under the label
        self._draw_text(p, m.lines[i], label, look)
        badge = self.badges.get(m.keys[i]) if self.badges and tag_height > 0 else None
        if badge:
            self._draw_tag_text(p, badge, QRectF(rect.left(), label.bottom(), rect.width(), tag_height))

    def _draw_tag_band(self, p: QPainter, rect: QRectF, height: float, border: str, width: float, dashed: bool) -> None:
        """The white band a tag's rows go in, at the bottom of the box, with a rule above it."""
        top = rect.bottom() - height
        outline = QPainterPath()
        outline.addRoundedRect(rect, CORNER, CORNER)
        band = QPainterPath()
        band.addRect(QRectF(rect.left(), top, rect.width(), height))
        p.fillPath(outline.intersected(band), style.color(TAG_FILL))
        p.setBrush(Qt.NoBrush)
        p.setPen(_pen(border, width, dashed=dashed))
        p.drawRoundedRect(rect, CORNER, CORNER)  # the border again, over the band's edge
        p.setPen(_pen(TAG_RULE, 1.0))
        p.drawLine(rect.left() + width / 2, top, rect.right() - width / 2, top)

    def _draw_tag_text(self, p: QPainter, lines, band: QRectF) -> None:
        p.setFont(self.fonts.for_style(TAG_STYLE))
        p.setPen(style.color(TAG_TEXT))
        line_height = self._line_heights[TAG_STYLE]
        for row, line in enumerate(arrange(lines, room_rows(band.height(), line_height))):
            top = band.top() + TAG_PAD_Y + row * line_height
            p.drawText(QRectF(band.left(), top, band.width(), line_height), Qt.AlignCenter, line)

    def _draw_text(self, p: QPainter, lines, rect: QRectF, look) -> None:
        heights = [self._line_heights[s] for _, s in lines]
        y = rect.center().y() - sum(heights) / 2
        for (text, line_style), height in zip(lines, heights):
            if line_style == style.NAME_SHAPE:
                self._draw_name_shape(p, text, QRectF(rect.left(), y, rect.width(), height), look)
                y += height
                continue
            p.setFont(self.fonts.for_style(line_style))
            secondary = line_style == "small" or (line_style == "label" and text.startswith("(")) or text == "scalar"
            p.setPen(style.color(style.SECONDARY_TEXT if secondary else look.text))
            p.drawText(QRectF(rect.left(), y, rect.width(), height), Qt.AlignCenter, text)
            y += height

    def _draw_name_shape(self, p: QPainter, text: str, line: QRectF, look) -> None:
        """``conv1.weight (6, 1, 5, 5)``: the name bold, the shape secondary, centred together."""
        name, shape = style.split_name_shape(text)
        name_width = self._bold_metrics.horizontalAdvance(name)
        shape_width = self._label_metrics.horizontalAdvance(shape)
        left = line.center().x() - (name_width + shape_width) / 2
        p.setFont(self.fonts.bold)
        p.setPen(style.color(look.text))
        p.drawText(QRectF(left, line.top(), name_width + 1, line.height()), Qt.AlignLeft | Qt.AlignVCenter, name)
        p.setFont(self.fonts.label)
        p.setPen(style.color(style.SECONDARY_TEXT))
        p.drawText(QRectF(left + name_width, line.top(), shape_width + 1, line.height()), Qt.AlignLeft | Qt.AlignVCenter, shape)

    # overview ----------------------------------------------------------------
    def overview_paths(self, m: SceneModel) -> dict:
        """Batched paths of all shown nodes (per kind) and edges, cached per geometry."""
        key = (id(m), m.version, self.visibility_version)
        if key != self._overview_key:
            self._overview = self._batched_paths(m, np.arange(len(m)), np.arange(len(m.src)))
            self._overview_key = key
        return self._overview

    @staticmethod
    def _batched_paths(m: SceneModel, nodes: np.ndarray, edges: np.ndarray) -> dict:
        """One path per node kind (plain rectangles) and one of straight edge segments."""
        shown = ~m.hidden & (m.alpha > 0.35)
        paths: dict[str, QPainterPath] = {}
        x0, y0, w, h = m.x0, m.y0, m.w, m.h
        for i in nodes[shown[nodes]].tolist():
            path = paths.get(m.kinds[i])
            if path is None:
                path = paths[m.kinds[i]] = QPainterPath()
            path.addRect(x0[i], y0[i], w[i], h[i])
        edge_path = QPainterPath()
        if len(edges):
            keep = m.visible_edges_mask()[edges] & (m.edge_alpha[edges] > 0.35) & shown[m.src[edges]] & shown[m.dst[edges]]
            edges = edges[keep]
            for e in edges.tolist():
                _add_edge_polyline(edge_path, m, e)
        return {"nodes": paths, "edges": edge_path}

    def _paint_overview(self, p: QPainter, m: SceneModel, exposed: QRectF, scale: float) -> None:
        p.setRenderHint(QPainter.Antialiasing, False)
        bounds = (exposed.left(), exposed.top(), exposed.right(), exposed.bottom())
        visible = m.nodes_in(*bounds, pad=0.0)
        if len(visible) <= max(OVERVIEW_CULL_NODES, 0.3 * len(m)):
            # a part of a big graph: drawing just that beats clipping all of it
            paths = self._batched_paths(m, visible, m.edges_in(*bounds))
        else:
            paths = self.overview_paths(m)
        base_opacity = DIMMED if m.path_active else 1.0
        p.setOpacity(base_opacity)
        p.strokePath(paths["edges"], _pen(OVERVIEW_EDGE, 0, cosmetic=True))
        for kind, path in paths["nodes"].items():
            colour = OVERVIEW_FILL.get(kind, OVERVIEW_FILL["op"])
            p.setPen(_pen(colour, 0, cosmetic=True))  # at least one pixel, however far out
            p.setBrush(style.color(colour))
            p.drawPath(path)
        p.setOpacity(1.0)
        self._paint_overview_states(p, m, exposed, scale)
        if scale >= OVERVIEW_LABEL_MIN_SCALE:
            self._paint_overview_labels(p, m, exposed)

    def _paint_overview_labels(self, p: QPainter, m: SceneModel, exposed: QRectF) -> None:
        """Screen-size names beside the boxes, skipping any that would overlap."""
        nodes = m.nodes_in(exposed.left(), exposed.top(), exposed.right(), exposed.bottom(), pad=0.0)
        nodes = nodes[~m.hidden[nodes] & (m.alpha[nodes] > 0.5)]
        if not len(nodes) or len(nodes) > OVERVIEW_LABEL_MAX_NODES:
            return
        to_screen = p.worldTransform()
        boxes = [to_screen.mapRect(QRectF(m.x0[i], m.y0[i], m.w[i], m.h[i])) for i in nodes.tolist()]
        taken = _Occupancy()
        for box in boxes:
            taken.add(box)
        font = self.fonts.small
        metrics = QFontMetricsF(font)
        p.save()
        p.resetTransform()
        p.setRenderHint(QPainter.TextAntialiasing, True)
        p.setFont(font)
        p.setPen(style.color(OVERVIEW_LABEL_COLOUR))
        if m.path_active:
            p.setOpacity(0.6)
        pane = self._pane_on_screen(p, to_screen)
        self.overview_labels = []
        for i, box in zip(nodes.tolist(), boxes):
            name = m.lines[i][0][0]
            if m.kinds[i] == "module":
                # (" · 12 nodes", as inside the box: "(12)" after "relu (call 2)" read as a third call's number)
                name += f" · {int(m.attrs[i].get('count', 0))} nodes"
            text = name
            badge = self.badges.get(m.keys[i]) if self.badges else None
            if badge:  # numbers mode zoomed out: the tag's lines follow the name, at screen size
                text += "   " + " | ".join(badge)
            placed = beside_box(text, name, box, pane, metrics, taken)
            if placed is not None:
                label, shown = placed
                taken.add(label)
                p.drawText(label, Qt.AlignLeft | Qt.AlignVCenter, shown)
                self.overview_labels.append((m.keys[i], label, shown))
        p.restore()

    def _pane_on_screen(self, p: QPainter, to_screen) -> QRectF:
        """The part of the picture the user sees, in the painter's screen coordinates:
        the view's viewport when painting it (its exposed rect may be a part only),
        else the whole picture (an export)."""
        device = p.device()
        for view in (self.scene().views() if self.scene() is not None else ()):
            if view.viewport() is device:
                seen = view.mapToScene(view.viewport().rect()).boundingRect()
                return to_screen.mapRect(self.mapRectFromScene(seen))
        return QRectF(p.viewport())

    def _paint_overview_states(self, p: QPainter, m: SceneModel, exposed: QRectF, scale: float) -> None:
        bounds = (exposed.left(), exposed.top(), exposed.right(), exposed.bottom())
        grow = MARKER_MIN_PX / max(scale, 1e-9)
        # highlighted edges: the param-to-loss path and gradient weights
        if m.path_active or not np.isnan(m.edge_weight).all():
            edges = m.edges_in(*bounds)
            edges = edges[m.visible_edges_mask()[edges]]
            if m.path_active:
                self._stroke_lines(p, m, edges[m.path_edges[edges]], style.PATH, 2.5)
            buckets = weight_bucket(m.edge_weight[edges])
            for bucket in range(WEIGHT_BUCKETS):
                chosen = edges[buckets == bucket]
                if len(chosen):
                    colour, width = weight_style(bucket)
                    self._stroke_lines(p, m, chosen, colour, max(1.0, width / 2))
        markers = []
        shown = ~m.hidden
        if m.path_active:
            markers.append((m.path_nodes & shown, style.PATH, 0.4))
        markers += [
            ((m.role == ROLE_VISITED) & shown, style.VISITED_BORDER, 0.5),
            ((m.role == ROLE_ACTIVE) & shown, style.ACTIVE_BORDER, 1.0),
            (m.flagged & shown, style.FLAG_BORDER, 1.0),
            (m.matched & shown, style.SEARCH_MATCH, 0.9),
        ]
        candidates = m.nodes_in(*bounds, pad=grow)
        for mask, colour, size in markers:
            chosen = candidates[mask[candidates]]
            if len(chosen):
                self._fill_markers(p, m, chosen, colour, grow * size)
        for i, colour in ((m.current, style.SEARCH_MATCH), (m.selected, style.SELECTED)):
            if i >= 0 and not m.hidden[i]:
                self._fill_markers(p, m, np.array([i]), colour, grow)

    def _stroke_lines(self, p: QPainter, m: SceneModel, edges: np.ndarray, colour: str, width: float) -> None:
        if not len(edges):
            return
        path = QPainterPath()
        for e in edges.tolist():
            _add_edge_polyline(path, m, e)
        p.strokePath(path, _pen(colour, width, cosmetic=True))

    def _fill_markers(self, p: QPainter, m: SceneModel, nodes: np.ndarray, colour: str, min_size: float) -> None:
        path = QPainterPath()
        for i in nodes.tolist():
            w, h = max(m.w[i], min_size), max(m.h[i], min_size)
            path.addRect(m.x[i] - w / 2, m.y[i] - h / 2, w, h)
        p.fillPath(path, style.color(colour))


def _add_edge_curve(path: QPainterPath, m: SceneModel, e: int) -> tuple[float, float, float]:
    """Add edge ``e`` to ``path``, up to where its arrowhead starts; returns ``(x, tip_y, base_y)``.

    Along its route around the boxes while the boxes are where the layout put
    them (runs down free columns, S-curves in the gaps between rows); as one
    smooth curve from box to box while they move (a morph)."""
    if not m.routed:
        x0, y0, x1, y1, k = m.sx[e], m.sy[e], m.ex[e], m.ey[e], m.pull[e]
        base = y1 - ARROW_LENGTH
        path.moveTo(x0, y0)
        path.cubicTo(x0, y0 + k, x1, base - k, x1, base)
        return x1, y1, base
    route = m.routes[e]
    x_end, y_end, direction = route_end(route)
    base = y_end - direction * ARROW_LENGTH
    last = len(route) - 1
    for i, column in enumerate(route):
        x, y_from, y_to = column
        if i == 0:
            path.moveTo(x, y_from)
        else:
            path.cubicTo(*[coordinate for point in curve_controls(route[i - 1], column)[1:] for coordinate in point])
        stop = base if i == last else y_to  # the arrowhead covers the rest of the last run
        if (stop - y_from) * direction > 0:
            path.lineTo(x, stop)
    return x_end, y_end, base


def _add_edge_polyline(path: QPainterPath, m: SceneModel, e: int) -> None:
    """Edge ``e`` as straight segments (the overview: cheap, still around the boxes when routed)."""
    if not m.routed:
        path.moveTo(m.sx[e], m.sy[e])
        path.lineTo(m.ex[e], m.ey[e])
        return
    route = m.routes[e]
    path.moveTo(route[0][0], route[0][1])
    for x, y_from, y_to in route:
        path.lineTo(x, y_from)
        path.lineTo(x, y_to)


OVERVIEW_LABEL_GAP = 5.0  # px between a box and the name beside it


def beside_box(text: str, name: str, box: QRectF, pane: QRectF, metrics: QFontMetricsF,
               taken: "_Occupancy") -> tuple[QRectF, str] | None:
    """Where a zoomed-out node's ``text`` goes (screen px), and what of it is shown.

    Right of the box, else left, whole, inside the pane and on no box or name already
    placed. Where neither side holds it whole inside the pane, the roomier side gets a
    shorter form: the name without its shape (``name``), then whole dotted parts
    dropped from its middle (:func:`gradviz.ui.elided.elide_dotted`). Drawn where it
    did not fit, a name was cut at the pane's edge ("_ih_l0", "lstm.bias_hh_l").
    None where not even that fits."""
    height = metrics.height()
    top = box.center().y() - height / 2

    def at(shown: str, right: bool) -> QRectF:
        width = metrics.horizontalAdvance(shown) + 2
        return QRectF(box.right() + OVERVIEW_LABEL_GAP if right else box.left() - OVERVIEW_LABEL_GAP - width,
                      top, width, height)

    def free(rect: QRectF) -> bool:
        return pane.contains(rect) and not taken.hits(rect)

    for right in (True, False):
        if free(at(text, right)):
            return at(text, right), text
    rooms = {True: pane.right() - box.right() - OVERVIEW_LABEL_GAP, False: box.left() - OVERVIEW_LABEL_GAP - pane.left()}
    for right in sorted(rooms, key=rooms.get, reverse=True):
        room = rooms[right] - 2
        short = name.partition(style.NAME_SHAPE_SEPARATOR)[0]
        short = elide_dotted(short, lambda candidate: metrics.horizontalAdvance(candidate) <= room)
        if metrics.horizontalAdvance(short) <= room and free(at(short, right)):
            return at(short, right), short
    return None


class _Occupancy:
    """Screen rectangles already used, bucketed by 16 px rows for quick overlap tests."""

    ROW = 16.0

    def __init__(self):
        self._rows: dict[int, list[QRectF]] = {}

    def _rows_of(self, rect: QRectF) -> range:
        return range(int(rect.top() // self.ROW), int(rect.bottom() // self.ROW) + 1)

    def add(self, rect: QRectF) -> None:
        for row in self._rows_of(rect):
            self._rows.setdefault(row, []).append(rect)

    def hits(self, rect: QRectF) -> bool:
        return any(rect.intersects(other) for row in self._rows_of(rect) for other in self._rows.get(row, ()))
