"""Per-node gradients in session records, the numbers mode and the handout: checked against hand computations."""
import math

import pytest
import torch
import torch.nn as nn

import gradviz
from gradviz import presets
from gradviz.cli import main
from gradviz.core.backward_rules import NO_EXPLANATION, saved_symbols
from gradviz.core.data import DataError, GivenData
from gradviz.core.explain import Recording, explain_node, format_backward, format_tensor, node_numbers
from gradviz.core.node_grads import HISTOGRAM_BINS, WHOLE_TENSOR_LIMIT, NodeRecorder, TensorSummary
from gradviz.core.session import TrainingSession


def _through_backward(session):
    while session.next_phase != "step":
        session.advance()
    return session.current


def _key(record, label, name=None):
    keys = [k for k, a in record.graph.nodes(data=True)
            if a["label"] == label and (name is None or a.get("name") == name)]
    assert len(keys) == 1, (label, name, keys)
    return keys[0]


def _value(kept):
    assert isinstance(kept, torch.Tensor)
    return kept.reshape(-1).tolist()


# -- the neuron, by hand --------------------------------------------------------------------------


def test_neuron_numbers_equal_micrograds_hand_computation():
    # micrograd's neuron: x = (2, 0), w = (−3, 1), b = 6.8813735870195432, so
    # n = w·x + b = 0.8814 and o = tanh(n) = 1/√2. The MSE target t = o + 0.5 makes
    # ∂L/∂o = 2(o − t) = −1, and ∂L/∂n = ∂L/∂o · (1 − o²) = −1 · 0.5 = −0.5.
    b = 6.8813735870195432
    o = 1 / math.sqrt(2)
    t = o + 0.5
    session = TrainingSession(presets.load("neuron"), data=GivenData([2.0, 0.0], [t]), node_gradients=True)
    with torch.no_grad():
        session.model.neuron.weight.copy_(torch.tensor([[-3.0, 1.0]]))
        session.model.neuron.bias.fill_(b)
    record = _through_backward(session)
    numbers = node_numbers(record)

    def check(key, data, grad):
        assert _value(numbers[key].data) == pytest.approx(data, abs=1e-4), key
        assert _value(numbers[key].grad) == pytest.approx(grad, abs=1e-4), key

    check("out0", [0.25], [1.0])
    check(_key(record, "MseLossBackward0"), [0.25], [1.0])
    check(_key(record, "TanhBackward0"), [0.7071], [-1.0])
    check(_key(record, "AddmmBackward0"), [0.8814], [-0.5])
    # ∂L/∂w = ∂L/∂n · x = −0.5 · (2, 0); ∂L/∂b = ∂L/∂n
    check(_key(record, "AccumulateGrad", "neuron.weight"), [-3.0, 1.0], [-1.0, 0.0])
    check(_key(record, "AccumulateGrad", "neuron.bias"), [b], [-0.5])
    check(_key(record, "TBackward0"), [-3.0, 1.0], [-1.0, 0.0])
    assert numbers[_key(record, "TanhBackward0")].text == f"data 0.7071 | grad {'−'}1"
    assert numbers[_key(record, "AddmmBackward0")].text == "data 0.8814 | grad −0.5"


def test_tiny_mlp_gradients_equal_the_chain_rule_by_hand():
    x, t = [0.5, -1.0], 0.25
    session = TrainingSession(presets.load("tiny_mlp"), data=GivenData(x, [t]), node_gradients=True, seed=3)
    record = _through_backward(session)
    p = {name: value.tolist() for name, value in record.params_before.items()}
    w1, b1, w2, b2 = p["fc1.weight"], p["fc1.bias"], p["fc2.weight"][0], p["fc2.bias"][0]
    # forward: h = tanh(W1·x + b1), o = tanh(w2·h + b2), L = (o − t)²
    z1 = [sum(w1[j][i] * x[i] for i in range(2)) + b1[j] for j in range(3)]
    h = [math.tanh(z) for z in z1]
    z2 = sum(w2[j] * h[j] for j in range(3)) + b2
    o = math.tanh(z2)
    loss = (o - t) ** 2
    # backward, one chain-rule step at a time
    d_o = 2 * (o - t)
    d_z2 = d_o * (1 - o * o)
    d_w2 = [d_z2 * h[j] for j in range(3)]
    d_h = [d_z2 * w2[j] for j in range(3)]
    d_z1 = [d_h[j] * (1 - h[j] ** 2) for j in range(3)]
    d_w1 = [d_z1[j] * x[i] for j in range(3) for i in range(2)]

    assert record.loss == pytest.approx(loss, rel=1e-5)
    numbers = node_numbers(record)
    tanhs = [k for k in record.backward_order if record.graph.nodes[k]["label"] == "TanhBackward0"]
    assert _value(numbers[tanhs[0]].data) == pytest.approx([o], abs=1e-5)
    assert _value(numbers[tanhs[0]].grad) == pytest.approx([d_o], abs=1e-5)
    assert _value(numbers[tanhs[1]].data) == pytest.approx(h, abs=1e-5)
    assert _value(numbers[tanhs[1]].grad) == pytest.approx(d_h, abs=1e-5)
    grads = {name: _value(numbers[_key(record, "AccumulateGrad", name)].grad)
             for name in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")}
    assert grads["fc2.weight"] == pytest.approx(d_w2, abs=1e-5)
    assert grads["fc2.bias"] == pytest.approx([d_z2], abs=1e-5)
    assert grads["fc1.weight"] == pytest.approx(d_w1, abs=1e-5)
    assert grads["fc1.bias"] == pytest.approx(d_z1, abs=1e-5)


# -- what the session records ------------------------------------------------------------------------


def test_node_gradients_are_off_by_default_and_need_full_records():
    record = _through_backward(TrainingSession(presets.load("neuron")))
    assert record.node_gradients == {}
    with pytest.raises(ValueError, match="record='full'"):
        TrainingSession(presets.load("neuron"), record="light", node_gradients=True)
    with pytest.raises(ValueError, match="whole_tensor_limit"):
        TrainingSession(presets.load("neuron"), node_gradients=True, whole_tensor_limit=-1)


def test_lenet_records_every_node_that_ran_with_large_tensors_summarised():
    session = TrainingSession(presets.load("lenet"), node_gradients=True, max_history=2)
    assert session.whole_tensor_limit == WHOLE_TENSOR_LIMIT
    for _ in range(3):
        record = session.run_iteration()
    assert len(session.history) == 2  # memory stays bounded by max_history
    assert set(record.node_gradients) == set(record.backward_order)
    conv1 = next(k for k in record.backward_order if record.graph.nodes[k]["label"] == "ConvolutionBackward0"
                 and record.graph.nodes[k].get("module") == "conv1")
    entry = record.node_gradients[conv1]
    received = entry.received[0]  # ∂L/∂(conv1's output): 6·28·28 = 4,704 values > 4,096
    assert isinstance(received, TensorSummary) and received.shape == (1, 6, 28, 28)
    assert len(received.histogram) == HISTOGRAM_BINS and sum(received.histogram) == 4704
    assert isinstance(entry.saved["input"], torch.Tensor) and entry.saved["input"].shape == (1, 1, 32, 32)
    weight_grad = record.node_gradients[_key(record, "AccumulateGrad", "conv1.weight")].grad_after
    torch.testing.assert_close(weight_grad, record.grads["conv1.weight"])
    # conv1.bias: its gradient arrives from the convolution's third slot
    bias = record.node_gradients[_key(record, "AccumulateGrad", "conv1.bias")]
    torch.testing.assert_close(bias.received[0], entry.produced[2])
    assert record.graph.nodes[_key(record, "AccumulateGrad", "conv1.bias")]["name"] == "conv1.bias"


def test_whole_tensor_limit_is_a_session_setting():
    session = TrainingSession(presets.load("tiny_mlp"), node_gradients=True, whole_tensor_limit=2)
    record = _through_backward(session)
    weight = record.node_gradients[_key(record, "AccumulateGrad", "fc1.weight")]
    assert isinstance(weight.received[0], TensorSummary) and weight.received[0].shape == (3, 2)
    summary = weight.received[0]
    whole = record.grads["fc1.weight"]
    assert summary.norm == pytest.approx(float(whole.norm()), rel=1e-5)
    assert (summary.min, summary.max) == pytest.approx((float(whole.min()), float(whole.max())))
    session.set_node_gradients(False)  # from the next iteration on: this one keeps recording
    assert session.run_iteration().node_gradients
    assert session.run_iteration().node_gradients == {}


# -- tied weights and stale gradients ----------------------------------------------------------------


class TiedTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[1.0, -2.0], [0.5, 3.0]]))

    def forward(self, x):
        return (x @ self.w) @ self.w  # one weight used twice


def _recorded_backward(model, x):
    recorder = NodeRecorder()
    with recorder.forward():
        loss = model(x).sum()
    graph = gradviz.autograd_graph(loss, model)
    with recorder.backward(graph):
        gradviz.trace_backward(loss, graph)
    return Recording(graph, recorder.nodes)


def test_accumulate_grad_shows_the_sum_of_both_uses_and_a_stale_grad():
    model, x = TiedTwice(), torch.tensor([[1.0, 1.0]])
    first = _recorded_backward(model, x)
    key = _key(first, "AccumulateGrad", "w")
    node = first.node_gradients[key]
    assert node.grad_before is None
    torch.testing.assert_close(node.grad_after, model.w.grad)
    mms = [k for k, a in first.graph.nodes(data=True) if a["label"] == "MmBackward0"]
    assert len(mms) == 2  # both uses send a gradient to w; the engine adds them up before AccumulateGrad
    explanation = explain_node(first, key)
    assert explanation.name == "w" and ".grad before = None (zero)" in explanation.with_values[0]

    # no zero_grad: the second backward adds to the stale .grad
    stale = model.w.grad.clone()
    second = _recorded_backward(model, x).node_gradients[key]
    torch.testing.assert_close(second.grad_before, stale)
    torch.testing.assert_close(second.grad_after, stale + second.received[0])
    torch.testing.assert_close(second.grad_after, 2 * stale)


# -- explanations ----------------------------------------------------------------------------------


def test_explain_node_has_rule_values_and_where_gradients_went():
    session = TrainingSession(presets.load("neuron"), data=GivenData([2.0, 0.0], [1.0]), node_gradients=True)
    record = _through_backward(session)
    key = _key(record, "AddmmBackward0")
    explanation = explain_node(record, key)
    assert explanation.rule is not None and explanation.module == "neuron"
    assert explanation.formulas[0] == "∂L/∂b = Σ_batch ∂L/∂y"
    bias, transpose = _key(record, "AccumulateGrad", "neuron.bias"), _key(record, "TBackward0")
    assert explanation.produced_to == [bias, None, transpose]
    assert explanation.produced[1] is None  # the input x needs no gradient
    for got, want in zip(explanation.recomputed, explanation.produced):
        if want is not None:
            torch.testing.assert_close(got, want)
    tanh = explain_node(record, _key(record, "TanhBackward0"))
    plugged = [line for line in tanh.with_values if line.startswith("∂L/∂x = ∂L/∂y · (1 − y²) = ")]
    assert len(plugged) == 1 and "²) = " in plugged[0]
    # saved tensors by the formula's letters, autograd's names beside; the output tanh
    # saved (`result`) is y, shown once
    assert [line for line in tanh.with_values if line.startswith(("y = ", "result"))] == [
        f"y = {format_tensor(tanh.value)}   (saved as result)"]
    assert any(line.startswith("x = [[2, 0]]   (saved as mat1)") for line in explanation.with_values)
    mse = explain_node(record, _key(record, "MseLossBackward0")).with_values
    assert "t = 1   (saved as target)" in mse and any(line.startswith("x = ") and "(saved as self)" in line for line in mse)
    assert saved_symbols("AddmmBackward0") == {"result": "y", "mat1": "x", "mat2": "M"}
    with pytest.raises(KeyError):
        explain_node(record, "no such node")


def test_unknown_ops_show_their_gradients_and_say_so():
    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    recorder = NodeRecorder()
    loss = Cube.apply(x).sum()
    graph = gradviz.autograd_graph(loss)
    with recorder.backward(graph):
        loss.backward()
    recording = Recording(graph, recorder.nodes)
    key = _key(recording, "CubeBackward")
    explanation = explain_node(recording, key)
    assert explanation.rule is None and explanation.words == NO_EXPLANATION
    assert explanation.recompute_note == NO_EXPLANATION
    torch.testing.assert_close(explanation.produced[0], torch.tensor([3.0, 12.0]))
    text = format_backward(recording)
    assert NO_EXPLANATION in text and "[3, 12]" in text


def test_format_tensor_numbers_small_summary_large():
    assert format_tensor(torch.tensor(-0.5)) == "−0.5"
    assert format_tensor(torch.tensor([[0.25, -1.0]])) == "[[0.25, −1]]"
    assert format_tensor(torch.zeros(10, 10)).startswith("(10, 10) norm 0")
    assert format_tensor(None) == "—"



def test_format_tensor_writes_complex_numbers_whole():
    # an FFT's values: as float64 only the real part was left (and numpy warned)
    assert format_tensor(torch.tensor(0.5 - 1.25j)) == "0.5 − 1.25i"
    assert format_tensor(torch.tensor([1 + 2j, -3j])) == "[1 + 2i, 0 − 3i]"
    assert format_tensor(torch.tensor([1 + 2j, 0.5]).conj()) == "[1 − 2i, 0.5 − 0i]"  # conj: −0 stays −0


class _Checkpointed(nn.Module):
    """Two Linears and a ReLU recomputed in backward (torch.utils.checkpoint, non-reentrant)."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 8), nn.Linear(8, 3)
        self.forward_calls = 0

    def segment(self, x):
        self.forward_calls += 1
        return self.b(torch.relu(self.a(x)))

    def forward(self, x):
        return torch.utils.checkpoint.checkpoint(self.segment, x, use_reentrant=False)


def test_a_checkpointed_model_trains_as_without_gradviz_and_says_what_it_did_not_read():
    """Non-reentrant checkpointing lets each saved tensor be unpacked once per backward.
    Reading the Nodes' saved tensors during backward (the node recorder's pre-hooks) took
    that one read: the engine's own then raised CheckpointError. Held tensors are left
    unread, the rules that need them say why, and nothing is recomputed more than torch does."""
    torch.manual_seed(0)
    model = _Checkpointed()
    plain = _Checkpointed()
    plain.load_state_dict(model.state_dict())
    x, targets = torch.randn(1, 4), torch.randn(1, 3)
    session = TrainingSession(model, loss="mse", optimizer="sgd", lr=0.1, seed=0,
                              data=GivenData(x.tolist(), targets.tolist()), node_gradients=True)
    model.forward_calls = 0
    record = _through_backward(session)
    assert model.forward_calls == 2  # the forward, and the checkpoint's own recomputation in backward
    # the gradients are what torch gives the same model, inputs and targets
    nn.functional.mse_loss(plain(x), targets).backward()
    for (name, p), q in zip(model.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    labels = {entry.label for entry in record.node_gradients.values()}
    assert {"AddmmBackward0", "ReluBackward0", "MseLossBackward0"} <= labels
    notes = [explain_node(record, key).recompute_note for key, entry in record.node_gradients.items()
             if entry.label == "AddmmBackward0"]
    assert notes and all("saved-tensor hook" in note for note in notes), notes
    # what the inspector and the handout show: the missing input, and why
    assert any(line.startswith("x (saved as mat1): held by a saved-tensor hook")
               for key, entry in record.node_gradients.items() if entry.label == "AddmmBackward0"
               for line in explain_node(record, key).with_values)


# -- data typed in --------------------------------------------------------------------------------------


def test_given_data_checks_shapes_and_classes():
    data = GivenData([0.5, -1.0], [1.0])
    inputs, targets = data.batch((1, 2), (1, 1), "values")
    assert inputs.tolist() == [[0.5, -1.0]] and targets.tolist() == [[1.0]]
    with pytest.raises(DataError, match=r"input has shape \(3\)"):
        GivenData([1.0, 2.0, 3.0]).batch((1, 2), (1, 1), "values")
    classes = GivenData([[0.0, 1.0], [1.0, 0.0]], [1, 0]).batch((2, 2), (2, 3), "classes")[1]
    assert classes.tolist() == [1, 0] and classes.dtype == torch.int64
    with pytest.raises(DataError, match="0…2"):
        GivenData([[0.0, 1.0]], [5]).batch((1, 2), (1, 3), "classes")
    with pytest.raises(DataError, match="numbers"):
        GivenData("abc")


# -- the command ---------------------------------------------------------------------------------------


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_explain_neuron_prints_every_node_with_numbers(capsys):
    code, out, err = _run(capsys, "explain", "--preset", "neuron", "--input", "2, 0", "--target", "1")
    assert code == 0 and err == ""
    for label in ("MseLossBackward0", "TanhBackward0", "AddmmBackward0", "TBackward0",
                  "neuron.weight (1, 2)", "neuron.bias (1,)"):
        assert label in out
    assert "input [2, 0], target [1]" in out


def test_cli_explain_header_shows_the_values_as_typed_not_their_float32_noise(capsys):
    code, out, _ = _run(capsys, "explain", "--preset", "tiny_mlp", "--input", "0.1, -7e-4", "--target", "0.3")
    assert code == 0
    assert "input [0.1, -0.0007], target [0.3]" in out.splitlines()[0]
    assert "∂L/∂x = ∂L/∂y · (1 − y²) = " in out
    # the steps come in the order the engine ran them: loss first, parameters last
    assert out.index("MseLossBackward0") < out.index("TanhBackward0") < out.index("AddmmBackward0")


def test_cli_explain_lenet_summarises_large_tensors(capsys):
    code, out, _ = _run(capsys, "explain", "--preset", "lenet")
    assert code == 0
    assert "ConvolutionBackward0" in out and "MaxPool2DWithIndicesBackward0" in out and "norm" in out


@pytest.mark.parametrize("argv, fragment", [
    (["--preset", "neuron", "--input", "1, 2, 3"], "the given input has shape (3)"),
    (["--preset", "neuron", "--input", "x"], "'x' is not a number"),
    (["--preset", "neuron", "--target", "1"], "--target needs --input"),
    (["--preset", "alexnet"], "unknown preset"),
    (["--preset", "neuron", "--input", "1, 2; 3"], "same number of values"),
    # a decimal comma, read as two numbers, was taken as the input (0, 5) without a word
    (["--preset", "neuron", "--input", "0,5"], "'0,5' could be one number or two: write 0.5 for one, 0, 5 for two"),
    (["--preset", "neuron", "--input", "2, 0", "--target", "0,5"], "--target: '0,5' could be one number or two"),
    (["--preset", "neuron", "--whole-tensor-limit", "-1"], "--whole-tensor-limit"),
    (["--preset", "neuron", "--input", "1e999, 1"], "'1e999' is not a finite number"),
    (["--preset", "neuron", "--input", "nan, 1"], "'nan' is not a finite number"),
    (["--preset", "neuron", "--input", "0.5, 1", "--target", "inf"], "--target: 'inf' is not a finite number"),
])
def test_cli_explain_bad_arguments_are_one_line_exit_2(capsys, argv, fragment):
    code, out, err = _run(capsys, "explain", *argv)
    assert code == 2
    assert err.startswith("gradviz: error: ") and err.count("\n") == 1, err
    assert fragment in err and "Traceback" not in err + out
