"""The graph up to the op that crashed, when a forward pass raises.

:func:`trace_until_crash` runs ``model(*inputs)`` (and the loss) under a
:class:`~gradviz.core.graph.ForwardRecorder` (modules), a
:class:`~gradviz.core.source_lines.SourceRecorder` (lines) and a torch
function mode that keeps every tensor the forward produced with a
``grad_fn`` and notes the first torch call that raised: its name, its inputs
and the user's line that made it. From those tensors it builds the autograd
graph as far as it got, and adds one node for the failed op, fed by the
producers of its inputs, carrying the exception message (:data:`FAILED_KEY`,
``failed=True``, ``error``, ``source``).

It runs only after a forward already failed (the normal path pays nothing);
shape errors, the usual cause, fail again the same way.

No Qt here.
"""
from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import networkx as nx
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from gradviz.core.interrupts import is_stop_request
from gradviz.core.model_io import as_call_args
from gradviz.core.node_notes import ERROR_ATTR, FAILED_ATTR, INPUT_SHAPES_ATTR, SOURCE_ATTR, SourceLine
from gradviz.core.source_lines import SourceRecorder, add_source_lines, user_frame

__all__ = ["FAILED_KEY", "ForwardCrash", "trace_until_crash", "crash_node"]

FAILED_KEY = "failed"  # the graph key of the op that raised


def _tensors(value: Any, depth: int = 0):
    if isinstance(value, torch.Tensor):
        yield value
    elif depth < 3 and isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item, depth + 1)


def _shape_text(t: torch.Tensor) -> str:
    return "(" + ", ".join(map(str, t.shape)) + ")"


class _CrashMode(TorchFunctionMode):
    """Keeps the tensors each call produced (with a grad_fn) and the first call that raised."""

    def __init__(self):
        super().__init__()
        self.produced: list[torch.Tensor] = []
        self.op: str | None = None
        self.inputs: list[torch.Tensor] = []
        self.source: SourceLine | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            result = func(*args, **kwargs)
        except Exception:
            if self.op is None:
                self.op = (getattr(func, "__name__", None) or str(func)).strip("_")
                self.inputs = list(_tensors((args, kwargs)))
                frame = user_frame(sys._getframe(1))
                self.source = SourceLine.at(frame) if frame is not None else None
            raise
        for tensor in _tensors(result):
            if tensor.grad_fn is not None:
                self.produced.append(tensor)
        return result


@dataclass
class ForwardCrash:
    """A forward pass that raised, and the graph it had built by then.

    ``message``: ``"RuntimeError: mat1 and mat2 shapes cannot be multiplied …"``;
    ``op``: the torch function that raised (``"linear"``), None when the error
    came from plain Python; ``input_shapes``: its tensor arguments' shapes;
    ``source``: the user's line of that call (or of the innermost user frame
    of the traceback); ``graph``: the autograd graph up to there with the
    failed op as node :data:`FAILED_KEY` (detached; op nodes carry ``module``
    and ``source``).
    """

    message: str
    op: str | None
    input_shapes: list[tuple[int, ...]]
    source: SourceLine | None
    graph: nx.DiGraph

    @property
    def failed_key(self) -> str:
        return FAILED_KEY

    def describe(self) -> str:
        """One line: what failed, where, and the message."""
        what = f"{self.op}({', '.join(map(str, self.input_shapes))})" if self.op else "the forward"
        where = f" at {self.source}" if self.source is not None else ""
        return f"{what} failed{where}: {self.message}"


def crash_node(op: str | None, message: str, source: SourceLine | None, shapes: list) -> dict[str, Any]:
    """The attributes of the failed op's node."""
    attrs: dict[str, Any] = {
        "kind": "op", "label": f"{op or 'forward'} ✗", FAILED_ATTR: True, ERROR_ATTR: message,
        INPUT_SHAPES_ATTR: [tuple(s) for s in shapes],
    }
    if source is not None:
        attrs[SOURCE_ATTR] = source.as_dict()
    return attrs


def _innermost_user_line(exc: BaseException) -> SourceLine | None:
    """The innermost line of the user's code in ``exc``'s traceback (an error raised by plain Python)."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if user_frame(frame) is frame:
            code = frame.f_code
            line = SourceLine.read(code.co_filename, lineno, code.co_name)
    return line


def _partial_graph(model: nn.Module, mode: _CrashMode, recorder: Any, sources: SourceRecorder) -> tuple[nx.DiGraph, list]:
    """The graph of everything produced so far, plus the failed node; and the failed op's input shapes."""
    from gradviz.core.graph import autograd_graph

    failing = [t for t in mode.inputs if t.grad_fn is not None]
    # Roots: the failed op's inputs, and produced tensors no other produced op consumed (branches kept for later).
    fns = {t.grad_fn for t in mode.produced}
    consumed = {producer for fn in fns for producer, _ in fn.next_functions if producer is not None}
    roots, seen = [], set()
    for tensor in failing + mode.produced:
        fn = tensor.grad_fn
        if fn in seen or (fn in consumed and not any(fn is t.grad_fn for t in failing)):
            continue
        seen.add(fn)
        roots.append(tensor)
    shapes = [tuple(t.shape) for t in mode.inputs]
    if not roots:
        graph = nx.DiGraph()
    else:
        graph = autograd_graph(roots, model, module_of=recorder.module_of, calls_of=recorder.call_of)
        add_source_lines(graph, sources)
        # The roots' "output" nodes are not outputs: the forward never got that far.
        failing_fns = [t.grad_fn for t in failing]
        key_of = {fn: key for key, fn in graph.graph["fn"].items()}
        graph.remove_nodes_from(list(graph.graph["roots"]))
        graph.graph.pop("fn", None)
        inputs_from = [key_of[fn] for fn in failing_fns]
    graph.add_node(FAILED_KEY, **crash_node(mode.op, "", mode.source, shapes))
    if roots:
        for slot, producer in enumerate(inputs_from):
            if not graph.has_edge(producer, FAILED_KEY):
                graph.add_edge(producer, FAILED_KEY, input_nr=0, slot=slot)
    # Parameters passed straight to the failed op (the weight of the Linear that did not fit).
    names = {id(p): n for n, p in model.named_parameters()}
    for slot, tensor in enumerate(mode.inputs):
        if tensor.grad_fn is None and tensor.requires_grad:
            key = f"failed_in{slot}"
            name = names.get(id(tensor), "")
            graph.add_node(key, kind="param" if name else "leaf", label="AccumulateGrad", name=name,
                           shape=tuple(tensor.shape))
            graph.add_edge(key, FAILED_KEY, input_nr=0, slot=slot)
    graph.graph["roots"] = [FAILED_KEY]
    return graph, shapes


def trace_until_crash(
    model: nn.Module,
    inputs: Any,
    loss_fn: Callable[..., Any] | None = None,
    target: Any = None,
) -> ForwardCrash | None:
    """Run forward (+ loss) and, if it raises, return what it built up to the failing op; None if it ran through.

    BatchNorm statistics and the random state are put back afterwards.
    """
    from gradviz.core.graph import ForwardRecorder

    if not isinstance(model, nn.Module):
        raise TypeError(f"trace_until_crash needs a torch.nn.Module, got {type(model).__name__}: "
                        "pass the model, then its inputs")
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    recorder, mode = ForwardRecorder(model), _CrashMode()
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            try:
                with recorder, SourceRecorder() as sources, mode:
                    output = model(*as_call_args(inputs))
                    if loss_fn is not None:
                        loss_fn(output) if target is None else loss_fn(output, target)
            except BaseException as exc:  # noqa: BLE001 - the user's forward may raise anything, sys.exit() too
                if is_stop_request(exc):
                    raise
                message = f"{type(exc).__name__}: {exc}".strip()
                if mode.source is None:
                    mode.source = _innermost_user_line(exc)
                graph, shapes = _partial_graph(model, mode, recorder, sources)
                graph.nodes[FAILED_KEY][ERROR_ATTR] = message
                return ForwardCrash(message, mode.op, shapes, mode.source, graph)
            return None
    finally:
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                if name in buffers:
                    buffer.copy_(buffers[name])
