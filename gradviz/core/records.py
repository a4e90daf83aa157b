"""What a training session records: one :class:`IterationRecord` per iteration, the
:class:`PhaseResult` of each phase, where NaN/Inf first appeared, and the error a
failing phase raises. Plain data: :mod:`gradviz.core.session` fills them in."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import torch

from gradviz.core.data import VALUES
from gradviz.core.node_grads import ForwardValues, NodeGradients

__all__ = ["IterationRecord", "NonFinite", "PhaseResult", "TrainingError"]


class TrainingError(RuntimeError):
    """A phase failed (the model cannot take the batch, the loss cannot compare
    output and target, …). ``phase`` and ``iteration`` say where; the message
    what. The phase did not advance: fix the cause and retry, or call
    :meth:`TrainingSession.abort_iteration`."""

    def __init__(self, message: str, *, phase: str, iteration: int):
        super().__init__(message)
        self.phase = phase
        self.iteration = iteration


@dataclass(frozen=True)
class NonFinite:
    """Where NaN or Inf first appeared: ``iteration``, ``phase`` and ``where``:
    ``"output"``, ``"loss"``, a parameter name or an autograd node's label
    (``key`` is then its graph node key)."""

    iteration: int
    phase: str
    where: str
    key: str | None = None


@dataclass
class IterationRecord:
    """What one iteration did. Filled phase by phase; ``complete`` once ``step`` ran.

    Always recorded (both levels):
        index: the iteration number (0 for the first).
        lr, loss_name, optimizer_name, record_level: the settings it ran with.
        output_shape: shape of the model's output (of the tensor the loss
            used, when the model returns several: see
            ``TrainingSession.loss_output``).
        loss: the loss as a float (may be nan or inf).
        grad_norms: parameter name -> L2 norm of its gradient (parameters that
            received no gradient are absent).
        no_grad: names of the parameters that received no gradient in this
            backward: frozen ones (``requires_grad=False``) and ones the
            forward did not use. Not an error; they are simply not updated.
        nonfinite: names holding NaN or Inf, in the order found: ``"output"``,
            ``"loss"``, autograd node keys (full level), parameter names (their
            gradient or their value after the step).
        phase_times: phase -> seconds it took.

    Only at the ``"full"`` level (empty/None at ``"light"``):
        params_before, grads, params_after: parameter name -> CPU tensor copy.
        graph: the iteration's autograd graph (params named, op nodes carry
            ``module``), detached with ``detach_graph`` after backward so it
            holds no autograd Nodes or tensors.
        creation_order: op node keys in the order the forward pass and the
            loss created them.
        backward_order: node keys in the order the autograd engine ran them.
        node_grad_norms: node key -> norm of the gradient it received (None
            where none was defined).
        relu: per ReLU in the graph, how many of its units were zero for the
            whole batch (:class:`~gradviz.core.diagnostics.ReluActivity`),
            read from what autograd saved before backward.

        output_sample, target_sample: the first sample of the output the loss
            compares and its target, as 1-D CPU float tensors of at most
            ``SAMPLE_LIMIT`` values (``output_sample_size`` says how many the
            sample has); for class losses the target is one class index.
            Set by ``forward``: what the class compares before the loss.
        node_values: node key -> forward value (kept like node gradients),
            before backward has run: from the loss phase on, and already after
            the forward when the session has made a graph of this network
            before (a preview or an earlier iteration) to take the keys from.
        forward_order: the op keys the forward made (not the loss), when
            the forward's values were noted (else empty: a display splits
            ``creation_order`` by modules).
        forward_values: from the forward phase until the loss phase (then
            None: ``node_values`` holds the same values by key): each node's
            value by creation order and parameter name
            (:class:`~gradviz.core.node_grads.ForwardValues`), which
            ``forward_values.by_key(graph)`` puts on any graph of the network.
        target_kind: ``"values"`` (regression: outputs against target
            values) or ``"classes"`` (the target is a class index).

    Also (both levels): frozen: names of parameters with ``requires_grad=False``
    (a subset of ``no_grad``; None where unknown, as in run files). ``diagnostics``: the iteration's gradient health
    (:func:`gradviz.core.diagnostics.diagnose`), computed on first use.

    Only with ``node_gradients=True`` (a full-level option; else empty):
        node_gradients: node key -> :class:`~gradviz.core.node_grads.NodeGradients`:
            what each autograd Node received, produced and saved, and its
            forward value; see :mod:`gradviz.core.explain` for the rule of each.
    """

    index: int
    lr: float
    loss_name: str
    optimizer_name: str
    record_level: str
    output_shape: tuple | None = None
    loss: float | None = None
    params_before: dict[str, torch.Tensor] = field(default_factory=dict)
    grads: dict[str, torch.Tensor] = field(default_factory=dict)
    params_after: dict[str, torch.Tensor] = field(default_factory=dict)
    grad_norms: dict[str, float] = field(default_factory=dict)
    no_grad: list[str] = field(default_factory=list)
    node_grad_norms: dict[str, float | None] = field(default_factory=dict)
    node_gradients: dict[str, NodeGradients] = field(default_factory=dict)
    graph: nx.DiGraph | None = None
    creation_order: list[str] = field(default_factory=list)
    backward_order: list[str] = field(default_factory=list)
    nonfinite: list[str] = field(default_factory=list)
    phase_times: dict[str, float] = field(default_factory=dict)
    complete: bool = False
    relu: list = field(default_factory=list)
    node_values: dict[str, Any] = field(default_factory=dict)
    forward_values: ForwardValues | None = None
    forward_order: list[str] = field(default_factory=list)
    output_sample: torch.Tensor | None = None
    target_sample: torch.Tensor | None = None
    output_sample_size: int = 0
    target_kind: str = VALUES
    frozen: list[str] | None = None  # set by backward; None: not known (records read from a run file)
    # Bytes the node values and gradients hold, each copy once, as the recorder
    # counted them (NodeRecorder.kept_bytes); None: the history walks them.
    node_kept_bytes: int | None = None

    @functools.cached_property
    def diagnostics(self):
        """Gradient health of this iteration (:class:`gradviz.core.diagnostics.Diagnostics`):
        norm by depth, update/weight ratios, dead ReLU units, missing and zero
        gradients, and the flags. Computed once, on first use."""
        from gradviz.core.diagnostics import diagnose

        return diagnose(self)

    def _flag(self, name: str) -> None:
        if name not in self.nonfinite:
            self.nonfinite.append(name)


# What each phase produces of the record: PhaseResult shows these fields only for
# the phase that produced them (None for the others).
_PRODUCED_BY = {
    "forward": ("output_shape",),
    "loss": ("loss", "graph", "creation_order"),
    "backward": ("backward_order", "grad_norms"),
}


@dataclass
class PhaseResult:
    """What :meth:`TrainingSession.advance` returns: the phase that ran and what it produced.

    The produced values are read from ``record`` (the iteration's record, complete
    after ``step``), and only for the phase that produced them, else None:
    ``output_shape`` after ``forward``; ``loss``, ``graph`` and ``creation_order``
    after ``loss`` (graph and order at the full level only); ``backward_order``
    (full level) and ``grad_norms`` after ``backward``. ``nonfinite`` lists what
    this phase found to be NaN/Inf.
    """

    phase: str
    elapsed_s: float
    iteration: int
    record: IterationRecord
    nonfinite: list[str] = field(default_factory=list)

    def _produced(self, name: str):
        if name not in _PRODUCED_BY.get(self.phase, ()):
            return None
        value = getattr(self.record, name)
        if name in ("graph", "creation_order", "backward_order") and self.record.record_level != "full":
            return None  # the light level records no graph
        return value

    output_shape = property(lambda self: self._produced("output_shape"))
    loss = property(lambda self: self._produced("loss"))
    graph = property(lambda self: self._produced("graph"))
    creation_order = property(lambda self: self._produced("creation_order"))
    backward_order = property(lambda self: self._produced("backward_order"))
    grad_norms = property(lambda self: self._produced("grad_norms"))
