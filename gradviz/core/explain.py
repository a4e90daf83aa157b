"""Explain a recorded backward pass node by node: what arrived, the rule, the numbers, what left.

Views and the ``gradviz explain`` command use three functions over a record
made with ``TrainingSession(..., node_gradients=True)`` (or any object with a
``graph`` and ``node_gradients``, e.g. :class:`Recording`):

* :func:`explain_node` -> :class:`NodeExplanation`: for one graph node key,
  the gradient(s) it received, the ones it produced and where each went, what
  it saved, its rule in words and formulas (:mod:`gradviz.core.backward_rules`),
  and the rule with its real values plugged in, as short text lines;
* :func:`node_numbers` -> ``{key: NodeNumbers}``: micrograd's ``draw_dot``
  view, each node's forward value and gradient (``"data 0.8800 | grad −0.5000"``);
* :func:`format_backward`: the whole backward pass as a text handout.

:func:`format_tensor` is the one text rendering of a kept tensor: numbers for
small ones, a one-line summary for large ones.

No Qt here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import networkx as nx
import torch

from gradviz.core.backward_rules import (
    NO_EXPLANATION,
    NotRecomputable,
    Rule,
    rule_for,
    saved,
    saved_symbols,
    signed,
    slot_names,
)
from gradviz.core.graph import HELD_BY_HOOK
from gradviz.core.node_grads import Kept, NodeGradients, TensorSummary

__all__ = [
    "NUMBERS_PRECISION",
    "OUTPUT_FORMULAS",
    "OUTPUT_WORDS",
    "PLUGGED_ELEMENTS",
    "NodeExplanation",
    "NodeNumbers",
    "Recording",
    "SHOWN_ELEMENTS",
    "explain_node",
    "format_backward",
    "format_number",
    "format_tensor",
    "gradient_sources",
    "node_numbers",
]

# Tensors up to this many elements are written out number by number (a 6×6
# gradient); larger ones as a one-line summary.
SHOWN_ELEMENTS = 36
# A formula is written out factor by factor only when every factor has at
# most this many elements; otherwise just its result is shown.
PLUGGED_ELEMENTS = 12
# Significant digits in the text renderings (micrograd's draw_dot uses 4).
NUMBERS_PRECISION = 4
MINUS = "−"


class HasNodeGradients(Protocol):
    """What the functions here read: an ``IterationRecord`` or a :class:`Recording`."""

    graph: nx.DiGraph | None
    node_gradients: dict[str, NodeGradients]


@dataclass
class Recording:
    """A graph and its per-node recording, for scripts that use :class:`~gradviz.core.node_grads.NodeRecorder` directly."""

    graph: nx.DiGraph
    node_gradients: dict[str, NodeGradients]


# ---------------------------------------------------------------------------
# text of numbers and tensors


def format_number(value: float | complex, digits: int = NUMBERS_PRECISION) -> str:
    """``0.8814``, ``−0.5``, ``1.2e−05``, ``nan``: a real minus sign, ``digits`` significant
    digits; a complex number as ``0.5 − 1.2i`` (an FFT's values)."""
    if isinstance(value, complex):
        sign = MINUS if value.imag < 0 or math.copysign(1.0, value.imag) < 0 else "+"
        return f"{format_number(value.real, digits)} {sign} {format_number(abs(value.imag), digits)}i"
    if math.isnan(value) or math.isinf(value):
        return str(value).replace("-", MINUS)
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    return text.replace("-", MINUS)


def format_tensor(value: Kept | None, limit: int = SHOWN_ELEMENTS) -> str:
    """A kept tensor as text: ``0.8814`` (one element), ``[[0.5, −1]]`` (up to
    ``limit`` elements), else ``(64, 6, 28, 28) norm 1.2 min … max … mean …, 3% zeros``."""
    if value is None:
        return "—"
    if isinstance(value, TensorSummary):
        return _summary_text(value)
    if value.numel() > limit:
        from gradviz.core.node_grads import summarise

        return _summary_text(summarise(value))
    if value.dtype == torch.bool:
        return str(value.tolist())
    if value.numel() == 1:
        return _nested(value.reshape(()).item())
    return _nested(value.resolve_conj().tolist())


def _nested(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    if isinstance(values, bool):
        return str(values)
    if isinstance(values, int):
        return str(values).replace("-", MINUS)
    return format_number(values)


def _summary_text(s: TensorSummary) -> str:
    shape = "(" + ", ".join(map(str, s.shape)) + ("," if len(s.shape) == 1 else "") + ")"
    text = (f"{shape} norm {format_number(s.norm)}, min {format_number(s.min)}, max {format_number(s.max)}, "
            f"mean {format_number(s.mean)}, {s.zero_fraction:.0%} zeros")
    return text + (f", {s.nonfinite} NaN/Inf" if s.nonfinite else "")


def _first(values: list) -> Any:
    return next((v for v in values if v is not None), None)


# ---------------------------------------------------------------------------
# one node


@dataclass
class NodeExplanation:
    """Everything a node inspector shows for one node of a recorded backward pass.

    Attributes:
        key, label: the graph node key and its class name (``"TanhBackward0"``).
        name: a parameter's name (``"fc1.weight"``), else ``""``.
        module: the module that created the op (``""`` if unknown or none).
        rule: the :class:`~gradviz.core.backward_rules.Rule`, None for an op
            without one (then ``words`` is :data:`NO_EXPLANATION`).
        forward, words, formulas: the rule's forward op, sentence(s) and one
            formula per produced gradient (empty without a rule).
        value: the op's forward output (a parameter's value), as kept.
        received: ∂L/∂output(s), as kept.
        produced: ∂L/∂input per slot, as kept; ``produced_to[i]`` is the key
            of the graph node that gradient was sent to (None: nowhere).
        saved: what the op saved for backward (name -> kept value).
        grad_before, grad_after: for parameters/leaves: ``.grad`` around this
            accumulation.
        with_values: the rule with this node's numbers plugged in, one text
            line each (received, saved inputs, each produced gradient).
        recomputed: the produced gradients recomputed by the rule, or None;
            ``recompute_note`` says why not (too large, no rule yet).
    """

    key: str
    label: str
    name: str = ""
    module: str = ""
    rule: Rule | None = None
    forward: str = ""
    words: str = NO_EXPLANATION
    formulas: tuple[str, ...] = ()
    value: Kept | None = None
    received: list[Kept | None] = field(default_factory=list)
    produced: list[Kept | None] = field(default_factory=list)
    produced_to: list[str | None] = field(default_factory=list)
    saved: dict[str, Any] = field(default_factory=dict)
    grad_before: Kept | None = None
    grad_after: Kept | None = None
    with_values: list[str] = field(default_factory=list)
    recomputed: list[torch.Tensor | None] | None = None
    recompute_note: str = ""


def _producers_by_slot(graph: nx.DiGraph | None, key: str, slots: int) -> list[str | None]:
    """For each input slot of ``key``, the graph key of the node that produced that input."""
    found: list[str | None] = [None] * slots
    if graph is None or key not in graph:
        return found
    for producer in graph.predecessors(key):
        data = graph.edges[producer, key]
        for slot in data.get("slots", (data["slot"],)):
            if 0 <= slot < slots:
                found[slot] = producer
    return found


# Values of shape ops the forward cannot be watched doing (F.linear's
# weight.t() runs inside one torch call): the op applied to its input's
# value. The received gradient has the output's shape.
_SHAPE_OPS = {
    "TBackward0": lambda x, n: x.T,
    "TransposeBackward0": lambda x, n: x.transpose(_signed(n.saved["dim0"]), _signed(n.saved["dim1"])),
    "PermuteBackward0": lambda x, n: x.permute([_signed(d) for d in n.saved["dims"]]),
    "ViewBackward0": lambda x, n: x.reshape(_first(n.received).shape),
    "UnsafeViewBackward0": lambda x, n: x.reshape(_first(n.received).shape),
    "ExpandBackward0": lambda x, n: x.expand(_first(n.received).shape),
    "CloneBackward0": lambda x, n: x.clone(),
}


def _signed(value: int) -> int:
    return signed(int(value))


def _value_of(record: HasNodeGradients, key: str, _depth: int = 0) -> Kept | None:
    """A node's forward value: recorded, read off a consumer that saved it as
    an input, or (for a shape op) its input's value reshaped."""
    entry = record.node_gradients.get(key)
    if entry is not None and entry.outputs:
        return _first(entry.outputs)
    graph = record.graph
    if graph is None or key not in graph:
        return None
    shape_op = _SHAPE_OPS.get(entry.label) if entry is not None else None
    if shape_op is not None and _depth < 8 and isinstance(_first(entry.received), torch.Tensor):
        producers = _producers_by_slot(graph, key, 1)
        source = _value_of(record, producers[0], _depth + 1) if producers[0] is not None else None
        if isinstance(source, torch.Tensor):
            try:
                return shape_op(source, entry)
            except (RuntimeError, IndexError, TypeError):
                pass
    for consumer in graph.successors(key):
        user = record.node_gradients.get(consumer)
        rule = rule_for(graph.nodes[consumer].get("label", ""))
        if user is None or rule is None or not rule.inputs:
            continue
        slot = graph.edges[key, consumer]["slot"]
        name = rule.inputs.get(slot)
        if name is not None and isinstance(user.saved.get(name), (torch.Tensor, TensorSummary)):
            return user.saved[name]
    return None


def gradient_sources(record: HasNodeGradients, key: str) -> list[tuple[str, int, Kept | None]]:
    """Where node ``key``'s received gradient came from: ``(consumer key, slot, gradient)``
    for every use of its value, in the engine's order. Autograd sums them before the
    node runs: a weight used twice (tied weights) has two sources that add up."""
    graph = record.graph
    if graph is None or key not in graph:
        return []
    sources = []
    for consumer in graph.successors(key):
        entry = record.node_gradients.get(consumer)
        if entry is None:
            continue
        data = graph.edges[key, consumer]
        for slot in data.get("slots", (data["slot"],)):
            if 0 <= slot < len(entry.produced):
                sources.append((consumer, slot, entry.produced[slot]))
    order = {k: i for i, k in enumerate(record.node_gradients)}
    sources.sort(key=lambda source: (order.get(source[0], len(order)), source[1]))
    return sources


# What an output node (the loss) does in backward: it is no op, backward starts there.
OUTPUT_WORDS = ("Backward starts here: autograd seeds the output with ∂L/∂L = 1 (ones of its shape) "
                "and sends it to the op that computed it.")
OUTPUT_FORMULAS = ("∂L/∂L = 1",)


def explain_node(record: HasNodeGradients, key: str) -> NodeExplanation:
    """The :class:`NodeExplanation` of graph node ``key`` in ``record``.

    Raises KeyError when the record has no entry for ``key`` (the engine did
    not run that node, or node gradients were not recorded)."""
    entry = record.node_gradients.get(key)
    if entry is None:
        raise KeyError(f"no node gradients recorded for {key!r} (record with node_gradients=True; "
                       "nodes the engine did not run have none)")
    graph = record.graph
    attrs = graph.nodes[key] if graph is not None and key in graph else {}
    rule = rule_for(entry.label)
    out = NodeExplanation(
        key=key, label=entry.label, name=attrs.get("name", ""), module=attrs.get("module", ""), rule=rule,
        value=_value_of(record, key), received=list(entry.received), produced=list(entry.produced),
        produced_to=_producers_by_slot(graph, key, len(entry.produced)), saved=dict(entry.saved),
        grad_before=entry.grad_before, grad_after=entry.grad_after,
    )
    if rule is not None:
        out.forward, out.words, out.formulas = rule.forward, rule.words, rule.formulas
        try:
            out.recomputed = rule.recompute(entry)
        except NotRecomputable as exc:
            out.recompute_note = str(exc)
    elif attrs.get("kind") == "output":
        out.words, out.formulas = OUTPUT_WORDS, OUTPUT_FORMULAS
    else:
        out.recompute_note = NO_EXPLANATION
    out.with_values = _with_values(out, entry)
    return out


def _with_values(out: NodeExplanation, entry: NodeGradients) -> list[str]:
    """The rule's lines with this node's numbers: what came in, what it used, what went out."""
    lines = []
    if entry.is_accumulate:
        before = "None (zero)" if entry.grad_before is None else format_tensor(entry.grad_before)
        lines.append(f".grad before = {before}")
        lines.append(f"∂L/∂p received = {format_tensor(_first(entry.received))}")
        lines.append(f".grad after = .grad before + ∂L/∂p = {format_tensor(entry.grad_after)}")
        return lines
    for i, received in enumerate(entry.received):
        if received is not None or len(entry.received) == 1:
            suffix = "" if len(entry.received) == 1 else f"[{i}]"
            lines.append(f"∂L/∂y{suffix} = {format_tensor(received)}")
    # Saved inputs and output by the formula's letters, autograd's name beside:
    # "x = −0.6 (saved as self)". The output saved as `result` is y, once.
    symbols = saved_symbols(entry.label)
    saved_output = next((name for name, value in entry.saved.items()
                         if symbols.get(name) == "y" and isinstance(value, (torch.Tensor, TensorSummary))), None)
    if out.value is not None and not entry.label == "loss":
        lines.append(f"y = {format_tensor(out.value)}" + (f"   (saved as {saved_output})" if saved_output else ""))
    for name, value in entry.saved.items():
        if isinstance(value, (torch.Tensor, TensorSummary)) and not name.endswith(("_sym_sizes", "_sym_strides")):
            symbol = symbols.get(name)
            if name == saved_output and out.value is not None:
                continue  # the y line above
            lines.append(f"{symbol} = {format_tensor(value)}   (saved as {name})" if symbol else f"{name} = {format_tensor(value)}")
        elif isinstance(value, str) and value == HELD_BY_HOOK:  # a checkpointed op: say why x is missing
            symbol = symbols.get(name)
            lines.append(f"{symbol} (saved as {name}): {value}" if symbol else f"{name}: {value}")
    plugged = _PLUGGED.get(entry.label)
    if plugged is not None:
        try:
            lines.extend(plugged(entry))
            return lines
        except (NotRecomputable, KeyError, IndexError, TypeError):
            pass  # a tensor too large or missing: the generic lines below
    names = slot_names(entry.label)
    for slot, produced in enumerate(entry.produced):
        if produced is None:
            continue
        name = names[slot] if slot < len(names) else f"input{slot}"
        formula = out.formulas[slot] if slot < len(out.formulas) else ""
        rhs = formula.split("=", 1)[1].strip() if "=" in formula else ""
        lines.append(f"∂L/∂{name} = {rhs + ' = ' if rhs else ''}{format_tensor(produced)}")
    return lines


# The common ops of a lecture, with every factor of the formula written out.
# Each returns one line per produced gradient; NotRecomputable (from _small)
# when a factor is too large to write out.


def _small(value) -> str:
    if isinstance(value, (int, float)):
        return format_number(float(value))
    if not isinstance(value, torch.Tensor) or value.numel() > PLUGGED_ELEMENTS:
        raise NotRecomputable("too large to write out")
    text = format_tensor(value)
    return f"({text})" if text.startswith(MINUS) else text


def _plug_tanh(n: NodeGradients) -> list[str]:
    g, y, d = n.received[0], saved(n, "result"), n.produced[0]
    return [f"∂L/∂x = ∂L/∂y · (1 − y²) = {_small(g)} · (1 − {_small(y)}²) = {format_tensor(d)}"]


def _plug_sigmoid(n: NodeGradients) -> list[str]:
    g, y, d = n.received[0], saved(n, "result"), n.produced[0]
    return [f"∂L/∂x = ∂L/∂y · y · (1 − y) = {_small(g)} · {_small(y)} · (1 − {_small(y)}) = {format_tensor(d)}"]


def _plug_relu(n: NodeGradients) -> list[str]:
    g, y, d = n.received[0], saved(n, "result"), n.produced[0]
    return [f"∂L/∂x = ∂L/∂y · [y > 0] = {_small(g)} · {_small((y > 0).to(y.dtype))} = {format_tensor(d)}"]


def _plug_mse(n: NodeGradients) -> list[str]:
    g, x, t, d = n.received[0], saved(n, "self"), saved(n, "target"), n.produced[0]
    count = x.numel() if n.saved["reduction"] == 1 else 1
    return [f"∂L/∂x = ∂L/∂y · 2 (x − t) / N = {_small(g)} · 2 · ({_small(x)} − {_small(t)}) / {count} = {format_tensor(d)}"]


def _plug_addmm(n: NodeGradients) -> list[str]:
    g = n.received[0]
    lines = []
    d_bias, d_x, d_m = (list(n.produced) + [None] * 3)[:3]
    if d_bias is not None:
        lines.append(f"∂L/∂b = Σ_batch ∂L/∂y = Σ_batch {_small(g)} = {format_tensor(d_bias)}")
    if d_x is not None:
        lines.append(f"∂L/∂x = ∂L/∂y · Mᵀ = {_small(g)} · {_small(saved(n, 'mat2').T)} = {format_tensor(d_x)}")
    if d_m is not None:
        lines.append(f"∂L/∂M = xᵀ · ∂L/∂y = {_small(saved(n, 'mat1').T)} · {_small(g)} = {format_tensor(d_m)}")
    return lines


def _plug_transpose(n: NodeGradients) -> list[str]:
    return [f"∂L/∂x = (∂L/∂y)ᵀ = {_small(n.received[0])}ᵀ = {format_tensor(n.produced[0])}"]


_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _plug_pieces(n: NodeGradients) -> list[str]:
    """cat and stack: each input's gradient is its own part of ∂L/∂y, named by the slice it was in."""
    if not n.received or n.received[0] is None:
        raise NotRecomputable("no gradient was received")
    ndim = len(n.received[0].shape)
    stacked = n.label == "StackBackward0"
    dim = signed(n.saved["dim"]) % ndim
    lines, start = [], 0
    for slot, d in enumerate(n.produced):
        if d is None:  # its size is unknown, so the later slices' starts are too: the generic lines
            raise NotRecomputable("an input's gradient was not recorded")
        width = 1 if stacked else d.shape[dim]
        where = str(start) if stacked else f"{start}:{start + width}"
        start += width
        lines.append(f"∂L/∂x{str(slot).translate(_SUBSCRIPTS)} = ∂L/∂y[{', '.join([':'] * dim + [where])}] = "
                     f"{format_tensor(d)}")
    return lines


_PLUGGED = {
    "CatBackward0": _plug_pieces,
    "StackBackward0": _plug_pieces,
    "TanhBackward0": _plug_tanh,
    "SigmoidBackward0": _plug_sigmoid,
    "ReluBackward0": _plug_relu,
    "MseLossBackward0": _plug_mse,
    "AddmmBackward0": _plug_addmm,
    "TBackward0": _plug_transpose,
}


# ---------------------------------------------------------------------------
# numbers mode


@dataclass(frozen=True)
class NodeNumbers:
    """A node's forward value and its gradient, micrograd's ``draw_dot`` style."""

    data: Kept | None
    grad: Kept | None

    @property
    def text(self) -> str:
        """``"data 0.8814 | grad −0.5"`` (``—`` for what is unknown)."""
        return f"data {format_tensor(self.data)} | grad {format_tensor(self.grad)}"


def node_numbers(record: HasNodeGradients) -> dict[str, NodeNumbers]:
    """``{key: NodeNumbers}`` for every node of the record's graph with a recording.

    ``data`` is the op's forward output (a parameter's value; the loss for the
    output node), ``grad`` the gradient it received: ∂L/∂(that value). Empty
    when node gradients were not recorded.
    """
    numbers = {}
    for key, entry in record.node_gradients.items():
        numbers[key] = NodeNumbers(_value_of(record, key), _first(entry.received))
    return numbers


# ---------------------------------------------------------------------------
# the handout


def _node_title(record: HasNodeGradients, key: str) -> str:
    graph = record.graph
    attrs = graph.nodes[key] if graph is not None and key in graph else {}
    label = attrs.get("label", record.node_gradients[key].label)
    if attrs.get("kind") == "param":
        shape = attrs.get("shape", ())
        return f"{key}  {attrs.get('name')} {tuple(shape)}  (AccumulateGrad)"
    module = attrs.get("module")
    return f"{key}  {label}" + (f"  [{module}]" if module else "")


def _target_title(record: HasNodeGradients, key: str | None) -> str:
    if key is None:
        return "nowhere"
    graph = record.graph
    attrs = graph.nodes[key] if graph is not None and key in graph else {}
    return f"{key} {attrs.get('name') or attrs.get('label', '')}".strip()


def format_backward(record: HasNodeGradients, order: list[str] | None = None) -> str:
    """The backward pass as text, node by node in the order the engine ran them.

    For each node: what it received, its rule in words and formulas, the rule
    with its numbers, and where each produced gradient went.
    """
    keys = [k for k in (order or getattr(record, "backward_order", None) or list(record.node_gradients))
            if k in record.node_gradients]
    lines = []
    loss = getattr(record, "loss", None)
    if loss is not None:
        lines.append(f"Backward pass of iteration {getattr(record, 'index', 0)}: loss = {format_number(loss)}")
        lines.append("Each node gets ∂L/∂(its output) from above, multiplies it by its local derivative, "
                     "and sends ∂L/∂(each input) down.")
        lines.append("")
    for step, key in enumerate(keys, 1):
        explanation = explain_node(record, key)
        lines.append(f"{step}. {_node_title(record, key)}")
        if record.graph is not None and record.graph.nodes.get(key, {}).get("kind") == "output":
            lines.append(f"   start: ∂L/∂L = {format_tensor(_first(explanation.received))} "
                         f"(L = {format_tensor(explanation.value)})")
            lines.append("")
            continue
        if explanation.forward:
            lines.append(f"   op        {explanation.forward}")
        lines.append(f"   rule      {explanation.words}")
        for formula in explanation.formulas:
            lines.append(f"             {formula}")
        for text in explanation.with_values:
            lines.append(f"   numbers   {text}")
        if explanation.recompute_note and explanation.rule is None:
            for i, received in enumerate(explanation.received):
                lines.append(f"   received  {format_tensor(received)}")
            for slot, produced in enumerate(explanation.produced):
                lines.append(f"   produced  [{slot}] {format_tensor(produced)}")
        for slot, (produced, target) in enumerate(zip(explanation.produced, explanation.produced_to)):
            if produced is not None:
                lines.append(f"   sends     [{slot}] → {_target_title(record, target)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
