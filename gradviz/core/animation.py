"""The frames of an exported animation of one training iteration (for slides).

An animation shows the forward build-up, then the backward replay, of the
graph as drawn (modules may be collapsed into boxes):

* **forward**: one frame per op in creation order; the op appears together with
  the parameters and leaves it reads (they appear with their first reader) and
  is *active*; the ops before it are *visited*. The graph's outputs appear with
  the op that feeds them.
* **backward**: one frame per op in the order autograd ran them (the record's
  ``backward_order`` when known, else the engine's own rule, see
  :func:`backward_order`); the op and the parameters it hands a gradient are
  active, everything done before is visited.
* **step** (optional): ``morph_steps`` frames of one parameter going from its
  values before the optimizer step to after (:func:`morph_frames`,
  :func:`weights_at`); ``t`` runs from 0 to 1.

When ``shown`` maps nodes to what stands for them on screen (a collapsed box),
consecutive frames whose active boxes are the same merge into one frame: a
collapsed ``conv1`` is one frame, not three. So the number of frames is
``len(forward_frames) + len(backward_frames)``, as the export dialog states.

Pure Python + networkx: the rendering lives in :mod:`gradviz.ui.graph_view.animation`.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable, Sequence

import networkx as nx

from gradviz.core.collapse import BOX_PREFIX, box_module, fold_modules, is_fold

__all__ = ["FORWARD", "BACKWARD", "MORPH", "Frame", "animation_frames", "backward_order", "forward_order",
           "frame_summary", "morph_frames", "weights_at"]

FORWARD = "forward"
BACKWARD = "backward"
MORPH = "step"

Key = Hashable


@dataclass(frozen=True)
class Frame:
    """One picture: which (shown) nodes are visible, which are active and which done.

    ``shown_nodes`` is None when every node is visible (the backward phase).
    ``caption`` names the phase and the op(s), e.g. ``"forward 3/12 · AddmmBackward0"``.
    """

    phase: str
    index: int  # 0-based within its phase
    active: frozenset
    visited: frozenset
    shown_nodes: frozenset | None
    caption: str = ""
    ops: tuple = field(default=())  # the original op keys of this frame
    parameter: str = ""  # MORPH frames: the parameter shown
    t: float = 0.0  # MORPH frames: 0 = before the step, 1 = after


def _ops(graph: nx.DiGraph) -> list[Key]:
    return [k for k, kind in graph.nodes(data="kind") if kind == "op" or kind is None]


def forward_order(graph: nx.DiGraph, creation_order: Sequence[Key] | None = None) -> list[Key]:
    """The op nodes in the order the forward created them.

    ``creation_order`` (or ``graph.graph["creation_order"]``) when given, keeping
    only ops of ``graph``; otherwise a topological order (inputs first).
    """
    order = list(creation_order if creation_order is not None else graph.graph.get("creation_order") or ())
    ops = set(_ops(graph))
    order = [k for k in order if k in ops]
    if order:
        known = set(order)
        return order + [k for k in _as_late_as_possible(graph) if k in ops and k not in known]
    return [k for k in _as_late_as_possible(graph) if k in ops]


def _as_late_as_possible(graph: nx.DiGraph) -> list[Key]:
    """A topological order that runs each node as late as it can (farthest from the outputs
    first), as a forward pass does: a weight's transpose comes right before its matmul."""
    height: dict = {}
    for key in reversed(list(nx.topological_sort(graph))):
        height[key] = 1 + max((height[s] for s in graph.successors(key)), default=-1)
    position = {k: i for i, k in enumerate(graph.nodes)}
    return list(nx.lexicographical_topological_sort(graph, key=lambda k: (-height[k], position[k])))


def backward_order(graph: nx.DiGraph, creation_order: Sequence[Key] | None = None) -> list[Key]:
    """The op nodes in the order autograd's engine runs them for ``graph``'s outputs.

    The engine runs, among the ops whose gradients are complete, the one created
    last first (highest sequence number): a topological order of the reversed
    graph with that priority.
    """
    forward = forward_order(graph, creation_order)
    rank = {k: i for i, k in enumerate(forward)}
    ops = set(forward)
    waiting = {k: sum(1 for s in graph.successors(k) if s in ops) for k in forward}
    ready = [(-rank[k], k) for k in forward if waiting[k] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, key = heapq.heappop(ready)
        order.append(key)
        for p in graph.predecessors(key):
            if p in ops:
                waiting[p] -= 1
                if waiting[p] == 0:
                    heapq.heappush(ready, (-rank[p], p))
    return order


def _readers_inputs(graph: nx.DiGraph, op: Key) -> list[Key]:
    return [u for u in graph.predecessors(op) if graph.nodes[u].get("kind") in ("param", "leaf")]


def _op_name(graph: nx.DiGraph, key: Key) -> str:
    return str(graph.nodes[key].get("label") or key)


def animation_frames(
    graph: nx.DiGraph,
    *,
    creation_order: Sequence[Key] | None = None,
    backward: Sequence[Key] | None = None,
    shown: Callable[[Key], Key] | None = None,
    phases: Iterable[str] = (FORWARD, BACKWARD),
) -> list[Frame]:
    """The frames of the forward build-up and backward replay (see the module docstring).

    ``backward``: the op keys in the order autograd ran them (a record's
    ``backward_order``); default :func:`backward_order`. ``shown``: original
    key -> key drawn (default: itself); frames are in shown keys.
    """
    shown = shown or (lambda key: key)
    phases = tuple(phases)
    frames: list[Frame] = []
    ops = set(_ops(graph))
    outputs = [k for k, kind in graph.nodes(data="kind") if kind == "output"]
    if FORWARD in phases:
        groups: list[tuple[Key, list, set]] = []  # (shown key of the ops, ops, shown keys that appear)
        seen_inputs: set = set()
        for op in forward_order(graph, creation_order):
            new = [u for u in _readers_inputs(graph, op) if u not in seen_inputs]
            seen_inputs.update(new)
            appear = {shown(u) for u in new + [op] + [o for o in graph.successors(op) if o in outputs]}
            if groups and groups[-1][0] == shown(op):  # same box: one frame
                groups[-1][1].append(op)
                groups[-1][2].update(appear)
            else:
                groups.append((shown(op), [op], appear))
        visible: set = set()
        done: set = set()
        for i, (box, group_ops, appear) in enumerate(groups):
            visible |= appear
            frames.append(Frame(FORWARD, i, frozenset({box}), frozenset(done - {box}), frozenset(visible),
                                f"forward {i + 1}/{len(groups)} · {_names(graph, group_ops, box)}", tuple(group_ops)))
            done.add(box)
    if BACKWARD in phases:
        order = [k for k in (backward if backward is not None else backward_order(graph, creation_order)) if k in ops]
        groups = []
        for op in order:
            active = {shown(op)} | {shown(u) for u in graph.predecessors(op) if graph.nodes[u].get("kind") == "param"}
            if groups and shown(op) in groups[-1][0]:
                groups[-1][0].update(active)
                groups[-1][1].append(op)
            else:
                groups.append((set(active), [op]))
        done = {shown(o) for o in outputs}
        for i, (active, group_ops) in enumerate(groups):
            frames.append(Frame(BACKWARD, i, frozenset(active), frozenset(done - active), None,
                                f"backward {i + 1}/{len(groups)} · {_names(graph, group_ops, shown(group_ops[0]))}",
                                tuple(group_ops)))
            done |= active
    return frames


def _names(graph: nx.DiGraph, ops: list[Key], box: Key) -> str:
    """What a frame's caption calls its ops: the box they are drawn as, or their names."""
    if is_fold(box):
        modules = fold_modules(box)
        # (no "×N": the key does not say whether the fold repeats single modules or groups of them)
        return f"{modules[0]} … {modules[-1]} ({len(ops)} ops)"
    if box_module(box) is not None:  # "layer1.0.relu (call 2)": the box's own label
        return f"{str(box)[len(BOX_PREFIX):]} ({len(ops)} op{'s' if len(ops) != 1 else ''})"
    names = [_op_name(graph, k) for k in ops]
    modules = {graph.nodes[k].get("module") for k in ops}
    if len(names) > 1 and len(modules) == 1 and next(iter(modules)):
        return f"{next(iter(modules))} ({len(names)} ops)"
    return names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} ({len(names)} ops)"


def morph_frames(parameter: str, steps: int) -> list[Frame]:
    """``steps`` frames of ``parameter`` going from before the optimizer step (t=0) to after (t=1)."""
    steps = max(0, int(steps))
    return [Frame(MORPH, i, frozenset(), frozenset(), None,
                  f"step {i + 1}/{steps} · {parameter}: before → after the update", (), parameter,
                  i / (steps - 1) if steps > 1 else 1.0)
            for i in range(steps)]


def weights_at(before, after, t: float):
    """The weights a fraction ``t`` of the way through the update (numpy arrays or tensors)."""
    return before + (after - before) * float(t)


def frame_summary(frames: Sequence[Frame]) -> str:
    """``"40 frames: 20 forward (one per op) and 20 backward (one per op autograd ran)"``."""
    forward = sum(1 for f in frames if f.phase == FORWARD)
    back = sum(1 for f in frames if f.phase == BACKWARD)
    morph = sum(1 for f in frames if f.phase == MORPH)
    text = (f"{len(frames)} frames: {forward} forward (one per op, or per box it is collapsed into), "
            f"{back} backward (one per op autograd ran, or per box)")
    return text + (f" and {morph} of the weight update" if morph else "")
