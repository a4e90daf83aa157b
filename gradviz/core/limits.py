"""How much a network spec may hold: how deep blocks nest and how many layers there are.

The limits keep every recursive walk (copying a spec, building its model,
drawing its cards) far from Python's recursion limit and the builder far from
a freeze. They are checked on the raw JSON *before* a spec is built from it
(so a hostile file cannot exhaust the stack while being read) and on every
spec ``gradviz.core.layers.validate_network`` sees (so no edit can create what no file may
hold). Both checks walk with an explicit stack: they never recurse.
"""
from __future__ import annotations

from typing import Any

from gradviz.core.spec_error import SpecError

# Blocks (``Residual``) nested inside blocks: real networks use two or three levels.
MAX_NESTING_DEPTH = 32
# Layers in one spec, inner layers included: the biggest torchvision models have a few hundred.
MAX_LAYERS = 5000


def nesting_error(depth: int, name: str | None = None) -> SpecError:
    where = f"the layers inside {name!r} are" if name else "layers are"
    return SpecError(
        f"{where} nested {depth} blocks deep; gradviz allows at most {MAX_NESTING_DEPTH} "
        "nested blocks (MAX_NESTING_DEPTH): flatten some of the Residual blocks",
        layer_name=name, field="layers",
    )


def size_error(count: int) -> SpecError:
    return SpecError(
        f"the network has more than {count - 1:,} layers; gradviz allows at most {MAX_LAYERS:,} "
        "(inner layers included): split it into smaller networks",
        field="layers",
    )


def check_spec_data(data: Any) -> None:
    """Raise ``SpecError`` when raw spec data (as parsed from JSON) nests too deep or holds too many layers.

    Only the shape of the data is looked at; ``NetworkSpec.from_dict`` checks the rest.
    """
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        return
    stack: list[tuple[list, int]] = [(data["layers"], 0)]  # (a list of layers, blocks around it)
    count = 0
    while stack:
        layers, depth = stack.pop()
        for item in layers:
            count += 1
            if count > MAX_LAYERS:
                raise size_error(count)
            inner = item.get("layers") if isinstance(item, dict) else None
            if isinstance(inner, list) and inner:
                if depth + 1 > MAX_NESTING_DEPTH:
                    name = item.get("name")
                    raise nesting_error(depth + 1, name if isinstance(name, str) else None)
                stack.append((inner, depth + 1))


def check_spec_limits(spec) -> None:
    """The same limits for a ``NetworkSpec`` (what an edit produced)."""
    count = 0
    for path, layer in spec.walk():
        count += 1
        if count > MAX_LAYERS:
            raise size_error(count)
        if layer.layers and len(path) > MAX_NESTING_DEPTH:
            raise nesting_error(len(path), layer.name)
