"""Full records: per-edge gradient norms and the forward/loss split of creation order."""
import math

import pytest
import torch

import gradviz.core.trace as trace_module
from gradviz.core.session import TrainingSession


@pytest.fixture
def traced_lenet(lenet_spec, monkeypatch):
    """A full LeNet record and the BackwardTrace its backward phase made."""
    traces = []
    original = trace_module.trace_backward

    def keep(*args, **kwargs):
        traces.append(original(*args, **kwargs))
        return traces[-1]

    monkeypatch.setattr(trace_module, "trace_backward", keep)
    record = TrainingSession(lenet_spec).run_iteration()
    (trace,) = traces
    return record, trace


def _slots(data):
    return data.get("slots", (data["slot"],))


def test_every_edge_into_a_node_that_got_gradient_has_a_finite_norm(traced_lenet):
    record, _ = traced_lenet
    graph = record.graph
    received = {key for key, norm in record.node_grad_norms.items() if norm is not None}
    edges_in = [(u, v) for u, v in graph.edges() if v in received]
    assert edges_in
    for edge in edges_in:
        assert edge in record.edge_grad_norms, edge
        assert math.isfinite(record.edge_grad_norms[edge]), edge
    assert set(record.edge_grad_norms) <= set(graph.edges())


def test_edge_norms_are_the_trace_norms_of_the_consumer_slot(traced_lenet):
    record, trace = traced_lenet
    graph = record.graph
    for (u, v), norm in record.edge_grad_norms.items():
        (slot,) = _slots(graph.edges[u, v])  # LeNet takes no input twice
        assert norm == trace.edge_norm(v, slot)
    # a producer with one consumer received exactly what came along that edge
    single = [u for u in graph if graph.out_degree(u) == 1 and graph.nodes[u]["kind"] != "output"]
    assert single
    for u in single:
        (v,) = graph.successors(u)
        assert record.edge_grad_norms[u, v] == pytest.approx(trace.norm(u), rel=1e-5)
        assert record.edge_grad_norms[u, v] == pytest.approx(record.node_grad_norms[u], rel=1e-5)


def test_an_input_taken_twice_combines_its_slots():
    class Square(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))

        def forward(self, x):
            h = self.w * x
            return h * h  # one edge, two slots

    record = TrainingSession(Square(), input_shape=(2,), loss="mse").run_iteration()
    graph = record.graph
    (mul2,) = [v for u, v, d in graph.edges(data=True) if len(_slots(d)) == 2]
    (h,) = graph.predecessors(mul2)
    # h * h sends h the same gradient through both slots
    assert record.edge_grad_norms[h, mul2] == pytest.approx(
        math.sqrt(2) * record.node_grad_norms[h] / 2, rel=1e-5)


def test_forward_order_is_creation_order_without_the_loss(lenet_spec):
    record = TrainingSession(lenet_spec).run_iteration()
    graph = record.graph
    forward = record.forward_order
    assert forward == record.creation_order[: len(forward)]
    loss_ops = record.creation_order[len(forward):]
    assert forward + loss_ops == record.creation_order
    assert [graph.nodes[k]["label"] for k in loss_ops] == ["MseLossBackward0"]
    assert all(graph.nodes[k]["label"] != "MseLossBackward0" for k in forward)
    assert graph.nodes[forward[0]]["label"] == "ConvolutionBackward0"


def test_light_records_have_neither(lenet_spec):
    record = TrainingSession(lenet_spec, record="light").run_iteration()
    assert record.edge_grad_norms == {} and record.forward_order == []
