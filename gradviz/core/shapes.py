"""Shape inference that explains itself: every output size with the formula a lecturer
would write on the board, e.g. ``(32 − 5 + 2·0)/1 + 1 = 28`` or ``16·5·5 = 400``.

Pure arithmetic on the spec (no tensors, no forward pass), so it is instant and
runs on every keystroke in the builder. Tests check it against real modules.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from gradviz.core.layers import layer_kinds, resolved_params, validate_network
from gradviz.core.spec import LayerSpec, NetworkSpec, ShapeError

Shape = tuple[int, ...]


@dataclass
class LayerShape:
    """What one layer does to the shape, and what it costs in parameters."""

    name: str
    kind: str
    input_shape: Shape
    output_shape: Shape
    num_params: int
    derivation: str  # how the output size comes about
    params_derivation: str = ""  # how num_params comes about, e.g. "400·120 + 120 = 48,120"
    children: list["LayerShape"] = field(default_factory=list)  # inner layers of a Residual


class _Fail(Exception):
    """Raised by a shape rule; turned into ShapeError with the layer's position."""


def infer_shapes(spec: NetworkSpec) -> list[LayerShape]:
    """Per top-level layer: input/output shape, parameter count and derivation.

    Raises ``SpecError`` for invalid parameters and ``ShapeError`` (with
    ``layer_index``/``layer_name``) for shapes that do not fit together.
    """
    validate_network(spec)
    shapes, _ = _infer_block(spec.layers, tuple(spec.input_shape), ())
    return shapes


def output_shape(spec: NetworkSpec) -> Shape:
    shapes = infer_shapes(spec)
    return shapes[-1].output_shape if shapes else tuple(spec.input_shape)


def _infer_block(layers: list[LayerSpec], shape: Shape, path: tuple[int, ...]) -> tuple[list[LayerShape], Shape]:
    result = []
    for index, layer in enumerate(layers):
        here = (*path, index)
        if layer.kind == "Residual":
            children, inner_out = _infer_block(layer.layers, shape, here)
            if inner_out != shape:
                raise ShapeError(
                    f"{layer.name}: x + f(x) needs f(x) to keep the shape {format_shape(shape)}, but the inner layers give {format_shape(inner_out)}",
                    layer_index=here[0], layer_name=layer.name, path=here,
                )
            total = sum(child.num_params for child in children)
            result.append(LayerShape(layer.name, layer.kind, shape, shape, total, f"x + f(x): {format_shape(shape)}", _thousands(total), children))
            continue
        try:
            out, derivation, num_params, params_derivation = _RULES[layer.kind](shape, resolved_params(layer), layer.name)
        except _Fail as exc:
            raise ShapeError(str(exc), layer_index=here[0], layer_name=layer.name, path=here) from None
        result.append(LayerShape(layer.name, layer.kind, shape, out, num_params, derivation, params_derivation))
        shape = out
    return result, shape


# -- formatting ---------------------------------------------------------------

def format_shape(shape: Shape) -> str:
    """``(1, 6, 28, 28)`` -> ``"(1, 6, 28, 28)"``, the way every panel and table writes shapes."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _thousands(n: int) -> str:
    return f"{n:,}"


def _per_dim(value, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple) else (value,) * dims


def _window_size(name: str, what: str, size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> tuple[int, str]:
    """Output size of a sliding window, and the board formula for it."""
    span = dilation * (kernel - 1) + 1
    numerator = size + 2 * padding - span
    if dilation == 1:
        text = f"({size} − {kernel} + 2·{padding})/{stride} + 1"
    else:
        text = f"({size} − {dilation}·({kernel} − 1) − 1 + 2·{padding})/{stride} + 1"
    if numerator < 0:
        raise _Fail(
            f"{name}: {what} {size} (plus padding {padding} on each side) is smaller than the window {span}; output would be empty"
        )
    out = numerator // stride + 1
    if numerator % stride:
        text = f"⌊{text[: text.rindex(' + 1')]}⌋ + 1"
    return out, f"{text} = {out}"


def _expect_rank(name: str, shape: Shape, ranks: tuple[int, ...], layout: str) -> None:
    if len(shape) not in ranks:
        raise _Fail(f"{name} expects a {'- or '.join(str(r) for r in ranks)}-D input {layout}, receives {format_shape(shape)}")


def _expect_channels(name: str, shape: Shape, expected: int, what: str = "input channels") -> None:
    if shape[1] != expected:
        raise _Fail(f"{name} expects {expected} {what}, receives {shape[1]}")


def _spatial_derivation(axes: list[str], texts: list[str]) -> str:
    if len(set(texts)) == 1:
        return texts[0]
    return "; ".join(f"{axis}: {text}" for axis, text in zip(axes, texts))


_AXES = {1: ["L"], 2: ["H", "W"]}


# -- rules: (input shape, params, layer name) -> (output, derivation, num_params, params_derivation)

def _conv(dims: int):
    def rule(shape: Shape, p: dict, name: str):
        _expect_rank(name, shape, (dims + 2,), "(N, C, L)" if dims == 1 else "(N, C, H, W)")
        _expect_channels(name, shape, p["in_channels"])
        kernel, stride = _per_dim(p["kernel_size"], dims), _per_dim(p["stride"], dims)
        padding, dilation = _per_dim(p["padding"], dims), _per_dim(p["dilation"], dims)
        sizes, texts = [], []
        for axis, size, k, s, pad, d in zip(_AXES[dims], shape[2:], kernel, stride, padding, dilation):
            out, text = _window_size(name, f"input {'length' if dims == 1 else 'height' if axis == 'H' else 'width'}", size, k, s, pad, d)
            sizes.append(out)
            texts.append(text)
        k_elems = math.prod(kernel)
        weights = p["out_channels"] * p["in_channels"] * k_elems
        bias = p["out_channels"] if p["bias"] else 0
        k_text = "·".join(str(k) for k in kernel)
        p_text = f"{p['out_channels']}·{p['in_channels']}·{k_text}" + (f" + {bias}" if bias else "") + f" = {_thousands(weights + bias)}"
        return (shape[0], p["out_channels"], *sizes), _spatial_derivation(_AXES[dims], texts), weights + bias, p_text

    return rule


def _pool(shape: Shape, p: dict, name: str):
    _expect_rank(name, shape, (3, 4), "(N, C, H, W)")
    kernel = _per_dim(p["kernel_size"], 2)
    stride = _per_dim(p["stride"] if p["stride"] is not None else p["kernel_size"], 2)
    padding = _per_dim(p["padding"], 2)
    sizes, texts = [], []
    for axis, size, k, s, pad in zip("HW", shape[-2:], kernel, stride, padding):
        out, text = _window_size(name, "input height" if axis == "H" else "input width", size, k, s, pad)
        sizes.append(out)
        texts.append(text)
    return (*shape[:-2], *sizes), _spatial_derivation(["H", "W"], texts), 0, ""


def _adaptive_pool(shape: Shape, p: dict, name: str):
    _expect_rank(name, shape, (3, 4), "(N, C, H, W)")
    size = _per_dim(p["output_size"], 2)
    return (*shape[:-2], *size), f"{shape[-2]}×{shape[-1]} averaged down to {size[0]}×{size[1]}", 0, ""


def _linear(shape: Shape, p: dict, name: str):
    if len(shape) < 2:
        raise _Fail(f"{name} expects a batched input (N, features), receives {format_shape(shape)}")
    if shape[-1] != p["in_features"]:
        hint = " (add a Flatten before it?)" if len(shape) > 2 else ""
        raise _Fail(f"{name} expects {p['in_features']} input features, receives {shape[-1]}{hint}")
    i, o = p["in_features"], p["out_features"]
    bias = o if p["bias"] else 0
    p_text = f"{i}·{o}" + (f" + {o}" if bias else "") + f" = {_thousands(i * o + bias)}"
    return (*shape[:-1], o), f"{i} → {o}", i * o + bias, p_text


def _same(shape: Shape, p: dict, name: str):
    return shape, f"unchanged {format_shape(shape)}", 0, ""


def _softmax(shape: Shape, p: dict, name: str):
    if not -len(shape) <= p["dim"] < len(shape):
        raise _Fail(f"{name}: dim {p['dim']} is out of range for a {len(shape)}-D input {format_shape(shape)}")
    return _same(shape, p, name)


def _batchnorm(ranks: tuple[int, ...], layout: str):
    def rule(shape: Shape, p: dict, name: str):
        _expect_rank(name, shape, ranks, layout)
        _expect_channels(name, shape, p["num_features"], "features (channels)")
        c = p["num_features"]
        return shape, f"unchanged {format_shape(shape)}", 2 * c, f"γ {c} + β {c} = {_thousands(2 * c)}"

    return rule


def _layernorm(shape: Shape, p: dict, name: str):
    normalized = tuple(p["normalized_shape"])
    if tuple(shape[len(shape) - len(normalized):]) != normalized or len(normalized) > len(shape):
        raise _Fail(f"{name} expects trailing dimensions {format_shape(normalized)}, receives {format_shape(shape)}")
    n = math.prod(normalized)
    return shape, f"unchanged {format_shape(shape)}", 2 * n, f"γ {n} + β {n} = {_thousands(2 * n)}"


def _flatten(shape: Shape, p: dict, name: str):
    rank = len(shape)
    start, end = p["start_dim"], p["end_dim"]
    start_n, end_n = start % rank if -rank <= start < rank else None, end % rank if -rank <= end < rank else None
    if start_n is None or end_n is None:
        raise _Fail(f"{name}: dims {start}..{end} are out of range for a {rank}-D input {format_shape(shape)}")
    if start_n > end_n:
        raise _Fail(f"{name}: start_dim {start} comes after end_dim {end} for a {rank}-D input")
    joined = shape[start_n: end_n + 1]
    size = math.prod(joined)
    out = (*shape[:start_n], size, *shape[end_n + 1:])
    return out, f"{'·'.join(str(d) for d in joined)} = {size}", 0, ""


_RULES = {
    "Conv1d": _conv(1),
    "Conv2d": _conv(2),
    "MaxPool2d": _pool,
    "AvgPool2d": _pool,
    "AdaptiveAvgPool2d": _adaptive_pool,
    "Linear": _linear,
    "ReLU": _same,
    "LeakyReLU": _same,
    "Sigmoid": _same,
    "Tanh": _same,
    "GELU": _same,
    "Softmax": _softmax,
    "LogSoftmax": _softmax,
    "BatchNorm1d": _batchnorm((2, 3), "(N, C) or (N, C, L)"),
    "BatchNorm2d": _batchnorm((4,), "(N, C, H, W)"),
    "LayerNorm": _layernorm,
    "Dropout": _same,
    "Flatten": _flatten,
}

# Every catalogue kind except containers must have a rule.
assert all(name in _RULES or kind.container for name, kind in layer_kinds().items())
