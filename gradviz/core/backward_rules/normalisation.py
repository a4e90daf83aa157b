"""Backward rules: normalisation, embedding, dropout.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import math

import torch

from gradviz.core.backward_rules.registry import (
    NotRecomputable,
    _shape,
    _whole,
    grad,
    input_dtype,
    rule,
    saved,
    signed,
    sum_to,
)


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
    g = grad(n)
    return [torch.zeros_like(g), sum_to(g, _shape(n, 1)).to(input_dtype(n, 1))]  # src may have been broadcast


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
