"""The details panel: everything about the clicked node, with links to its neighbours."""
from __future__ import annotations

import html
import re
import textwrap
from urllib.parse import quote, unquote
from collections import Counter
from typing import Any, Hashable, Mapping

import networkx as nx
from PySide6.QtCore import QUrl, Signal
from PySide6.QtWidgets import QTextBrowser

from gradviz.core.collapse import CollapsedGraph, box_module, is_fold, node_module
from gradviz.core.node_notes import ERROR_ATTR, FAILED_ATTR, INPUT_SHAPES_ATTR, ORIGIN_ATTR, source_of

from gradviz.core.display.graph_search import display_name
from .style import KINDS, format_shape

MAX_LISTED = 40  # neighbours listed before "… and N more"

# Text colours come from the palette (light, dark and lecture themes); only
# the secondary text gets a mid grey that reads on both light and dark.
_CSS = """
h2 { font-size: x-large; margin: 0 0 2px 0; }
h3 { font-size: medium; margin: 12px 0 3px 0; }
.sub, .muted { color: #7c8594; }
td { padding: 1px 8px 1px 0; }
a { text-decoration: none; }
pre.wrap { white-space: pre-wrap; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _format_value(value: Any) -> str:
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return format_shape(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _link(key: Hashable, attrs: Mapping[str, Any]) -> str:
    text = _esc(display_name(key, attrs))
    extra = ""
    if attrs.get("kind") in ("param", "leaf", "output") and attrs.get("shape") is not None:
        extra = f" <span class='muted'>{_esc(format_shape(attrs['shape']))}</span>"
    elif attrs.get("kind") == "module":
        extra = f" <span class='muted'>({attrs.get('count', 0)} nodes)</span>"
    return f"<a href='node:{_esc(key)}'>{text}</a>{extra}"


def _link_list(graph: nx.DiGraph, keys: list[Hashable]) -> str:
    if not keys:
        return "<p class='muted'>none</p>"
    items = [_link(k, graph.nodes[k]) for k in keys[:MAX_LISTED]]
    if len(keys) > MAX_LISTED:
        items.append(f"<span class='muted'>… and {len(keys) - MAX_LISTED} more</span>")
    return "<br>".join(items)


def _natural(text: str) -> list:
    """Sort key that puts heads.2 before heads.10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td class='muted'>{_esc(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def node_html(
    graph: nx.DiGraph,
    key: Hashable,
    *,
    shown: CollapsedGraph | None = None,
    stats: Mapping[str, Any] | None = None,
) -> str:
    """The panel's HTML for original node ``key`` (or a box key of ``shown``)."""
    if (box_module(key) is not None or is_fold(key)) and shown is not None and key in shown.graph:
        return _box_html(graph, shown, key)
    attrs = graph.nodes[key]
    kind = attrs.get("kind", "op")
    parts = [f"<h2>{_esc(display_name(key, attrs))}</h2>"]
    kind_title = KINDS.get(kind).title if kind in KINDS else kind
    subtitle = kind_title
    if kind in ("param", "leaf"):
        subtitle += f" · {_esc(attrs.get('label', ''))}"
    parts.append(f"<div class='sub'>{_esc(subtitle)}</div>")

    facts = [("key", _esc(key))]
    if attrs.get("shape") is not None:
        facts.append(("shape", _esc(format_shape(attrs["shape"]))))
    module = node_module(attrs)
    if kind != "output":
        facts.append(("module", _esc(module) if module else "<span class='muted'>top level</span>"))
    if shown is not None and key in shown.group_of:
        box = shown.group_of[key]
        opens = box_module(box) or box  # a fold opens by its key
        facts.append(
            ("shown in", f"<a href='node:{_esc(box)}'>{_esc(_box_title(shown, box))}</a> "
             f"(collapsed, <a href='expand:{_esc(opens)}'>expand</a>)")
        )
    parts.append(_table(facts))

    if attrs.get(FAILED_ATTR):
        parts.append(_failure_html(attrs))
    if attrs.get(ORIGIN_ATTR):
        parts.append(f"<h3>NaN/Inf starts here</h3><pre class='wrap'>{_esc(attrs[ORIGIN_ATTR])}</pre>")
    parts.append(_source_html(attrs))

    inputs = list(graph.predecessors(key))
    outputs = list(graph.successors(key))
    parts.append(f"<h3>Inputs ({len(inputs)})</h3>{_link_list(graph, inputs)}")
    parts.append(f"<h3>Outputs ({len(outputs)})</h3>{_link_list(graph, outputs)}")

    if kind == "op":
        saved = attrs.get("saved")
        if saved:
            rows = [(name, _esc(_format_value(value))) for name, value in saved.items()]
            parts.append(f"<h3>Saved tensors ({len(saved)})</h3>{_table(rows)}")
        elif saved is None:
            parts.append("<h3>Saved tensors</h3><p class='muted'>not recorded for this graph</p>")
        else:
            parts.append("<h3>Saved tensors</h3><p class='muted'>none</p>")

    if kind != "output" or stats:
        parts.append("<h3>Gradient</h3>")
        if stats:
            rows = [(name, _esc(_format_value(value))) for name, value in stats.items()]
            parts.append(_table(rows))
        else:
            parts.append("<p class='muted'>run backward to see gradient statistics</p>")
    return "".join(parts)


SOURCE_CONTEXT = 2  # lines shown before and after the one that made the op


def source_link(file: str, line: int) -> str:
    """The details panel's "Open in editor" link target (the path percent-encoded: spaces, #, \\)."""
    return f"open:{line}:{quote(file, safe='')}"


def _source_html(attrs: Mapping[str, Any]) -> str:
    """The user's line that created the op, a few lines around it, and "Open in editor"."""
    line = source_of(attrs)
    if line is None:
        return ""
    context = line.context(SOURCE_CONTEXT, SOURCE_CONTEXT)
    # A table: a line too long for the panel wraps within the code column, under its
    # own text, not back under the line numbers, where its tail read as a line of its
    # own ("return" / "self.out(torch.log(h))"). The shared indentation goes.
    texts = textwrap.dedent("\n".join(text for _, text in context)).split("\n") if context else []
    rows = []
    for (number, _), text in zip(context, texts):
        mark, end = ("<b>", "</b>") if number == line.line else ("", "")
        rows.append(f"<tr><td class='muted' align='right'><pre>{number}</pre></td>"
                    f"<td><pre class='wrap'>{mark}{_esc(text)}{end}</pre></td></tr>")
    code = (f"<table cellspacing='0' cellpadding='0'>{''.join(rows)}</table>" if rows
            else f"<pre class='wrap'>{_esc(line.code)}</pre>")
    return (
        f"<h3>Source</h3><div>{_esc(line.location)} in {_esc(line.function)} · "
        f"<a href='{_esc(source_link(line.file, line.line))}'>Open in editor</a></div>{code}"
    )


def _failure_html(attrs: Mapping[str, Any]) -> str:
    shapes = ", ".join(format_shape(s) for s in attrs.get(INPUT_SHAPES_ATTR) or ())
    rows = [f"<p><b>The forward pass failed here.</b></p><pre class='wrap'>{_esc(attrs.get(ERROR_ATTR, ''))}</pre>"]
    if shapes:
        rows.append(f"<div class='muted'>inputs: {_esc(shapes)}</div>")
    return "<h3>Error</h3>" + "".join(rows)


def _box_title(shown: CollapsedGraph, box: Hashable) -> str:
    return str(box_module(box) or shown.graph.nodes[box].get("label") or box)


def _fold_description(attrs: dict) -> str:
    """``"24 alike modules folded"``, or ``"100 alike groups of 2 modules folded"`` for a fold of groups."""
    period = attrs.get("period", 1)
    if period > 1:
        return f"{attrs.get('repeats')} alike groups of {period} modules folded"
    return f"{attrs.get('repeats')} alike modules folded"


def _box_html(graph: nx.DiGraph, shown: CollapsedGraph, box: Hashable) -> str:
    attrs = shown.graph.nodes[box]
    module = box_module(box) or box  # a fold of repeated modules opens by its key
    members = shown.members.get(box, [])
    what = _fold_description(attrs) if is_fold(box) else "collapsed module"
    parts = [
        f"<h2>{_esc(_box_title(shown, box))}</h2>",
        f"<div class='sub'>{what} · {len(members)} nodes "
        f"({attrs.get('ops', 0)} ops, {attrs.get('params', 0)} parameters) · "
        f"<a href='expand:{_esc(module)}'>expand</a></div>",
    ]
    params = sorted(
        (k for k in members if graph.nodes[k].get("kind") == "param"),
        key=lambda k: _natural(display_name(k, graph.nodes[k])),
    )
    if params:
        parts.append(f"<h3>Parameters ({len(params)})</h3>{_link_list(graph, params)}")
    ops = Counter(graph.nodes[k].get("label", "?") for k in members if graph.nodes[k].get("kind") == "op")
    if ops:
        rows = [(label, str(count)) for label, count in ops.most_common(12)]
        parts.append(f"<h3>Operations</h3>{_table(rows)}")
    g = shown.graph
    parts.append(f"<h3>Inputs</h3>{_link_list(g, list(g.predecessors(box)))}")
    parts.append(f"<h3>Outputs</h3>{_link_list(g, list(g.successors(box)))}")
    return "".join(parts)


def tooltip_html(key: Hashable, attrs: Mapping[str, Any], stats: Mapping[str, Any] | None = None) -> str:
    """The hover tooltip of a node or box: label, kind, shape, module (rich text)."""
    kind = attrs.get("kind", "op")
    rows = [f"<b>{_esc(display_name(key, attrs))}</b>"]
    if kind in ("param", "leaf"):
        rows.append(_esc(attrs.get("label", "")))
    rows.append(f"kind: {_esc(kind)}")
    if attrs.get("shape") is not None:
        rows.append(f"shape: {_esc(format_shape(attrs['shape']))}")
    if kind == "module":
        rows.append(f"{attrs.get('count', 0)} nodes · double-click to expand")
    elif kind != "output":
        module = node_module(attrs)
        rows.append(f"module: {_esc(module) if module else 'top level'}")
    line = source_of(attrs)
    if line is not None:
        rows.append(f"line: {_esc(line.location)} in {_esc(line.function)}")
    if attrs.get(FAILED_ATTR):
        rows.append(f"<b>failed</b>: {_esc(str(attrs.get(ERROR_ATTR, ''))[:160])}")
    if attrs.get("saved"):
        rows.append("saved: " + _esc(", ".join(attrs["saved"])))
    if stats:
        rows.append("grad " + _esc(", ".join(f"{k} {_format_value(v)}" for k, v in stats.items())))
    return "<br>".join(rows)


class NodeDetails(QTextBrowser):
    """Read-only panel (objectName ``nodeDetails``); links navigate the graph.

    Signals:
        nodeRequested(str): a neighbour link was clicked.
        expandRequested(str): an "expand" link of a collapsed module was clicked.
        sourceRequested(str, int): "Open in editor" of an op's source line (file, line).
    """

    nodeRequested = Signal(str)
    expandRequested = Signal(str)
    sourceRequested = Signal(str, int)  # "Open in editor": file, line

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("nodeDetails")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.document().setDefaultStyleSheet(_CSS)
        self.anchorClicked.connect(self._on_anchor)
        self.key: Hashable | None = None
        self.clear_node()

    def clear_node(self) -> None:
        self.key = None
        self.setHtml(
            "<h2>No node selected</h2><p class='muted'>Click a node to see its inputs, outputs, "
            "saved tensors and gradient. Double-click a collapsed module to open it.</p>"
        )

    def show_node(
        self,
        graph: nx.DiGraph,
        key: Hashable,
        *,
        shown: CollapsedGraph | None = None,
        stats: Mapping[str, Any] | None = None,
    ) -> None:
        same = key == self.key  # a refresh (new stats) keeps the scroll position
        scroll = self.verticalScrollBar().value()
        self.key = key
        self.setHtml(node_html(graph, key, shown=shown, stats=stats))
        self.verticalScrollBar().setValue(scroll if same else 0)

    def _on_anchor(self, url: QUrl) -> None:
        action, _, target = url.toString().partition(":")
        if action == "node":
            self.nodeRequested.emit(target)
        elif action == "expand":
            self.expandRequested.emit(target)
        elif action == "open":
            encoded = url.toString(QUrl.ComponentFormattingOption.FullyEncoded).partition(":")[2]
            line, _, file = encoded.partition(":")
            if line.isdigit() and file:
                self.sourceRequested.emit(unquote(file), int(line))
