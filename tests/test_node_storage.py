"""Storage limits of per-node gradients (issue 16, item 1): tensors up to the
session's whole-tensor limit are kept whole on the CPU, larger ones as a
summary whose numbers match a reference computed here, and the records'
memory stays inside the history's byte budget."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gradviz.core.history import NODE_ENTRY_BYTES, SUMMARY_BYTES, node_gradients_bytes, record_bytes
from gradviz.core.node_grads import HISTOGRAM_BINS, HISTOGRAM_SAMPLE, NodeRecorder, TensorSummary, keep, summarise
from gradviz.core.session import TrainingSession


def reference_histogram(values: torch.Tensor, low: float, high: float) -> list[int]:
    """Counts per bin by comparing with the bin edges, value by value (float64)."""
    values = values.double()
    width = (high - low) / HISTOGRAM_BINS
    counts = [0] * HISTOGRAM_BINS
    for v in values.tolist():
        counts[min(HISTOGRAM_BINS - 1, max(0, int((v - low) // width)))] += 1
    return counts


def test_small_tensors_are_kept_whole_as_independent_cpu_copies():
    grad = torch.randn(8, 8)
    kept = keep(grad, limit=64)
    assert isinstance(kept, torch.Tensor) and kept.device.type == "cpu"
    torch.testing.assert_close(kept, grad)
    grad.add_(1.0)  # the engine may reuse a gradient as .grad and change it in place
    assert not torch.equal(kept, grad)
    assert isinstance(keep(torch.randn(65), limit=64), TensorSummary)  # one over the limit


def test_summary_numbers_match_a_reference():
    torch.manual_seed(0)
    values = torch.randn(3, 50, 41).relu()  # 6,150 values, about half exactly zero
    summary = summarise(values)
    flat = values.reshape(-1).double()
    assert summary.shape == (3, 50, 41) and summary.dtype == "torch.float32" and summary.numel == 6150
    assert summary.norm == pytest.approx(math.sqrt(float((flat * flat).sum())), rel=1e-5)
    assert (summary.min, summary.max) == (float(flat.min()), pytest.approx(float(flat.max())))
    assert summary.mean == pytest.approx(float(flat.mean()), rel=1e-5)
    assert summary.zero_fraction == pytest.approx(float((flat == 0).sum()) / 6150)
    assert 0.4 < summary.zero_fraction < 0.6
    assert list(summary.histogram) == reference_histogram(flat, summary.min, summary.max)
    assert sum(summary.histogram) == 6150 and summary.histogram[-1] >= 1  # the maximum is in the top bin
    assert summary.nonfinite == 0


def test_summary_skips_nan_and_inf_and_counts_them():
    values = torch.linspace(-1.0, 1.0, 5000)
    values[7], values[8], values[9] = float("nan"), float("inf"), float("-inf")
    summary = summarise(values)
    finite = torch.cat([values[:7], values[10:]]).double()
    assert summary.nonfinite == 3 and sum(summary.histogram) == 4997
    assert summary.min == pytest.approx(-1.0) and summary.max == pytest.approx(1.0)
    assert summary.mean == pytest.approx(float(finite.mean()), abs=1e-6)
    assert list(summary.histogram) == reference_histogram(finite, summary.min, summary.max)


def test_summary_of_constant_half_and_integer_tensors():
    constant = summarise(torch.full((5000,), 2.5))
    assert constant.min == constant.max == 2.5 and sum(constant.histogram) == 5000
    half = summarise(torch.full((5000,), 300.0, dtype=torch.float16))  # its squares overflow float16
    assert half.dtype == "torch.float16" and half.norm == pytest.approx(300.0 * math.sqrt(5000), rel=1e-3)
    ints = summarise(torch.arange(5000))
    assert (ints.min, ints.max, sum(ints.histogram)) == (0.0, 4999.0, 5000)
    assert list(ints.histogram) == reference_histogram(torch.arange(5000), 0.0, 4999.0)


class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(200, 100)
        self.head = nn.Linear(100, 1)

    def forward(self, x):
        return self.head(torch.relu(self.fc(x)))


def record_one_backward(model: nn.Module, limit: int):
    """``(recorder, graph)``: one forward and backward of ``model`` on a random batch, recorded."""
    from gradviz.core.graph import autograd_graph

    recorder = NodeRecorder(whole_tensor_limit=limit)
    with recorder.forward():
        loss = model(torch.randn(4, 200)).pow(2).mean()
    graph = autograd_graph(loss, model)
    with recorder.backward(graph, [loss]):
        loss.backward()
    return recorder, graph


def test_the_whole_tensor_limit_decides_per_tensor(one_torch_thread):
    torch.manual_seed(0)
    session = TrainingSession(Wide(), inputs=torch.randn(4, 200), node_gradients=True, whole_tensor_limit=400)
    record = session.run_iteration()
    for entry in record.node_gradients.values():
        for value in [*entry.received, *entry.produced, *entry.outputs, *entry.saved.values()]:
            if isinstance(value, torch.Tensor):
                assert value.numel() <= 400 and value.device.type == "cpu"
            elif isinstance(value, TensorSummary):
                assert value.numel > 400
    weight = next(e for e in record.node_gradients.values()
                  if e.is_accumulate and e.variable is not None and tuple(e.variable.shape) == (100, 200))
    assert isinstance(weight.grad_after, TensorSummary) and weight.grad_after.numel == 20_000
    assert weight.grad_after.norm == pytest.approx(float(record.grads["fc.weight"].norm()), rel=1e-5)


def test_node_gradients_count_in_the_history_budget(one_torch_thread):
    torch.manual_seed(0)
    limit = 50_000  # everything kept whole: the per-node tensors outweigh the parameter copies
    session = TrainingSession(Wide(), inputs=torch.randn(64, 200), node_gradients=True,
                              whole_tensor_limit=limit, max_history=100)
    record = session.run_iteration()
    per_node = node_gradients_bytes(record.node_gradients)
    whole = sum(v.element_size() * v.nelement() for e in record.node_gradients.values()
                for v in [*e.received, *e.produced] if isinstance(v, torch.Tensor))
    assert per_node >= whole > 3 * 4 * 20_000  # more than the parameter copies of the record
    # Counted as held: each copy once, however many entries share it (a gradient one
    # Node produced is the very copy the next one received), node values included.
    unique: dict[int, int] = {}

    def note(value):
        if isinstance(value, torch.Tensor):
            unique[id(value)] = value.element_size() * value.nelement()
        elif isinstance(value, TensorSummary):
            unique[id(value)] = SUMMARY_BYTES
        elif isinstance(value, (list, tuple)):
            for item in value:
                note(item)
        elif isinstance(value, dict):
            note(list(value.values()))

    for e in record.node_gradients.values():
        note([e.received, e.produced, e.outputs, e.saved, e.variable, e.grad_before, e.grad_after])
    note(record.node_values)
    held = sum(unique.values())
    assert per_node > held, "entries share copies: the walk counts them several times"
    assert record_bytes(record) >= held + NODE_ENTRY_BYTES * len(record.node_gradients) + 3 * 4 * 20_101
    assert record_bytes(record) < per_node + 3 * 4 * 20_101

    budget = 4 * record_bytes(record)
    session = TrainingSession(Wide(), inputs=torch.randn(64, 200), node_gradients=True,
                              whole_tensor_limit=limit, max_history=100, max_history_bytes=budget)
    for _ in range(8):
        session.run_iteration()
        assert session.history.nbytes <= budget
        assert sum(record_bytes(r) for r in session.history) == session.history.nbytes
    assert len(session.history) < 5  # the byte budget, not max_history, bounds the kept records


def test_a_summary_is_counted_small():
    recorder = NodeRecorder(whole_tensor_limit=10)
    summary = recorder._keep(torch.randn(1000))
    assert isinstance(summary, TensorSummary)

    class Entry:
        received, produced, outputs, saved = [summary], [None], [], {"n": 3}
        variable = grad_before = grad_after = None

    assert node_gradients_bytes({"n0": Entry()}) < SUMMARY_BYTES + 1000 < 1000 * 4


def test_views_of_one_tensor_share_a_summary_but_keep_their_shape():
    recorder = NodeRecorder(whole_tensor_limit=10)
    weight = torch.randn(40, 30)
    first = recorder._keep(weight)
    transposed = recorder._keep(weight.t())
    flat = recorder._keep(weight.reshape(-1))
    assert (first.shape, transposed.shape, flat.shape) == ((40, 30), (30, 40), (1200,))
    assert transposed.histogram == first.histogram and flat.norm == first.norm
    assert len(recorder._summaries) == 1  # summarised once
    every_other = recorder._keep(weight[:, ::2])  # a strided slice holds other values
    assert every_other.shape == (40, 15) and sum(every_other.histogram) == 600
    weight.mul_(2.0)  # changed in place: summarised again
    doubled = recorder._keep(weight)
    assert doubled.max == pytest.approx(2 * first.max) and len(recorder._summaries) == 3


def test_grad_after_an_accumulation_is_the_accumulated_gradient(one_torch_thread):
    torch.manual_seed(0)
    model = Wide()
    session = TrainingSession(model, inputs=torch.randn(4, 200), node_gradients=True, optimizer="sgd")
    session.run_iteration()
    # A second backward without zero_grad: .grad is changed in place, grad_after must say so.
    model.zero_grad(set_to_none=False)
    for p in model.parameters():
        p.grad.fill_(1.0)
    recorder, graph = record_one_backward(model, limit=10)
    (key,) = [k for k, a in graph.nodes(data=True) if a.get("name") == "fc.weight"]
    entry = recorder.nodes[key]
    assert entry.grad_before.min == entry.grad_before.max == 1.0
    assert entry.grad_after.norm == pytest.approx(float(model.fc.weight.grad.norm()), rel=1e-5)
    assert entry.grad_after.norm != pytest.approx(entry.received[0].norm, rel=1e-3)


def test_a_first_accumulation_keeps_the_gradient_received_once(one_torch_thread, monkeypatch):
    """With .grad None (after zero_grad), .grad after AccumulateGrad is the gradient
    it received: the same values, kept once. A small gradient's copy held by the
    record stopped AccumulateGrad from taking the tensor itself, so .grad was a clone
    and was copied (or summarised) again for every parameter."""
    import gradviz.core.node_grads as node_grads

    torch.manual_seed(0)
    model = Wide()
    sizes = []
    summarise_all = node_grads.summarise
    monkeypatch.setattr(node_grads, "summarise", lambda t: sizes.append(t.numel()) or summarise_all(t))
    for limit in (100_000, 10):  # every tensor whole; every tensor summarised
        model.zero_grad(set_to_none=True)
        sizes.clear()
        recorder, graph = record_one_backward(model, limit)
        for name, parameter in model.named_parameters():
            (key,) = [k for k, a in graph.nodes(data=True) if a.get("name") == name]
            entry = recorder.nodes[key]
            assert entry.grad_before is None
            if isinstance(entry.grad_after, torch.Tensor):
                torch.testing.assert_close(entry.grad_after, parameter.grad)
                assert entry.grad_after.data_ptr() == entry.received[0].data_ptr(), name  # one copy
            else:
                assert entry.grad_after.norm == pytest.approx(float(parameter.grad.norm()), rel=1e-5)
                assert entry.grad_after.shape == tuple(parameter.shape)
        if limit == 10:  # the weight's value and its gradient: one summary each
            assert sizes.count(20_000) == 2, sizes



def test_grad_after_shows_what_a_post_accumulate_grad_hook_made_of_grad(one_torch_thread):
    """A hook run after accumulation (an optimizer fused into backward, a gradient
    scaler) changes .grad in place: .grad after is that, not the gradient received."""
    torch.manual_seed(0)
    model = Wide()

    def halve(parameter):
        parameter.grad.mul_(0.5)

    model.fc.weight.register_post_accumulate_grad_hook(halve)
    session = TrainingSession(model, inputs=torch.randn(4, 200), node_gradients=True, whole_tensor_limit=100_000)
    record = session.run_iteration()
    (key,) = [k for k, a in record.graph.nodes(data=True) if a.get("name") == "fc.weight"]
    entry = record.node_gradients[key]
    torch.testing.assert_close(entry.grad_after, record.grads["fc.weight"])
    torch.testing.assert_close(entry.grad_after, entry.received[0] * 0.5)

def test_recording_leaves_autograd_free_to_take_a_gradient_as_grad(one_torch_thread):
    """Without a recorder AccumulateGrad takes a fresh gradient as .grad (no copy). The
    record's cache held the gradient itself, so every parameter's .grad became a
    clone: the recorder changed what autograd did (and paid for a copy each)."""

    torch.manual_seed(0)
    model = Wide()
    arriving = {}
    for name, parameter in model.named_parameters():
        parameter.register_hook(lambda g, name=name: arriving.__setitem__(name, g.data_ptr()))
    record_one_backward(model, limit=100_000)
    taken = {name: p.grad.data_ptr() == arriving[name] for name, p in model.named_parameters()}
    assert all(taken.values()), taken


def test_large_tensors_summarised_in_chunks_match_the_whole_tensor_path(monkeypatch):
    import gradviz.core.node_grads as node_grads

    torch.manual_seed(0)
    monkeypatch.setattr(node_grads, "CHUNK_ELEMENTS", 1000)  # 5,000+ values: several chunks, a short last one
    values = torch.randn(71, 77).relu()
    for tensor in (values, values.t(), values.half(), (values * 10).to(torch.int64)):
        chunked = node_grads.summarise(tensor)
        assert chunked.shape == tuple(tensor.shape) and chunked.dtype == str(tensor.dtype)
        flat = tensor.reshape(-1).double()
        assert chunked.norm == pytest.approx(float(flat.norm()), rel=1e-4)
        assert (chunked.min, chunked.max) == (float(flat.min()), float(flat.max()))
        assert chunked.mean == pytest.approx(float(flat.mean()), rel=1e-4)
        assert chunked.zero_fraction == float((flat == 0).sum()) / flat.numel()
        assert list(chunked.histogram) == reference_histogram(flat, chunked.min, chunked.max)
        assert sum(chunked.histogram) == 71 * 77
    with_nan = values.clone()
    with_nan[3, 4] = float("nan")
    summary = node_grads.summarise(with_nan)  # falls back to the whole-tensor path: NaN counted, not binned
    assert summary.nonfinite == 1 and sum(summary.histogram) == 71 * 77 - 1


def test_a_gradient_passed_on_is_copied_once_and_changes_are_seen():
    recorder = NodeRecorder(whole_tensor_limit=100)
    grad = torch.randn(4, 5)
    first, again = recorder._keep(grad), recorder._keep(grad)
    assert again is first and first is not grad  # one CPU copy, shared by both entries
    assert recorder._keep(grad.t()) is not first  # another view: its own copy, its own shape
    assert recorder._keep(grad.t()).shape == (5, 4)
    grad.add_(1.0)  # changed in place (an accumulation): copied again, the first copy untouched
    changed = recorder._keep(grad)
    torch.testing.assert_close(changed, grad)
    assert not torch.equal(changed, first)


def test_input_shapes_are_the_inputs_shapes_also_when_broadcast():
    from gradviz.core.graph import autograd_graph

    x = torch.randn(3, 1, requires_grad=True)
    y = torch.randn(3, 4, requires_grad=True)
    recorder = NodeRecorder()
    with recorder.forward():
        loss = (x + y).mul(torch.randn(4)).sum()
    graph = autograd_graph(loss)
    with recorder.backward(graph, [loss]):
        loss.backward()
    (add,) = [recorder.nodes[k] for k in recorder.nodes if recorder.nodes[k].label == "AddBackward0"]
    assert add.input_shapes == [(3, 1), (3, 4)]
    (mul,) = [recorder.nodes[k] for k in recorder.nodes if recorder.nodes[k].label == "MulBackward0"]
    assert mul.input_shapes == [(3, 4), None]  # the constant needs no gradient


@pytest.mark.parametrize("repeat", [10, 300_000])  # the whole-tensor path and the chunked one
def test_histogram_of_a_range_too_narrow_for_a_float32_scale(repeat):
    """Values 1e-40 apart (subnormal gradients): bins / (high - low) overflows float32;
    it used to give NaN bins and bincount raised in the middle of backward."""
    values = torch.tensor([0.0, 1e-40, 2e-40, 3e-40] * repeat, dtype=torch.float32)
    summary = summarise(values)
    assert sum(1 for count in summary.histogram if count) == 4
    assert summary.zero_fraction == 0.25  # exact, also where the histogram is a sample
    if summary.histogram_sample is None:
        assert sum(summary.histogram) == values.numel()
        assert summary.histogram[0] == summary.histogram[-1] == repeat
    else:  # a sample of the four values, a quarter each (within a few standard errors)
        assert sum(summary.histogram) == summary.histogram_sample == HISTOGRAM_SAMPLE
        for count in (c for c in summary.histogram if c):
            assert abs(count - HISTOGRAM_SAMPLE / 4) < 0.05 * HISTOGRAM_SAMPLE


def test_a_large_tensor_keeps_exact_statistics_and_a_histogram_of_a_spread_sample():
    """Above HISTOGRAM_SAMPLE values the histogram counts one value from each of
    HISTOGRAM_SAMPLE equal stretches: the very values at the sample's positions,
    binned as a reference would; the statistics stay exact, whole-tensor and
    chunked alike, and the sample's bars keep the tensor's shape even where a
    fixed stride would alias with a channel pattern."""
    import gradviz.core.node_grads as node_grads

    torch.manual_seed(0)
    activation = torch.randn(64, 6, 28, 28).relu()  # LeNet's conv1 activation: chunked on the CPU
    pooled = torch.randn(64, 6, 14, 14).relu()      # below a chunk: the whole-tensor path
    for tensor in (activation, pooled, pooled.half()):
        summary = summarise(tensor)
        flat = tensor.reshape(-1).double()
        assert summary.zero_fraction == float((flat == 0).sum()) / flat.numel()
        assert summary.mean == pytest.approx(float(flat.mean()), rel=1e-5)
        assert summary.norm == pytest.approx(float(flat.norm()), rel=1e-5)
        assert (summary.min, summary.max) == (float(flat.min()), float(flat.max()))
        assert summary.histogram_sample == HISTOGRAM_SAMPLE == sum(summary.histogram)
        sample = flat[node_grads._sample_positions(flat.numel())]
        assert list(summary.histogram) == reference_histogram(sample, summary.min, summary.max)
        assert summarise(tensor).histogram == summary.histogram  # the same sample every time
    # A value that changes with every 18th element: a fixed stride of
    # numel // HISTOGRAM_SAMPLE = 36 would see one value only; the sample sees
    # all three, a third each.
    index = torch.arange(36 * HISTOGRAM_SAMPLE + 5) % 18
    patterned = (index < 6).float() + (index < 12).float()
    counts = [c for c in summarise(patterned).histogram if c]
    assert len(counts) == 3 and all(abs(c - HISTOGRAM_SAMPLE / 3) < 0.05 * HISTOGRAM_SAMPLE for c in counts)
    # Small enough: every value counted, histogram_sample None.
    small = summarise(torch.randn(HISTOGRAM_SAMPLE))
    assert small.histogram_sample is None and sum(small.histogram) == HISTOGRAM_SAMPLE


def test_finite_values_whose_squares_overflow_keep_a_finite_norm_and_no_warning(recwarn):
    """3e38 squared overflows float32 (the dot over the chunks, and the torch norm):
    the statistics are then taken again in float64, with and without a NaN beside them."""
    values = torch.full((5000,), 3e38)
    summary = summarise(values)
    assert summary.nonfinite == 0 and summary.norm == pytest.approx(3e38 * math.sqrt(5000), rel=1e-6)
    assert summary.mean == pytest.approx(3e38, rel=1e-6) and summary.min == summary.max == pytest.approx(3e38)
    values[3] = float("nan")
    with_nan = summarise(values)
    assert with_nan.nonfinite == 1 and with_nan.norm == pytest.approx(3e38 * math.sqrt(4999), rel=1e-6)
    assert with_nan.mean == pytest.approx(3e38, rel=1e-6)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
