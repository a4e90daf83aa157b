"""Where NaN/Inf starts: the first op that turned finite values into non-finite ones.

:func:`find_first_nonfinite` re-runs one forward (and loss) with a check on
every op's output (a :class:`~torch.overrides.TorchFunctionMode`): the first op
whose output holds NaN/Inf while all its floating-point inputs were finite is
where the forward went wrong; its inputs' statistics give the reason in words
("log of a value ≤ 0", "division by 0", "exp overflow: max input 93.1").
Parameters that are already non-finite (an optimizer step with too large a
learning rate) are reported as such: no op of this forward made them so.

When the forward is finite it runs backward with a hook on every autograd
Node: the first Node (in the engine's order) that *produced* a non-finite
gradient from finite ones it *received* is where backward went wrong (a
custom ``autograd.Function`` returning NaN, ``sqrt`` at 0, …).

Nothing of the caller's changes: ``.grad`` fields (backward runs through
``torch.autograd.grad``), BatchNorm buffers and the random state are put back.
The report's graph has op nodes' ``source`` lines and is detached.

No Qt here.
"""
from __future__ import annotations

import contextlib
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Mapping

import networkx as nx
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from gradviz.core.model_io import as_call_args, loss_output
from gradviz.core.node_notes import ORIGIN_ATTR, SourceLine, source_of
from gradviz.core.source_lines import SourceRecorder, add_source_lines, user_frame

__all__ = ["FORWARD", "BACKWARD", "PARAMETER", "ORIGIN_ATTR", "TensorStats", "NonFiniteOrigin", "NonFiniteReport",
           "all_values_finite", "find_first_nonfinite", "nonfinite_params", "param_key"]

FORWARD, BACKWARD, PARAMETER = "forward", "backward", "parameter"


@dataclass(frozen=True)
class TensorStats:
    """A tensor in a few numbers (over its finite values; nan when it has none)."""

    shape: tuple[int, ...]
    dtype: str
    min: float
    max: float
    mean: float
    nan: int
    inf: int
    zeros: int
    nonpositive: int

    @classmethod
    def of(cls, tensor: torch.Tensor) -> "TensorStats":
        t = tensor.detach()
        if t.is_complex():
            t = t.abs()
        t = t.float()
        finite = torch.isfinite(t)
        values = t[finite]
        if values.numel():
            low, high, mean = values.min().item(), values.max().item(), values.mean().item()
        else:
            low = high = mean = math.nan
        return cls(
            shape=tuple(tensor.shape), dtype=str(tensor.dtype).replace("torch.", ""),
            min=low, max=high, mean=mean,
            nan=int(torch.isnan(t).sum()), inf=int(torch.isinf(t).sum()),
            zeros=int((t == 0).sum()), nonpositive=int((t <= 0).sum()),
        )

    @property
    def finite(self) -> bool:
        return self.nan == 0 and self.inf == 0

    def describe(self) -> str:
        shape = "×".join(map(str, self.shape)) or "scalar"
        if self.min != self.min:  # no finite value at all
            text = f"{shape} {self.dtype}: no finite values"
        else:
            text = f"{shape} {self.dtype}: min {self.min:.4g}, max {self.max:.4g}, mean {self.mean:.4g}"
        extra = [f"{n} {what}" for n, what in ((self.zeros, "zeros"), (self.nan, "NaN"), (self.inf, "Inf")) if n]
        return text + (f" ({', '.join(extra)})" if extra else "")


@dataclass
class NonFiniteOrigin:
    """Where the first non-finite values appeared.

    ``phase``: ``"forward"`` (an op's output), ``"backward"`` (a Node's produced
    gradient) or ``"parameter"`` (a parameter already non-finite). ``op``: the
    torch function (``"log"``) or Node label (``"SquareBackward"``); ``key``:
    its node in the report's graph, when it is one. ``inputs``: the op's
    floating-point inputs, or the gradients the Node received; ``output``: the
    op's output, or the gradient it produced that went bad.
    """

    phase: str
    op: str
    reason: str
    key: Hashable | None = None
    source: SourceLine | None = None
    inputs: list[TensorStats] = field(default_factory=list)
    output: TensorStats | None = None

    def describe(self) -> str:
        where = f" at {self.source}" if self.source is not None else ""
        return f"{self.phase}: {self.op}{where}: {self.reason}"

    def details(self, *, where: bool = True) -> list[str]:
        """The description (without op and line when ``where`` is False), then each tensor's statistics."""
        lines = [self.describe() if where else f"{self.phase}, {self.op}: {self.reason}"]
        name = "received gradient" if self.phase == BACKWARD else "input"
        lines += [f"  {name} {i}: {s.describe()}" for i, s in enumerate(self.inputs)]
        if self.output is not None:
            lines.append(f"  {'produced gradient' if self.phase == BACKWARD else 'output'}: {self.output.describe()}")
        return lines


@dataclass
class NonFiniteReport:
    """What :func:`find_first_nonfinite` found.

    ``forward``/``backward``: the first origin in each pass (None when that
    pass stayed finite or did not run); ``parameters``: names of parameters
    already holding NaN/Inf; ``loss``: the re-run's loss value; ``graph``: the
    autograd graph of the re-run (detached; op nodes carry ``source``), None
    when the forward built none; ``error``: the forward's exception, if it raised;
    ``creation_order``: the graph's op node keys in the order they were created
    (what maps a node to the same op in another run of the same code).
    """

    forward: NonFiniteOrigin | None = None
    backward: NonFiniteOrigin | None = None
    parameters: list[str] = field(default_factory=list)
    loss: float | None = None
    graph: nx.DiGraph | None = None
    error: str | None = None
    creation_order: list = field(default_factory=list)

    @property
    def first(self) -> NonFiniteOrigin | None:
        """The earliest origin: a non-finite parameter, else forward, else backward."""
        if self.parameters:
            others = f" ({len(self.parameters) - 1} more: {', '.join(self.parameters[1:4])})" if self.parameters[1:] else ""
            return NonFiniteOrigin(PARAMETER, self.parameters[0],
                                   "the parameter holds NaN/Inf before the forward: an earlier optimizer step made it "
                                   f"so (a learning rate too large?){others}",
                                   key=self.key_of_param(self.parameters[0]))
        return self.forward or self.backward

    @property
    def found(self) -> bool:
        return self.first is not None

    def key_of_param(self, name: str) -> Hashable | None:
        return param_key(self.graph, name)

    def summary(self) -> str:
        if self.error:
            return f"the forward raised before any NaN/Inf: {self.error}"
        first = self.first
        if first is None:
            loss = "" if self.loss is None else f" (loss {self.loss:.6g})"
            return f"no NaN or Inf: every op output and gradient was finite{loss}"
        lines = first.details()
        if first.phase == FORWARD and self.backward is not None:
            lines.append("then " + self.backward.describe())
        return "\n".join(lines)


# -- reasons ---------------------------------------------------------------------

_LOGS = {"log", "log2", "log10", "log1p", "log_", "log2_", "log10_", "log1p_", "xlogy", "log_softmax"}
_DIVS = {"div", "div_", "true_divide", "truediv", "rtruediv", "itruediv", "reciprocal", "reciprocal_",
         "floor_divide", "remainder", "fmod"}
_EXPS = {"exp", "exp_", "expm1", "exp2", "exp2_", "expm1_", "sinh", "cosh"}
_ROOTS = {"sqrt", "sqrt_", "rsqrt", "rsqrt_"}
_POWS = {"pow", "pow_", "rpow", "ipow", "float_power"}


def _op_name(func: Any) -> str:
    """``"log"`` for torch.log, Tensor.log and Tensor.log_; ``"truediv"`` for ``/``, ``"itruediv"`` for ``/=``."""
    name = (getattr(func, "__name__", None) or str(func)).strip("_")
    return name


def _reason(op: str, inputs: list[TensorStats], output: TensorStats) -> str:
    what = "NaN" if output.nan and not output.inf else "Inf" if output.inf and not output.nan else "NaN/Inf"
    first = inputs[0] if inputs else None
    if op in _LOGS and first is not None:
        if op == "log1p":
            return f"log1p of a value ≤ −1 (min input {first.min:.4g})"
        return f"log of a value ≤ 0: {first.nonpositive} input value(s) ≤ 0, min input {first.min:.4g}"
    if op in _DIVS:
        divisor = inputs[-1] if op != "rtruediv" else first
        if op.startswith("reciprocal"):
            divisor = first
        if divisor is not None and divisor.zeros:
            if output.nan:
                return f"division by 0: 0/0 gives NaN ({divisor.zeros} zero divisor(s))"
            return f"division by 0 ({divisor.zeros} zero divisor(s))"
        return f"division overflow: {what} from finite values"
    if op in _EXPS and first is not None:
        return f"exp overflow: max input {first.max:.4g}"
    if op in _ROOTS and first is not None:
        if op.startswith("rsqrt") and first.zeros:
            return f"1/√0: {first.zeros} input value(s) are 0"
        return f"square root of a negative value (min input {first.min:.4g})"
    if op in _POWS:
        return f"power overflow ({what}): base up to {first.max:.4g}" if first is not None else f"power gave {what}"
    largest = max((max(abs(s.min), abs(s.max)) for s in inputs if s.min == s.min), default=math.nan)
    if output.inf:
        return f"overflow: {what} from finite inputs (largest |input| {largest:.4g})"
    return f"{what} from finite inputs (largest |input| {largest:.4g})"


# -- forward check ---------------------------------------------------------------


def _floating(value: Any) -> Iterable[torch.Tensor]:
    """Floating-point tensors in a call's arguments or result (two levels deep)."""
    stack = [value]
    depth = 0
    while stack and depth < 3:
        nxt = []
        for item in stack:
            if isinstance(item, torch.Tensor):
                if item.is_floating_point() or item.is_complex():
                    yield item
            elif isinstance(item, (tuple, list)):
                nxt.extend(item)
            elif isinstance(item, Mapping):
                nxt.extend(item.values())
        stack, depth = nxt, depth + 1


def all_values_finite(tensors: Iterable[torch.Tensor]) -> bool:
    """No NaN/Inf in any of ``tensors`` (empty ones count as finite)."""
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.numel())


def param_key(graph: nx.DiGraph | None, name: str) -> Hashable | None:
    """The node of parameter ``name`` in ``graph``; None without one."""
    if graph is None:
        return None
    return next((k for k, a in graph.nodes(data=True) if a.get("kind") == "param" and a.get("name") == name), None)


class _CheckMode(TorchFunctionMode):
    """Checks every op's floating-point outputs; keeps the first bad one whose inputs were fine."""

    def __init__(self):
        super().__init__()
        self.origin: NonFiniteOrigin | None = None
        self.grad_fn: Any = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.origin is not None:
            return func(*args, **kwargs)
        before = None
        if _in_place(func):  # the op overwrites its input: look at it before it does
            inputs = list(_floating((args, kwargs)))
            if not all_values_finite(inputs):
                return func(*args, **kwargs)  # bad values flowing through, not made here
            before = [TensorStats.of(t) for t in inputs]
        result = func(*args, **kwargs)
        outputs = list(_floating(result))
        if not outputs or all_values_finite(outputs):
            return result
        if before is None:
            inputs = list(_floating((args, kwargs)))
            if not all_values_finite(inputs):
                return result  # bad values flowing through, not made here
            before = [TensorStats.of(t) for t in inputs]
        bad = next(t for t in outputs if t.numel() and not bool(torch.isfinite(t).all()))
        op = _op_name(func)
        out_stats = TensorStats.of(bad)
        frame = user_frame(sys._getframe(1))
        source = SourceLine.at(frame) if frame is not None else None
        self.origin = NonFiniteOrigin(FORWARD, op, _reason(op, before, out_stats), source=source,
                                      inputs=before, output=out_stats)
        self.grad_fn = bad.grad_fn
        return result


def _in_place(func: Any) -> bool:
    """``log_``, ``__iadd__``, …: ops that write into their first argument."""
    name = getattr(func, "__name__", "") or ""
    return (name.endswith("_") and not name.endswith("__")) or (name.startswith("__i") and name.endswith("__"))


def nonfinite_params(model: nn.Module) -> list[str]:
    """Names of the model's parameters holding NaN or Inf."""
    with torch.no_grad():
        return [name for name, p in model.named_parameters() if p.numel() and not bool(torch.isfinite(p).all())]


# -- backward check --------------------------------------------------------------


def _backward_origin(graph: nx.DiGraph, roots: list[torch.Tensor]) -> NonFiniteOrigin | None:
    """Run backward (not into ``.grad``) with a hook on every op Node; the first bad producer."""
    fns = graph.graph["fn"]
    found: list[NonFiniteOrigin] = []

    def hook_for(key):
        def hook(grad_inputs, grad_outputs):
            if found:
                return
            produced = [g for g in grad_inputs if g is not None]
            received = [g for g in grad_outputs if g is not None]
            if all_values_finite(produced) or not all_values_finite(received):
                return
            bad = next(g for g in produced if g.numel() and not bool(torch.isfinite(g).all()))
            in_stats = [TensorStats.of(g) for g in received]
            out_stats = TensorStats.of(bad)
            what = "NaN" if out_stats.nan else "Inf"
            attrs = graph.nodes[key]
            found.append(NonFiniteOrigin(
                BACKWARD, attrs.get("label", str(key)),
                f"its backward produced {what} from a finite gradient (largest |received| "
                f"{max((max(abs(s.min), abs(s.max)) for s in in_stats), default=math.nan):.4g})",
                key=key, source=source_of(attrs), inputs=in_stats, output=out_stats,
            ))

        return hook

    leaves = [fn.variable for fn in fns.values() if type(fn).__name__ == "AccumulateGrad"]
    handles = [fn.register_hook(hook_for(key)) for key, fn in fns.items() if graph.nodes[key].get("kind") == "op"]
    try:
        seeds = [torch.ones_like(r) for r in roots]
        if leaves:
            torch.autograd.grad(roots, leaves, seeds, allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None


# -- the whole search ------------------------------------------------------------


@contextlib.contextmanager
def _restored(model: nn.Module):
    """Put buffers (BatchNorm statistics) and the random state back afterwards."""
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            with torch.no_grad():
                for name, buffer in model.named_buffers():
                    if name in buffers:
                        buffer.copy_(buffers[name])


LossFn = Callable[..., torch.Tensor]


def find_first_nonfinite(
    model: nn.Module,
    inputs: Any,
    loss_fn: LossFn | None = None,
    target: Any = None,
    *,
    kwargs: Mapping[str, Any] | None = None,
) -> NonFiniteReport:
    """Re-run ``model(*inputs)`` (and ``loss_fn``) with checks and say where NaN/Inf starts.

    ``inputs``: a tensor, or a tuple of them for a ``forward`` with several
    arguments. ``loss_fn(output, target)``, or ``loss_fn(output)`` when
    ``target`` is None; without one the loss is the model's first
    floating-point output (summed when it is not a scalar). ``kwargs``: keyword
    arguments of ``forward``. See the module docstring; nothing of the caller's
    state changes.
    """
    from gradviz.core.graph import autograd_graph, detach_graph

    if not isinstance(model, nn.Module):
        raise TypeError(f"find_first_nonfinite needs a torch.nn.Module, got {type(model).__name__}: "
                        "pass the model, then its inputs")
    report = NonFiniteReport(parameters=nonfinite_params(model))
    mode = _CheckMode()
    with _restored(model), torch.enable_grad():
        try:
            with SourceRecorder() as sources, mode:
                output = model(*as_call_args(inputs), **(kwargs or {}))
                if loss_fn is None:
                    loss, _ = loss_output(output)
                elif target is None:
                    loss = loss_fn(output)
                else:
                    loss = loss_fn(output, target)
                if isinstance(loss, torch.Tensor) and loss.dim() != 0:
                    loss = loss.sum()
        except Exception as exc:  # noqa: BLE001 - the user's forward may raise anything
            report.forward = mode.origin
            report.error = f"{type(exc).__name__}: {exc}"
            return report
        report.forward = mode.origin
        if not isinstance(loss, torch.Tensor):
            report.error = f"the loss is a {type(loss).__name__}, not a tensor"
            return report
        report.loss = float(loss.detach())
        if loss.grad_fn is None:
            return report
        graph = autograd_graph(loss, model)
        add_source_lines(graph, sources)
        fns = graph.graph["fn"]
        report.creation_order = sorted((k for k, a in graph.nodes(data=True) if a.get("kind") == "op"),
                                       key=lambda k: fns[k]._sequence_nr())
        if mode.grad_fn is not None:
            key_of = {fn: key for key, fn in graph.graph["fn"].items()}
            report.forward.key = key_of.get(mode.grad_fn)
            if report.forward.key is not None and report.forward.source is None:
                report.forward.source = source_of(graph.nodes[report.forward.key])
        if report.forward is None and not report.parameters:
            report.backward = _backward_origin(graph, [loss])
        report.graph = detach_graph(graph)
        first = report.first
        if first is not None and first.key in graph:
            # the node's own details show its line already
            graph.nodes[first.key][ORIGIN_ATTR] = "\n".join(first.details(where=False))
    return report
