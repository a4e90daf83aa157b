"""Lay parameter tensors out as 2-D images (pure numpy: no Qt, no torch).

* conv kernels ``(out, in, kh, kw)``: a grid of small ``kh × kw`` images, one
  column per output channel (each column is one filter) and one row per input
  channel, separated by a one-pixel gap (NaN, drawn transparent). Columns for
  the output channels because there are usually more of them: the grid comes
  out wide, which suits the side-by-side panels (conv1 of LeNet is one row of
  six 5×5 filters);
* ``(out, in, k)`` (Conv1d): the same grid of ``1 × k`` strips;
* matrices ``(out, in)``: as they are;
* vectors (biases): a ``1 × N`` strip;
* anything else: first dimension by the rest.

:func:`layout` also returns an index map of the same shape holding the flat
index into the tensor under each pixel (-1 in gaps), so hovering a pixel can
name the element: ``conv1.weight[3, 0, 2, 4]``.
"""
from __future__ import annotations

import numpy as np

GAP = 1


def layout(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(image, index)`` for a tensor's values; see the module docstring."""
    values = np.asarray(values, dtype=np.float64)
    index = np.arange(values.size, dtype=np.int64).reshape(values.shape)
    return _arrange(values, np.nan), _arrange(index, -1)


def _arrange(a: np.ndarray, fill) -> np.ndarray:
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    if a.ndim == 2:
        return a
    if a.ndim == 3:
        a = a[:, :, None, :]
    if a.ndim == 4:
        out, inp, kh, kw = a.shape
        grid = np.full((inp * (kh + GAP) - GAP, out * (kw + GAP) - GAP), fill, dtype=a.dtype)
        for o in range(out):
            for i in range(inp):
                r, c = i * (kh + GAP), o * (kw + GAP)
                grid[r:r + kh, c:c + kw] = a[o, i]
        return grid
    return a.reshape(a.shape[0], -1)


def element_index(shape: tuple, flat: int) -> tuple[int, ...]:
    """The tensor index of flat position ``flat`` (``()`` for a scalar)."""
    return tuple(int(i) for i in np.unravel_index(int(flat), shape)) if shape else ()


def symmetric_limit(*arrays: np.ndarray | None) -> float:
    """Largest finite |value| over the arrays, for a colour scale centred on zero
    (a tiny positive number when there is none, so the scale stays valid)."""
    top = largest_finite(*arrays)
    return top if top else 1e-12


def largest_finite(*arrays: np.ndarray | None) -> float | None:
    """Largest finite |value| over the arrays; None when all are zero, NaN or Inf."""
    top = 0.0
    for a in arrays:
        if a is None or a.size == 0:
            continue
        finite = np.abs(a[np.isfinite(a)])
        if finite.size:
            top = max(top, float(finite.max()))
    return top if top > 0 else None
