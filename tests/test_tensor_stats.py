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


def test_norms_of_sparse_and_half_precision_gradients():
    """An nn.Embedding(sparse=True) gradient stopped every recorded iteration (the fused
    norm takes dense tensors only); bfloat16 norms came back rounded to 8 significant
    bits (0.5078125 for 0.50792)."""
    dense = torch.tensor([[0.0, 3.0], [4.0, 0.0], [0.0, 0.0]])
    sparse = dense.to_sparse()
    twice = torch.sparse_coo_tensor([[0, 0], [1, 1]], [3.0, 4.0], (3, 2), check_invariants=True)  # uncoalesced: 3 + 4 at one place
    half = torch.full((1000,), 0.01).bfloat16() + torch.linspace(0, 0.001, 1000).bfloat16()
    norms = tensor_stats.norms([sparse, dense.double(), twice, half])
    assert norms[:3] == [5.0, 5.0, 7.0]
    exact = float(torch.linalg.vector_norm(half.double()))
    assert abs(norms[3] - exact) < 1e-6 * exact, (norms[3], exact)
    assert tensor_stats.all_finite([sparse, torch.tensor([1.0, float("inf")]).to_sparse()]) == [True, False]
