"""Export a spec as a standalone, readable ``nn.Module`` class, in the tutorial's style.

Weighted layers become attributes in ``__init__`` (so parameter names match
``build_model``), stateless ones become ``F.relu(x)``-style calls in ``forward``,
and each line carries the shape it produces as a comment.
"""
from __future__ import annotations

from gradviz.core.layers import get_kind, resolved_params
from gradviz.core.shapes import LayerShape, infer_shapes
from gradviz.core.spec import LayerSpec, NetworkSpec

_FUNCTIONAL = {
    "ReLU": lambda p: "F.relu(x)",
    "LeakyReLU": lambda p: f"F.leaky_relu(x, {p['negative_slope']!r})",
    "Sigmoid": lambda p: "torch.sigmoid(x)",
    "Tanh": lambda p: "torch.tanh(x)",
    "GELU": lambda p: "F.gelu(x)",
    "Softmax": lambda p: f"F.softmax(x, dim={p['dim']})",
    "LogSoftmax": lambda p: f"F.log_softmax(x, dim={p['dim']})",
    "MaxPool2d": lambda p: _pool_call("F.max_pool2d", p),
    "AvgPool2d": lambda p: _pool_call("F.avg_pool2d", p),
    "AdaptiveAvgPool2d": lambda p: f"F.adaptive_avg_pool2d(x, {p['output_size']!r})",
    "Flatten": lambda p: f"torch.flatten(x, {p['start_dim']}" + (f", {p['end_dim']})" if p["end_dim"] != -1 else ")"),
}

# Constructor arguments written positionally, as people write them (nn.Conv2d(1, 6, 5)).
_POSITIONAL = {
    "Conv1d": ("in_channels", "out_channels", "kernel_size"),
    "Conv2d": ("in_channels", "out_channels", "kernel_size"),
    "Linear": ("in_features", "out_features"),
    "BatchNorm1d": ("num_features",),
    "BatchNorm2d": ("num_features",),
    "LayerNorm": ("normalized_shape",),
    "Dropout": ("p",),
}


def _pool_call(function: str, p: dict) -> str:
    args = [repr(p["kernel_size"])]
    if p["stride"] is not None and p["stride"] != p["kernel_size"]:
        args.append(f"stride={p['stride']!r}")
    if p["padding"] not in (0, (0, 0)):
        args.append(f"padding={p['padding']!r}")
    return f"{function}(x, {', '.join(args)})"


def _constructor(layer: LayerSpec) -> str:
    kind = get_kind(layer.kind)
    params = resolved_params(layer)
    defaults = kind.defaults()
    positional = _POSITIONAL.get(layer.kind, ())
    args = [repr(params[name]) for name in positional]
    args += [f"{name}={params[name]!r}" for name in params if name not in positional and params[name] != defaults[name]]
    return f"nn.{layer.kind}({', '.join(args)})"


def _class_name(layer_name: str) -> str:
    camel = "".join(part[:1].upper() + part[1:] for part in layer_name.split("_") if part)
    return camel if "block" in layer_name.lower() else camel + "Block"


def _shape_comment(shape: LayerShape) -> str:
    text = f"# -> {tuple(shape.output_shape)}"
    if shape.kind in ("Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten"):
        text += f"   {shape.derivation}"
    return text


def _unique_class_name(layer_name: str, taken: set[str]) -> str:
    # Different layer names can give the same class name (a_b and aB: ABBlock).
    name, n = _class_name(layer_name), 2
    while name in taken:
        name, n = f"{_class_name(layer_name)}{n}", n + 1
    taken.add(name)
    return name


def _module_class(class_name: str, layers: list[LayerSpec], shapes: list[LayerShape], residual: bool, out: list[str], doc: str,
                  taken: set[str]) -> None:
    """Append the source of one module class (nested Residual blocks first); ``taken``: class names used."""
    block_names = {}
    for layer, shape in zip(layers, shapes):
        if layer.kind == "Residual":
            block_names[layer.name] = _unique_class_name(layer.name, taken)
            _module_class(block_names[layer.name], layer.layers, shape.children, True, out, f"{layer.name}: x + f(x)", taken)
    init = []
    body = []
    for layer, shape in zip(layers, shapes):
        if layer.kind == "Residual":
            init.append(f"        self.{layer.name} = {block_names[layer.name]}()")
            body.append(f"        x = self.{layer.name}(x)  {_shape_comment(shape)}")
        elif get_kind(layer.kind).stateless:
            body.append(f"        x = {_FUNCTIONAL[layer.kind](resolved_params(layer))}  {_shape_comment(shape)}")
        else:
            init.append(f"        self.{layer.name} = {_constructor(layer)}")
            body.append(f"        x = self.{layer.name}(x)  {_shape_comment(shape)}")
    out.append(f"class {class_name}(nn.Module):")
    out.append(f'    """{doc}"""')
    out.append("")
    out.append("    def __init__(self):")
    out.append("        super().__init__()")
    out.extend(init)
    out.append("")
    out.append("    def forward(self, x):")
    if residual:
        out.append("        identity = x")
    out.extend(body)
    out.append("        return identity + x" if residual else "        return x")
    out.append("")
    out.append("")


def to_python(spec: NetworkSpec) -> str:
    """Standalone Python source defining ``class <spec.name>(nn.Module)``.

    Executed, it gives a model with the same parameter names and shapes as
    ``build_model(spec)`` and the same outputs for the same ``state_dict``.
    """
    shapes = infer_shapes(spec)
    out = [
        f'"""{spec.name}: exported by gradviz. Input shape {tuple(spec.input_shape)}."""',
        "import torch",
        "import torch.nn as nn",
        "import torch.nn.functional as F",
        "",
        "",
    ]
    total = sum(s.num_params for s in shapes)
    _module_class(spec.name, spec.layers, shapes, False, out, f"{len(spec.layers)} layers, {total:,} parameters.", {spec.name})
    out += [
        'if __name__ == "__main__":',
        f"    net = {spec.name}()",
        "    print(net)",
        f"    out = net(torch.randn{tuple(spec.input_shape)})",
        "    print(out.shape)",
        "",
    ]
    return "\n".join(out)
