"""Shape inference: derivations, parameter counts, errors — checked against real torch modules."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import gradviz
from gradviz import LayerSpec, NetworkSpec, ShapeError, presets


def test_lenet_shapes_and_derivations(lenet_spec):
    shapes = {s.name: s for s in gradviz.infer_shapes(lenet_spec)}
    assert shapes["conv1"].output_shape == (1, 6, 28, 28)
    assert shapes["conv1"].derivation == "(32 − 5 + 2·0)/1 + 1 = 28"
    assert shapes["pool1"].output_shape == (1, 6, 14, 14)
    assert shapes["conv2"].output_shape == (1, 16, 10, 10)
    assert shapes["pool2"].output_shape == (1, 16, 5, 5)
    assert shapes["flatten"].derivation == "16·5·5 = 400"
    assert shapes["fc1"].input_shape == (1, 400)
    assert shapes["fc3"].output_shape == (1, 10)
    assert shapes["conv1"].num_params == 6 * 1 * 5 * 5 + 6


def test_lenet3x3_takes_576():
    shapes = {s.name: s for s in gradviz.infer_shapes(presets.load("lenet3x3"))}
    assert shapes["flatten"].derivation == "16·6·6 = 576"


@pytest.mark.parametrize("name", presets.names())
def test_inferred_shapes_and_counts_match_real_model(name):
    spec = presets.load(name)
    model = gradviz.build_model(spec, seed=0)
    shapes = gradviz.infer_shapes(spec)
    assert tuple(model(torch.randn(spec.input_shape)).shape) == shapes[-1].output_shape
    assert sum(s.num_params for s in shapes) == sum(p.numel() for p in model.parameters())


def test_fc1_with_256_inputs_names_layer_and_sizes(lenet_spec):
    lenet_spec.find("fc1").params["in_features"] = 256
    with pytest.raises(ShapeError) as info:
        gradviz.infer_shapes(lenet_spec)
    err = info.value
    assert err.layer_index == 7 and err.layer_name == "fc1"
    assert "fc1 expects 256 input features, receives 400" in str(err)


def test_channel_mismatch(lenet_spec):
    lenet_spec.find("conv2").params["in_channels"] = 3
    with pytest.raises(ShapeError, match="conv2 expects 3 input channels, receives 6") as info:
        gradviz.infer_shapes(lenet_spec)
    assert info.value.layer_index == 3


def test_kernel_larger_than_input():
    spec = NetworkSpec([LayerSpec("Conv2d", "c", {"in_channels": 1, "out_channels": 1, "kernel_size": 9})], (1, 1, 4, 4))
    with pytest.raises(ShapeError, match="smaller than the window 9"):
        gradviz.infer_shapes(spec)


def test_wrong_rank_is_named():
    spec = NetworkSpec([LayerSpec("Conv2d", "c", {"in_channels": 1, "out_channels": 1, "kernel_size": 3})], (1, 32, 32))
    with pytest.raises(ShapeError, match=r"expects a 4-D input"):
        gradviz.infer_shapes(spec)


def test_residual_must_keep_shape():
    block = LayerSpec("Residual", "res", {}, [LayerSpec("Linear", "inner", {"in_features": 4, "out_features": 3})])
    spec = NetworkSpec([LayerSpec("ReLU", "r"), block], (2, 4))
    with pytest.raises(ShapeError, match="x \\+ f\\(x\\)") as info:
        gradviz.infer_shapes(spec)
    assert info.value.layer_index == 1


def test_error_inside_residual_names_inner_layer():
    block = LayerSpec("Residual", "res", {}, [LayerSpec("Linear", "inner", {"in_features": 5, "out_features": 4})])
    with pytest.raises(ShapeError) as info:
        gradviz.infer_shapes(NetworkSpec([block], (2, 4)))
    assert info.value.layer_name == "inner" and info.value.path == (0, 0) and info.value.layer_index == 0


def test_floor_is_shown_when_division_is_inexact():
    spec = NetworkSpec([LayerSpec("Conv2d", "c", {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "stride": 2})], (1, 1, 8, 8))
    (shape,) = gradviz.infer_shapes(spec)
    assert shape.output_shape == (1, 1, 3, 3)
    assert shape.derivation.startswith("⌊") and shape.derivation.endswith("= 3")


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(4, 20), width=st.integers(4, 20), kernel=st.integers(1, 4), stride=st.integers(1, 3),
    padding=st.integers(0, 2), dilation=st.integers(1, 2), pool=st.integers(1, 2),
)
def test_conv_pool_shapes_match_torch(size, width, kernel, stride, padding, dilation, pool):
    spec = NetworkSpec(
        [
            LayerSpec("Conv2d", "c", {"in_channels": 2, "out_channels": 3, "kernel_size": (kernel, kernel + 1), "stride": stride,
                                      "padding": padding, "dilation": dilation}),
            LayerSpec("MaxPool2d", "p", {"kernel_size": pool}),
            LayerSpec("Flatten", "f"),
        ],
        (1, 2, size, width),
    )
    real_model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, (kernel, kernel + 1), stride, padding, dilation), torch.nn.MaxPool2d(pool), torch.nn.Flatten()
    )
    x = torch.randn(spec.input_shape)
    try:
        shapes = gradviz.infer_shapes(spec)
    except ShapeError:
        with pytest.raises(RuntimeError):  # torch must agree that the shapes do not fit
            real_model(x)
        return
    assert shapes[-1].output_shape == tuple(real_model(x).shape)
