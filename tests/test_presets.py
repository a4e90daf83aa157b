"""Presets from the tutorial, checked against the facts the tutorial prints."""
import pytest
import torch

import gradviz
from gradviz import SpecError, presets


def test_names():
    assert {"lenet", "lenet3x3", "cifar_seq", "mlp", "resnet_tiny"} <= set(presets.names())


def test_load_returns_a_fresh_copy():
    a = presets.load("lenet")
    a.layers.pop()
    assert len(presets.load("lenet").layers) == len(a.layers) + 1


def test_unknown_preset():
    with pytest.raises(SpecError, match="unknown preset"):
        presets.load("alexnet")


def test_lenet3x3_fc1_takes_576():
    spec = presets.load("lenet3x3")
    assert spec.find("fc1").params["in_features"] == 576
    assert spec.find("conv1").params["kernel_size"] == 3


def test_cifar_seq_layout():
    spec = presets.load("cifar_seq")
    assert [layer.name for layer in spec.layers] == [
        "conv1", "maxpool1", "conv2", "maxpool2", "conv3", "maxpool3", "flatten", "linear1", "linear2"]
    assert spec.input_shape == (1, 3, 32, 32)
    shapes = {s.name: s for s in gradviz.infer_shapes(spec)}
    assert shapes["flatten"].output_shape == (1, 1024)


def test_mlp_is_2_8_8_1_tanh():
    spec = presets.load("mlp")
    model = gradviz.build_model(spec)
    assert [tuple(p.shape) for n, p in model.named_parameters() if n.endswith("weight")] == [(8, 2), (8, 8), (1, 8)]
    assert sum(layer.kind == "Tanh" for layer in spec.layers) == 2


def test_resnet_tiny_has_two_residual_blocks_and_a_non_chain_graph():
    spec = presets.load("resnet_tiny")
    assert sum(layer.kind == "Residual" for layer in spec.layers) >= 2
    model = gradviz.build_model(spec, seed=0)
    out = model(torch.randn(spec.input_shape))
    # an AddBackward0 node with two producers: the skip connection is in the graph
    seen, stack, adds = set(), [out.grad_fn], 0
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        adds += type(fn).__name__ == "AddBackward0"
        stack.extend(f for f, _ in fn.next_functions)
    assert adds >= 2
