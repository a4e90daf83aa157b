"""A network described as data: what the builder edits, projects store and presets return.

A ``NetworkSpec`` is a list of ``LayerSpec`` plus the input shape (batch included).
It knows nothing about torch; ``build.build_model`` turns it into an ``nn.Module``
and ``shapes.infer_shapes`` explains every size in it.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from gradviz.core.limits import check_spec_data
from gradviz.core.names import network_name_problem
from gradviz.core.spec_error import SpecError


class ShapeError(ValueError):
    """A well-formed spec whose tensor shapes do not fit together.

    ``layer_index`` is the index of the top-level layer that fails (for a layer
    inside a Residual block, the block's index; ``path`` has the full index path),
    ``layer_name`` the name of the innermost failing layer.
    """

    def __init__(self, message: str, *, layer_index: int, layer_name: str, path: tuple[int, ...] = ()):
        super().__init__(message)
        self.layer_index = layer_index
        self.layer_name = layer_name
        self.path = path or (layer_index,)


@dataclass
class LayerSpec:
    """One layer: its catalogue ``kind`` (``"Conv2d"``), a unique ``name`` (``"conv1"``,
    which becomes the module name) and its ``params`` (``{"in_channels": 1, ...}``).

    ``layers`` holds the inner layers of a structural kind (``Residual``) and is
    empty for every other kind.
    """

    kind: str
    name: str
    params: dict = field(default_factory=dict)
    layers: list["LayerSpec"] = field(default_factory=list)

    def __post_init__(self):
        # Lists and tuples mean the same to a layer; store tuples so that specs
        # built by hand and specs read from JSON compare equal.
        self.params = {key: _from_jsonable(value) for key, value in dict(self.params).items()}
        self.layers = list(self.layers)

    def to_dict(self) -> dict:
        data: dict[str, Any] = {"kind": self.kind, "name": self.name, "params": _jsonable(self.params)}
        if self.layers:
            data["layers"] = [layer.to_dict() for layer in self.layers]
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "layer") -> "LayerSpec":
        if not isinstance(data, dict):
            raise SpecError(f"{where}: expected an object with kind, name and params, got {type(data).__name__}")
        kind, name = data.get("kind"), data.get("name")
        if not isinstance(kind, str) or not kind:
            raise SpecError(f"{where}: missing or invalid 'kind'", layer_name=name if isinstance(name, str) else None, field="kind")
        if not isinstance(name, str) or not name:
            raise SpecError(f"{where} ({kind}): missing or invalid 'name'", field="name")
        params = data.get("params", {})
        if not isinstance(params, dict):
            raise SpecError(f"layer {name!r}: 'params' must be an object", layer_name=name, field="params")
        inner = data.get("layers", [])
        if not isinstance(inner, list):
            raise SpecError(f"layer {name!r}: 'layers' must be a list", layer_name=name, field="layers")
        return cls(
            kind=kind,
            name=name,
            params={key: _from_jsonable(value) for key, value in params.items()},
            layers=[cls.from_dict(item, f"{where} {name!r} inner layer {i}") for i, item in enumerate(inner)],
        )

    def copy(self) -> "LayerSpec":
        return copy.deepcopy(self)


@dataclass
class NetworkSpec:
    """A whole network: ``layers`` run in order on an input of ``input_shape``
    (batch dimension included, e.g. ``(1, 1, 32, 32)``)."""

    layers: list[LayerSpec]
    input_shape: tuple
    name: str = "Net"

    def __post_init__(self):
        self.input_shape = tuple(int(d) for d in self.input_shape)

    # -- JSON round trip -------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> "NetworkSpec":
        if not isinstance(data, dict):
            raise SpecError(f"network: expected an object, got {type(data).__name__}")
        check_spec_data(data)  # before the recursive reading below
        shape = data.get("input_shape")
        if not isinstance(shape, (list, tuple)) or not shape or not all(_is_int(d) for d in shape):
            raise SpecError(f"network: 'input_shape' must be a list of integers, got {shape!r}", field="input_shape")
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise SpecError("network: 'layers' must be a list", field="layers")
        name = data.get("name", "Net")
        problem = network_name_problem(name)
        if problem:
            raise SpecError(f"network: 'name': {problem}", field="name")
        return cls(
            layers=[LayerSpec.from_dict(item, f"layer {i}") for i, item in enumerate(layers)],
            input_shape=tuple(shape),
            name=name,
        )

    @classmethod
    def from_json(cls, text: str) -> "NetworkSpec":
        try:
            data = json.loads(text)
        except RecursionError:  # arrays or objects nested thousands deep
            raise SpecError("network JSON nests too deep to read") from None
        except ValueError as exc:  # JSONDecodeError, a 5000-digit integer
            raise SpecError(f"network JSON is not valid: {type(exc).__name__}: {exc}") from None
        return cls.from_dict(data)

    # -- helpers -----------------------------------------------------------
    def copy(self) -> "NetworkSpec":
        return copy.deepcopy(self)

    def walk(self):
        """Yield ``(path, layer)`` for every layer, depth first, inner layers included."""
        stack = [((i,), layer) for i, layer in reversed(list(enumerate(self.layers)))]
        while stack:
            path, layer = stack.pop()
            yield path, layer
            stack.extend(((*path, j), inner) for j, inner in reversed(list(enumerate(layer.layers))))

    def find(self, name: str) -> LayerSpec | None:
        return next((layer for _, layer in self.walk() if layer.name == name), None)

    def unique_name(self, base: str) -> str:
        """A layer name not used yet in this spec: ``base``, ``base2``, ``base3`` …"""
        taken = {layer.name for _, layer in self.walk()}
        stem = base.rstrip("0123456789") or base
        if base not in taken:
            return base
        n = 2
        while f"{stem}{n}" in taken:
            n += 1
        return f"{stem}{n}"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _jsonable(value):
    # tuples are lists in JSON; from_json turns lists of ints back into tuples so
    # that a round trip gives an equal spec.
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _from_jsonable(value):
    if isinstance(value, list):
        return tuple(_from_jsonable(v) for v in value)
    return value
