"""Write an autograd graph to a file: DOT, SVG, PNG, GraphML or JSON.

Everything is written by gradviz itself, so no Graphviz binary is needed:

* ``dot``: DOT text styled like torchviz (ops by type name, parameters as
  ``name\\n(shape)``, filled boxes coloured by node kind). Render it with
  Graphviz if you have it, or paste it into any DOT viewer.
* ``svg``: drawn from :func:`gradviz.layered_layout` positions (or the ones
  you pass, e.g. the GUI's): rounded boxes coloured by kind, labels, edges
  with arrowheads. With the layout's own positions the edges follow its routes
  (:mod:`gradviz.core.routes`: they curve around boxes, never through one);
  with positions you pass they are straight. Plain SVG 1.1 (no markers, filters or CSS) so that
  every renderer, Qt's included, draws it the same.
* ``png``: that SVG turned into pixels by a *rasterizer* the caller passes
  (``rasterize=``). The core draws no pixels and never imports Qt; the public
  :func:`gradviz.export_graph` (:mod:`gradviz.graph_export`) passes Qt's
  (:func:`gradviz.ui.rasterize.svg_to_png`), so scripts get PNGs as before.
  Text stays at least :data:`MIN_TEXT_PX` px high: a graph too big for one
  image at that size is written as numbered pages ``name-p1.png``,
  ``name-p2.png``, … cut between rows of boxes (:func:`plan_png_pages`;
  :func:`export_graph` returns the first, :func:`export_png_pages` all).
* ``graphml``: :func:`networkx.write_graphml`; tuple and dict attributes are
  written as strings (GraphML has only scalar types).
* ``json``: networkx node-link data (``nodes``/``edges``), each node with its
  ``pos`` ``[x, y]`` and box ``size`` ``[w, h]``.

Node kinds come from :func:`gradviz.autograd_graph` (``op``, ``param``,
``leaf``, ``output``); a graph from elsewhere is drawn with op styling.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping
from xml.sax.saxutils import escape, quoteattr

import networkx as nx

from gradviz.core.atomic_files import replaced_atomically, write_atomically
from gradviz.core.routes import Route, route_end, route_path_d
from gradviz.core.shapes import format_shape

__all__ = [
    "FORMATS",
    "MIN_TEXT_PX",
    "PagePlan",
    "export_png_pages",
    "free_cuts",
    "page_paths",
    "plan_png_pages",
    "KIND_COLOURS",
    "export_graph",
    "format_for_path",
    "graph_to_dot",
    "graph_to_json",
    "graph_to_svg",
    "node_label",
]

FORMATS = ("dot", "svg", "png", "graphml", "json")
_SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".graphml": "graphml", ".json": "json"}

# torchviz's palette: ops light grey, parameters light blue, the output
# dark olive green 1; other leaves (inputs that require grad) wheat.
KIND_COLOURS = {
    "op": "#d3d3d3",
    "param": "#add8e6",
    "leaf": "#f5deb3",
    "output": "#caff70",
}
_EDGE_COLOUR = "#555555"
_BORDER_COLOUR = "#444444"
_FONT_SIZE = 12  # px; the layout's box sizes assume about 7.5 px per character
_MARGIN = 16.0
_ARROW_LENGTH, _ARROW_HALF_WIDTH = 9.0, 4.0

Positions = Mapping[Hashable, tuple[float, float]]


def node_label(key: Hashable, attrs: Mapping[str, Any]) -> str:
    """The text of a node's box, as torchviz writes it.

    Ops: their type name (``AddmmBackward0``). Parameters: ``name`` and
    ``(shape)`` on two lines; leaves that are no parameter just ``(shape)``.
    Outputs: their label (``loss`` or ``output (1, 10)``).
    """
    kind = attrs.get("kind")
    if kind in ("param", "leaf"):
        shape = attrs.get("shape")
        shape_text = format_shape(shape) if shape is not None else ""
        name = attrs.get("name") or ""
        return f"{name}\n{shape_text}" if name and shape_text else (name or shape_text or str(attrs.get("label", key)))
    return str(attrs.get("label") or key)



def _colour(attrs: Mapping[str, Any]) -> str:
    return KIND_COLOURS.get(attrs.get("kind"), KIND_COLOURS["op"])


# ---------------------------------------------------------------------------
# DOT


def _dot_string(text: Any) -> str:
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def graph_to_dot(graph: nx.DiGraph) -> str:
    """DOT text for ``graph`` in torchviz's style; op nodes' ``module`` becomes a tooltip."""
    lines = [
        "digraph autograd {",
        '  graph [rankdir=TB, ranksep="0.3"];',
        '  node [shape=box, style="rounded,filled", align=left, fontsize=10, height=0.2, fontname=monospace];',
        f'  edge [color="{_EDGE_COLOUR}"];',
    ]
    for key, attrs in graph.nodes(data=True):
        extra = ""
        if attrs.get("module"):
            extra = f", tooltip={_dot_string('module: ' + str(attrs['module']))}"
        lines.append(
            f"  {_dot_string(key)} [label={_dot_string(node_label(key, attrs))}, fillcolor=\"{_colour(attrs)}\"{extra}];"
        )
    for source, target in graph.edges():
        lines.append(f"  {_dot_string(source)} -> {_dot_string(target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# SVG


def _box_sizes(graph: nx.DiGraph) -> dict[Hashable, tuple[float, float]]:
    from gradviz.core.layout import default_node_size

    return {key: tuple(map(float, default_node_size(key, attrs))) for key, attrs in graph.nodes(data=True)}


def _checked_positions(graph: nx.DiGraph, positions: Positions | None) -> dict[Hashable, tuple[float, float]]:
    if positions is None:
        from gradviz.core.layout import layered_layout

        positions = layered_layout(graph)
    missing = [key for key in graph.nodes if key not in positions]
    if missing:
        shown = ", ".join(repr(k) for k in missing[:5]) + (" …" if len(missing) > 5 else "")
        raise ValueError(f"positions lack {len(missing)} node(s) of the graph: {shown}")
    result = {}
    for key in graph.nodes:
        x, y = positions[key]
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"position of node {key!r} is not finite: {(x, y)}")
        result[key] = (float(x), float(y))
    return result


def _clip_to_box(centre: tuple[float, float], size: tuple[float, float], towards: tuple[float, float]) -> tuple[float, float]:
    """Where the segment from the box centre to ``towards`` leaves the box."""
    (cx, cy), (w, h) = centre, size
    dx, dy = towards[0] - cx, towards[1] - cy
    if dx == 0 and dy == 0:
        return cx, cy
    scales = []
    if dx:
        scales.append((w / 2) / abs(dx))
    if dy:
        scales.append((h / 2) / abs(dy))
    t = min(1.0, min(scales))
    return cx + dx * t, cy + dy * t


def _n(value: float) -> str:
    return f"{value:.1f}"


def graph_to_svg(graph: nx.DiGraph, positions: Positions | None = None) -> str:
    """SVG text of ``graph``; ``positions`` are box centres (y down), default :func:`gradviz.layered_layout`.

    Without ``positions`` the edges follow the layout's routes around the boxes;
    with them (another tool's layout, which has no routes) they are straight."""
    routes: dict[tuple[Hashable, Hashable], Route] | None = None
    if positions is None:
        from gradviz.core.layout import layered_layout_routed

        positions, routes = layered_layout_routed(graph)
    pos = _checked_positions(graph, positions)
    sizes = _box_sizes(graph)
    if pos:
        left = min(x - sizes[k][0] / 2 for k, (x, _) in pos.items())
        top = min(y - sizes[k][1] / 2 for k, (_, y) in pos.items())
        right = max(x + sizes[k][0] / 2 for k, (x, _) in pos.items())
        bottom = max(y + sizes[k][1] / 2 for k, (_, y) in pos.items())
        for route in (routes or {}).values():  # an edge may pass left or right of every box
            left = min(left, min(column[0] for column in route) - _ARROW_HALF_WIDTH)
            right = max(right, max(column[0] for column in route) + _ARROW_HALF_WIDTH)
    else:
        left = top = right = bottom = 0.0
    dx, dy = _MARGIN - left, _MARGIN - top
    width, height = right - left + 2 * _MARGIN, bottom - top + 2 * _MARGIN

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{_n(width)}" height="{_n(height)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}">',
        f'<rect x="0" y="0" width="{_n(width)}" height="{_n(height)}" fill="#ffffff"/>',
        '<g class="edges">',
    ]
    for source, target in graph.edges():
        if source == target:
            continue
        if routes is not None:
            out.append(_routed_edge_svg(routes[(source, target)], dx, dy))
            continue
        a = (pos[source][0] + dx, pos[source][1] + dy)
        b = (pos[target][0] + dx, pos[target][1] + dy)
        start = _clip_to_box(a, sizes[source], b)
        end = _clip_to_box(b, sizes[target], a)
        out.append(_edge_svg(start, end))
    out.append("</g>")
    out.append('<g class="nodes">')
    for key, attrs in graph.nodes(data=True):
        x, y = pos[key][0] + dx, pos[key][1] + dy
        out.append(_node_svg(key, attrs, (x, y), sizes[key]))
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edge_svg(start: tuple[float, float], end: tuple[float, float]) -> str:
    # Arrowheads are drawn as polygons, not <marker>s: Qt's SVG renderer (used
    # for PNG export) implements only SVG Tiny, which has no markers.
    length = math.hypot(end[0] - start[0], end[1] - start[1])
    if length < 1e-6:
        return ""
    ux, uy = (end[0] - start[0]) / length, (end[1] - start[1]) / length
    arrow = min(_ARROW_LENGTH, length * 0.5)
    base = (end[0] - ux * arrow, end[1] - uy * arrow)
    left = (base[0] - uy * _ARROW_HALF_WIDTH, base[1] + ux * _ARROW_HALF_WIDTH)
    right = (base[0] + uy * _ARROW_HALF_WIDTH, base[1] - ux * _ARROW_HALF_WIDTH)
    points = " ".join(f"{_n(px)},{_n(py)}" for px, py in (end, left, right))
    return (
        f'<line x1="{_n(start[0])}" y1="{_n(start[1])}" x2="{_n(base[0])}" y2="{_n(base[1])}" '
        f'stroke="{_EDGE_COLOUR}" stroke-width="1.2"/>'
        f'<polygon points="{points}" fill="{_EDGE_COLOUR}"/>'
    )


def _routed_edge_svg(route: Route, dx: float, dy: float) -> str:
    """A routed edge as one path (runs and curves) and its arrowhead, pointing along the last run."""
    moved = tuple((x + dx, y_from + dy, y_to + dy) for x, y_from, y_to in route)
    x, y, direction = route_end(moved)
    base = y - direction * _ARROW_LENGTH
    points = " ".join(f"{_n(px)},{_n(py)}" for px, py in ((x, y), (x - _ARROW_HALF_WIDTH, base), (x + _ARROW_HALF_WIDTH, base)))
    return (
        f'<path d="{route_path_d(moved, _n)}" fill="none" stroke="{_EDGE_COLOUR}" stroke-width="1.2"/>'
        f'<polygon points="{points}" fill="{_EDGE_COLOUR}"/>'
    )


def _node_svg(key: Hashable, attrs: Mapping[str, Any], centre: tuple[float, float], size: tuple[float, float]) -> str:
    from gradviz.core.layout import LINE_HEIGHT

    (x, y), (w, h) = centre, size
    lines = node_label(key, attrs).split("\n")
    kind = attrs.get("kind") or "op"
    tooltip = f"{key}: {node_label(key, attrs)}".replace("\n", " ")
    if attrs.get("module"):
        tooltip += f" (module {attrs['module']})"
    parts = [
        f"<g class={quoteattr('node ' + str(kind))}>",
        f"<title>{escape(tooltip)}</title>",
        f'<rect x="{_n(x - w / 2)}" y="{_n(y - h / 2)}" width="{_n(w)}" height="{_n(h)}" rx="6" ry="6" '
        f'fill="{_colour(attrs)}" stroke="{_BORDER_COLOUR}" stroke-width="1"/>',
    ]
    first_baseline = y - LINE_HEIGHT * len(lines) / 2 + _FONT_SIZE
    for i, line in enumerate(lines):
        parts.append(
            f'<text x="{_n(x)}" y="{_n(first_baseline + i * LINE_HEIGHT)}" font-family="monospace" '
            f'font-size="{_FONT_SIZE}" text-anchor="middle" fill="#000000">{escape(line)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


# ---------------------------------------------------------------------------
# GraphML and JSON


def _graphml_value(value: Any) -> Any:
    """A value GraphML can store: bool/int/float/str as is, anything else as text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy/torch scalars
        return value.item()
    if isinstance(value, (tuple, list)):
        return format_shape(value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _plain_graph(graph: nx.DiGraph, convert, positions: Positions | None) -> nx.DiGraph:
    """A copy with every attribute passed through ``convert`` and no autograd Node references."""
    plain = nx.DiGraph() if graph.is_directed() else nx.Graph()
    for name, value in graph.graph.items():
        if name == "fn" or value is None:  # "fn": live autograd Nodes, meaningless in a file
            continue
        plain.graph[name] = convert(value)
    for key, attrs in graph.nodes(data=True):
        data = {name: convert(value) for name, value in attrs.items() if value is not None}
        if positions is not None:
            data["x"], data["y"] = float(positions[key][0]), float(positions[key][1])
        plain.add_node(key, **data)
    for source, target, attrs in graph.edges(data=True):
        plain.add_edge(source, target, **{name: convert(value) for name, value in attrs.items() if value is not None})
    return plain


def _json_value(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


def graph_to_json(graph: nx.DiGraph, positions: Positions | None = None) -> str:
    """Node-link JSON (``nodes``, ``edges``); every node gets ``pos`` and ``size`` (default layout if no positions)."""
    pos = _checked_positions(graph, positions)
    sizes = _box_sizes(graph)
    plain = _plain_graph(graph, _json_value, None)
    for key in plain.nodes:
        plain.nodes[key]["pos"] = [pos[key][0], pos[key][1]]
        plain.nodes[key]["size"] = list(sizes[key])
    data = nx.node_link_data(plain, edges="edges")
    return json.dumps(data, indent=1)


# ---------------------------------------------------------------------------


def format_for_path(path: str | os.PathLike, format: str | None = None) -> str:
    """The export format: ``format`` if given (checked), else from the file suffix."""
    suffix = Path(path).suffix.lower()
    if format is not None:
        key = str(format).strip().lower().lstrip(".")
        if key not in FORMATS:
            raise ValueError(f"unknown export format {format!r}; use one of: {', '.join(FORMATS)}")
        named = _SUFFIXES.get(suffix)
        if named is not None and named != key:  # SVG text in a file called .png: nothing could open it
            raise ValueError(f"{os.fspath(path)!r} ends in {suffix} but the format asked for is {key}: "
                             f"name it {Path(path).with_suffix(_suffix_of(key)).name}, or leave the format to the suffix")
        return key
    key = _SUFFIXES.get(suffix)
    if key is None:
        what = f"suffix {suffix!r}" if suffix else "no suffix"
        raise ValueError(
            f"cannot tell the export format of {os.fspath(path)!r} ({what}); "
            f"use a file ending in {', '.join(_SUFFIXES)} or name the format (one of: {', '.join(FORMATS)})"
        )
    return key


def _suffix_of(key: str) -> str:
    return next(suffix for suffix, format in _SUFFIXES.items() if format == key)


Rasterizer = Callable[[str, Path], Any]
"""Writes SVG text (first argument) as a PNG file at the path (second argument),
one pixel per unit of the SVG's ``width``/``height`` (its ``viewBox`` is the part drawn)."""


# ---------------------------------------------------------------------------
# PNG pages

# No text in a PNG gets smaller than this (px): below it labels are guesswork.
MIN_TEXT_PX = 10
# One page at most this many px a side and this many px in all: raster painting
# stops at 32k px, and encoding time grows with the pixels.
PAGE_MAX_SIDE = 16384
PAGE_MAX_PIXELS = 40_000_000
# Up to this many pixels a picture is drawn at the preferred (crisp) scale;
# bigger ones at less, down to the readable minimum, to keep encoding fast.
CRISP_MAX_PIXELS = 4_000_000


@dataclass(frozen=True)
class PagePlan:
    """How to cut a drawing into PNG pages: ``scale`` (px per drawing unit) and
    each page's ``(left, top, right, bottom)`` in drawing units, top to bottom
    (then left to right when even one column is too wide)."""

    scale: float
    pages: tuple[tuple[float, float, float, float], ...]

    def page_size(self, index: int) -> tuple[int, int]:
        """The pixel size of page ``index``."""
        left, top, right, bottom = self.pages[index]
        return _pixels(right - left, self.scale), _pixels(bottom - top, self.scale)


def _pixels(length: float, scale: float) -> int:
    """Pixels for ``length`` units: rounded up, so text never ends below its minimum."""
    return max(1, math.ceil(length * scale - 1e-6))


def free_cuts(boxes) -> list[float]:
    """Heights where a horizontal cut touches no box: the middles of the gaps between
    the ``(top, bottom)`` spans of ``boxes`` (a page break there splits no label)."""
    spans = sorted((float(t), float(b)) for t, b in boxes)
    cuts, reach = [], None
    for top, bottom in spans:
        if reach is not None and top > reach:
            cuts.append((reach + top) / 2)
        reach = bottom if reach is None else max(reach, bottom)
    return cuts


def plan_png_pages(bounds: tuple[float, float, float, float], *, text_px: float, preferred_scale: float = 2.0,
                   min_text_px: float = MIN_TEXT_PX, max_side: int = PAGE_MAX_SIDE,
                   max_pixels: int = PAGE_MAX_PIXELS, crisp_pixels: int = CRISP_MAX_PIXELS,
                   cuts=()) -> PagePlan:
    """Pages for a drawing of ``bounds`` whose text is ``text_px`` units high.

    One page at ``preferred_scale`` when it fits ``crisp_pixels``; else one page
    at a smaller scale if that keeps text at least ``min_text_px``; else the
    readable scale, cut into pages of at most ``max_side`` px a side and
    ``max_pixels`` px, each cut at one of ``cuts`` (heights between rows of
    boxes, see :func:`free_cuts`) when one lies in the page's lower half.
    """
    left, top, right, bottom = bounds
    width, height = max(right - left, 1e-6), max(bottom - top, 1e-6)
    readable = min_text_px / max(text_px, 1e-6)
    fits = min(max_side / width, max_side / height, math.sqrt(max_pixels / (width * height)))
    crisp = min(preferred_scale, fits, math.sqrt(crisp_pixels / (width * height)))
    if crisp >= readable:
        return PagePlan(crisp, ((left, top, right, bottom),))
    scale = readable
    columns = max(1, math.ceil(width * scale / max_side - 1e-9))
    column_w = width / columns
    page_h = min(max_side / scale, max_pixels / (scale * scale * column_w))
    cuts = sorted(c for c in cuts if top < c < bottom)
    rows, y = [], top
    while bottom - y > 1e-6:
        limit = y + page_h
        if limit >= bottom:
            rows.append((y, bottom))
            break
        inside = [c for c in cuts if y + page_h / 2 <= c <= limit]
        end = inside[-1] if inside else limit
        rows.append((y, end))
        y = end
    pages = tuple((left + i * column_w, y0, left + (i + 1) * column_w, y1)
                  for y0, y1 in rows for i in range(columns))
    return PagePlan(scale, pages)


def page_paths(path: str | os.PathLike, count: int) -> list[Path]:
    """``[path]`` for one page; ``name-p1.png``, ``name-p2.png``, … beside it for more."""
    path = Path(path)
    if count <= 1:
        return [path]
    return [path.with_name(f"{path.stem}-p{i}{path.suffix}") for i in range(1, count + 1)]


_SVG_HEAD = re.compile(r'<svg [^>]*>')
_SVG_SIZE = re.compile(r'width="([\d.]+)" height="([\d.]+)"')


def _svg_page(svg: str, page: tuple[float, float, float, float], scale: float) -> str:
    """``svg`` showing only ``page`` (drawing units), sized ``scale`` px per unit."""
    left, top, right, bottom = page
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{_pixels(right - left, scale)}" '
            f'height="{_pixels(bottom - top, scale)}" viewBox="{left:.1f} {top:.1f} {right - left:.1f} {bottom - top:.1f}">')
    return _SVG_HEAD.sub(head, svg, count=1)


def export_png_pages(graph: nx.DiGraph, path: str | os.PathLike, rasterize: Rasterizer, *,
                     positions: Positions | None = None) -> list[Path]:
    """Write ``graph`` as PNG through ``rasterize``: one file, or numbered pages when
    one image would shrink the text below :data:`MIN_TEXT_PX` (see :func:`plan_png_pages`).
    Returns the files written, in order."""
    svg = graph_to_svg(graph, positions)
    width, height = (float(v) for v in _SVG_SIZE.search(svg).groups())
    boxes = [(float(y) - 0.0, float(y) + float(h)) for y, h in
             re.findall(r'<rect x="[-\d.]+" y="([-\d.]+)" width="[\d.]+" height="([\d.]+)" rx', svg)]
    plan = plan_png_pages((0.0, 0.0, width, height), text_px=_FONT_SIZE, preferred_scale=1.0, cuts=free_cuts(boxes))
    paths = page_paths(path, len(plan.pages))
    if len(paths) == 1 and plan.scale == 1.0:
        rasterize(svg, paths[0])  # the whole drawing as it is
        return paths
    for page, target in zip(plan.pages, paths):
        rasterize(_svg_page(svg, page, plan.scale), target)
    return paths


def export_graph(graph: nx.DiGraph, path: str | os.PathLike, format: str | None = None, *, positions: Positions | None = None,
                 rasterize: Rasterizer | None = None) -> Path:
    """Write ``graph`` to ``path`` as ``format`` (default: from the suffix) and return the path.

    ``format`` is one of :data:`FORMATS`; anything else is a ``ValueError``
    naming them. ``positions`` (box centres, y down) are used by svg, png,
    json and graphml (as ``x``/``y`` attributes); svg, png and json compute
    :func:`gradviz.layered_layout` when none are given. ``png`` needs
    ``rasterize`` (see :data:`Rasterizer`); without one it is a ``ValueError``
    that says to use :func:`gradviz.export_graph`. A PNG too tall for readable
    text in one image is written as pages ``name-p1.png``, … and the first is
    returned (:func:`export_png_pages` returns them all). Errors writing the
    file are ``OSError``.
    """
    key = format_for_path(path, format)
    path = Path(path)
    if key == "png" and rasterize is None:
        raise ValueError("PNG export needs a rasterizer: use gradviz.export_graph (it draws with Qt) "
                         "or pass rasterize=, e.g. gradviz.ui.rasterize.svg_to_png")
    # Each file all at once or not at all: a full disk or a size limit left half of the
    # new file where the user's previous export had been.
    if key == "dot":
        write_atomically(path, graph_to_dot(graph))
    elif key == "svg":
        write_atomically(path, graph_to_svg(graph, positions))
    elif key == "png":
        return export_png_pages(graph, path, rasterize, positions=positions)[0]
    elif key == "graphml":
        checked = _checked_positions(graph, positions) if positions is not None else None
        with replaced_atomically(path) as tmp:
            nx.write_graphml(_plain_graph(graph, _graphml_value, checked), tmp)
    else:
        write_atomically(path, graph_to_json(graph, positions))
    return path
