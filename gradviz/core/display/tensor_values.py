"""A recorded tensor as the float64 numpy values a view draws (heatmaps, histograms,
the output bars): the one conversion every panel uses, so a tensor one panel can draw
no other panel chokes on."""
from __future__ import annotations

import numpy as np

__all__ = ["plotted_values"]


def plotted_values(tensor) -> np.ndarray:
    """``tensor`` (a torch tensor, or anything numpy takes) as a float64 array of its shape.

    * a sparse gradient (``nn.Embedding(sparse=True)``) as the dense tensor it adds
      to ``.grad``: zeros in the rows the batch did not touch;
    * half precision widened (numpy has no bfloat16, so ``.numpy()`` raised);
    * complex values as their magnitudes (a colour or a bar has one number).
    """
    if not hasattr(tensor, "detach"):
        return np.asarray(tensor, dtype=np.float64)
    values = tensor.detach()
    if values.layout != _strided():
        values = values.to_dense()
    if values.is_complex():
        values = values.abs()
    return values.to("cpu").double().numpy()


def _strided():
    import torch  # (imported by every caller already: they hold tensors)

    return torch.strided
