"""build_model, to_python and spec_from_module: the tutorial's LeNet, exactly."""
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn

import gradviz
from gradviz import SpecError, presets
from tutorial_net import TutorialNet

TUTORIAL_REPR = """Net(
  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))
  (conv2): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))
  (fc1): Linear(in_features=400, out_features=120, bias=True)
  (fc2): Linear(in_features=120, out_features=84, bias=True)
  (fc3): Linear(in_features=84, out_features=10, bias=True)
)"""


def test_lenet_matches_tutorial(lenet_spec):
    net = gradviz.build_model(lenet_spec)
    assert repr(net) == TUTORIAL_REPR
    params = list(net.parameters())
    assert len(params) == 10
    assert params[0].size() == torch.Size([6, 1, 5, 5])
    assert [name for name, _ in net.named_parameters()] == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
        "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias",
    ]
    out = net(torch.randn(1, 1, 32, 32))
    assert out.shape == (1, 10)
    assert type(out.grad_fn).__name__ == "AddmmBackward0"


def test_built_lenet_computes_exactly_what_the_tutorial_net_computes(lenet_spec):
    ours, theirs = gradviz.build_model(lenet_spec), TutorialNet()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(3, 1, 32, 32)
    assert torch.equal(ours(x), theirs(x))


def test_seed_makes_weights_reproducible_without_touching_global_rng(lenet_spec):
    state = torch.random.get_rng_state()
    a, b = gradviz.build_model(lenet_spec, seed=3), gradviz.build_model(lenet_spec, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = gradviz.build_model(lenet_spec, seed=4)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_build_refuses_invalid_spec_with_named_error(lenet_spec):
    lenet_spec.find("fc1").params["in_features"] = 256
    with pytest.raises(gradviz.ShapeError, match="fc1"):
        gradviz.build_model(lenet_spec)


def test_residual_adds_skip(lenet_spec):
    spec = presets.load("resnet_tiny")
    net = gradviz.build_model(spec, seed=0)
    assert any(name.startswith("block1.block1_conv1") for name, _ in net.named_parameters())
    block = net.block1
    x = torch.randn(2, 8, 16, 16)
    block.eval()
    assert torch.allclose(block(x), x + block._run(x))


@pytest.mark.parametrize("name", presets.names())
def test_to_python_gives_identical_model(name):
    spec = presets.load(name)
    source = gradviz.to_python(spec)
    namespace = {}
    exec(compile(source, "<exported>", "exec"), namespace)
    exported, built = namespace[spec.name](), gradviz.build_model(spec, seed=1)
    assert [(n, p.shape) for n, p in exported.named_parameters()] == [(n, p.shape) for n, p in built.named_parameters()]
    exported.load_state_dict(built.state_dict())
    exported.eval(), built.eval()
    x = torch.randn(spec.input_shape)
    assert torch.equal(exported(x), built(x))


def test_to_python_reads_like_the_tutorial(lenet_spec):
    source = gradviz.to_python(lenet_spec)
    assert "self.conv1 = nn.Conv2d(1, 6, 5)" in source
    assert "self.fc1 = nn.Linear(400, 120)" in source
    assert "F.relu(x)" in source and "F.max_pool2d(x, 2)" in source and "torch.flatten(x, 1)" in source


def test_spec_from_sequential_ordered_dict():
    seq = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 32, 5, padding=2)), ("maxpool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 32, 5, padding=2)), ("maxpool2", nn.MaxPool2d(2)),
        ("conv3", nn.Conv2d(32, 64, 5, padding=2)), ("maxpool3", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()), ("linear1", nn.Linear(1024, 64)), ("linear2", nn.Linear(64, 10)),
    ]))
    spec = gradviz.spec_from_module(seq, (1, 3, 32, 32))
    assert spec == presets.load("cifar_seq")
    rebuilt = gradviz.build_model(spec)
    rebuilt.load_state_dict(seq.state_dict())
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(rebuilt(x), seq(x))


def test_spec_from_plain_sequential_names_layers():
    seq = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    spec = gradviz.spec_from_module(seq)
    assert [layer.kind for layer in spec.layers] == ["Linear", "Tanh", "Linear"]
    assert spec.input_shape == (1, 2)
    assert all(layer.name.isidentifier() for layer in spec.layers)


def test_spec_from_tutorial_class_via_fx():
    spec = gradviz.spec_from_module(TutorialNet(), (1, 1, 32, 32))
    assert [layer.kind for layer in spec.layers] == [layer.kind for layer in presets.load("lenet").layers]
    assert [n for n, _ in gradviz.build_model(spec).named_parameters()][:2] == ["conv1.weight", "conv1.bias"]


def test_spec_from_built_model_round_trips(lenet_spec):
    assert gradviz.spec_from_module(gradviz.build_model(lenet_spec)) == lenet_spec


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) + x


@pytest.mark.parametrize(
    "module, match",
    [
        (Branchy(), "straight chain|combines"),
        (nn.Sequential(nn.LSTM(3, 3)), "not a catalogue layer"),
        (nn.Sequential(nn.Conv2d(2, 4, 3, groups=2)), "groups"),
    ],
)
def test_spec_from_module_refuses_what_it_cannot_represent(module, match):
    with pytest.raises(SpecError, match=match):
        gradviz.spec_from_module(module, (1, 4) if isinstance(module, Branchy) else (1, 2, 8, 8))
