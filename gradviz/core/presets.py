"""Ready-made networks, starting with the ones of the PyTorch "Neural Networks" tutorial.

``names()`` lists them in menu order; ``load(name)`` returns a fresh ``NetworkSpec``
(edit it freely: the next ``load`` is unaffected).
"""
from __future__ import annotations

from typing import Callable

from gradviz.core.spec import LayerSpec, NetworkSpec, SpecError


def _L(kind: str, name: str, **params) -> LayerSpec:
    return LayerSpec(kind, name, params)


def _lenet(kernel: int, flat: int) -> NetworkSpec:
    # The tutorial's forward: max_pool2d(relu(conv1(x)), (2, 2)), max_pool2d(relu(conv2(x)), 2),
    # flatten(x, 1), relu(fc1), relu(fc2), fc3.
    return NetworkSpec(
        [
            _L("Conv2d", "conv1", in_channels=1, out_channels=6, kernel_size=kernel),
            _L("ReLU", "relu1"),
            _L("MaxPool2d", "pool1", kernel_size=2),
            _L("Conv2d", "conv2", in_channels=6, out_channels=16, kernel_size=kernel),
            _L("ReLU", "relu2"),
            _L("MaxPool2d", "pool2", kernel_size=2),
            _L("Flatten", "flatten", start_dim=1),
            _L("Linear", "fc1", in_features=flat, out_features=120),
            _L("ReLU", "relu3"),
            _L("Linear", "fc2", in_features=120, out_features=84),
            _L("ReLU", "relu4"),
            _L("Linear", "fc3", in_features=84, out_features=10),
        ],
        (1, 1, 32, 32),
    )


def lenet() -> NetworkSpec:
    """The tutorial's LeNet: 32→28→14→10→5, fc1 takes 16·5·5 = 400."""
    return _lenet(5, 16 * 5 * 5)


def lenet3x3() -> NetworkSpec:
    """The tutorial variant with 3×3 kernels: 32→30→15→13→6, fc1 takes 16·6·6 = 576."""
    return _lenet(3, 16 * 6 * 6)


def cifar_seq() -> NetworkSpec:
    """The ``nn.Sequential(OrderedDict(...))`` CIFAR-10 network (3×32×32 → 10)."""
    return NetworkSpec(
        [
            _L("Conv2d", "conv1", in_channels=3, out_channels=32, kernel_size=5, padding=2),
            _L("MaxPool2d", "maxpool1", kernel_size=2),
            _L("Conv2d", "conv2", in_channels=32, out_channels=32, kernel_size=5, padding=2),
            _L("MaxPool2d", "maxpool2", kernel_size=2),
            _L("Conv2d", "conv3", in_channels=32, out_channels=64, kernel_size=5, padding=2),
            _L("MaxPool2d", "maxpool3", kernel_size=2),
            _L("Flatten", "flatten"),
            _L("Linear", "linear1", in_features=1024, out_features=64),
            _L("Linear", "linear2", in_features=64, out_features=10),
        ],
        (1, 3, 32, 32),
    )


def mlp() -> NetworkSpec:
    """A tiny 2→8→8→1 Tanh MLP: a graph small enough to read node by node."""
    return NetworkSpec(
        [
            _L("Linear", "fc1", in_features=2, out_features=8),
            _L("Tanh", "tanh1"),
            _L("Linear", "fc2", in_features=8, out_features=8),
            _L("Tanh", "tanh2"),
            _L("Linear", "fc3", in_features=8, out_features=1),
        ],
        (4, 2),
    )


def _block(prefix: str, channels: int) -> LayerSpec:
    return LayerSpec(
        "Residual",
        prefix,
        {},
        [
            _L("Conv2d", f"{prefix}_conv1", in_channels=channels, out_channels=channels, kernel_size=3, padding=1, bias=False),
            _L("BatchNorm2d", f"{prefix}_bn1", num_features=channels),
            _L("ReLU", f"{prefix}_relu"),
            _L("Conv2d", f"{prefix}_conv2", in_channels=channels, out_channels=channels, kernel_size=3, padding=1, bias=False),
            _L("BatchNorm2d", f"{prefix}_bn2", num_features=channels),
        ],
    )


def resnet_tiny() -> NetworkSpec:
    """A small ResNet: stem, two residual blocks (x + f(x)), global pooling, classifier."""
    return NetworkSpec(
        [
            _L("Conv2d", "stem", in_channels=3, out_channels=8, kernel_size=3, padding=1, bias=False),
            _L("BatchNorm2d", "stem_bn", num_features=8),
            _L("ReLU", "stem_relu"),
            _block("block1", 8),
            _L("ReLU", "relu1"),
            _block("block2", 8),
            _L("ReLU", "relu2"),
            _L("AdaptiveAvgPool2d", "pool", output_size=1),
            _L("Flatten", "flatten"),
            _L("Linear", "fc", in_features=8, out_features=10),
        ],
        (2, 3, 16, 16),
    )


def neuron() -> NetworkSpec:
    """One neuron, micrograd's: two inputs, tanh(w·x + b); every number fits on its node."""
    return NetworkSpec(
        [
            _L("Linear", "neuron", in_features=2, out_features=1),
            _L("Tanh", "tanh"),
        ],
        (1, 2),
    )


def tiny_mlp() -> NetworkSpec:
    """A 2→3→1 tanh MLP, one sample: small enough to follow every number by hand."""
    return NetworkSpec(
        [
            _L("Linear", "fc1", in_features=2, out_features=3),
            _L("Tanh", "tanh1"),
            _L("Linear", "fc2", in_features=3, out_features=1),
            _L("Tanh", "tanh2"),
        ],
        (1, 2),
    )


_PRESETS: dict[str, Callable[[], NetworkSpec]] = {
    "lenet": lenet,
    "lenet3x3": lenet3x3,
    "cifar_seq": cifar_seq,
    "mlp": mlp,
    "resnet_tiny": resnet_tiny,
    "neuron": neuron,
    "tiny_mlp": tiny_mlp,
}

DESCRIPTIONS = {name: (factory.__doc__ or "").strip().splitlines()[0] for name, factory in _PRESETS.items()}


def names() -> list[str]:
    return list(_PRESETS)


def load(name: str) -> NetworkSpec:
    try:
        factory = _PRESETS[name]
    except KeyError:
        raise SpecError(f"unknown preset {name!r}; available: {', '.join(_PRESETS)}") from None
    spec = factory()
    spec.name = "Net"
    return spec
