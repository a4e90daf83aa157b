"""CPU copies of parameters and gradients, made into buffers recycled from dropped records.

A full record copies every parameter three times (before the step, the
gradients, after the step). Fresh memory for each copy is what made those
copies slow on big models: a ResNet-50's 100 MB copy took 50 ms in fresh
pages (the kernel maps and zeroes each one on first touch) against 9 ms into
memory already mapped. The history drops its oldest record about as often as
the session makes a new one, so :class:`SnapshotPool` keeps the copies of
dropped records and the next snapshots copy into them (one fused
``torch._foreach_copy_``).

A dropped record's copy is reused only when nothing else can see it: no other
Python reference to the tensor (a view holding the record, a variable), no
other tensor on its memory (a view, ``.numpy()``), checked with reference
counts measured against a tensor known to be unshared. Anything still held
elsewhere is left alone and simply freed when its holder lets go.

No Qt.
"""
from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Iterator

import torch

__all__ = ["SnapshotPool"]

# Smaller copies are not pooled: the allocator reuses freed small blocks without new
# pages anyway, and checking and matching a buffer cost more than such a copy.
MIN_POOLED_BYTES = 64 * 1024


def _counts(tensor: torch.Tensor) -> tuple[int, int, int] | None:
    """(Python references, TensorImpl uses, storage uses) of ``tensor`` as seen from
    here; None where this torch cannot say (then nothing is recycled)."""
    try:
        storage = tensor.untyped_storage()
        return sys.getrefcount(tensor), tensor._use_count(), torch._C._storage_Use_Count(storage._cdata)
    except (AttributeError, RuntimeError, TypeError):
        return None


def _unheld(entries: list) -> Iterator[tuple[dict, bool, Iterator]]:
    """For each dict of each dropped record whose record is gone: the dict, its
    reference count, and an iterator of ``(tensor, counts)`` over its poolable values.
    Both the pool and the calibration below look through this one function, so the
    counts it sees for an unshared dict and tensor are the same in both."""
    for record, dicts in entries:
        if record() is not None:
            continue
        for held in dicts:
            yield held, sys.getrefcount(held), ((tensor, _counts(tensor)) for tensor in held.values()
                                            if tensor.nbytes >= MIN_POOLED_BYTES)


class _Probe:
    pass


def _unshared_counts() -> tuple[int, tuple[int, int, int] | None]:
    """What :func:`_unheld` reports for a dict and a tensor no one else holds."""
    probe = _Probe()
    entries = [(weakref.ref(probe), [{"probe": torch.empty(MIN_POOLED_BYTES // 4)}])]
    del probe
    for _, dict_refs, values in _unheld(entries):
        for _, counts in values:
            return dict_refs, counts
    return -1, None


_UNSHARED_DICT, _UNSHARED = _unshared_counts()


def _key(tensor: torch.Tensor) -> tuple:
    return tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype


# Dropped records whose copies wait for their record to be let go of (the app may still show one).
MAX_DROPPED = 4


class SnapshotPool:
    """Make CPU copies of tensors, into recycled buffers where there are some.

    :meth:`copy` is ``{name: t.detach().to("cpu", copy=True)}`` (same values,
    shapes, strides and dtypes; the copies are new tensors no one else holds).
    :meth:`recycle` is given each record the history drops; once that record
    is gone (nothing refers to it any more), its copies that nothing else holds
    either are reused. At most ``max_bytes`` wait for reuse (the rest are
    freed as before).
    """

    def __init__(self, max_bytes: int = 0):
        self.max_bytes = max_bytes
        self._free: dict[tuple, list[torch.Tensor]] = {}
        self._bytes = 0
        self._dropped: list[tuple[weakref.ref, list[dict]]] = []
        self._lock = threading.Lock()
        self.reused = 0  # copies made into recycled memory so far

    def copy(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        copies: dict[str, torch.Tensor] = {}
        targets, sources = [], []
        # no_grad: the copies need no detach() each (a third of a small model's copy time)
        with self._lock, torch.no_grad():
            if self._dropped:
                self._harvest()
            free_lists = self._free
            for name, tensor in tensors.items():
                if not tensor.is_cpu:
                    copies[name] = tensor.to("cpu")  # a new tensor: it changes device
                    continue
                free = free_lists.get(_key(tensor)) if free_lists and tensor.nbytes >= MIN_POOLED_BYTES else None
                if free:
                    buffer = free.pop()
                    self._bytes -= buffer.nbytes
                    copies[name] = buffer
                    targets.append(buffer)
                    sources.append(tensor)
                else:
                    # what .to("cpu", copy=True) does (same strides), a little faster
                    copies[name] = tensor.clone()
            if targets:
                torch._foreach_copy_(targets, sources)
                self.reused += len(targets)
        return copies

    def recycle(self, record, *copies: dict[str, torch.Tensor]) -> None:
        """Note a dropped ``record`` and its copies (dicts of CPU tensors): reusable once it is gone."""
        if _UNSHARED is None or self.max_bytes <= 0:
            return
        try:
            ref = weakref.ref(record)
        except TypeError:
            return
        with self._lock:
            self._dropped.append((ref, [held for held in copies if held]))
            del self._dropped[:-MAX_DROPPED]

    def _harvest(self) -> None:
        gone = []
        for held, dict_refs, values in _unheld(self._dropped):
            gone.append(held)
            if dict_refs != _UNSHARED_DICT:
                continue
            for tensor, counts in values:
                if counts != _UNSHARED or tensor.requires_grad or tensor.nbytes < MIN_POOLED_BYTES:
                    continue
                if self._bytes + tensor.nbytes > self.max_bytes:
                    break
                self._free.setdefault(_key(tensor), []).append(tensor)
                self._bytes += tensor.nbytes
        if gone:
            self._dropped = [(ref, dicts) for ref, dicts in self._dropped if ref() is not None]

    def clear(self) -> None:
        with self._lock:
            self._free.clear()
            self._dropped.clear()
            self._bytes = 0
