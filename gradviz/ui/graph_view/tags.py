"""Tags on nodes (numbers mode): rows of text inside the node's box, under its label.

Like micrograd's ``draw_dot`` records, the tag is part of the node: the box
is laid out with room for its tag rows (the *room*: the widest lines the tag
will ever hold, e.g. ``data [−8.8e−8, −8.8e−8]``), so a tag can never cover
another node, an edge or another tag, and the boxes do not move when the
values arrive or change. Plain Python: the layout worker sizes boxes with it.
"""
from __future__ import annotations

from typing import Callable, Hashable, Mapping, Sequence

from .style import PAD_X, TextMetrics

# Tag rows use the node label's font: the numbers are as readable as the names.
TAG_STYLE = "label"
TAG_PAD_Y = 3.0  # above and below the rows, inside the tag's band
# The band is white with a grey rule above it: OCR (tools/legible) reads the
# numbers far better on white than on the node's tinted fill.
TAG_FILL = "#ffffff"
TAG_RULE = "#9ca3af"
TAG_TEXT = "#111827"

# A tag's lines side by side when its room has fewer rows than it has lines: a
# scalar's "data 0.881 | grad −0.293" in one row, like draw_dot's records, keeps
# the boxes short (a chain of boxes on a wide screen runs out of height first).
TAG_JOIN = "  |  "

Room = Mapping[Hashable, Sequence[str]]  # node key -> the widest lines its tag will hold
# (graph, measure) -> room; measure(text) is the text's width in the tag font
RoomSource = Callable[[object, Callable[[str], float]], Room]


def band_size(rows: Sequence[str], metrics: TextMetrics) -> tuple[float, float]:
    """``(width, height)`` the tag rows need inside a box (scene px, whole numbers)."""
    if not rows:
        return 0.0, 0.0
    widest = max(metrics.width(row, TAG_STYLE) for row in rows)
    height = len(rows) * metrics.line_heights[TAG_STYLE] + 2 * TAG_PAD_Y
    return float(round(widest + 2 * PAD_X + 0.49)), float(round(height + 0.49))


def merge_rows(a: Sequence[str], b: Sequence[str], measure: Callable[[str], float]) -> tuple[str, ...]:
    """Row by row the wider of two rooms' lines: room for both."""
    longer, shorter = (a, b) if len(a) >= len(b) else (b, a)
    merged = list(longer)
    for j, row in enumerate(shorter):
        if measure(row) > measure(merged[j]):
            merged[j] = row
    return tuple(merged)


def room_rows(band_height: float, line_height: float) -> int:
    """How many rows a tag band of ``band_height`` holds (its height from :func:`band_size`)."""
    return max(int((band_height - 2 * TAG_PAD_Y) / line_height + 1e-6), 0)


def arrange(lines: Sequence[str], rows: int) -> list[str]:
    """A tag's ``lines`` in at most ``rows`` rows: joined side by side (TAG_JOIN) when there are more lines."""
    if rows <= 0 or rows >= len(lines):
        return list(lines)
    per = -(-len(lines) // rows)
    return [TAG_JOIN.join(lines[j:j + per]) for j in range(0, len(lines), per)]
