"""Resampling as matrices, for the rules of ops that move values between cells (average
pooling, upsampling, reflect and replicate padding).

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

from typing import Sequence

import torch

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
