"""Turn a ``NetworkSpec`` into a real ``torch.nn.Module`` and back.

Layer names become module names, so ``named_parameters()`` gives ``conv1.weight``.
Stateless layers (ReLU, pooling, Flatten) are applied as functions, not registered
as submodules, exactly like the tutorial's ``F.relu``/``F.max_pool2d``: so
``print(model)`` of the LeNet preset is the tutorial's ``Net(...)`` repr, line for line.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from gradviz.core.layers import get_kind, layer_kinds, make_module, resolved_params, validate_network
from gradviz.core.memory import check_fits
from gradviz.core.names import layer_name_problem
from gradviz.core.shapes import infer_shapes
from gradviz.core.spec import LayerSpec, NetworkSpec, SpecError


class _Chain(nn.Module):
    """Runs a list of layers in order; the weighted ones are registered submodules."""

    def __init__(self, layers: list[LayerSpec]):
        super().__init__()
        # A plain list, not a ModuleList: stateless steps must stay out of
        # named_modules()/repr, and registered ones are reachable by name anyway.
        self._steps: list[nn.Module] = []
        for layer in layers:
            if hasattr(self, layer.name):  # a method of this torch's nn.Module that names.py does not list yet
                raise SpecError(
                    f"layer name {layer.name!r} is reserved by torch.nn.Module; pick another name", layer_name=layer.name, field="name"
                )
            module = Residual(layer.layers) if layer.kind == "Residual" else make_module(layer)
            if not get_kind(layer.kind).stateless:
                self.add_module(layer.name, module)
            self._steps.append(module)

    def _chain_items(self) -> list[tuple[str, nn.Module]]:
        """(name, module) per step; stateless steps are named after their kind."""
        names = {id(m): n for n, m in self.named_children()}
        return [(names.get(id(step), type(step).__name__.lower()), step) for step in self._steps]

    def _run(self, x):
        for step in self._steps:
            x = step(x)
        return x


class Net(_Chain):
    """A model built from a spec; ``model.spec`` is a copy of the spec it came from."""

    def __init__(self, spec: NetworkSpec):
        super().__init__(spec.layers)
        self.spec = spec.copy()

    def forward(self, x):
        return self._run(x)


class Residual(_Chain):
    """``x + f(x)`` where f runs the inner layers."""

    def forward(self, x):
        return x + self._run(x)


def build_model(spec: NetworkSpec, *, seed: int | None = None) -> nn.Module:
    """Build the spec into a module (validating it first: ``SpecError``/``ShapeError``, and
    ``MemoryLimitError`` when training it needs more RAM than is free).

    With ``seed`` the initial weights are reproducible, without touching the
    global random state.
    """
    infer_shapes(spec)  # fail with a named layer before torch sees anything
    check_fits(spec, "cpu")  # a network far too big is a MemoryLimitError, not a failed allocation or swapping
    cls = Net if spec.name == "Net" else type(spec.name, (Net,), {"__module__": __name__})
    if seed is None:
        return cls(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(spec)


# -- module -> spec -------------------------------------------------------------

# Module attributes the catalogue does not model: their defaults are the only
# values a spec can reproduce.
_UNSUPPORTED_DEFAULTS = {
    "groups": 1,
    "padding_mode": "zeros",
    "ceil_mode": False,
    "count_include_pad": True,
    "divisor_override": None,
    "affine": True,
    "track_running_stats": True,
    "elementwise_affine": True,
    "return_indices": False,
    "approximate": "none",
}


def _compact(value):
    """(5, 5) -> 5: square sizes are written as one number, like the tutorial."""
    if isinstance(value, (tuple, list)):
        value = tuple(value)
        if len(value) > 0 and all(v == value[0] for v in value) and len(value) in (1, 2):
            return value[0]
    return value


def layer_from_module(name: str, module: nn.Module) -> LayerSpec:
    """The ``LayerSpec`` for one catalogue module instance (``SpecError`` otherwise)."""
    if isinstance(module, Residual):
        return LayerSpec("Residual", name, {}, _layers_from_children(module._chain_items()))
    kind_name = type(module).__name__
    kinds = layer_kinds()
    if kind_name not in kinds or type(module) is not getattr(nn, kind_name, None):
        raise SpecError(f"module {name!r} is a {kind_name}, which is not a catalogue layer kind", layer_name=name, field="kind")
    for attr, default in _UNSUPPORTED_DEFAULTS.items():
        if hasattr(module, attr) and getattr(module, attr) != default and not (attr == "padding_mode" and kind_name.startswith("Max")):
            raise SpecError(f"module {name!r} ({kind_name}) uses {attr}={getattr(module, attr)!r}, which gradviz cannot represent", layer_name=name, field=attr)
    params = {}
    for decl in kinds[kind_name].params:
        value = getattr(module, decl.name)
        if decl.name == "bias" and not isinstance(value, bool):
            value = value is not None
        elif decl.type == "shape":
            value = tuple(value)
        elif decl.type == "size" and value is not None:
            value = _compact(value)
        params[decl.name] = value
    if kind_name in ("MaxPool2d", "AvgPool2d"):
        if getattr(module, "dilation", 1) not in (1, (1, 1)):
            raise SpecError(f"module {name!r} uses dilation, which gradviz pooling cannot represent", layer_name=name, field="dilation")
        if params["stride"] == params["kernel_size"]:
            params["stride"] = None
    defaults = kinds[kind_name].defaults()
    # Keep only what differs from the catalogue default: shorter, readable specs.
    explicit = {"in_channels", "out_channels", "kernel_size", "in_features", "out_features", "num_features", "normalized_shape", "output_size"}
    return LayerSpec(kind_name, name, {k: v for k, v in params.items() if k in explicit or v != defaults[k]})


def _identifier(name: str, kind: str, index: int, taken: set[str]) -> str:
    candidate = name.replace(".", "_")
    if layer_name_problem(candidate):
        candidate = f"{kind.lower()}_{index}"
    base, n = candidate, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _layers_from_children(items) -> list[LayerSpec]:
    taken: set[str] = set()
    layers = []
    for index, (name, module) in enumerate(items):
        layer = layer_from_module(name, module)
        layer.name = _identifier(name, layer.kind, index, taken)
        layers.append(layer)
    return layers


def spec_from_module(module: nn.Module, input_shape: tuple | None = None) -> NetworkSpec:
    """The equivalent spec of a plain chain of catalogue layers.

    Accepts ``nn.Sequential`` (also built from an ``OrderedDict``), models built
    by gradviz, and ``nn.Module`` subclasses whose ``forward`` is a straight
    chain of catalogue layers and their functional forms (``F.relu``,
    ``F.max_pool2d``, ``torch.flatten`` …), found with ``torch.fx``. Anything
    else raises ``SpecError`` saying why. ``input_shape`` defaults to a guess
    from the first layer (batch 1; 32×32 images for convolutions).
    """
    if isinstance(module, Net):
        spec = module.spec.copy()
        if input_shape is not None:
            spec.input_shape = tuple(input_shape)
        return spec
    if isinstance(module, nn.Sequential):
        layers = _layers_from_children(list(module.named_children()))
    else:
        layers = _layers_from_fx(module)
    if not layers:
        raise SpecError(f"{type(module).__name__} has no layers to describe")
    spec = NetworkSpec(layers, tuple(input_shape) if input_shape else _guess_input_shape(layers[0]))
    validate_network(spec)
    return spec


def _guess_input_shape(first: LayerSpec) -> tuple:
    p = resolved_params(first) if first.kind != "Residual" else {}
    if first.kind == "Conv2d":
        return (1, p["in_channels"], 32, 32)
    if first.kind == "Conv1d":
        return (1, p["in_channels"], 32)
    if first.kind == "Linear":
        return (1, p["in_features"])
    if first.kind in ("BatchNorm1d",):
        return (2, p["num_features"])
    if first.kind == "BatchNorm2d":
        return (2, p["num_features"], 32, 32)
    raise SpecError(f"cannot guess the input shape from a first layer of kind {first.kind}; pass input_shape=")


# functional call -> (kind, params from (args, kwargs))
def _fx_functions():
    def pool(kind):
        def params(args, kwargs):
            k = kwargs.get("kernel_size", args[1] if len(args) > 1 else None)
            stride = kwargs.get("stride", args[2] if len(args) > 2 else None)
            padding = kwargs.get("padding", args[3] if len(args) > 3 else 0)
            stride = _compact(stride) if stride not in (None, ()) else None
            k = _compact(k)
            return kind, {"kernel_size": k, **({"stride": stride} if stride not in (None, k) else {}), **({"padding": _compact(padding)} if padding else {})}
        return params

    def simple(kind):
        return lambda args, kwargs: (kind, {})

    def with_dim(kind):
        return lambda args, kwargs: (kind, {"dim": kwargs.get("dim", args[1] if len(args) > 1 else -1)})

    def flatten(args, kwargs):
        start = kwargs.get("start_dim", args[1] if len(args) > 1 else 0)
        end = kwargs.get("end_dim", args[2] if len(args) > 2 else -1)
        return "Flatten", {"start_dim": start, "end_dim": end}

    def leaky(args, kwargs):
        return "LeakyReLU", {"negative_slope": kwargs.get("negative_slope", args[1] if len(args) > 1 else 0.01)}

    def adaptive(args, kwargs):
        return "AdaptiveAvgPool2d", {"output_size": _compact(kwargs.get("output_size", args[1] if len(args) > 1 else 1))}

    return {
        F.relu: simple("ReLU"), torch.relu: simple("ReLU"),
        F.leaky_relu: leaky,
        torch.sigmoid: simple("Sigmoid"), F.sigmoid: simple("Sigmoid"),
        torch.tanh: simple("Tanh"), F.tanh: simple("Tanh"),
        F.gelu: simple("GELU"),
        F.softmax: with_dim("Softmax"), torch.softmax: with_dim("Softmax"),
        F.log_softmax: with_dim("LogSoftmax"), torch.log_softmax: with_dim("LogSoftmax"),
        F.max_pool2d: pool("MaxPool2d"), F.avg_pool2d: pool("AvgPool2d"),
        F.adaptive_avg_pool2d: adaptive,
        torch.flatten: flatten,
    }


_FX_METHODS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "flatten": "Flatten"}


def _layers_from_fx(module: nn.Module) -> list[LayerSpec]:
    import torch.fx

    name = type(module).__name__
    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception as exc:  # fx raises many kinds; the user only needs why
        raise SpecError(f"{name} is not a plain chain of layers gradviz can read: its forward cannot be traced ({exc})") from None
    functions = _fx_functions()
    modules = dict(traced.named_modules())
    items: list[tuple[str, nn.Module | LayerSpec]] = []
    previous = None
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            if previous is not None:
                raise SpecError(f"{name}.forward takes more than one input; only single-input chains become specs")
            previous = node
            continue
        if node.op == "output":
            if node.args[0] is not previous:
                raise SpecError(f"{name}.forward does not return the result of its last layer")
            break
        if node.op == "get_attr":
            raise SpecError(f"{name}.forward uses the tensor attribute {node.target!r} directly; only layers can become specs")
        if not node.args or node.args[0] is not previous or len(node.users) != 1:
            raise SpecError(f"{name}.forward is not a straight chain at {node.name!r} (a branch, skip connection or reuse)")
        if any(isinstance(a, torch.fx.Node) for a in list(node.args[1:]) + list(node.kwargs.values())):
            raise SpecError(f"{name}.forward combines tensors at {node.name!r}; only straight chains become specs")
        if node.op == "call_module":
            items.append((node.target, modules[node.target]))
        elif node.op == "call_function" and node.target in functions:
            kind, params = functions[node.target](node.args, node.kwargs)
            items.append((node.name, LayerSpec(kind, node.name, params)))
        elif node.op == "call_method" and node.target in _FX_METHODS:
            kind = _FX_METHODS[node.target]
            params = {"start_dim": node.args[1] if len(node.args) > 1 else 0} if kind == "Flatten" else {}
            items.append((node.name, LayerSpec(kind, node.name, params)))
        else:
            what = getattr(node.target, "__name__", str(node.target))
            raise SpecError(f"{name}.forward calls {what} ({node.op}), which is not a catalogue layer")
        previous = node
    taken: set[str] = set()
    layers = []
    for index, (item_name, item) in enumerate(items):
        layer = item if isinstance(item, LayerSpec) else layer_from_module(item_name, item)
        layer.name = _identifier(item_name, layer.kind, index, taken)
        layers.append(layer)
    return layers


__all__ = ["build_model", "spec_from_module", "layer_from_module", "Net", "Residual"]
