"""``gradviz.inspect``: look at an autograd graph from any script, REPL or breakpoint.

::

    loss = criterion(model(x), y)
    gradviz.inspect(loss, model)          # the window opens; returns when it is closed
    gradviz.inspect(model, x)             # one recorded iteration on a copy of the model first

The window shows the graph (node details, search, export), and the Diagnostics
panel (:mod:`gradviz.core.diagnostics`). What it does to your objects:

* ``inspect(tensor, model=None)``: nothing. The graph is read from
  ``tensor.grad_fn`` (parameters named from ``model``); no backward runs, no
  ``.grad`` changes, the graph stays usable for your own ``backward()``. Dead
  ReLU units are read from what autograd saved. ``backward=True`` runs
  ``tensor.backward(retain_graph=True)`` for you (gradients then *accumulate*
  into your ``.grad``s, as with your own backward, and the window says so), so
  the diagnostics have gradient norms too.
* ``inspect(model, inputs)``: a deep copy of ``model`` runs one recorded
  iteration (forward, loss, backward, an SGD step at ``lr``) on ``inputs`` (a
  tensor, or a tuple for a ``forward`` with several arguments). Your model,
  its ``.grad``s and your inputs are untouched. The loss is
  ``loss_fn(output)`` when given, else the output itself when it is a single
  number, else ``output.sum()`` (of the first floating-point output of a
  tuple/dict). The window then has the full record: gradients, update/weight
  ratios, dead units.

Blocking: with no QApplication yet (a plain script, ``pdb``/``breakpoint()``)
gradviz makes one and runs a local event loop until the window is closed. In
IPython or Jupyter after ``%gui qt`` (Qt's event loop already runs beside the
prompt) ``inspect`` returns at once and every call reuses the same window.
``block=True``/``False`` overrides the choice.

Returns an :class:`Inspection` (graph, record, diagnostics). Bad arguments
raise :class:`InspectError` naming what is wrong and how to fix it.

This module imports neither Qt nor torch when ``gradviz`` is imported: Qt loads
inside :func:`inspect`, when a window is actually needed.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["InspectError", "Inspection", "inspect", "prepare"]


class InspectError(ValueError):
    """``gradviz.inspect`` was given something it cannot show; the message says what to pass instead."""


@dataclass(repr=False)
class Inspection:
    """What ``gradviz.inspect`` showed.

    ``graph``: the autograd graph (networkx, detached: holds no autograd Nodes);
    ``record``: an :class:`~gradviz.core.session.IterationRecord` (for a
    tensor, one with only the graph, dead units and, after ``backward=True``,
    the gradient norms); ``diagnostics``: ``record.diagnostics``; ``title``:
    what the window calls it; ``backward_ran``: whether *your* tensors'
    ``.grad`` changed (only with ``backward=True`` on a tensor); ``note``: that,
    in words.
    """

    graph: Any
    record: Any
    title: str
    backward_ran: bool
    note: str

    @property
    def diagnostics(self):
        return self.record.diagnostics

    def __repr__(self) -> str:
        # Short: a notebook cell ending in gradviz.inspect(...) prints this, and the
        # record's own repr would print every weight it holds.
        flags = len(self.diagnostics.flags)
        return (f"Inspection({self.title!r}, {flags} gradient-health flag{'s' if flags != 1 else ''}, "
                f"backward_ran={self.backward_ran})")


def _default_loss(loss_fn: Callable | None) -> Callable:
    def loss(output, _target):
        if loss_fn is not None:
            return loss_fn(output)
        return output if output.numel() == 1 else output.sum()

    loss.__name__ = getattr(loss_fn, "__name__", "loss_fn") if loss_fn is not None else "output.sum()"
    return loss


def _from_tensor(tensor, model, backward: bool) -> Inspection:
    from gradviz.core.diagnostics import relu_activity
    from gradviz.core.graph import autograd_graph, detach_graph
    from gradviz.core.records import IterationRecord

    if tensor.grad_fn is None:
        raise InspectError(
            "this tensor has no autograd graph (grad_fn is None): it was computed under torch.no_grad(), "
            "detached, or from tensors that do not require grad; inspect the loss computed from your model's "
            "parameters, or call gradviz.inspect(model, inputs)"
        )
    graph = autograd_graph(tensor, model)
    record = IterationRecord(index=0, lr=0.0, loss_name="your tensor", optimizer_name="", record_level="full",
                             output_shape=tuple(tensor.shape), graph=graph)
    if tensor.numel() == 1 and tensor.is_floating_point():
        record.loss = float(tensor.detach())
    record.relu = relu_activity(graph)  # before any backward frees what autograd saved
    note = "Nothing was changed: no backward ran, your .grad values are untouched."
    if backward:
        from gradviz.core.trace import trace_backward

        if tensor.numel() != 1:
            raise InspectError(f"backward=True needs a single-number tensor (a loss); this one has shape "
                               f"{tuple(tensor.shape)}: pass tensor.sum() or your loss")
        trace = trace_backward(tensor, graph, retain_graph=True)
        record.backward_order = list(trace.order)
        record.node_grad_norms = {key: trace.norm(key) for key in trace.order}
        record.nonfinite = list(trace.nonfinite)
        note = ("backward=True: backward ran on your tensor (retain_graph=True); its gradients were added "
                "to your parameters' .grad.")
    if model is not None and backward:  # without backward any .grad is from the user's own earlier backward
        named = list(model.named_parameters())
        record.grad_norms = {n: float(p.grad.detach().float().norm()) for n, p in named if p.grad is not None}
        record.no_grad = [n for n, p in named if p.grad is None]
        record.frozen = [n for n, p in named if p.grad is None and not p.requires_grad]
    record.complete = backward
    detach_graph(graph)
    label = "loss" if tensor.dim() == 0 else f"tensor {tuple(tensor.shape)}"
    return Inspection(graph, record, f"{label} · {graph.number_of_nodes()} nodes", backward, note)


def _from_model(model, inputs, loss_fn, lr: float) -> Inspection:
    import torch

    from gradviz.core.session import TrainingSession

    if inputs is None:
        raise InspectError("gradviz.inspect(model, inputs) needs example inputs: a tensor, or a tuple of tensors "
                           "for a forward with several arguments")
    try:
        twin = copy.deepcopy(model)
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing to the user
        raise InspectError(
            f"cannot copy {type(model).__name__} to run it without touching yours ({type(exc).__name__}: {exc}); "
            "run your forward and loss yourself and call gradviz.inspect(loss, model)"
        ) from None
    params = list(twin.parameters())
    device = str(params[0].device) if params else "cpu"
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else inputs
    try:
        session = TrainingSession(twin, inputs=inputs, loss=_default_loss(loss_fn), lr=lr, device=device)
        record = session.run_iteration()
    except (ValueError, TypeError, RuntimeError, torch.cuda.OutOfMemoryError) as exc:
        raise InspectError(f"cannot run one iteration of {type(model).__name__}: {exc}") from exc
    note = (f"One iteration ran on a copy of {type(model).__name__} (loss {session.loss_name}, SGD lr {lr:g}); "
            "your model, its .grad values and your inputs are untouched.")
    title = f"{type(model).__name__} · one iteration · {record.graph.number_of_nodes()} nodes"
    return Inspection(record.graph, record, title, False, note)


def prepare(target, inputs=None, *, model=None, loss_fn: Callable | None = None, backward: bool = False,
            lr: float = 0.01) -> Inspection:
    """What :func:`inspect` shows, without a window (no Qt): see the module docstring."""
    import torch
    from torch import nn

    if isinstance(target, torch.Tensor):
        if inputs is not None:
            if model is None and isinstance(inputs, nn.Module):
                model = inputs  # inspect(loss, model) positionally
            else:
                raise InspectError("inspect(tensor) takes no inputs: call gradviz.inspect(loss, model)")
        if model is not None and not isinstance(model, nn.Module):
            raise InspectError(f"model must be an nn.Module (to name the parameters), got {type(model).__name__}")
        return _from_tensor(target, model, backward)
    if isinstance(target, nn.Module):
        if backward:
            raise InspectError("backward=True is for a tensor; inspect(model, inputs) always runs backward, on a copy")
        return _from_model(target, inputs, loss_fn, lr)
    raise InspectError(
        f"gradviz.inspect takes a tensor with a grad_fn (your loss) or an nn.Module and its inputs, "
        f"got {type(target).__name__}"
    )


def inspect(target, inputs=None, *, model=None, loss_fn: Callable | None = None, backward: bool = False,
            lr: float = 0.01, block: bool | None = None) -> Inspection:
    """Open the gradviz window on ``target``'s autograd graph; see the module docstring.

    Args:
        target: a tensor with a ``grad_fn`` (e.g. your loss), or an ``nn.Module``.
        inputs: with a module: its example inputs. With a tensor, a module
            here is taken as ``model``.
        model: with a tensor: the module whose parameters name the graph's
            parameter nodes (``fc1.weight`` instead of an anonymous leaf).
        loss_fn: with a module: ``loss_fn(output) -> scalar``; default: the
            output if it is one number, else ``output.sum()``.
        backward: with a tensor: run its backward too (changes your ``.grad``s).
        lr: with a module: the learning rate of the recorded SGD step (on the copy).
        block: wait until the window is closed (default: yes, except in
            IPython/Jupyter whose Qt event loop is running, ``%gui qt``).
    """
    inspection = prepare(target, inputs, model=model, loss_fn=loss_fn, backward=backward, lr=lr)
    from gradviz.ui.inspect_window import show_inspection  # Qt loads here, not at import gradviz

    show_inspection(inspection, block=block)
    return inspection
