"""Backward rules: losses.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gradviz.core.backward_rules.registry import (
    _shape,
    _whole,
    alias,
    grad,
    rule,
    saved,
    signed,
)
from gradviz.core.node_grads import NodeGradients

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
