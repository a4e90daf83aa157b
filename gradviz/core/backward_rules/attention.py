"""Backward rules: attention.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import math

import torch

from gradviz.core.backward_rules.registry import NotRecomputable, grad, rule, saved
from gradviz.core.node_grads import TensorSummary


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
