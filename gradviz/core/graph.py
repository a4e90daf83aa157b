"""Turn a PyTorch autograd graph into a networkx graph gradviz can draw.

Two pieces live here:

* :func:`autograd_graph` walks ``root.grad_fn`` through ``next_functions`` and
  returns a :class:`networkx.DiGraph` with one node per autograd ``Node``.
* :class:`ForwardRecorder` watches a forward pass and remembers which module
  created each autograd ``Node`` (and in which order), so the graph can be
  grouped by layer and the UI can animate the forward pass building it up.
  :func:`trace_model` combines the two.

Graph conventions (a contract for layout, export and the UI):

* Node keys are strings: ``"n0"``, ``"n1"``, ... for autograd Nodes in walk
  order, ``"out0"``, ``"out1"``, ... for the root tensors.
* Node attributes: ``kind`` (``"output"``, ``"op"``, ``"param"`` or
  ``"leaf"``), ``label``, and depending on the kind ``name``, ``shape``,
  ``module`` and ``saved``.
* Edges point the way data flows in the *forward* pass: from the producer of a
  tensor to the Node that consumed it (the reverse of ``next_functions``).
  Edge attributes: ``input_nr`` (which output of the producer, the second
  element of the ``next_functions`` entry) and ``slot`` (the position of the
  entry in the consumer's ``next_functions``).

This module must not import Qt: it is used from scripts and tests too.
"""
from __future__ import annotations

import sys
import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import networkx as nx
import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)

from gradviz.core.gcpause import gc_paused

__all__ = [
    "add_output_shapes",
    "autograd_graph",
    "detach_graph",
    "ForwardRecorder",
    "TracedModel",
    "trace_model",
]

SAVED_PREFIX = "_saved_"

# Per-class facts about autograd Node classes. There are only a few hundred
# Node classes but graphs have up to ~10^5 Nodes, so looking these up once per
# class keeps per-Node Python work small.
_label_of_class: dict[type, str] = {}
_saved_names_of_class: dict[type, tuple[str, ...]] = {}


def _label(cls: type) -> str:
    label = _label_of_class.get(cls)
    if label is None:
        label = _label_of_class[cls] = cls.__name__
    return label


def _saved_attribute_names(cls: type, fn: Any) -> tuple[str, ...]:
    names = _saved_names_of_class.get(cls)
    if names is None:
        # The _saved_* accessors are properties generated per Node class, so
        # dir() (slow: it builds and sorts a list) is needed once per class.
        names = tuple(a for a in dir(fn) if a.startswith(SAVED_PREFIX))
        _saved_names_of_class[cls] = names
    return names


# What stands for a saved tensor that a saved-tensor hook holds (torch.utils.checkpoint,
# torch.autograd.graph.save_on_cpu, a user's saved_tensors_hooks): gradviz does not unpack
# it. Unpacking runs the user's hook, and non-reentrant checkpointing lets each tensor be
# unpacked once per backward: read by gradviz first, the engine's own read then failed.
HELD_BY_HOOK = "held by a saved-tensor hook (checkpointing or offloading); not read"


def held_by_hook(fn: Any, attr: str) -> bool:
    """Whether the Node ``fn``'s saved value ``attr`` (a ``_saved_*`` name) is packed by a
    saved-tensor hook; see :data:`HELD_BY_HOOK`. Its ``_raw_saved_*`` twin says so
    without unpacking anything (one SavedTensor, or a list of them)."""
    raw = getattr(fn, "_raw" + attr, None)
    if raw is None:
        return False
    if isinstance(raw, (list, tuple)):
        return any(getattr(item, "unpack_hook", None) is not None for item in raw)
    return getattr(raw, "unpack_hook", None) is not None


def _plain(value: Any) -> Any:
    """A saved value as something small and printable that holds no tensor."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, (tuple, list)):  # includes torch.Size
        return tuple(_plain(v) for v in value)
    return repr(value)


def read_saved(fn: Any) -> Iterator[tuple[str, Any]]:
    """``(name without the _saved_ prefix, value)`` of what a Node saved for backward and
    can be read now: a value a saved-tensor hook holds as :data:`HELD_BY_HOOK` (not
    unpacked), one freed by an earlier backward left out."""
    for attr in _saved_attribute_names(type(fn), fn):
        name = attr[len(SAVED_PREFIX):]
        if held_by_hook(fn, attr):
            yield name, HELD_BY_HOOK
            continue
        try:
            value = getattr(fn, attr)
        except RuntimeError:
            # backward() without retain_graph frees saved buffers; reading
            # them afterwards raises. Such values simply are not shown.
            continue
        yield name, value


def _saved_values(fn: Any) -> dict[str, Any]:
    """``{name without the _saved_ prefix: plain value}`` for one Node."""
    return {name: _plain(value) for name, value in read_saved(fn)}


def _root_tensors(root: Any) -> list[torch.Tensor]:
    roots = list(root) if isinstance(root, (list, tuple)) else [root]
    if not roots:
        raise ValueError("autograd_graph needs at least one root tensor")
    for i, tensor in enumerate(roots):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"root {i} is a {type(tensor).__name__}, not a tensor")
        if tensor.grad_fn is None:
            raise ValueError(
                f"root {i} has no grad_fn: it was not computed from tensors "
                "that require grad, so there is no autograd graph to show"
            )
    return roots


def _param_names(params: Mapping[str, torch.Tensor] | nn.Module | None) -> dict[int, str]:
    """``{id(tensor): name}``; ids are safe because ``params`` keeps the tensors alive."""
    if params is None:
        return {}
    items = params.named_parameters() if isinstance(params, nn.Module) else params.items()
    names: dict[int, str] = {}
    for name, tensor in items:
        names.setdefault(id(tensor), name)  # a tensor shared by two names keeps the first
    return names


def autograd_graph(
    root: torch.Tensor | Iterable[torch.Tensor],
    params: Mapping[str, torch.Tensor] | nn.Module | None = None,
    *,
    saved_tensors: bool = False,
    module_of: Mapping[Any, str] | None = None,
    calls_of: Mapping[Any, tuple[tuple[str, int], ...]] | None = None,
) -> nx.DiGraph:
    """Return the autograd graph behind ``root`` as a :class:`networkx.DiGraph`.

    Args:
        root: a tensor with a ``grad_fn`` (e.g. a loss), or a list/tuple of them.
        params: ``{name: tensor}`` or an ``nn.Module`` (its ``named_parameters()``).
            An ``AccumulateGrad`` Node whose ``.variable`` *is* one of these
            tensors becomes a ``"param"`` node with that ``name``; any other
            ``AccumulateGrad`` becomes a ``"leaf"`` node (``name == ""``).
        saved_tensors: also read each op Node's ``_saved_*`` attributes into the
            ``saved`` node attribute, keyed by the name *without* the
            ``_saved_`` prefix (``"self"``, ``"other"``, ...). Tensors become
            their shape tuple, tuples of tensors tuples of shapes, ints, floats,
            bools, strings and None stay as they are, anything else becomes its
            ``repr``. Values freed by an earlier ``backward()`` are left out.
        module_of: ``{Node or id(Node): qualified module name}``, e.g.
            :attr:`ForwardRecorder.module_of`. When given, every op node gets a
            ``module`` attribute (``""`` for ops outside any submodule and for
            Nodes the mapping does not know).
        calls_of: ``{Node or id(Node): module calls}``, e.g.
            :attr:`ForwardRecorder.call_of`: for each op, the module calls that
            were running when it was created, outermost first, as
            ``(module, call number)`` pairs (``("layer1.0.relu", 2)``: the
            second call of that module in this forward). Stored as the op node's
            ``calls`` attribute (ops outside every module get none). A module
            called twice (ResNet's shared ``relu``) is two boxes when collapsed.

    Nodes: one per distinct autograd Node reachable from the roots (keys
    ``"n0"``, ``"n1"``, ... in walk order), plus one ``"output"`` node per root
    tensor (``"out0"``, ...; ``label`` ``"loss"`` for a 0-dim root, else
    ``"output (shape)"``). ``label`` of the others is the Node's class name,
    e.g. ``"AddmmBackward0"``. ``shape`` is set on output, param and leaf nodes.

    Edges run the forward way, producer -> consumer, with ``input_nr`` and
    ``slot`` (see the module docstring). A Node listed twice by the same
    consumer (``x * x``) gives a single edge since this is a DiGraph; it keeps
    the first ``slot`` and ``slots`` records all of them (only on such edges).

    Graph attributes: ``graph.graph["roots"]`` lists the output keys and
    ``graph.graph["fn"]`` maps each Node key to its autograd Node object, which
    :func:`gradviz.trace_backward` needs. That reference keeps the whole
    autograd graph (and its saved tensors) alive; call :func:`detach_graph`
    before storing a graph you no longer want to run backward through.

    The walk is iterative, so graphs of any depth work (no recursion limit).
    """
    roots = _root_tensors(root)
    with gc_paused():
        key_of, edges = _walk(roots)
        nodes = _node_entries(key_of, _param_names(params), saved_tensors)
        frames = getattr(module_of, "frames", None)
        if frames is not None and frames is getattr(calls_of, "frames", False):
            _add_recorded_calls(nodes, key_of, module_of, calls_of, frames)
        else:
            if module_of is not None:
                _add_module_names(nodes, key_of, module_of)
            if calls_of is not None:
                _add_module_calls(nodes, key_of, calls_of)
        out_keys = []
        for i, tensor in enumerate(roots):
            key = f"out{i}"
            shape = tuple(tensor.shape)
            label = "loss" if tensor.dim() == 0 else f"output {shape}"
            nodes.append((key, {"kind": "output", "label": label, "shape": shape}))
            edges.append((key_of[tensor.grad_fn], key, {"input_nr": tensor.output_nr, "slot": 0}))
            out_keys.append(key)
        graph = _digraph(nodes, edges)
        graph.graph["roots"] = out_keys
        graph.graph["fn"] = {key: fn for fn, key in key_of.items()}
    return graph


def _walk(roots: list[torch.Tensor]) -> tuple[dict[Any, str], list[tuple[str, str, dict]]]:
    """Iterative DFS over ``next_functions``: ``({Node: key}, forward edges)``.

    Keys are assigned on discovery, so ``key_of`` iterates in key order. The
    loop body is kept minimal: it runs once per edge of graphs up to ~10^5
    Nodes.
    """
    key_of: dict[Any, str] = {}
    edges: list[tuple[str, str, dict[str, int]]] = []
    stack: list[Any] = []
    for tensor in roots:
        fn = tensor.grad_fn
        if fn not in key_of:
            key_of[fn] = f"n{len(key_of)}"
            stack.append(fn)
    while stack:
        fn = stack.pop()
        consumer = key_of[fn]
        slot = -1
        for producer, input_nr in fn.next_functions:
            slot += 1
            if producer is None:  # an input that does not require grad
                continue
            key = key_of.get(producer)
            if key is None:
                key = key_of[producer] = f"n{len(key_of)}"
                stack.append(producer)
            edges.append((key, consumer, {"input_nr": input_nr, "slot": slot}))
    return key_of, edges


def _node_entries(
    key_of: dict[Any, str], names_by_id: dict[int, str], saved_tensors: bool
) -> list[tuple[str, dict[str, Any]]]:
    """``(key, attributes)`` for every autograd Node, in key order."""
    labels = _label_of_class
    nodes = []
    for fn, key in key_of.items():
        cls = type(fn)
        label = labels.get(cls) or _label(cls)
        if label == "AccumulateGrad":
            variable = fn.variable
            name = names_by_id.get(id(variable))
            shape = tuple(variable.shape)
            if name is None:
                attrs = {"kind": "leaf", "label": label, "name": "", "shape": shape}
            else:
                attrs = {"kind": "param", "label": label, "name": name, "shape": shape}
        else:
            attrs = {"kind": "op", "label": label}
            if saved_tensors:
                attrs["saved"] = _saved_values(fn)
        nodes.append((key, attrs))
    return nodes


def _add_module_names(nodes: list, key_of: dict, module_of: Mapping[Any, str]) -> None:
    # Accept both Node objects and id(Node) as keys: the recorder stores ids
    # (cheap, and it keeps the Nodes alive itself), callers may prefer Nodes.
    by_id = bool(module_of) and isinstance(next(iter(module_of)), int)
    resolve = getattr(module_of, "resolve", None)  # a ForwardRecorder's: owns Nodes its walk missed
    # nodes was built by iterating key_of, so the two line up
    for (_, attrs), fn in zip(nodes, key_of):
        if attrs["kind"] == "op":
            module = module_of.get(id(fn) if by_id else fn)
            if module is None and resolve is not None:
                module = resolve(fn)
            attrs["module"] = module or ""


def _add_recorded_calls(nodes: list, key_of: dict, module_of: dict, calls_of: dict, frames) -> None:
    """:func:`_add_module_names` and :func:`_add_module_calls` in one pass, for the two
    maps of one :class:`ForwardRecorder` (keyed by id): a Node neither map holds (all
    of them after ``walk=False``) has its module calls looked up once, for both."""
    get_module, get_calls = module_of.get, calls_of.get
    for (_, attrs), fn in zip(nodes, key_of):
        if attrs["kind"] != "op":
            continue
        module, calls = get_module(id(fn)), get_calls(id(fn))
        if module is None or calls is None:
            frame = frames(fn)
            if module is None and frame is not None:
                module = frame[-1][0] if frame else ""
            if calls is None:
                calls = frame
        attrs["module"] = module or ""
        if calls:
            attrs["calls"] = calls


def _add_module_calls(nodes: list, key_of: dict, calls_of: Mapping[Any, tuple]) -> None:
    by_id = bool(calls_of) and isinstance(next(iter(calls_of)), int)
    resolve = getattr(calls_of, "resolve", None)
    for (_, attrs), fn in zip(nodes, key_of):
        if attrs["kind"] == "op":
            calls = calls_of.get(id(fn) if by_id else fn)
            if calls is None and resolve is not None:
                calls = resolve(fn)
            if calls:
                attrs["calls"] = calls


def _digraph(nodes: list[tuple[str, dict]], edges: list[tuple[str, str, dict]]) -> nx.DiGraph:
    """Build the DiGraph by filling its adjacency dicts directly.

    ``add_nodes_from``/``add_edges_from`` copy every attribute dict and check
    each endpoint; with data that is known to be consistent (every edge
    endpoint is in ``nodes``) that overhead was over half the build time, and
    the goal is to beat torchviz by 2x. The layout used (``_node``, ``_succ``,
    ``_pred``, one data dict shared by both directions) is the one
    ``DiGraph.add_edge`` itself writes; the tests compare the result with a
    graph built through the public API.

    An edge listed twice by one consumer (``x * x``) keeps the first ``slot``
    and gets ``slots``, a tuple of all of them.
    """
    graph = nx.DiGraph()
    node_data, succ, pred = graph._node, graph._succ, graph._pred
    for key, attrs in nodes:
        node_data[key] = attrs
        succ[key] = {}
        pred[key] = {}
    for producer, consumer, data in edges:
        out_edges = succ[producer]
        existing = out_edges.get(consumer)
        if existing is None:
            out_edges[consumer] = data
            pred[consumer][producer] = data
        else:
            existing["slots"] = existing.get("slots", (existing["slot"],)) + (data["slot"],)
    return graph


def add_output_shapes(graph: nx.DiGraph) -> nx.DiGraph:
    """Give each op node of a live graph its ``output_shape``: the shape of the
    tensor the op made (its first output's), as a tuple.

    Read from the autograd Node's input metadata (what the engine checks
    incoming gradients against), so it needs ``graph.graph["fn"]``: call it
    before :func:`detach_graph`. Numbers mode sizes each node's tag from it
    before any value exists. Nodes whose metadata this torch does not expose
    get no ``output_shape``. Returns ``graph``.
    """
    fns = graph.graph.get("fn") or {}
    for key, attrs in graph.nodes(data=True):
        if attrs.get("kind") != "op" or key not in fns:
            continue
        try:
            attrs["output_shape"] = tuple(int(n) for n in fns[key]._input_metadata[0].shape)
        except (AttributeError, IndexError, TypeError, RuntimeError):
            continue  # a torch without Node._input_metadata: the tag is sized when values come
    return graph


def detach_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """Drop the graph's references to autograd Nodes and return the graph.

    ``graph.graph["fn"]`` keeps the autograd graph, with every tensor saved
    for backward, alive. After this the graph is plain data (strings, ints,
    shape tuples) that is cheap to keep, but :func:`gradviz.trace_backward`
    can no longer run on it.
    """
    graph.graph.pop("fn", None)
    return graph


# ---------------------------------------------------------------------------
# Which module created which Node
#
# Every autograd Node gets a number from a per-thread counter when it is
# created (Node._sequence_nr()). So instead of working out ownership op by op,
# the recorder notes the counter at each module entry and exit: the Nodes
# numbered between two such events were created by the module innermost at
# that moment. Only module hooks run during the forward pass, nothing per op
# (a Python callback per torch op used to be most of a full record's cost);
# the forward hook keeps the grad_fns of each module call's output, and on
# exit one walk back from those through ``next_functions`` finds the Nodes.
# A Node that walk cannot reach (a functional op's result the forward hid
# from every module output, used later) is still owned correctly: its number
# is looked up when :func:`autograd_graph` meets it.

# Peeks at the current thread's counter (the number the next Node will get).
# Private, but stable and what the autograd profiler uses; torch is pinned.
_next_sequence_nr = torch._C._autograd._get_sequence_nr


def _tensors_in(value: Any) -> Iterable[torch.Tensor]:
    """Tensors in a call's inputs or outputs, looking two levels into lists,
    tuples and dict values. Deliberately shallow: it runs during recording."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            if isinstance(item, torch.Tensor):
                yield item
            elif isinstance(item, (tuple, list)):
                for inner in item:
                    if isinstance(inner, torch.Tensor):
                        yield inner
    elif isinstance(value, Mapping):
        for item in value.values():
            if isinstance(item, torch.Tensor):
                yield item


class _Ownership(dict):
    """``{id(Node): owner}`` as filled on exit, plus :meth:`resolve` for Nodes
    the exit walk did not reach: :func:`autograd_graph` asks it for those."""

    def __init__(self, resolve, frames):
        super().__init__()
        self.resolve = resolve  # Node -> owner, or None when the Node is not of this forward
        self.frames = frames  # Node -> its module calls (the timeline lookup both maps resolve from)


def _timeline():
    """``(boundaries, owners, end, owner)`` for one recording: the module-call
    boundaries (sequence numbers, appended by the hooks), who owns the Nodes
    from each on, a one-item list holding the end number (set on exit), and
    the lookup ``owner(Node)``. Closures over these, not over the recorder:
    the maps handed out must not form a reference cycle with the recorder,
    which holds the Nodes (and their saved tensors) that refcounting should free."""
    boundaries: list[int] = []
    owners: list[tuple[tuple[str, int], ...]] = []
    end = [-1]

    def owner(fn: Any) -> tuple[tuple[str, int], ...] | None:
        number = fn._sequence_nr()
        if not boundaries or not boundaries[0] <= number < end[0]:
            return None
        return owners[bisect_right(boundaries, number) - 1]

    return boundaries, owners, end, owner


def _module_of_owner(owner):
    def module(fn: Any) -> str | None:
        frame = owner(fn)
        if frame is None:
            return None
        return frame[-1][0] if frame else ""

    return module


class ForwardRecorder:
    """Record which module created each autograd Node during a forward pass.

    Use as a context manager; the results are filled in when it exits::

        with ForwardRecorder(model) as rec:
            out = model(x)
            loss = loss_fn(out, y)
        graph = autograd_graph(loss, model, module_of=rec.module_of)

    While active it registers a forward pre-hook and a forward hook that track
    the stack of running modules of ``model.named_modules()`` (by qualified
    name, e.g. ``"layer1.0.conv2"``) and note autograd's Node counter at every
    module entry and exit; the forward hook also keeps the ``grad_fn`` of each
    call's output. Nothing runs per torch op. On exit it walks back from those
    ``grad_fn``s through ``next_functions`` once (linear in the graph size)
    and gives each Node created inside the ``with`` block to the module that
    was innermost when the Node was created, going by autograd's creation
    sequence number. That is exact for in-place ops, functional ops, ops
    inside nested containers and custom ``autograd.Function``s alike. Ops
    outside any submodule (the model's own ``forward`` body, the loss) get
    ``""``. ``AccumulateGrad`` Nodes and Nodes that existed before the ``with``
    block are not ops of this forward and are left out.

    Nodes created after the model's last module call (the loss) are not
    reachable from any module output: call :meth:`note` with the loss to have
    them in ``creation_order``; either way :func:`autograd_graph` gives them
    ``""`` (and any Node the walk missed its module, see :meth:`owner`).

    The hooks are registered globally (``register_module_forward_pre_hook``)
    rather than per module: registering two hooks on each of 10^4 modules cost
    more than the whole graph walk. They ignore modules outside ``model`` and
    calls from other threads. Hooks are removed on exit, also when the
    forward raises. Run the forward on the thread that entered the recorder
    (sequence numbers are per thread).

    Attributes:
        module_of: ``{id(Node): qualified module name}``. The recorder keeps
            the Nodes alive, so the ids stay valid for its lifetime; note that
            this also keeps tensors saved for backward alive.
        call_of: ``{id(Node): ((module, call number), ...)}``: the module
            *calls* running when the Node was created, outermost first. A
            module's calls are numbered from 1 in the order they start, so a
            module used twice (one ``relu`` for a whole ResNet block) tells
            its calls apart: each call is a contiguous run of sequence numbers,
            which is what keeps a graph collapsed by call acyclic.
        creation_order: the op Nodes in the order the forward created them.

    ``walk=False`` skips the exit walk (and keeping module outputs'
    ``grad_fn``s for it): ``creation_order`` stays empty and ``module_of`` /
    ``call_of`` start empty, so :func:`autograd_graph` resolves every Node by
    its sequence number as it meets it (the same owner the walk would give).
    For a caller that builds the graph right away (a training session's full
    record): the graph walk is then the only walk, not the second; the
    forward's Nodes are the graph's within :attr:`sequence_range`.
    """

    def __init__(self, model: nn.Module, *, walk: bool = True):
        self.model = model
        self.walk = walk
        self.module_of: dict[int, str] = {}
        self.call_of: dict[int, tuple[tuple[str, int], ...]] = {}
        self.creation_order: list[Any] = []
        self._found: list[Any] = []  # grad_fns of module outputs (and noted tensors), with repeats
        # The running module calls, outermost first: each entry is the whole
        # call path ((module, call number), ...), shared by the Nodes it owns.
        self._frames: list[tuple[tuple[str, int], ...]] = [()]
        self._calls: dict[str, int] = {}  # module -> calls started so far
        # (sequence number, innermost call path from that number on); appended
        # at every module entry and exit, so the numbers never decrease.
        self._boundaries: list[int] = []
        self._owners: list[tuple[tuple[str, int], ...]] = []
        self._end = [-1]  # sequence numbers from _boundaries[0] up to this one are this forward's
        self._owner = None
        self._new_timeline()
        self._name_of: dict[int, str] = {}
        self._thread = 0
        self._handles: list[Any] = []

    # -- context manager -------------------------------------------------
    def __enter__(self) -> "ForwardRecorder":
        # Start clean so one recorder can record several forward passes.
        self._new_timeline()
        self.creation_order = []
        self._found = []
        self._frames, self._calls = [()], {}
        # ids are safe: self.model keeps its modules alive. A module reachable
        # under two names keeps the first, as named_modules() reports it.
        self._name_of = {id(module): name for name, module in self.model.named_modules()}
        self._thread = threading.get_ident()
        self._mark(())
        try:
            pre_hook, hook = self._make_hooks()
            self._handles.append(register_module_forward_pre_hook(pre_hook))
            # always_call: the hook also runs when forward raises, which keeps
            # the name stack balanced.
            self._handles.append(register_module_forward_hook(hook, always_call=True))
        except BaseException:
            self._remove_hooks()
            raise
        # The global module hooks add a frame to every module call (three without them):
        # a model nested as deep as plain torch allows (200 modules) hit the limit here only.
        self._old_limit = sys.getrecursionlimit()
        self._raised_limit = self._old_limit * 4 // 3
        sys.setrecursionlimit(self._raised_limit)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._remove_hooks()
        if sys.getrecursionlimit() == self._raised_limit:  # (unless someone changed it meanwhile)
            sys.setrecursionlimit(self._old_limit)
        del self._frames[1:]
        self._end[0] = _next_sequence_nr()
        if self.walk:
            self._assign()
        else:
            self._found = []

    @property
    def sequence_range(self) -> tuple[int, int]:
        """``(start, end)``: the Nodes created inside the ``with`` block have
        ``start <= fn._sequence_nr() < end`` (valid after exit)."""
        return self._boundaries[0], self._end[0]

    def note(self, *values: Any) -> None:
        """Also walk back from these tensors (e.g. the loss) on exit, so the
        Nodes made after the last module call are in ``creation_order``."""
        for tensor in _tensors_in(values):
            if tensor.grad_fn is not None:
                self._found.append(tensor.grad_fn)

    def owner(self, fn: Any) -> tuple[tuple[str, int], ...] | None:
        """The module calls running when ``fn`` was created, outermost first;
        ``()`` outside every module call, None for a Node not made by this
        forward (older, or an ``AccumulateGrad``). Valid after exit."""
        return self._owner(fn)

    def _new_timeline(self) -> None:
        self._boundaries, self._owners, self._end, self._owner = _timeline()
        self.module_of = _Ownership(_module_of_owner(self._owner), self._owner)
        self.call_of = _Ownership(self._owner, self._owner)

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # -- module hooks ----------------------------------------------------
    def _mark(self, owner: tuple[tuple[str, int], ...]) -> None:
        self._boundaries.append(_next_sequence_nr())
        self._owners.append(owner)

    def _make_hooks(self):
        """The pre-hook and hook, as closures over local names: they run for
        every module call in the process while recording, so attribute
        lookups on ``self`` are avoided."""
        name_of, frames, calls, thread = self._name_of, self._frames, self._calls, self._thread
        boundaries, owners, get_ident, found = self._boundaries, self._owners, threading.get_ident, self._found
        tensor_type = torch.Tensor
        walk = self.walk

        def pre_hook(module, args):
            name = name_of.get(id(module))
            if name is not None and get_ident() == thread:
                number = calls[name] = calls.get(name, 0) + 1
                frame = frames[-1] + ((name, number),)
                frames.append(frame)
                boundaries.append(_next_sequence_nr())
                owners.append(frame)

        def hook(module, args, output):
            if id(module) not in name_of or get_ident() != thread:
                return
            if len(frames) > 1:
                frames.pop()
            boundaries.append(_next_sequence_nr())
            owners.append(frames[-1])
            if not walk:
                return
            # Every call's output, not only the model's: a submodule's output
            # the model keeps aside (an auxiliary loss) is found too.
            if type(output) is tensor_type or isinstance(output, tensor_type):
                fn = output.grad_fn
                if fn is not None:
                    found.append(fn)
            elif output is not None:
                for tensor in _tensors_in(output):
                    fn = tensor.grad_fn
                    if fn is not None:
                        found.append(fn)

        return pre_hook, hook

    # -- assignment on exit ----------------------------------------------
    def _assign(self) -> None:
        """Walk back from the collected grad_fns once and fill the results."""
        start, end = self._boundaries[0], self._end[0]
        boundaries, owners = self._boundaries, self._owners
        module_of, call_of = self.module_of, self.call_of
        owned = []
        # Holds the Nodes themselves, not ids: the Python wrapper of a Node we
        # skip may be freed mid-walk and its id reused by the next wrapper.
        seen: set[Any] = set()
        stack = self._found
        self._found = []
        with gc_paused():
            while stack:
                fn = stack.pop()
                if fn in seen:
                    continue
                seen.add(fn)
                number = fn._sequence_nr()
                # Older Nodes (the inputs' history) and AccumulateGrad (numbered
                # UINT64_MAX) are not ops of this forward; nothing behind an
                # older Node can be newer, so the walk stops there too.
                if not start <= number < end:
                    continue
                owned.append((number, fn))
                frame = owners[bisect_right(boundaries, number) - 1]
                module_of[id(fn)] = frame[-1][0] if frame else ""
                if frame:
                    call_of[id(fn)] = frame
                for producer, _ in fn.next_functions:
                    if producer is not None and producer not in seen:
                        stack.append(producer)
            owned.sort(key=lambda pair: pair[0])
            self.creation_order = [fn for _, fn in owned]


# ---------------------------------------------------------------------------
# One call: forward, (loss), graph


@dataclass
class TracedModel:
    """Result of :func:`trace_model`.

    Attributes:
        output: what ``model(*inputs)`` returned.
        root: the loss when a ``loss_fn`` was given, else ``output``; the graph
            was built from it and ``gradviz.trace_backward(root, graph)`` runs
            backward through it.
        graph: see :func:`autograd_graph`; params named from
            ``model.named_parameters()``, op nodes carry ``module``.
        creation_order: keys of the graph's op nodes in the order the forward
            pass (and loss) created them.
    """

    output: Any
    root: Any
    graph: nx.DiGraph
    creation_order: list[str] = field(default_factory=list)


def trace_model(
    model: nn.Module,
    *inputs: Any,
    loss_fn: Any = None,
    target: Any = None,
    saved_tensors: bool = False,
) -> TracedModel:
    """Run ``model(*inputs)`` (and ``loss_fn(output, target)``) and return its graph.

    The forward pass runs under a :class:`ForwardRecorder`, so op nodes get the
    ``module`` that created them and :attr:`TracedModel.creation_order` lists
    them in creation order. ``loss_fn`` is called as ``loss_fn(output)`` when
    ``target`` is None. A tuple/list output without ``loss_fn`` gives one
    output node per tensor with a ``grad_fn``.
    """
    with ForwardRecorder(model) as recorder:
        output = model(*inputs)
        if loss_fn is None:
            root = output
        elif target is None:
            root = loss_fn(output)
        else:
            root = loss_fn(output, target)
        recorder.note(root)  # the loss's Nodes come after the last module call

    graph_roots = root
    if isinstance(root, (tuple, list)):
        graph_roots = [t for t in root if isinstance(t, torch.Tensor) and t.grad_fn is not None]
    graph = autograd_graph(
        graph_roots, model, saved_tensors=saved_tensors, module_of=recorder.module_of, calls_of=recorder.call_of
    )
    key_of = {id(fn): key for key, fn in graph.graph["fn"].items()}
    creation_order = [key_of[id(fn)] for fn in recorder.creation_order if id(fn) in key_of]
    return TracedModel(output=output, root=root, graph=graph, creation_order=creation_order)
