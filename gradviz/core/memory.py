"""How much memory a network needs to train, and whether the device has it: checked before anything is allocated.

The estimate is arithmetic on the inferred shapes (no tensors): float32 weights
and their gradients, plus every layer's output and the gradient of that output
during backward, plus the input batch. Optimizer state (Adam: two more copies
of the weights) and history records come on top, so the estimate is a lower
bound; a network above it can never train on the device. ``check_fits`` turns
"far too big" into a :class:`MemoryLimitError` naming the largest layer,
instead of torch failing deep inside an allocation or the machine swapping.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from gradviz.core.spec import NetworkSpec, SpecError

__all__ = ["BYTES_PER_VALUE", "LayerMemory", "MemoryEstimate", "MemoryLimitError", "available_memory", "check_fits",
           "estimate_memory", "format_bytes"]

BYTES_PER_VALUE = 4  # float32, what build_model makes


class MemoryLimitError(SpecError):
    """A network that needs more memory than the device has; ``layer_name`` is its largest layer."""

    def __init__(self, message: str, *, estimate: "MemoryEstimate", available: int, device: str):
        super().__init__(message, layer_name=estimate.largest.name if estimate.largest else None)
        self.estimate = estimate
        self.available = available
        self.device = device


@dataclass(frozen=True)
class LayerMemory:
    name: str
    kind: str
    parameter_bytes: int  # weights + their gradients
    activation_bytes: int  # output + its gradient

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.activation_bytes


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training iteration needs at least; ``layers`` per layer (inner layers of a Residual included)."""

    parameter_bytes: int
    activation_bytes: int
    input_bytes: int
    layers: tuple[LayerMemory, ...] = field(default=())

    @property
    def total_bytes(self) -> int:
        return self.parameter_bytes + self.activation_bytes + self.input_bytes

    @property
    def largest(self) -> LayerMemory | None:
        return max(self.layers, key=lambda layer: layer.total_bytes, default=None)

    def describe(self) -> str:
        """One line, e.g. ``"about 1.2 MB to train (weights 245.5 kB, activations 1.0 MB)"``."""
        return (f"about {format_bytes(self.total_bytes)} to train (weights and gradients {format_bytes(self.parameter_bytes)}, "
                f"activations {format_bytes(self.activation_bytes + self.input_bytes)})")


def format_bytes(n: int) -> str:
    """``1536`` -> ``"1.5 kB"``; decimal units like file managers show."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def estimate_memory(spec: NetworkSpec) -> MemoryEstimate:
    """The memory one training iteration of ``spec`` needs at least (``SpecError``/``ShapeError`` if it is invalid)."""
    from gradviz.core.shapes import infer_shapes

    layers: list[LayerMemory] = []

    def visit(shapes) -> None:
        for shape in shapes:
            if shape.children:
                visit(shape.children)
                continue
            layers.append(LayerMemory(
                shape.name, shape.kind,
                parameter_bytes=2 * shape.num_params * BYTES_PER_VALUE,
                activation_bytes=2 * math.prod(shape.output_shape) * BYTES_PER_VALUE,
            ))

    visit(infer_shapes(spec))
    return MemoryEstimate(
        parameter_bytes=sum(layer.parameter_bytes for layer in layers),
        activation_bytes=sum(layer.activation_bytes for layer in layers),
        input_bytes=math.prod(spec.input_shape) * BYTES_PER_VALUE,
        layers=tuple(layers),
    )


def available_memory(device="cpu") -> int | None:
    """Bytes free on ``device`` now (``"cpu"``: available RAM; ``"cuda:N"``: free GPU memory); None when unknown."""
    kind = str(device).split(":")[0]
    if kind == "cpu":
        return _available_ram()
    if kind == "cuda":
        try:
            import torch

            index = int(str(device).split(":")[1]) if ":" in str(device) else 0
            return int(torch.cuda.mem_get_info(index)[0])
        except Exception:  # noqa: BLE001 - no driver, no such GPU: the check is skipped, torch reports it later
            return None
    return None


def _available_ram() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(spec: NetworkSpec, device="cpu", *, available: int | None = None) -> MemoryEstimate:
    """The estimate, or ``MemoryLimitError`` when it exceeds what ``device`` has free (``available`` overrides)."""
    estimate = estimate_memory(spec)
    free = available if available is not None else available_memory(device)
    if free is not None and estimate.total_bytes > free:
        largest = estimate.largest
        where = (f"; the largest layer is {largest.name!r} ({largest.kind}, {format_bytes(largest.total_bytes)}): make it smaller"
                 if largest else "; make the input smaller")
        raise MemoryLimitError(
            f"the network needs {estimate.describe()}, but {device} has only {format_bytes(free)} free{where}",
            estimate=estimate, available=free, device=str(device),
        )
    return estimate
