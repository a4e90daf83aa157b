"""Forward values from the forward phase on (issue 16, item 3: "Forward works the same
way: each node shows its output value"): the forward phase's record holds each node's
value before the loss phase has built the graph, the loss phase keys the very same
kept values, and positions never put a value on a node of another kind."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gradviz.core.data import GivenData
from gradviz.core.history import record_bytes
from gradviz.core.node_grads import ForwardValues, KeyPlan, TensorSummary
from gradviz.core.presets import neuron
from gradviz.core.session import TrainingSession

# micrograd's neuron: w = (−3, 1), b = 6.8813735870195432, x = (2, 0)
W1, W2, B = -3.0, 1.0, 6.8813735870195432
X1, X2 = 2.0, 0.0
N = W1 * X1 + W2 * X2 + B  # 0.8813735870195432
O = math.tanh(N)  # 0.7071067811865476


def neuron_session() -> TrainingSession:
    session = TrainingSession(neuron(), node_gradients=True, data=GivenData([X1, X2], [1.0]))
    with torch.no_grad():
        session.model.neuron.weight.copy_(torch.tensor([[W1, W2]]))
        session.model.neuron.bias.fill_(B)
    return session


def by_label(graph, values) -> dict[str, list[float]]:
    out = {}
    for key, value in values.items():
        attrs = graph.nodes[key]
        out[attrs.get("name") or attrs["label"]] = value.reshape(-1).tolist()
    return out


HAND = {"AddmmBackward0": [N], "TanhBackward0": [O], "neuron.weight": [W1, W2], "neuron.bias": [B]}


def assert_hand_values(graph, values):
    shown = by_label(graph, values)
    assert set(shown) == set(HAND), sorted(shown)
    for label, expected in HAND.items():
        assert shown[label] == pytest.approx(expected, rel=1e-6), label


def test_the_forward_phase_record_has_node_values_on_the_graphs_keys():
    session = neuron_session()
    preview = session.preview_graph()  # what the app shows while the forward builds up
    session.advance()  # zero_grad
    record = session.current
    assert record.node_values == {} and record.forward_values is None  # nothing before the forward
    session.advance()  # forward
    assert record.graph is None  # the graph is the loss phase's
    assert_hand_values(preview, record.node_values)
    forward = dict(record.node_values)

    session.advance()  # loss
    assert record.forward_values is None  # keyed now: node_values holds them
    for key, value in forward.items():
        assert record.node_values[key] is value  # the very same copies: nothing recorded twice
        assert record.graph.nodes[key]["label"] == preview.nodes[key]["label"]
    assert set(record.node_values) - set(forward) == {"n0", "out0"}  # the loss's own: MSE and its value


def test_without_an_earlier_graph_the_values_wait_by_position():
    session = neuron_session()
    session.advance()
    session.advance()  # forward, no graph of this network made yet
    record = session.current
    assert record.node_values == {}
    values = record.forward_values
    assert [label for label, _ in values.ops] == ["TBackward0", "AddmmBackward0", "TanhBackward0"]
    graph = session.preview_graph()  # the app's graph arrives after the forward
    assert_hand_values(graph, values.by_key(graph))
    assert record_bytes(record) > record_bytes(type(record)(0, 0.1, "mse", "sgd", "full"))

    session.advance()  # loss
    assert by_label(record.graph, {k: v for k, v in record.node_values.items() if k in values.by_key(graph)}) \
        == by_label(graph, values.by_key(graph))


class TwoHeads(nn.Module):
    """A residual block whose ReLU is called twice, and a second output the loss ignores."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 3)
        self.fc2 = nn.Linear(3, 3)
        self.relu = nn.ReLU()
        self.aux = nn.Linear(3, 2)

    def forward(self, x):
        h = self.relu(self.fc1(x))
        h = self.relu(self.fc2(h) + x)
        side = self.aux(x).sigmoid()  # made between the loss's ops, never reached by the loss
        return h * 2, side


def test_a_model_it_did_not_write_keeps_positions_right_next_iteration():
    torch.manual_seed(0)
    session = TrainingSession(TwoHeads(), node_gradients=True, input_shape=(4, 3))
    first = session.run_iteration()  # the loss phase's graph gives the next forward its keys
    session.advance()
    session.advance()  # forward
    record = session.current
    forward = dict(record.node_values)
    assert len([k for k in forward if first.graph.nodes[k]["kind"] == "op"]) >= 6
    session.advance()  # loss
    assert {k: record.node_values[k] for k in forward} == forward  # the same values on the same keys
    for key in forward:
        assert record.graph.nodes[key]["label"] == first.graph.nodes[key]["label"]
    # every op value is there already but the loss's own, also the ops made after the ignored head's
    labels = {k: record.graph.nodes[k]["label"] for k in record.node_values if record.graph.nodes[k]["kind"] == "op"}
    assert {k for k, label in labels.items() if label != "MseLossBackward0"} <= set(forward)
    assert "MulBackward0" in labels.values()


def test_a_label_that_differs_stops_the_positions():
    value = torch.ones(1)
    values = ForwardValues([("AddmmBackward0", value), ("TanhBackward0", value), ("MulBackward0", value)],
                           {"w": value})
    plan = KeyPlan((("n3", "AddmmBackward0"), ("n1", "ReluBackward0"), ("n0", "MulBackward0")), {"w": "n4"})
    assert values.by_key(plan) == {"n3": value, "n4": value}  # no value on the ReLU, nor after it


def test_large_values_are_summaries_and_another_loss_waits_for_its_graph():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    session = TrainingSession(model, node_gradients=True, whole_tensor_limit=20, input_shape=(2, 8))
    session.run_iteration()
    session.advance()
    session.advance()
    kinds = {type(v) for v in session.current.node_values.values()}
    assert kinds == {torch.Tensor, TensorSummary}  # 2×3 output whole, 8×16 weight summarised
    session.abort_iteration()

    session.set_loss("cross_entropy")  # a walk back from another loss: other keys
    session.advance()
    session.advance()
    record = session.current
    assert record.node_values == {} and record.forward_values is not None
    session.advance()
    assert record.node_values and record.forward_values is None
