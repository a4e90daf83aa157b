"""TrainingSession: the tutorial's training loop, one phase at a time."""
import gc
import threading
import weakref

import networkx as nx
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import gradviz
from gradviz import presets
from gradviz.core.data import DigitsData, RandomData
from gradviz.core.session import PHASES, IterationRecord, TrainingError, TrainingSession


def _params(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _labels(graph):
    return {key: attrs["label"] for key, attrs in graph.nodes(data=True)}


# -- the tutorial, phase by phase ---------------------------------------------------


def test_phases_in_order_and_tutorial_bias_grad(lenet_spec):
    session = gradviz.TrainingSession(lenet_spec)
    assert session.spec is not None and session.spec is not lenet_spec
    assert session.next_phase == "zero_grad" and session.phase_index == 0

    seen = []
    for expected in PHASES[:3]:
        assert session.next_phase == expected
        seen.append(session.advance())
    # Before backward, the tutorial prints conv1.bias.grad as zeros (None since torch 2).
    grad = session.model.conv1.bias.grad
    assert grad is None or torch.count_nonzero(grad) == 0
    seen.append(session.advance())
    assert session.model.conv1.bias.grad.shape == (6,)
    assert torch.count_nonzero(session.model.conv1.bias.grad) > 0
    seen.append(session.advance())

    assert [r.phase for r in seen] == list(PHASES)
    assert all(r.elapsed_s == r.record.phase_times[r.phase] and r.iteration == 0 for r in seen)
    forward, loss, backward = seen[1], seen[2], seen[3]
    assert forward.output_shape == (1, 10)
    assert isinstance(loss.loss, float) and loss.loss > 0
    assert loss.graph is not None and loss.creation_order
    assert backward.backward_order[0] == "out0"
    assert session.iteration == 1 and session.next_phase == "zero_grad"
    record = session.history[-1]
    assert record is seen[-1].record and record.complete and record.index == 0
    assert set(record.phase_times) == set(PHASES)


def test_graph_is_the_tutorials_loss_grad_fn_chain(lenet_spec):
    session = TrainingSession(lenet_spec, loss="mse")
    record = session.run_iteration()
    graph = record.graph
    labels = _labels(graph)
    (out,) = graph.graph["roots"]
    (mse,) = graph.predecessors(out)
    assert labels[mse] == "MseLossBackward0"
    addmm = [p for p in graph.predecessors(mse) if labels[p] == "AddmmBackward0"]
    assert len(addmm) == 1  # loss.grad_fn.next_functions[0][0]
    fed_by = {graph.nodes[p].get("name") for p in graph.predecessors(addmm[0])}
    assert "fc3.bias" in fed_by  # ... whose next function is AccumulateGrad of fc3.bias
    params = [a["name"] for _, a in graph.nodes(data=True) if a["kind"] == "param"]
    assert sorted(params) == sorted(name for name, _ in session.model.named_parameters())
    assert len(params) == 10
    assert graph.nodes[addmm[0]]["module"] == "fc3"


def test_creation_and_backward_orders_are_node_keys(lenet_spec):
    record = TrainingSession(lenet_spec).run_iteration()
    graph = record.graph
    ops = [k for k, a in graph.nodes(data=True) if a["kind"] == "op"]
    assert sorted(record.creation_order) == sorted(ops)  # every op once
    labels = _labels(graph)
    assert labels[record.creation_order[0]] == "ConvolutionBackward0"  # conv1 runs first
    assert labels[record.creation_order[-1]] == "MseLossBackward0"  # the loss is made last
    assert graph.nodes[record.creation_order[0]]["module"] == "conv1"
    # backward visits a node only after all its consumers
    position = {k: i for i, k in enumerate(record.backward_order)}
    for u, v in graph.edges():
        if u in position and v in position:
            assert position[v] < position[u]
    assert set(record.node_grad_norms) == set(record.backward_order)


def test_record_fields_and_sgd_update(lenet_spec):
    lr = 0.05
    session = TrainingSession(lenet_spec, optimizer="sgd", lr=lr)
    before = _params(session.model)
    record = session.run_iteration()
    names = list(before)
    assert list(record.params_before) == names and list(record.params_after) == names
    assert set(record.grads) == set(names) and set(record.grad_norms) == set(names)
    for name in names:
        assert record.params_before[name].device.type == "cpu"
        assert torch.equal(record.params_before[name], before[name])
        expected = record.params_before[name] - lr * record.grads[name]
        assert torch.allclose(record.params_after[name], expected, rtol=1e-6, atol=1e-7)
        assert record.grad_norms[name] == pytest.approx(record.grads[name].norm().item(), rel=1e-5)
        assert torch.equal(record.params_after[name], session.model.get_parameter(name).detach())
    assert not torch.equal(record.params_after["fc3.bias"], record.params_before["fc3.bias"])
    assert record.output_shape == (1, 10) and record.nonfinite == []
    assert record.lr == lr and record.loss_name == "mse" and record.optimizer_name == "sgd"
    # a node's norm equals its parameter's grad norm
    key = next(k for k, a in record.graph.nodes(data=True) if a.get("name") == "fc3.bias")
    assert record.node_grad_norms[key] == pytest.approx(record.grad_norms["fc3.bias"], rel=1e-5)


def test_fixed_random_data_lowers_the_loss(lenet_spec):
    session = TrainingSession(lenet_spec, lr=0.05, record="light")
    losses = [session.run_iteration().loss for _ in range(15)]
    assert losses[-1] < losses[0] * 0.8


def test_manual_sgd_equals_sgd_on_the_first_step(lenet_spec):
    manual = TrainingSession(lenet_spec, optimizer="manual_sgd", lr=0.1, seed=4).run_iteration()
    sgd = TrainingSession(lenet_spec, optimizer="sgd", lr=0.1, seed=4).run_iteration()
    assert manual.optimizer_name == "manual_sgd"
    for name, value in sgd.params_after.items():
        assert torch.allclose(manual.params_after[name], value, rtol=1e-6, atol=1e-7)
        assert not torch.equal(value, sgd.params_before[name])


@pytest.mark.parametrize("optimizer", ["sgd_momentum", "adam"])
def test_other_optimizers_change_params_differently(optimizer):
    spec = presets.load("mlp")
    sessions = {name: TrainingSession(spec, optimizer=name, lr=0.05) for name in ("sgd", optimizer)}
    for session in sessions.values():
        session.run(2)
    sgd, other = sessions["sgd"].history[-1], sessions[optimizer].history[-1]
    for name in other.params_after:
        assert not torch.equal(other.params_after[name], other.params_before[name])
    # momentum/Adam state makes step 2 differ from plain SGD
    assert any(not torch.allclose(other.params_after[n], sgd.params_after[n]) for n in sgd.params_after)
    assert isinstance(sessions[optimizer].optimizer, (torch.optim.SGD, torch.optim.Adam))


# -- settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loss": "hinge"}, "unknown loss 'hinge'; use one of: mse, l1, cross_entropy, nll"),
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; use one of: sgd, sgd_momentum, adam, manual_sgd"),
        ({"record": "verbose"}, "unknown record level 'verbose'; use one of: full, light"),
        ({"lr": -1}, "learning rate must be zero or positive"),
        ({"max_history": 0}, "max_history must be a positive integer"),
    ],
)
def test_bad_settings_name_the_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingSession(presets.load("mlp"), **kwargs)


def test_setters_apply_from_the_next_iteration():
    session = TrainingSession(presets.load("mlp"), lr=0.01)
    session.advance()
    session.set_lr(0.5)
    session.set_optimizer("adam")
    session.set_loss("l1")
    assert session.lr == 0.5 and session.optimizer_name == "adam" and session.loss_name == "l1"
    first = session.run_iteration()
    assert (first.lr, first.optimizer_name, first.loss_name) == (0.01, "sgd", "mse")
    second = session.run_iteration()
    assert (second.lr, second.optimizer_name, second.loss_name) == (0.5, "adam", "l1")
    assert isinstance(session.optimizer, torch.optim.Adam)
    assert session.optimizer.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match="unknown optimizer"):
        session.set_optimizer("lbfgs")
    assert session.optimizer_name == "adam"


def test_set_lr_keeps_momentum_state():
    session = TrainingSession(presets.load("mlp"), optimizer="sgd_momentum", lr=0.01)
    session.run_iteration()
    optimizer = session.optimizer
    session.set_lr(0.02)
    session.run_iteration()
    assert session.optimizer is optimizer and optimizer.param_groups[0]["lr"] == 0.02
    assert optimizer.state  # momentum buffers survived
    session.set_optimizer("sgd_momentum")  # same name: still a fresh optimizer
    session.advance()
    assert session.optimizer is not optimizer and not session.optimizer.state


# -- losses and data ------------------------------------------------------------------


def test_cross_entropy_on_digits(lenet_spec):
    session = TrainingSession(lenet_spec, loss="cross_entropy", data=DigitsData(batch_size=16), lr=0.05)
    record = session.run_iteration()
    assert record.output_shape == (16, 10)
    assert 1.0 < record.loss < 4.0  # about ln(10) for an untrained net
    labels = _labels(record.graph)
    assert any("LogSoftmax" in label for label in labels.values())


def test_nll_and_custom_callable_loss():
    spec = presets.load("mlp")
    record = TrainingSession(spec, loss=lambda out, target: (out - target).abs().max()).run_iteration()
    assert record.loss_name == "<lambda>" and record.loss > 0
    spec.layers[-1].params["out_features"] = 3
    spec.layers.append(gradviz.LayerSpec("LogSoftmax", "logp", {"dim": 1}))
    record = TrainingSession(spec, loss="nll").run_iteration()
    assert any(label == "NllLossBackward0" for label in _labels(record.graph).values())


def test_a_plain_module_is_used_as_is():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    session = TrainingSession(model, input_shape=(5, 3))
    assert session.model is model and session.spec is None
    assert session.input_shape == (5, 3) and session.output_shape == (5, 2)
    record = session.run_iteration()
    assert record.output_shape == (5, 2)
    assert "0.weight" in record.grads
    # without input_shape, gradviz reads the chain and guesses (batch 1)
    assert TrainingSession(nn.Sequential(nn.Linear(3, 2))).input_shape == (1, 3)


def test_a_module_gradviz_cannot_read_needs_input_shape():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x, y):
            return self.fc(x) + y

    with pytest.raises(ValueError, match=r"pass input_shape=\(N, \.\.\.\)"):
        TrainingSession(TwoInputs())
    with pytest.raises(TypeError, match="NetworkSpec or a torch.nn.Module, got str"):
        TrainingSession("lenet")


def test_failing_phase_is_a_training_error_and_can_be_aborted():
    def bad_loss(output, target):
        return output - target  # not a single number

    session = TrainingSession(presets.load("mlp"), loss=bad_loss)
    session.advance()
    session.advance()
    with pytest.raises(TrainingError, match=r"iteration 0, loss: the loss must be a single number, got a tensor of shape \(4, 1\)") as info:
        session.advance()
    assert info.value.phase == "loss" and info.value.iteration == 0
    assert session.next_phase == "loss"  # not advanced: fix and retry, or abort
    session.set_loss("mse")
    session.abort_iteration()
    assert session.next_phase == "zero_grad" and session.current is None
    assert session.run_iteration().loss_name == "mse"


# -- history, memory, record levels --------------------------------------------------------


def test_history_is_bounded_over_a_thousand_iterations():
    session = TrainingSession(presets.load("mlp"), max_history=3, record="light")
    session.run(1000)
    assert session.iteration == 1000
    assert len(session.history) == 3
    assert [r.index for r in session.history] == [997, 998, 999]
    assert session.history[0].index == 997 and session.history[-1].index == 999
    assert [r.index for r in session.history[1:]] == [998, 999]


def _holds_autograd_state(value, depth=0):
    """Whether value (a record field) reaches an autograd Node or a tensor with history."""
    if depth > 6:
        return False
    if isinstance(value, torch.Tensor):
        return value.grad_fn is not None or value.requires_grad or value.device.type != "cpu"
    if type(value).__module__.startswith("torch.autograd") or "Backward" in type(value).__name__:
        return True
    if isinstance(value, nx.Graph):
        return (
            "fn" in value.graph
            or _holds_autograd_state(value.graph, depth + 1)
            or any(_holds_autograd_state(a, depth + 1) for _, a in value.nodes(data=True))
        )
    if isinstance(value, dict):
        return any(_holds_autograd_state(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_autograd_state(v, depth + 1) for v in value)
    return False


def test_full_records_hold_no_autograd_graph():
    losses = []

    def tracked_mse(output, target):
        loss = F.mse_loss(output, target)
        losses.append(weakref.ref(loss))
        return loss

    session = TrainingSession(presets.load("mlp"), loss=tracked_mse, max_history=4)
    session.run(30)
    assert len(session.history) == 4
    for record in session.history:
        assert record.graph is not None and "fn" not in record.graph.graph
        for name, value in vars(record).items():
            assert not _holds_autograd_state(value), name
    gc.collect()
    # every loss tensor (and with it its autograd graph) has been freed
    assert all(ref() is None for ref in losses)


def test_light_records_skip_snapshots_and_graph():
    session = TrainingSession(presets.load("lenet"), record="light")
    record = session.run_iteration()
    assert record.record_level == "light"
    assert record.params_before == {} and record.params_after == {} and record.grads == {}
    assert record.graph is None and record.backward_order == [] and record.creation_order == []
    assert record.loss > 0 and set(record.grad_norms) == {n for n, _ in session.model.named_parameters()}
    assert record.nonfinite == []


def test_current_is_the_record_being_filled(lenet_spec):
    session = TrainingSession(lenet_spec)
    assert session.current is None
    first = session.advance().record
    assert session.current is first and isinstance(first, IterationRecord) and not first.complete
    session.advance()
    assert first.output_shape == (1, 10) and first.loss is None
    session.run_iteration()
    assert session.current is session.history[-1] is first and first.complete


# -- NaN / Inf ---------------------------------------------------------------------------------


def test_exploding_lr_is_recorded_not_raised(lenet_spec):
    session = TrainingSession(lenet_spec, lr=1e30)
    records = [session.run_iteration() for _ in range(4)]
    assert records[0].nonfinite == [] and records[0].loss == pytest.approx(records[0].loss)
    bad = [r for r in records if r.nonfinite]
    assert bad, "lr = 1e30 must blow up within a few steps"
    first_bad = bad[0]
    assert "loss" in first_bad.nonfinite
    assert first_bad.loss != first_bad.loss or abs(first_bad.loss) == float("inf")
    where = session.first_nonfinite
    assert where is not None and where.iteration == first_bad.index
    assert where.phase in ("forward", "loss", "backward", "step")
    if where.phase == "step":
        assert where.where in dict(session.model.named_parameters())
    session.clear_nonfinite()
    assert session.first_nonfinite is None


def test_nonfinite_gradient_names_the_node():
    def sqrt_of_negative(output, target):
        return torch.sqrt(-(output - target).pow(2).mean() - 1.0)  # nan forward, nan gradient

    session = TrainingSession(presets.load("mlp"), loss=sqrt_of_negative)
    record = session.run_iteration()
    assert record.nonfinite[0] == "loss"
    assert "fc3.bias" in record.nonfinite
    node_keys = [name for name in record.nonfinite if name in record.graph]
    assert node_keys and record.graph.nodes[node_keys[0]]["kind"] in ("op", "param")
    assert session.first_nonfinite.phase == "loss" and session.first_nonfinite.where == "loss"


# -- preview and threading -----------------------------------------------------------------


def test_preview_graph_touches_nothing():
    spec = presets.load("resnet_tiny")  # BatchNorm: running stats must not move
    session = TrainingSession(spec, optimizer="sgd_momentum")
    session.run_iteration()
    grads = {n: p.grad.clone() for n, p in session.model.named_parameters()}
    buffers = {n: b.clone() for n, b in session.model.named_buffers()}
    state = {k: v["momentum_buffer"].clone() for k, v in session.optimizer.state.items()}
    rng = torch.get_rng_state()
    history = list(session.history)

    graph = session.preview_graph()

    assert "fn" not in graph.graph
    assert all(torch.equal(p.grad, grads[n]) for n, p in session.model.named_parameters())
    assert all(torch.equal(b, buffers[n]) for n, b in session.model.named_buffers())
    assert all(torch.equal(v["momentum_buffer"], state[k]) for k, v in session.optimizer.state.items())
    assert torch.equal(torch.get_rng_state(), rng)
    assert list(session.history) == history and session.iteration == 1
    params = {a["name"] for _, a in graph.nodes(data=True) if a["kind"] == "param"}
    assert params == {n for n, _ in session.model.named_parameters()}
    modules = {a.get("module") for _, a in graph.nodes(data=True) if a["kind"] == "op"}
    assert {"stem", "block1.block1_conv1", "block2.block2_bn2", "fc"} <= modules
    assert sorted(graph.graph["creation_order"]) == sorted(k for k, a in graph.nodes(data=True) if a["kind"] == "op")


def test_preview_uses_the_batch_of_the_next_iteration():
    session = TrainingSession(presets.load("mlp"), data=RandomData(fixed=False))
    session.preview_graph()
    preview_batch = session._batch[1].clone()
    session.advance()
    session.advance()  # forward uses the batch the preview showed
    assert torch.equal(session._batch[1], preview_batch)


def test_only_one_phase_at_a_time():
    entered, release = threading.Event(), threading.Event()

    def slow_mse(output, target):
        entered.set()
        release.wait(5)
        return F.mse_loss(output, target)

    session = TrainingSession(presets.load("mlp"), loss=slow_mse)
    session.advance()
    session.advance()
    worker = threading.Thread(target=session.advance)  # the loss phase, blocked in slow_mse
    worker.start()
    try:
        assert entered.wait(5)
        with pytest.raises(RuntimeError, match="a phase is already running"):
            session.advance()
        with pytest.raises(RuntimeError, match="a phase is already running"):
            session.preview_graph()
    finally:
        release.set()
        worker.join(5)
    assert session.next_phase == "backward"
    session.run_iteration()  # phases may continue on another thread
    assert session.iteration == 1


def test_reset_restores_the_starting_weights(lenet_spec):
    session = TrainingSession(lenet_spec, optimizer="adam")
    start = _params(session.model)
    session.run(2)
    session.advance()
    session.reset()
    assert session.iteration == 0 and len(session.history) == 0 and session.next_phase == "zero_grad"
    assert all(torch.equal(p, start[n]) for n, p in _params(session.model).items())
    assert session.run_iteration().loss == TrainingSession(lenet_spec).run_iteration().loss


def test_lr_zero_is_allowed_as_its_message_says_and_leaves_the_weights_alone():
    """"learning rate must be zero or positive": zero is the boundary and is accepted,
    at construction and through set_lr; an SGD step with lr 0 changes nothing."""
    session = TrainingSession(presets.load("mlp"), optimizer="sgd", lr=0)
    assert session.lr == 0.0
    record = session.run_iteration()
    assert record.lr == 0.0
    for name, before in record.params_before.items():
        assert torch.equal(record.params_after[name], before), name
    session.set_lr(0.0)
    assert session.lr == 0.0
    with pytest.raises(ValueError, match="learning rate must be zero or positive"):
        session.set_lr(-1e-12)


@pytest.mark.parametrize("level", ["full", "light"])
def test_each_phase_result_shows_only_what_that_phase_produced(level):
    """PhaseResult reads its values from the record, for its own phase only: what a
    phase did not produce is None, what it did equals the record's value."""
    produced = {"zero_grad": set(), "forward": {"output_shape"}, "loss": {"loss", "graph", "creation_order"},
                "backward": {"backward_order", "grad_norms"}, "step": set()}
    if level == "light":
        produced["loss"] -= {"graph", "creation_order"}
        produced["backward"] -= {"backward_order"}
    fields = ("output_shape", "loss", "graph", "creation_order", "backward_order", "grad_norms")
    session = TrainingSession(presets.load("mlp"), record=level)
    for phase in PHASES:
        result = session.advance()
        assert result.phase == phase
        shown = {name for name in fields if getattr(result, name) is not None}
        assert shown == produced[phase]
        for name in shown:
            assert getattr(result, name) is getattr(result.record, name)


def _triple_grad(param):
    param.grad.mul_(3.0)


class _TiedWithHook(nn.Module):
    """A weight used twice (its gradient is a sum), a float64 parameter, and one whose
    gradient a post-accumulate hook rescales after autograd accumulated it."""

    def __init__(self):
        super().__init__()
        self.tied = nn.Linear(6, 6)
        self.wide = nn.Parameter(torch.randn(6, dtype=torch.float64))
        self.scaled = nn.Parameter(torch.randn(6))
        self.scaled.register_post_accumulate_grad_hook(_triple_grad)

    def forward(self, x):
        h = torch.tanh(self.tied(self.tied(x)))
        return h * self.scaled + (self.wide * 0.5).float()


def test_grad_norms_are_the_norms_of_the_gradients_left_in_grad():
    """Full records read most gradient norms off the backward trace: they must be what
    tensor_stats.norms gives for .grad itself (the light level's way), bit for bit,
    also where .grad is a sum (tied), float64 (its norm is rounded to float32 there), or
    changed by a hook after accumulating."""
    from gradviz.core.tensor_stats import norms

    torch.manual_seed(0)
    session = TrainingSession(_TiedWithHook(), input_shape=(3, 6), record="full")
    for _ in range(2):
        record = session.run_iteration()
        # the step changed the weights, not the gradients: .grad is still this backward's
        named = [(name, p) for name, p in session.model.named_parameters()]
        assert record.grad_norms == dict(zip([n for n, _ in named], norms([p.grad for _, p in named])))


class _FrozenNorm(nn.Module):
    """A model whose train() keeps its BatchNorm in eval mode (detection models do this)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.norm = nn.BatchNorm1d(4)
        self.train_calls = 0

    def train(self, mode: bool = True):
        self.train_calls += 1
        super().train(mode)
        self.norm.eval()
        return self

    def forward(self, x):
        return self.norm(self.fc(x))


def test_each_forward_trains_the_model_its_own_way():
    model = _FrozenNorm()
    session = TrainingSession(model, input_shape=(3, 4))
    calls = model.train_calls
    session.run(2)
    assert model.train_calls == calls + 2  # an overridden train() runs every forward
    assert not model.norm.training and model.fc.training
    plain = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    session = TrainingSession(plain, input_shape=(3, 4))
    plain.eval()  # e.g. someone evaluated between iterations
    session.run_iteration()
    assert all(m.training for m in plain.modules())


@pytest.mark.parametrize("record, node_gradients", [("full", True), ("full", False), ("light", False)])
def test_a_sparse_embedding_trains_and_is_recorded_at_every_level(record, node_gradients):
    """nn.Embedding(sparse=True): its gradient's norm stopped every iteration
    ("Could not run 'aten::linalg_vector_norm' with arguments from the 'SparseCPU' backend")."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 8, sparse=True), nn.Flatten(), nn.Linear(24, 2))
    session = TrainingSession(model, inputs=torch.randint(0, 50, (4, 3)), record=record, node_gradients=node_gradients)
    for _ in range(2):
        done = session.run_iteration()
    grad = model[0].weight.grad
    assert grad.is_sparse
    assert done.grad_norms["0.weight"] == pytest.approx(float(grad.to_dense().norm()), rel=1e-6)
    assert done.nonfinite == []


def test_gradviz_own_look_at_the_model_prints_no_warning():
    """Learning the output shape runs the model once under no_grad: a reentrant
    checkpoint warned "None of the inputs have requires_grad=True" about that pass,
    gradviz's own, before any training."""
    import warnings

    class Checkpointed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return torch.utils.checkpoint.checkpoint(self.fc, x.requires_grad_(torch.is_grad_enabled()),
                                                     use_reentrant=True)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        session = TrainingSession(Checkpointed(), inputs=torch.randn(2, 4))
        session.run_iteration()
    assert session.output_shape == (2, 3)


class _Nested(nn.Module):
    """Modules inside modules, ``depth`` levels: each wraps the next and adds a Linear."""

    def __init__(self, depth: int):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.inner = _Nested(depth - 1) if depth > 1 else None

    def forward(self, x):
        x = self.fc(x)
        return x if self.inner is None else self.inner(x)


def test_a_model_nested_as_deep_as_torch_allows_is_recorded():
    """The recorder's global module hooks add a frame to every module call: 200 levels,
    fine in plain torch, raised RecursionError in a full record only."""
    import sys

    limit = sys.getrecursionlimit()
    model = _Nested(200)
    model(torch.randn(2, 4)).sum().backward()  # plain torch takes it
    record = TrainingSession(model, inputs=torch.randn(2, 4)).run_iteration()
    assert record.complete and len(record.grad_norms) == 400
    assert sys.getrecursionlimit() == limit  # the recorder gives back what it raised


@pytest.mark.parametrize("lr", [float("inf"), "0.1", True, None])
def test_a_learning_rate_is_a_finite_number_and_nothing_else(lr):
    """inf was taken (every weight NaN after one step); "0.1" and True were quietly
    turned into numbers: the value is refused, saying what is wanted."""
    with pytest.raises(ValueError, match="learning rate must be"):
        TrainingSession(presets.load("mlp"), lr=lr)
    session = TrainingSession(presets.load("mlp"), lr=0.5)
    with pytest.raises(ValueError, match="learning rate must be"):
        session.set_lr(lr)
    assert session.lr == 0.5  # the last valid value stays in force


class _Escaping(nn.Module):
    """Functional ops in the model's own forward, one of them on a result kept
    aside on the model; a module called twice; an op after the last module call."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(4, 6), nn.Linear(6, 3), nn.ReLU()
        self.aside = None

    def forward(self, x):
        h = self.act(self.fc1(x))
        self.aside = (h * 2).sum()
        return torch.tanh(self.act(self.fc2(h))) + 0 * self.aside


@pytest.mark.parametrize("make", [lambda: gradviz.build_model(presets.load("resnet_tiny"), seed=0), _Escaping],
                         ids=["resnet_tiny", "escaping"])
def test_a_full_record_without_the_forward_walk_equals_one_with_it(make):
    """A plain full record skips the forward recorder's own walk (the graph's is the only
    one); node gradients need that walk. Both give the same graph, attributes and orders."""
    def record(node_gradients):
        torch.manual_seed(0)
        model = make()
        shape = (2, 4) if isinstance(model, _Escaping) else (2, *presets.load("resnet_tiny").input_shape[1:])
        session = TrainingSession(model, loss="mse", optimizer="sgd", input_shape=shape,
                                  data=RandomData(seed=0), seed=0, record="full", node_gradients=node_gradients)
        session.run_iteration()
        return session.history[-1]

    lazy, walked = record(None), record(4096)
    assert dict(lazy.graph.nodes(data=True)) == dict(walked.graph.nodes(data=True))
    assert list(lazy.graph.edges(data=True)) == list(walked.graph.edges(data=True))
    assert lazy.creation_order == walked.creation_order
    assert lazy.backward_order == walked.backward_order
    assert any(attrs.get("calls") for _, attrs in lazy.graph.nodes(data=True))
