"""Which compute devices this machine offers, and turning a device name into a ``torch.device``.

The names are the ones torch uses (``"cpu"``, ``"cuda:0"``, ``"mps"``), plus
``"auto"`` for the best one available. Asking for a device the machine lacks is
a :class:`DeviceError` that says what *is* available, so the GUI can show it
as is and a script fails with a readable message instead of deep inside torch.
"""
from __future__ import annotations

import torch

__all__ = ["DeviceError", "available_devices", "resolve_device"]


class DeviceError(RuntimeError):
    """A device that does not exist on this machine, or a name that is no device."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    try:
        return bool(backend is not None and backend.is_available())
    except Exception:  # some builds raise instead of answering False
        return False


def _cuda_count() -> int:
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken driver should look like "no GPU", not crash the menu
        return 0


def available_devices() -> list[str]:
    """Usable device names, best last: ``"cpu"``, then ``"cuda:0"``, ``"cuda:1"`` …, then ``"mps"``.

    The list is computed on each call (cheap), so tests can monkeypatch
    ``torch.cuda.is_available``/``device_count`` to simulate GPUs.
    """
    devices = ["cpu"]
    devices.extend(f"cuda:{i}" for i in range(_cuda_count()))
    if _mps_available():
        devices.append("mps")
    return devices


def resolve_device(name: str | torch.device = "cpu") -> torch.device:
    """The ``torch.device`` for ``name``; ``"auto"`` picks cuda:0, else mps, else cpu.

    ``"cuda"`` means ``"cuda:0"``. Raises :class:`DeviceError` naming the
    available devices when the requested one is missing or the name is not a
    device at all.
    """
    text = str(name).strip().lower()
    available = available_devices()
    if text == "auto":
        if "cuda:0" in available:
            return torch.device("cuda", 0)
        if "mps" in available:
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceError(
            f"{name!r} is not a device name; use one of: {', '.join(available)} (or 'auto')"
        ) from None
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", 0)
    elif device.type in ("cpu", "mps"):
        device = torch.device(device.type)  # "cpu:0" and "cpu" are the same device
    canonical = device.type if device.index is None else f"{device.type}:{device.index}"
    if canonical not in available:
        raise DeviceError(f"{canonical} is not available on this machine; available: {', '.join(available)}")
    return device
