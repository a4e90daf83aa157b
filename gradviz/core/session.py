"""Step-through training: one iteration of the tutorial's loop split into phases you can watch.

The tutorial's loop is::

    optimizer.zero_grad()
    output = net(input)
    loss = criterion(output, target)
    loss.backward()
    optimizer.step()

:class:`TrainingSession` runs it one phase at a time (:data:`PHASES`), records
what each phase did (autograd graph, backward order, gradients, parameters
before and after the step) in an :class:`IterationRecord`, and keeps the last
``max_history`` records.

Threading: the GUI calls :meth:`TrainingSession.advance` in a worker thread.
Only one phase (or :meth:`~TrainingSession.preview_graph`) may run at a time;
a second call while one runs raises ``RuntimeError("a phase is already
running")`` instead of waiting, so a double click cannot queue up phases.
The setters (``set_lr`` …) and the read-only properties may be used from any
thread at any time: settings take effect at the start of the next iteration.
No thread-local state is used, so consecutive phases may run on different
threads.

Errors: a phase that fails (the model cannot take the batch, the data does
not fit the model, the loss cannot compare output and target) raises
:class:`TrainingError` with a message naming the iteration and phase, the
original exception chained. The phase does not advance, so the caller can fix
the cause and retry it, or call :meth:`TrainingSession.abort_iteration`. NaN
and Inf are never errors: they are recorded (``IterationRecord.nonfinite``,
``TrainingSession.first_nonfinite``).
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import networkx as nx
import torch
import torch.nn as nn

from gradviz.core.data import CLASSES, VALUES, DataSource, RandomData, make_data
from gradviz.core.devices import resolve_device
from gradviz.core.events import EmitterGroup
from gradviz.core.history import NODE_ENTRY_BYTES, History, history_budget
from gradviz.core.layers import validate_network
from gradviz.core.loss_and_optimizer import LossFn, check_lr, check_optimizer_name, make_optimizer, resolve_loss
from gradviz.core.model_io import ExampleInputs, as_call_args, class_view, loss_output, module_input_shape, probe_output
from gradviz.core.node_grads import WHOLE_TENSOR_LIMIT, NodeRecorder, key_plan
from gradviz.core.records import IterationRecord, NonFinite, PhaseResult, TrainingError
from gradviz.core.snapshot_pool import SnapshotPool
from gradviz.core.spec import NetworkSpec
from gradviz.core.tensor_stats import all_finite, finite_given_norms, snapshot
from gradviz.core.tensor_stats import norms as tensor_norms
# Re-exported (see __all__) so ``from gradviz.core.session import PHASES`` keeps working.
from gradviz.core.vocabulary import LOSSES, OPTIMIZERS, PHASES, RECORD_LEVELS, SESSION_EVENTS

__all__ = [
    "DEFAULT_MAX_HISTORY",
    "IterationRecord",
    "LOSSES",
    "NonFinite",
    "OPTIMIZERS",
    "PHASES",
    "PhaseResult",
    "RECORD_LEVELS",
    "SESSION_EVENTS",
    "TrainingError",
    "TrainingSession",
]


# 100 full records of LeNet (61,706 parameters) hold three float32 copies of
# the parameters each: about 74 MB. Light records are a few KB each.
DEFAULT_MAX_HISTORY = 100
# Recorded iterations carry the user's source line on each op only when asked
# (``session.source_lines = True``; the app asks while the node inspector is shown):
# capturing it costs a full record 1.09-1.14x (bench/source_lines.py), which takes
# resnet_tiny past the recorded iteration's 1.5x budget. The one-off graphs
# (preview_graph, the NaN search, the crash report) always carry them.
SOURCE_LINES_DEFAULT = False
# How many values of the first sample's output and target a record keeps (the output-vs-target chart).
SAMPLE_LIMIT = 64


def _forward_and_loss_keys(graph, recorder) -> tuple[list[str], list[str]]:
    """The graph's op keys the forward created, in creation order, and the rest (the loss's).

    The loss ran outside the recorder (keeping it active across phases would
    leak its global module hooks into other code), so its ops are the op
    nodes the forward did not create. They all come from this one phase, one
    thread, so autograd's sequence numbers order them. A recorder that walked
    (``walk=True``) names the forward's Nodes; one that did not gives their
    sequence-number range: the same Nodes, except one whose result left the
    forward outside every module output, which is then a forward op too."""
    fns = graph.graph["fn"]
    nodes = graph._node
    if recorder.walk:
        key_of = {id(fn): key for key, fn in fns.items()}
        forward_keys = [key_of[id(fn)] for fn in recorder.creation_order if id(fn) in key_of]
        seen = set(forward_keys)
        loss_keys = [key for key, attrs in nodes.items() if attrs.get("kind") == "op" and key not in seen]
        loss_keys.sort(key=lambda key: fns[key]._sequence_nr())
        return forward_keys, loss_keys
    start, end = recorder.sequence_range
    ops = sorted((fn._sequence_nr(), key) for key, fn in fns.items() if nodes[key].get("kind") == "op")
    forward_keys = [key for number, key in ops if start <= number < end]
    loss_keys = [key for number, key in ops if not start <= number < end]
    return forward_keys, loss_keys


def _traced_grad_norms(graph: nx.DiGraph, trace, named_params: list, fresh: list[bool]) -> dict[str, float]:
    """``{name: norm of .grad}`` read off the backward trace, for the parameters whose
    ``.grad`` *is* the one gradient their AccumulateGrad received: it was None before
    backward (zero_grad), it is a dense float32 tensor (the trace's norm is then the
    same fused float32 norm ``tensor_stats.norms`` takes) and no hook after
    accumulation may have changed it. Saves a pass over every gradient (GPT-2: 500 MB)."""
    key_of = {attrs["name"]: key for key, attrs in graph.nodes(data=True) if attrs.get("kind") == "param"}
    known = {}
    for (name, p), was_none in zip(named_params, fresh):
        grad = p.grad
        if not was_none or grad is None or grad.dtype != torch.float32 or grad.layout != torch.strided:
            continue
        if getattr(p, "_post_accumulate_grad_hooks", None):
            continue
        received = trace.grad_out_norms.get(key_of.get(name))
        if received is not None and len(received) == 1 and received[0] is not None:
            known[name] = received[0]
    return known


_MODULE_TRAIN = nn.Module.train


class TrainingSession:
    """Train a network one phase at a time and record what every phase did.

    Args:
        model_or_spec: a :class:`~gradviz.NetworkSpec` (built with
            ``build_model(spec, seed=seed)``) or an ``nn.Module`` (used as is,
            moved to ``device``).
        loss: ``"mse"``, ``"l1"``, ``"cross_entropy"``, ``"nll"`` or a
            callable ``(output, target) -> scalar tensor`` (given float targets
            shaped like the output; ``nn.CrossEntropyLoss``/``NLLLoss``
            instances get class indices).
        optimizer: ``"sgd"``, ``"sgd_momentum"`` (momentum 0.9), ``"adam"`` or
            ``"manual_sgd"``: the tutorial's
            ``for f in net.parameters(): f.data.sub_(f.grad.data * learning_rate)``.
        lr: learning rate.
        device: ``"cpu"``, ``"cuda:0"``, ``"mps"`` or ``"auto"`` (see
            :func:`gradviz.available_devices`); a missing one is a ``DeviceError``.
        data: a :class:`~gradviz.core.data.DataSource`, a ``make_data`` name,
            or None for ``RandomData(seed=seed)``: the tutorial's fixed random
            input and target.
        seed: initial weights of a spec and the default random data.
        max_history: how many finished iteration records to keep (default
            100); older ones are dropped, so memory stays bounded however long
            it runs.
        max_history_bytes: the most bytes the kept records may hold together
            (default: :func:`gradviz.core.history.history_budget`, a quarter
            of the RAM at most); older records are dropped to stay under it,
            and on a model too big for ten full records only the parameters
            given to :meth:`watch_parameters` are copied (``history.note``).
        record: ``"full"`` records everything (graph, backward order, per-node
            gradient norms, CPU copies of parameters before/after and of the
            gradients): that costs a hook per module call in forward, a walk
            of the autograd graph, a hook per autograd Node in backward
            and 3 × 4 bytes per parameter per kept record (LeNet: about 0.7 MB
            a record). ``"light"`` records only loss, gradient norms and
            non-finite values: a plain training step plus one norm and one
            NaN check per parameter, a few hundred bytes a record, for fast
            continuous play. Measured on one CPU core, LeNet: full 2.9 ms,
            light 1.5 ms, a bare PyTorch loop 0.8 ms per iteration.
        input_shape: the input shape, batch included, for an ``nn.Module``
            that is not built from a spec (specs know theirs).
        inputs: example inputs for a module someone wrote: a tensor, or a
            tuple of tensors for a ``forward`` with several arguments, in any
            dtype (e.g. int64 token ids). They are the batch of every
            iteration (instead of ``data``, which must then be None), with
            fixed random targets (see :mod:`gradviz.core.model_io`).
        node_gradients: with ``record="full"``, also keep per autograd Node
            the gradients it received and produced, what it saved for
            backward and its forward value (``IterationRecord.node_gradients``).
            Off by default: it copies every one of those tensors.
        whole_tensor_limit: with ``node_gradients``, tensors of up to this
            many elements are kept whole, larger ones as a summary.

    Models that return a tuple, list, dict or namedtuple: the loss uses the
    first floating-point tensor in it (``loss_output`` says which,
    ``output_description`` what the whole output was). With ``inputs``,
    class losses (cross entropy, NLL) take classes on the output's *last*
    dimension: ``(B, T, V)`` logits are flattened to ``(B·T, V)``.
    Parameters that get no gradient (frozen, or unused by ``forward``) are
    listed in ``IterationRecord.no_grad``; tied parameters appear once, under
    their first name in ``named_parameters()``.

    Events (``session.events``, a :class:`gradviz.core.events.EmitterGroup`;
    callbacks run on the thread that ran the phase, see its docstring):
        phase_done(result): a phase finished (``event.result`` is its
            :class:`PhaseResult`).
        iteration_recorded(record): ``step`` finished; the complete record
            is in ``history``.
        reset(): :meth:`reset` put the weights back; the history is empty.
        settings_changed(key, value): ``"lr"``, ``"loss"`` or ``"optimizer"``
            was set (it applies from the next iteration on).
        graph_invalidated(reason): a graph shown earlier no longer is this
            session's (e.g. another loss adds other autograd nodes).
    """

    def __init__(
        self,
        model_or_spec: NetworkSpec | nn.Module,
        *,
        loss: str | LossFn = "mse",
        optimizer: str = "sgd",
        lr: float = 0.01,
        device: str | torch.device = "cpu",
        data: DataSource | str | None = None,
        seed: int = 0,
        max_history: int = DEFAULT_MAX_HISTORY,
        max_history_bytes: int | None = None,
        record: str = "full",
        input_shape: tuple | None = None,
        inputs: Sequence[torch.Tensor] | torch.Tensor | None = None,
        node_gradients: bool = False,
        whole_tensor_limit: int = WHOLE_TENSOR_LIMIT,
    ):
        if record not in RECORD_LEVELS:
            raise ValueError(f"unknown record level {record!r}; use one of: {', '.join(RECORD_LEVELS)}")
        self.set_node_gradients(node_gradients, whole_tensor_limit, record_level=record)
        if not isinstance(max_history, int) or isinstance(max_history, bool) or max_history < 1:
            raise ValueError(f"max_history must be a positive integer, got {max_history!r}")
        self.device = resolve_device(device)
        self.seed = int(seed)
        self.record_level = record
        if inputs is not None:
            if data is not None:
                raise ValueError("give either inputs= (your example tensors) or data=, not both")
            data = ExampleInputs(inputs, seed=self.seed)  # a DataError names a bad input
        # Which output the loss uses and what the model returned: set by the probe below.
        self.loss_output = "output"
        self.output_description = ""
        self._output_dtype: torch.dtype | None = None

        if isinstance(model_or_spec, NetworkSpec):
            from gradviz.core.build import build_model
            from gradviz.core.memory import check_fits
            from gradviz.core.shapes import output_shape

            validate_network(model_or_spec)  # its limits first: copying a spec nested thousands deep would recurse out
            self.spec: NetworkSpec | None = model_or_spec.copy()
            if self.device.type != "cpu":  # build_model checks the CPU; the model then lives on this device
                check_fits(self.spec, self.device)
            model = build_model(self.spec, seed=self.seed)
            self._input_shape = tuple(self.spec.input_shape)
            self._output_shape: tuple = tuple(output_shape(self.spec))
        elif isinstance(model_or_spec, nn.Module):
            self.spec = None
            model = model_or_spec
            if isinstance(data, ExampleInputs):
                self._input_shape = tuple(data.inputs[0].shape)
            else:
                self._input_shape = module_input_shape(model, input_shape)
            self._output_shape = ()  # probed below, once the model is on its device
        else:
            raise TypeError(
                f"TrainingSession needs a NetworkSpec or a torch.nn.Module, got {type(model_or_spec).__name__}"
            )
        self.model = model.to(self.device)
        # Users' example inputs: classes on the last dimension (see the class docstring).
        self._classes_last = isinstance(data, ExampleInputs)
        if not self._output_shape:
            self._output_shape = self._probe_output_shape(data if self._classes_last else None)
        # For reset(): the starting weights, on the CPU so they cost no GPU memory.
        self._initial_state = snapshot(dict(self.model.state_dict()))

        if data is None:
            data = RandomData(seed=self.seed)
        elif isinstance(data, str):
            data = make_data(data)
        elif not isinstance(data, DataSource):
            raise TypeError(f"data must be a DataSource, a data source name or None, got {type(data).__name__}")
        self.data = data

        # Requested settings (what the properties report) and the ones in
        # effect for the running iteration: setters only touch the former.
        self._lr = check_lr(lr)
        self._loss_name, self._loss_fn, self._target_kind = resolve_loss(loss)
        self._optimizer_name = check_optimizer_name(optimizer)
        self._active: dict[str, Any] = {}
        self.optimizer: torch.optim.Optimizer | None = None
        self._optimizer_for: str | None = None  # name the current optimizer object was made for
        self._fresh_optimizer = False  # set_optimizer asks for a new one even under the same name

        # Bounded in bytes too (gradviz.core.history): a big model's records would fill any machine.
        sizes = {name: p.element_size() * p.nelement() for name, p in self.model.named_parameters()}
        if max_history_bytes is None:
            max_history_bytes = history_budget(sum(sizes.values()))
        self.history = History(max_history, max_history_bytes)
        self.history.plan(sizes)
        # The copies of dropped records are reused for new ones: fresh memory costs page faults.
        self._snapshots = SnapshotPool(max_bytes=3 * sum(sizes.values()))
        self.history.on_drop = self._recycle_record
        self.iteration = 0
        self.phase_index = 0
        self.first_nonfinite: NonFinite | None = None
        self._current: IterationRecord | None = None
        # The switch for op nodes' ``source`` (gradviz.core.source_lines): the
        # user's file and line that created each op. bench/source_lines.py
        # measures what it costs a full record.
        self.source_lines = SOURCE_LINES_DEFAULT
        # Where NaN/Inf started (a gradviz.core.nan_origin.NonFiniteReport), searched
        # when an output or loss first turned non-finite; None before that.
        self.nonfinite_report = None
        self._lock = threading.Lock()
        # Where the forward's ops land in the graph's keys (node_grads.KeyPlan), from the
        # last graph made (a preview or a loss phase): the forward phase's node_values
        # use it. The loss phase keys its own graph's values exactly, whatever it says.
        self._key_plan = None
        self._clear_transient()
        self.events = EmitterGroup(self, *SESSION_EVENTS)

    # -- read-only views ---------------------------------------------------
    @property
    def lr(self) -> float:
        """The learning rate set last (used from the next iteration on)."""
        return self._lr

    @property
    def loss_name(self) -> str:
        return self._loss_name

    @property
    def optimizer_name(self) -> str:
        return self._optimizer_name

    @property
    def max_history(self) -> int:
        return self.history.maxlen

    @property
    def input_shape(self) -> tuple:
        return self._input_shape

    @property
    def output_shape(self) -> tuple:
        """The model's output shape for its default input shape (or example inputs);
        for a model returning several outputs, the shape of the one the loss uses."""
        return self._output_shape

    @property
    def example_inputs(self) -> tuple | None:
        """The user's example inputs (CPU tensors) when the session was given ``inputs``, else None."""
        return self.data.inputs if isinstance(self.data, ExampleInputs) else None

    @property
    def frozen_parameters(self) -> list[str]:
        """Names of the parameters with ``requires_grad=False``: never trained, shown as frozen."""
        return [name for name, p in self.model.named_parameters() if not p.requires_grad]

    def parameter_status(self, record: IterationRecord | None = None) -> dict[str, str]:
        """``{name: "trainable" | "frozen" | "no gradient"}`` after ``record``'s backward
        (default: the latest record that has run backward). Before any backward,
        every parameter that requires grad counts as trainable."""
        if record is None:
            candidates = ([self._current] if self._current is not None else []) + list(reversed(self.history))
            record = next((r for r in candidates if "backward" in r.phase_times), None)
        missing = set(record.no_grad) if record is not None else set()
        status = {}
        for name, p in self.model.named_parameters():
            status[name] = "frozen" if not p.requires_grad else ("no gradient" if name in missing else "trainable")
        return status

    @property
    def next_phase(self) -> str:
        """Name of the phase :meth:`advance` runs next."""
        return PHASES[self.phase_index]

    @property
    def current(self) -> IterationRecord | None:
        """The record being filled; between iterations the last finished one
        (the same object as ``history[-1]``); None before the first phase."""
        if self._current is not None:
            return self._current
        return self.history[-1] if len(self.history) else None

    @property
    def in_iteration(self) -> bool:
        """True between the first and the last phase of an iteration."""
        return self._current is not None

    # -- settings ------------------------------------------------------------
    def set_lr(self, lr: float) -> None:
        """Change the learning rate from the next iteration on (optimizer state is kept)."""
        self._lr = check_lr(lr)
        self.events.settings_changed.emit(key="lr", value=self._lr)

    def set_loss(self, loss: str | LossFn) -> None:
        """Change the loss from the next iteration on."""
        self._loss_name, self._loss_fn, self._target_kind = resolve_loss(loss)
        self._key_plan = None  # the graph's keys come from a walk back from the loss
        self.events.settings_changed.emit(key="loss", value=self._loss_name)
        self.events.graph_invalidated.emit(reason=f"the loss is now {self._loss_name}")

    def set_node_gradients(self, enabled: bool, whole_tensor_limit: int | None = None, *, record_level: str | None = None) -> None:
        """Record per-node gradients (or stop) from the next iteration on; see the class docstring."""
        level = record_level or self.record_level
        limit = self.whole_tensor_limit if whole_tensor_limit is None else whole_tensor_limit
        if enabled and level != "full":
            raise ValueError("node_gradients needs record='full' (light records keep no graph to attach them to)")
        NodeRecorder(limit)  # a ValueError names a bad limit
        self.node_gradients, self.whole_tensor_limit = bool(enabled), limit

    def set_optimizer(self, name: str) -> None:
        """Use a fresh optimizer from the next iteration on, also when ``name``
        is the current one: momentum and Adam state restart."""
        self._optimizer_name = check_optimizer_name(name)
        self._fresh_optimizer = True
        self.events.settings_changed.emit(key="optimizer", value=self._optimizer_name)

    # -- running ---------------------------------------------------------------
    def advance(self) -> PhaseResult:
        """Run exactly one phase (:attr:`next_phase`) and return what it did."""
        with self._exclusive():
            return self._run_phase()

    def run_iteration(self) -> IterationRecord:
        """Finish the current iteration from wherever it stands (a whole one
        between iterations) and return its complete record."""
        with self._exclusive():
            while True:
                result = self._run_phase()
                if result.phase == PHASES[-1]:
                    return result.record

    def run(self, iterations: int) -> IterationRecord | None:
        """Run ``iterations`` whole iterations (finishing a started one first); return the last record."""
        record = None
        for _ in range(int(iterations)):
            record = self.run_iteration()
        return record

    def abort_iteration(self) -> None:
        """Drop a started iteration (e.g. after a :class:`TrainingError`): the
        next phase is ``zero_grad`` again. Parameters are untouched unless its
        step already ran, in which case the iteration was complete anyway."""
        with self._exclusive():
            self._current = None
            self.phase_index = 0
            self._clear_transient()

    def reset(self) -> None:
        """Back to the starting weights: history, iteration count, optimizer
        state and ``first_nonfinite`` are cleared; settings are kept."""
        with self._exclusive():
            with torch.no_grad():
                self.model.load_state_dict(self._initial_state)
            self.model.zero_grad(set_to_none=True)
            self.history._clear()
            self.iteration = 0
            self.phase_index = 0
            self.first_nonfinite = None
            self.nonfinite_report = None
            self._current = None
            self.optimizer = None
            self._optimizer_for = None
            self._clear_transient()
        self.events.reset.emit()

    def clear_nonfinite(self) -> None:
        """Forget ``first_nonfinite`` so the next NaN/Inf is reported again."""
        self.first_nonfinite = None
        self.nonfinite_report = None

    def preview_graph(self) -> nx.DiGraph:
        """The autograd graph of one forward + loss on the current batch.

        Nothing else changes: no gradients, optimizer state, history, random
        state or BatchNorm statistics are touched. Params are named, op nodes
        carry ``module`` and ``output_shape``; ``graph.graph["creation_order"]`` lists op node keys
        in creation order. The graph is detached (holds no autograd Nodes).
        """
        from gradviz.core.graph import add_output_shapes, detach_graph, trace_model
        from gradviz.core.source_lines import SourceRecorder, add_source_lines

        with self._exclusive():
            loss_fn = self._active["loss_fn"] if self.in_iteration else self._loss_fn
            target_kind = self._active["target_kind"] if self.in_iteration else self._target_kind
            buffers = {name: b.detach().clone() for name, b in self.model.named_buffers()}
            devices = [self.device.index or 0] if self.device.type == "cuda" else []
            try:
                # Inside the try: a batch too large to allocate is this preview's error, not a crash.
                inputs, targets = self._current_batch(target_kind)
                self.model.train()
                with torch.random.fork_rng(devices=devices), torch.enable_grad():
                    checked = self._checked_loss(loss_fn)

                    def loss_on_output(output, target):
                        return checked(self._loss_input(loss_output(output)[0], target_kind), target)

                    with SourceRecorder() as sources:  # a one-off graph: always with lines
                        traced = trace_model(self.model, *as_call_args(inputs), loss_fn=loss_on_output, target=targets)
            except (RuntimeError, ValueError, TypeError, MemoryError) as exc:
                raise TrainingError(f"cannot build the graph: {exc}", phase="preview", iteration=self.iteration) from exc
            finally:
                with torch.no_grad():
                    for name, buffer in self.model.named_buffers():
                        if name in buffers:
                            buffer.copy_(buffers[name])
            add_source_lines(traced.graph, sources)
            graph = detach_graph(add_output_shapes(traced.graph))  # output shapes: numbers mode sizes its tags
            graph.graph["creation_order"] = list(traced.creation_order)
            self._key_plan = key_plan(graph)
            return graph

    def find_first_nonfinite(self):
        """Where NaN/Inf starts on the current batch: a
        :class:`~gradviz.core.nan_origin.NonFiniteReport` from re-running one
        forward + loss with checks (and backward, when the forward stays
        finite). Like :meth:`preview_graph` nothing else changes. The session
        runs it by itself when an output or loss first turns non-finite
        (``nonfinite_report``)."""
        with self._exclusive():
            return self._search_nonfinite()

    def _search_nonfinite(self):
        from gradviz.core.nan_origin import find_first_nonfinite

        return find_first_nonfinite(self.model, *self._batch_and_loss())

    def crash_report(self):
        """After a forward (or loss) on the current batch raised: a
        :class:`~gradviz.core.partial_graph.ForwardCrash` with the graph built
        up to the failing op, or None when it runs through now."""
        from gradviz.core.partial_graph import trace_until_crash

        with self._exclusive():
            return trace_until_crash(self.model, *self._batch_and_loss())

    def _batch_and_loss(self) -> tuple[Any, LossFn, torch.Tensor]:
        """``(inputs, loss_fn(output, target), targets)`` of the running (or next) iteration,
        the model in train mode: what a diagnostic re-run of forward + loss needs."""
        loss_fn = self._active["loss_fn"] if self.in_iteration else self._loss_fn
        target_kind = self._active["target_kind"] if self.in_iteration else self._target_kind
        inputs, targets = self._current_batch(target_kind)
        checked = self._checked_loss(loss_fn)

        def loss_on_output(output, target):
            return checked(self._loss_input(loss_output(output)[0], target_kind), target)

        self.model.train()
        return inputs, loss_on_output, targets

    # -- internals ---------------------------------------------------------------
    @contextmanager
    def _exclusive(self):
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("a phase is already running")
        try:
            yield
        finally:
            self._lock.release()

    def _clear_transient(self) -> None:
        # Live tensors of the running iteration; never stored in a record, so
        # finished records pin no autograd graph and no device memory.
        # (target kind, inputs, targets); inputs is a tuple for a model with several arguments
        self._batch: tuple[str, Any, torch.Tensor] | None = None
        self._output: torch.Tensor | None = None
        self._loss_tensor: torch.Tensor | None = None
        self._recorder = None
        self._sources = None  # the forward's SourceRecorder until the graph is built
        self._loss_sources = contextlib.nullcontext()  # the loss's, at full record level
        self._live_graph: nx.DiGraph | None = None
        self._node_recorder: NodeRecorder | None = None
        self._named_params: list[tuple[str, nn.Parameter]] = []  # the running iteration's named_parameters()

    def _run_phase(self) -> PhaseResult:
        phase = PHASES[self.phase_index]
        if phase == "zero_grad":
            self._start_iteration()
        record = self._current
        result = PhaseResult(phase=phase, elapsed_s=0.0, iteration=record.index, record=record)
        start = time.perf_counter()
        try:
            getattr(self, f"_phase_{phase}")(record, result)
        except TrainingError:
            raise
        except (RuntimeError, ValueError, TypeError, IndexError, SystemExit) as exc:
            if phase == "zero_grad":
                self._current = None
            # sys.exit() in the user's forward or loss must not end gradviz (or the user's script) unasked
            text = f"the model called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else str(exc)
            raise TrainingError(f"iteration {record.index}, {phase}: {text}", phase=phase, iteration=record.index) from exc
        result.elapsed_s = record.phase_times[phase] = time.perf_counter() - start
        if phase == PHASES[-1]:
            self._finish_iteration(record)
        else:
            self.phase_index += 1
        self.events.phase_done.emit(result=result)
        if phase == PHASES[-1]:
            self.events.iteration_recorded.emit(record=record)
        return result

    def _start_iteration(self) -> None:
        name = self._optimizer_name
        # Once per iteration: the phases below all need them (a walk of the module tree each time otherwise).
        self._named_params = list(self.model.named_parameters())
        if name != self._optimizer_for or self._fresh_optimizer:
            params = [p for _, p in self._named_params if p.requires_grad]
            self.optimizer = make_optimizer(name, params, self._lr)
            self._optimizer_for = name
            self._fresh_optimizer = False
        elif self.optimizer is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = self._lr
        self._active = {
            "lr": self._lr,
            "loss_name": self._loss_name,
            "loss_fn": self._loss_fn,
            "target_kind": self._target_kind,
            "optimizer": name,
            "node_gradients": self.whole_tensor_limit if self.node_gradients else None,
        }
        self._current = IterationRecord(
            index=self.iteration,
            lr=self._lr,
            loss_name=self._loss_name,
            optimizer_name=name,
            record_level=self.record_level,
        )

    def _current_batch(self, target_kind: str) -> tuple[Any, torch.Tensor]:
        """The batch of the running (or next) iteration, fetched once and reused.

        The inputs are one tensor, or a tuple of them (``model(*inputs)``)."""
        if self._batch is None or self._batch[0] != target_kind:
            inputs, targets = self.data.batch(self._input_shape, self._output_shape, target_kind)
            if isinstance(inputs, tuple):
                inputs = tuple(t.to(self.device) for t in inputs)
            else:
                inputs = inputs.to(self.device)
            if target_kind == VALUES and self._output_dtype is not None and targets.dtype != self._output_dtype:
                targets = targets.to(self._output_dtype)  # a float64 model gets float64 targets
            self._batch = (target_kind, inputs, targets.to(self.device))
        return self._batch[1], self._batch[2]

    def _loss_input(self, output: torch.Tensor, target_kind: str) -> torch.Tensor:
        """What the loss compares with the targets: users' class outputs with classes last, flattened."""
        if self._classes_last and target_kind == CLASSES:
            return class_view(output)
        return output

    def _note_nonfinite(self, record: IterationRecord, result: PhaseResult, phase: str, names: list[str]) -> None:
        graph = self._live_graph
        for name in names:
            record._flag(name)
            if name not in result.nonfinite:
                result.nonfinite.append(name)
            if self.first_nonfinite is None:
                where, key = name, None
                if graph is not None and name in graph:
                    attrs = graph.nodes[name]
                    where, key = attrs.get("name") or attrs.get("label", name), name
                self.first_nonfinite = NonFinite(record.index, phase, where, key)
                if phase in ("forward", "loss"):
                    # Where the forward went wrong, found once, right away (same batch, same weights).
                    try:
                        self.nonfinite_report = self._search_nonfinite()
                    except Exception:  # noqa: BLE001 - a diagnosis must never break the phase
                        self.nonfinite_report = None

    # -- the five phases -------------------------------------------------------------
    def watch_parameters(self, names) -> None:
        """The parameters someone looks at: on a model too big for full records, only they are copied."""
        self.history.watched = set(names)

    def _recycle_record(self, record: IterationRecord) -> None:
        self._snapshots.recycle(record, record.params_before, record.grads, record.params_after)

    def _params_to_keep(self, named: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: named[name] for name in self.history.snapshot_names(named)}

    def _phase_zero_grad(self, record: IterationRecord, result: PhaseResult) -> None:
        if self.record_level == "full":
            record.params_before = self._snapshots.copy(self._params_to_keep(dict(self._named_params)))
        if self.optimizer is not None:
            self.optimizer.zero_grad()
        else:
            self.model.zero_grad()

    def _phase_forward(self, record: IterationRecord, result: PhaseResult) -> None:
        inputs, _ = self._current_batch(self._active["target_kind"])
        args = as_call_args(inputs)
        self._train_mode()
        with torch.enable_grad():
            if self.record_level == "full":
                from gradviz.core.graph import ForwardRecorder
                from gradviz.core.source_lines import SourceRecorder

                limit = self._active.get("node_gradients")
                self._node_recorder = NodeRecorder(limit) if limit is not None else None
                # Without node gradients nothing needs the Nodes before the loss phase builds
                # the graph: that walk is the only one (see _forward_and_loss_keys).
                recorder = ForwardRecorder(self.model, walk=self._node_recorder is not None)
                sources = SourceRecorder(self.source_lines)
                with recorder, sources, self._watch_values():
                    returned = self.model(*args)
                self._recorder, self._sources = recorder, sources
                self._loss_sources = SourceRecorder(self.source_lines)
            else:
                returned = self.model(*args)
        output, _ = loss_output(returned)  # a TypeError when there is nothing to compute a loss on
        self._output = output
        if self._node_recorder is not None:
            self._note_forward_values(record, output)
        record.output_shape = tuple(output.shape)
        self._sample_output(record, output)
        if not all_finite([output])[0]:
            self._note_nonfinite(record, result, "forward", ["output"])

    def _note_forward_values(self, record: IterationRecord, output: torch.Tensor) -> None:
        """Each node's value right after the forward (the inspector and numbers mode show
        them as the forward builds up), before the loss phase makes the graph and its keys:
        by creation order (``record.forward_values``), and on the keys of the last graph
        this session made (``record.node_values``) when it knows one."""
        values = self._node_recorder.forward_values(output, self._recorder.creation_order,
                                                    self.model.named_parameters())
        record.forward_values = values
        if self._key_plan is not None:
            record.node_values = values.by_key(self._key_plan)

    def _train_mode(self) -> None:
        """``model.train()``, skipped when every module already trains and none
        overrides ``train`` (whose override might do more than set the flags):
        train() sets an attribute on every module, a third of a small model's
        forward overhead."""
        modules = list(self.model.modules())
        if all(m.training and type(m).train is _MODULE_TRAIN for m in modules):
            return
        self.model.train()

    def _sample_output(self, record: IterationRecord, output: torch.Tensor) -> None:
        """The first sample's output and target, as the loss will compare them (a few values, copied)."""
        kind = self._active["target_kind"]
        _, targets = self._current_batch(kind)
        try:
            self._copy_sample(record, output, targets, kind)
        except (RuntimeError, ValueError, TypeError, IndexError):
            # A picture for the class, not the training: an output it cannot
            # show (e.g. a shape the target does not follow) is simply not shown.
            record.output_sample = record.target_sample = None
            record.output_sample_size = 0

    def _copy_sample(self, record: IterationRecord, output: torch.Tensor, targets: torch.Tensor, kind: str) -> None:
        with torch.no_grad():
            compared = self._loss_input(output.detach(), kind)
            first = compared[0] if compared.dim() > 0 else compared
            first = first.reshape(-1)
            record.output_sample_size = int(first.numel())
            record.output_sample = first[:SAMPLE_LIMIT].to("cpu", torch.float64, copy=True)
            target = targets[0] if targets.dim() > 0 else targets
            record.target_sample = target.reshape(-1)[:SAMPLE_LIMIT].to("cpu", torch.float64, copy=True)
        record.target_kind = kind

    def _phase_loss(self, record: IterationRecord, result: PhaseResult) -> None:
        _, targets = self._current_batch(self._active["target_kind"])
        with torch.enable_grad():
            output = self._loss_input(self._output, self._active["target_kind"])
            with self._watch_values(), self._loss_sources:  # a loss function the user wrote has lines too
                loss = self._checked_loss(self._active["loss_fn"])(output, targets)
        if loss.grad_fn is None:
            raise ValueError("the loss does not depend on any parameter that requires grad: there is nothing to train")
        self._loss_tensor = loss
        record.loss = float(loss.detach())
        if self.record_level == "full":
            self._build_graph(record, loss)
        if not math.isfinite(record.loss):
            self._note_nonfinite(record, result, "loss", ["loss"])

    def _watch_values(self):
        """Note each op's forward value when node gradients are recorded."""
        recorder = self._node_recorder
        return recorder.forward() if recorder is not None else contextlib.nullcontext()

    def _checked_loss(self, loss_fn: LossFn) -> LossFn:
        """``loss_fn`` with a clear error when output and target do not fit or the result is no scalar."""
        loss_name = self._active.get("loss_name", self._loss_name) if self.in_iteration else self._loss_name

        def compute(output, target):
            try:
                loss = loss_fn(output, target)
            except (RuntimeError, ValueError, IndexError) as exc:
                raise ValueError(
                    f"the {loss_name} loss cannot compare the output {tuple(output.shape)} "
                    f"with the target {tuple(target.shape)}: {exc}"
                ) from exc
            if not isinstance(loss, torch.Tensor):
                raise TypeError(f"the loss function must return a tensor, got {type(loss).__name__}")
            if loss.dim() != 0:
                if loss.numel() != 1:
                    raise ValueError(f"the loss must be a single number, got a tensor of shape {tuple(loss.shape)}")
                loss = loss.reshape(())
            return loss

        return compute

    def _build_graph(self, record: IterationRecord, loss: torch.Tensor) -> None:
        from gradviz.core.graph import autograd_graph

        recorder = self._recorder
        graph = autograd_graph(loss, dict(self._named_params), module_of=recorder.module_of, calls_of=recorder.call_of)
        if self._sources is not None:
            from gradviz.core.source_lines import add_source_lines

            add_source_lines(graph, self._sources)
            add_source_lines(graph, self._loss_sources)
            self._sources, self._loss_sources = None, contextlib.nullcontext()
        forward_keys, loss_keys = _forward_and_loss_keys(graph, recorder)
        record.graph = self._live_graph = graph
        if self._node_recorder is not None:
            # The same kept values the forward noted (the recorder's cache), now on this graph's keys.
            record.node_values = self._node_recorder.values_by_key(graph)
            # The forward's own ops, as the forward build-up showed them (by forward_values):
            # a model's last op outside its modules (the neuron's tanh) is no loss op.
            record.forward_order = forward_keys
            record.forward_values = None
            self._key_plan = key_plan(graph, forward_keys)
        record.creation_order = forward_keys + loss_keys
        # Dead ReLU units: read now, while the Nodes still hold what they saved.
        from gradviz.core.diagnostics import relu_activity

        record.relu = relu_activity(graph)
        self._recorder = None  # the graph now keeps the Nodes alive until backward

    def _phase_backward(self, record: IterationRecord, result: PhaseResult) -> None:
        loss = self._loss_tensor
        if self.record_level == "full":
            from gradviz.core.graph import detach_graph
            from gradviz.core.trace import trace_backward

            graph = self._live_graph
            fresh = [p.grad is None for _, p in self._named_params]  # before backward accumulates
            if self._node_recorder is not None:
                with self._node_recorder.backward(graph, [loss]):
                    trace = trace_backward(loss, graph)
                record.node_gradients = self._node_recorder.nodes
                # Everything it kept for this record (node values too), each copy once, for the history's budget.
                record.node_kept_bytes = self._node_recorder.kept_bytes + NODE_ENTRY_BYTES * len(record.node_gradients)
            else:
                trace = trace_backward(loss, graph)
            record.backward_order = list(trace.order)
            record.node_grad_norms = {key: trace.norm(key) for key in trace.order}
            if trace.nonfinite:
                self._note_nonfinite(record, result, "backward", list(trace.nonfinite))
            known = _traced_grad_norms(graph, trace, self._named_params, fresh)
            detach_graph(graph)
        else:
            loss.backward()
            known = {}
        named, record.no_grad, record.frozen = [], [], []
        for name, p in self._named_params:
            if p.grad is not None:
                named.append((name, p))
            else:  # frozen, or unused by forward: not an error, shown as "no gradient"
                record.no_grad.append(name)
                if not p.requires_grad:
                    record.frozen.append(name)
        grads = [p.grad for _, p in named]
        if grads:
            # The traced norms where the trace has them (see _traced_grad_norms), one fused norm for the rest.
            missing = [p.grad for name, p in named if name not in known]
            computed = iter(tensor_norms(missing))
            norms = [known[name] if name in known else next(computed) for name, _ in named]
            record.grad_norms = {name: norm for (name, _), norm in zip(named, norms)}
            bad = [name for (name, _), ok in zip(named, finite_given_norms(grads, norms)) if not ok]
            if bad:
                self._note_nonfinite(record, result, "backward", bad)
        if self.record_level == "full":
            record.grads = self._snapshots.copy(self._params_to_keep({name: p.grad for name, p in named}))
        # Backward freed the saved tensors; drop the rest of the autograd graph too.
        self._output = self._loss_tensor = None

    def _phase_step(self, record: IterationRecord, result: PhaseResult) -> None:
        if self.optimizer is None:
            learning_rate = self._active["lr"]
            # The tutorial's update, verbatim: .data bypasses autograd.
            for _, f in self._named_params:
                if f.grad is None:
                    continue
                f.data.sub_(f.grad.data * learning_rate)
        else:
            self.optimizer.step()
        named = self._named_params
        bad = [name for (name, _), ok in zip(named, all_finite([p for _, p in named])) if not ok]
        if bad:
            self._note_nonfinite(record, result, "step", bad)
        if self.record_level == "full":
            record.params_after = self._snapshots.copy(self._params_to_keep(dict(named)))

    def _finish_iteration(self, record: IterationRecord) -> None:
        record.complete = True
        self.history._append(record)
        self.iteration += 1
        self.phase_index = 0
        self._current = None
        self._clear_transient()

    def _probe_output_shape(self, examples: ExampleInputs | None = None) -> tuple:
        """The shape of the output the loss uses, from one pass on the example inputs
        when there are some, else on zeros of the input shape (see ``probe_output``).
        Also sets ``loss_output`` and ``output_description``."""
        if examples is not None:
            args = tuple(t.to(self.device) for t in examples.inputs)
            what = f"the example inputs {', '.join(str(tuple(t.shape)) for t in args)}"
        else:
            args = (torch.zeros(self._input_shape, device=self.device),)
            what = f"an input of shape {self._input_shape}"
        probe = probe_output(self.model, args, what)
        self.loss_output, self._output_dtype = probe.loss_output, probe.dtype
        if probe.description is not None:
            self.output_description = probe.description
        return probe.shape

    def __repr__(self) -> str:
        return (
            f"TrainingSession(iteration={self.iteration}, next_phase={self.next_phase!r}, loss={self._loss_name!r}, "
            f"optimizer={self._optimizer_name!r}, lr={self._lr}, device={str(self.device)!r}, record={self.record_level!r})"
        )
