"""The chain rule at each autograd Node: what it computes, in words, as a formula, and in code.

Every backward Node does the same thing: it takes the gradient arriving from
above, ∂L/∂y (what it *received*), multiplies it by the local derivative of
its forward op, and passes ∂L/∂x down to each input (what it *produced*).
Each :class:`Rule` below states that for one Node class, and its
``recompute`` function does it again by hand, from nothing but the recorded
received gradient(s) and the tensors the op saved for backward
(:class:`gradviz.core.node_grads.NodeGradients`). The tests run every rule
against what autograd really produced, which keeps these explanations honest.

Reading guide: ``g`` is the received gradient ∂L/∂y, ``n.saved[...]`` what
the forward op saved, and the returned list holds ∂L/∂(input) per input slot,
in the order of the Node's ``next_functions``. When a forward input was
broadcast, autograd sums its gradient back to the input's shape
(:func:`sum_to`). A Node with several outputs (split, unbind, max with its
indices) receives one gradient per output, None where no gradient reached
that output. Saved dims and indices come back unsigned (:func:`signed`).

The rules cover what the app's presets and examples produce and what
torchvision, Hugging Face and torch.nn models do (cat, indexing, padding,
upsampling, group norm, RMSNorm by hand, rotary embeddings, the common
activations and losses, pooling and convolutions in 1 to 3 dims, LSTM/GRU
layers, nn.TransformerEncoderLayer). Where autograd does not record enough to
redo a Node by hand (a dtype conversion's source dtype, the slice an in-place
write changed, the sizes of cat's inputs that need no gradient), the rule
still explains the op and its recompute raises :class:`NotRecomputable` with
the reason instead of guessing.

No Qt here.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from gradviz.core.node_grads import NodeGradients, TensorSummary

__all__ = ["NO_EXPLANATION", "NotRecomputable", "RULES", "Rule", "recompute", "rule_for", "slot_names", "sum_to"]

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


# ---------------------------------------------------------------------------
# helpers: reading the record


def _whole(value, what: str) -> torch.Tensor:
    if isinstance(value, TensorSummary):
        raise NotRecomputable(f"{what} was kept only as a summary ({value.numel:,} elements); raise the whole-tensor limit")
    if not isinstance(value, torch.Tensor):
        raise NotRecomputable(f"{what} was not recorded")
    return value


def grad(n: NodeGradients, i: int = 0) -> torch.Tensor:
    """The i-th received gradient ∂L/∂y."""
    if i >= len(n.received) or n.received[i] is None:
        raise NotRecomputable(f"no gradient was received for output {i}")
    return _whole(n.received[i], f"the received gradient {i}")


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


# ---------------------------------------------------------------------------
# linear algebra


@rule("AddmmBackward0", "y = β·b + α·x·M   (nn.Linear: M = Wᵀ, y = b + x·Wᵀ)",
      "The bias gets the gradient summed over the batch; x gets it sent back through the weights; "
      "the weights get the outer product of the gradient with the input.",
      "∂L/∂b = Σ_batch ∂L/∂y", "∂L/∂x = ∂L/∂y · Mᵀ   (= ∂L/∂y · W)", "∂L/∂M = xᵀ · ∂L/∂y   (so ∂L/∂W = (∂L/∂y)ᵀ · x)",
      inputs={1: "mat1", 2: "mat2"})
def _addmm(n):
    g, alpha, beta = grad(n), n.saved["alpha"], n.saved["beta"]
    needs = [s is not None for s in n.input_shapes] + [True] * 3
    d_bias = sum_to(beta * g, _shape(n, 0)) if needs[0] else None
    d_x = alpha * g @ saved(n, "mat2").T if needs[1] else None
    d_m = alpha * saved(n, "mat1").T @ g if needs[2] else None
    return [d_bias, d_x, d_m]


@rule("MmBackward0", "y = A · B", "Each factor gets the gradient multiplied by the other factor, transposed.",
      "∂L/∂A = ∂L/∂y · Bᵀ", "∂L/∂B = Aᵀ · ∂L/∂y", inputs={0: "self", 1: "mat2"})
def _mm(n):
    g = grad(n)
    d_a = g @ saved(n, "mat2").T if _shape(n, 0) is not None else None
    d_b = saved(n, "self").T @ g if _shape(n, 1) is not None else None
    return [d_a, d_b]


@rule("BmmBackward0", "y[i] = A[i] · B[i]   (a batch of matrix products)", "Mm's rule, for each matrix of the batch.",
      "∂L/∂A[i] = ∂L/∂y[i] · B[i]ᵀ", "∂L/∂B[i] = A[i]ᵀ · ∂L/∂y[i]", inputs={0: "self", 1: "mat2"})
def _bmm(n):
    g = grad(n)
    d_a = g @ saved(n, "mat2").transpose(-1, -2) if _shape(n, 0) is not None else None
    d_b = saved(n, "self").transpose(-1, -2) @ g if _shape(n, 1) is not None else None
    return [d_a, d_b]


@rule("MvBackward0", "y = A · v   (a matrix times a vector)", "A gets the outer product of the gradient with v; "
      "v gets the gradient sent back through A.", "∂L/∂A = ∂L/∂y ⊗ v", "∂L/∂v = Aᵀ · ∂L/∂y", inputs={0: "self", 1: "vec"})
def _mv(n):
    g = grad(n)
    return [torch.outer(g, saved(n, "vec")), saved(n, "self").T @ g]


@rule("DotBackward0", "y = a · b = Σ aᵢ bᵢ", "Each vector gets the gradient times the other.",
      "∂L/∂a = ∂L/∂y · b", "∂L/∂b = ∂L/∂y · a", inputs={0: "self", 1: "tensor"})
def _dot(n):
    g = grad(n)
    return [g * saved(n, "tensor"), g * saved(n, "self")]


@rule("AddmvBackward0", "y = β·b + α·A·v", "b gets β times the gradient; A and v Mv's rule, times α.",
      "∂L/∂b = β · ∂L/∂y", "∂L/∂A = α · ∂L/∂y ⊗ v", "∂L/∂v = α · Aᵀ · ∂L/∂y", inputs={1: "mat", 2: "vec"})
def _addmv(n):
    g, s = grad(n), n.saved
    return [sum_to(s["beta"] * g, _shape(n, 0)), s["alpha"] * torch.outer(g, saved(n, "vec")), s["alpha"] * saved(n, "mat").T @ g]


@rule("BaddbmmBackward0", "y[i] = β·b[i] + α·A[i]·B[i]   (attention scores in some Hugging Face models)",
      "b gets β times the gradient; A and B Bmm's rule, times α.",
      "∂L/∂b = β · ∂L/∂y", "∂L/∂A[i] = α · ∂L/∂y[i] · B[i]ᵀ", "∂L/∂B[i] = α · A[i]ᵀ · ∂L/∂y[i]",
      inputs={1: "batch1", 2: "batch2"})
def _baddbmm(n):
    g, s = grad(n), n.saved
    a, b = saved(n, "batch1"), saved(n, "batch2")
    return [sum_to(s["beta"] * g, _shape(n, 0)), s["alpha"] * g @ b.transpose(-1, -2), s["alpha"] * a.transpose(-1, -2) @ g]


@rule("AddbmmBackward0", "y = β·b + α·Σᵢ A[i]·B[i]   (a batch of products, summed)",
      "b gets β times the gradient; every A[i] and B[i] gets Mm's rule with the same gradient, times α.",
      "∂L/∂b = β · ∂L/∂y", "∂L/∂A[i] = α · ∂L/∂y · B[i]ᵀ", "∂L/∂B[i] = α · A[i]ᵀ · ∂L/∂y", inputs={1: "batch1", 2: "batch2"})
def _addbmm(n):
    g, s = grad(n), n.saved
    a, b = saved(n, "batch1"), saved(n, "batch2")
    return [sum_to(s["beta"] * g, _shape(n, 0)), s["alpha"] * g @ b.transpose(-1, -2), s["alpha"] * a.transpose(-1, -2) @ g]


@rule("LinalgDetBackward0", "y = det(A)", "A determinant's slope with respect to A is det(A) · A⁻ᵀ (Jacobi's formula).",
      "∂L/∂A = ∂L/∂y · det(A) · A⁻ᵀ", inputs={0: "A"})
def _det(n):
    a, det = saved(n, "A"), saved(n, "result")
    return [(grad(n) * det)[..., None, None] * torch.linalg.inv(a).mT]


@rule("LinalgSlogdetBackward0", "sign, y = slogdet(A)   (y = ln |det A|: normalising flows)", "ln |det A|'s slope is A⁻ᵀ.",
      "∂L/∂A = ∂L/∂y · A⁻ᵀ", inputs={0: "A"})
def _slogdet(n):
    if len(n.received) < 2 or n.received[1] is None:
        raise NotRecomputable("no gradient was received for ln |det A|")
    return [grad(n, 1)[..., None, None] * torch.linalg.inv(saved(n, "A")).mT]


@rule("LinalgInvExBackward0", "Y = A⁻¹", "The inverse moves as −A⁻¹ · dA · A⁻¹: the gradient is sent through Y on both sides.",
      "∂L/∂A = −Yᵀ · ∂L/∂Y · Yᵀ")
def _inv(n):
    y = saved(n, "inverse")
    return [-y.mT @ grad(n) @ y.mT]


@rule("LinalgSolveExBackward0", "X = A⁻¹ B   (solve A X = B; left=False: X A = B)",
      "B's gradient is the gradient solved through Aᵀ; A's is minus that times Xᵀ.",
      "∂L/∂A = −∂L/∂B · Xᵀ", "∂L/∂B = A⁻ᵀ · ∂L/∂X", inputs={0: "A"})
def _solve(n):
    a, x, g = saved(n, "A"), saved(n, "result"), grad(n)
    vector = x.dim() == a.dim() - 1  # B a (batch of) vector(s)
    if vector:
        x, g = x[..., None], g[..., None]
    if n.saved["left"]:
        d_b = torch.linalg.solve(a.mT, g)
        d_a = -d_b @ x.mT
    else:
        d_b = torch.linalg.solve(a.mT, g, left=False)
        d_a = -x.mT @ d_b
    return [sum_to(d_a, _shape(n, 0)), sum_to(d_b.squeeze(-1) if vector else d_b, _shape(n, 1))]


@rule("LinalgSolveTriangularBackward0", "X = A⁻¹ B   (A triangular)",
      "As solve's rule, with A's gradient kept to A's triangle (and off its diagonal when that is fixed to 1).",
      "∂L/∂A = triangle(−∂L/∂B · Xᵀ)", "∂L/∂B = A⁻ᵀ · ∂L/∂X", inputs={0: "self"})
def _solve_triangular(n):
    s, a, x, g = n.saved, saved(n, "self"), saved(n, "result"), grad(n)
    d_b = torch.linalg.solve_triangular(a.mT, g, upper=not s["upper"], left=s["left"], unitriangular=s["unitriangular"])
    d_a = -d_b @ x.mT if s["left"] else -x.mT @ d_b
    d_a = d_a.triu(int(s["unitriangular"])) if s["upper"] else d_a.tril(-int(s["unitriangular"]))
    return [sum_to(d_a, _shape(n, 0)), sum_to(d_b, _shape(n, 1))]


@rule("LinalgCrossBackward0", "y = a × b   (the cross product along dim)", "Each vector gets the cross product of the other with "
      "the gradient.", "∂L/∂a = b × ∂L/∂y", "∂L/∂b = ∂L/∂y × a", inputs={0: "self", 1: "other"})
def _cross(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    dim = signed(int(n.saved["dim"]))
    return [sum_to(torch.linalg.cross(b.expand_as(g), g, dim=dim), _shape(n, 0)),
            sum_to(torch.linalg.cross(g, a.expand_as(g), dim=dim), _shape(n, 1))]


@rule("CdistBackward0", "y[i, j] = ‖x₁[i] − x₂[j]‖_p   (all pairwise distances)",
      "Each point is pulled along its difference to every other point, weighted by that pair's gradient.",
      "∂L/∂x₁[i] = Σⱼ ∂L/∂y[i, j] · sign(d) |d|^(p−1) / y[i, j]^(p−1),  d = x₁[i] − x₂[j]", "∂L/∂x₂[j] = −Σᵢ (the same)",
      inputs={0: "x1", 1: "x2"})
def _cdist(n):
    g, x1, x2, y, p = grad(n), saved(n, "x1"), saved(n, "x2"), saved(n, "result"), float(n.saved["p"])
    diff = x1[..., :, None, :] - x2[..., None, :, :]  # (…, P, R, M)
    gy, yy = g[..., None], y[..., None]
    if p == 0:
        pull = torch.zeros_like(diff)
    elif p == 1:
        pull = diff.sign() * gy
    elif math.isinf(p):
        pull = diff.sign() * (diff.abs() == yy) * gy
    else:
        pull = torch.where(yy == 0, 0.0, diff.sign() * diff.abs().pow(p - 1) / yy.pow(p - 1) * gy)
    return [sum_to(pull.sum(-2), _shape(n, 0)), sum_to(-pull.sum(-3), _shape(n, 1))]


# ---------------------------------------------------------------------------
# shape changes: the gradient moves back to where each value came from


@rule("TBackward0", "y = xᵀ", "Transposing is undone by transposing the gradient.", "∂L/∂x = (∂L/∂y)ᵀ")
def _t(n):
    return [grad(n).T]


@rule("ViewBackward0", "y = x.view(shape)   (also reshape, flatten)",
      "Same values, new shape: the gradient is reshaped back to x's shape.", "∂L/∂x = reshape(∂L/∂y, x.shape)")
def _view(n):
    return [grad(n).reshape(n.saved["self_sym_sizes"])]


alias("UnsafeViewBackward0", "ViewBackward0")
alias("ReshapeAliasBackward0", "ViewBackward0")


@rule("PermuteBackward0", "y = x.permute(dims)", "The gradient is permuted back with the inverse permutation.",
      "∂L/∂x = permute(∂L/∂y, dims⁻¹)")
def _permute(n):
    g = grad(n)
    order = [signed(int(d)) % g.dim() for d in n.saved["dims"]]
    inverse = [order.index(d) for d in range(len(order))]
    return [g.permute(inverse)]


@rule("TransposeBackward0", "y = x.transpose(d0, d1)", "Swapping two dims is undone by swapping them back.",
      "∂L/∂x = transpose(∂L/∂y, d0, d1)")
def _transpose(n):
    return [grad(n).transpose(signed(n.saved["dim0"]), signed(n.saved["dim1"]))]


@rule("ExpandBackward0", "y = x.expand(shape)   (one value used in many places)",
      "A value copied to many places gets the sum of their gradients.", "∂L/∂x = Σ over the copies ∂L/∂y")
def _expand(n):
    return [sum_to(grad(n), n.saved["self_sym_sizes"])]


@rule("RepeatBackward0", "y = x.repeat(r)   (x tiled rᵢ times along each dim)",
      "Each value of x appears once in every tile: it gets the sum of the gradients of its copies.",
      "∂L/∂x = Σ over the tiles ∂L/∂y")
def _repeat(n):
    g, repeats, size = grad(n), n.saved["repeats"], tuple(n.saved["self_sym_sizes"])
    size = (1,) * (len(repeats) - len(size)) + size  # repeat() first pads x's shape with leading 1s
    # (r₀, s₀, r₁, s₁, …): one tile index and one index within the tile per dim; sum the tile indices away
    tiles = g.reshape([d for pair in zip(repeats, size) for d in pair])
    return [tiles.sum(tuple(range(0, 2 * len(size), 2))).reshape(n.saved["self_sym_sizes"])]


@rule("CloneBackward0", "y = x.clone()", "A copy passes its gradient through unchanged.", "∂L/∂x = ∂L/∂y")
def _clone(n):
    return [grad(n)]


@rule("SliceBackward0", "y = x[..., start:end:step, ...]",
      "The sliced elements get their gradient back; the elements not taken get zero.",
      "∂L/∂x = ∂L/∂y at the taken positions, 0 elsewhere")
def _slice(n):
    g, s = grad(n), n.saved
    d_x = g.new_zeros(s["self_sym_sizes"])
    index = [slice(None)] * d_x.dim()
    index[signed(s["dim"]) % d_x.dim()] = slice(signed(s["start"]), signed(s["end"]), signed(s["step"]))
    d_x[tuple(index)] = g
    return [d_x]


@rule("SplitBackward0", "y₀, y₁, … = x.split(size, dim)",
      "The pieces' gradients are put back side by side (zero for a piece no gradient reached).",
      "∂L/∂x = cat(∂L/∂y₀, ∂L/∂y₁, …; dim)")
def _split(n):
    s = n.saved
    sizes = list(s["self_sym_sizes"])
    dim = signed(s["dim"]) % len(sizes)
    size = s["split_size"]
    pieces = []
    for i, start in enumerate(range(0, sizes[dim], size)):
        received = n.received[i] if i < len(n.received) else None
        if received is None:
            shape = sizes.copy()
            shape[dim] = min(size, sizes[dim] - start)
            pieces.append(torch.zeros(shape, dtype=_any_grad(n).dtype))
        else:
            pieces.append(_whole(received, f"the received gradient {i}"))
    return [torch.cat(pieces, dim)]


def _any_grad(n: NodeGradients) -> torch.Tensor:
    return next(_whole(g, "a received gradient") for g in n.received if g is not None)


@rule("SplitWithSizesBackward0", "y₀, y₁, … = x.split([s₀, s₁, …], dim)   (pieces of given sizes)",
      "The pieces' gradients are put back side by side (zero for a piece no gradient reached).",
      "∂L/∂x = cat(∂L/∂y₀, ∂L/∂y₁, …; dim)")
def _split_with_sizes(n):
    s = n.saved
    sizes = list(s["self_sym_sizes"])
    dim = signed(s["dim"]) % len(sizes)
    return [torch.cat([_received_or_zeros(n, i, sizes, dim, size) for i, size in enumerate(s["split_sizes"])], dim)]


def _received_or_zeros(n: NodeGradients, i: int, sizes: list[int], dim: int, size: int) -> torch.Tensor:
    """The i-th received gradient, or zeros of that output's shape (``sizes`` with ``size`` at ``dim``)."""
    received = n.received[i] if i < len(n.received) else None
    if received is not None:
        return _whole(received, f"the received gradient {i}")
    shape = list(sizes)
    shape[dim] = size
    return torch.zeros(shape, dtype=_any_grad(n).dtype)


@rule("CatBackward0", "y = cat(x₀, x₁, …; dim)   (inputs side by side)",
      "Each input gets back the part of the gradient where its values were placed.",
      "∂L/∂xᵢ = ∂L/∂y[the slice of xᵢ along dim]")
def _cat(n):
    g = grad(n)
    dim = signed(n.saved["dim"]) % g.dim()
    widths = [None if shape is None else shape[dim] for shape in n.input_shapes]
    unknown = [i for i, width in enumerate(widths) if width is None]
    if len(unknown) > 1 and any(w is not None for w in widths[unknown[0] + 1:]):
        # autograd saves only dim; an input that needs no gradient leaves no shape in the record
        raise NotRecomputable(f"{len(unknown)} inputs of cat need no gradient and their sizes were not saved, "
                              "so where the others' slices start is unknown")
    if len(unknown) == 1:
        widths[unknown[0]] = g.shape[dim] - sum(w for w in widths if w is not None)
    out, start = [], 0
    for width in widths:  # (autograd also sends a gradient to an input that needs none: it goes nowhere)
        out.append(None if width is None else g.narrow(dim, start, width))
        start += width or 0
    return out


@rule("StackBackward0", "y = stack(x₀, x₁, …; dim)   (inputs along a new dim)",
      "Each input gets its own layer of the gradient along the new dim.", "∂L/∂xᵢ = ∂L/∂y.select(dim, i)")
def _stack(n):
    g = grad(n)
    return list(g.unbind(signed(n.saved["dim"]) % g.dim()))


@rule("UnbindBackward0", "y₀, y₁, … = x.unbind(dim)   (x's slices along dim; also x[0], x[1] unpacked)",
      "The slices' gradients are stacked back along dim (zero for a slice no gradient reached).",
      "∂L/∂x = stack(∂L/∂y₀, ∂L/∂y₁, …; dim)")
def _unbind(n):
    like = _any_grad(n)
    pieces = [like.new_zeros(like.shape) if g is None else _whole(g, f"the received gradient {i}")
              for i, g in enumerate(n.received)]
    return [torch.stack(pieces, signed(n.saved["dim"]) % (like.dim() + 1))]


@rule("SelectBackward0", "y = x.select(dim, i)   (x[:, i]: one index, the dim disappears)",
      "The selected slice gets the gradient; everything else was not used and gets zero.",
      "∂L/∂x = ∂L/∂y at index i along dim, 0 elsewhere")
def _select(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    d_x.select(signed(s["dim"]) % d_x.dim(), signed(s["index"])).copy_(g)
    return [d_x]


@rule("UnsqueezeBackward0", "y = x.unsqueeze(dim)   (a new dim of size 1)", "Same values: the added dim is removed again.",
      "∂L/∂x = squeeze(∂L/∂y, dim)")
def _unsqueeze(n):
    g = grad(n)
    return [g.squeeze(signed(n.saved["dim"]) % g.dim())]


@rule("SqueezeBackward0", "y = x.squeeze()   (dims of size 1 removed)", "Same values: the size-1 dims are put back.",
      "∂L/∂x = reshape(∂L/∂y, x.shape)")
def _squeeze(n):
    return [grad(n).reshape(n.saved["self_sym_sizes"])]


alias("SqueezeBackward1", "SqueezeBackward0")  # squeeze(dim): the same, for one dim
alias("SqueezeBackward2", "SqueezeBackward0")  # squeeze((d0, d1)): the same, for several


@rule("IndexBackward0", "y = x[idx]   (indexing with integer tensors or a boolean mask)",
      "Each picked element gets its gradient back, added up when it was picked several times; the rest get zero.",
      "∂L/∂x[idx] += ∂L/∂y   (0 where not picked)")
def _index(n):
    g = grad(n)
    indices = tuple(None if i is None else _whole(i, "the saved index") for i in n.saved["indices"])
    # aten's index_put takes None for a dim taken whole (x[:, idx]); Tensor.index_put_ does not
    return [torch.ops.aten.index_put(g.new_zeros(n.saved["self_sym_sizes"]), list(indices), g, True)]


@rule("IndexSelectBackward0", "y = x.index_select(dim, idx)", "Each picked slice gets its gradient back, added up for "
      "slices picked several times; the rest get zero.", "∂L/∂x[idx along dim] += ∂L/∂y")
def _index_select(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    return [d_x.index_add_(signed(s["dim"]) % d_x.dim(), saved(n, "index"), g)]


@rule("GatherBackward0", "y[i][j] = x[i][idx[i][j]]   (gather along dim)",
      "Each element gets the gradients of every output that gathered it, added up.",
      "∂L/∂x = scatter_add(0, dim, idx, ∂L/∂y)", inputs={0: "self"})
def _gather(n):
    x = saved(n, "self")
    return [torch.zeros_like(x).scatter_add_(signed(n.saved["dim"]) % x.dim(), saved(n, "index"), grad(n))]


@rule("ConstantPadNdBackward0", "y = x with a border of a constant (F.pad)",
      "The border depends on no input: its gradient is dropped and x gets the inner part.",
      "∂L/∂x = ∂L/∂y with the padded border cut off")
def _constant_pad(n):
    # pad lists (left, right) per dim from the last dim back; padding by −pad cuts that border off again
    # (and a negative pad, a crop, comes back as zeros)
    return [F.pad(grad(n), [-signed(int(p)) for p in n.saved["pad"]])]


@rule("FlipBackward0", "y = x.flip(dims)", "Flipping is undone by flipping the gradient back.", "∂L/∂x = flip(∂L/∂y, dims)")
def _flip(n):
    return [grad(n).flip([signed(int(d)) for d in n.saved["dims"]])]


@rule("RollBackward0", "y = x.roll(shifts, dims)", "Rolling is undone by rolling the gradient back by −shifts.",
      "∂L/∂x = roll(∂L/∂y, −shifts, dims)")
def _roll(n):
    return [grad(n).roll([-signed(int(s)) for s in n.saved["shifts"]], [signed(int(d)) for d in n.saved["dims"]])]


@rule("CumsumBackward0", "yᵢ = Σ_(j ≤ i) xⱼ   (cumulative sum along dim)",
      "xⱼ is in every later partial sum: it gets the sum of their gradients (a cumulative sum from the end).",
      "∂L/∂xⱼ = Σ_(i ≥ j) ∂L/∂yᵢ")
def _cumsum(n):
    g = grad(n)
    dim = signed(n.saved["dim"]) % g.dim()
    return [g.flip(dim).cumsum(dim).flip(dim)]


@rule("TrilBackward0", "y = tril(x, k)   (x below the k-th diagonal, zeros above: causal masks)",
      "The zeroed triangle no longer depends on x: the gradient keeps only the kept triangle.", "∂L/∂x = tril(∂L/∂y, k)")
def _tril(n):
    return [grad(n).tril(signed(int(n.saved["diagonal"])))]


@rule("TriuBackward0", "y = triu(x, k)   (x above the k-th diagonal, zeros below)",
      "The zeroed triangle no longer depends on x: the gradient keeps only the kept triangle.", "∂L/∂x = triu(∂L/∂y, k)")
def _triu(n):
    return [grad(n).triu(signed(int(n.saved["diagonal"])))]


@rule("DiagonalBackward0", "y = x.diagonal(offset, d1, d2)",
      "The diagonal gets its gradient back; everything off it gets zero.", "∂L/∂x = ∂L/∂y on the diagonal, 0 elsewhere")
def _diagonal(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    d_x.diagonal(signed(int(s["offset"])), signed(int(s["dim1"])), signed(int(s["dim2"]))).copy_(g)
    return [d_x]


@rule("MaskedSelectBackward0", "y = x[mask]   (masked_select: the selected values, flattened)",
      "The selected elements get their gradient back, in order; the rest get zero.",
      "∂L/∂x = ∂L/∂y at the masked positions, 0 elsewhere", inputs={0: "self"})
def _masked_select(n):
    g, x, mask = grad(n), saved(n, "self"), saved(n, "mask")
    shape = torch.broadcast_shapes(x.shape, mask.shape)
    return [sum_to(g.new_zeros(shape).masked_scatter(mask.expand(shape), g), x.shape)]


@rule("IndexPutBackward0", "y = x with y[idx] = v   (index_put; accumulate: y[idx] += v)",
      "x gets the gradient except where v overwrote it; v gets the gradient at the positions it was written to.",
      "∂L/∂x = ∂L/∂y with the written positions zeroed (kept when accumulating)", "∂L/∂v = ∂L/∂y[idx]")
def _index_put(n):
    g = grad(n)
    indices = [None if i is None else _whole(i, "the saved index") for i in n.saved["indices"]]
    taken = torch.ops.aten.index(g, indices)
    d_x = g if n.saved["accumulate"] else torch.ops.aten.index_put(g, indices, g.new_zeros(()))
    return [d_x, sum_to(taken, _shape(n, 1))]


@rule("ScatterAddBackward0", "y = x, then y[idx[i][j]][j] += src[i][j]   (scatter_add along dim)",
      "x passes the gradient through; each src element gets the gradient of the place it was added to.",
      "∂L/∂x = ∂L/∂y", "∂L/∂src = gather(∂L/∂y, dim, idx)")
def _scatter_add(n):
    g = grad(n)
    return [g, g.gather(signed(n.saved["dim"]) % g.dim(), saved(n, "index"))]


@rule("ScatterBackward0", "y = x, then y[idx[i][j]][j] = src[i][j]   (scatter along dim)",
      "Overwritten places no longer depend on x; each src element gets the gradient of the place it was written to.",
      "∂L/∂x = ∂L/∂y with the written places zeroed", "∂L/∂src = gather(∂L/∂y, dim, idx)")
def _scatter(n):
    g = grad(n)
    dim, index = signed(n.saved["dim"]) % g.dim(), saved(n, "index")
    return [g.scatter(dim, index, 0.0), g.gather(dim, index)]


@rule("IndexAddBackward0", "y = x, then y[idx along dim] += α · src   (index_add)",
      "x passes the gradient through; each slice of src gets α times the gradient of the slice it was added to.",
      "∂L/∂x = ∂L/∂y", "∂L/∂src = α · ∂L/∂y[idx along dim]")
def _index_add(n):
    g, s = grad(n), n.saved
    d_source = s["alpha"] * g.index_select(signed(s["dim"]) % g.dim(), saved(n, "index"))
    return [g, d_source.reshape(_shape(n, 1)) if _shape(n, 1) is not None else None]


def _pad_sources(kind: str, out_size: int, in_size: int, left: int):
    """Which input index each padded output index copies: reflected at the edges, or the edge repeated."""
    def sources(o):
        j = o - left
        if kind == "reflect":
            j = -j if j < 0 else (2 * (in_size - 1) - j if j >= in_size else j)
        else:
            j = min(max(j, 0), in_size - 1)
        return [(j, 1.0)]
    return sources


def _pad_back(n: NodeGradients, kind: str) -> list[torch.Tensor]:
    g, x = grad(n), saved(n, "self")
    padding = [signed(int(p)) for p in n.saved["padding"]]  # (left, right[, top, bottom])
    cols = _resample_matrix(g.shape[-1], x.shape[-1], _pad_sources(kind, g.shape[-1], x.shape[-1], padding[0]), g.dtype)
    if len(padding) == 2:
        return [g @ cols]
    rows = _resample_matrix(g.shape[-2], x.shape[-2], _pad_sources(kind, g.shape[-2], x.shape[-2], padding[2]), g.dtype)
    return [_separable_back(g, rows, cols)]


@rule("ReflectionPad2DBackward0", "y = x padded by reflecting it at its edges   (F.pad mode='reflect': pix2pix, CycleGAN)",
      "Each input pixel gets its own gradient plus those of the border pixels that mirror it.",
      "∂L/∂x[p] = Σ over p and its mirror images ∂L/∂y")
def _reflection_pad(n):
    return _pad_back(n, "reflect")


alias("ReflectionPad1DBackward0", "ReflectionPad2DBackward0")


@rule("ReplicationPad2DBackward0", "y = x padded by repeating its edge values   (F.pad mode='replicate')",
      "Each edge pixel gets its own gradient plus those of the border pixels that copy it.",
      "∂L/∂x[p] = Σ over p and its copies ∂L/∂y")
def _replication_pad(n):
    return _pad_back(n, "replicate")


alias("ReplicationPad1DBackward0", "ReplicationPad2DBackward0")


@rule("PixelShuffleBackward0", "y = pixel_shuffle(x, r)   (channels C·r² → an r× larger image: super-resolution)",
      "Only moves values: the gradient is moved back by the inverse shuffle.", "∂L/∂x = pixel_unshuffle(∂L/∂y, r)")
def _pixel_shuffle(n):
    return [F.pixel_unshuffle(grad(n), n.saved["upscale_factor"])]


@rule("PixelUnshuffleBackward0", "y = pixel_unshuffle(x, r)   (an image → r² times the channels at 1/r size)",
      "Only moves values: the gradient is moved back by the inverse shuffle.", "∂L/∂x = pixel_shuffle(∂L/∂y, r)")
def _pixel_unshuffle(n):
    return [F.pixel_shuffle(grad(n), n.saved["downscale_factor"])]


@rule("ChannelShuffleBackward0", "y = channel_shuffle(x, g)   (ShuffleNet: channels regrouped)",
      "Only moves channels: the gradient's channels are moved back.", "∂L/∂x = the inverse channel shuffle of ∂L/∂y")
def _channel_shuffle(n):
    g, groups = grad(n), n.saved["groups"]
    return [g.unflatten(1, (g.shape[1] // groups, groups)).transpose(1, 2).flatten(1, 2)]


@rule("Im2ColBackward0", "y = unfold(x)   (every k×k patch of x as a column)",
      "An input pixel is in several patches: it gets the sum of the gradients of all its copies (fold).",
      "∂L/∂x = fold(∂L/∂y)")
def _im2col(n):
    s = n.saved
    size = (s["self_sym_argsize_minus_2"], s["self_sym_argsize_minus_1"])
    return [F.fold(grad(n), size, s["kernel_size"], dilation=s["dilation"], padding=s["padding"], stride=s["stride"])]


@rule("Col2ImBackward0", "y = fold(x)   (columns summed back into an image: overlapping patches add)",
      "Each column entry was added into one pixel: it gets that pixel's gradient (unfold).", "∂L/∂x = unfold(∂L/∂y)")
def _col2im(n):
    s = n.saved
    return [F.unfold(grad(n), s["kernel_size"], dilation=s["dilation"], padding=s["padding"], stride=s["stride"])]


@rule("ToCopyBackward0", "y = x.to(dtype or device)   (.float(), .half(), mixed precision)",
      "Same values in another dtype/device: the gradient is converted back to x's.", "∂L/∂x = ∂L/∂y converted to x's dtype")
def _to_copy(n):
    raise NotRecomputable("autograd keeps no record of x's dtype and device for .to(): the converted-back gradient "
                          "is the recorded ∂L/∂x")


alias("TransposeBackward1", "TransposeBackward0")  # transpose_ in place (GRU/RNN layers use it)
alias("TBackward1", "TBackward0")  # t_ in place
alias("SqueezeBackward4", "SqueezeBackward0")  # squeeze_(dim) in place
alias("UnsqueezeBackward1", "UnsqueezeBackward0")  # unsqueeze_ in place
alias("UnsafeSplitBackward0", "SplitBackward0")  # GRU layers split their gates with it


@rule("NarrowCopyBackward0", "y = a copy of x.narrow(dim, start, length)",
      "The copied elements get their gradient back; the elements not taken get zero.",
      "∂L/∂x = ∂L/∂y at the taken positions, 0 elsewhere")
def _narrow_copy(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    d_x.narrow(signed(s["dim"]) % d_x.dim(), signed(s["start"]), s["length"]).copy_(g)
    return [d_x]


@rule("UnfoldBackward0", "y = x.unfold(dim, size, step)   (sliding windows along dim, as a new last dim)",
      "An element in several windows gets the sum of the gradients of all its copies.",
      "∂L/∂x[p] = Σ over the windows containing p ∂L/∂y")
def _tensor_unfold(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    dim = signed(s["dimension"]) % max(d_x.dim(), 1)
    size, step = s["size"], s["step"]
    for i in range(g.shape[dim]):  # window i covers [i·step, i·step + size) along dim; its elements are y's last dim
        d_x.narrow(dim, i * step, size).add_(g.select(dim, i).movedim(-1, dim))
    return [d_x]


@rule("TraceBackward0", "y = Σᵢ x[i, i]   (the trace)", "Only the diagonal is summed: it gets the gradient, the rest zero.",
      "∂L/∂x = ∂L/∂y on the diagonal, 0 elsewhere")
def _trace(n):
    g = grad(n)
    d_x = g.new_zeros(n.saved["self_sym_sizes"])
    d_x.diagonal().fill_(g.item())
    return [d_x]


@rule("DiagEmbedBackward0", "y = diag_embed(x)   (x's last dim put on a diagonal; also torch.diag of a vector)",
      "Only the diagonal holds x: x gets the gradient's diagonal.", "∂L/∂x = diagonal(∂L/∂y)")
def _diag_embed(n):
    s, g = n.saved, grad(n)
    return [g.diagonal(signed(int(s["offset"])), signed(int(s["dim1"])), signed(int(s["dim2"])))]


@rule("Rot90Backward0", "y = rot90(x, k, dims)", "Rotating is undone by rotating the gradient back by −k.",
      "∂L/∂x = rot90(∂L/∂y, −k, dims)")
def _rot90(n):
    return [grad(n).rot90(-n.saved["k"], [signed(int(d)) for d in n.saved["dims"]])]


@rule("TakeBackward0", "y = x.take(idx)   (elements of the flattened x)",
      "Each taken element gets its gradient back, added up when taken several times; the rest get zero.",
      "∂L/∂x.flat[idx] += ∂L/∂y", inputs={0: "self"})
def _take(n):
    x = saved(n, "self")
    return [torch.zeros_like(x).put_(saved(n, "index"), grad(n), accumulate=True)]


@rule("IndexFillBackward0", "y = x with the slices idx along dim filled with a constant",
      "Filled slices no longer depend on x: they get zero gradient.", "∂L/∂x = ∂L/∂y, 0 in the filled slices")
def _index_fill(n):
    g = grad(n)
    return [g.index_fill(signed(n.saved["dim"]) % g.dim(), saved(n, "index"), 0.0)]


@rule("MaskedScatterBackward0", "y = x with its masked places filled, in order, by the first values of src",
      "Filled places no longer depend on x; each src value used gets the gradient of the place it filled.",
      "∂L/∂x = ∂L/∂y where not mask, 0 where mask", "∂L/∂src[:k] = ∂L/∂y[mask]   (0 for src values not used)")
def _masked_scatter(n):
    g, mask = grad(n), saved(n, "mask")
    mask = mask.expand(g.shape)
    used = g[mask]
    size = n.saved["source_sym_sizes"]
    d_source = torch.cat([used, used.new_zeros(math.prod(size) - used.numel())]).reshape(size)
    return [sum_to(g.masked_fill(mask, 0), _shape(n, 0)), d_source]


@rule("ZeroBackward0", "y = x.zero_()   (every value overwritten with 0)",
      "The result no longer depends on x: the gradient stops here.", "∂L/∂x = 0")
def _zero(n):
    return [torch.zeros_like(grad(n))]


rule("FillBackward2", "y = x.fill_(c)   (every value overwritten with a number)",
     "The result no longer depends on x: the gradient stops here.", "∂L/∂x = 0")(_zero)


@rule("IndexCopyBackward0", "y = x with the slices idx along dim replaced by src's   (index_copy)",
      "Replaced slices no longer depend on x: they get zero; src's slices get the gradient of where they went.",
      "∂L/∂x = ∂L/∂y, 0 in the replaced slices", "∂L/∂src = ∂L/∂y[idx along dim]")
def _index_copy(n):
    g, index = grad(n), saved(n, "index")
    dim = signed(n.saved["dim"]) % max(g.dim(), 1)
    return [g.index_fill(dim, index, 0.0), g.index_select(dim, index)]


@rule("ScatterBackward1", "y = x with y[idx[i][j]][j] = c   (scatter of a number)",
      "Overwritten places no longer depend on x: they get zero gradient.", "∂L/∂x = ∂L/∂y with the written places zeroed")
def _scatter_value(n):
    g = grad(n)
    return [g.scatter(signed(n.saved["dim"]) % g.dim(), saved(n, "index"), 0.0)]


@rule("ScatterReduceBackward0", "y = x, then src[i][j] reduced into y[idx[i][j]][j] by sum, mean, amax or amin   "
      "(graph neural networks' message passing)",
      "sum: every contributor gets the place's gradient; mean: divided by the number averaged; amax/amin: the "
      "contributors equal to the result share it.",
      "∂L/∂x = ∂L/∂y · (its share of the place)", "∂L/∂src = gather(∂L/∂y · share, dim, idx)")
def _scatter_reduce(n):
    s, g = n.saved, grad(n)
    x, src, index, reduce = saved(n, "self"), saved(n, "src"), saved(n, "index"), s["reduce"]
    dim = signed(s["dim"]) % max(g.dim(), 1)
    written = torch.zeros_like(g, dtype=torch.bool).scatter(dim, index, True)
    if reduce == "sum":
        d_x, d_src = g, g.gather(dim, index)
    elif reduce == "mean":
        count = (torch.ones_like(g) if s["include_self"] else torch.zeros_like(g)).scatter_add(dim, index, torch.ones_like(src))
        share = g / count.masked_fill(count == 0, 1)
        d_x, d_src = share, share.gather(dim, index)
    elif reduce in ("amax", "amin"):
        y = saved(n, "result")
        x_won, src_won = (x == y).to(g.dtype), (src == y.gather(dim, index)).to(g.dtype)
        # autograd counts x's equal value as a tie even with include_self=False (then x's share is dropped below)
        winners = x_won.scatter_add(dim, index, src_won)
        share = g / winners.masked_fill(winners == 0, 1)
        d_x, d_src = share * x_won, share.gather(dim, index) * src_won
    else:
        raise NotRecomputable(f"scatter_reduce with {reduce!r} is not recomputed yet")
    if not s["include_self"]:  # x's values at the written places were not part of the reduction
        d_x = d_x.masked_fill(written, 0)
    return [d_x, d_src]


@rule("PutBackward0", "y = x with y.flat[idx] = src   (put; accumulate: +=)",
      "Overwritten places get zero (kept when accumulating); each src value gets the gradient of its place.",
      "∂L/∂x = ∂L/∂y, 0 at idx unless accumulating", "∂L/∂src = ∂L/∂y.flat[idx]")
def _put(n):
    g, index = grad(n), saved(n, "index")
    d_x = g if n.saved["accumulate"] else g.put(index, torch.zeros(index.shape, dtype=g.dtype))
    return [d_x, g.take(index)]


@rule("SelectScatterBackward0", "y = x with y.select(dim, i) = src", "The replaced slice's gradient goes to src; x gets the rest.",
      "∂L/∂x = ∂L/∂y, 0 in the slice", "∂L/∂src = ∂L/∂y.select(dim, i)")
def _select_scatter(n):
    g, s = grad(n), n.saved
    dim, index = signed(s["dim"]) % g.dim(), signed(s["index"])
    return [torch.select_scatter(g, torch.zeros_like(g.select(dim, index)), dim, index), g.select(dim, index)]


@rule("SliceScatterBackward0", "y = x with y[..., start:end:step, ...] = src",
      "The replaced slice's gradient goes to src; x gets the rest.", "∂L/∂x = ∂L/∂y, 0 in the slice",
      "∂L/∂src = ∂L/∂y[start:end:step along dim]")
def _slice_scatter(n):
    g, s = grad(n), n.saved
    dim = signed(s["dim"]) % g.dim()
    start = None if s["start"] is None else signed(s["start"])
    end = None if s["end"] is None else signed(s["end"])
    index = [slice(None)] * g.dim()
    index[dim] = slice(start, end, signed(s["step"]))
    d_x = g.clone()
    d_x[tuple(index)] = 0
    return [d_x, g[tuple(index)]]


@rule("DiagonalScatterBackward0", "y = x with its diagonal replaced by src",
      "The diagonal's gradient goes to src; x gets the rest.", "∂L/∂x = ∂L/∂y, 0 on the diagonal", "∂L/∂src = diagonal(∂L/∂y)")
def _diagonal_scatter(n):
    g, s = grad(n), n.saved
    args = signed(int(s["offset"])), signed(int(s["dim1"])), signed(int(s["dim2"]))
    d_x = g.clone()
    d_x.diagonal(*args).zero_()
    return [d_x, g.diagonal(*args)]


@rule("LerpBackward1", "y = a + w · (b − a)   (w a tensor)",
      "a and b get the gradient in shares (1 − w) and w; the weight gets it times b − a.",
      "∂L/∂a = (1 − w) · ∂L/∂y", "∂L/∂b = w · ∂L/∂y", "∂L/∂w = (b − a) · ∂L/∂y", inputs={0: "self", 1: "end", 2: "weight"})
def _lerp_tensor(n):
    g, a, b, w = grad(n), saved(n, "self"), saved(n, "end"), saved(n, "weight")
    return [sum_to((1 - w) * g, _shape(n, 0)), sum_to(w * g, _shape(n, 1)), sum_to((b - a) * g, _shape(n, 2))]


@rule("VdotBackward0", "y = a · b = Σ aᵢ bᵢ   (vdot: spectral norm's power iteration)", "Each vector gets the gradient times the other.",
      "∂L/∂a = ∂L/∂y · b", "∂L/∂b = ∂L/∂y · a")
def _vdot(n):
    g = grad(n)
    d_a = g * saved(n, "other") if _shape(n, 0) is not None else None
    d_b = g * saved(n, "self") if _shape(n, 1) is not None else None
    return [d_a, d_b]


@rule("WeightNormInterfaceBackward0", "W = g · v / ‖v‖   (weight_norm: a direction v and a length g per output)",
      "The length g gets the gradient's component along v's direction; v gets the rest, the part that turns it, "
      "scaled by g/‖v‖.",
      "∂L/∂v = g/‖v‖ · (∂L/∂W − v̂ · ⟨∂L/∂W, v̂⟩)", "∂L/∂g = ⟨∂L/∂W, v⟩ / ‖v‖", inputs={0: "v", 1: "g"})
def _weight_norm(n):
    grad_w, v, length, norm = grad(n), saved(n, "v"), saved(n, "g"), saved(n, "result1")
    dim = signed(int(n.saved["dim"])) % v.dim()
    over = tuple(d for d in range(v.dim()) if d != dim)  # the norm is over every dim but dim
    d_g = (grad_w * v).sum(over, keepdim=True) / norm
    d_v = length / norm * (grad_w - v * d_g / norm)
    return [d_v, d_g.reshape(length.shape)]


# ---------------------------------------------------------------------------
# element-wise arithmetic


@rule("AddBackward0", "y = a + α·b", "Addition passes the gradient to both inputs (b's scaled by α), "
      "summed back over any broadcast dims.", "∂L/∂a = ∂L/∂y", "∂L/∂b = α · ∂L/∂y")
def _add(n):
    g = grad(n)
    return [sum_to(g, _shape(n, 0)), sum_to(n.saved["alpha"] * g, _shape(n, 1))]



@rule("SubBackward0", "y = a − α·b", "The first input gets the gradient, the second its negative (times α).",
      "∂L/∂a = ∂L/∂y", "∂L/∂b = −α · ∂L/∂y")
def _sub(n):
    g = grad(n)
    return [sum_to(g, _shape(n, 0)), sum_to(-n.saved["alpha"] * g, _shape(n, 1))]



@rule("RsubBackward1", "y = c − α·a   (c a number)", "The input gets the negative gradient (times α).",
      "∂L/∂a = −α · ∂L/∂y")
def _rsub(n):
    return [-n.saved["alpha"] * grad(n)]


@rule("MulBackward0", "y = a · b   (element-wise; dropout is x · mask/(1−p))",
      "Each factor gets the gradient times the other factor.", "∂L/∂a = ∂L/∂y · b", "∂L/∂b = ∂L/∂y · a",
      inputs={0: "self", 1: "other"})
def _mul(n):
    g = grad(n)
    d_a = sum_to(g * _operand(n, "other"), _shape(n, 0)) if _shape(n, 0) is not None else None
    d_b = sum_to(g * _operand(n, "self"), _shape(n, 1)) if _shape(n, 1) is not None else None
    return [d_a, d_b]


def _operand(n: NodeGradients, name: str):
    value = n.saved.get(name)
    return value if isinstance(value, (int, float)) else saved(n, name)



@rule("DivBackward0", "y = a / b", "The numerator gets the gradient divided by b; the denominator gets −a/b² times it.",
      "∂L/∂a = ∂L/∂y / b", "∂L/∂b = −∂L/∂y · a / b²", inputs={0: "self", 1: "other"})
def _div(n):
    g = grad(n)
    b = _operand(n, "other")
    d_a = sum_to(g / b, _shape(n, 0)) if _shape(n, 0) is not None else None
    d_b = sum_to(-g * _operand(n, "self") / (b * b), _shape(n, 1)) if _shape(n, 1) is not None else None
    return [d_a, d_b]



@rule("NegBackward0", "y = −x", "Negation flips the gradient's sign.", "∂L/∂x = −∂L/∂y")
def _neg(n):
    return [-grad(n)]


@rule("AbsBackward0", "y = |x|", "The gradient keeps its sign where x > 0 and flips it where x < 0 (0 at 0).",
      "∂L/∂x = ∂L/∂y · sign(x)", inputs={0: "self"})
def _abs(n):
    return [grad(n) * saved(n, "self").sgn()]


@rule("MaskedFillBackward0", "y = x with masked positions set to a constant",
      "Overwritten positions no longer depend on x: they get zero gradient.", "∂L/∂x = ∂L/∂y where not mask, 0 where mask")
def _masked_fill(n):
    # a tensor fill value (a second slot) would get the sum of the masked positions' gradients
    g, mask = grad(n), saved(n, "mask")
    return [g.masked_fill(mask, 0)] + [sum_to(g * mask, _shape(n, 1))] * (len(n.input_shapes) - 1)


@rule("WhereBackward0", "y = where(c, a, b)   (a where the condition holds, else b)",
      "Each position's gradient goes to the input that was picked there; the other gets zero.",
      "∂L/∂a = ∂L/∂y where c, 0 elsewhere", "∂L/∂b = ∂L/∂y where not c, 0 elsewhere")
def _where(n):
    g, condition = grad(n), saved(n, "condition")
    zero = g.new_zeros(())
    return [sum_to(torch.where(condition, g, zero), _shape(n, 0)), sum_to(torch.where(condition, zero, g), _shape(n, 1))]


def _pick_larger(g: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The gradient where a won (a > b), half of it where they tied."""
    return torch.where(a == b, g / 2, g).masked_fill(a < b, 0)


@rule("MaximumBackward0", "y = maximum(a, b)   (element-wise)",
      "Each position's gradient goes to the larger input; a tie splits it in half.",
      "∂L/∂a = ∂L/∂y where a > b (½ where a = b)", "∂L/∂b = ∂L/∂y where b > a (½ where a = b)",
      inputs={0: "self", 1: "other"})
def _maximum(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    return [sum_to(_pick_larger(g, a, b), _shape(n, 0)), sum_to(_pick_larger(g, b, a), _shape(n, 1))]


@rule("MinimumBackward0", "y = minimum(a, b)   (element-wise)",
      "Each position's gradient goes to the smaller input; a tie splits it in half.",
      "∂L/∂a = ∂L/∂y where a < b (½ where a = b)", "∂L/∂b = ∂L/∂y where b < a (½ where a = b)",
      inputs={0: "self", 1: "other"})
def _minimum(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    return [sum_to(_pick_larger(g, b, a), _shape(n, 0)), sum_to(_pick_larger(g, a, b), _shape(n, 1))]


@rule("PowBackward0", "y = xᵖ   (p a number; x.pow(2), x ** 0.5, square())", "The power rule: the slope is p · xᵖ⁻¹.",
      "∂L/∂x = ∂L/∂y · p · xᵖ⁻¹", inputs={0: "self"})
def _pow(n):
    g, x, p = grad(n), saved(n, "self"), n.saved["exponent"]
    return [torch.zeros_like(x) if p == 0 else g * p * x.pow(p - 1)]


def _pow_exponent_slope(base, exponent: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """∂(aᵇ)/∂b = aᵇ · ln a, taken as 0 where a = 0 and b ≥ 0 (where 0ᵇ is flat, autograd's convention)."""
    log = base.log() if isinstance(base, torch.Tensor) else torch.full_like(result, math.log(base) if base > 0 else math.nan)
    return torch.where((torch.as_tensor(base) == 0) & (exponent >= 0), 0.0, result * log)


@rule("PowBackward1", "y = aᵇ   (both tensors, element-wise)",
      "The base gets the power rule b · aᵇ⁻¹; the exponent gets aᵇ · ln a.",
      "∂L/∂a = ∂L/∂y · b · aᵇ⁻¹", "∂L/∂b = ∂L/∂y · aᵇ · ln a", inputs={0: "self", 1: "exponent"})
def _pow_tensor(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "exponent")
    d_a = torch.where(b == 0, 0.0, g * b * a.pow(b - 1))
    d_b = g * _pow_exponent_slope(a, b, saved(n, "result"))
    return [sum_to(d_a, _shape(n, 0)), sum_to(d_b, _shape(n, 1))]


@rule("PowBackward2", "y = cᵇ   (c a number, b a tensor)", "The exponent's slope is cᵇ · ln c.",
      "∂L/∂b = ∂L/∂y · cᵇ · ln c")
def _pow_number_base(n):
    return [grad(n) * _pow_exponent_slope(n.saved["self"], saved(n, "exponent"), saved(n, "result"))]


@rule("ExpBackward0", "y = eˣ", "eˣ is its own slope: the gradient times the output.", "∂L/∂x = ∂L/∂y · y")
def _exp(n):
    return [grad(n) * saved(n, "result")]


@rule("LogBackward0", "y = ln x", "ln's slope is 1/x.", "∂L/∂x = ∂L/∂y / x", inputs={0: "self"})
def _log(n):
    return [grad(n) / saved(n, "self")]


@rule("Log1PBackward0", "y = ln(1 + x)", "Its slope is 1/(1 + x).", "∂L/∂x = ∂L/∂y / (1 + x)", inputs={0: "self"})
def _log1p(n):
    return [grad(n) / (1 + saved(n, "self"))]


@rule("SqrtBackward0", "y = √x", "√x's slope is 1/(2√x) = 1/(2y).", "∂L/∂x = ∂L/∂y / (2y)")
def _sqrt(n):
    return [grad(n) / (2 * saved(n, "result"))]


@rule("RsqrtBackward0", "y = 1/√x   (RMSNorm: x · rsqrt(mean(x²) + ε))", "1/√x's slope is −½ · x^(−3/2) = −½ · y³.",
      "∂L/∂x = −½ · ∂L/∂y · y³")
def _rsqrt(n):
    return [-0.5 * grad(n) * saved(n, "result").pow(3)]


@rule("ReciprocalBackward0", "y = 1/x", "1/x's slope is −1/x² = −y².", "∂L/∂x = −∂L/∂y · y²")
def _reciprocal(n):
    y = saved(n, "result")
    return [-grad(n) * y * y]


@rule("SinBackward0", "y = sin x   (rotary embeddings)", "sin's slope is cos x.", "∂L/∂x = ∂L/∂y · cos x", inputs={0: "self"})
def _sin(n):
    return [grad(n) * saved(n, "self").cos()]


@rule("CosBackward0", "y = cos x   (rotary embeddings)", "cos's slope is −sin x.", "∂L/∂x = −∂L/∂y · sin x", inputs={0: "self"})
def _cos(n):
    return [-grad(n) * saved(n, "self").sin()]


def _between(x: torch.Tensor, low, high) -> torch.Tensor:
    """Where low ≤ x ≤ high (a bound of None is no bound)."""
    inside = torch.ones_like(x, dtype=torch.bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return inside


@rule("ClampBackward1", "y = clamp(x, min, max)   (min, max numbers)",
      "Where x was clipped to a bound the output no longer moves with x: zero; inside the bounds the gradient passes.",
      "∂L/∂x = ∂L/∂y where min ≤ x ≤ max, 0 elsewhere", inputs={0: "self"})
def _clamp(n):
    return [grad(n) * _between(saved(n, "self"), n.saved.get("min"), n.saved.get("max"))]


@rule("ClampMinBackward0", "y = max(x, min)   (clamp(min=…), min a number)",
      "Below min the output is constant: zero gradient; above it the gradient passes.",
      "∂L/∂x = ∂L/∂y where x ≥ min, 0 elsewhere", inputs={0: "self"})
def _clamp_min(n):
    return [grad(n) * _between(saved(n, "self"), n.saved["min"], None)]


@rule("ClampMaxBackward0", "y = min(x, max)   (clamp(max=…), max a number)",
      "Above max the output is constant: zero gradient; below it the gradient passes.",
      "∂L/∂x = ∂L/∂y where x ≤ max, 0 elsewhere", inputs={0: "self"})
def _clamp_max(n):
    return [grad(n) * _between(saved(n, "self"), None, n.saved["max"])]


@rule("ClampBackward0", "y = clamp(x, lo, hi)   (lo, hi tensors)",
      "x gets the gradient where it lay inside [lo, hi]; a bound gets it where it did the clipping.",
      "∂L/∂x = ∂L/∂y where lo ≤ x ≤ hi", "∂L/∂lo = ∂L/∂y where x < lo (and lo < hi)",
      "∂L/∂hi = ∂L/∂y where x > hi (or hi < lo)", inputs={0: "self", 1: "min", 2: "max"})
def _clamp_tensor(n):
    g, x = grad(n), saved(n, "self")
    low, high = (None if n.saved.get(k) is None else saved(n, k) for k in ("min", "max"))
    zero = g.new_zeros(())
    d_x = torch.where(_between(x, low, high), g, zero)
    if low is not None and high is not None:  # with lo > hi every output is hi
        d_low = torch.where((x < low) & (low < high), g, zero)
        d_high = torch.where((x > high) | (high < low), g, zero)
    else:
        d_low = None if low is None else torch.where(x < low, g, zero)
        d_high = None if high is None else torch.where(x > high, g, zero)
    return [sum_to(d_x, _shape(n, 0)), sum_to(d_low, _shape(n, 1)), sum_to(d_high, _shape(n, 2))]


@rule("AddBackward1", "y = x + c   (c a number)", "Adding a constant passes the gradient through unchanged.", "∂L/∂x = ∂L/∂y")
def _add_number(n):
    return [grad(n)]


@rule("SubBackward1", "y = x − c   (c a number)", "Subtracting a constant passes the gradient through unchanged.",
      "∂L/∂x = ∂L/∂y")
def _sub_number(n):
    return [grad(n)]


@rule("RsubBackward0", "y = b − α·a   (torch.rsub(a, b))", "b gets the gradient, a its negative (times α).",
      "∂L/∂a = −α · ∂L/∂y", "∂L/∂b = ∂L/∂y")
def _rsub_tensor(n):
    g = grad(n)
    return [sum_to(-n.saved["alpha"] * g, _shape(n, 0)), sum_to(g, _shape(n, 1))]


@rule("MulBackward1", "y = c · x   (c a number: label smoothing's weights, scaling)", "The gradient is scaled by the same c.",
      "∂L/∂x = c · ∂L/∂y")
def _mul_number(n):
    return [grad(n) * n.saved["other"]]


@rule("DivBackward1", "y = x / c   (c a number)", "The gradient is divided by the same c.", "∂L/∂x = ∂L/∂y / c")
def _div_number(n):
    return [grad(n) / n.saved["other"]]


@rule("AddcmulBackward0", "y = x + v · t₁ · t₂", "x passes the gradient through; each factor gets it times v and the other factor.",
      "∂L/∂x = ∂L/∂y", "∂L/∂t₁ = v · ∂L/∂y · t₂", "∂L/∂t₂ = v · ∂L/∂y · t₁", inputs={1: "tensor1", 2: "tensor2"})
def _addcmul(n):
    g, v = grad(n), n.saved["value"]
    t1, t2 = saved(n, "tensor1"), saved(n, "tensor2")
    return [sum_to(g, _shape(n, 0)), sum_to(v * g * t2, _shape(n, 1)), sum_to(v * g * t1, _shape(n, 2))]


@rule("AddcdivBackward0", "y = x + v · t₁ / t₂", "x passes the gradient through; t₁ gets it times v/t₂, t₂ times −v·t₁/t₂².",
      "∂L/∂x = ∂L/∂y", "∂L/∂t₁ = v · ∂L/∂y / t₂", "∂L/∂t₂ = −v · ∂L/∂y · t₁ / t₂²", inputs={1: "tensor1", 2: "tensor2"})
def _addcdiv(n):
    g, v = grad(n), n.saved["value"]
    t1, t2 = saved(n, "tensor1"), saved(n, "tensor2")
    return [sum_to(g, _shape(n, 0)), sum_to(v * g / t2, _shape(n, 1)), sum_to(-v * g * t1 / (t2 * t2), _shape(n, 2))]


@rule("LerpBackward0", "y = a + w · (b − a)   (w a number: an exponential moving average, EMA weights)",
      "The result is (1 − w) of a and w of b: each gets that share of the gradient.",
      "∂L/∂a = (1 − w) · ∂L/∂y", "∂L/∂b = w · ∂L/∂y")
def _lerp(n):
    g, w = grad(n), n.saved["weight"]
    return [sum_to((1 - w) * g, _shape(n, 0)), sum_to(w * g, _shape(n, 1))]


@rule("Atan2Backward0", "y = atan2(a, b)   (the angle of the point (b, a))",
      "The angle turns with a by b/(a² + b²) and with b by −a/(a² + b²).",
      "∂L/∂a = ∂L/∂y · b / (a² + b²)", "∂L/∂b = −∂L/∂y · a / (a² + b²)", inputs={0: "self", 1: "other"})
def _atan2(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    r2 = a * a + b * b
    return [sum_to(g * b / r2, _shape(n, 0)), sum_to(-g * a / r2, _shape(n, 1))]


@rule("XlogyBackward0", "y = a · ln b   (0 where a = 0)", "a gets ln b; b gets a/b.",
      "∂L/∂a = ∂L/∂y · ln b   (0 where a = 0 and b ≤ 0)", "∂L/∂b = ∂L/∂y · a / b", inputs={0: "self", 1: "other"})
def _xlogy(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    d_a = torch.where((a == 0) & (b <= 0), 0.0, g * torch.log(b))
    return [sum_to(d_a, _shape(n, 0)), sum_to(g * a / b, _shape(n, 1))]


@rule("ErfBackward0", "y = erf(x)   (BERT's GELU by hand: x · ½ (1 + erf(x/√2)))", "erf's slope is 2/√π · e^(−x²).",
      "∂L/∂x = ∂L/∂y · 2/√π · e^(−x²)", inputs={0: "self"})
def _erf(n):
    x = saved(n, "self")
    return [grad(n) * 2 / math.sqrt(math.pi) * torch.exp(-x * x)]


@rule("Expm1Backward0", "y = eˣ − 1", "Its slope is eˣ = y + 1.", "∂L/∂x = ∂L/∂y · (y + 1)")
def _expm1(n):
    return [grad(n) * (saved(n, "result") + 1)]


for _label, _forward in (("SignBackward0", "y = sign(x)"), ("FloorBackward0", "y = ⌊x⌋"), ("CeilBackward0", "y = ⌈x⌉"),
                         ("RoundBackward0", "y = round(x)"), ("TruncBackward0", "y = trunc(x)")):
    rule(_label, f"{_forward}   (a step function)",
         "A step function is flat between its jumps: its slope, and so the gradient it passes, is zero.",
         "∂L/∂x = 0")(lambda n: [torch.zeros_like(grad(n))])


def _slope_rule(label: str, forward: str, words: str, formula: str, slope, uses: str = "self"):
    """An element-wise op whose ∂L/∂x is ∂L/∂y times a slope computed from one saved tensor."""
    rule(label, forward, words, formula, inputs={0: "self"} if uses == "self" else None)(
        lambda n: [grad(n) * slope(saved(n, uses))])


_slope_rule("AsinBackward0", "y = asin x", "asin's slope is 1/√(1 − x²).", "∂L/∂x = ∂L/∂y / √(1 − x²)",
            lambda x: (1 - x * x).rsqrt())
_slope_rule("AtanBackward0", "y = atan x", "atan's slope is 1/(1 + x²).", "∂L/∂x = ∂L/∂y / (1 + x²)", lambda x: 1 / (1 + x * x))
_slope_rule("TanBackward0", "y = tan x", "tan's slope is 1 + tan² x = 1 + y².", "∂L/∂x = ∂L/∂y · (1 + y²)",
            lambda y: 1 + y * y, uses="result")
_slope_rule("SinhBackward0", "y = sinh x", "sinh's slope is cosh x.", "∂L/∂x = ∂L/∂y · cosh x", torch.cosh)
_slope_rule("CoshBackward0", "y = cosh x", "cosh's slope is sinh x.", "∂L/∂x = ∂L/∂y · sinh x", torch.sinh)
_slope_rule("Log2Backward0", "y = log₂ x", "log₂'s slope is 1/(x · ln 2).", "∂L/∂x = ∂L/∂y / (x · ln 2)",
            lambda x: 1 / (x * math.log(2)))
_slope_rule("Log10Backward0", "y = log₁₀ x", "log₁₀'s slope is 1/(x · ln 10).", "∂L/∂x = ∂L/∂y / (x · ln 10)",
            lambda x: 1 / (x * math.log(10)))
_slope_rule("Exp2Backward0", "y = 2ˣ", "2ˣ's slope is 2ˣ · ln 2 = y · ln 2.", "∂L/∂x = ∂L/∂y · y · ln 2",
            lambda y: y * math.log(2), uses="result")
_slope_rule("NanToNumBackward0", "y = x with NaN and ±∞ replaced by numbers",
            "Replaced values no longer depend on x: the gradient passes only where x was finite.",
            "∂L/∂x = ∂L/∂y where x is finite, 0 elsewhere", torch.isfinite)


for _label, _forward in (("FracBackward0", "y = x − trunc(x)"), ("RemainderBackward0", "y = x mod c   (c a number)"),
                         ("FmodBackward0", "y = fmod(x, c)   (c a number)")):
    rule(_label, _forward, "Between its jumps the op is x minus a constant: slope 1.", "∂L/∂x = ∂L/∂y")(lambda n: [grad(n)])

rule("SgnBackward0", "y = sgn(x)   (real x: the sign)",
     "A step function is flat between its jumps: its slope, and so the gradient it passes, is zero.",
     "∂L/∂x = 0")(lambda n: [torch.zeros_like(grad(n))])


@rule("LeakyReluBackward1", "y = x if x > 0 else s·x   (in place: the output saved, not x)",
      "The gradient passes where y > 0, scaled by the slope s elsewhere.", "∂L/∂x = ∂L/∂y · (1 if y > 0 else s)")
def _leaky_relu_from_result(n):
    y = saved(n, "result")
    return [grad(n) * torch.where(y > 0, y.new_ones(()), n.saved["negative_slope"])]  # in y's dtype


def _shrink(n):
    x, lambd = saved(n, "self"), n.saved["lambd"]
    return [grad(n) * ((x < -lambd) | (x > lambd))]


rule("HardshrinkBackward0", "y = x if |x| > λ else 0", "The gradient passes where |x| > λ and stops inside [−λ, λ].",
     "∂L/∂x = ∂L/∂y · [|x| > λ]", inputs={0: "self"})(_shrink)
rule("SoftshrinkBackward0", "y = x − λ·sign(x) if |x| > λ else 0", "The gradient passes where |x| > λ and stops inside [−λ, λ].",
     "∂L/∂x = ∂L/∂y · [|x| > λ]", inputs={0: "self"})(_shrink)


@rule("RreluWithNoiseBackward0", "y = x if x ≥ 0 else a·x   (RReLU: a random in [l, u] while training, (l + u)/2 in eval)",
      "The gradient passes where x > 0 and is scaled by the slope used elsewhere (the saved noise while training).",
      "∂L/∂x = ∂L/∂y · (1 if x > 0 else a)", inputs={0: "self"})
def _rrelu(n):
    s, x = n.saved, saved(n, "self")
    if s["training"] and s["upper"] - s["lower"] > 1e-6:
        return [grad(n) * saved(n, "noise")]
    return [grad(n) * torch.where(x > 0, x.new_ones(()), (s["lower"] + s["upper"]) / 2)]


@rule("LogitBackward0", "y = ln(x / (1 − x))   (eps: x clamped to [eps, 1 − eps] first)",
      "logit's slope is 1/(x(1 − x)); where eps clamped x it is 0.", "∂L/∂x = ∂L/∂y / (x · (1 − x))", inputs={0: "self"})
def _logit(n):
    x, eps = saved(n, "self"), n.saved.get("eps")
    d_x = grad(n) / (x * (1 - x))
    if eps is None:
        return [torch.where((x < 0) | (x > 1), math.nan, d_x)]
    return [torch.where((x < eps) | (x > 1 - eps), 0.0, d_x)]


@rule("LogaddexpBackward0", "y = ln(eᵃ + eᵇ)", "Each input gets its softmax share: eᵃ/(eᵃ + eᵇ) and eᵇ/(eᵃ + eᵇ).",
      "∂L/∂a = ∂L/∂y / (1 + e^(b − a))", "∂L/∂b = ∂L/∂y / (1 + e^(a − b))", inputs={0: "self", 1: "other"})
def _logaddexp(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    return [sum_to(g / (1 + torch.exp(b - a)), _shape(n, 0)), sum_to(g / (1 + torch.exp(a - b)), _shape(n, 1))]


@rule("HypotBackward0", "y = √(a² + b²)", "Each side pulls the length by its share a/y, b/y.",
      "∂L/∂a = ∂L/∂y · a / y", "∂L/∂b = ∂L/∂y · b / y", inputs={0: "self", 1: "other"})
def _hypot(n):
    g, y = grad(n), saved(n, "result")
    d_a = sum_to(g * saved(n, "self") / y, _shape(n, 0)) if _shape(n, 0) is not None else None
    d_b = sum_to(g * saved(n, "other") / y, _shape(n, 1)) if _shape(n, 1) is not None else None
    return [d_a, d_b]


@rule("FmaxBackward0", "y = fmax(a, b)   (maximum that ignores NaN)",
      "Each position's gradient goes to the input that was taken: a where a ≥ b or b is NaN, else b (ties go to a).",
      "∂L/∂a = ∂L/∂y where a ≥ b or b is NaN", "∂L/∂b = ∂L/∂y elsewhere", inputs={0: "self", 1: "other"})
def _fmax(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    took_a = (a >= b) | b.isnan()
    return [sum_to(g * took_a, _shape(n, 0)), sum_to(g * ~took_a, _shape(n, 1))]


@rule("FminBackward0", "y = fmin(a, b)   (minimum that ignores NaN)",
      "Each position's gradient goes to the input that was taken: a where a ≤ b or b is NaN, else b (ties go to a).",
      "∂L/∂a = ∂L/∂y where a ≤ b or b is NaN", "∂L/∂b = ∂L/∂y elsewhere", inputs={0: "self", 1: "other"})
def _fmin(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    took_a = (a <= b) | b.isnan()
    return [sum_to(g * took_a, _shape(n, 0)), sum_to(g * ~took_a, _shape(n, 1))]


# ---------------------------------------------------------------------------
# reductions


@rule("SumBackward0", "y = Σ x   (all elements)", "Every element contributed with weight 1: each gets the gradient.",
      "∂L/∂xᵢ = ∂L/∂y")
def _sum(n):
    return [grad(n).expand(n.saved["self_sym_sizes"])]


def _reduced_back(g: torch.Tensor, s: dict) -> torch.Tensor:
    """Put the reduced dims back (size 1) and expand to the input's shape."""
    sizes = s["self_sym_sizes"]
    if not s["keepdim"]:
        for d in dims(s["dim"], len(sizes)):
            g = g.unsqueeze(d)
    return g.expand(sizes)


@rule("SumBackward1", "y = Σ_dim x", "Every element summed into an output gets that output's gradient.",
      "∂L/∂xᵢ = ∂L/∂y_(the output xᵢ was summed into)")
def _sum_dim(n):
    return [_reduced_back(grad(n), n.saved)]


@rule("MeanBackward0", "y = (1/N) Σ x   (all N elements)", "Each element contributed 1/N of the mean.", "∂L/∂xᵢ = ∂L/∂y / N")
def _mean(n):
    return [grad(n).expand(n.saved["self_sym_sizes"]) / n.saved["self_sym_numel"]]


@rule("MeanBackward1", "y = mean over dim(s) of x   (also global average pooling)",
      "Each element contributed 1/K of its output's mean, K the number of elements averaged.",
      "∂L/∂xᵢ = ∂L/∂y_(its output) / K")
def _mean_dim(n):
    s = n.saved
    sizes = s["self_sym_sizes"]
    count = math.prod(sizes[d] for d in dims(s["dim"], len(sizes))) if s["dim"] else math.prod(sizes)
    return [_reduced_back(grad(n), s) / count]


def _restore(t: torch.Tensor, dim, keepdim: bool, ndim: int) -> torch.Tensor:
    """A reduced tensor with its reduced dims put back as size 1 (``dim`` None or empty: all dims)."""
    if keepdim:
        return t
    for d in _reduced_dims(dim, ndim):
        t = t.unsqueeze(d)
    return t


def _reduced_dims(dim, ndim: int) -> list[int]:
    return list(range(ndim)) if dim is None or dim == () else dims(dim, ndim)


@rule("MaxBackward0", "y, i = x.max(dim)   (the largest value along dim, and where it was)",
      "Only the winner along dim gets the gradient; every other element gets zero.",
      "∂L/∂x = ∂L/∂y at the index i of each maximum, 0 elsewhere")
def _max_dim(n):
    s = n.saved
    sizes = s["self_sym_sizes"]
    dim = signed(s["dim"]) % len(sizes)
    g, index = _restore(grad(n), dim, s["keepdim"], len(sizes)), _restore(saved(n, "indices"), dim, s["keepdim"], len(sizes))
    return [g.new_zeros(sizes).scatter_(dim, index, g)]


rule("MinBackward0", "y, i = x.min(dim)   (the smallest value along dim, and where it was)",
     "Only the smallest element along dim gets the gradient; every other element gets zero.",
     "∂L/∂x = ∂L/∂y at the index i of each minimum, 0 elsewhere")(_max_dim)


def _spread_over_ties(n: NodeGradients) -> list[torch.Tensor]:
    """The gradient of a max/min shared evenly by the elements equal to it (y = max(x) over ``dim``)."""
    s, x = n.saved, saved(n, "self")
    over = _reduced_dims(s.get("dim"), x.dim())
    keepdim = s.get("keepdim", False)
    won = x == _restore(saved(n, "result"), over, keepdim, x.dim())
    return [_restore(grad(n), over, keepdim, x.dim()) * won / won.sum(over, keepdim=True)]


@rule("MaxBackward1", "y = max(x)   (the largest of all elements)",
      "The maximum gets the gradient, shared evenly when several elements tie; the rest get zero.",
      "∂L/∂xᵢ = ∂L/∂y / k where xᵢ = y (k ties), 0 elsewhere", inputs={0: "self"})
def _max_all(n):
    return _spread_over_ties(n)


@rule("MinBackward1", "y = min(x)   (the smallest of all elements)",
      "The minimum gets the gradient, shared evenly when several elements tie; the rest get zero.",
      "∂L/∂xᵢ = ∂L/∂y / k where xᵢ = y (k ties), 0 elsewhere", inputs={0: "self"})
def _min_all(n):
    return _spread_over_ties(n)


@rule("AmaxBackward0", "y = amax(x, dims)   (the largest value over dims)",
      "The maximum of each reduced group gets its gradient, shared evenly by ties; the rest get zero.",
      "∂L/∂xᵢ = ∂L/∂y / k where xᵢ = y (k ties in its group), 0 elsewhere", inputs={0: "self"})
def _amax(n):
    return _spread_over_ties(n)


@rule("AminBackward0", "y = amin(x, dims)   (the smallest value over dims)",
      "The minimum of each reduced group gets its gradient, shared evenly by ties; the rest get zero.",
      "∂L/∂xᵢ = ∂L/∂y / k where xᵢ = y (k ties in its group), 0 elsewhere", inputs={0: "self"})
def _amin(n):
    return _spread_over_ties(n)


def _variance_grad(n: NodeGradients) -> tuple[torch.Tensor, list[int], int]:
    """(∂var/∂x without ∂L/∂y: 2(x − x̄)/(N − c), the reduced dims, N − c)."""
    s, x = n.saved, saved(n, "self")
    over = _reduced_dims(s.get("dim"), x.dim())
    correction = 1 if s.get("correction") is None else s["correction"]
    dof = math.prod(x.shape[d] for d in over) - correction
    return 2 * (x - x.mean(over, keepdim=True)) / dof, over, dof


@rule("VarBackward0", "y = Σ (x − x̄)² / (N − c)   (variance over dims; c = 1 unbiased, 0 biased)",
      "Each element pulls the variance by its distance from the mean.", "∂L/∂x = ∂L/∂y · 2 (x − x̄) / (N − c)",
      inputs={0: "self"})
def _var(n):
    slope, over, _ = _variance_grad(n)
    return [_restore(grad(n), over, n.saved.get("keepdim", False), slope.dim()) * slope]


@rule("StdBackward0", "y = √(Σ (x − x̄)² / (N − c))   (standard deviation over dims)",
      "Variance's rule divided by 2y, the slope of the square root (0 where y = 0).",
      "∂L/∂x = ∂L/∂y · (x − x̄) / ((N − c) · y)", inputs={0: "self"})
def _std(n):
    slope, over, _ = _variance_grad(n)
    keepdim = n.saved.get("keepdim", False)
    g, y = (_restore(t, over, keepdim, slope.dim()) for t in (grad(n), saved(n, "result")))
    return [torch.where(y == 0, 0.0, g / (2 * y)) * slope]


@rule("LogsumexpBackward0", "y = ln Σⱼ e^xⱼ   (over dims)", "Its slope is the softmax of x over the reduced dims.",
      "∂L/∂xⱼ = ∂L/∂y · e^(xⱼ − y)", inputs={0: "self"})
def _logsumexp(n):
    x, s = saved(n, "self"), n.saved
    over = _reduced_dims(s.get("dim"), x.dim())
    g, y = (_restore(t, over, s.get("keepdim", False), x.dim()) for t in (grad(n), saved(n, "result")))
    return [g * (x - y).exp()]


@rule("LinalgVectorNormBackward0", "y = ‖x‖_p = (Σ |x|ᵖ)^(1/p)   (over dims; x.norm(), F.normalize: p = 2)",
      "Each element pulls the length by its share: x/‖x‖ for p = 2 (0 where the length is 0), sign x for p = 1.",
      "∂L/∂x = ∂L/∂y · x / ‖x‖   (p = 2; in general sign(x) · |x|^(p−1) / ‖x‖^(p−1))", inputs={0: "self"})
def _vector_norm(n):
    return [_p_norm_grad(n, float(n.saved["ord"]))]


@rule("SortBackward0", "y, i = x.sort(dim)   (the values in order, and where each came from)",
      "Sorting only moves values: each gets its gradient back at the place it came from.",
      "∂L/∂x[i] = ∂L/∂y   (scattered back by the saved indices)")
def _sort(n):
    s, g = n.saved, grad(n)
    sizes = s["self_sym_sizes"]
    return [g.new_zeros(sizes).scatter_(signed(s["dim"]) % max(len(sizes), 1), saved(n, "indices"), g)]


@rule("TopkBackward0", "y, i = x.topk(k, dim)   (the k largest values, and where they were)",
      "The k chosen elements get their gradient back; the rest get zero.", "∂L/∂x[i] = ∂L/∂y, 0 elsewhere")
def _topk(n):
    return _sort(n)


rule("KthvalueBackward0", "y, i = x.kthvalue(k, dim)   (the k-th smallest along dim, and where it was)",
     "Only the chosen element along dim gets the gradient; every other element gets zero.",
     "∂L/∂x = ∂L/∂y at the index i, 0 elsewhere")(_max_dim)
rule("MedianBackward1", "y, i = x.median(dim)   (the median along dim, and where it was)",
     "Only the median element along dim gets the gradient; every other element gets zero.",
     "∂L/∂x = ∂L/∂y at the index i, 0 elsewhere")(_max_dim)


@rule("MedianBackward0", "y = median(x)   (of all elements)",
      "The median element gets the gradient, shared evenly when several elements tie; the rest get zero.",
      "∂L/∂xᵢ = ∂L/∂y / k where xᵢ = y (k ties), 0 elsewhere", inputs={0: "self"})
def _median_all(n):
    return _spread_over_ties(n)


def _product_of_the_others(x: torch.Tensor, dim: int) -> torch.Tensor:
    """For each element, the product of the other elements along dim (exact with zeros: no division)."""
    ones = torch.ones_like(x.narrow(dim, 0, 1))
    before = torch.cat([ones, x.narrow(dim, 0, x.shape[dim] - 1)], dim).cumprod(dim)
    after = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), ones], dim).flip(dim).cumprod(dim).flip(dim)
    return before * after


@rule("ProdBackward0", "y = Π x   (the product of all elements)",
      "Each element's slope is the product of all the others (y/xᵢ when no element is 0).",
      "∂L/∂xᵢ = ∂L/∂y · Π_(j ≠ i) xⱼ", inputs={0: "self"})
def _prod_all(n):
    x = saved(n, "self")
    return [grad(n) * _product_of_the_others(x.reshape(-1), 0).reshape(x.shape)]


@rule("ProdBackward1", "y = Π_dim x   (the product along dim)",
      "Each element's slope is the product of the others along dim (y/xᵢ when none is 0).",
      "∂L/∂xᵢ = ∂L/∂y · Π_(j ≠ i, along dim) xⱼ", inputs={0: "self"})
def _prod_dim(n):
    x, s = saved(n, "self"), n.saved
    dim = signed(s["dim"]) % max(x.dim(), 1)
    return [_restore(grad(n), dim, s["keepdim"], x.dim()) * _product_of_the_others(x, dim)]


@rule("CumprodBackward0", "yᵢ = Π_(j ≤ i) xⱼ   (cumulative product along dim)",
      "xⱼ is a factor of every later partial product yᵢ, with slope yᵢ/xⱼ.", "∂L/∂xⱼ = Σ_(i ≥ j) ∂L/∂yᵢ · yᵢ / xⱼ",
      inputs={0: "self"})
def _cumprod(n):
    x, y, g = saved(n, "self"), saved(n, "result"), grad(n)
    if (x == 0).any():
        raise NotRecomputable("a cumulative product with a zero factor: y/x is undefined there (autograd "
                              "multiplies the other factors instead); not recomputed yet")
    dim = signed(n.saved["dim"]) % max(x.dim(), 1)
    return [(g * y).flip(dim).cumsum(dim).flip(dim) / x]


@rule("LogcumsumexpBackward0", "yᵢ = ln Σ_(j ≤ i) e^xⱼ   (along dim)",
      "xⱼ is in every later yᵢ, with weight e^(xⱼ − yᵢ) (a softmax over the first i elements).",
      "∂L/∂xⱼ = Σ_(i ≥ j) ∂L/∂yᵢ · e^(xⱼ − yᵢ)", inputs={0: "self"})
def _logcumsumexp(n):
    x, y, g = saved(n, "self"), saved(n, "result"), grad(n)
    dim = signed(n.saved["dim"]) % max(x.dim(), 1)
    shift = y.amax(dim, keepdim=True)  # e^(xⱼ − yᵢ) = e^(xⱼ − m) · e^(m − yᵢ), each factor kept in range
    return [(x - shift).exp() * (g * (shift - y).exp()).flip(dim).cumsum(dim).flip(dim)]


@rule("StdMeanBackward0", "σ, μ = std_mean(x, dims)   (both at once)",
      "x gets the standard deviation's rule for ∂L/∂σ plus the mean's for ∂L/∂μ.",
      "∂L/∂x = ∂L/∂σ · (x − μ) / ((N − c) · σ) + ∂L/∂μ / N", inputs={0: "self"})
def _std_mean(n):
    slope, over, _ = _variance_grad(n)
    return [_std_part(n, slope, over, "result0") + _mean_part(n, slope, over)]


@rule("VarMeanBackward0", "v, μ = var_mean(x, dims)   (both at once)",
      "x gets the variance's rule for ∂L/∂v plus the mean's for ∂L/∂μ.",
      "∂L/∂x = ∂L/∂v · 2 (x − μ) / (N − c) + ∂L/∂μ / N", inputs={0: "self"})
def _var_mean(n):
    slope, over, _ = _variance_grad(n)
    keepdim = n.saved.get("keepdim", False)
    d_var = 0 if n.received[0] is None else _restore(grad(n, 0), over, keepdim, slope.dim()) * slope
    return [d_var + _mean_part(n, slope, over)]


def _std_part(n: NodeGradients, slope: torch.Tensor, over: list[int], result: str):
    if n.received[0] is None:
        return 0
    keepdim = n.saved.get("keepdim", False)
    g, y = (_restore(t, over, keepdim, slope.dim()) for t in (grad(n, 0), saved(n, result)))
    return torch.where(y == 0, 0.0, g / (2 * y)) * slope


def _mean_part(n: NodeGradients, slope: torch.Tensor, over: list[int]):
    if len(n.received) < 2 or n.received[1] is None:
        return torch.zeros_like(slope)
    count = math.prod(slope.shape[d] for d in over)
    return (_restore(grad(n, 1), over, n.saved.get("keepdim", False), slope.dim()) / count).expand(slope.shape)


@rule("NansumBackward0", "y = Σ x, NaN counted as 0", "Every element summed gets the gradient; NaN elements get 0.",
      "∂L/∂xᵢ = ∂L/∂y where xᵢ is not NaN, 0 elsewhere", inputs={0: "self"})
def _nansum(n):
    x, s = saved(n, "self"), n.saved
    g = _restore(grad(n), _reduced_dims(s.get("dim"), x.dim()), s.get("keepdim", False), x.dim())
    return [torch.where(x.isnan(), 0.0, g.expand(x.shape))]


@rule("CummaxBackward0", "yᵢ, iᵢ = the largest of x₀…xᵢ along dim, and where it was",
      "Each running maximum's gradient goes to the element that held it; an element that held it for "
      "several steps gets all their gradients.", "∂L/∂x[j] = Σ_(i: iᵢ = j) ∂L/∂yᵢ")
def _cummax(n):
    x, g = saved(n, "self"), grad(n)
    return [torch.zeros_like(x).scatter_add_(signed(n.saved["dim"]) % max(x.dim(), 1), saved(n, "indices"), g)]


rule("CumminBackward0", "yᵢ, iᵢ = the smallest of x₀…xᵢ along dim, and where it was",
     "Each running minimum's gradient goes to the element that held it; an element that held it for "
     "several steps gets all their gradients.", "∂L/∂x[j] = Σ_(i: iᵢ = j) ∂L/∂yᵢ")(_cummax)


def _p_norm_grad(n: NodeGradients, p) -> torch.Tensor:
    """torch's rule for ∂‖x‖_p/∂x times the gradient, over the saved dims."""
    x, s = saved(n, "self"), n.saved
    over = _reduced_dims(s.get("dim"), x.dim())
    g, y = (_restore(t, over, s.get("keepdim", False), x.dim()) for t in (grad(n), saved(n, "result")))
    return _p_norm_slope(x, g, y, p, over)


def _p_norm_slope(x: torch.Tensor, g: torch.Tensor, y: torch.Tensor, p, over) -> torch.Tensor:
    """g · ∂‖x‖_p/∂x, y the norm over ``over`` (g and y with those dims kept as size 1)."""
    if p == 0:
        return torch.zeros_like(x)
    if p == 1:
        return x.sgn() * g
    if p == 2:
        return torch.where(y == 0, 0.0, x * g / y)
    if math.isinf(p):  # the largest |x| (or smallest, for −∞) decides: ties share
        won = x.abs() == y
        return x.sgn() * g * won / won.sum(over, keepdim=True)
    scale = torch.where(y == 0, 0.0, g / y.pow(p - 1))
    return (x.sgn() * x.abs().pow(p - 1) if p < 1 else x * x.abs().pow(p - 2)) * scale


@rule("RenormBackward0", "y = x's slices along dim, each scaled down to norm maxnorm if its p-norm is larger",
      "Slices within maxnorm pass the gradient; a scaled slice gets it times maxnorm/‖x‖, minus the part that would "
      "change its norm.", "∂L/∂x = ∂L/∂y where ‖x‖ ≤ maxnorm, else (m/‖x‖) · (∂L/∂y − ∂‖x‖/∂x · ⟨x, ∂L/∂y⟩ / ‖x‖)",
      inputs={0: "self"})
def _renorm(n):
    s, g, x = n.saved, grad(n), saved(n, "self")
    p, maxnorm = float(s["p"]), s["maxnorm"]
    over = [d for d in range(x.dim()) if d != signed(int(s["dim"])) % x.dim()]
    norm = torch.linalg.vector_norm(x, p, over, keepdim=True)  # each slice's norm, from the saved x
    along = _p_norm_slope(x, (x * g).sum(over, keepdim=True), norm, p, over)
    inverse = 1 / (norm + 1e-7)  # as the forward divides
    factor = inverse * maxnorm
    return [torch.where(norm > maxnorm, factor * g - factor * inverse * along, g)]


@rule("IndexReduceBackward0", "y = x, then the slices of src reduced into y's slices idx along dim by mean, amax or amin",
      "mean: every contributor gets the slice's gradient divided by the number averaged; amax/amin: the contributors "
      "equal to the result share it.", "∂L/∂x = ∂L/∂y · (its share)", "∂L/∂src = ∂L/∂y[idx] · (its share)")
def _index_reduce(n):
    s, g = n.saved, grad(n)
    x, src, index, reduce = saved(n, "self"), saved(n, "source"), saved(n, "index"), s["reduce"]
    dim = signed(s["dim"]) % max(g.dim(), 1)
    if reduce == "mean":
        count = (torch.ones_like(g) if s["include_self"] else torch.zeros_like(g)).index_add(dim, index, torch.ones_like(src))
        count = count.masked_fill(count == 0, 1)
        d_x, d_src = g / count, g.index_select(dim, index) / count.index_select(dim, index)
    elif reduce in ("amax", "amin"):
        y = saved(n, "result")
        x_won, src_won = (x == y).to(g.dtype), (src == y.index_select(dim, index)).to(g.dtype)
        share = g / x_won.index_add(dim, index, src_won)  # autograd counts x's ties even without include_self
        d_x, d_src = x_won * share, src_won * share.index_select(dim, index)
    else:
        raise NotRecomputable(f"index_reduce with {reduce!r} is not recomputed yet")
    if not s["include_self"]:
        d_x = d_x.index_fill(dim, index, 0.0)
    return [d_x, d_src]


@rule("NormBackward1", "y = ‖x‖_p = (Σ |x|ᵖ)^(1/p)   (over dims: pairwise_distance, triplet loss)",
      "Each element pulls the norm by (|x|/y)^(p−1), in x's direction (x/y for p = 2, sign x for p = 1).",
      "∂L/∂x = ∂L/∂y · sign(x) · |x|^(p−1) / y^(p−1)", inputs={0: "self"})
def _norm(n):
    return [_p_norm_grad(n, float(n.saved["p"]))]


# ---------------------------------------------------------------------------
# activations: the gradient times the activation's slope at the input


@rule("ReluBackward0", "y = max(0, x)", "The gradient passes where the unit was active (y > 0) and stops where it was not.",
      "∂L/∂x = ∂L/∂y · [y > 0]")
def _relu(n):
    return [grad(n) * (saved(n, "result") > 0)]


@rule("LeakyReluBackward0", "y = x if x > 0 else s·x", "The gradient passes where x > 0, scaled by the slope s elsewhere.",
      "∂L/∂x = ∂L/∂y · (1 if x > 0 else s)", inputs={0: "self"})
def _leaky_relu(n):
    x = saved(n, "self")
    return [grad(n) * torch.where(x > 0, x.new_ones(()), n.saved["negative_slope"])]  # in x's dtype


@rule("SigmoidBackward0", "y = σ(x) = 1 / (1 + e^−x)", "The sigmoid's slope is y(1 − y), largest (¼) at x = 0.",
      "∂L/∂x = ∂L/∂y · y · (1 − y)")
def _sigmoid(n):
    y = saved(n, "result")
    return [grad(n) * y * (1 - y)]


@rule("TanhBackward0", "y = tanh(x)", "tanh's slope is 1 − y²: 1 at 0, vanishing where the unit saturates.",
      "∂L/∂x = ∂L/∂y · (1 − y²)")
def _tanh(n):
    y = saved(n, "result")
    return [grad(n) * (1 - y * y)]


@rule("GeluBackward0", "y = x · Φ(x)   (Φ the standard normal CDF)", "GELU's slope is Φ(x) + x·φ(x).",
      "∂L/∂x = ∂L/∂y · (Φ(x) + x · φ(x))", inputs={0: "self"})
def _gelu(n):
    x = saved(n, "self")
    if n.saved.get("approximate") == "tanh":
        k = math.sqrt(2 / math.pi)
        inner = k * (x + 0.044715 * x**3)
        t = torch.tanh(inner)
        slope = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
    else:
        cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
        pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        slope = cdf + x * pdf
    return [grad(n) * slope]


@rule("SiluBackward0", "y = x · σ(x)   (SiLU, also called swish)", "SiLU's slope is σ(x) · (1 + x · (1 − σ(x))).",
      "∂L/∂x = ∂L/∂y · σ(x) · (1 + x · (1 − σ(x)))", inputs={0: "self"})
def _silu(n):
    x = saved(n, "self")
    s = torch.sigmoid(x)
    return [grad(n) * s * (1 + x * (1 - s))]


@rule("SoftmaxBackward0", "yᵢ = e^xᵢ / Σⱼ e^xⱼ", "Each input moves all outputs: the gradient minus its y-weighted average, times y.",
      "∂L/∂xᵢ = yᵢ · (∂L/∂yᵢ − Σⱼ ∂L/∂yⱼ · yⱼ)")
def _softmax(n):
    g, y = grad(n), saved(n, "result")
    d = signed(n.saved["dim"])
    return [y * (g - (g * y).sum(d, keepdim=True))]


alias("SafeSoftmaxBackward0", "SoftmaxBackward0")  # softmax that gives 0 for a row masked entirely (nn.MultiheadAttention)


@rule("LogSoftmaxBackward0", "yᵢ = xᵢ − log Σⱼ e^xⱼ   (cross entropy = LogSoftmax, then NllLoss)",
      "The gradient minus the softmax probabilities times the gradient's sum.",
      "∂L/∂xᵢ = ∂L/∂yᵢ − softmax(x)ᵢ · Σⱼ ∂L/∂yⱼ")
def _log_softmax(n):
    g, y = grad(n), saved(n, "result")
    d = signed(n.saved["dim"])
    return [g - torch.exp(y) * g.sum(d, keepdim=True)]


@rule("HardtanhBackward0", "y = clamp(x, min_val, max_val)   (ReLU6: min 0, max 6)",
      "The gradient passes strictly inside the bounds and stops where the output was clipped.",
      "∂L/∂x = ∂L/∂y where min_val < x < max_val, 0 elsewhere", inputs={0: "self"})
def _hardtanh(n):
    x = saved(n, "self")
    return [grad(n) * ((x > n.saved["min_val"]) & (x < n.saved["max_val"]))]


@rule("HardswishBackward0", "y = x · relu6(x + 3) / 6   (MobileNetV3)",
      "0 below −3, the identity's slope 1 above 3, and x/3 + ½ in between.",
      "∂L/∂x = ∂L/∂y · (0 if x < −3, x/3 + ½ if x ≤ 3, else 1)", inputs={0: "self"})
def _hardswish(n):
    x = saved(n, "self")
    slope = torch.where(x < -3, 0.0, torch.where(x <= 3, x / 3 + 0.5, 1.0))
    return [grad(n) * slope]


@rule("HardsigmoidBackward0", "y = relu6(x + 3) / 6   (MobileNetV3's squeeze-excite gate)",
      "A straight line of slope 1/6 between −3 and 3, flat outside.", "∂L/∂x = ∂L/∂y / 6 where −3 < x < 3, 0 elsewhere",
      inputs={0: "self"})
def _hardsigmoid(n):
    x = saved(n, "self")
    return [grad(n) * ((x > -3) & (x < 3)) / 6]


def _elu_slope(x: torch.Tensor, alpha: float, scale: float, input_scale: float) -> torch.Tensor:
    return torch.where(x <= 0, input_scale * scale * alpha * torch.exp(x * input_scale), scale)


@rule("EluBackward0", "y = s · (x if x > 0 else α · (e^(k·x) − 1))   (ELU: s = k = 1; SELU: fixed α, s)",
      "Slope s where x > 0; below 0 the slope k·s·α·e^(k·x) fades towards zero.",
      "∂L/∂x = ∂L/∂y · (s if x > 0 else k · s · α · e^(k·x))", inputs={0: "self"})
def _elu(n):
    s = n.saved
    return [grad(n) * _elu_slope(saved(n, "self"), s["alpha"], s["scale"], s["input_scale"])]


@rule("EluBackward1", "y = s · (x if x > 0 else α · (e^(k·x) − 1))   (in place: the output saved, not x)",
      "The same slope as ELU's, read from the output: k · (y + s·α) where y ≤ 0.",
      "∂L/∂x = ∂L/∂y · (s if y > 0 else k · (y + s · α))")
def _elu_from_result(n):
    s, y = n.saved, saved(n, "result")
    return [grad(n) * torch.where(y <= 0, s["input_scale"] * (y + s["alpha"] * s["scale"]), s["scale"])]


@rule("CeluBackward0", "y = x if x > 0 else α · (e^(x/α) − 1)", "Slope 1 where x > 0, e^(x/α) below.",
      "∂L/∂x = ∂L/∂y · (1 if x > 0 else e^(x/α))", inputs={0: "self"})
def _celu(n):
    alpha = n.saved["alpha"]
    # autograd takes 1/α of α rounded to float32: the same here, to the last digit
    return [grad(n) * _elu_slope(saved(n, "self"), alpha, 1.0, 1 / float(torch.tensor(alpha, dtype=torch.float32)))]


@rule("SoftplusBackward0", "y = ln(1 + e^(β·x)) / β   (x itself where β·x > threshold)",
      "Softplus's slope is σ(β·x): a smooth ReLU's step (1 where it returned x).",
      "∂L/∂x = ∂L/∂y · σ(β·x)   (1 where β·x > threshold)", inputs={0: "self"})
def _softplus(n):
    s, x = n.saved, saved(n, "self")
    z = torch.exp(x * s["beta"])
    return [grad(n) * torch.where(x * s["beta"] > s["threshold"], 1.0, z / (z + 1))]


@rule("MishBackward0", "y = x · tanh(softplus(x))", "Mish's slope is tanh(sp) + x · σ(x) · (1 − tanh²(sp)), sp = softplus(x).",
      "∂L/∂x = ∂L/∂y · (tanh(sp) + x · σ(x) · (1 − tanh²(sp)))", inputs={0: "self"})
def _mish(n):
    x = saved(n, "self")
    t = torch.tanh(F.softplus(x))
    return [grad(n) * (t + x * torch.sigmoid(x) * (1 - t * t))]


@rule("LogSigmoidBackward0", "y = ln σ(x)", "Its slope is 1 − σ(x) = σ(−x): 1 for very negative x, 0 for large x.",
      "∂L/∂x = ∂L/∂y · σ(−x)", inputs={0: "self"})
def _log_sigmoid(n):
    return [grad(n) * torch.sigmoid(-saved(n, "self"))]


@rule("GluBackward0", "y = a · σ(b),  (a, b) = x split in halves along dim   (gated linear unit)",
      "The value half gets the gradient times the gate; the gate half gets it times a and the sigmoid's slope.",
      "∂L/∂x = cat(∂L/∂y · σ(b), ∂L/∂y · a · σ(b) · (1 − σ(b)); dim)", inputs={0: "self"})
def _glu(n):
    x, g = saved(n, "self"), grad(n)
    dim = signed(n.saved["dim"]) % x.dim()
    a, b = x.chunk(2, dim)
    gate = torch.sigmoid(b)
    return [torch.cat([g * gate, g * a * gate * (1 - gate)], dim)]


@rule("PreluKernelBackward0", "y = x if x > 0 else a·x   (PReLU: a learned slope per channel)",
      "x gets the gradient, times a where x ≤ 0; the slope a gets Σ ∂L/∂y · x over the places where x ≤ 0.",
      "∂L/∂x = ∂L/∂y · (1 if x > 0 else a)", "∂L/∂a = Σ_(x ≤ 0) ∂L/∂y · x", inputs={0: "self", 1: "weight"})
def _prelu(n):
    g, x, a = grad(n), saved(n, "self"), saved(n, "weight")
    negative = x <= 0
    return [torch.where(negative, g * a, g), sum_to(torch.where(negative, g * x, 0.0), _shape(n, 1) or a.shape)]


@rule("ThresholdBackward0", "y = x if x > t else v   (nn.Threshold)", "The gradient passes where x > t and stops elsewhere.",
      "∂L/∂x = ∂L/∂y · [x > t]", inputs={0: "self"})
def _threshold(n):
    return [grad(n) * (saved(n, "self") > n.saved["threshold"])]


# ---------------------------------------------------------------------------
# attention


@rule("ScaledDotProductFlashAttentionForCpuBackward0",
      "O = softmax(Q·Kᵀ·s + mask) · V   (s = 1/√d; the causal mask hides later keys)",
      "The attention weights P were the softmax of the scores: V's gradient is Pᵀ·∂L/∂O; the scores' gradient "
      "goes through the softmax's slope, then back to Q (through K) and to K (through Q).",
      "∂L/∂Q = s · ∂L/∂S · K,   ∂L/∂S = P ⊙ (∂L/∂O·Vᵀ − rowsum(∂L/∂O ⊙ O))",
      "∂L/∂K = s · (∂L/∂S)ᵀ · Q",
      "∂L/∂V = Pᵀ · ∂L/∂O",
      inputs={0: "query", 1: "key", 2: "value"})
def _attention(n):
    g, q, k, v, out = grad(n), saved(n, "query"), saved(n, "key"), saved(n, "value"), saved(n, "output")
    if n.saved.get("dropout_p"):
        raise NotRecomputable("attention dropout: only its random seed was saved, not the mask")
    scale = n.saved.get("scale")
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    heads, kv_heads = q.shape[-3], k.shape[-3]
    repeat = heads // kv_heads  # grouped-query attention: each K/V head serves `repeat` query heads
    k_all, v_all = k.repeat_interleave(repeat, -3), v.repeat_interleave(repeat, -3)
    scores = q @ k_all.transpose(-2, -1) * scale
    mask = n.saved.get("attn_mask")
    if isinstance(mask, TensorSummary):
        raise NotRecomputable(f"the attention mask was kept only as a summary ({mask.numel:,} elements)")
    if isinstance(mask, torch.Tensor):  # saved additive (a boolean mask as 0 / −inf)
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    if n.saved.get("is_causal"):
        causal = torch.ones(scores.shape[-2], scores.shape[-1], dtype=torch.bool).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    p = torch.softmax(scores, -1)
    d_scores = p * (g @ v_all.transpose(-2, -1) - (g * out).sum(-1, keepdim=True))
    dq = d_scores @ k_all * scale
    dk = d_scores.transpose(-2, -1) @ q * scale
    dv = p.transpose(-2, -1) @ g
    if repeat > 1:  # back from each query head's copy to the shared K/V head
        dk = dk.unflatten(-3, (kv_heads, repeat)).sum(-3)
        dv = dv.unflatten(-3, (kv_heads, repeat)).sum(-3)
    return [dq, dk, dv]


# ---------------------------------------------------------------------------
# losses

_MEAN, _SUM = 1, 2  # torch's reduction enum as saved: 0 none, 1 mean, 2 sum


@rule("MseLossBackward0", "L = mean((x − t)²)", "Each output gets 2·(its error) / N: pushed towards its target.",
      "∂L/∂x = ∂L/∂y · 2 (x − t) / N", "∂L/∂t = −∂L/∂y · 2 (x − t) / N", inputs={0: "self", 1: "target"})
def _mse(n):
    g, x, t = grad(n), saved(n, "self"), saved(n, "target")
    d_x = 2 * (x - t) * g
    if n.saved["reduction"] == _MEAN:
        d_x = d_x / x.numel()
    return [d_x if _shape(n, 0) is not None else None, -d_x if _shape(n, 1) is not None else None]


@rule("NllLossBackward0", "L = −mean(x[i, tᵢ])   (x are log-probabilities, t the classes)",
      "Only the log-probability of each sample's true class matters: it gets −1/N, every other entry 0.",
      "∂L/∂x[i, c] = −∂L/∂y · w_c / Σᵢ w_tᵢ  if c = tᵢ, else 0")
def _nll(n):
    g, x, target = grad(n), saved(n, "self"), saved(n, "target")
    s = n.saved
    class_dim = 1 if x.dim() >= 2 else 0
    weight = s.get("weight")
    weight = torch.ones(x.shape[class_dim], dtype=x.dtype) if weight is None else _whole(weight, "the class weights")
    ignore = signed(int(s["ignore_index"]))
    keep = target != ignore
    safe_target = torch.where(keep, target, 0)
    per_sample = -weight[safe_target] * keep
    d_x = torch.zeros_like(x).scatter(class_dim, safe_target.unsqueeze(class_dim), per_sample.unsqueeze(class_dim).to(x.dtype))
    if s["reduction"] == _MEAN:
        d_x = d_x / saved(n, "total_weight")
    if s["reduction"] in (_MEAN, _SUM):
        return [d_x * g]
    return [d_x * g.unsqueeze(class_dim)]


alias("NllLoss2DBackward0", "NllLossBackward0")  # the same, per pixel: segmentation with cross_entropy on (N, C, H, W)


def _reduced_loss_grad(n: NodeGradients, per_element: torch.Tensor) -> torch.Tensor:
    """A loss's ∂L/∂x from its per-element slope: times ∂L/∂y, divided by N for a mean."""
    if n.saved["reduction"] == _MEAN:
        per_element = per_element / per_element.numel()
    return per_element * grad(n)


@rule("BinaryCrossEntropyWithLogitsBackward0", "L = −mean(w · (p·t·ln σ(x) + (1 − t)·ln(1 − σ(x))))   (BCEWithLogitsLoss)",
      "Each logit gets σ(x) − t: how far its probability is from the target (with pos_weight p: (1 + (p − 1)·t)·σ(x) − p·t).",
      "∂L/∂x = ∂L/∂y · w · ((1 + (p − 1)·t) · σ(x) − p·t) / N", "∂L/∂t = −∂L/∂y · w · (p · ln σ(x) − ln σ(−x)) / N",
      inputs={0: "self", 1: "target"})
def _bce_with_logits(n):
    s, x, t = n.saved, saved(n, "self"), saved(n, "target")
    weight = 1.0 if s.get("weight") is None else saved(n, "weight")
    pos = 1.0 if s.get("pos_weight") is None else saved(n, "pos_weight")
    d_x = ((1 + (pos - 1) * t) * torch.sigmoid(x) - pos * t) * weight
    d_t = -(pos * F.logsigmoid(x) - F.logsigmoid(-x)) * weight
    return [_reduced_loss_grad(n, d_x) if _shape(n, 0) is not None else None,
            _reduced_loss_grad(n, d_t) if _shape(n, 1) is not None else None]


@rule("BinaryCrossEntropyBackward0", "L = −mean(w · (t·ln x + (1 − t)·ln(1 − x)))   (BCELoss on probabilities x)",
      "Each probability gets (x − t) / (x·(1 − x)): large when a confident prediction is wrong.",
      "∂L/∂x = ∂L/∂y · w · (x − t) / (x · (1 − x)) / N", "∂L/∂t = ∂L/∂y · w · (ln(1 − x) − ln x) / N",
      inputs={0: "self", 1: "target"})
def _bce(n):
    s, x, t = n.saved, saved(n, "self"), saved(n, "target")
    weight = 1.0 if s.get("weight") is None else saved(n, "weight")
    d_x = (x - t) / ((1 - x) * x).clamp_min(1e-12) * weight  # autograd's guard against 0·1
    d_t = (torch.log1p(-x).clamp_min(-100) - torch.log(x).clamp_min(-100)) * weight  # BCELoss clamps ln at −100
    return [_reduced_loss_grad(n, d_x) if _shape(n, 0) is not None else None,
            _reduced_loss_grad(n, d_t) if _shape(n, 1) is not None else None]


@rule("HuberLossBackward0", "L = mean(½e² if |e| < δ else δ·(|e| − ½δ)),  e = x − t",
      "Like MSE's e for small errors, but capped at ±δ: outliers pull with a fixed force.",
      "∂L/∂x = ∂L/∂y · clamp(x − t, −δ, δ) / N", "∂L/∂t = −∂L/∂x", inputs={0: "self", 1: "target"})
def _huber(n):
    e = saved(n, "self") - saved(n, "target")
    delta = n.saved["delta"]
    d_x = _reduced_loss_grad(n, e.clamp(-delta, delta))
    return [d_x if _shape(n, 0) is not None else None, -d_x if _shape(n, 1) is not None else None]


@rule("SmoothL1LossBackward0", "L = mean(½e²/β if |e| < β else |e| − ½β),  e = x − t   (detection box regression)",
      "e/β for small errors, ±1 beyond β: outliers pull with a fixed force.",
      "∂L/∂x = ∂L/∂y · (e/β if |e| < β else sign(e)) / N", "∂L/∂t = −∂L/∂x", inputs={0: "self", 1: "target"})
def _smooth_l1(n):
    e = saved(n, "self") - saved(n, "target")
    beta = n.saved["beta"]
    slope = e.sign() if beta == 0 else torch.where(e.abs() < beta, e / beta, e.sign())
    d_x = _reduced_loss_grad(n, slope)
    return [d_x if _shape(n, 0) is not None else None, -d_x if _shape(n, 1) is not None else None]


@rule("MultiMarginLossBackward0", "L = mean_i Σ_(c ≠ tᵢ) w_tᵢ · max(0, m − x[i, tᵢ] + x[i, c])ᵖ / C   (multi-class hinge)",
      "Every wrong class that comes within the margin m of the true class is pushed down and the true class up, "
      "by 1 (p = 1) or by twice the violation (p = 2).",
      "∂L/∂x[i, c] = ∂L/∂y · w_tᵢ · (1 or 2·violation) / (N·C) for a violating c ≠ tᵢ;  ∂L/∂x[i, tᵢ] = −Σ of those",
      inputs={0: "self"})
def _multi_margin(n):
    s, x, target = n.saved, saved(n, "self"), saved(n, "target")
    single = x.dim() == 1
    if single:
        x, target = x.unsqueeze(0), target.reshape(1)
    classes = x.shape[1]
    violation = s["margin"] - x.gather(1, target[:, None]) + x
    violating = (violation > 0) & (torch.arange(classes) != target[:, None])
    h = torch.where(violating, x.new_ones(()) if s["p"] == 1 else 2 * violation, 0.0) / classes
    if s.get("weight") is not None:
        h = h * saved(n, "weight")[target][:, None]
    d_x = h.scatter(1, target[:, None], -h.sum(1, keepdim=True))
    g = grad(n)
    if s["reduction"] == _MEAN:
        d_x = d_x / x.shape[0]
    d_x = d_x * (g if s["reduction"] in (_MEAN, _SUM) or single else g[:, None])
    return [d_x.squeeze(0) if single else d_x]


def _lengths(value) -> list[int]:
    return [int(v) for v in (value.tolist() if isinstance(value, torch.Tensor) else value)]


@rule("CtcLossBackward0", "Lᵦ = −ln Σ over the alignments of target b (blanks between labels) of Π_t p_t(aligned symbol)   "
      "(CTC: speech recognition)",
      "Forward (α) and backward (β) sums over the alignments give how often each symbol is used at each step; the "
      "log-probability of symbol c at step t gets p_t(c) minus that share.",
      "∂L/∂lp[t, c] = ∂L/∂Lᵦ · (e^lp[t, c] − Σ_(s: l'ₛ = c) e^(α[t, s] + β[t, s] + Lᵦ − lp[t, c]))",
      inputs={0: "log_probs"})
def _ctc_loss(n):
    s, g = n.saved, grad(n)
    log_probs, targets = saved(n, "log_probs"), saved(n, "targets")
    log_alpha, nll = saved(n, "result1"), saved(n, "result0")  # α from the forward pass, and each −ln p(target)
    input_lengths, target_lengths, blank = _lengths(s["input_lengths"]), _lengths(s["target_lengths"]), s["blank"]
    classes = log_probs.shape[-1]
    d_lp = torch.zeros_like(log_probs)
    offset = 0
    for b, (steps, length) in enumerate(zip(input_lengths, target_lengths)):
        if targets.dim() == 2:
            target = targets[b, :length]
        else:  # all targets concatenated
            target, offset = targets[offset:offset + length], offset + length
        extended = torch.full((2 * length + 1,), blank, dtype=torch.long)  # l': a blank around every label
        extended[1::2] = target
        width = extended.numel()
        lp = log_probs[:steps, b]
        # β, the backward sums: from the last step back, each symbol continues to itself, the next, or skips a blank
        beta = torch.full((steps, width), -math.inf, dtype=lp.dtype)
        beta[steps - 1, width - 1] = lp[steps - 1, blank]
        if length:
            beta[steps - 1, width - 2] = lp[steps - 1, extended[width - 2]]
        can_skip = torch.zeros(width, dtype=torch.bool)
        can_skip[:-2] = extended[:-2] != extended[2:]
        for t in range(steps - 2, -1, -1):
            after = beta[t + 1]
            total = after.clone()
            total[:-1] = torch.logaddexp(total[:-1], after[1:])
            total[:-2] = torch.where(can_skip[:-2], torch.logaddexp(total[:-2], after[2:]), total[:-2])
            beta[t] = total + lp[t, extended]
        used = torch.log(F.one_hot(extended, classes).to(lp.dtype))  # 0 where l'ₛ = c, −∞ elsewhere
        share = torch.logsumexp((log_alpha[b, :steps, :width] + beta)[:, :, None] + used[None], 1)  # (steps, classes)
        d_b = lp.exp() - torch.exp(share + nll[b] - lp)
        if s["zero_infinity"] and math.isinf(float(nll[b])):
            d_b = torch.zeros_like(d_b)
        d_lp[:steps, b] = d_b * g[b]
    return [d_lp]


# ---------------------------------------------------------------------------
# convolution and pooling


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@rule("ConvolutionBackward0", "y = b + W ⋆ x   (each output = weights · the input patch under them; "
      "ConvTranspose: y = b + W ⋆ᵀ x)",
      "x gets the gradient spread back through the weights (a transposed convolution); each weight gets the "
      "sum over positions of gradient × the input value it touched; the bias the gradient summed over batch and positions.",
      "∂L/∂x = ∂L/∂y ⋆ᵀ W   (transposed: ∂L/∂y ⋆ W)", "∂L/∂W = Σ_(n, positions) ∂L/∂y · x_patch   "
      "(transposed: x · ∂L/∂y_patch)", "∂L/∂b = Σ_(n, positions) ∂L/∂y",
      inputs={0: "input", 1: "weight"})
def _convolution(n):
    s = n.saved
    g, x, w = grad(n), saved(n, "input"), saved(n, "weight")
    spatial = x.dim() - 2
    if spatial not in _CONV:
        raise NotRecomputable(f"{spatial}-d convolutions are not recomputed")
    each = lambda v: tuple(v) * (spatial if len(v) == 1 else 1)  # noqa: E731 (one number for every axis)
    stride, padding, dilation = each(s["stride"]), each(s["padding"]), each(s["dilation"])
    groups = s["groups"]
    if s["transposed"]:
        # a transposed convolution is the adjoint of a convolution: x's gradient is the plain convolution
        # of ∂L/∂y with W, and W's gradient is a convolution's with the roles of x and ∂L/∂y swapped
        d_x = _CONV[spatial](g, w, None, stride, padding, dilation, groups)
        d_w = _conv_weight_grad(g, x, w.shape, stride, padding, dilation, groups)
    else:
        # ∂L/∂x: a transposed convolution, with the output padding that restores x's exact size
        expected = [(g.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1) + 1
                    for i in range(spatial)]
        output_padding = [x.shape[2 + i] - expected[i] for i in range(spatial)]
        d_x = _CONV_TRANSPOSE[spatial](g, w, None, stride, padding, output_padding, groups, dilation)
        d_w = _conv_weight_grad(x, g, w.shape, stride, padding, dilation, groups)
    d_b = g.sum(dim=(0, *range(2, g.dim()))) if s.get("bias_sym_sizes_opt") else None
    needs = [_shape(n, i) is not None for i in range(3)]
    return [d_x if needs[0] else None, d_w if needs[1] else None, d_b if needs[2] else None]


def _conv_weight_grad(x: torch.Tensor, g: torch.Tensor, shape, stride, padding, dilation, groups: int) -> torch.Tensor:
    """∂L/∂W of y = W ⋆ x given ∂L/∂y = g. W's shape is (g's channels, x's channels per group, *kernel):
    Σ over the batch and the positions of the gradient × the input patch under the kernel, per group."""
    if x.dim() == 3:  # a 1-d convolution is a 2-d one over a height of 1
        return _conv_weight_grad(x.unsqueeze(2), g.unsqueeze(2), (*shape[:2], 1, *shape[2:]), (1, *stride), (0, *padding),
                                 (1, *dilation), groups).squeeze(2)
    per_group_in, per_group_out = x.shape[1] // groups, g.shape[1] // groups
    if x.dim() == 4:  # im2col: every patch a column, then gradient × patchesᵀ, summed over the batch
        patches = F.unfold(x, shape[2:], dilation=dilation, padding=padding, stride=stride)  # (N, C·kh·kw, positions)
        g_flat = g.reshape(g.shape[0], g.shape[1], -1)
        kernel = shape[2] * shape[3]
        pieces = []
        for k in range(groups):
            g_k = g_flat[:, k * per_group_out:(k + 1) * per_group_out]
            p_k = patches[:, k * per_group_in * kernel:(k + 1) * per_group_in * kernel]
            pieces.append((g_k @ p_k.transpose(1, 2)).sum(0))
        return torch.cat(pieces, 0).reshape(shape)
    g_groups = g.unflatten(1, (groups, per_group_out)).flatten(3)  # (N, G, out/G, positions)
    # 3-d (no unfold): for each kernel offset k, the input values it touched (x, padded, from k·dilation on
    # in steps of the stride) times the gradient
    x = F.pad(x, [p for p in reversed(padding) for _ in range(2)])
    d_w = g.new_zeros(shape)
    for offset in itertools.product(*(range(k) for k in shape[2:])):
        touched = x[(slice(None), slice(None)) + tuple(
            slice(k * d, k * d + (size - 1) * s + 1, s) for k, d, size, s in zip(offset, dilation, g.shape[2:], stride))]
        touched = touched.unflatten(1, (groups, per_group_in)).flatten(3)  # (N, G, in/G, positions)
        d_w[(slice(None), slice(None)) + offset] = torch.einsum("ngop,ngcp->goc", g_groups, touched).flatten(0, 1)
    return d_w


def _winners_back(n: NodeGradients, spatial: int) -> list[torch.Tensor]:
    """Max pooling: each output's gradient goes to the input its saved index points at (over the last dims)."""
    g, x, indices = grad(n), saved(n, "self"), saved(n, "result1")
    d_x = torch.zeros_like(x).flatten(-spatial)
    d_x.scatter_add_(-1, indices.flatten(-spatial), g.flatten(-spatial))
    return [d_x.view_as(x)]


@rule("MaxPool2DWithIndicesBackward0", "y = max of each window",
      "Only the winner of each window gets the gradient; every other input gets zero.",
      "∂L/∂x = ∂L/∂y at each window's argmax, 0 elsewhere")
def _max_pool2d(n):
    return _winners_back(n, 2)


rule("MaxPool3DWithIndicesBackward0", "y = max of each k×k×k window   (video, volumes)",
     "Only the winner of each window gets the gradient; every other input gets zero.",
     "∂L/∂x = ∂L/∂y at each window's argmax, 0 elsewhere")(lambda n: _winners_back(n, 3))
rule("AdaptiveMaxPool2DBackward0", "y[i, j] = max of the input cells mapped to output cell (i, j)",
     "Only the winner of each cell's window gets the gradient; every other input gets zero.",
     "∂L/∂x = ∂L/∂y at each window's argmax, 0 elsewhere", inputs={0: "self"})(lambda n: _winners_back(n, 2))
rule("AdaptiveMaxPool3DBackward0", "y[i, j, k] = max of the input cells mapped to output cell (i, j, k)",
     "Only the winner of each cell's window gets the gradient; every other input gets zero.",
     "∂L/∂x = ∂L/∂y at each window's argmax, 0 elsewhere", inputs={0: "self"})(lambda n: _winners_back(n, 3))


# Average pooling and upsampling act on each spatial axis separately: along axis a, output cell o is a
# weighted sum of input cells (a matrix Mₐ, row o), so y = x ×₁ M₁ ×₂ M₂ … and ∂L/∂x = ∂L/∂y ×₁ M₁ᵀ ×₂ M₂ᵀ …


def _resample_matrix(out_size: int, in_size: int, sources, dtype) -> torch.Tensor:
    """A (out_size, in_size) matrix whose row o holds the weight of each input cell in output cell o:
    ``sources(o)`` gives ``[(input index, weight), …]``."""
    matrix = torch.zeros(out_size, in_size, dtype=dtype)
    for o in range(out_size):
        for i, weight in sources(o):
            matrix[o, i] += weight
    return matrix


def _per_axis_back(g: torch.Tensor, matrices: Sequence[torch.Tensor]) -> torch.Tensor:
    """∂L/∂x of y = x with its last len(matrices) axes each mapped by a (out, in) matrix: Mᵀ along each axis."""
    for i, matrix in enumerate(matrices):
        axis = g.dim() - len(matrices) + i
        g = (g.movedim(axis, -1) @ matrix).movedim(-1, axis)
    return g


def _separable_back(g: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """y = R · x · Cᵀ per image, so ∂L/∂x = Rᵀ · ∂L/∂y · C."""
    return _per_axis_back(g, (rows, cols))


def _avg_pool(n: NodeGradients, spatial: int) -> list[torch.Tensor]:
    s = n.saved
    g, x = grad(n), saved(n, "self")
    each = lambda v: tuple(v) * (spatial if len(v) == 1 else 1)  # noqa: E731 (one number for every axis)
    kernel, padding = each(s["kernel_size"]), each(s["padding"])
    stride = each(s["stride"]) if s["stride"] else kernel
    override = s.get("divisor_override")
    # the window's divisor is a product of one factor per axis (or the override): separable
    matrices = [_resample_matrix(g.shape[a - spatial], x.shape[a - spatial], _window_sources(
        x.shape[a - spatial], kernel[a], stride[a], padding[a], s["count_include_pad"], override is not None), g.dtype)
        for a in range(spatial)]
    d_x = _per_axis_back(g, matrices)
    return [d_x / override if override else d_x]


def _window_sources(in_size: int, kernel: int, stride: int, padding: int, count_padding: bool, no_divisor: bool):
    """Output cell o of average pooling along one axis: the input cells of its window, each with weight
    1/(the window's length), as torch counts it (ceil_mode's last window may hang over the padding)."""
    def sources(o):
        start = o * stride - padding
        end = min(start + kernel, in_size + padding)
        length = end - start
        start, end = max(start, 0), min(end, in_size)
        weight = 1.0 if no_divisor else 1 / (length if count_padding else end - start)
        return [(i, weight) for i in range(start, end)]
    return sources


@rule("AvgPool2DBackward0", "y = average of each k×k window", "Each input gets 1/k² of the gradient of every window it is in.",
      "∂L/∂x = Σ over its windows ∂L/∂y / k²   (k² the window's divisor)")
def _avg_pool2d(n):
    return _avg_pool(n, 2)


rule("AvgPool3DBackward0", "y = average of each k×k×k window   (volumes; LocalResponseNorm uses it)",
     "Each input gets 1/k³ of the gradient of every window it is in.",
     "∂L/∂x = Σ over its windows ∂L/∂y / k³   (k³ the window's divisor)")(lambda n: _avg_pool(n, 3))


def _adaptive_sources(out_size: int, in_size: int):
    """Adaptive pooling's window of output cell o: [⌊o·in/out⌋, ⌈(o+1)·in/out⌉), each cell weighted 1/length."""
    def sources(o):
        start, end = (o * in_size) // out_size, -((-(o + 1) * in_size) // out_size)
        return [(i, 1 / (end - start)) for i in range(start, end)]
    return sources


def _adaptive_avg_pool(n: NodeGradients, spatial: int) -> list[torch.Tensor]:
    g, x = grad(n), saved(n, "self")
    return [_per_axis_back(g, [_resample_matrix(g.shape[a], x.shape[a], _adaptive_sources(g.shape[a], x.shape[a]), g.dtype)
                               for a in range(-spatial, 0)])]


@rule("AdaptiveAvgPool2DBackward0", "y[i, j] = average of the input cells mapped to output cell (i, j)",
      "Each input cell gets its output cell's gradient divided by the number of cells averaged.",
      "∂L/∂x = Σ over the windows containing it ∂L/∂y / window size")
def _adaptive_avg_pool2d(n):
    return _adaptive_avg_pool(n, 2)


rule("AdaptiveAvgPool3DBackward0", "y[i, j, k] = average of the input cells mapped to output cell (i, j, k)",
     "Each input cell gets its output cell's gradient divided by the number of cells averaged.",
     "∂L/∂x = Σ over the windows containing it ∂L/∂y / window size")(lambda n: _adaptive_avg_pool(n, 3))


def _nearest_sources(out_size: int, in_size: int, scale):
    # torch's rule, in float32 as its kernel computes it: source = floor(o · in/out), or floor(o / scale_factor)
    ratio = torch.tensor(in_size / out_size if scale is None else 1 / scale, dtype=torch.float32)
    return lambda o: [(min(int(torch.floor(torch.tensor(float(o), dtype=torch.float32) * ratio)), in_size - 1), 1.0)]


def _nearest_exact_sources(out_size: int, in_size: int, scale):
    # nearest-exact samples each output cell's centre: source = floor((o + ½) · in/out), in float32 like torch
    ratio = torch.tensor(in_size / out_size if scale is None else 1 / scale, dtype=torch.float32)
    return lambda o: [(min(int(torch.floor((torch.tensor(o, dtype=torch.float32) + 0.5) * ratio)), in_size - 1), 1.0)]


def _linear_sources(out_size: int, in_size: int, scale, align_corners: bool):
    if out_size == in_size:
        return lambda o: [(o, 1.0)]
    if align_corners:
        ratio = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        ratio = in_size / out_size if scale is None else 1 / scale

    def sources(o):
        real = ratio * o if align_corners else max(ratio * (o + 0.5) - 0.5, 0.0)
        low = min(int(math.floor(real)), in_size - 1)
        far = min(max(real - low, 0.0), 1.0)  # the weight of the next cell
        return [(low, 1 - far), (low + (1 if low < in_size - 1 else 0), far)]

    return sources


_SCALE_NAMES = {1: ("scales",), 2: ("scales_h", "scales_w"), 3: ("scales_d", "scales_h", "scales_w")}


def _upsample_back(n: NodeGradients, sources) -> list[torch.Tensor]:
    """∂L/∂x of an upsampling whose output cell o along an axis takes ``sources(out, in, scale)(o)``."""
    s, g = n.saved, grad(n)
    out_sizes = tuple(s["output_size"])
    in_sizes = tuple(s["self_sym_sizes"])[-len(out_sizes):]
    scales = [s.get(name) for name in _SCALE_NAMES[len(out_sizes)]]
    return [_per_axis_back(g, [_resample_matrix(o, i, sources(o, i, scale), g.dtype)
                               for o, i, scale in zip(out_sizes, in_sizes, scales)])]


def _linear_upsample_back(n: NodeGradients) -> list[torch.Tensor]:
    corners = n.saved["align_corners"]
    return _upsample_back(n, lambda o, i, scale: _linear_sources(o, i, scale, corners))


_NEAREST_WORDS = ("Each input pixel was copied to several output pixels: it gets the sum of their gradients.",
                  "∂L/∂x[p] = Σ over the output pixels copied from p ∂L/∂y")
_LINEAR_WORDS = ("Each input cell gets the gradients of the output cells it was mixed into, times the weight it had in each.",
                 "∂L/∂x[p] = Σ_outputs weight(p → o) · ∂L/∂y[o]")
for _label, _forward in (("UpsampleNearest1DBackward0", "y[i] = x[⌊i·w/W⌋]   (each input cell copied to a block)"),
                         ("UpsampleNearest2DBackward0", "y[i, j] = x[⌊i·h/H⌋, ⌊j·w/W⌋]   (each input pixel copied to a block)"),
                         ("UpsampleNearest3DBackward0", "y[i, j, k] = x[⌊i·d/D⌋, ⌊j·h/H⌋, ⌊k·w/W⌋]")):
    rule(_label, _forward, *_NEAREST_WORDS)(lambda n: _upsample_back(n, _nearest_sources))
for _label, _forward in (("UpsampleNearestExact1DBackward0", "y[i] = x[⌊(i + ½)·w/W⌋]   (mode='nearest-exact')"),
                         ("UpsampleNearestExact2DBackward0", "y[i, j] = x[⌊(i + ½)·h/H⌋, ⌊(j + ½)·w/W⌋]   (mode='nearest-exact')"),
                         ("UpsampleNearestExact3DBackward0", "y = x at the nearest cell centre along each axis   "
                                                             "(mode='nearest-exact')")):
    rule(_label, _forward, *_NEAREST_WORDS)(lambda n: _upsample_back(n, _nearest_exact_sources))
for _label, _forward in (("UpsampleLinear1DBackward0", "y[i] = the weighted mean of the 2 input cells around i's source point"),
                         ("UpsampleBilinear2DBackward0", "y[i, j] = the weighted mean of the 4 input pixels around "
                                                         "(i, j)'s source point"),
                         ("UpsampleTrilinear3DBackward0", "y[i, j, k] = the weighted mean of the 8 input cells around "
                                                          "its source point")):
    rule(_label, _forward, *_LINEAR_WORDS)(_linear_upsample_back)


def _cubic_sources(out_size: int, in_size: int, scale, align_corners: bool):
    """Bicubic: 4 taps around the source point with Keys' cubic weights (A = −0.75), indices clamped to the edge."""
    if align_corners:
        ratio = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        ratio = in_size / out_size if scale is None else 1 / scale
    a = -0.75

    def near(t):  # |t| ≤ 1
        return ((a + 2) * t - (a + 3)) * t * t + 1

    def far(t):  # 1 < |t| < 2
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a

    def sources(o):
        real = ratio * o if align_corners else ratio * (o + 0.5) - 0.5  # not clamped at 0, unlike linear
        low = math.floor(real)
        t = real - low
        weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
        return [(min(max(low - 1 + k, 0), in_size - 1), w) for k, w in enumerate(weights)]

    return sources


rule("UpsampleBicubic2DBackward0", "y[i, j] = Keys' cubic blend of the 4×4 input pixels around (i, j)'s source point",
     *_LINEAR_WORDS)(lambda n: _upsample_back(n, lambda o, i, scale: _cubic_sources(o, i, scale, n.saved["align_corners"])))


@rule("TrilinearBackward0", "y = Σ_(sum dims) x₁ · x₂ · x₃, each broadcast over the others' dims   "
      "(nn.Bilinear: y[b, o] = Σᵢⱼ x₁[b, i] · W[o, i, j] · x₂[b, j])",
      "Each factor gets the gradient times the other two factors, summed over the dims it was broadcast along.",
      "∂L/∂x₁ = Σ ∂L/∂y · x₂ · x₃", "∂L/∂x₂ = Σ ∂L/∂y · x₁ · x₃", "∂L/∂x₃ = Σ ∂L/∂y · x₁ · x₂",
      inputs={0: "i1", 1: "i2", 2: "i3"})
def _trilinear(n):
    s = n.saved
    factors = []
    for k in (1, 2, 3):
        value = saved(n, f"i{k}")
        for d in sorted(int(d) for d in s[f"expand{k}"]):  # the dims this factor is broadcast along
            value = value.unsqueeze(d)
        factors.append(value)
    g = grad(n)
    for d in sorted(int(d) for d in s["sumdim"]):
        g = g.unsqueeze(d)
    out = []
    for k in range(3):
        others = factors[(k + 1) % 3] * factors[(k + 2) % 3]
        d_k = sum_to(g * others, factors[k].shape)
        out.append(d_k.reshape(saved(n, f"i{k + 1}").shape) if _shape(n, k) is not None else None)
    return out


def _grid_coordinates(n: int, align_corners: bool, dtype) -> torch.Tensor:
    """affine_grid's normalised coordinates along one axis: −1 … 1 at the pixel centres (or the corners)."""
    if n <= 1:
        return torch.zeros(max(n, 1), dtype=dtype)
    line = torch.linspace(-1, 1, n, dtype=dtype)
    return line if align_corners else line * (n - 1) / n


@rule("AffineGridGeneratorBackward0", "grid[n, h, w] = θ[n] · (x_w, y_h, 1)   (affine_grid: a spatial transformer's sampling grid)",
      "Each entry of θ gets the gradient of every grid point times that point's base coordinate.",
      "∂L/∂θ[n] = Σ_(h, w) ∂L/∂grid[n, h, w] ⊗ (x_w, y_h, 1)")
def _affine_grid(n):
    g, s = grad(n), n.saved
    size = tuple(s["size"])
    if len(size) != 4:
        raise NotRecomputable("3-d affine grids are not recomputed yet")
    height, width = size[2], size[3]
    ys, xs = _grid_coordinates(height, s["align_corners"], g.dtype), _grid_coordinates(width, s["align_corners"], g.dtype)
    base = torch.stack([xs.expand(height, width), ys[:, None].expand(height, width), torch.ones(height, width, dtype=g.dtype)], -1)
    return [g.reshape(size[0], -1, 2).transpose(1, 2) @ base.reshape(-1, 3)]


_BILINEAR, _NEAREST = 0, 1  # grid_sample's interpolation_mode as saved
_ZEROS, _BORDER = 0, 1  # its padding_mode


@rule("GridSampler2DBackward0", "y[n, c, h, w] = x[n, c] read at the point grid[n, h, w]   (grid_sample: bilinear between "
      "the 4 pixels around the point)",
      "x gets each output's gradient spread over the 4 pixels it was read from, by their weights; the grid point "
      "gets how the read value changes as it moves (the differences of those pixels).",
      "∂L/∂x[p] = Σ_outputs weight(p) · ∂L/∂y", "∂L/∂grid = Σ_c ∂L/∂y · ∂(bilinear value)/∂(point)",
      inputs={0: "input", 1: "grid"})
def _grid_sample(n):
    s = n.saved
    g, x, grid = grad(n), saved(n, "input"), saved(n, "grid")
    mode, padding, corners = s["interpolation_mode"], s["padding_mode"], s["align_corners"]
    if mode not in (_BILINEAR, _NEAREST) or padding not in (_ZEROS, _BORDER):
        raise NotRecomputable("grid_sample with bicubic interpolation or reflection padding is not recomputed yet")
    batch, channels, height, width = x.shape

    def source(coordinate, size):  # normalised −1…1 → pixel index, and d(index)/d(coordinate)
        scale = (size - 1) / 2 if corners else size / 2
        index = (coordinate + 1) * scale if corners else ((coordinate + 1) * size - 1) / 2
        if padding == _BORDER:
            inside = (index > 0) & (index < size - 1)
            return index.clamp(0, size - 1), scale * inside
        return index, torch.full_like(index, scale)

    ix, dx = source(grid[..., 0], width)
    iy, dy = source(grid[..., 1], height)
    flat_x, flat_g = x.flatten(2), g.flatten(2)  # (N, C, H·W), (N, C, positions)
    d_x = torch.zeros_like(flat_x)

    def corner(cx, cy):  # the pixel at integer (cx, cy): its values, and where its gradient goes
        valid = ((cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)).flatten(1).unsqueeze(1)
        index = (cy.clamp(0, height - 1) * width + cx.clamp(0, width - 1)).flatten(1).unsqueeze(1).expand(-1, channels, -1)
        return flat_x.gather(2, index) * valid, index, valid

    if mode == _NEAREST:
        values, index, valid = corner(torch.round(ix).long(), torch.round(iy).long())
        d_x.scatter_add_(2, index, flat_g * valid)
        return [d_x.view_as(x), torch.zeros_like(grid)]
    x0, y0 = ix.floor(), iy.floor()
    fx, fy = (ix - x0).flatten(1).unsqueeze(1), (iy - y0).flatten(1).unsqueeze(1)  # the point's place in its cell
    x0, y0 = x0.long(), y0.long()
    d_ix = d_iy = 0
    for cx, cy, wx, wy, sx, sy in ((x0, y0, 1 - fx, 1 - fy, -1, -1), (x0 + 1, y0, fx, 1 - fy, 1, -1),
                                   (x0, y0 + 1, 1 - fx, fy, -1, 1), (x0 + 1, y0 + 1, fx, fy, 1, 1)):
        values, index, valid = corner(cx, cy)
        d_x.scatter_add_(2, index, flat_g * wx * wy * valid)
        d_ix = d_ix + (flat_g * values * sx * wy).sum(1)  # the weight wx·wy moves with the point: ∂wx/∂ix = sx
        d_iy = d_iy + (flat_g * values * sy * wx).sum(1)
    d_grid = torch.stack([d_ix.view_as(ix) * dx, d_iy.view_as(iy) * dy], -1)
    return [d_x.view_as(x), d_grid if _shape(n, 1) is not None else None]


# ---------------------------------------------------------------------------
# normalisation, embedding, dropout


def _normalised_input_grad(g_hat: torch.Tensor, x_hat: torch.Tensor, rstd: torch.Tensor, over: tuple[int, ...]) -> torch.Tensor:
    """∂L/∂x of x̂ = (x − mean)·rstd, mean and variance over ``over``, given ∂L/∂x̂."""
    count = math.prod(x_hat.shape[d] for d in over)
    return rstd / count * (count * g_hat - g_hat.sum(over, keepdim=True) - x_hat * (g_hat * x_hat).sum(over, keepdim=True))


@rule("NativeBatchNormBackward0", "y = γ · (x − μ_batch) / σ_batch + β   (per channel)",
      "γ gets Σ gradient·x̂, β the summed gradient; x gets the gradient through x̂, minus its mean and its "
      "projection on x̂, since every sample moved the batch statistics.",
      "∂L/∂x = γ/(σ·M) · (M·∂L/∂y − Σ∂L/∂y − x̂ · Σ ∂L/∂y·x̂)", "∂L/∂γ = Σ ∂L/∂y · x̂", "∂L/∂β = Σ ∂L/∂y",
      inputs={0: "input", 1: "weight"})
def _batch_norm(n):
    s = n.saved
    g, x = grad(n), saved(n, "input")
    shape = [1, -1] + [1] * (x.dim() - 2)
    over = tuple(d for d in range(x.dim()) if d != 1)
    weight = s.get("weight")
    gamma = torch.ones(x.shape[1], dtype=x.dtype) if weight is None else _whole(weight, "the saved weight")
    if s["training"]:
        mean, rstd = saved(n, "result1"), saved(n, "result2")
    else:
        mean = saved(n, "running_mean")
        rstd = (saved(n, "running_var") + s["eps"]).rsqrt()
    x_hat = (x - mean.view(shape)) * rstd.view(shape)
    g_hat = g * gamma.view(shape)
    if s["training"]:
        d_x = _normalised_input_grad(g_hat, x_hat, rstd.view(shape), over)
    else:
        d_x = g_hat * rstd.view(shape)
    return [d_x, (g * x_hat).sum(over), g.sum(over)]


@rule("NativeLayerNormBackward0", "y = γ · (x − μ) / σ + β   (μ, σ over each sample's last dims)",
      "Like batch norm, but the statistics are per sample: x's gradient loses its mean and its projection on x̂.",
      "∂L/∂x = 1/(σ·M) · (M·g − Σg − x̂ · Σ g·x̂),  g = γ·∂L/∂y", "∂L/∂γ = Σ_batch ∂L/∂y · x̂", "∂L/∂β = Σ_batch ∂L/∂y",
      inputs={0: "input", 1: "weight", 2: "bias"})
def _layer_norm(n):
    s = n.saved
    g, x = grad(n), saved(n, "input")
    normalised = len(s["normalized_shape"])
    over = tuple(range(x.dim() - normalised, x.dim()))
    batch_dims = tuple(range(x.dim() - normalised))
    mean, rstd = saved(n, "result1"), saved(n, "result2")
    x_hat = (x - mean) * rstd
    weight = s.get("weight")
    g_hat = g if weight is None else g * _whole(weight, "the saved weight")
    d_x = _normalised_input_grad(g_hat, x_hat, rstd, over)
    return [d_x, (g * x_hat).sum(batch_dims), g.sum(batch_dims)]


@rule("NativeGroupNormBackward0", "y = γ · (x − μ_g) / σ_g + β   (μ, σ per sample over each group of channels)",
      "Layer norm's rule within each group of channels; γ and β per channel, summed over samples and positions.",
      "∂L/∂x = 1/(σ·M) · (M·g − Σg − x̂ · Σ g·x̂) per group,  g = γ·∂L/∂y", "∂L/∂γ = Σ_(n, positions) ∂L/∂y · x̂",
      "∂L/∂β = Σ_(n, positions) ∂L/∂y", inputs={0: "input", 1: "weight"})
def _group_norm(n):
    s = n.saved
    g, x = grad(n), saved(n, "input")
    batch, groups = s["N"], s["group"]
    mean, rstd = saved(n, "result1").reshape(batch, groups, 1), saved(n, "result2").reshape(batch, groups, 1)
    x_hat = ((x.reshape(batch, groups, -1) - mean) * rstd).reshape(x.shape)
    channel = [1, -1] + [1] * (x.dim() - 2)
    weight = s.get("weight")
    g_hat = g if weight is None else g * _whole(weight, "the saved weight").view(channel)
    d_x = _normalised_input_grad(g_hat.reshape(batch, groups, -1), x_hat.reshape(batch, groups, -1), rstd, (2,))
    over = tuple(d for d in range(x.dim()) if d != 1)
    return [d_x.reshape(x.shape), (g * x_hat).sum(over), g.sum(over)]


@rule("EmbeddingBackward0", "y[i] = W[token i]   (a row lookup)",
      "Each looked-up row gets the gradient of every position that used it, added up; unused rows get zero.",
      "∂L/∂W[r] = Σ_(positions with token r) ∂L/∂y")
def _embedding(n):
    s = n.saved
    g, indices = grad(n), saved(n, "indices")
    if s.get("scale_grad_by_freq"):
        raise NotRecomputable("embeddings with scale_grad_by_freq are not recomputed yet")
    rows, width = s["weight_sym_argsize_0"], g.shape[-1]
    d_w = g.new_zeros(rows, width).index_add_(0, indices.reshape(-1), g.reshape(-1, width))
    padding = signed(int(s["padding_idx"]))
    if padding >= 0:
        d_w[padding] = 0
    return [d_w]


@rule("EmbeddingBagBackward0", "y[b] = Σ, mean or max of W[token] over the tokens of bag b   (nn.EmbeddingBag)",
      "Each looked-up row gets the gradient of its bag (divided by the bag's size for mean, times its per-sample "
      "weight); for max, each column's winner gets it.",
      "∂L/∂W[r] = Σ_(positions i with token r) ∂L/∂y[bag i] · wᵢ   (÷ bag size for mean)")
def _embedding_bag(n):
    s, g = n.saved, grad(n)
    indices, rows = saved(n, "indices"), s["weight_sym_argsize_0"]
    if s.get("scale_grad_by_freq"):
        raise NotRecomputable("embedding bags with scale_grad_by_freq are not recomputed yet")
    d_w = g.new_zeros(rows, g.shape[-1])
    padding = signed(int(s["padding_idx"]))
    if s["mode"] == 2:  # max: result3 holds, per bag and column, the token that won
        winners = saved(n, "result3")
        used = winners >= 0
        columns = torch.arange(g.shape[-1]).expand_as(winners)
        d_w.index_put_((winners[used], columns[used]), g[used], accumulate=True)
        return [d_w, None]
    bag = saved(n, "result1")  # offset2bag: the bag of each index position
    per_position = g[bag]
    if s["mode"] == 1:
        per_position = per_position / saved(n, "result2")[bag].clamp_min(1).unsqueeze(-1).to(g.dtype)
    if s.get("per_sample_weights") is not None:
        per_position = per_position * saved(n, "per_sample_weights").unsqueeze(-1)
    keep = indices != padding
    d_w.index_add_(0, indices[keep], per_position[keep])
    return [d_w, None]


@rule("MaxUnpool2DBackward0", "y = zeros with y.flat[idx] = x   (max_unpool2d: SegNet's decoder)",
      "Each input value was put at one place: it gets that place's gradient.", "∂L/∂x = ∂L/∂y.flat[idx]")
def _max_unpool2d(n):
    g, indices = grad(n), saved(n, "indices")
    return [g.flatten(-2).gather(-1, indices.flatten(-2)).view(indices.shape)]


@rule("CopySlices", "y = x with a slice overwritten in place   (x[idx] = v, x[:, 0].mul_(2), …)",
      "x gets the gradient outside the overwritten slice; inside it, the in-place op's own rule sends the gradient "
      "to v (and through the old values, if the op read them).",
      "∂L/∂x = ∂L/∂y outside the slice; inside it, the wrapped op's rule", "∂L/∂v = the wrapped op's rule on ∂L/∂y[idx]")
def _copy_slices(n):
    raise NotRecomputable("autograd does not expose which slice an in-place write changed")


@rule("CopyBackwards", "y = x.copy_(src)   (x's values replaced by src's, converted to x's dtype and device)",
      "x's old values are gone: they get zero; src gets the gradient, converted back to its own dtype and device.",
      "∂L/∂x = 0", "∂L/∂src = ∂L/∂y converted to src's dtype")
def _copy(n):
    raise NotRecomputable("autograd keeps no record of src's dtype and device for copy_()")


@rule("BlockDiagBackward0", "y = block_diag(A, B, …)   (the inputs down the diagonal, zeros elsewhere)",
      "Each input gets back its own block of the gradient; the zeros depend on nothing.",
      "∂L/∂Aᵢ = ∂L/∂y[the block of Aᵢ]")
def _block_diag(n):
    g = grad(n)
    shapes = [None if shape is None else (tuple(shape) if len(shape) == 2 else (1, math.prod(shape)))
              for shape in n.input_shapes]
    if any(shape is None for shape in shapes[:-1]):
        raise NotRecomputable("an input of block_diag needs no gradient and its size was not saved, "
                              "so where the later blocks start is unknown")
    out, row, col = [], 0, 0
    for shape, original in zip(shapes, n.input_shapes):
        if shape is None:  # the last input: what is left (autograd sends it a gradient even if it needs none)
            out.append(g[row:, col:])
            continue
        out.append(g[row:row + shape[0], col:col + shape[1]].reshape(original))
        row, col = row + shape[0], col + shape[1]
    return out


@rule("NativeDropoutBackward0", "y = x · mask / (1 − p)", "Dropped elements get zero; kept ones the gradient, scaled like the values.",
      "∂L/∂x = ∂L/∂y · mask · scale")
def _native_dropout(n):
    return [grad(n) * saved(n, "result1") * n.saved["scale"]]


@rule("AccumulateGrad", "p.grad += ∂L/∂p   (a leaf tensor: a parameter or an input)",
      "The end of the line: the gradient arriving at a parameter is added to its .grad (set, when .grad is None). "
      "A parameter used twice receives the sum of both uses; without zero_grad the old .grad stays in the sum.",
      )
def _accumulate(n):
    return []


# ---------------------------------------------------------------------------
# recurrent layers


@rule("MkldnnRnnLayerBackward0", "one LSTM layer: for each step t, i,f,g,o = σ,σ,tanh,σ(W_ih·x_t + b_ih + W_hh·h_(t−1) + b_hh); "
      "c_t = f·c_(t−1) + i·g; h_t = o·tanh(c_t)",
      "Backpropagation through time: the gradient of each h_t flows back through the gates into x_t, the weights and "
      "h_(t−1), c_(t−1), step by step from the last to the first; the weights collect the sum over all steps.",
      "∂L/∂x_t = W_ihᵀ · ∂L/∂gates_t", "∂L/∂W_ih = Σ_t ∂L/∂gates_t · x_tᵀ", "∂L/∂W_hh = Σ_t ∂L/∂gates_t · h_(t−1)ᵀ",
      "∂L/∂b_ih = ∂L/∂b_hh = Σ_t ∂L/∂gates_t", "∂L/∂h₀ = W_hhᵀ · ∂L/∂gates_1", "∂L/∂c₀ = ∂L/∂c_1 · f_1")
def _lstm_layer(n):
    s = n.saved
    # one node per layer and direction: a bidirectional LSTM's backward direction is a layer with reverse set
    if s.get("mode") != 2 or s.get("batch_sizes"):
        raise NotRecomputable("only LSTM layers over padded (not packed) sequences are recomputed")
    x, h0, c0 = saved(n, "input"), saved(n, "hx_"), saved(n, "cx_")  # x is (time, batch, features)
    w_ih, w_hh = saved(n, "weight0"), saved(n, "weight1")
    biases = (saved(n, "weight2") + saved(n, "weight3")) if s.get("has_biases") else torch.zeros(w_ih.shape[0], dtype=x.dtype)
    steps = range(x.shape[0] - 1, -1, -1) if s.get("reverse") else range(x.shape[0])
    # forward again, keeping every step's gates and states
    h, c, states = h0, c0, []
    for t in steps:
        i, f, g_gate, o = (x[t] @ w_ih.T + h @ w_hh.T + biases).chunk(4, dim=1)
        i, f, g_gate, o = i.sigmoid(), f.sigmoid(), g_gate.tanh(), o.sigmoid()
        c_next = f * c + i * g_gate
        states.append((t, h, c, i, f, g_gate, o, c_next))
        h, c = o * torch.tanh(c_next), c_next

    def received(k, like):
        value = n.received[k] if k < len(n.received) else None
        return torch.zeros_like(like) if value is None else _whole(value, f"the received gradient {k}")

    d_out = received(0, torch.zeros(x.shape[0], *h0.shape, dtype=x.dtype))
    d_h, d_c = received(1, h0), received(2, c0)
    d_x, d_w_ih, d_w_hh = torch.zeros_like(x), torch.zeros_like(w_ih), torch.zeros_like(w_hh)
    d_b = torch.zeros_like(biases)
    # backward through time, last step first
    for t, h_prev, c_prev, i, f, g_gate, o, c_t in reversed(states):
        d_h = d_h + d_out[t]
        tanh_c = torch.tanh(c_t)
        d_o = d_h * tanh_c
        d_c = d_c + d_h * o * (1 - tanh_c**2)
        d_i, d_f, d_g = d_c * g_gate, d_c * c_prev, d_c * i
        d_gates = torch.cat([d_i * i * (1 - i), d_f * f * (1 - f), d_g * (1 - g_gate**2), d_o * o * (1 - o)], dim=1)
        d_x[t] = d_gates @ w_ih
        d_w_ih += d_gates.T @ x[t]
        d_w_hh += d_gates.T @ h_prev
        d_b += d_gates.sum(0)
        d_h, d_c = d_gates @ w_hh, d_c * f
    return [d_x, d_w_ih, d_w_hh, d_b, d_b, d_h, d_c]


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
