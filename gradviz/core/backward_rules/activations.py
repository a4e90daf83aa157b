"""Backward rules: activations: the gradient times the activation's slope at the input.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gradviz.core.backward_rules.registry import (
    _shape,
    alias,
    grad,
    passed,
    rule,
    saved,
    signed,
    sum_to,
)


@rule("ReluBackward0", "y = max(0, x)", "The gradient passes where the unit was active (y > 0) and stops where it was not.",
      "∂L/∂x = ∂L/∂y · [y > 0]")
def _relu(n):
    return [passed(grad(n), saved(n, "result") > 0)]


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
    return [passed(grad(n), (x > n.saved["min_val"]) & (x < n.saved["max_val"]))]


@rule("HardswishBackward0", "y = x · relu6(x + 3) / 6   (MobileNetV3)",
      "0 below −3, the identity's slope 1 above 3, and x/3 + ½ in between.",
      "∂L/∂x = ∂L/∂y · (0 if x < −3, x/3 + ½ if x ≤ 3, else 1)", inputs={0: "self"})
def _hardswish(n):
    x = saved(n, "self")
    return [passed(grad(n) * torch.where(x <= 3, x / 3 + 0.5, 1.0), x >= -3)]


@rule("HardsigmoidBackward0", "y = relu6(x + 3) / 6   (MobileNetV3's squeeze-excite gate)",
      "A straight line of slope 1/6 between −3 and 3, flat outside.", "∂L/∂x = ∂L/∂y / 6 where −3 < x < 3, 0 elsewhere",
      inputs={0: "self"})
def _hardsigmoid(n):
    x = saved(n, "self")
    return [passed(grad(n), (x > -3) & (x < 3)) / 6]


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
    return [passed(grad(n), saved(n, "self") > n.saved["threshold"])]
