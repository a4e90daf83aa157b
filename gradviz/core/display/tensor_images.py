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

With ``per_row`` the filters wrap: ``per_row`` output channels side by side,
then the next band below (a two-pixel gap between bands when there are
several input channels, so the bands stay apart from the rows). Six 5×5
filters as two rows of three suit a short, narrow picture better than one
row of six; :func:`best_per_row` picks the count that draws a weight largest.

:func:`layout` also returns an index map of the same shape holding the flat
index into the tensor under each pixel (-1 in gaps), so hovering a pixel can
name the element: ``conv1.weight[3, 0, 2, 4]``.
"""
from __future__ import annotations

import numpy as np

GAP = 1


def layout(values: np.ndarray, per_row: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(image, index)`` for a tensor's values; see the module docstring."""
    values = np.asarray(values, dtype=np.float64)
    index = np.arange(values.size, dtype=np.int64).reshape(values.shape)
    return _arrange(values, np.nan, per_row), _arrange(index, -1, per_row)


def _kernel_grid(shape: tuple) -> tuple[int, int, int, int] | None:
    """``(out, in, kh, kw)`` for tensors drawn as a grid of kernels, else None."""
    if len(shape) == 4:
        return tuple(int(n) for n in shape)
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), 1, int(shape[2])
    return None


def _band_gap(inp: int) -> int:
    return GAP if inp == 1 else 2 * GAP


def image_shape(shape: tuple, per_row: int | None = None) -> tuple[int, int]:
    """``(rows, columns)`` of the picture :func:`layout` draws for a tensor of ``shape``."""
    grid = _kernel_grid(tuple(shape))
    if grid is None:
        if len(shape) == 0:
            return 1, 1
        if len(shape) == 1:
            return 1, int(shape[0])
        return int(shape[0]), int(np.prod(shape[1:]))
    out, inp, kh, kw = grid
    per_row = max(1, min(out, per_row or out))
    bands = -(-out // per_row)
    band = inp * (kh + GAP) - GAP
    return bands * band + (bands - 1) * _band_gap(inp), per_row * (kw + GAP) - GAP


def best_per_row(shape: tuple, width: float, height: float) -> int | None:
    """How many filters side by side draw one weight largest in ``width × height``
    pixels (None: not a kernel grid; all of them in one row without room). Ties go to evenly filled bands, then to fewer bands."""
    grid = _kernel_grid(tuple(shape))
    if grid is None:
        return None
    out = grid[0]
    if width <= 0 or height <= 0:  # no room known yet (a hidden panel): the plain layout
        return out

    def score(n):
        rows, cols = image_shape(shape, n)
        bands = -(-out // n)
        # largest weight first; then bands filled evenly (3 + 3, not 4 + 2); then fewer bands
        return round(min(width / cols, height / rows), 2), -(bands * n - out), n

    return max(range(out, 0, -1), key=score)


def _arrange(a: np.ndarray, fill, per_row: int | None = None) -> np.ndarray:
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
        per_row = max(1, min(out, per_row or out))
        band = inp * (kh + GAP) - GAP + _band_gap(inp)  # one band of filters and the gap under it
        grid = np.full(image_shape(a.shape, per_row), fill, dtype=a.dtype)
        for o in range(out):
            top, c = (o // per_row) * band, (o % per_row) * (kw + GAP)
            for i in range(inp):
                r = top + i * (kh + GAP)
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
