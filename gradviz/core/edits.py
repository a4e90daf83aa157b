"""Edits on a ``NetworkSpec``, as pure functions: each returns a new spec.

The builder never mutates the document's spec in place: it computes the edited
spec here and hands it to the document, which records before/after snapshots
for undo. Layers are addressed by *path* (index tuple, ``(3, 1)`` = second
inner layer of the fourth top-level layer), the same convention as
``ShapeError.path``. No Qt here.
"""
from __future__ import annotations

from gradviz.core.layers import get_kind
from gradviz.core.names import layer_name_problem
from gradviz.core.limits import check_spec_limits
from gradviz.core.shapes import infer_shapes
from gradviz.core.spec import LayerSpec, NetworkSpec, ShapeError, SpecError

Path = tuple[int, ...]

# Name stems for new layers: conv1, fc1, pool1 … as the tutorial names them.
_NAME_STEMS = {
    "Conv1d": "conv", "Conv2d": "conv", "MaxPool2d": "pool", "AvgPool2d": "pool", "AdaptiveAvgPool2d": "pool",
    "Linear": "fc", "ReLU": "relu", "LeakyReLU": "lrelu", "Sigmoid": "sigmoid", "Tanh": "tanh", "GELU": "gelu",
    "Softmax": "softmax", "LogSoftmax": "log_softmax", "BatchNorm1d": "bn", "BatchNorm2d": "bn", "LayerNorm": "ln",
    "Dropout": "dropout", "Flatten": "flatten", "Residual": "block",
}


def layer_at(spec: NetworkSpec, path: Path) -> LayerSpec:
    layers, layer = spec.layers, None
    for index in path:
        layer = layers[index]
        layers = layer.layers
    if layer is None:
        raise IndexError("empty path")
    return layer


def children_of(spec: NetworkSpec, parent: Path) -> list[LayerSpec]:
    """The list that holds the layers under ``parent`` (``()`` = top level)."""
    return spec.layers if not parent else layer_at(spec, parent).layers


def path_of(spec: NetworkSpec, name: str) -> Path | None:
    return next((path for path, layer in spec.walk() if layer.name == name), None)


def insert_layer(spec: NetworkSpec, parent: Path, index: int, layer: LayerSpec) -> NetworkSpec:
    new = spec.copy()
    siblings = children_of(new, parent)
    if parent and not get_kind(layer_at(new, parent).kind).container:
        raise SpecError(f"{layer_at(new, parent).name} cannot hold inner layers", layer_name=layer_at(new, parent).name)
    siblings.insert(max(0, min(index, len(siblings))), layer.copy())
    check_spec_limits(new)  # no edit may make what no project file may hold
    return new


def remove_layer(spec: NetworkSpec, path: Path) -> NetworkSpec:
    new = spec.copy()
    del children_of(new, path[:-1])[path[-1]]
    return new


def move_layer(spec: NetworkSpec, path: Path, parent: Path, index: int) -> NetworkSpec:
    """Move the layer at ``path`` to position ``index`` of ``parent``'s list.

    ``index`` counts positions in the list *before* the move (what a drop
    indicator shows), so dropping a card just below itself is a no-op.
    """
    if parent[: len(path)] == path:
        raise SpecError(f"cannot move {layer_at(spec, path).name} into itself", layer_name=layer_at(spec, path).name)
    new = spec.copy()
    source = children_of(new, path[:-1])
    layer = source[path[-1]]
    if path[:-1] == parent and path[-1] < index:
        index -= 1  # removing the layer shifts the later positions up
    # Remove by identity: after removal the parent path may shift if it follows
    # the moved layer in the same list, so resolve the target list first.
    target = children_of(new, parent)
    source.remove(layer)
    target.insert(max(0, min(index, len(target))), layer)
    check_spec_limits(new)
    return new


def move_by(spec: NetworkSpec, path: Path, delta: int) -> tuple[NetworkSpec, Path] | None:
    """Move up (-1) or down (+1) among its siblings; ``None`` at either end."""
    siblings = children_of(spec, path[:-1])
    target = path[-1] + delta
    if not 0 <= target < len(siblings):
        return None
    new = spec.copy()
    items = children_of(new, path[:-1])
    items[path[-1]], items[target] = items[target], items[path[-1]]
    return new, (*path[:-1], target)


def duplicate_layer(spec: NetworkSpec, path: Path) -> tuple[NetworkSpec, Path]:
    """Insert a copy right after the layer, with fresh unique names (inner layers too)."""
    new = spec.copy()
    copy = layer_at(new, path).copy()
    taken = {layer.name for _, layer in new.walk()}

    def rename(layer: LayerSpec) -> None:
        layer.name = _free_name(layer.name, taken)
        taken.add(layer.name)
        for inner in layer.layers:
            rename(inner)

    rename(copy)
    children_of(new, path[:-1]).insert(path[-1] + 1, copy)
    check_spec_limits(new)
    return new, (*path[:-1], path[-1] + 1)


def check_name(spec: NetworkSpec, name: str, current: str | None = None) -> None:
    """Raise ``SpecError`` unless ``name`` can name a layer (identifier, not taken)."""
    problem = layer_name_problem(name)
    if problem:
        raise SpecError(problem, layer_name=current, field="name")
    if name != current and spec.find(name) is not None:
        raise SpecError(f"a layer named {name!r} already exists; names must be unique", layer_name=current, field="name")


def rename_layer(spec: NetworkSpec, path: Path, name: str) -> NetworkSpec:
    name = name.strip()
    check_name(spec, name, layer_at(spec, path).name)
    new = spec.copy()
    layer_at(new, path).name = name
    return new


def set_param(spec: NetworkSpec, path: Path, key: str, value) -> NetworkSpec:
    new = spec.copy()
    layer = layer_at(new, path)
    layer.params = {**layer.params, key: value}
    return new


def set_input_shape(spec: NetworkSpec, shape: tuple[int, ...]) -> NetworkSpec:
    new = spec.copy()
    new.input_shape = tuple(shape)
    return new


# -- new layers with sensible parameters ----------------------------------------

def _free_name(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    stem = base.rstrip("0123456789") or base
    n = 2
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"


def incoming_shape(spec: NetworkSpec, parent: Path, index: int) -> tuple[int, ...] | None:
    """Shape of the tensor arriving at position ``index`` of ``parent``'s list, or
    ``None`` when the layers before it do not fit together (yet).

    A Residual keeps its input shape, so the layers before the insertion point,
    flattened (outer prefixes, then the inner prefix), form a valid chain.
    """
    chain: list[LayerSpec] = []
    layers = spec.layers
    for depth in range(len(parent)):
        chain.extend(layers[: parent[depth]])
        layers = layers[parent[depth]].layers
    chain.extend(layers[:index])
    try:
        shapes = infer_shapes(NetworkSpec(chain, spec.input_shape))
    except (SpecError, ShapeError):
        return None
    return shapes[-1].output_shape if shapes else tuple(spec.input_shape)


def new_layer(spec: NetworkSpec, kind_name: str, parent: Path = (), index: int | None = None) -> LayerSpec:
    """A layer of ``kind_name`` that fits where it is inserted: a unique name, and
    sizes taken from the incoming tensor (Linear's in_features = incoming features,
    Conv2d's in_channels = incoming channels …).

    Inserted *between* layers, weighted layers also keep the shape (out = in, "same"
    padding) so the rest of the network stays valid; appended at the end they
    get the catalogue's defaults for what they produce.
    """
    kind = get_kind(kind_name)
    siblings = children_of(spec, parent)
    index = len(siblings) if index is None else index
    at_end = index >= len(siblings) and not parent
    shape = incoming_shape(spec, parent, index)
    params: dict = {}
    if shape is not None:
        params = _fitting_params(kind_name, shape, keep_shape=not at_end)
    taken = {layer.name for _, layer in spec.walk()}
    name = _free_name(f"{_NAME_STEMS.get(kind_name, kind_name.lower())}1", taken)
    return LayerSpec(kind.name, name, params)


def _fitting_params(kind: str, shape: tuple[int, ...], keep_shape: bool) -> dict:
    rank = len(shape)
    if kind in ("Conv1d", "Conv2d") and rank == (3 if kind == "Conv1d" else 4):
        params = {"in_channels": shape[1]}
        if keep_shape:
            kernel = 3
            params.update(out_channels=shape[1], kernel_size=kernel, padding=kernel // 2)
        return params
    if kind == "Linear" and rank >= 2:
        params = {"in_features": shape[-1]}
        if keep_shape:
            params["out_features"] = shape[-1]
        return params
    if kind == "BatchNorm1d" and rank in (2, 3):
        return {"num_features": shape[1]}
    if kind == "BatchNorm2d" and rank == 4:
        return {"num_features": shape[1]}
    if kind == "LayerNorm" and rank >= 1:
        return {"normalized_shape": (shape[-1],)}
    if kind in ("MaxPool2d", "AvgPool2d") and rank in (3, 4) and min(shape[-2:]) < 2:
        return {"kernel_size": 1}  # a 2×2 window does not fit a 1-pixel map
    return {}
