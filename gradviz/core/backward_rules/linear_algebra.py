"""Backward rules: linear algebra.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import math

import torch

from gradviz.core.backward_rules.registry import (
    NotRecomputable,
    _shape,
    grad,
    rule,
    saved,
    signed,
    sum_to,
)


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
