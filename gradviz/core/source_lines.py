"""Which line of the user's code created each autograd Node.

:class:`SourceRecorder` is a switchable recorder that runs beside
:class:`~gradviz.core.graph.ForwardRecorder` (it does not touch its
internals). While active, a :class:`~torch.overrides.TorchFunctionMode` notes,
for every torch call, the autograd sequence numbers the call used up and the
first stack frame outside torch and gradviz (the user's line). Sequence
numbers rather than ``grad_fn`` objects: one call may create several Nodes
(``F.cross_entropy`` makes ``LogSoftmaxBackward0`` and ``NllLossBackward0``),
and each of them belongs to the line that made the call.

A custom ``autograd.Function`` creates its Node in ``apply``, which no torch
function mode sees: while a recorder is active on a thread, ``Function.apply``
is wrapped to note it the same way (restored when the last recorder exits).

Per op that is two counter reads, a short ``f_back`` walk with a per-file
cache and a few list appends; the line's text is read (``linecache``) only
for the Nodes that end up in a graph. ``bench/source_lines.py`` measures it
against the same full record without (1.0–1.15×) and against anomaly mode's
``metadata["traceback_"]``, which formats a whole stack per Node (12–16× the
bare forward, against 1.3–1.4× for this).

:func:`add_source_lines` writes the result into a graph from
:func:`gradviz.autograd_graph` as the op nodes' ``source`` attribute, a plain
dict ``{"file", "line", "function", "code"}`` that JSON export carries
(:class:`~gradviz.core.node_notes.SourceLine` reads it back, without torch).

This module must not import Qt.
"""
from __future__ import annotations

import os
import sys
import threading
from bisect import bisect_right
from typing import Any

import networkx as nx
import torch
from torch.overrides import TorchFunctionMode

from gradviz.core.node_notes import (  # noqa: F401 - re-exported: the source-line vocabulary
    SOURCE_ATTR,
    SourceLine,
    lines_in,
    matches_location,
    nodes_at,
    parse_location,
    source_of,
)

__all__ = [
    "SOURCE_ATTR",
    "SourceLine",
    "SourceRecorder",
    "add_source_lines",
    "lines_in",
    "matches_location",
    "nodes_at",
    "parse_location",
    "source_of",
    "user_frame",
]

_next_sequence_nr = torch._C._autograd._get_sequence_nr

# Where a frame's file lives: user code, torch (skipped on the way out) or
# gradviz. A gradviz frame other than a mode's handler ends the walk: the op
# was made by gradviz itself (the session's loss, a spec-built model's
# plumbing), not by a line the user wrote.
_USER, _TORCH, _GRADVIZ = 0, 1, 2
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_GRADVIZ_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# Code torch generates (torch.fx / torch.export GraphModules) is torch's, not the user's.
_TORCH_GENERATED = "<eval_with_key>"
_HANDLERS = frozenset({"__torch_function__", "__torch_dispatch__"})  # other recorders' modes
_place_of_file: dict[str, int] = {}  # co_filename -> place (a few hundred files)


def _place(filename: str) -> int:
    place = _place_of_file.get(filename)
    if place is None:
        path = filename if filename.startswith("<") else os.path.abspath(filename)
        if path.startswith(_TORCH_DIR) or path.startswith(_TORCH_GENERATED):
            place = _TORCH
        else:
            place = _GRADVIZ if path.startswith(_GRADVIZ_DIR) else _USER
        _place_of_file[filename] = place
    return place


def user_frame(frame: Any) -> Any:
    """The user's frame that led to ``frame``: walking outwards past torch, the
    first frame outside torch and gradviz, or None when gradviz comes first."""
    cache = _place_of_file
    while frame is not None:
        code = frame.f_code
        place = cache.get(code.co_filename)
        if place is None:
            place = _place(code.co_filename)
        if place == _USER:
            return frame
        if place == _GRADVIZ and code.co_name not in _HANDLERS:
            return None
        frame = frame.f_back
    return None


class _Calls:
    """The recorded torch calls that created Nodes: sorted by start, for bisect."""

    def __init__(self):
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.frames: list[tuple[str, int, str] | None] = []

    def note(self, start: int, end: int, caller: Any, at: int | None = None) -> None:
        frame = user_frame(caller)
        where = None if frame is None else (frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
        if at is None:
            self.starts.append(start)
            self.ends.append(end)
            self.frames.append(where)
        else:  # an outer call noted after the calls it made: keep the lists sorted by start
            self.starts.insert(at, start)
            self.ends.insert(at, end)
            self.frames.insert(at, where)


class _SourceMode(TorchFunctionMode):
    def __init__(self, calls: _Calls):
        super().__init__()
        self._calls = calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        start = _next_sequence_nr()
        result = func(*args, **(kwargs or {}))
        end = _next_sequence_nr()
        if end != start:  # the call created Nodes: note where it was made
            self._calls.note(start, end, sys._getframe(1))
        return result


# A custom autograd.Function's ``apply`` creates its Node without passing
# through torch function modes, so while a recorder is active on a thread,
# Function.apply is wrapped to note it too (restored when the last one exits).
_active = threading.local()
_patch_lock = threading.Lock()
_patch_users = 0
_original_apply = torch.autograd.Function.__dict__["apply"]


def _recording_apply(cls, *args, **kwargs):
    stack = getattr(_active, "stack", None)
    if not stack:
        return _original_apply.__func__(cls, *args, **kwargs)
    calls = stack[-1]
    at = len(calls.starts)
    start = _next_sequence_nr()
    result = _original_apply.__func__(cls, *args, **kwargs)
    end = _next_sequence_nr()
    if end != start:
        calls.note(start, end, sys._getframe(1), at=at)
    return result


def _patch_apply(on: bool) -> None:
    global _patch_users
    with _patch_lock:
        _patch_users += 1 if on else -1
        if on and _patch_users == 1:
            torch.autograd.Function.apply = classmethod(_recording_apply)
        elif not on and _patch_users == 0:
            torch.autograd.Function.apply = _original_apply


class SourceRecorder:
    """Record the user's source line of every Node created inside the ``with`` block.

    ::

        with ForwardRecorder(model) as rec, SourceRecorder() as src:
            loss = loss_fn(model(x), y)
        graph = autograd_graph(loss, model, module_of=rec.module_of)
        add_source_lines(graph, src)

    ``enabled=False`` makes it a no-op (the switch), so callers need no branch.
    Run the forward on the thread that entered it: autograd's sequence
    numbers, which tie Nodes to calls, are per thread.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._calls = _Calls()
        self._mode: _SourceMode | None = None
        self._cache: dict[tuple[str, int, str], SourceLine] = {}

    def __enter__(self) -> "SourceRecorder":
        self._calls, self._cache = _Calls(), {}
        if self.enabled:
            self._mode = _SourceMode(self._calls)
            self._mode.__enter__()
            if not hasattr(_active, "stack"):
                _active.stack = []
            _active.stack.append(self._calls)
            _patch_apply(True)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._mode is not None:
            try:
                self._mode.__exit__(exc_type, exc, tb)
            finally:
                self._mode = None
                _active.stack.remove(self._calls)
                _patch_apply(False)

    def __len__(self) -> int:
        return len(self._calls.starts)

    def line_for(self, fn: Any) -> SourceLine | None:
        """The source line of the call that created autograd Node ``fn``, or None."""
        calls = self._calls
        if not calls.starts or fn is None:
            return None
        number = fn._sequence_nr()
        i = bisect_right(calls.starts, number) - 1
        if i < 0 or number >= calls.ends[i]:
            return None
        where = calls.frames[i]
        if where is None:
            return None
        line = self._cache.get(where)
        if line is None:
            line = self._cache[where] = SourceLine.read(*where)
        return line

    @property
    def last_line(self) -> SourceLine | None:
        """Where the last call that created Nodes was made (None if none was)."""
        for where in reversed(self._calls.frames):
            if where is not None:
                return SourceLine.read(*where)
        return None


def add_source_lines(graph: nx.DiGraph, recorder: SourceRecorder) -> int:
    """Set ``source`` on the op nodes of ``graph`` (not detached yet) that ``recorder`` saw; return how many."""
    fns = graph.graph.get("fn")
    if not fns or not recorder.enabled:
        return 0
    count = 0
    nodes = graph.nodes
    for key, fn in fns.items():
        attrs = nodes[key]
        if attrs.get("kind") != "op" or SOURCE_ATTR in attrs:
            continue
        line = recorder.line_for(fn)
        if line is not None:
            attrs[SOURCE_ATTR] = line.as_dict()
            count += 1
    return count


