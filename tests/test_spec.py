"""NetworkSpec/LayerSpec: JSON round trip and validation errors that name layer and field."""
import pytest

import gradviz
from gradviz import LayerSpec, NetworkSpec, SpecError, presets
from gradviz.core.layers import validate_network


@pytest.mark.parametrize("name", presets.names())
def test_json_round_trip_gives_equal_spec(name):
    spec = presets.load(name)
    again = NetworkSpec.from_json(spec.to_json())
    assert again == spec
    assert again is not spec


def test_lists_and_tuples_compare_equal():
    a = LayerSpec("Conv2d", "c", {"in_channels": 1, "out_channels": 2, "kernel_size": [2, 3]})
    b = LayerSpec("Conv2d", "c", {"in_channels": 1, "out_channels": 2, "kernel_size": (2, 3)})
    assert a == b


def test_residual_round_trip_keeps_inner_layers():
    spec = presets.load("resnet_tiny")
    again = NetworkSpec.from_json(spec.to_json())
    blocks = [layer for layer in again.layers if layer.kind == "Residual"]
    assert len(blocks) >= 2 and all(block.layers for block in blocks)


@pytest.mark.parametrize(
    "layer, field",
    [
        (LayerSpec("Conv2d", "conv1", {"in_channels": 1, "out_channels": 6, "kernel_size": -5}), "kernel_size"),
        (LayerSpec("Conv2d", "conv1", {"in_channels": 1, "out_channels": 0, "kernel_size": 5}), "out_channels"),
        (LayerSpec("Linear", "fc1", {"in_features": 1.5, "out_features": 3}), "in_features"),
        (LayerSpec("Linear", "fc1", {"in_features": 4, "out_features": 3, "bias": "yes"}), "bias"),
        (LayerSpec("Dropout", "drop", {"p": 1.5}), "p"),
        (LayerSpec("Linear", "fc1", {"in_features": 4, "out_features": 3, "colour": 1}), "colour"),
        (LayerSpec("Wobble", "w1", {}), "kind"),
        (LayerSpec("ReLU", "1bad", {}), "name"),
        (LayerSpec("MaxPool2d", "pool", {"kernel_size": 2, "padding": 2}), "padding"),
    ],
)
def test_invalid_values_raise_spec_error_naming_layer_and_field(layer, field):
    spec = NetworkSpec([layer], (1, 1, 8, 8))
    with pytest.raises(SpecError) as info:
        gradviz.infer_shapes(spec)
    assert info.value.field == field
    assert info.value.layer_name == layer.name
    assert layer.name in str(info.value)
    assert field in str(info.value) or layer.kind in str(info.value)


def test_duplicate_names_rejected():
    spec = NetworkSpec([LayerSpec("ReLU", "a"), LayerSpec("Tanh", "a")], (1, 3))
    with pytest.raises(SpecError, match="used twice"):
        validate_network(spec)


def test_bad_json_is_spec_error_not_traceback():
    with pytest.raises(SpecError):
        NetworkSpec.from_json("{not json")
    with pytest.raises(SpecError, match="input_shape"):
        NetworkSpec.from_json('{"layers": [], "input_shape": "big"}')
    with pytest.raises(SpecError, match="kind"):
        NetworkSpec.from_json('{"layers": [{"name": "x"}], "input_shape": [1, 2]}')


def test_unique_name():
    spec = presets.load("lenet")
    assert spec.unique_name("conv1") == "conv3"
    assert spec.unique_name("drop") == "drop"


def test_catalogue_declares_every_parameter():
    kinds = gradviz.layer_kinds()
    required = {
        "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
        "Dropout", "Flatten", "Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax", "Residual",
    }
    assert required <= set(kinds)
    for kind in kinds.values():
        assert kind.help and kind.group
        for decl in kind.params:
            assert decl.type in {"int", "float", "bool", "size", "shape"}
            assert decl.help
    assert kinds["Residual"].container
