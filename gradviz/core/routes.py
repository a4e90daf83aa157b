"""Edge routes of a layered drawing: straight runs down the free columns of each row,
joined by S-curves in the empty gaps between rows.

A layered layout (:func:`gradviz.core.layout.layered_layout_routed`) puts every box
on a row, and keeps a slot free in each row that a long edge passes through (a
"dummy" node). An edge drawn as a straight line from source to target ignores those
slots and can cut through boxes in between. A *route* instead follows them:

* a **column** ``(x, y_from, y_to)`` is a vertical run at ``x``: below the source box
  down to the bottom of its row, through each row the edge passes (at its slot),
  and from the top of the target's row down to the target box;
* consecutive columns are joined by a cubic Bézier whose control points sit straight
  below and above its ends, half-way across the gap. The curve's y stays within the
  gap, where no box is, and it leaves and arrives vertically: smooth, like dot's
  splines, and the arrowhead at the end points straight along the edge.

So no edge passes through a box it does not touch. Routes run the way the edge goes
(data flow): for an edge the layout had to reverse (a cycle), the columns run upward.

This module draws nothing itself; it turns routes into SVG path text and into
points (for hit tests, bounding boxes and renderers without curves). No Qt here.
"""
from __future__ import annotations

from typing import Iterator, Sequence

Column = tuple[float, float, float]
"""``(x, y_from, y_to)``: a vertical run of an edge route."""
Route = tuple[Column, ...]

__all__ = ["Column", "Route", "curve_controls", "route_end", "route_path_d", "route_points"]


def curve_controls(previous: Column, column: Column) -> tuple[tuple[float, float], ...]:
    """The four Bézier points from the end of ``previous`` to the start of ``column``."""
    x0, y0 = previous[0], previous[2]
    x1, y1 = column[0], column[1]
    middle = (y0 + y1) / 2
    return (x0, y0), (x0, middle), (x1, middle), (x1, y1)


def route_path_d(route: Sequence[Column], number=lambda value: f"{value:.1f}") -> str:
    """SVG path data (``M … L … C …``) of ``route``; ``number`` formats coordinates."""
    first = route[0]
    parts = [f"M{number(first[0])} {number(first[1])}"]
    if first[2] != first[1]:
        parts.append(f"L{number(first[0])} {number(first[2])}")
    for previous, column in zip(route, route[1:]):
        _, (ax, ay), (bx, by), (cx, cy) = curve_controls(previous, column)
        parts.append(f"C{number(ax)} {number(ay)} {number(bx)} {number(by)} {number(cx)} {number(cy)}")
        if column[2] != column[1]:
            parts.append(f"L{number(column[0])} {number(column[2])}")
    return " ".join(parts)


def _bezier(p0, p1, p2, p3, steps: int) -> Iterator[tuple[float, float]]:
    for i in range(1, steps + 1):
        t = i / steps
        u = 1 - t
        yield (u * u * u * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t * t * t * p3[0],
               u * u * u * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t * t * t * p3[1])


def route_points(route: Sequence[Column], curve_steps: int = 12) -> list[tuple[float, float]]:
    """``route`` as a polyline: the columns' ends and ``curve_steps`` points along each curve."""
    first = route[0]
    points = [(first[0], first[1]), (first[0], first[2])]
    for previous, column in zip(route, route[1:]):
        points.extend(_bezier(*curve_controls(previous, column), curve_steps))
        points.append((column[0], column[2]))
    return points


def route_end(route: Sequence[Column]) -> tuple[float, float, float]:
    """``(x, y, direction)`` where the edge arrives; direction +1 going down, -1 going up.

    The last run is vertical, and so is the tangent of a curve at its end: an
    arrowhead drawn there points straight along the edge."""
    x, y_from, y_to = route[-1]
    if y_to != y_from:
        return x, y_to, 1.0 if y_to > y_from else -1.0
    before = route[-2][2] if len(route) > 1 else y_from
    return x, y_to, 1.0 if y_to >= before else -1.0
