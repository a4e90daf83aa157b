"""Losses and optimizers by name, and the learning rate's check: what a session is
asked for ("mse", "sgd_momentum", lr=0.01) turned into torch objects, or a
``ValueError`` that names the choices."""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from gradviz.core.data import CLASSES, VALUES
from gradviz.core.vocabulary import LOSSES, OPTIMIZERS

__all__ = ["LossFn", "SGD_MOMENTUM", "check_lr", "check_optimizer_name", "make_optimizer", "resolve_loss"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SGD_MOMENTUM = 0.9

_LOSS_FACTORIES: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "mse": (nn.MSELoss, VALUES),
    "l1": (nn.L1Loss, VALUES),
    "cross_entropy": (nn.CrossEntropyLoss, CLASSES),
    "nll": (nn.NLLLoss, CLASSES),
}


def resolve_loss(loss: str | LossFn) -> tuple[str, LossFn, str]:
    """``(name, function, target kind)`` for a loss name or callable."""
    if isinstance(loss, str):
        entry = _LOSS_FACTORIES.get(loss.strip().lower())
        if entry is None:
            raise ValueError(
                f"unknown loss {loss!r}; use one of: {', '.join(LOSSES)}, or a callable(output, target) -> scalar tensor"
            )
        factory, target = entry
        return loss.strip().lower(), factory(), target
    if not callable(loss):
        raise ValueError(f"loss must be one of {', '.join(LOSSES)} or a callable, got {type(loss).__name__}")
    # Class-index losses given as objects or functions still need class targets.
    classes = isinstance(loss, (nn.CrossEntropyLoss, nn.NLLLoss)) or loss in (F.cross_entropy, F.nll_loss)
    name = getattr(loss, "__name__", None) or type(loss).__name__
    return name, loss, CLASSES if classes else VALUES


def check_optimizer_name(name: str) -> str:
    key = str(name).strip().lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; use one of: {', '.join(OPTIMIZERS)}")
    return key


def make_optimizer(name: str, params: list[nn.Parameter], lr: float) -> torch.optim.Optimizer | None:
    if name == "manual_sgd":
        return None  # the tutorial's hand-written update runs in the session's step
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "sgd_momentum":
        return torch.optim.SGD(params, lr=lr, momentum=SGD_MOMENTUM)
    return torch.optim.Adam(params, lr=lr)


def check_lr(lr: Any) -> float:
    """``lr`` as a float: a real number, finite, zero or positive. A string ("0.1") or a
    bool is refused, not converted: nothing the user gave is silently made something else."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise ValueError(f"learning rate must be a number, got {lr!r}")
    value = float(lr)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"learning rate must be zero or positive, and finite; got {lr!r}")
    return value
