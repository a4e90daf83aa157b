"""The kept iteration records, bounded in bytes as well as in count.

A full record holds three CPU copies of every parameter (before the step, the
gradients, after the step) plus the iteration's graph: LeNet's are 0.7 MB, a
resnet50's 300 MB. Counting records alone would let a hundred of those exhaust
any machine, so the history also has a byte budget (:func:`history_budget`):
by default a quarter of the machine's RAM, never more than half of the memory
free when the session starts once the model's own training needs are set
aside. Appending a record drops the oldest ones until the total fits.

A model so big that even a few full records would not fit records parameter
snapshots only for the parameters someone looks at (``watched``); the
``note`` says so. Nothing here allocates: the session asks
:meth:`History.snapshot_names` which parameters to copy before it copies them.

No Qt, no torch import at module level (sizes are read from the tensors given).
"""
from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Iterable, Sequence

DEFAULT_HISTORY_FRACTION = 0.25  # of the machine's RAM, the default budget (a setting: HISTORY_FRACTION_ENV)
HISTORY_FRACTION_ENV = "GRADVIZ_HISTORY_FRACTION"
# Full snapshots of every parameter only while this many full records fit the budget.
MIN_FULL_RECORDS = 10
# Rough bytes per graph node and per recorded number (networkx dicts, names, norms).
GRAPH_NODE_BYTES = 1500
ENTRY_BYTES = 120
# Rough bytes of one per-node gradients entry and of one tensor summary (its
# fields and 32 histogram counts as Python objects); whole tensors count exactly.
NODE_ENTRY_BYTES = 600
SUMMARY_BYTES = 1200
# Training needs about this many model-sized buffers of its own (weights,
# gradients, optimizer state, activations): set aside before the budget.
TRAINING_COPIES = 4
FLOOR_BYTES = 16 * 2**20  # a budget below this keeps light records only: still 16 MB


def memory_info() -> tuple[int | None, int | None]:
    """``(total, available)`` RAM in bytes, None where the system does not say."""
    total = available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                value = int(rest.split()[0]) * 1024
                if key == "MemTotal":
                    total = value
                elif key == "MemAvailable":
                    available = value
    except (OSError, ValueError, IndexError):
        pass
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            available = available or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            pass
    return total, available


def default_fraction() -> float:
    """The share of RAM the history may use: ``GRADVIZ_HISTORY_FRACTION`` if set (0 < f ≤ 0.9), else 25 %."""
    text = os.environ.get(HISTORY_FRACTION_ENV, "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_HISTORY_FRACTION
    return value if 0 < value <= 0.9 else DEFAULT_HISTORY_FRACTION


def history_budget(model_bytes: int, *, total: int | None = None, available: int | None = None,
                   fraction: float | None = None) -> int:
    """Bytes the kept records may hold for a model of ``model_bytes`` parameter bytes.

    ``fraction`` of ``total`` RAM, but at most half of what is ``available``
    after setting aside ``TRAINING_COPIES`` model-sized buffers for training
    itself; never below ``FLOOR_BYTES``. ``total``/``available`` default to this
    machine's; with neither known, 1 GiB.
    """
    if total is None and available is None:
        total, available = memory_info()
    fraction = default_fraction() if fraction is None else fraction
    limits = []
    if total is not None:
        limits.append(fraction * total)
    if available is not None:
        limits.append((available - TRAINING_COPIES * model_bytes) / 2)
    budget = min(limits) if limits else 2**30
    return int(max(FLOOR_BYTES, budget))


def tensor_bytes(tensors: Iterable) -> int:
    return sum(t.element_size() * t.nelement() for t in tensors)


_NO_BYTES = (str, int, float, bool, type(None))


def kept_bytes(value) -> int:
    """Bytes of what a per-node gradients entry keeps for one value: a whole
    tensor exactly, a summary (anything else with a ``histogram``) estimated,
    sequences and dicts summed, plain numbers and strings as nothing.

    It runs over every value of every entry each time a record is kept (the
    entries of a small model's record: a few hundred), so the common cases are
    tested first and without ``hasattr`` (a failed one raises inside)."""
    if isinstance(value, _NO_BYTES):
        return 0
    if isinstance(value, (list, tuple)):
        total = 0
        for item in value:
            total += kept_bytes(item)
        return total
    if isinstance(value, dict):
        total = 0
        for item in value.values():
            total += kept_bytes(item)
        return total
    kind = _kind_of_type.get(type(value))
    if kind is None:  # once per type
        kind = _kind_of_type[type(value)] = (
            _TENSOR if hasattr(value, "element_size") and hasattr(value, "nelement")
            else _SUMMARY if hasattr(value, "histogram") else _OTHER)
    if kind is _TENSOR:
        return value.element_size() * value.nelement()
    return SUMMARY_BYTES if kind is _SUMMARY else 0


_TENSOR, _SUMMARY, _OTHER = "tensor", "summary", "other"
_kind_of_type: dict[type, str] = {}


def node_gradients_bytes(entries: dict) -> int:
    """What ``IterationRecord.node_gradients`` holds, in bytes (see :func:`kept_bytes`)."""
    total = 0
    for entry in entries.values():
        total += NODE_ENTRY_BYTES + kept_bytes(entry.received) + kept_bytes(entry.produced)
        total += kept_bytes(entry.saved) + kept_bytes(entry.outputs)
        total += kept_bytes((entry.variable, entry.grad_before, entry.grad_after))
    return total


def record_bytes(record) -> int:
    """What an ``IterationRecord`` holds, in bytes (tensor copies exactly, the rest estimated)."""
    total = tensor_bytes([*record.params_before.values(), *record.grads.values(), *record.params_after.values()])
    if record.graph is not None:
        total += GRAPH_NODE_BYTES * record.graph.number_of_nodes()
    entries = len(record.grad_norms) + len(record.node_grad_norms) + len(record.creation_order) + len(record.backward_order)
    counted = getattr(record, "node_kept_bytes", None)
    if counted is not None:  # what the recorder kept, counted as it kept it (shared copies once)
        return total + counted + ENTRY_BYTES * (entries + 20)
    node_gradients = getattr(record, "node_gradients", None)
    if node_gradients:
        total += node_gradients_bytes(node_gradients)
    # The forward values per node (the node inspector, numbers mode) copy many small tensors.
    total += kept_bytes(getattr(record, "node_values", None) or {})
    forward = getattr(record, "forward_values", None)  # None once the loss phase has keyed them
    if forward is not None:
        total += kept_bytes(forward.ops) + kept_bytes(forward.params)
    return total + ENTRY_BYTES * (entries + 20)


def format_bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}" if count < 10 else f"{count:.0f} {unit}"
        count /= 1000
    return f"{count:.0f} GB"


class History(Sequence):
    """The kept records, oldest first: ``history[0]`` is the oldest *kept*
    record (its ``.index`` is its iteration number), ``history[-1]`` the newest.
    At most ``maxlen`` are kept, holding at most ``max_bytes`` together; older
    ones are dropped from the front. The newest is always kept.

    Safe to read from another thread while the session appends.
    """

    def __init__(self, maxlen: int, max_bytes: int | None = None):
        self._items: deque = deque(maxlen=maxlen)
        self._sizes: dict[int, int] = {}  # id(record) -> bytes, while kept
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.note = ""  # set when records are cut down to fit (see snapshot_names)
        self.watched: set[str] | None = None  # parameters someone looks at (None: not known)
        self.full_snapshots = True
        # Called with each record dropped to make room (outside the lock): the
        # session reuses the memory of its copies (gradviz.core.snapshot_pool).
        self.on_drop = None

    @property
    def maxlen(self) -> int:
        return self._items.maxlen

    def plan(self, parameters: dict[str, int]) -> None:
        """Decide, from ``{name: bytes}`` of the parameters, whether full records fit the budget."""
        if self.max_bytes is None:
            return
        record = 3 * sum(parameters.values())
        self.full_snapshots = record * MIN_FULL_RECORDS <= self.max_bytes
        if self.full_snapshots:
            self.note = ""
        else:
            self.note = (
                f"Big model: a full record would take {format_bytes(record)} of the {format_bytes(self.max_bytes)} "
                "history budget, so parameter copies are kept only for the parameters you look at"
            )

    def snapshot_names(self, names: Iterable[str]) -> list[str]:
        """Which of ``names`` a full record copies: all, or only the watched ones on big models."""
        names = list(names)
        if self.full_snapshots:
            return names
        watched = self.watched or set()
        return [name for name in names if name in watched]

    def _append(self, record) -> None:
        size = record_bytes(record)
        if self.max_bytes is not None and size > self.max_bytes:
            # Even alone it would not fit: keep what it says, not its copies.
            record.params_before, record.grads, record.params_after = {}, {}, {}
            size = record_bytes(record)
            self.note = f"Records are bigger than the {format_bytes(self.max_bytes)} history budget: parameter copies are not kept"
            if size > self.max_bytes and getattr(record, "node_gradients", None):
                record.node_gradients = {}  # then the per-node tensors (the graph says more per byte)
                record.node_kept_bytes = None  # what is left of them is counted by walking it
                size = record_bytes(record)
            if size > self.max_bytes:
                record.graph = None
                size = record_bytes(record)
        dropped = []
        with self._lock:
            if len(self._items) == self._items.maxlen and self._items:
                dropped.append(self._items.popleft())
            if self.max_bytes is not None:
                while self._items and self.nbytes + size > self.max_bytes:
                    dropped.append(self._items.popleft())
            for old in dropped:
                self._forget(old)
            self._items.append(record)
            self._sizes[id(record)] = size
            self.nbytes += size
        if self.on_drop is not None:
            for old in dropped:
                self.on_drop(old)

    def _forget(self, record) -> None:
        self.nbytes -= self._sizes.pop(id(record), 0)

    def _clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._sizes.clear()
            self.nbytes = 0

    def describe(self) -> str:
        """``"history 120 MB of 2.0 GB"`` (or of N records without a byte budget)."""
        if self.max_bytes is None:
            return f"history {format_bytes(self.nbytes)}, {len(self)} of {self.maxlen} records"
        return f"history {format_bytes(self.nbytes)} of {format_bytes(self.max_bytes)}"

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index):
        with self._lock:
            if isinstance(index, slice):
                return list(self._items)[index]
            return self._items[index]

    def __iter__(self):
        with self._lock:
            items = list(self._items)  # a snapshot: appends cannot break the loop
        return iter(items)

    def __repr__(self) -> str:
        return f"History({len(self)} of at most {self.maxlen} records, {self.describe()})"
