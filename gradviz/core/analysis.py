"""Shape inference for the builder, including what can still be said about a
broken network: the layers before the failing one keep their shapes, the
failing one carries the error, the rest are unknown.

``infer_shapes`` stops at the first problem; here we re-run it on the chain of
layers before the problem so every card above the red one still shows its
output shape and derivation. No Qt here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gradviz.core.shapes import LayerShape, infer_shapes
from gradviz.core.spec import LayerSpec, NetworkSpec, ShapeError, SpecError


@dataclass
class Analysis:
    """What the builder shows about the current spec."""

    shapes: dict[str, LayerShape] = field(default_factory=dict)  # by layer name, inner layers included
    top_level: list[LayerShape] = field(default_factory=list)  # only when the network is valid
    error: SpecError | ShapeError | None = None
    error_path: tuple[int, ...] | None = None  # where the error sits, if it names a layer

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def error_layer(self) -> str | None:
        return getattr(self.error, "layer_name", None) if self.error is not None else None

    @property
    def error_field(self) -> str | None:
        return getattr(self.error, "field", None) if isinstance(self.error, SpecError) else None

    @property
    def total_params(self) -> int:
        return sum(shape.num_params for shape in self.top_level)

    def output_shape(self, spec: NetworkSpec) -> tuple[int, ...] | None:
        if not self.valid:
            return None
        return self.top_level[-1].output_shape if self.top_level else tuple(spec.input_shape)


def analyse(spec: NetworkSpec) -> Analysis:
    try:
        top = infer_shapes(spec)
    except (SpecError, ShapeError) as exc:
        path = _error_path(spec, exc)
        return Analysis(shapes=_shapes_before(spec, path), error=exc, error_path=path)
    shapes: dict[str, LayerShape] = {}
    _collect(top, shapes)
    return Analysis(shapes=shapes, top_level=top)


def _collect(items: list[LayerShape], into: dict[str, LayerShape]) -> None:
    for item in items:
        into[item.name] = item
        _collect(item.children, into)


def _error_path(spec: NetworkSpec, exc: Exception) -> tuple[int, ...] | None:
    if isinstance(exc, ShapeError):
        return tuple(exc.path)
    name = getattr(exc, "layer_name", None)
    if name is None:
        return None
    return next((path for path, layer in spec.walk() if layer.name == name), None)


def _shapes_before(spec: NetworkSpec, path: tuple[int, ...] | None) -> dict[str, LayerShape]:
    if not path:
        return {}
    # Flatten the prefix: outer layers before each step of the path, then the
    # inner ones. A Residual keeps its input shape, so the chain is well-formed.
    chain: list[LayerSpec] = []
    layers = spec.layers
    for depth, index in enumerate(path):
        chain.extend(layers[:index])
        if depth < len(path) - 1:
            layers = layers[index].layers
    shapes: dict[str, LayerShape] = {}
    try:
        _collect(infer_shapes(NetworkSpec(chain, spec.input_shape)), shapes)
    except (SpecError, ShapeError):
        return {}  # e.g. the input shape itself is wrong: nothing to show
    return shapes
