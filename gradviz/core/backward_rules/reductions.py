"""Backward rules: reductions.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import math

import torch

from gradviz.core.backward_rules.registry import (
    NotRecomputable,
    dims,
    grad,
    rule,
    saved,
    signed,
)
from gradviz.core.node_grads import NodeGradients


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
