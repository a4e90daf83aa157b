"""Training sessions over models people wrote: several inputs and outputs, skips, tied
weights, in-place ops, buffers, frozen and unused parameters, exported and scripted
files, and a 20k-node transformer; each checked against gradviz.autograd_graph."""
import time
from collections import Counter, namedtuple

import pytest
import torch
import torch.nn as nn

from gradviz.core.user_model_loader import ModelLoadError
from gradviz.core.session import TrainingSession
from gradviz.core.user_model import UserModelRequest, open_user_model, parameter_counts
from model_reference import EXAMPLES, graph_signature, reference_graph



pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- the reference: plain PyTorch + gradviz.autograd_graph, no session --------------------------------

def assert_same_graph(recorded, module, inputs, loss_name):
    expected = graph_signature(reference_graph(module, inputs, loss_name))
    assert graph_signature(recorded) == expected


# -- the examples, through the shared open path ---------------------------------------------------------

@pytest.mark.parametrize("file, loss", [
    ("small_resnet.py", "cross_entropy"), ("transformer_block.py", "cross_entropy"), ("lstm_tagger.py", "mse"),
])
def test_examples_open_step_and_match_autograd_graph(file, loss):
    opened = open_user_model(UserModelRequest(EXAMPLES / file, loss=loss, optimizer="adam"))
    session, inputs = opened.session, opened.loaded.example_inputs
    assert_same_graph(opened.graph, session.model, inputs, loss)
    record = session.run_iteration()
    assert record.complete and torch.isfinite(torch.tensor(record.loss))
    assert_same_graph(record.graph, session.model, inputs, loss)
    assert set(record.grad_norms) == {n for n, _ in session.model.named_parameters()}
    assert record.no_grad == []


def test_skip_connection_in_place_ops_and_batchnorm_buffers():
    opened = open_user_model(UserModelRequest(EXAMPLES / "small_resnet.py", loss="cross_entropy"))
    model = opened.session.model
    labels = Counter(a["label"] for _, a in opened.graph.nodes(data=True))
    assert labels["AddBackward0"] >= 4  # out += shortcut(x), one per block
    assert labels["ReluBackward0"] >= 5  # in-place ReLU still shows up as an op
    before = model.stem[1].running_mean.clone()
    opened.session.preview_graph()
    assert torch.equal(model.stem[1].running_mean, before)  # preview leaves BatchNorm statistics alone
    opened.session.run_iteration()
    assert not torch.equal(model.stem[1].running_mean, before)  # a training step updates them
    assert int(model.stem[1].num_batches_tracked) == 1


def test_tied_weights_appear_once_under_their_first_name():
    opened = open_user_model(UserModelRequest(EXAMPLES / "transformer_block.py", loss="cross_entropy"))
    model = opened.session.model
    assert model.head.weight is model.embed.weight
    record = opened.session.run_iteration()
    params = [a["name"] for _, a in record.graph.nodes(data=True) if a["kind"] == "param"]
    assert params.count("embed.weight") == 1 and "head.weight" not in params
    # one AccumulateGrad, two uses: the embedding lookup and the output head both feed it
    key = next(k for k, a in record.graph.nodes(data=True) if a.get("name") == "embed.weight")
    assert record.graph.out_degree(key) == 2
    assert "embed.weight" in record.grad_norms and "head.weight" not in record.grad_norms


def test_cross_entropy_over_the_last_dimension_of_sequence_logits():
    opened = open_user_model(UserModelRequest(EXAMPLES / "transformer_block.py", loss="cross_entropy"))
    session = opened.session
    assert session.output_shape == (2, 16, 100)
    _, targets = session._current_batch("classes")
    assert targets.shape == (32,) and targets.dtype == torch.long and int(targets.max()) < 100
    assert any("flattened to (32, 100)" in note for note in opened.notes)


# -- models written for these tests ------------------------------------------------------------------------

Outputs = namedtuple("Outputs", "mask logits")


class TwoInputsTwoOutputs(nn.Module):
    """Token ids and a float feature vector in; a (mask, logits, extra) dict out, mask first."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.feature = nn.Linear(3, 6)
        self.head = nn.Linear(6, 4)
        self.side = nn.Linear(6, 2)

    def forward(self, tokens, features):
        hidden = self.embed(tokens).mean(dim=1) + self.feature(features)
        return {"mask": (tokens > 5).float(), "logits": self.head(hidden), "extra": self.side(hidden)}


class NamedOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return Outputs(mask=torch.ones(2), logits=self.fc(x))


class FrozenAndUnused(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.backbone.requires_grad_(False)  # frozen, like a pretrained feature extractor
        self.head = nn.Linear(4, 2)
        self.unused = nn.Linear(4, 2)  # defined but never called in forward
        self.register_buffer("scale", torch.tensor(2.0))

    def forward(self, x):
        return self.head(torch.relu(self.backbone(x)) * self.scale)


def test_several_inputs_any_dtype_and_a_dict_output():
    tokens, features = torch.randint(0, 20, (3, 7)), torch.randn(3, 3)
    model = TwoInputsTwoOutputs()
    session = TrainingSession(model, inputs=(tokens, features), loss="cross_entropy")
    # The mask comes first but needs no grad: the loss takes the logits.
    assert session.loss_output == "output['logits']" and session.output_shape == (3, 4)
    assert session.output_description.startswith("dict of 3")
    assert session.input_shape == (3, 7)
    record = session.run_iteration()
    assert record.output_shape == (3, 4)
    assert_same_graph(record.graph, model, (tokens, features), "cross_entropy")
    # "side" computes "extra", which the loss does not use: no gradient, not an error
    assert record.no_grad == ["side.weight", "side.bias"]
    assert session.example_inputs[0].dtype == torch.int64


def test_namedtuple_output_uses_the_first_float_tensor_that_requires_grad():
    session = TrainingSession(NamedOutputs(), inputs=torch.randn(2, 4))
    assert session.loss_output == "output.logits"
    assert session.run_iteration().output_shape == (2, 3)


def test_frozen_and_unused_parameters_are_no_gradient_not_errors():
    model = FrozenAndUnused()
    session = TrainingSession(model, inputs=torch.randn(5, 4), optimizer="adam")
    frozen_before = model.backbone.weight.detach().clone()
    unused_before = model.unused.weight.detach().clone()
    record = session.run_iteration()
    assert record.no_grad == ["backbone.weight", "backbone.bias", "unused.weight", "unused.bias"]
    assert set(record.grad_norms) == {"head.weight", "head.bias"}
    assert record.nonfinite == [] and session.first_nonfinite is None
    assert torch.equal(model.backbone.weight, frozen_before) and torch.equal(model.unused.weight, unused_before)
    assert session.frozen_parameters == ["backbone.weight", "backbone.bias"]
    status = session.parameter_status()
    assert status == {"backbone.weight": "frozen", "backbone.bias": "frozen", "head.weight": "trainable",
                      "head.bias": "trainable", "unused.weight": "no gradient", "unused.bias": "no gradient"}
    assert record.grads.keys() == {"head.weight", "head.bias"}


def test_no_gradient_is_known_from_the_graph_before_the_first_step(tmp_path):
    path = tmp_path / "frozen.py"
    path.write_text(
        "import torch, torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a = nn.Linear(4, 4)\n"
        "        self.a.weight.requires_grad_(False)\n"
        "        self.b = nn.Linear(4, 2)\n"
        "        self.spare = nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        return self.b(self.a(x))\n"
    )
    opened = open_user_model(UserModelRequest(path, input_shapes="3, 4"))
    expected = {"a.weight": "frozen", "a.bias": "trainable", "b.weight": "trainable", "b.bias": "trainable",
                "spare.weight": "no gradient", "spare.bias": "no gradient"}
    assert opened.parameter_status() == expected
    assert parameter_counts(opened.session, opened.parameter_status()).no_grad == 2
    opened.session.run_iteration()
    assert opened.parameter_status() == expected
    counts = parameter_counts(opened.session)
    assert (counts.trainable, counts.frozen, counts.no_grad, counts.tensors) == (3, 1, 2, 6)


def test_targets_follow_the_output_dtype_and_stay_fixed():
    model = nn.Linear(3, 2).double()
    session = TrainingSession(model, inputs=torch.randn(4, 3, dtype=torch.float64))
    first = session.run_iteration()
    second = session.run_iteration()
    assert second.loss < first.loss  # same batch and targets every step: the loss falls


def test_bad_combinations_and_outputs_give_clear_errors():
    with pytest.raises(ValueError, match="either inputs= .* or data="):
        TrainingSession(nn.Linear(2, 2), inputs=torch.randn(1, 2), data="random")

    class IntegerOnly(nn.Module):
        def forward(self, x):
            return x.argmax(dim=1)

    with pytest.raises(ValueError, match="holds no floating-point tensor"):
        TrainingSession(IntegerOnly(), inputs=torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"cannot take the example inputs \(2, 5\)"):
        TrainingSession(nn.Linear(3, 2), inputs=torch.randn(2, 5))


# -- other file kinds, weights --------------------------------------------------------------------------

def _small_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def test_export_program_and_torchscript_files_train(tmp_path):
    model = _small_mlp()
    example = torch.randn(2, 4)
    torch.export.save(torch.export.export(model, (example,)), tmp_path / "mlp.pt2")
    torch.jit.script(model).save(str(tmp_path / "mlp.ts"))
    for name, kind in (("mlp.pt2", "export"), ("mlp.ts", "torchscript")):
        opened = open_user_model(UserModelRequest(tmp_path / name, input_shapes="2, 4", loss="cross_entropy"))
        assert opened.loaded.kind == kind
        record = opened.session.run_iteration()
        assert_same_graph(record.graph, opened.session.model, opened.loaded.example_inputs, "cross_entropy")
        assert sorted(record.grad_norms) == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_weights_are_loaded_from_a_state_dict(tmp_path):
    source = tmp_path / "net.py"
    source.write_text("import torch.nn as nn\ndef make():\n    return nn.Linear(4, 2)\n")
    weights = nn.Linear(4, 2)
    torch.save(weights.state_dict(), tmp_path / "w.pt")
    opened = open_user_model(UserModelRequest(source, name="make", weights=tmp_path / "w.pt", input_shapes="1, 4"))
    assert torch.equal(opened.session.model.weight, weights.weight)
    assert any("weights loaded" in note for note in opened.notes)


def test_failures_in_user_code_keep_their_lines(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        if self.training:\n"
        "            raise KeyError('only breaks in training mode')\n"
        "        return self.fc(x)\n"
    )
    # check_forward runs in eval mode and passes; the training-mode graph pass fails, with their line
    with pytest.raises(ModelLoadError) as info:
        open_user_model(UserModelRequest(path, input_shapes="1, 4"))
    assert "only breaks in training mode" in str(info.value)
    assert "line 8" in info.value.user_traceback
    with pytest.raises(ModelLoadError, match="no example inputs"):
        open_user_model(UserModelRequest(path))


# -- big models ---------------------------------------------------------------------------------------------

def test_a_20k_node_transformer_opens_and_steps():
    request = UserModelRequest(
        EXAMPLES / "transformer_block.py", name="TinyTransformer",
        args="n_layers=340, d_model=8, n_heads=2, vocab=20, max_len=16", input_shapes="1, 8", dtype="int64",
        loss="cross_entropy",
    )
    start = time.perf_counter()
    opened = open_user_model(request)
    opened_s = time.perf_counter() - start
    assert opened.graph.number_of_nodes() >= 20_000
    record = opened.session.run_iteration()
    assert record.graph.number_of_nodes() == opened.graph.number_of_nodes()
    assert record.no_grad == [] and len(record.backward_order) > 20_000
    print(f"20k-node transformer: open {opened_s:.1f} s, one iteration {sum(record.phase_times.values()):.1f} s")
