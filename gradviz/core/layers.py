"""The layer catalogue: every kind a network can use, with declared parameters.

Each kind declares its parameters (type, default, allowed range, one-line help)
so that the UI generates editors from data and validation needs no special
cases. ``make_module`` turns validated params into the torch module.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from gradviz.core.limits import check_spec_limits
from gradviz.core.names import layer_name_problem, network_name_problem
from gradviz.core.spec import LayerSpec, NetworkSpec, SpecError

# Parameter types understood by validation and by the UI's editor factory.
INT, FLOAT, BOOL, SIZE, SHAPE = "int", "float", "bool", "size", "shape"
# SIZE: an int or a tuple of ints (one per spatial dim), e.g. kernel_size 5 or (2, 3).
# SHAPE: a tuple of ints (LayerNorm's normalized_shape).

GROUPS = ("convolution", "pooling", "linear", "activation", "normalisation", "structure")


@dataclass(frozen=True)
class ParamDecl:
    name: str
    type: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    optional: bool = False  # None allowed (e.g. pooling stride None = kernel size)


@dataclass(frozen=True)
class LayerKind:
    name: str
    group: str
    help: str
    params: tuple[ParamDecl, ...] = ()
    # Stateless kinds (no parameters, no buffers, no train/eval behaviour) are
    # applied as plain functions, like the tutorial's F.relu / F.max_pool2d, so
    # that print(model) lists exactly the layers that hold weights.
    stateless: bool = False
    container: bool = False  # holds inner layers (Residual)
    # Spatial dimensions of a convolution or pooling: a SIZE given as a list needs one entry per dimension.
    spatial_dims: int | None = None
    factory: Callable[[dict], Any] | None = field(default=None, compare=False, repr=False)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> ParamDecl:
        return next(p for p in self.params if p.name == name)


def _conv_params(dims: int) -> tuple[ParamDecl, ...]:
    return (
        ParamDecl("in_channels", INT, 1, "Channels of the input (depth of the incoming feature maps)", 1, 100_000),
        ParamDecl("out_channels", INT, 6, "Number of filters, i.e. channels produced", 1, 100_000),
        ParamDecl("kernel_size", SIZE, 5 if dims == 2 else 3, "Size of each filter (int or one per dimension)", 1, 1024),
        ParamDecl("stride", SIZE, 1, "Step of the filter between positions", 1, 1024),
        ParamDecl("padding", SIZE, 0, "Zeros added on each side of the input", 0, 1024),
        ParamDecl("dilation", SIZE, 1, "Spacing between filter taps", 1, 1024),
        ParamDecl("bias", BOOL, True, "Learn an additive bias per output channel"),
    )


def _pool_params() -> tuple[ParamDecl, ...]:
    return (
        ParamDecl("kernel_size", SIZE, 2, "Window size", 1, 1024),
        ParamDecl("stride", SIZE, None, "Window step (empty = kernel size)", 1, 1024, optional=True),
        ParamDecl("padding", SIZE, 0, "Padding on each side (at most half the kernel)", 0, 512),
    )


def _nn(name: str):
    """Factory calling ``torch.nn.<name>(**params)``; torch is imported on first use."""

    def make(params: dict):
        import torch.nn as nn

        return getattr(nn, name)(**params)

    return make


_DIM = ParamDecl("dim", INT, -1, "Dimension the probabilities are taken over", -8, 8)

_KINDS: tuple[LayerKind, ...] = (
    LayerKind("Conv1d", "convolution", "1-D convolution over (N, C, L) signals", _conv_params(1), spatial_dims=1, factory=_nn("Conv1d")),
    LayerKind("Conv2d", "convolution", "2-D convolution over (N, C, H, W) images", _conv_params(2), spatial_dims=2, factory=_nn("Conv2d")),
    LayerKind("MaxPool2d", "pooling", "Keep the maximum of each window", _pool_params(), stateless=True, spatial_dims=2, factory=_nn("MaxPool2d")),
    LayerKind("AvgPool2d", "pooling", "Average each window", _pool_params(), stateless=True, spatial_dims=2, factory=_nn("AvgPool2d")),
    LayerKind(
        "AdaptiveAvgPool2d", "pooling", "Average down to a fixed output size, whatever the input size",
        (ParamDecl("output_size", SIZE, 1, "Output height and width", 1, 4096),), stateless=True, spatial_dims=2,
        factory=_nn("AdaptiveAvgPool2d"),
    ),
    LayerKind(
        "Linear", "linear", "Affine map y = x·Wᵀ + b over the last dimension",
        (
            ParamDecl("in_features", INT, 400, "Size of each input sample", 1, 10_000_000),
            ParamDecl("out_features", INT, 120, "Size of each output sample", 1, 10_000_000),
            ParamDecl("bias", BOOL, True, "Learn an additive bias"),
        ),
        factory=_nn("Linear"),
    ),
    LayerKind("ReLU", "activation", "max(0, x)", stateless=True, factory=_nn("ReLU")),
    LayerKind(
        "LeakyReLU", "activation", "x if x > 0 else slope·x",
        (ParamDecl("negative_slope", FLOAT, 0.01, "Slope for negative inputs", 0.0, 1.0),), stateless=True, factory=_nn("LeakyReLU"),
    ),
    LayerKind("Sigmoid", "activation", "1 / (1 + e^−x)", stateless=True, factory=_nn("Sigmoid")),
    LayerKind("Tanh", "activation", "Hyperbolic tangent", stateless=True, factory=_nn("Tanh")),
    LayerKind("GELU", "activation", "Gaussian error linear unit (transformers' activation)", stateless=True, factory=_nn("GELU")),
    LayerKind("Softmax", "activation", "Exponentiate and normalise to probabilities", (_DIM,), stateless=True, factory=_nn("Softmax")),
    LayerKind("LogSoftmax", "activation", "log(softmax(x)), for NLL loss", (_DIM,), stateless=True, factory=_nn("LogSoftmax")),
    LayerKind(
        "BatchNorm1d", "normalisation", "Normalise each feature over the batch (N, C) or (N, C, L)",
        (
            ParamDecl("num_features", INT, 120, "Features (channels) C", 1, 10_000_000),
            ParamDecl("eps", FLOAT, 1e-5, "Added to the variance for stability", 0.0, 1.0),
            ParamDecl("momentum", FLOAT, 0.1, "Running-statistics update rate", 0.0, 1.0),
        ),
        factory=_nn("BatchNorm1d"),
    ),
    LayerKind(
        "BatchNorm2d", "normalisation", "Normalise each channel over batch and space (N, C, H, W)",
        (
            ParamDecl("num_features", INT, 6, "Channels C", 1, 10_000_000),
            ParamDecl("eps", FLOAT, 1e-5, "Added to the variance for stability", 0.0, 1.0),
            ParamDecl("momentum", FLOAT, 0.1, "Running-statistics update rate", 0.0, 1.0),
        ),
        factory=_nn("BatchNorm2d"),
    ),
    LayerKind(
        "LayerNorm", "normalisation", "Normalise over the trailing dimensions of each sample",
        (
            ParamDecl("normalized_shape", SHAPE, (10,), "Trailing dimensions to normalise over", 1, 10_000_000),
            ParamDecl("eps", FLOAT, 1e-5, "Added to the variance for stability", 0.0, 1.0),
        ),
        factory=_nn("LayerNorm"),
    ),
    LayerKind(
        "Dropout", "normalisation", "Zero random elements while training (regularisation)",
        (ParamDecl("p", FLOAT, 0.5, "Probability of zeroing an element", 0.0, 1.0),), factory=_nn("Dropout"),
    ),
    LayerKind(
        "Flatten", "structure", "Join dimensions into one, e.g. (N, 16, 5, 5) → (N, 400)",
        (
            ParamDecl("start_dim", INT, 1, "First dimension to join", -8, 8),
            ParamDecl("end_dim", INT, -1, "Last dimension to join", -8, 8),
        ),
        stateless=True, factory=_nn("Flatten"),
    ),
    LayerKind("Residual", "structure", "Skip connection: output x + f(x), f = the inner layers", container=True),
)

_BY_NAME = {kind.name: kind for kind in _KINDS}


def layer_kinds() -> dict[str, LayerKind]:
    """The catalogue, kind name → ``LayerKind``, in palette order."""
    return dict(_BY_NAME)


def get_kind(name: str, layer_name: str | None = None) -> LayerKind:
    try:
        return _BY_NAME[name]
    except KeyError:
        where = f"layer {layer_name!r}: " if layer_name else ""
        raise SpecError(
            f"{where}unknown layer kind {name!r}; known kinds: {', '.join(_BY_NAME)}", layer_name=layer_name, field="kind"
        ) from None


def resolved_params(layer: LayerSpec) -> dict:
    """The layer's params with catalogue defaults filled in for missing ones."""
    kind = get_kind(layer.kind, layer.name)
    return {**kind.defaults(), **layer.params}


def validate_layer(layer: LayerSpec) -> None:
    """Raise ``SpecError`` (naming layer and field) if the layer's params are invalid."""
    kind = get_kind(layer.kind, layer.name)
    problem = layer_name_problem(layer.name)
    if problem:
        raise SpecError(f"layer name: {problem}", layer_name=layer.name, field="name")
    if layer.layers and not kind.container:
        raise SpecError(f"layer {layer.name!r}: {kind.name} cannot hold inner layers", layer_name=layer.name, field="layers")
    known = {p.name for p in kind.params}
    for key in layer.params:
        if key not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise SpecError(
                f"layer {layer.name!r} ({kind.name}): unknown parameter {key!r} (allowed: {allowed})",
                layer_name=layer.name, field=key,
            )
    values = resolved_params(layer)
    for decl in kind.params:
        _check_value(layer, decl, values[decl.name], kind.spatial_dims)
    if kind.name in ("MaxPool2d", "AvgPool2d"):
        kernel, pad = _pair(values["kernel_size"]), _pair(values["padding"])
        if any(p * 2 > k for p, k in zip(pad, kernel)):
            raise SpecError(
                f"layer {layer.name!r}: padding {values['padding']} must be at most half the kernel size {values['kernel_size']}",
                layer_name=layer.name, field="padding",
            )


def _pair(value) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value, value)


def _check_value(layer: LayerSpec, decl: ParamDecl, value, spatial_dims: int | None = None) -> None:
    def fail(reason: str):
        raise SpecError(
            f"layer {layer.name!r} ({layer.kind}): {decl.name} = {value!r} {reason}", layer_name=layer.name, field=decl.name
        )

    if value is None:
        if decl.optional:
            return
        fail("is required")
    numbers: tuple
    if decl.type == BOOL:
        if not isinstance(value, bool):
            fail("must be true or false")
        return
    if decl.type == FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("must be a number")
        # NaN passes every < and > test, and inf cannot be saved as JSON.
        if isinstance(value, float) and not math.isfinite(value):
            fail("must be a finite number")
        numbers = (value,)
    elif decl.type == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            fail("must be an integer")
        numbers = (value,)
    elif decl.type in (SIZE, SHAPE):
        items = value if isinstance(value, tuple) else (value,)
        if decl.type == SHAPE and not isinstance(value, tuple):
            fail("must be a list of integers")
        if not items or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
            fail("must be an integer or a list of integers")
        if decl.type == SIZE and isinstance(value, tuple) and spatial_dims is not None and len(value) != spatial_dims:
            fail(
                f"has {len(value)} entries, but a {layer.kind} has {spatial_dims} spatial dimension{'s' if spatial_dims > 1 else ''}: "
                f"give one integer or {spatial_dims}"
            )
        numbers = items
    else:  # pragma: no cover - catalogue bug
        raise AssertionError(decl.type)
    problem = range_problem(decl, numbers)
    if problem:
        fail(problem)


def range_problem(decl: ParamDecl, numbers) -> str:
    """Why one of ``numbers`` is outside the declared range ("is below the minimum 1"), or ""."""
    for number in numbers:
        if decl.min is not None and number < decl.min:
            return f"is below the minimum {decl.min:g}"
        if decl.max is not None and number > decl.max:
            return f"is above the maximum {decl.max:g}"
    return ""


def make_module(layer: LayerSpec):
    """The torch module for one (validated) non-container layer."""
    kind = get_kind(layer.kind, layer.name)
    if kind.factory is None:
        raise SpecError(f"layer {layer.name!r}: {kind.name} is built by build_model, not make_module", layer_name=layer.name)
    return kind.factory(resolved_params(layer))


def validate_network(spec: NetworkSpec) -> None:
    """Raise ``SpecError`` naming the layer and field of the first problem found in ``spec``.

    It lives beside the catalogue it checks against, so the spec module stays a plain
    data description that imports nothing of the layers."""
    problem = network_name_problem(spec.name)
    if problem:
        raise SpecError(f"network name: {problem}", field="name")
    check_spec_limits(spec)
    if not spec.input_shape or any(d <= 0 for d in spec.input_shape):
        raise SpecError(f"input shape {spec.input_shape} must have only positive sizes", field="input_shape")
    seen: set[str] = set()
    for _, layer in spec.walk():
        if layer.name in seen:
            raise SpecError(f"layer name {layer.name!r} is used twice; names must be unique", layer_name=layer.name, field="name")
        seen.add(layer.name)
        validate_layer(layer)
