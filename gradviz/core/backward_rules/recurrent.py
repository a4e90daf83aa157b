"""Backward rules: recurrent layers.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import torch

from gradviz.core.backward_rules.registry import NotRecomputable, _whole, rule, saved


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
