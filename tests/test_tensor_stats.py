"""Finiteness read off norms (gradviz.core.tensor_stats): right for NaN, Inf and huge
finite values, and no element-by-element pass where the norm already says NaN."""
import torch

from gradviz.core import tensor_stats


def test_finite_given_norms_reads_nan_off_the_norm_and_checks_only_overflow(monkeypatch):
    nan = torch.tensor([1.0, float("nan")])
    inf = torch.tensor([1.0, float("inf")])
    huge = torch.tensor([3e38, 3e38])  # finite, but its norm overflows float32 to +Inf
    plain = torch.tensor([3.0, 4.0])
    tensors = [nan, inf, huge, plain]
    norms = tensor_stats.norms(tensors)
    assert norms[0] != norms[0] and norms[1] == norms[2] == float("inf") and norms[3] == 5.0

    checked = []
    real_isfinite = torch.isfinite

    def counting_isfinite(t):
        checked.append(t.tolist())
        return real_isfinite(t)

    monkeypatch.setattr(torch, "isfinite", counting_isfinite)
    assert tensor_stats.finite_given_norms(tensors, norms) == [False, False, True, True]
    # Only the two +Inf norms are looked at value by value: a NaN norm means a NaN.
    assert checked == [inf.tolist(), huge.tolist()]
    assert tensor_stats.all_finite(tensors) == [False, False, True, True]
