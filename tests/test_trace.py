"""Tests for gradviz.core.trace: trace_backward and BackwardTrace."""
from __future__ import annotations

import math
import time

import pytest
import torch
from torch import nn

import gradviz
import gradviz.core.trace as trace_module
from gradviz.core.graph import autograd_graph, detach_graph
from gradviz.core.trace import BackwardTrace, trace_backward
from tutorial_net import TutorialNet as LeNet


def spy_on_hooks(monkeypatch) -> list:
    """Counts the calls of the trace's per-Node hooks (each calls ``_NormBatch.add``)."""
    calls = []
    original = trace_module._NormBatch.add

    def add(self, *args):
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(trace_module._NormBatch, "add", add)
    return calls


class Residual(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc = nn.Linear(width, width)

    def forward(self, x):
        return x + torch.relu(self.fc(x))


def lenet_setup(seed=0):
    torch.manual_seed(seed)
    model = LeNet()
    loss = nn.MSELoss()(model(torch.randn(1, 1, 32, 32)), torch.randn(1, 10))
    return model, loss, autograd_graph(loss, model)


def residual_setup(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), Residual(4), Residual(4), nn.Linear(4, 1))
    x = torch.randn(6, 3, requires_grad=True)  # a leaf too, with a branch
    loss = model(x).pow(2).mean() + x.sum() * 0.1
    return model, loss, autograd_graph(loss, model)


def assert_valid_order(graph, order):
    """Every node runs after all nodes that consumed its output in the forward pass."""
    assert len(order) == len(set(order)), "a node was recorded twice"
    position = {key: i for i, key in enumerate(order)}
    for producer, consumer in graph.edges:
        assert producer in position and consumer in position
        assert position[consumer] < position[producer], (
            graph.nodes[producer]["label"], graph.nodes[consumer]["label"])


@pytest.mark.parametrize("setup", [lenet_setup, residual_setup])
def test_order_is_a_valid_engine_order(setup):
    model, loss, graph = setup()
    outer = time.perf_counter()
    trace = gradviz.trace_backward(loss, graph)
    outer = time.perf_counter() - outer
    assert isinstance(trace, BackwardTrace)
    assert trace.order[0] == "out0"
    assert sorted(trace.order) == sorted(graph.nodes)  # every node ran, once
    assert_valid_order(graph, trace.order)
    assert 0 < trace.elapsed_s <= outer  # the engine's own time, within the call that ran it
    assert trace.nonfinite == []


def test_residual_graph_really_branches():
    # guards the branching test above against a model that degenerated into a chain
    _, _, graph = residual_setup()
    assert any(graph.out_degree(n) > 1 for n in graph if graph.nodes[n]["kind"] == "op")


def test_gradients_still_accumulate_and_norms_match():
    model, loss, graph = lenet_setup()
    trace = trace_backward(loss, graph)
    for key, data in graph.nodes(data=True):
        if data["kind"] == "param":
            param = dict(model.named_parameters())[data["name"]]
            assert param.grad is not None
            assert trace.norm(key) == pytest.approx(param.grad.norm().item(), rel=1e-5)
            assert trace.grad_in_norms[key] == []  # AccumulateGrad produces nothing
    assert trace.grad_out_norms["out0"] == [1.0] and trace.norm("out0") == 1.0
    # the gradient sent along an edge is what the consumer produced for that slot
    (mse,) = graph.predecessors("out0")
    for producer in graph.predecessors(mse):
        slot = graph.edges[producer, mse]["slot"]
        assert trace.edge_norm(mse, slot) == trace.grad_in_norms[mse][slot]
        assert trace.edge_norm(mse, slot) == pytest.approx(trace.norm(producer))


def test_grad_norm_lists_follow_next_functions():
    w = torch.randn(3, requires_grad=True)
    x = torch.randn(3)
    y = (w * x).sum()
    graph = autograd_graph(y, {"w": w})
    trace = trace_backward(y, graph)
    (mul,) = [k for k, d in graph.nodes(data=True) if d["label"] == "MulBackward0"]
    ins = trace.grad_in_norms[mul]
    assert len(ins) == len(graph.graph["fn"][mul].next_functions) == 2
    assert ins[1] is None  # x does not require grad: no gradient for it
    assert ins[0] == pytest.approx(x.norm().item(), rel=1e-6)
    assert trace.norm(mul) == pytest.approx(math.sqrt(3), rel=1e-6)


def test_explicit_gradient_and_multiple_roots():
    w = torch.randn(2, 3, requires_grad=True)
    a = w * 2
    b = (w ** 2).sum()
    graph = autograd_graph([a, b], {"w": w})
    seed = torch.full((2, 3), 3.0)
    trace = trace_backward([a, b], graph, [seed, None])
    assert trace.order[:2] == ["out0", "out1"]
    assert trace.grad_out_norms["out0"] == [pytest.approx(seed.norm().item())]
    assert trace.grad_out_norms["out1"] == [1.0]
    assert_valid_order(graph, trace.order)
    assert torch.allclose(w.grad, 2 * seed + 2 * w.detach())


def test_hooks_removed_no_duplicates_on_repeat(monkeypatch):
    model, loss, graph = lenet_setup()
    first = trace_backward(loss, graph, retain_graph=True)
    second = trace_backward(loss, graph, retain_graph=True)
    assert len(second.order) == len(first.order) == graph.number_of_nodes()
    assert second.order == first.order
    # the recorded norm is each pass's contribution, not the accumulated .grad
    for key, data in graph.nodes(data=True):
        if data["kind"] == "param":
            assert second.norm(key) == pytest.approx(first.norm(key))

    # after tracing, a plain backward runs no gradviz hook
    calls = spy_on_hooks(monkeypatch)
    trace_backward(loss, graph, retain_graph=True)
    assert calls, "the spy sees the trace's hooks"  # so the check below can fail
    calls.clear()
    loss.backward()
    assert calls == []
    assert len(second.order) == graph.number_of_nodes()


def test_hooks_removed_when_backward_raises(monkeypatch):
    class FailOnce(torch.autograd.Function):
        failed = False

        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            if not FailOnce.failed:
                FailOnce.failed = True
                raise RuntimeError("backward failed")
            return grad

    w = torch.randn(3, requires_grad=True)
    loss = FailOnce.apply(w.exp()).sum()
    graph = autograd_graph(loss, {"w": w})
    with pytest.raises(RuntimeError, match="backward failed"):
        trace_backward(loss, graph, retain_graph=True)

    calls = spy_on_hooks(monkeypatch)
    with pytest.raises(RuntimeError, match="backward failed"):
        FailOnce.failed = False
        trace_backward(loss, graph, retain_graph=True)
    assert calls, "the spy sees the trace's hooks"  # so the check below can fail
    calls.clear()
    FailOnce.failed = True
    loss.backward(retain_graph=True)
    assert calls == []  # no hook left behind
    assert w.grad is not None

    trace = trace_backward(loss, graph)
    assert sorted(trace.order) == sorted(graph.nodes)


def test_nonfinite_gradients_are_recorded_not_raised():
    x = torch.tensor([0.0, 4.0], requires_grad=True)
    y = x.sqrt().sum()  # d sqrt/dx at 0 is inf
    graph = autograd_graph(y, {"x": x})
    trace = trace_backward(y, graph)
    labels = [graph.nodes[k]["label"] for k in trace.nonfinite]
    assert labels == ["SqrtBackward0", "AccumulateGrad"]  # where it appeared first, then downstream
    (leaf,) = [k for k, d in graph.nodes(data=True) if d["kind"] == "param"]
    assert math.isinf(trace.norm(leaf))
    (sum_node,) = [k for k, d in graph.nodes(data=True) if d["label"] == "SumBackward0"]
    assert sum_node not in trace.nonfinite

    z = torch.tensor([-1.0, 2.0], requires_grad=True)
    nan_loss = z.sqrt().sum()  # d sqrt/dx at -1 is nan
    graph = autograd_graph(nan_loss)
    trace = trace_backward(nan_loss, graph)
    assert trace.nonfinite
    (leaf,) = [k for k, d in graph.nodes(data=True) if d["kind"] == "leaf"]
    assert leaf in trace.nonfinite and math.isnan(trace.norm(leaf))


def test_half_precision_gradients_do_not_overflow_the_norm():
    w = torch.full((4096,), 10.0, dtype=torch.float16, requires_grad=True)
    y = (w * 100).sum()  # every gradient is 100: fine in fp16, its sum of squares is not
    graph = autograd_graph(y, {"w": w})
    trace = trace_backward(y, graph)
    assert trace.nonfinite == []
    (param,) = [k for k, d in graph.nodes(data=True) if d["kind"] == "param"]
    assert trace.norm(param) == pytest.approx(100 * 64, rel=1e-3)


def test_requires_live_matching_graph():
    _, loss, graph = lenet_setup()
    _, other_loss, _ = lenet_setup(seed=1)
    with pytest.raises(ValueError):
        trace_backward(other_loss, graph)
    with pytest.raises(ValueError):
        trace_backward([loss, loss], graph)
    detach_graph(graph)
    with pytest.raises(ValueError, match="detach"):
        trace_backward(loss, graph)


def test_norm_of_unknown_key_is_none():
    trace = BackwardTrace()
    assert trace.norm("nope") is None
    assert trace.edge_norm("nope", 0) is None


def test_norm_of_a_node_that_receives_several_gradients_is_their_joint_l2_norm():
    """``chunk`` makes one SplitBackward0 node that receives one gradient per piece.
    Its norm is the L2 norm of all of them together: sqrt(|g1|² + |g2|²), not |g1| + |g2|.
    By hand: the pieces are used as 3·sum(a) and 4·sum(b), so g1 = 3 (4 times), g2 = 4
    (4 times): sqrt(4·9 + 4·16) = 10, where an L1 sum would give 6 + 8 = 14."""
    w = nn.Parameter(torch.randn(8))
    a, b = w.chunk(2)
    loss = (a * 3).sum() + (b * 4).sum()
    graph = autograd_graph(loss, params={"w": w})
    trace = trace_backward(loss, graph)
    split = next(k for k, attrs in graph.nodes(data=True) if attrs.get("label") == "SplitBackward0")
    assert sorted(trace.grad_out_norms[split]) == pytest.approx([6.0, 8.0])
    assert trace.norm(split) == pytest.approx(10.0)


class _TiedAndSquared(nn.Module):
    """A weight used twice (tied: summed before accumulating), one used by one op
    only, and a parameter a single op consumes twice (``w * w``: two slots)."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Parameter(torch.randn(4, 4))
        self.single = nn.Parameter(torch.randn(4))
        self.squared = nn.Parameter(torch.randn(4))

    def forward(self, x):
        h = torch.tanh(x @ self.shared + self.single)
        return (h @ self.shared.t()) * (self.squared * self.squared)


def test_gradients_bound_for_accumulate_grad_are_normed_exactly_and_not_kept():
    """The norms of gradients going to AccumulateGrad (read off what it received, or
    normed at once where several are summed) equal norms taken in the hook itself,
    and the parameters' .grad is the gradient autograd produced (taken over, not copied:
    nothing of the trace holds it while AccumulateGrad runs)."""
    torch.manual_seed(0)
    model = _TiedAndSquared()
    x = torch.randn(3, 4, requires_grad=True)
    loss = model(x).pow(2).sum()
    graph = autograd_graph(loss, model)
    expected = {}
    handles = [fn.register_hook(lambda ins, outs, key=key: expected.__setitem__(
        key, ([None if g is None else float(g.norm()) for g in ins], [None if g is None else float(g.norm()) for g in outs])))
        for key, fn in graph.graph["fn"].items()]
    trace = trace_backward(loss, graph, retain_graph=True)
    for handle in handles:
        handle.remove()
    for key, (ins, outs) in expected.items():
        assert trace.grad_in_norms[key] == pytest.approx(ins, rel=1e-6), key
        assert trace.grad_out_norms[key] == pytest.approx(outs, rel=1e-6), key
    # the reference hooks above held the gradients, so autograd copied them: now without them
    model.zero_grad(set_to_none=True)
    produced = {}

    def keep_single(ins, outs):
        produced.update(single=[g.data_ptr() for g in ins if g is not None and g.shape == (4,)])

    add_node = next(fn for key, fn in graph.graph["fn"].items() if graph.nodes[key]["label"] == "AddBackward0")
    handle = add_node.register_hook(keep_single)
    trace_backward(loss, graph)
    handle.remove()
    assert model.single.grad.data_ptr() in produced["single"]
