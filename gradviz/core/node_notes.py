"""What gradviz's debugging tools write on graph nodes, readable without torch.

* ``source`` (:data:`SOURCE_ATTR`): on op nodes, the user's line that created
  the op, as ``{"file", "line", "function", "code"}``
  (:mod:`gradviz.core.source_lines` records it);
* ``failed`` / ``error`` / ``input_shapes``: on the node of the op that raised
  in a partial graph (:mod:`gradviz.core.partial_graph`);
* ``nonfinite_origin`` (:data:`ORIGIN_ATTR`): on the node where NaN/Inf
  started, its details as text (:mod:`gradviz.core.nan_origin`).

The graph view's details panel and search read them; no torch, no Qt here.
"""
from __future__ import annotations

import linecache
import os
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping

import networkx as nx

__all__ = [
    "SOURCE_ATTR", "FAILED_ATTR", "ERROR_ATTR", "INPUT_SHAPES_ATTR", "ORIGIN_ATTR",
    "SourceLine", "source_of", "parse_location", "matches_location", "nodes_at", "lines_in",
]

SOURCE_ATTR = "source"
FAILED_ATTR = "failed"
ERROR_ATTR = "error"
INPUT_SHAPES_ATTR = "input_shapes"
ORIGIN_ATTR = "nonfinite_origin"


@dataclass(frozen=True)
class SourceLine:
    """A line of the user's code: ``examples/transformer_block.py:41 in forward: scores = …``."""

    file: str
    line: int
    function: str
    code: str = ""

    @property
    def location(self) -> str:
        """``file name:line``, what search by file:line matches."""
        return f"{os.path.basename(self.file)}:{self.line}"

    def __str__(self) -> str:
        text = f"{self.location} in {self.function}"
        return f"{text}: {self.code}" if self.code else text

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function, "code": self.code}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SourceLine":
        return cls(str(data["file"]), int(data["line"]), str(data.get("function", "")), str(data.get("code", "")))

    @classmethod
    def at(cls, frame: Any) -> "SourceLine":
        """The line a Python frame is executing."""
        code = frame.f_code
        return cls.read(code.co_filename, frame.f_lineno, code.co_name)

    @classmethod
    def read(cls, file: str, line: int, function: str) -> "SourceLine":
        """The line with its code text, read from the file (empty text if it cannot be read)."""
        return cls(file, line, function, linecache.getline(file, line).strip())

    def context(self, before: int = 2, after: int = 2) -> list[tuple[int, str]]:
        """``(line number, text)`` around the line, from the file as it is now (empty if unreadable)."""
        lines = linecache.getlines(self.file)
        first = max(1, self.line - before)
        last = min(len(lines), self.line + after)
        return [(n, lines[n - 1].rstrip("\n")) for n in range(first, last + 1)]


def source_of(attrs: Mapping[str, Any]) -> SourceLine | None:
    """The :class:`SourceLine` stored on a node, or None."""
    data = attrs.get(SOURCE_ATTR)
    if isinstance(data, SourceLine):
        return data
    if isinstance(data, Mapping) and "file" in data and "line" in data:
        try:
            return SourceLine.from_dict(data)
        except (TypeError, ValueError):
            return None
    return None


def parse_location(text: str) -> tuple[str, int] | None:
    """``"transformer_block.py:41"`` → ``("transformer_block.py", 41)``; None if ``text`` is no file:line."""
    name, sep, number = text.strip().rpartition(":")
    if not sep or not name or not number.strip().isdigit():
        return None
    return name.strip(), int(number)


def matches_location(attrs: Mapping[str, Any], file: str, line: int) -> bool:
    """Whether a node's source is ``file:line``; ``file`` may be a name or a path suffix (any case)."""
    source = source_of(attrs)
    if source is None or source.line != line:
        return False
    wanted = file.replace("\\", "/").lower()
    have = source.file.replace("\\", "/").lower()
    return have == wanted or have.endswith("/" + wanted.lstrip("/"))


def nodes_at(graph: nx.DiGraph, file: str, line: int) -> list[Hashable]:
    """Keys of the nodes created at ``file:line``, in graph order."""
    return [key for key, attrs in graph.nodes(data=True) if matches_location(attrs, file, line)]


def lines_in(graph: nx.DiGraph, keys: Iterable[Hashable] | None = None) -> dict[Hashable, SourceLine]:
    """``{key: SourceLine}`` for the nodes (default all) that have one."""
    nodes = graph.nodes
    result = {}
    for key in graph if keys is None else keys:
        line = source_of(nodes[key])
        if line is not None:
            result[key] = line
    return result
