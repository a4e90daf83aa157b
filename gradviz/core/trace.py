"""Watch the autograd engine run backward, Node by Node.

:func:`trace_backward` runs ``backward()`` with a post-hook on every autograd
Node of a graph made by :func:`gradviz.autograd_graph` and records the order
the engine executed them in and the size of the gradients flowing through
each one. The UI replays that order to animate backpropagation.

Naming follows autograd's hook signature ``hook(grad_inputs, grad_outputs)``:
*grad inputs* are the gradients a Node produces, one per entry of its
``next_functions`` (w.r.t. its forward inputs); *grad outputs* are the
gradients it receives (w.r.t. its forward outputs).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Sequence

import networkx as nx
import torch

from gradviz.core.gcpause import gc_paused
from gradviz.core.tensor_stats import stored_values

__all__ = ["BackwardTrace", "trace_backward"]


@dataclass
class BackwardTrace:
    """What one backward pass did.

    Attributes:
        order: graph node keys in the order the engine executed them. The
            output node(s) come first (the engine seeds them); after that a
            node always comes after every node that consumed its output in the
            forward pass. Nodes the engine did not run are absent.
        grad_in_norms: key -> L2 norm of each gradient the node produced, one
            per ``next_functions`` slot (None where it produced none).
        grad_out_norms: key -> L2 norm of each gradient the node received
            (None for an undefined gradient). For output nodes both lists hold
            the norm of the seed gradient.
        nonfinite: keys (in execution order) whose gradients contain NaN or
            Inf; the first one is where the bad values appeared.
        elapsed_s: wall time of the backward call, hooks included.
    """

    order: list[str] = field(default_factory=list)
    grad_in_norms: dict[str, list[float | None]] = field(default_factory=dict)
    grad_out_norms: dict[str, list[float | None]] = field(default_factory=dict)
    nonfinite: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def norm(self, key: str) -> float | None:
        """One gradient norm per node: the norm of all gradients it received.

        For a parameter that is the norm of its ``.grad`` contribution. None
        when the node did not run or received no defined gradient.
        """
        received = self.grad_out_norms.get(key, ())
        if len(received) == 1:  # most nodes: one gradient received (None stays None)
            return received[0]
        norms = [n for n in received if n is not None]
        if not norms:
            return None
        if len(norms) == 1:
            return norms[0]
        return math.sqrt(sum(n * n for n in norms))

    def edge_norm(self, consumer: str, slot: int) -> float | None:
        """Norm of the gradient sent back along one edge of the graph.

        For a graph edge ``u -> v`` call ``edge_norm(v, graph.edges[u, v]["slot"])``.
        """
        norms = self.grad_in_norms.get(consumer)
        if norms is None or not 0 <= slot < len(norms):
            return None
        return norms[slot]


def _norm_tensor(grad: torch.Tensor | None) -> torch.Tensor | None:
    if grad is None:
        return None
    grad = stored_values(grad)
    # Half precision overflows while summing squares long before its values
    # are infinite; accumulate in float32 so only real Inf/NaN show up as such.
    if grad.dtype in (torch.float16, torch.bfloat16):
        return torch.linalg.vector_norm(grad, dtype=torch.float32)
    return torch.linalg.vector_norm(grad)


# Gradients wait for their norm in batches of at most this many elements: one
# fused norm kernel per batch instead of one call per gradient (a Python round
# trip each, most of what tracing cost on small graphs), while the gradients
# of a large graph are still let go of as backward proceeds.
NORM_BATCH_ELEMENTS = 1 << 22


class _Normed:
    """A gradient's norm taken at once (it is summed with others before its AccumulateGrad runs)."""

    __slots__ = ("norm",)

    def __init__(self, norm: torch.Tensor):
        self.norm = norm


class _Received:
    """A gradient's norm to be read off what ``key`` (its AccumulateGrad) received."""

    __slots__ = ("key",)

    def __init__(self, key: str):
        self.key = key


class _NormBatch:
    """The norms of the gradients the Node hooks see, computed a batch at a time.

    A hook only notes its key and the engine's gradient tuples; every so many
    elements (and at the end) one pass takes the norms of all gradients noted
    since, a gradient passed on from one Node to the next (produced, then
    received: the same tensor) once, with one fused kernel per device and
    dtype. Hooks may run on several engine threads (one per device), hence
    the lock.

    A gradient on its way to a parameter's (or leaf's) ``AccumulateGrad`` is
    *not* kept waiting: while anything else references it, ``AccumulateGrad``
    must copy it into ``.grad`` instead of taking it over, a fresh
    parameter-sized allocation per iteration (on a ResNet-50 that copy, and
    the page faults of its new memory, were a third of backward). Where that
    ``AccumulateGrad`` receives this one gradient only (``to_accumulate``:
    ``{consumer key: {slot: accumulator key}}``), the norm is read from what
    the ``AccumulateGrad`` received, the same tensor, seen after it was taken
    over; a gradient that will be summed with others first (a weight used
    twice) is normed right away.
    """

    def __init__(self, to_accumulate: dict[str, dict[int, str | None]] | None = None):
        self._lock = threading.Lock()
        self._waiting: list[tuple[str, tuple, tuple]] = []  # (key, produced, received) not normed yet
        self._done: list[tuple[str, list, list]] = []  # the same with indices into the norms, markers or None
        self._stacks: list[torch.Tensor] = []  # the norms, a 1-D tensor per batch and device, in index order
        self._count = 0
        self._elements = 0
        self._to_accumulate = to_accumulate or {}

    def add(self, key: str, grad_inputs, grad_outputs) -> None:
        deferred = self._to_accumulate.get(key)
        if deferred is not None:
            grad_inputs = tuple(
                g if g is None or i not in deferred
                else (_Received(deferred[i]) if deferred[i] is not None else _Normed(_norm_tensor(g)))
                for i, g in enumerate(grad_inputs))
        with self._lock:
            self._waiting.append((key, grad_inputs, grad_outputs))
            for g in grad_outputs:  # what it received is what others produced: counted once
                if g is not None:
                    self._elements += g.numel()
            if self._elements > NORM_BATCH_ELEMENTS:
                self._flush()

    def _flush(self) -> None:
        """Norm the gradients noted since the last flush; the records keep indices into the norms."""
        waiting, self._waiting, self._elements = self._waiting, [], 0
        tensor_type = torch.Tensor
        unique: dict[int, torch.Tensor] = {}  # id -> gradient (held here, so ids stay distinct)
        for _, produced, received in waiting:
            for g in produced:
                if type(g) is tensor_type or isinstance(g, tensor_type):
                    unique[id(g)] = g
            for g in received:
                if g is not None:
                    unique[id(g)] = g
        groups: dict[tuple, list[torch.Tensor]] = {}
        for grad in unique.values():
            groups.setdefault((grad.layout, grad.device, grad.dtype), []).append(grad)
        index_of: dict[int, int] = {}
        for (layout, _, dtype), grads in groups.items():
            if layout != torch.strided or dtype in (torch.float16, torch.bfloat16) or not dtype.is_floating_point:
                stacked = torch.stack([_norm_tensor(g) for g in grads])  # float32 sums, sparse values: one by one
            else:
                stacked = torch.stack(torch._foreach_norm(grads))
            first = self._count
            self._stacks.append(stacked)
            self._count += len(grads)
            index_of.update(zip(map(id, grads), range(first, self._count)))
        for key, produced, received in waiting:
            self._done.append((
                key,
                [index_of.get(id(g), g) for g in produced],  # None and markers stay as they are
                [None if g is None else index_of[id(g)] for g in received],
            ))

    def finish(self) -> list[tuple[str, list, list]]:
        """``(key, grad-in norms, grad-out norms)`` per hook call, norms as floats or None.

        One read of the norms per batch and device (a CUDA backward is not
        synchronised per Node, as ``.item()`` in the hooks would)."""
        with self._lock:
            self._flush()
            done = self._done
        values: list[float] = []
        for stacked in self._stacks:
            values.extend(stacked.tolist())
        floats = []
        for key, ins, outs in done:
            floats.append((key, [None if i is None else values[i] for i in outs], ins))
        received = {key: outs[0] for key, outs, _ in floats if outs}
        resolved = []
        for key, outs, ins in floats:
            resolved.append((key, [
                None if n is None else values[n] if type(n) is int
                else received.get(n.key) if type(n) is _Received else float(n.norm)
                for n in ins], outs))
        return resolved


def _accumulation_slots(graph: nx.DiGraph) -> dict[str, dict[int, str | None]]:
    """``{consumer key: {slot: AccumulateGrad key, or None}}`` for every edge into a
    param or leaf node (an ``AccumulateGrad``): None where that ``AccumulateGrad``
    receives more than this one gradient (they are summed before it runs)."""
    slots: dict[str, dict[int, str | None]] = {}
    successors = graph._succ  # the adjacency dicts themselves (no view per node), as graph._digraph writes them
    for key, attrs in graph._node.items():
        kind = attrs.get("kind")
        if kind != "param" and kind != "leaf":
            continue
        consumers = successors[key]
        edges = [(consumer, data.get("slots", (data["slot"],))) for consumer, data in consumers.items()]
        alone = len(edges) == 1 and len(edges[0][1]) == 1
        for consumer, consumer_slots in edges:
            for slot in consumer_slots:
                slots.setdefault(consumer, {})[slot] = key if alone else None
    return slots


def _roots_and_seeds(root: Any, gradient: Any) -> tuple[list[torch.Tensor], list[Any]]:
    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    if gradient is None:
        seeds = [None] * len(roots)
    else:
        seeds = list(gradient) if isinstance(gradient, (list, tuple)) else [gradient]
    if len(seeds) != len(roots):
        raise ValueError(f"{len(roots)} root tensors but {len(seeds)} gradients")
    return roots, seeds


def _output_keys(graph: nx.DiGraph, roots: Sequence[torch.Tensor], fns: dict) -> list[str]:
    out_keys = list(graph.graph.get("roots", ()))
    if len(out_keys) != len(roots):
        raise ValueError(
            f"the graph has {len(out_keys)} output nodes but {len(roots)} roots were given"
        )
    for out_key, tensor in zip(out_keys, roots):
        producers = list(graph.predecessors(out_key))
        if not producers or fns.get(producers[0]) is not tensor.grad_fn:
            raise ValueError("the graph was not built from these root tensors")
    return out_keys


def trace_backward(
    root: torch.Tensor | Sequence[torch.Tensor],
    graph: nx.DiGraph,
    gradient: torch.Tensor | Sequence[torch.Tensor | None] | None = None,
    *,
    retain_graph: bool = False,
) -> BackwardTrace:
    """Run ``root.backward(gradient)`` and record what each autograd Node did.

    Args:
        root: the tensor (or list of tensors) ``graph`` was built from.
        graph: from :func:`gradviz.autograd_graph`, not yet passed through
            :func:`gradviz.core.graph.detach_graph` (``graph.graph["fn"]`` holds
            the Nodes to hook).
        gradient: seed gradient(s), as for :meth:`torch.Tensor.backward`;
            None for scalar roots.
        retain_graph: keep saved tensors so backward can run again.

    Gradients accumulate into ``.grad`` exactly as with a plain ``backward()``.
    The hooks are removed before returning, also when backward raises, so a
    later backward is untouched. NaN/Inf gradients are recorded, not raised.
    """
    fns = graph.graph.get("fn")
    if fns is None:
        raise ValueError("graph has no autograd Nodes (was it detached with detach_graph?)")
    roots, seeds = _roots_and_seeds(root, gradient)
    out_keys = _output_keys(graph, roots, fns)

    norms = _NormBatch(_accumulation_slots(graph))
    add = norms.add


    # The hooks allocate a few objects per Node; with the collector running,
    # its passes over the large autograd graph doubled the traced time.
    with gc_paused():
        handles = []
        try:
            for key, fn in fns.items():
                handles.append(fn.register_hook(partial(add, key)))
            start = time.perf_counter()
            torch.autograd.backward(roots, seeds, retain_graph=retain_graph)
            elapsed = time.perf_counter() - start
        finally:
            for handle in handles:
                handle.remove()

        seed_norms = []
        for tensor, seed in zip(roots, seeds):
            # No seed: backward seeds a one-element root with 1, norm 1.
            seed_norms.append([1.0 if seed is None else float(_norm_tensor(seed))])
        records = norms.finish()
        keys = out_keys + [key for key, _, _ in records]
        grad_in = seed_norms + [r[1] for r in records]
        grad_out = [list(norms) for norms in seed_norms] + [r[2] for r in records]
        floats = grad_in + grad_out

    trace = BackwardTrace(order=keys, elapsed_s=elapsed)
    trace.grad_in_norms = dict(zip(keys, grad_in))
    trace.grad_out_norms = dict(zip(keys, grad_out))
    # Norms are >= 0, so their sum is finite exactly when each one is (unless it
    # overflows): one sum instead of a check per node, which then finds the culprits.
    if not math.isfinite(sum(n for norms in floats for n in norms if n is not None)):
        for key, ins, outs in zip(keys, grad_in, grad_out):
            if any(n is not None and not math.isfinite(n) for n in ins + outs):
                trace.nonfinite.append(key)
    return trace
