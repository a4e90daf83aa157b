"""What a user's module takes and gives, for a ``TrainingSession``: example inputs
as the batch, and which of several outputs the loss is computed on.

Models people write rarely look like the tutorial's ``net(input) -> tensor``:
they take token ids and masks, return ``(logits, state)`` or a dict. The rules
here (all documented in the UI and README):

* **Inputs**: the example tensors are the batch, every iteration (like the
  tutorial's one fixed ``input``), in any dtype and any number.
* **Which output**: the loss uses the *first floating-point tensor* of the
  output, walking tuples, lists, dicts (in insertion order) and namedtuples
  depth-first; one that requires grad wins over one that does not (a detached
  mask returned first must not make the loss untrainable).
* **Targets**: random, fixed for the session (so the loss falls steadily).
  ``"values"`` targets are ``randn`` shaped like that output; ``"classes"``
  targets are indices over its *last* dimension: logits ``(B, T, V)`` are
  flattened to ``(B·T, V)`` with ``B·T`` targets, as language models do.

No Qt here.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

from gradviz.core.data import TARGET_KINDS, VALUES, DataError, DataSource

__all__ = [
    "ExampleInputs",
    "OutputProbe",
    "as_call_args",
    "class_view",
    "describe_inputs",
    "describe_value",
    "floating_tensors",
    "loss_output",
    "module_input_shape",
    "probe_output",
]


def as_call_args(inputs: Any) -> tuple:
    """``model(*as_call_args(inputs))``: a tuple is several arguments, anything else one."""
    return tuple(inputs) if isinstance(inputs, tuple) else (inputs,)


def floating_tensors(value: Any, where: str = "output") -> Iterator[tuple[str, torch.Tensor]]:
    """``(path, tensor)`` for every floating-point tensor in ``value``, depth-first.

    Paths read like Python: ``output[0]``, ``output['logits']``, ``output.hidden``.
    """
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            yield where, value
    elif isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple: use its field names
        for name in value._fields:
            yield from floating_tensors(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from floating_tensors(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from floating_tensors(item, f"{where}[{key!r}]")


def loss_output(output: Any) -> tuple[torch.Tensor, str]:
    """The tensor the loss is computed on, and where it is in ``output`` (``"output"`` for a plain tensor)."""
    candidates = list(floating_tensors(output))
    if not candidates:
        raise TypeError(
            f"the model returned {describe_value(output)}, which holds no floating-point tensor to compute a loss on"
        )
    for where, tensor in candidates:
        if tensor.requires_grad:
            return tensor, where
    return candidates[0][1], candidates[0][0]


def describe_value(value: Any, depth: int = 0) -> str:
    """A short description of a model's output, e.g. ``tuple of 2: tensor (2, 12, 5), tuple of 2``."""
    if isinstance(value, torch.Tensor):
        return f"tensor {tuple(value.shape)}"
    kind = type(value).__name__
    if isinstance(value, (tuple, list, dict)):
        items = list(value.values()) if isinstance(value, dict) else list(value)
        if depth >= 1:
            return f"{kind} of {len(items)}"
        inner = ", ".join(describe_value(item, depth + 1) for item in items[:4]) + (", …" if len(items) > 4 else "")
        return f"{kind} of {len(items)}: {inner}"
    return f"a {kind}"


def describe_inputs(inputs: Sequence[torch.Tensor]) -> str:
    """``(2, 16) int64, (2, 16) bool`` for the status bar and the CLI summary."""
    return ", ".join(f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}" for t in inputs)


def class_view(output: torch.Tensor) -> torch.Tensor:
    """The output as cross entropy sees it: classes on the last dimension, everything before it flattened.

    ``(B, T, V)`` becomes ``(B·T, V)``; ``(N, C)`` and ``(C,)`` stay as they are.
    """
    if output.dim() > 2:
        return output.reshape(-1, output.shape[-1])
    return output


class ExampleInputs(DataSource):
    """The user's example inputs as the batch of every iteration, with fixed random targets.

    ``batch`` returns the inputs as given (one tensor, or a tuple for a model
    with several arguments) and targets for the output shape it is told (see
    the module docstring for the rules). ``seed`` makes the targets reproducible
    without touching the global random state.
    """

    name = "example inputs"

    def __init__(self, inputs: Sequence[torch.Tensor] | torch.Tensor, seed: int = 0):
        super().__init__(None)
        values = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
        if not values:
            raise DataError("give at least one example input tensor")
        for index, value in enumerate(values):
            if not isinstance(value, torch.Tensor):
                raise DataError(f"example input {index} is a {type(value).__name__}, not a tensor")
        # Detached copies: the caller's tensors stay theirs, and no input history leaks into the graph.
        self.inputs = tuple(v.detach().clone() for v in values)
        self.seed = int(seed)
        self._targets: dict[tuple, torch.Tensor] = {}

    def batch(self, input_shape, output_shape, target):
        if target not in TARGET_KINDS:
            raise DataError(f"unknown target kind {target!r}; use one of: {', '.join(TARGET_KINDS)}")
        output_shape = tuple(output_shape)
        key = (output_shape, target)
        if key not in self._targets:
            self._targets[key] = self._make_targets(output_shape, target)
        inputs = self.inputs[0] if len(self.inputs) == 1 else self.inputs
        return inputs, self._targets[key].clone()

    def _make_targets(self, output_shape: tuple, target: str) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        if target == VALUES:
            return torch.randn(output_shape, generator=generator)
        if not output_shape:
            raise DataError("class targets need an output with a class dimension, but the model's loss output is a single number")
        classes = output_shape[-1]
        # One target per row of class_view(output): (B, T, V) -> B·T targets.
        rows = () if len(output_shape) == 1 else (math.prod(output_shape[:-1]),)
        return torch.randint(0, classes, rows, generator=generator)

    def describe(self) -> str:
        return f"your example inputs {describe_inputs(self.inputs)} (same batch every step)"


def module_input_shape(model: torch.nn.Module, input_shape: tuple | None) -> tuple:
    """The input shape to probe ``model`` with: the one given, the one a gradviz-built
    model knows, or one read off its first layer; else a ``ValueError`` that says what to pass."""
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        if not shape or any(d <= 0 for d in shape):
            raise ValueError(f"input_shape must be positive sizes, batch first, got {input_shape!r}")
        return shape
    from gradviz.core.spec import NetworkSpec

    spec = getattr(model, "spec", None)
    if isinstance(spec, NetworkSpec):  # built by gradviz: it knows its input
        return tuple(spec.input_shape)
    try:
        from gradviz.core.build import spec_from_module

        return tuple(spec_from_module(model).input_shape)
    except Exception:
        raise ValueError(
            f"cannot tell what input {type(model).__name__} takes; pass input_shape=(N, ...), batch first, "
            "or inputs= (example tensors)"
        ) from None


@dataclass(frozen=True)
class OutputProbe:
    """What one probing pass learned of a model's output: the shape and dtype of the
    tensor the loss uses, which output that is (``loss_output``), and a description
    of the whole output when it is not a single tensor (else None)."""

    shape: tuple
    dtype: torch.dtype
    loss_output: str
    description: str | None


def probe_output(model: torch.nn.Module, args: tuple, what: str) -> OutputProbe:
    """Run ``model(*args)`` once to learn the output the loss will use.

    Eval mode: BatchNorm statistics stay untouched, dropout is off. ``what`` names
    the inputs in the ``ValueError`` raised when the model cannot take them.
    """
    was_training = model.training
    model.eval()
    try:
        # gradviz's own look at the model, not the user's training: what it warns about
        # here (a checkpoint under no_grad: "None of the inputs have requires_grad=True")
        # is about this pass only; the training's forward warns for itself.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = model(*args)
        if not isinstance(output, torch.Tensor) and len(list(floating_tensors(output))) > 1:
            # Which output the loss takes depends on what requires grad:
            # only a pass with autograd on can tell (the graph is dropped).
            with torch.enable_grad():
                output = model(*args)
    except Exception as exc:  # any failure here means "wrong input shape" to the user
        raise ValueError(f"the model cannot take {what}: {type(exc).__name__}: {exc}") from None
    finally:
        model.train(was_training)
    try:
        tensor, which = loss_output(output)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    description = None if isinstance(output, torch.Tensor) else describe_value(output)
    return OutputProbe(tuple(tensor.shape), tensor.dtype, which, description)
