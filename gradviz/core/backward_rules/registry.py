"""The rule registry (:class:`Rule`, :func:`rule`, :func:`alias`) and the helpers every rule
reads a record with: the received gradient, saved tensors and values, broadcast shapes.

No Qt here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from gradviz.core.graph import HELD_BY_HOOK
from gradviz.core.node_grads import NodeGradients, TensorSummary

NO_EXPLANATION = "no explanation for this op yet"

# Autograd stores C++ int64 values it saved (dims, indices) as unsigned:
# -1 comes back as 2**64 - 1.
_UINT64 = 2**64


class NotRecomputable(ValueError):
    """A rule cannot be recomputed from this record: a tensor it needs was
    kept only as a summary (too large), or was not saved."""


@dataclass(frozen=True)
class Rule:
    """The backward rule of one autograd Node class.

    Attributes:
        label: the Node class name, e.g. ``"AddmmBackward0"``.
        forward: the forward op, e.g. ``"y = b + x·Wᵀ"``.
        words: one or two sentences saying what backward does.
        formulas: one line per gradient produced, in slot order, e.g.
            ``("∂L/∂b = Σ_batch ∂L/∂y", …)``.
        recompute: ``(NodeGradients) -> list of ∂L/∂input per slot``.
        inputs: for each input slot, the name of the saved tensor that *is*
            that input (``{1: "mat1"}``), where the op saved it: used to show
            the value of a node whose own output was not recorded.
    """

    label: str
    forward: str
    words: str
    formulas: tuple[str, ...]
    recompute: Callable[[NodeGradients], list[torch.Tensor | None]]
    inputs: dict[int, str] | None = None


RULES: dict[str, Rule] = {}


def rule(label: str, forward: str, words: str, *formulas: str, inputs: dict[int, str] | None = None):
    """Register the decorated recompute function as the rule of ``label``."""

    def register(recompute):
        RULES[label] = Rule(label, forward, words, tuple(formulas), recompute, inputs)
        return recompute

    return register


def alias(label: str, of: str) -> None:
    """``label`` computes exactly what ``of`` does."""
    original = RULES[of]
    RULES[label] = Rule(label, original.forward, original.words, original.formulas, original.recompute, original.inputs)


def rule_for(label: str) -> Rule | None:
    """The rule for a Node class name, or None (show :data:`NO_EXPLANATION`)."""
    return RULES.get(label)


def _whole(value, what: str) -> torch.Tensor:
    if isinstance(value, TensorSummary):
        raise NotRecomputable(f"{what} was kept only as a summary ({value.numel:,} elements); raise the whole-tensor limit")
    if isinstance(value, str) and value == HELD_BY_HOOK:
        raise NotRecomputable(f"{what} was not read: a saved-tensor hook (checkpointing or offloading) holds it, "
                              "and reading it during backward would run that hook a second time")
    if not isinstance(value, torch.Tensor):
        raise NotRecomputable(f"{what} was not recorded")
    return value


def grad(n: NodeGradients, i: int = 0) -> torch.Tensor:
    """The i-th received gradient ∂L/∂y."""
    if i >= len(n.received) or n.received[i] is None:
        raise NotRecomputable(f"no gradient was received for output {i}")
    return _whole(n.received[i], f"the received gradient {i}")


def passed(g: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """∂L/∂y where ``mask`` holds, 0 elsewhere, selected as autograd's kernels select it:
    ``g * mask`` gave 0 · ∞ = NaN where autograd gives 0 (an infinite gradient arriving
    at a ReLU behind a sqrt of zero)."""
    return torch.where(mask, g, g.new_zeros(()))


def saved(n: NodeGradients, name: str) -> torch.Tensor:
    """A saved tensor, whole."""
    return _whole(n.saved.get(name), f"the saved tensor {name!r}")


def signed(value: int) -> int:
    """A saved int64 as the signed number it was (autograd gives it back unsigned)."""
    return value - _UINT64 if value >= _UINT64 // 2 else value


def dims(value, ndim: int) -> list[int]:
    """Saved dimension(s) as a sorted list of non-negative dims."""
    values = value if isinstance(value, (tuple, list)) else (value,)
    return sorted(signed(int(d)) % ndim for d in values)


def sum_to(g: torch.Tensor | None, shape) -> torch.Tensor | None:
    """Sum a gradient back to the shape of a broadcast input: over the leading
    dims broadcasting added, and over dims where the input had size 1."""
    if g is None or shape is None or tuple(g.shape) == tuple(shape):
        return g
    shape = tuple(shape)
    lead = g.dim() - len(shape)
    g = g.sum(dim=tuple(range(lead))) if lead > 0 else g
    ones = tuple(d for d, size in enumerate(shape) if size == 1 and g.shape[d] != 1)
    return g.sum(dim=ones, keepdim=True) if ones else g.reshape(shape)


def _shape(n: NodeGradients, slot: int):
    return n.input_shapes[slot] if slot < len(n.input_shapes) else None


def input_dtype(n: NodeGradients, slot: int) -> torch.dtype:
    """The dtype of forward input ``slot``, which its gradient is converted back to."""
    dtype = n.input_dtypes[slot] if slot < len(n.input_dtypes) else None
    if dtype is None:
        raise NotRecomputable(f"the dtype of input {slot} was not recorded")
    return dtype


# autograd's name for an op's own output saved for backward (tanh, sigmoid, relu, exp, softmax…)
SAVED_OUTPUT = "result"


def saved_symbols(label: str) -> dict[str, str]:
    """The formula's symbol for each saved tensor of a Node class that is an input
    or the output of its op: ``{"mat1": "x", "mat2": "M"}`` for Addmm, ``{"self":
    "x", "target": "t"}`` for MseLoss, ``{"result": "y"}`` for Tanh. A learner
    reads the numbers against the formula; autograd's names (``_saved_self``) stay
    beside them."""
    found = rule_for(label)
    symbols = {SAVED_OUTPUT: "y"}
    if found is not None and found.inputs:
        names = slot_names(label)
        for slot, saved_name in found.inputs.items():
            if slot < len(names) and names[slot].isidentifier():
                symbols[saved_name] = names[slot]
    return symbols


def recompute(n: NodeGradients) -> list[torch.Tensor | None]:
    """∂L/∂input per slot, recomputed by ``n``'s rule (:class:`NotRecomputable` when it cannot be)."""
    found = rule_for(n.label)
    if found is None:
        raise NotRecomputable(NO_EXPLANATION)
    return found.recompute(n)


def slot_names(label: str) -> Sequence[str]:
    """Short names of the inputs of a Node class, from its formulas: ``["b", "x", "M"]`` for Addmm."""
    found = rule_for(label)
    if found is None:
        return ()
    names = []
    for formula in found.formulas:
        head = formula.split("=", 1)[0].strip()
        names.append(head.removeprefix("∂L/∂") if head.startswith("∂L/∂") else head)
    return names
