"""Keep what flows through every autograd Node during one backward pass.

:class:`NodeRecorder` watches a forward pass (a torch function mode notes
each op's output value) and then a backward pass (a pre-hook and a hook on
every autograd Node of a graph made by :func:`gradviz.autograd_graph`), and
fills one :class:`NodeGradients` per Node the engine ran:

* ``received``: the gradient(s) the Node received, one per output of its
  forward op (∂L/∂output);
* ``produced``: the gradient(s) it sent on, one per ``next_functions`` slot
  (∂L/∂input);
* ``saved``: what the op saved for backward (its ``_saved_*`` attributes),
  read just before the Node runs, while the engine still holds them;
* ``outputs``: the op's forward output value(s), when the forward ran under
  :meth:`NodeRecorder.forward`;

and, right after the forward pass, before the loss exists and so before any
graph keys do, :meth:`NodeRecorder.forward_values` gives what the forward
computed as :class:`ForwardValues` (each op's output in creation order, each
parameter by name), which :meth:`ForwardValues.by_key` puts on the keys of a
graph of the same network (the one the app shows while the forward builds up);
* for ``AccumulateGrad``: the parameter's value and its ``.grad`` before and
  after the accumulation.

Storage limit: a tensor of at most ``whole_tensor_limit`` elements
(:data:`WHOLE_TENSOR_LIMIT` by default) is kept whole, as a CPU copy; a larger
one is kept as a :class:`TensorSummary` (shape, dtype, norm, min, max, mean,
fraction of zeros, exact, and a 32-bin histogram, of an 8,192-value sample
above that many), so one record stays small however big the model is.

No Qt here: scripts, the CLI and the GUI's worker thread use it alike.
"""
from __future__ import annotations

import functools
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Union

import networkx as nx
import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from gradviz.core.graph import _label, read_saved
from gradviz.core.history import SUMMARY_BYTES

__all__ = [
    "ForwardValues",
    "HISTOGRAM_BINS",
    "HISTOGRAM_SAMPLE",
    "KeyPlan",
    "Kept",
    "NodeGradients",
    "NodeRecorder",
    "TensorSummary",
    "WHOLE_TENSOR_LIMIT",
    "forward_node_values",
    "keep",
    "key_plan",
]

# A 64×64 gradient is still kept whole; a LeNet conv activation (64·6·28·28)
# is summarised. 4,096 float32 values are 16 KB per tensor.
WHOLE_TENSOR_LIMIT = 4096
HISTOGRAM_BINS = 32


@dataclass(frozen=True)
class TensorSummary:
    """What is kept of a tensor too large to keep whole.

    ``min``, ``max``, ``mean``, ``norm`` and ``zero_fraction`` are exact, over
    the finite values (nan when there are none); ``nonfinite`` counts NaN/Inf.
    ``histogram`` counts finite values in :data:`HISTOGRAM_BINS` equal bins over
    ``[min, max]``: every one of them when ``histogram_sample`` is None, else an
    evenly spread sample of ``histogram_sample`` values (see
    :data:`HISTOGRAM_SAMPLE`), so its bars have the tensor's shape, not its counts.
    """

    shape: tuple[int, ...]
    dtype: str
    norm: float
    min: float
    max: float
    mean: float
    zero_fraction: float
    histogram: tuple[int, ...]
    nonfinite: int = 0
    histogram_sample: int | None = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


# What a record holds for one tensor: the whole CPU copy, or its summary.
Kept = Union[torch.Tensor, TensorSummary]


# On the CPU a tensor larger than this is summarised a cache-sized chunk at a
# time into reused buffers: one pass over a 38 M-value embedding (GPT-2's) with
# fresh full-size temporaries ran ~4× slower per value than over a LeNet
# activation, all page faults and memory traffic.
CHUNK_ELEMENTS = 1 << 18

# A histogram of more finite values than this counts a sample of this many:
# one value from each of HISTOGRAM_SAMPLE equal stretches of the tensor, at a
# fixed pseudo-random place in it (stratified, so a channel or row pattern
# cannot alias with a stride). Counting every value was the one step that
# cannot go faster than bincount's serial loop (~1.1 ns a value, with its index
# arithmetic ~1.6 of the 2.5 ns a value a summary cost), and summaries ran for
# every large tensor of a recorded iteration: as much work as the iteration
# itself on LeNet, ResNet-50 and GPT-2. With 8,192 values a bar holding 30 %
# of them is off by 0.5 % of the sample (one standard error): under a pixel
# of the node inspector's 70 px histogram.
HISTOGRAM_SAMPLE = 8192


def summarise(tensor: torch.Tensor) -> TensorSummary:
    """The :class:`TensorSummary` of ``tensor`` (any device; float maths in float32 or wider)."""
    values = tensor.detach()
    if values.is_sparse:
        values = values.to_dense()
    if values.is_complex():
        values = values.abs()
    values = _flat(values)
    shape, dtype = tuple(tensor.shape), str(tensor.dtype)
    if values.device.type == "cpu" and values.dtype in _NUMPY_FLOATS and values.numel():
        summary = _summarise_on_cpu(values, shape, dtype)
        if summary is not None:
            return summary
    elif values.device.type == "cpu" and values.numel() > CHUNK_ELEMENTS:
        summary = _summarise_in_chunks(values, shape, dtype)
        if summary is not None:
            return summary
    if not values.is_floating_point() or values.dtype in (torch.float16, torch.bfloat16):
        values = values.float()
    numel = values.numel()
    norm = torch.linalg.vector_norm(values)
    low, high = torch.aminmax(values)
    # Into a reused chunk buffer where it fits (a fresh one cost page faults); a
    # longer CPU tensor gets here only when its chunks found NaN/Inf.
    fits = values.is_cpu and numel <= CHUNK_ELEMENTS
    nonzero = _nonzero_count(values, _scratch.buffers(values.dtype)[1] if fits else None)
    # One read-back for all five: each separate check was a fixed cost that
    # tensors of a few thousand values (most of a model's) paid many times over.
    wide = torch.float64 if numel > 2**24 else norm.dtype  # float32 counts exactly up to 2**24
    norm_value, low, high, total, nonzero = torch.stack(
        [t.to(wide) for t in (norm, low, high, values.sum(), nonzero)]).tolist()
    if not math.isfinite(norm_value):
        # Only then look for NaN/Inf element by element (a huge finite tensor
        # can overflow the norm too).
        return _summarise_with_nonfinite(values, shape, dtype)
    histogram, sample = _histogram(values, low, high)
    return TensorSummary(shape, dtype, norm_value, low, high, total / numel, (numel - nonzero) / numel,
                         histogram, 0, sample)


# CPU float tensors are summarised through numpy, on the tensor's own memory.
# Each torch call costs ~4 µs of dispatch, numpy's ~1 µs, and a summary made
# about 15 of them: for the few-thousand-value tensors most of a model's are,
# that fixed cost was nearly all of it (LeNet at batch 64: 27 summaries an
# iteration, ~6 ms, as much as the iteration's own backward). numpy's min, max
# and BLAS dot also read the values once each without temporaries (a
# 301,056-value activation: 16, 16 and 15 µs against torch's 39 for aminmax and
# 47 for the norm), and a byte mask counts the zeros in 31 µs against 62.
_NUMPY_FLOATS = (torch.float32, torch.float64)


def _summarise_on_cpu(values: torch.Tensor, shape: tuple, dtype: str) -> TensorSummary | None:
    """The summary of 1-D contiguous float32/float64 CPU ``values`` (not empty);
    None when they hold NaN/Inf or their squares overflow (then the torch path
    sorts the finite values out).

    A cache-sized chunk at a time, every statistic of a chunk before the next:
    GPT-2's 38 M-value embedding read from memory once per statistic took 5.5 ms
    a pass, and once per chunk about a fifth of that."""
    array = values.numpy()
    numel = array.size
    mask = _scratch.mask()
    low, high, squares, total, nonzero = math.inf, -math.inf, 0.0, 0.0, 0
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is handled below, not a console warning
        for start in range(0, numel, CHUNK_ELEMENTS):
            chunk = array[start:start + CHUNK_ELEMENTS]
            # NaN may slip past Python's min/max here; the dot below catches it
            low = min(low, float(chunk.min()))
            high = max(high, float(chunk.max()))
            squares += float(np.dot(chunk, chunk))
            # torch's cascade sum (exact enough for a 38 M-value mean in float32; numpy's was 3× slower)
            total += float(values[start:start + CHUNK_ELEMENTS].sum())
            nonzero += int(np.count_nonzero(np.not_equal(chunk, 0, out=mask[:chunk.size])))
        if not (math.isfinite(squares) and math.isfinite(total)):
            # NaN/Inf, or finite values whose squares (or sum) overflow float32: again in
            # float64, where only NaN/Inf stay non-finite (rare: one more pass is fine).
            squares = sum(float(np.dot(chunk, chunk)) for chunk in _float64_chunks(array))
            total = float(values.sum(dtype=torch.float64))
            if not (math.isfinite(squares) and math.isfinite(total)):
                return None
    histogram, sample = _histogram(values, low, high)
    return TensorSummary(shape, dtype, math.sqrt(squares), low, high, total / numel,
                         (numel - nonzero) / numel, histogram, 0, sample)


def _float64_chunks(array: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, array.size, CHUNK_ELEMENTS):
        yield array[start:start + CHUNK_ELEMENTS].astype(np.float64)


def _summarise_with_nonfinite(values: torch.Tensor, shape: tuple, dtype: str) -> TensorSummary:
    """The summary of float ``values`` holding NaN/Inf (or finite values whose norm
    overflows): statistics over the finite values, NaN/Inf counted apart."""
    numel = values.numel()
    zero_fraction = float(_zero_count(values)) / numel if numel else 0.0
    finite = values[torch.isfinite(values)]
    nonfinite = numel - finite.numel()
    if finite.numel() == 0:
        nan = float("nan")
        return TensorSummary(shape, dtype, nan, nan, nan, nan, zero_fraction, (0,) * HISTOGRAM_BINS, nonfinite)
    low, high = torch.aminmax(finite)
    # in float64: finite values whose squares overflow their own dtype still have a finite norm
    norm, low, high, mean = torch.stack(
        [torch.linalg.vector_norm(finite, dtype=torch.float64), low.double(), high.double(),
         finite.mean(dtype=torch.float64)]).tolist()
    histogram, sample = _histogram(finite, low, high)
    return TensorSummary(shape, dtype, norm, low, high, mean, zero_fraction, histogram, nonfinite, sample)


def _flat(values: torch.Tensor) -> torch.Tensor:
    """The values as one dimension, without a copy when they fill their memory
    densely in any order (the statistics do not depend on the order), e.g. a
    transposed weight; other strided views are copied by ``reshape``."""
    if not values.is_contiguous() and _dense(values):
        return values.as_strided((values.numel(),), (1,), values.storage_offset())
    return values.reshape(-1)


class _Scratch(threading.local):
    """Per-thread chunk buffers, reused by every summary (fresh ones cost page faults)."""

    def buffers(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(values as ``dtype``, a work buffer of ``dtype``), CHUNK_ELEMENTS each."""
        kept = getattr(self, "by_dtype", None)
        if kept is None:
            kept = self.by_dtype = {}
        key = (dtype, CHUNK_ELEMENTS)  # a chunk size changed since (a test's) needs other buffers
        if key not in kept:
            kept[key] = (torch.empty(CHUNK_ELEMENTS, dtype=dtype), torch.empty(CHUNK_ELEMENTS, dtype=dtype))
        return kept[key]

    def mask(self) -> np.ndarray:
        """A boolean buffer of CHUNK_ELEMENTS values."""
        mask = getattr(self, "bool_mask", None)
        if mask is None or mask.size != CHUNK_ELEMENTS:
            mask = self.bool_mask = np.empty(CHUNK_ELEMENTS, dtype=bool)
        return mask


_scratch = _Scratch()


def _zero_count(values: torch.Tensor) -> torch.Tensor:
    """How many values are exactly zero, NaN not among them. ``logical_not`` and a
    byte sum: ``values == 0`` with a scalar ran 3× slower on the CPU."""
    wide = torch.int32 if values.numel() < 2**31 else torch.int64
    return torch.logical_not(values).view(torch.uint8).sum(dtype=wide)


def _nonzero_count(values: torch.Tensor, work: torch.Tensor | None = None) -> torch.Tensor:
    """How many of the finite float ``values`` are not zero: ``values != 0`` as
    0s and 1s of their own float dtype (into ``work`` when given, a CPU buffer at
    least as long) and their sum. On the CPU a float compare and sum ran about 1.5×
    faster than sign(|v|), 2× faster than a boolean mask and a byte sum, and 20×
    faster than ``count_nonzero``."""
    ones = torch.ne(values, 0) if work is None else torch.ne(values, 0, out=work[:values.numel()])
    if ones.dtype == torch.bool:  # no buffer of the values' dtype (another device)
        return ones.sum(dtype=torch.float64)
    # float32 adds 0s and 1s exactly up to 2**24; past that, add in float64
    return ones.sum(dtype=torch.float64 if values.numel() > 2**24 else None)


def _summarise_in_chunks(values: torch.Tensor, shape: tuple, dtype: str) -> TensorSummary | None:
    """The summary of a large 1-D CPU tensor, a chunk at a time; None when it
    holds NaN/Inf or overflows the norm (then the whole-tensor path sorts the
    finite values out)."""
    numel = values.numel()
    widen = not values.is_floating_point() or values.dtype in (torch.float16, torch.bfloat16)
    work_dtype = torch.float32 if widen else values.dtype
    as_float, work = _scratch.buffers(work_dtype)
    norms, lows, highs, sums, nonzeros = [], [], [], [], []
    for start in range(0, numel, CHUNK_ELEMENTS):
        chunk = values[start:start + CHUNK_ELEMENTS]
        if widen:
            chunk = as_float[:chunk.numel()].copy_(chunk)
        norms.append(torch.linalg.vector_norm(chunk))
        low, high = torch.aminmax(chunk)
        lows.append(low)
        highs.append(high)
        sums.append(chunk.sum())
        nonzeros.append(_nonzero_count(chunk, work))
    norm = torch.linalg.vector_norm(torch.stack(norms).double())
    total = torch.stack(sums).double().sum()
    if not bool(torch.isfinite(norm) & torch.isfinite(total)):
        return None
    norm_value, low, high, mean, nonzero = torch.stack([
        norm, torch.stack(lows).min().double(), torch.stack(highs).max().double(), total / numel,
        torch.stack(nonzeros).double().sum(),
    ]).tolist()
    if not math.isfinite(high - low):
        return None
    histogram, sample = _histogram(values, low, high)
    return TensorSummary(shape, dtype, norm_value, low, high, mean, (numel - nonzero) / numel, histogram, 0, sample)


@functools.lru_cache(maxsize=32)  # 128 KB each; a model has a few dozen tensor sizes
def _sample_positions(numel: int) -> torch.Tensor:
    """HISTOGRAM_SAMPLE positions in ``range(numel)``, ascending: one in each of
    HISTOGRAM_SAMPLE equal stretches, at a fixed pseudo-random place in it (the
    same every call, so one tensor always gets the same histogram)."""
    stretch = torch.arange(HISTOGRAM_SAMPLE + 1, dtype=torch.float64) * (numel / HISTOGRAM_SAMPLE)
    starts = stretch[:-1].floor()
    widths = stretch[1:].floor() - starts
    place = torch.rand(HISTOGRAM_SAMPLE, generator=torch.Generator().manual_seed(numel), dtype=torch.float64)
    return (starts + (place * widths).floor()).long()


def _histogram(values: torch.Tensor, low: float, high: float) -> tuple[tuple[int, ...], int | None]:
    """(counts in HISTOGRAM_BINS equal bins over [low, high], the top edge in the
    last bin; None, or the size of the sample counted) of finite 1-D ``values``
    (any device): the sample is taken where the values are, and binned in numpy,
    in float64 (at most HISTOGRAM_SAMPLE values: a few µs)."""
    sample = HISTOGRAM_SAMPLE if values.numel() > HISTOGRAM_SAMPLE else None
    if values.is_cpu and values.dtype in _NUMPY_FLOATS:  # numpy all the way (a torch call costs ~4 µs)
        array = values.detach().numpy()
        if sample:
            array = array[_sample_positions(array.size).numpy()]
    else:
        if sample:
            positions = _sample_positions(values.numel())
            values = values.index_select(0, positions if values.is_cpu else positions.to(values.device))
        array = values.detach().to("cpu", torch.float64).numpy()
    if high <= low:
        counts = [0] * HISTOGRAM_BINS
        counts[HISTOGRAM_BINS // 2] = array.size
        return tuple(counts), sample
    shifted = np.subtract(array, low, dtype=np.float64)  # ≥ 0: low is the minimum
    scale = HISTOGRAM_BINS / (high - low)
    if math.isfinite(scale):
        shifted *= scale
    else:
        # A range of subnormal values makes the factor overflow: ×inf gave 0 × inf =
        # NaN for the lowest value and a negative bin (bincount raised, a ResNet-50's
        # backward with node gradients crashed). Divide by the range instead.
        shifted /= high - low
        shifted *= HISTOGRAM_BINS
    # Truncation gives 0 .. bins; the top edge (bins) goes into the last bin. intp: bincount's own type.
    bins = shifted.astype(np.intp)
    np.minimum(bins, HISTOGRAM_BINS - 1, out=bins)
    return tuple(np.bincount(bins, minlength=HISTOGRAM_BINS).tolist()), sample


def keep(tensor: torch.Tensor | None, limit: int = WHOLE_TENSOR_LIMIT) -> Kept | None:
    """A CPU copy of ``tensor`` if it has at most ``limit`` elements, else its summary.

    Always a copy: the engine may hand the same tensor on as a parameter's
    ``.grad``, which a later accumulation changes in place.
    """
    if tensor is None:
        return None
    if tensor.numel() > limit:
        return summarise(tensor)
    tensor = tensor.detach()
    if tensor.is_sparse:
        tensor = tensor.to_dense()
    return tensor.to("cpu", copy=True)


def _dense(tensor: torch.Tensor) -> bool:
    """Whether the tensor's elements fill ``numel`` consecutive storage slots
    from its offset, each once: contiguous, or a permutation of contiguous."""
    if tensor.is_contiguous():
        return True
    expected = 1
    for stride, size in sorted((st, sz) for st, sz in zip(tensor.stride(), tensor.shape) if sz != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _keep_saved(value: Any, keep_tensor) -> Any:
    """A saved value as kept in a record: tensors via ``keep_tensor``, sequences element-wise, the rest as is."""
    if isinstance(value, torch.Tensor):
        return keep_tensor(value)
    if isinstance(value, (tuple, list)) and not isinstance(value, torch.Size):
        return tuple(_keep_saved(v, keep_tensor) for v in value)
    if isinstance(value, torch.Size):
        return tuple(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


@dataclass
class NodeGradients:
    """What one autograd Node received, produced and saved in one backward pass.

    Attributes:
        key: the Node's key in the record's graph (``"n0"``, …).
        label: its class name, e.g. ``"AddmmBackward0"``.
        received: ∂L/∂(each output of the forward op), in output order (None
            where the engine passed no gradient).
        produced: ∂L/∂(each input), one per ``next_functions`` slot (None for
            inputs that need no gradient).
        saved: what the op saved for backward, by name without ``_saved_``
            (``"self"``, ``"mat1"``, ``"result"``, …): tensors as kept
            (:data:`Kept`), other values as they are (ints, floats, tuples,
            strings). Saved ints such as ``dim`` come as autograd stores them
            (``-1`` as ``2**64 - 1``).
        input_shapes: the shape of each forward input, one per slot (None
            where the slot has no producer). A broadcast input's gradient is
            summed back to this shape.
        input_dtypes: the dtype of each forward input, one per slot (None
            where the slot has no producer): a gradient goes back converted to
            it (``x.float()``'s gradient is x's dtype again).
        outputs: the forward op's output value(s), one per output, when the
            forward was recorded (else empty).
        variable: for ``AccumulateGrad``: the parameter's value during backward.
        grad_before, grad_after: for ``AccumulateGrad``: the parameter's
            ``.grad`` before and after this accumulation (``grad_before`` is
            None after ``zero_grad(set_to_none=True)``).
    """

    key: str
    label: str
    received: list[Kept | None] = field(default_factory=list)
    produced: list[Kept | None] = field(default_factory=list)
    saved: dict[str, Any] = field(default_factory=dict)
    input_shapes: list[tuple[int, ...] | None] = field(default_factory=list)
    input_dtypes: list[torch.dtype | None] = field(default_factory=list)
    outputs: list[Kept | None] = field(default_factory=list)
    variable: Kept | None = None
    grad_before: Kept | None = None
    grad_after: Kept | None = None

    @property
    def is_accumulate(self) -> bool:
        return self.label == "AccumulateGrad"


@dataclass(frozen=True)
class KeyPlan:
    """Where a network's forward lands in a graph's keys: ``ops`` are the graph's
    op nodes the forward created, as ``(key, label)`` in creation order,
    ``params`` maps parameter names to their nodes' keys. See :func:`key_plan`."""

    ops: tuple[tuple[str, str], ...] = ()
    params: dict[str, str] = field(default_factory=dict)


def key_plan(graph: nx.DiGraph, creation_order: Any = None) -> KeyPlan:
    """The :class:`KeyPlan` of ``graph``; ``creation_order`` (default:
    ``graph.graph["creation_order"]``) lists its op keys in creation order:
    the forward's first, then the loss's (which :meth:`ForwardValues.by_key`
    never reaches: it maps only as many ops as the forward made)."""
    order = creation_order if creation_order is not None else graph.graph.get("creation_order") or ()
    nodes = graph.nodes
    ops = tuple((key, nodes[key].get("label", "")) for key in order
                if key in nodes and nodes[key].get("kind") == "op")
    params = {attrs["name"]: key for key, attrs in nodes(data=True)
              if attrs.get("kind") == "param" and attrs.get("name")}
    return KeyPlan(ops, params)


@dataclass
class ForwardValues:
    """What one forward pass computed, noted before the graph (and its keys) exists.

    The autograd graph is built from the loss, after the forward, and its keys
    come from a walk back from the loss; so right after the forward the values
    are kept by *position*: ``ops`` holds ``(label, value)`` for each op the
    loss will reach (those behind the output it compares), in the order the
    forward created them, ``params`` each trainable parameter's value by name.
    :meth:`by_key` puts them on the keys of a graph of the same network,
    op by op in creation order; it stops at the first op whose label differs
    (another structure from there on: no value rather than a wrong one).
    """

    ops: list[tuple[str, Kept | None]] = field(default_factory=list)
    params: dict[str, Kept] = field(default_factory=dict)

    def by_key(self, graph: nx.DiGraph | KeyPlan, creation_order: Any = None) -> dict[str, Kept]:
        """``{key: value}`` on ``graph`` (or a :class:`KeyPlan` of one) whose op keys
        in creation order are ``creation_order`` (default: the graph's own)."""
        plan = graph if isinstance(graph, KeyPlan) else key_plan(graph, creation_order)
        values: dict[str, Kept] = {}
        for (label, value), (key, planned) in zip(self.ops, plan.ops):
            if label != planned:
                break
            if value is not None:
                values[key] = value
        for name, value in self.params.items():
            key = plan.params.get(name)
            if key is not None and value is not None:
                values[key] = value
        return values


def forward_node_values(record: Any, graph: nx.DiGraph | None = None, creation_order: Any = None) -> dict[str, Kept]:
    """The forward value of each node of ``record`` on the keys of ``graph``.

    ``record.node_values`` once they are keyed (from the loss phase on, or
    right after the forward when the session knew the keys); before that the
    forward phase's ``record.forward_values`` put on ``graph`` (the graph
    shown while the forward builds up) by :meth:`ForwardValues.by_key`, with
    ``creation_order`` its op keys in creation order (default: the graph's
    own). ``{}`` before the forward, or when nothing was recorded."""
    if record is None:
        return {}
    keyed = getattr(record, "node_values", None)
    if keyed:
        return dict(keyed)
    forward = getattr(record, "forward_values", None)
    if forward is None or graph is None:
        return {}
    return forward.by_key(graph, creation_order)


class _ValueMode(TorchFunctionMode):
    """Notes the output value of every torch call whose result has a grad_fn."""

    def __init__(self, recorder: "NodeRecorder"):
        super().__init__()
        self._recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if isinstance(result, torch.Tensor):
            self._recorder._note_output(result)
        elif isinstance(result, (tuple, list)):
            for item in result:
                if isinstance(item, torch.Tensor):
                    self._recorder._note_output(item)
        return result


class NodeRecorder:
    """Record forward values and backward gradients per autograd Node.

    Typical use (what ``TrainingSession(node_gradients=True)`` does)::

        recorder = NodeRecorder()
        with recorder.forward():
            loss = loss_fn(model(x), y)
        graph = gradviz.autograd_graph(loss, model)
        with recorder.backward(graph):
            loss.backward()          # or gradviz.trace_backward(loss, graph)
        recorder.nodes["n0"].received

    ``nodes`` maps graph keys to :class:`NodeGradients`, in the order the
    engine ran the Nodes; Nodes the engine did not run are absent. The output
    nodes (``"out0"``, …) get an entry too: their value is the root tensor and
    their ``received`` the seed gradient (``ones`` for a loss).
    """

    def __init__(self, whole_tensor_limit: int = WHOLE_TENSOR_LIMIT):
        if not isinstance(whole_tensor_limit, int) or isinstance(whole_tensor_limit, bool) or whole_tensor_limit < 0:
            raise ValueError(f"whole_tensor_limit must be an integer ≥ 0, got {whole_tensor_limit!r}")
        self.limit = whole_tensor_limit
        self.nodes: dict[str, NodeGradients] = {}
        # One backward meets the same large tensor several times (an op's
        # output is the next op's saved input; a gradient one Node produced is
        # the one the next received): summarise it once. Entries hold the
        # tensor itself, so its memory cannot be reused by another tensor with
        # the same key while the cache lives (one forward + backward).
        self._summaries: dict[tuple, tuple[torch.Tensor, TensorSummary]] = {}
        self._copies: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # the same, for whole copies
        # (grad_fn, output_nr) -> kept value; the Node objects are held so
        # their ids cannot be reused before backward maps them to keys.
        self._values: dict[tuple[Any, int], Kept] = {}
        # Bytes of everything kept so far, each copy and summary once however
        # many entries share it: what a record's node values and gradients hold
        # (the history's budget reads it instead of walking every entry).
        self.kept_bytes = 0

    # -- forward -------------------------------------------------------------
    def _note_output(self, tensor: torch.Tensor) -> None:
        fn = tensor.grad_fn
        if fn is not None:
            # An in-place op gives the same tensor a new grad_fn: each Node keeps its own value.
            self._values[(fn, tensor.output_nr)] = self._keep(tensor)

    @contextmanager
    def forward(self) -> Iterator["NodeRecorder"]:
        """Note each op's output value while the block runs (this thread only)."""
        with _ValueMode(self):
            yield self

    def forward_values(self, output: Any, creation_order: list, params: Any = ()) -> ForwardValues:
        """What the forward just computed, before the loss and its graph exist (:class:`ForwardValues`).

        ``output``: the tensor(s) the loss will compare (only ops behind them
        are kept, as the loss's graph will hold only those); ``creation_order``:
        the forward's op Nodes in creation order
        (:attr:`gradviz.core.graph.ForwardRecorder.creation_order`); ``params``:
        ``(name, parameter)`` pairs, e.g. ``model.named_parameters()``. The
        values are the very objects :meth:`values_by_key` gives these nodes
        later (the same copies, nothing kept twice).
        """
        created = set(creation_order)
        roots = [t.grad_fn for t in (output if isinstance(output, (list, tuple)) else [output])
                 if isinstance(t, torch.Tensor) and t.grad_fn is not None]
        reached: set = set()
        stack = [fn for fn in roots if fn in created]
        reached.update(stack)
        while stack:
            for producer, _ in stack.pop().next_functions:
                if producer is not None and producer in created and producer not in reached:
                    reached.add(producer)
                    stack.append(producer)
        values = self._values
        ops = [(_label(type(fn)), values.get((fn, 0))) for fn in creation_order if fn in reached]
        kept = {name: self._keep(p) for name, p in params if p.requires_grad}
        return ForwardValues(ops, kept)

    def values_by_key(self, graph: nx.DiGraph) -> dict[str, Kept]:
        """The forward value of each node of ``graph`` (not yet detached), known before backward.

        Op nodes: their first output as noted by :meth:`forward`; parameter
        and leaf nodes: the tensor itself; output nodes: the root value. The
        app shows these on the nodes between the loss and backward phases.
        """
        fns = graph.graph.get("fn") or {}
        values: dict[str, Kept] = {}
        for key, fn in fns.items():
            variable = getattr(fn, "variable", None) if type(fn).__name__ == "AccumulateGrad" else None
            value = self._keep(variable) if variable is not None else self._values.get((fn, 0))
            if value is not None:
                values[key] = value
        for key in graph.graph.get("roots", ()):
            for producer in graph.predecessors(key):
                value = self._values.get((fns.get(producer), graph.edges[producer, key].get("input_nr", 0)))
                if value is not None:
                    values[key] = value
        return values

    # -- backward ------------------------------------------------------------
    @contextmanager
    def backward(self, graph: nx.DiGraph, roots: Any = None, seeds: Any = None) -> Iterator["NodeRecorder"]:
        """Hook every Node of ``graph`` (not yet detached) while the block runs backward.

        ``roots``/``seeds``: the root tensors and seed gradients (None: ones)
        for the output nodes' entries; by default the roots' values are taken
        from the forward, when it was recorded, and the seed is ``ones``.
        """
        fns = graph.graph.get("fn")
        if fns is None:
            raise ValueError("graph has no autograd Nodes (was it detached with detach_graph?)")
        self._add_outputs(graph, fns, roots, seeds)
        handles = []
        try:
            for key, fn in fns.items():
                pre, post = self._hooks(key, fn)
                handles.append(fn.register_prehook(pre))
                handles.append(fn.register_hook(post))
            yield self
        finally:
            for handle in handles:
                handle.remove()
            self._values.clear()  # the Nodes (and their saved tensors) can go
            self._summaries.clear()
            self._copies.clear()

    def _keep(self, tensor: torch.Tensor | None) -> Kept | None:
        """:func:`keep`, summarising each large tensor once per recording.

        Keyed by the memory the tensor covers and its version counter (shared
        by views, bumped by in-place changes), so a transposed or reshaped view
        of a tensor already summarised (a Linear's weight saved as ``W.t()``,
        a gradient reshaped by ``ViewBackward``) reuses its numbers: they are
        the same values in another order. Only the shape differs."""
        if tensor is None or tensor.is_sparse:
            return self._counted(keep(tensor, self.limit))
        if tensor.numel() <= self.limit:
            # A gradient one Node produced is the one the next receives, an
            # op's output the next op's saved input: copy each view once. The
            # record's copies are read-only data, so entries may share one.
            # data_ptr() is the storage's address plus the offset; the cache
            # holds the tensor, so no other storage can take that address meanwhile.
            key = (tensor.data_ptr(), tensor.get_device(), tensor.shape, tensor.stride(), tensor.dtype,
                   tensor._version)
            cached = self._copies.get(key)
            if cached is None:
                # A detached alias holds the memory (and so the key) without a reference to
                # the tensor itself: AccumulateGrad may still take a gradient as .grad
                # instead of cloning it, as without the recorder.
                cached = self._copies[key] = (tensor.detach(), self._counted(keep(tensor, self.limit)))
            return cached[1]
        if _dense(tensor):
            key = (tensor.data_ptr() - tensor.storage_offset() * tensor.element_size(), tensor.get_device(),
                   tensor.storage_offset(), tensor.numel(), tensor.dtype, tensor._version)
        else:  # a strided slice: only the very same view has the same values
            key = (tensor.data_ptr(), tensor.get_device(), tensor.shape, tensor.stride(), tensor.dtype,
                   tensor._version)
        cached = self._summaries.get(key)
        if cached is None:
            cached = self._summaries[key] = (tensor.detach(), self._counted(summarise(tensor)))
        summary = cached[1]
        shape = tuple(tensor.shape)
        return summary if summary.shape == shape else self._counted(replace(summary, shape=shape))

    def _counted(self, kept: Kept | None) -> Kept | None:
        """``kept``, its bytes added to :attr:`kept_bytes`."""
        if isinstance(kept, torch.Tensor):
            self.kept_bytes += kept.element_size() * kept.nelement()
        elif kept is not None:
            self.kept_bytes += SUMMARY_BYTES
        return kept

    def _add_outputs(self, graph: nx.DiGraph, fns: dict, roots: Any, seeds: Any) -> None:
        root_list = list(roots) if isinstance(roots, (list, tuple)) else ([roots] if roots is not None else [])
        seed_list = list(seeds) if isinstance(seeds, (list, tuple)) else [seeds] * max(1, len(root_list))
        for i, key in enumerate(graph.graph.get("roots", ())):
            producers = list(graph.predecessors(key))
            if not producers:
                continue
            input_nr = graph.edges[producers[0], key]["input_nr"]
            fn = fns[producers[0]]
            shape = graph.nodes[key].get("shape", ())
            if i < len(root_list):
                value = self._counted(keep(root_list[i], self.limit))
            else:
                value = self._values.get((fn, input_nr))
            seed = seed_list[i] if i < len(seed_list) else None
            received = self._counted(keep(seed if seed is not None else torch.ones(shape), self.limit))
            self.nodes[key] = NodeGradients(key, graph.nodes[key].get("label", "output"), received=[received],
                                            outputs=[value] if value is not None else [])

    def _hooks(self, key: str, fn: Any):
        kept = self._keep
        label = type(fn).__name__
        accumulate = label == "AccumulateGrad"

        def pre(grad_outputs):
            entry = NodeGradients(key, label)
            if accumulate:
                variable = fn.variable
                entry.variable = kept(variable)
                entry.grad_before = kept(variable.grad)
                entry.input_shapes = []
            else:
                entry.saved = self._saved(fn)
                # input_shapes: in the post-hook, from the gradients (cheaper than _input_metadata)
                values = [self._values.get((fn, nr)) for nr in range(len(grad_outputs))]
                entry.outputs = values if any(v is not None for v in values) else []
            entry.received = [kept(g) for g in grad_outputs]
            self.nodes[key] = entry
            return None

        def post(grad_inputs, grad_outputs):
            entry = self.nodes.get(key)
            if entry is None:  # pre-hook did not run (cannot happen in torch 2.x; be safe)
                entry = self.nodes[key] = NodeGradients(key, label, received=[kept(g) for g in grad_outputs])
            entry.produced = [kept(g) for g in grad_inputs]
            if not accumulate:
                # The engine has already summed broadcast gradients back to
                # their input's shape and converted them to its dtype
                # (validate_outputs runs before post-hooks), so a defined
                # gradient's shape and dtype are its input's.
                slots = list(zip(fn.next_functions, grad_inputs))
                entry.input_shapes = [
                    None if producer is None
                    else tuple(grad.shape) if grad is not None else tuple(producer._input_metadata[nr].shape)
                    for (producer, nr), grad in slots
                ]
                entry.input_dtypes = [
                    None if producer is None else grad.dtype if grad is not None else producer._input_metadata[nr].dtype
                    for (producer, nr), grad in slots
                ]
            if accumulate:
                grad = fn.variable.grad
                received = entry.received[0] if entry.received else None
                if entry.grad_before is None and received is not None and grad is not None and not grad.is_sparse \
                        and tuple(received.shape) == tuple(grad.shape) \
                        and not getattr(fn.variable, "_post_accumulate_grad_hooks", None):
                    # .grad was None: AccumulateGrad set it to the gradient received (stolen
                    # or cloned), the same values. Kept again, GPT-2's 124 M parameters took
                    # a second summary each (the record's own reference stops the steal).
                    # Not when a post-accumulate-grad hook may have changed .grad since.
                    entry.grad_after = received
                else:
                    # Through the cache: an accumulation in place bumps the version,
                    # so only a .grad that is the very tensor received reuses its summary.
                    entry.grad_after = kept(grad)
                if not entry.outputs and entry.variable is not None:
                    entry.outputs = [entry.variable]

        return pre, post

    def _saved(self, fn: Any) -> dict[str, Any]:
        return {name: _keep_saved(value, self._keep) for name, value in read_saved(fn)}
