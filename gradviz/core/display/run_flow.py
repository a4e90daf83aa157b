"""Gradient flow by depth: each layer's gradient norm, first layer first (Qt-free).

A layer is a parameter's owning module (``"encoder.0.weight"`` belongs to
``"encoder.0"``); its norm is the L2 norm of all its parameters' gradients
together, ``sqrt(sum of the parameters' squared norms)``, which is what
``clip_grad_norm_`` would measure for that layer alone. Vanishing gradients
show as a curve falling towards the input, exploding ones as a curve rising.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

__all__ = ["layer_of", "layer_norms"]


def layer_of(param_name: str) -> str:
    """The module that owns a parameter: everything before the last dot (``""`` for a top-level parameter)."""
    return param_name.rpartition(".")[0]


def layer_norms(param_names: Iterable[str], grad_norms: Mapping[str, float]) -> list[tuple[str, float | None]]:
    """``[(layer, gradient norm), ...]`` in model order (the order of ``param_names``).

    A layer whose parameters have no gradient (frozen, unused) is None; one
    with a NaN/Inf gradient anywhere is NaN/Inf.
    """
    order: list[str] = []
    squares: dict[str, float | None] = {}
    for name in param_names:
        layer = layer_of(name) or name
        if layer not in squares:
            order.append(layer)
            squares[layer] = None
        norm = grad_norms.get(name)
        if norm is None:
            continue
        squares[layer] = (squares[layer] or 0.0) + norm * norm
    return [(layer, None if squares[layer] is None else math.sqrt(squares[layer])) for layer in order]
