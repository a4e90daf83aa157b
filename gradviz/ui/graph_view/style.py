"""How graph nodes look: colours per kind and state, fonts, and each node's text and size.

The text and size part (:class:`TextMetrics`, :func:`node_lines`,
:func:`node_size`) is plain Python once the metrics are measured, so layout
jobs in worker threads can size boxes without touching Qt fonts.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from PySide6.QtGui import QColor, QFont, QFontMetricsF

# ---------------------------------------------------------------------------
# colours (fill, border, text) per node kind; torchviz-like: blue parameters,
# green loss, grey ops


@dataclass(frozen=True)
class KindStyle:
    fill: str
    border: str
    text: str = "#111827"
    title: str = ""  # the legend's name for the kind


# Op and parameter borders are light (the fill and the bold name say the kind):
# a dark outline 3.5 px from the text crowded the glyphs, and OCR of LeNet's
# graph at fit (1600×1000, the window as it opens) read 1 of its 15 names with
# #6b7280 / #2563eb borders, 13 with these.
KINDS: dict[str, KindStyle] = {
    "output": KindStyle("#bbf7d0", "#15803d", title="output / loss"),
    "op": KindStyle("#f3f4f6", "#b6bcc6", title="operation"),
    "param": KindStyle("#dbeafe", "#93c5fd", title="parameter"),
    "leaf": KindStyle("#fafafa", "#a1a1aa", title="input (leaf)"),
    "module": KindStyle("#ede9fe", "#7c3aed", title="module (collapsed)"),
}
FALLBACK_KIND = "op"

EDGE = "#7b8494"
BACKGROUND = "#ffffff"
SECONDARY_TEXT = "#4b5563"

# states (drawn over the kind colours)
SELECTED = "#0f172a"
SEARCH_MATCH = "#facc15"
PATH = "#c026d3"
ACTIVE_FILL, ACTIVE_BORDER = "#fdba74", "#ea580c"
VISITED_FILL, VISITED_BORDER = "#ffedd5", "#fb923c"
FLAG_FILL, FLAG_BORDER = "#fecaca", "#dc2626"
HOVER_BORDER = "#111827"
# edge colour by gradient weight: from quiet grey to strong indigo (apart
# from the orange roles, the red flags and the magenta path)
WEIGHT_LOW, WEIGHT_HIGH = "#cbd5e1", "#3730a3"

# geometry (scene px)
PAD_X = 12.0
PAD_Y = 3.5  # compact: LeNet's 15 rows must fit a 1280×720 window at >= 12 px text
# Rows of boxes are this fraction of the tallest box apart: room for the edges
# and their arrows, no more (every px of gap costs text size at fit; with the
# legend strip under the drawing, LeNet's 16 rows need a gap this small to keep
# labels at body text size in a 1280×720 window).
LAYER_GAP_RATIO = 0.34
MIN_LAYER_GAP = 8.0
# Boxes side by side in a row are this far apart: clearly apart, and no wider
# (a row of a conv and its batch norm's two parameters is what makes ResNets
# wide at fit).
NODE_GAP = 16.0
MIN_WIDTH = 56.0
CORNER = 6.0
EDGE_WIDTH = 1.4
ARROW_LENGTH = 6.0
ARROW_HALF_WIDTH = 3.5
# Module boxes are drawn as a small stack of cards: each of the two cards behind
# sits this far (x, y) right of and below the one before. They are part of the box's
# size (the layout and the edge routes make room for them): drawn beyond it they hung
# into the gap between rows, where routed edges run, and hid them. Mostly sideways:
# a tall graph's rows are what limit its text size at fit (resnet18 at depth 2 in an
# 838×812 pane: 10.4 px with the cards outside the box, 8.7 px with cards 4 px down
# each, 9.7 px with 1.5 px down).
STACK_OFFSET = (4.0, 1.5)
STACK_REACH = (2 * STACK_OFFSET[0], 2 * STACK_OFFSET[1])  # how far the back card reaches

# Below this zoom the text would be smaller than ~5 px: boxes are drawn plain
# and edges as one batched path (level of detail for very big graphs).
DETAIL_SCALE = 0.4

# Node text: a Helvetica-like face first, where 0/O and 1/l differ clearly
# (ConvolutionBackward0, fc1.weight), read from the back of a room.
LABEL_FAMILIES = ["Arial", "Helvetica", "Nimbus Sans", "Liberation Sans", "DejaVu Sans"]
MIN_LABEL_POINT_SIZE = 9.0  # node text follows the widget font (themes scale it), never below this
SMALL_FONT_RATIO = 0.85


@lru_cache(maxsize=1024)
def color(name: str, alpha: float = 1.0) -> QColor:
    """A QColor by name (cached: painting asks for the same few colours all the time; do not modify it)."""
    c = QColor(name)
    if alpha < 1.0:
        c.setAlphaF(max(0.0, alpha))
    return c


def kind_style(kind: str | None) -> KindStyle:
    return KINDS.get(kind or FALLBACK_KIND, KINDS[FALLBACK_KIND])


# ---------------------------------------------------------------------------
# fonts and text metrics


class Fonts:
    """The three fonts node boxes use (created on the GUI thread)."""

    def __init__(self, base: QFont | None = None):
        base = QFont(base) if base is not None else QFont()
        size = max(MIN_LABEL_POINT_SIZE, base.pointSizeF() if base.pointSizeF() > 0 else 10.0)
        self.label = QFont(base)
        self.label.setPointSizeF(size)
        self.label.setFamilies(LABEL_FAMILIES)
        self.bold = QFont(self.label)
        self.bold.setBold(True)
        self.small = QFont(self.label)
        self.small.setPointSizeF(size * SMALL_FONT_RATIO)

    def for_style(self, style: str) -> QFont:
        # a NAME_SHAPE line starts with its bold name (the shape part: ``label``)
        return {"bold": self.bold, NAME_SHAPE: self.bold, "small": self.small}.get(style, self.label)


# A line's style that shows a name and a shape on one line: the name bold, the
# shape after NAME_SHAPE_SEPARATOR in the secondary colour. One line instead of
# two keeps parameter boxes as short as the op boxes beside them.
NAME_SHAPE = "name_shape"
NAME_SHAPE_SEPARATOR = "\u2002"  # an en space: reads as a gap where the text is shown whole


def split_name_shape(text: str) -> tuple[str, str]:
    """``"conv1.weight\u2002(6, 1, 5, 5)"`` -> ``("conv1.weight", "\u2002(6, 1, 5, 5)")``."""
    name, sep, shape = text.partition(NAME_SHAPE_SEPARATOR)
    return name, sep + shape


@dataclass(frozen=True)
class TextMetrics:
    """Character advances of the node fonts: measure text without Qt.

    Measured once on the GUI thread (:meth:`measure`); then :meth:`width` is
    plain Python and safe in layout worker threads. Kerning is ignored, which
    the box padding absorbs.
    """

    advances: Mapping[str, Mapping[str, float]]  # style -> char -> px
    line_heights: Mapping[str, float]
    fallback: Mapping[str, float]  # style -> px for characters not measured

    @classmethod
    def measure(cls, fonts: Fonts) -> "TextMetrics":
        advances, heights, fallback = {}, {}, {}
        chars = [chr(c) for c in range(32, 127)] + list("×·…→−")
        for style in ("label", "bold", "small"):
            metrics = QFontMetricsF(fonts.for_style(style))
            advances[style] = {ch: metrics.horizontalAdvance(ch) for ch in chars}
            heights[style] = metrics.height()
            fallback[style] = metrics.horizontalAdvance("M")
        heights[NAME_SHAPE] = max(heights["bold"], heights["label"])
        return cls(advances, heights, fallback)

    def width(self, text: str, style: str = "label") -> float:
        if style == NAME_SHAPE:
            name, shape = split_name_shape(text)
            return self.width(name, "bold") + self.width(shape, "label")
        table = self.advances[style]
        missing = self.fallback[style]
        return sum(table.get(ch, missing) for ch in text)


# ---------------------------------------------------------------------------
# what a node box says


def format_shape(shape: Any) -> str:
    """``(120, 400)`` -> ``"(120, 400)"``; ``()`` -> ``"scalar"``."""
    if shape is None:
        return ""
    shape = tuple(shape)
    if not shape:
        return "scalar"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _saved_lines(saved: Mapping[str, Any], limit: int = 3) -> list[tuple[str, str]]:
    lines = []
    for name, value in list(saved.items())[:limit]:
        shown = format_shape(value) if isinstance(value, tuple) and all(isinstance(v, int) for v in value) else str(value)
        if len(shown) > 24:
            shown = shown[:23] + "…"
        lines.append((f"{name}: {shown}", "small"))
    if len(saved) > limit:
        lines.append((f"+{len(saved) - limit} more saved", "small"))
    return lines


def _name_shape(name: Any, shape: Any) -> tuple[str, str]:
    if shape is None:
        return (str(name), "bold")
    return (f"{name}{NAME_SHAPE_SEPARATOR}{format_shape(shape)}", NAME_SHAPE)


def layer_gap(sizes) -> float:
    """The vertical space between rows of boxes for boxes of ``sizes`` ((w, h) pairs)."""
    tallest = max((h for _, h in sizes), default=0.0)
    return max(MIN_LAYER_GAP, LAYER_GAP_RATIO * tallest)


def node_lines(key: Any, attrs: Mapping[str, Any], show_saved: bool = False) -> list[tuple[str, str]]:
    """The text lines of a node box as ``(text, style)``, style label/bold/small.

    Parameters read like torchviz (name, then shape, on one line), collapsed modules show
    their name and how many nodes they hold, ops their autograd class name.
    """
    kind = attrs.get("kind")
    if kind == "param":
        return [_name_shape(attrs.get("name") or attrs.get("label") or key, attrs.get("shape"))]
    if kind == "leaf":
        return [_name_shape(attrs.get("name") or "input", attrs.get("shape"))]
    if kind == "output":
        lines = [(str(attrs.get("label") or "output"), "bold")]
        shape = attrs.get("shape")
        if shape is not None and len(tuple(shape)) > 0 and "(" not in str(attrs.get("label", "")):
            lines.append((format_shape(shape), "label"))
        return lines
    if kind == "module":
        count = int(attrs.get("count", 0))
        return [(str(attrs.get("label") or attrs.get("module") or key), "bold"), (f"{count} node{'s' if count != 1 else ''}", "small")]
    lines = [(str(attrs.get("label") or key), "label")]
    if show_saved and attrs.get("saved"):
        lines.extend(_saved_lines(attrs["saved"]))
    return lines


def node_size(
    lines: list[tuple[str, str]], metrics: TextMetrics, cache: dict | None = None
) -> tuple[float, float]:
    """``(width, height)`` of the box that holds ``lines`` (scene px, whole numbers).

    ``cache`` (a dict kept by the caller) remembers line widths: labels repeat
    a lot (thousands of ``AddmmBackward0``).
    """
    widest = 0.0
    for text, style in lines:
        width = None if cache is None else cache.get((text, style))
        if width is None:
            width = metrics.width(text, style)
            if cache is not None:
                cache[(text, style)] = width
        widest = max(widest, width)
    height = sum(metrics.line_heights[style] for _, style in lines) + 2 * PAD_Y
    return float(max(MIN_WIDTH, round(widest + 2 * PAD_X + 0.49))), float(round(height + 0.49))
