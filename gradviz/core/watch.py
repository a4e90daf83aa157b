"""Record any training loop: :func:`watch` writes what each iteration did to a run file.

::

    import gradviz
    with gradviz.watch(model, optimizer, path="runs/exp1.gvrun") as run:
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            run.step(loss)          # one call per iteration, after optimizer.step()

How it records (the design, in short):

* ``run.step(loss)`` marks the end of an iteration. It is explicit because only
  the loop knows which tensor is the loss and where an iteration ends
  (gradient accumulation, several optimizers, skipped steps).
* The optimizer's step hooks (``register_step_pre_hook``/``post_hook``) see
  the gradients exactly as the optimizer uses them (after
  ``clip_grad_norm_``, after ``GradScaler`` unscaled them) and the weights
  just before and after the step, so the update is measured as
  ``after - before`` for any optimizer, and the learning rate of each param
  group is the one that step used (schedulers included). When the hooks did
  not run before ``run.step`` although an optimizer is watched, the step was
  skipped (``GradScaler`` found Inf/NaN): the record says ``step_skipped``.
* At the ``"full"`` level the model's forward pass of a recorded iteration
  runs under a :class:`~gradviz.core.graph.ForwardRecorder`, so the autograd
  graph built from the loss in ``run.step`` knows which module created each
  op. The graph is stored when first seen and again only when its structure
  changes. Whole weights, gradients and updates are stored for the selected
  parameters (``params``); every parameter gets its norms. Each ReLU's dead
  units are counted at the end of the forward, while autograd still holds
  their outputs (``record.relu``, so ``record.diagnostics`` flags them).
* ``find_nonfinite`` (full level): the first recorded iteration whose loss or
  gradients are non-finite is searched for where NaN/Inf started, once per
  run (:mod:`gradviz.core.watch_nan`); the run file keeps the answer
  (``run.nonfinite_origin()``).
* Norms are computed on the device with fused kernels. On a GPU, values are
  copied into pinned host buffers with ``non_blocking=True`` and written at
  the next ``run.step`` (when those copies have long finished), so the loop
  does not wait for the device; on the CPU each iteration is written as soon
  as ``run.step`` is called (``defer_writes`` chooses).
* ``every=N`` records iterations 0, N, 2N, ...; the others cost a counter
  increment and two hook calls that return at once.
* Under ``torch.distributed`` rank 0 records (gradients after all-reduce are
  the same on every rank). ``ranks="all"`` also has every rank write its loss
  and gradient norms into the same file's ``rank_stats`` table, so a rank that
  diverges shows. FSDP is not supported yet: :func:`watch` raises
  :class:`WatchError` when it finds FSDP modules.

Failures: what the user can fix before training starts (no parameters,
unknown parameter names, an unwritable path, FSDP) raises :class:`WatchError`
from :func:`watch`. A failure while recording (the disk fills up, the file
is deleted) never stops the training: it warns once
(:class:`RecordingStoppedWarning`), stops recording, and the run file keeps
every iteration written before.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from gradviz.core.runfile import RUN_SUFFIX, RunFileError, RunWriter, dtype_name, graph_signature, graph_to_json
from gradviz.core.tensor_stats import stored_values
from gradviz.core.vocabulary import RECORD_LEVELS

__all__ = [
    "PARAM_SELECTIONS",
    "RANK_MODES",
    "RecordingStoppedWarning",
    "Watch",
    "WatchError",
    "default_params",
    "watch",
]

PARAM_SELECTIONS = ("default", "all")
RANK_MODES = ("zero", "all")


class WatchError(ValueError):
    """:func:`watch` cannot record this training: the message says what to change."""


def _check_loss(loss: Any) -> None:
    """``run.step(loss)``'s loss: None, a number, or a one-element tensor."""
    if loss is None:
        return
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise WatchError(f"run.step(loss) needs the loss as one number; got a tensor of shape "
                             f"{tuple(loss.shape)} (reduce it first, e.g. loss.mean())")
        return
    if isinstance(loss, bool) or not isinstance(loss, numbers.Real):
        raise WatchError(f"run.step(loss) needs the loss as a tensor or a number, got {type(loss).__name__} {loss!r}")


class RecordingStoppedWarning(RuntimeWarning):
    """Recording failed mid-run and stopped; the training went on. Issued once per run."""


def default_params(model: nn.Module) -> list[str]:
    """The parameters whose whole tensors are recorded by default: those of the
    first and the last module that own parameters (e.g. ``conv1.*`` and
    ``fc3.*``), a bounded subset that shows both ends of the gradient flow."""
    owners: dict[str, list[str]] = {}
    for name, _ in model.named_parameters():
        owners.setdefault(name.rpartition(".")[0], []).append(name)
    modules = list(owners.values())
    if not modules:
        return []
    return modules[0] + (modules[-1] if len(modules) > 1 else [])


def _default_path() -> str:
    return os.path.join("runs", time.strftime("run-%Y%m%d-%H%M%S") + RUN_SUFFIX)


def _unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside DataParallel/DistributedDataParallel (names without ``module.``)."""
    wrappers = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    while isinstance(model, wrappers):
        model = model.module
    return model


def _uses_fsdp(model: nn.Module) -> bool:
    # By class name: FSDP1 wraps in FullyShardedDataParallel, FSDP2's
    # fully_shard swaps classes to FSDP<Name>. Importing FSDP to check would
    # cost more than the whole check.
    return any(type(m).__name__.startswith(("FullyShardedDataParallel", "FSDP")) for m in model.modules())


def _distributed() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torch.distributed."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _norms(tensors: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """float32 L2 norms, one fused kernel per device and dtype, as one tensor on ``device``."""
    if not tensors:
        return torch.empty(0, device=device)
    norms = torch._foreach_norm([stored_values(t.detach()) for t in tensors], 2, dtype=torch.float32)
    return torch.stack([n.to(device) for n in norms])


# ---------------------------------------------------------------------------
# getting device tensors to the host without waiting


class HostCopies:
    """Copies tensors to host memory. On an accelerator: into a pinned buffer
    per ``key`` with ``non_blocking=True`` (the copy overlaps the training);
    :meth:`ready` waits for those copies, which by the next iteration have
    long finished. On the CPU: a plain copy (nothing to overlap).

    A buffer is reused by the next copy under the same key, so a copy must be
    read (written to the run file) before the next one with its key starts.
    """

    def __init__(self):
        self._buffers: dict[Any, torch.Tensor] = {}
        self._events: list[Any] = []

    def copy(self, key: Any, tensor: torch.Tensor) -> torch.Tensor:
        t = tensor.detach()
        if t.device.type == "cpu":
            return t.clone()
        buffer = self._buffers.get(key)
        if buffer is None or buffer.shape != t.shape or buffer.dtype != t.dtype:
            buffer = self._buffers[key] = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
        buffer.copy_(t, non_blocking=True)
        if t.device.type == "cuda":
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(t.device))
            self._events.append(event)
        return buffer

    def ready(self) -> None:
        """Wait until every copy started so far has landed."""
        for event in self._events:
            event.synchronize()
        self._events.clear()


@dataclass
class _Capture:
    """What the hooks and ``run.step`` collected for one recorded iteration,
    still partly on the device."""

    iteration: int
    lrs: list[float] = field(default_factory=list)
    grad_present: list[bool] = field(default_factory=list)
    grad_norms: torch.Tensor | None = None   # (P,), NaN where no grad
    weight_norms: torch.Tensor | None = None
    update_norms: torch.Tensor | None = None
    before: list[torch.Tensor] | None = None  # device copies of the weights, for the update
    stepped: bool = False
    tensors: list[tuple[int, str, torch.Tensor]] = field(default_factory=list)


@dataclass
class _Pending:
    """One iteration, ready to write once its host copies have landed."""

    iteration: int
    loss: torch.Tensor | float | None
    norms: torch.Tensor  # host (P, 3)
    lrs: list[float]
    no_grad: list[str]
    step_skipped: bool | None
    tensors: list[tuple[int, str, torch.Tensor]]
    graph: Any
    creation_order: list[str]
    output_shape: tuple | None
    wall_time: float
    relu: list[tuple[str, str, int, int]] = field(default_factory=list)  # (key, name, units, batch)
    relu_live: torch.Tensor | None = None  # host copy: live units of each
    origin: Any = None  # WatchedOrigin, when this iteration was searched


# ---------------------------------------------------------------------------


class Watch:
    """A recording in progress; made by :func:`watch`. Call :meth:`step` once
    per iteration, after ``optimizer.step()``; :meth:`close` (or leaving the
    ``with`` block) writes what is pending and closes the file.

    Attributes:
        path: the run file.
        rank: this process's rank (0 outside torch.distributed).
        iteration: the number the next :meth:`step` gives its iteration.
        recording: False on ranks that do not record, after :meth:`close`,
            and after a failure stopped the recording.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, path: str | os.PathLike | None = None,
                 *, every: int = 1, params: str | Sequence[str] = "default", level: str = "full", ranks: str = "zero",
                 overwrite: bool = False, defer_writes: bool | None = None, find_nonfinite: bool = True):
        if not isinstance(model, nn.Module):
            raise WatchError(f"watch needs an nn.Module, got {type(model).__name__}")
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise WatchError(f"optimizer must be a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
        if level not in RECORD_LEVELS:
            raise WatchError(f"unknown level {level!r}; use one of: {', '.join(RECORD_LEVELS)}")
        if ranks not in RANK_MODES:
            raise WatchError(f"unknown ranks {ranks!r}; use one of: {', '.join(RANK_MODES)}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise WatchError(f"every must be a whole number of iterations, 1 or more, got {every!r}")
        if _uses_fsdp(model):
            raise WatchError("FSDP (FullyShardedDataParallel / fully_shard) is not supported yet: each rank holds only a "
                             "shard of the parameters. Watch the model without FSDP, or use DDP")
        self.model = _unwrap(model)
        named = list(self.model.named_parameters())
        if not named:
            raise WatchError(f"{type(self.model).__name__} has no parameters: there are no gradients to record")
        self._names = [name for name, _ in named]
        self._params = [p for _, p in named]
        self._full = self._select(params) if level == "full" else []
        self.optimizer = optimizer
        self.level = level
        self.every = every
        self.path = os.fspath(path) if path is not None else _default_path()
        self.rank, self.world_size = _distributed()
        self.iteration = 0
        self._device = self._params[0].device
        self._defer = defer_writes if defer_writes is not None else self._device.type != "cpu"
        self._copies = HostCopies()
        self._capture: _Capture | None = None
        self._before: list[torch.Tensor] | None = None
        self._pending: _Pending | None = None
        self._graph_signature: int | None = None
        self._graph_id: int | None = None
        self._recorder = None
        self._recorder_state: tuple[dict, list] | None = None
        # The user's file and line of each op (gradviz.core.source_lines), recorded
        # with the graph at the full level: the stored graph's nodes carry ``source``.
        self._sources = None
        self._sources_open = False
        self._output_shape: tuple | None = None
        # ReluBackward0 Nodes of the recorded forward: (fn, units, batch, live units on the device)
        self._relu: list[tuple[Any, int, int, torch.Tensor]] = []
        self._nan_search = None
        self._caller = None
        if find_nonfinite and level == "full":
            from gradviz.core.watch_nan import FirstNanSearch

            self._nan_search = FirstNanSearch()
        self._handles: list[Any] = []
        self._writer: RunWriter | None = None
        self._warned = False
        # "writer": records everything (rank 0); "rank": only its loss and
        # gradient norms (other ranks with ranks="all"); None: records nothing.
        self._role = "writer" if self.rank == 0 else ("rank" if ranks == "all" else None)
        self._rank_stats = ranks == "all" and self.world_size > 1
        self._open_file(overwrite, share=self._rank_stats)
        self.recording = self._role is not None
        if self.recording:
            self._install_hooks()

    # -- public -------------------------------------------------------------------
    @property
    def recorded_params(self) -> list[str]:
        """Names of the parameters whose whole tensors are recorded."""
        return [self._names[i] for i in self._full]

    def step(self, loss: torch.Tensor | float | None = None) -> None:
        """End of one iteration: record it (when it is one of every ``every``-th).

        ``loss``: the iteration's loss, a tensor (at the full level, the
        autograd graph is read from it) or a number. Never raises because of
        the recorder: a recording failure warns once and stops recording. A
        ``loss`` that is neither is the caller's mistake, a :class:`WatchError`
        at once (it stopped the whole recording with a warning before).
        """
        _check_loss(loss)
        index = self.iteration
        try:
            if self.recording and index % self.every == 0:
                if self._nan_search is not None and self._nan_search.armed:
                    self._caller = sys._getframe(1)  # where the loss line is looked for, should the search run
                self._record(index, loss)
        except Exception as exc:  # noqa: BLE001 - the training must go on: warn once, stop recording
            self._fail(exc)
        finally:
            self._caller = None  # a frame holds the loop's locals: never keep it
            self.iteration += 1

    def close(self) -> None:
        """Write the pending iteration, remove the hooks, close the file. Idempotent."""
        if self.recording:
            pending = self._pending
            try:
                self._flush()
            except Exception as exc:  # noqa: BLE001
                self._fail(exc, pending.iteration if pending is not None else None)
        self._stop()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Watch({self.path!r}, iteration={self.iteration}, level={self.level!r}, recording={self.recording})"

    # -- set-up ----------------------------------------------------------------------
    def _select(self, params: str | Sequence[str]) -> list[int]:
        if isinstance(params, str):
            if params == "all":
                return list(range(len(self._names)))
            if params == "default":
                chosen = default_params(self.model)
            else:
                raise WatchError(f"params must be 'default', 'all' or a list of parameter names, got {params!r}")
        else:
            chosen = list(params)
            unknown = [name for name in chosen if name not in self._names]
            if unknown:
                shown = ", ".join(self._names[:8]) + (" …" if len(self._names) > 8 else "")
                raise WatchError(f"no parameter named {', '.join(map(repr, unknown))} in {type(self.model).__name__}; "
                                 f"its parameters: {shown}")
        position = {name: i for i, name in enumerate(self._names)}
        return sorted({position[name] for name in chosen})

    def _open_file(self, overwrite: bool, share: bool) -> None:
        """Rank 0 creates the file; with ``share`` the other ranks then join it.
        Every rank learns whether rank 0 succeeded, so none waits forever."""
        problem = None
        if self.rank == 0:
            try:
                folder = os.path.dirname(os.path.abspath(self.path))
                os.makedirs(folder, exist_ok=True)
                full = set(self._full)
                self._writer = RunWriter.create(self.path, self._meta(), [
                    (name, tuple(p.shape), dtype_name(p.dtype), i in full)
                    for i, (name, p) in enumerate(zip(self._names, self._params))
                ], overwrite=overwrite)
            except (RunFileError, OSError) as exc:
                problem = f"cannot record to {self.path}: {exc}"
        if share:
            status = [problem]
            torch.distributed.broadcast_object_list(status, src=0)
            problem = status[0]
        if problem is not None:
            raise WatchError(problem if self.rank == 0 else f"rank 0 {problem}")
        if share and self.rank != 0:
            try:
                self._writer = RunWriter.join(self.path)
            except RunFileError as exc:
                raise WatchError(str(exc)) from exc

    def _meta(self) -> dict[str, Any]:
        from gradviz import __version__

        return {
            "gradviz": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "level": self.level,
            "every": self.every,
            "model": type(self.model).__name__,
            "optimizer": type(self.optimizer).__name__ if self.optimizer is not None else "",
            "world_size": self.world_size,
        }

    def _install_hooks(self) -> None:
        if self.optimizer is not None:
            self._handles.append(self.optimizer.register_step_pre_hook(self._before_step))
            self._handles.append(self.optimizer.register_step_post_hook(self._after_step))
        if self.level == "full" and self._role == "writer":
            self._handles.append(self.model.register_forward_pre_hook(self._forward_starts, with_kwargs=True))
            self._handles.append(self.model.register_forward_hook(self._forward_ends, always_call=True))

    def _stop(self) -> None:
        self.recording = False
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._end_forward_recorder()
        self._capture = self._pending = self._before = None
        self._relu = []
        if self._nan_search is not None:
            self._nan_search.clear()  # no reference to the user's tensors outlives the recording
        if self._writer is not None:
            self._writer.close(finalize=self._role == "writer" and not self._warned)
            self._writer = None

    def _fail(self, exc: BaseException, iteration: int | None = None) -> None:
        if not self._warned:
            self._warned = True
            where = self.iteration if iteration is None else iteration
            warnings.warn(
                f"gradviz.watch stopped recording to {self.path} at iteration {where}: "
                f"{type(exc).__name__}: {exc}. The training goes on; the file keeps the iterations written so far.",
                RecordingStoppedWarning, stacklevel=3,
            )
        self._stop()

    # -- hooks: a recorded iteration's forward pass ----------------------------------
    def _recording_now(self) -> bool:
        return self.recording and self.iteration % self.every == 0

    def _forward_starts(self, module, args, kwargs) -> None:
        if self._nan_search is not None and self._nan_search.busy:
            return  # the NaN search's own re-run
        if self._recorder is not None or self._recorder_state is not None or not self._recording_now():
            return  # a second forward in the same iteration is not traced
        if not torch.is_grad_enabled():
            return  # an evaluation pass between iterations: no graph, nothing to own
        try:
            from gradviz.core.graph import ForwardRecorder

            recorder = ForwardRecorder(self.model)
            recorder.__enter__()
            self._recorder = recorder
            if self.level == "full" and self._role == "writer":
                from gradviz.core.source_lines import SourceRecorder

                self._sources = SourceRecorder().__enter__()
                self._sources_open = True
                if self._nan_search is not None:
                    self._nan_search.forward_starts(args, kwargs)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _forward_ends(self, module, args, output) -> None:
        if self._recorder is None:
            return
        try:
            self._recorder.note(output)  # the model's own last ops: its forward hook may not see this call
            recorder = self._end_forward_recorder()
            self._recorder_state = (recorder.module_of, recorder.creation_order)
            self._output_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
            # What ReLUs saved for backward is alive now, not after the user's backward.
            from gradviz.core.diagnostics import relu_peak

            self._relu = [(fn, *peak) for fn in recorder.creation_order if (peak := relu_peak(fn)) is not None]
            if self._nan_search is not None:
                self._nan_search.forward_ends(output)
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _end_forward_recorder(self):
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.__exit__(None, None, None)
        if self._sources_open:  # the forward's lines are known; the graph takes them later
            self._sources_open = False
            self._sources.__exit__(None, None, None)
        return recorder

    # -- hooks: the optimizer step ----------------------------------------------------
    def _before_step(self, optimizer, args, kwargs) -> None:
        if not self._recording_now():
            return
        try:
            if self._capture is not None and self._capture.iteration == self.iteration:
                return  # a second step in one iteration: the update runs from the first one's weights
            self._flush()
            capture = self._capture = self._capture_grads(self.iteration)
            capture.lrs = [float(group["lr"]) for group in optimizer.param_groups]
            if self._role == "writer":
                capture.before = self._weights_before()
                for i in self._full:
                    capture.tensors.append((i, "before", self._copies.copy((i, "before"), capture.before[i])))
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _after_step(self, optimizer, args, kwargs) -> None:
        capture = self._capture
        if capture is None or capture.iteration != self.iteration:
            return
        capture.stepped = True
        if capture.before is None:  # a rank that records only its gradient norms
            return
        try:
            weights = [p.detach() for p in self._params]
            # one fused norm call for the updates and the weights
            norms = _norms([*torch._foreach_sub(weights, capture.before), *weights], self._device)
            capture.update_norms, capture.weight_norms = norms[:len(weights)], norms[len(weights):]
            capture.tensors = [t for t in capture.tensors if t[1] != "after"]
            for i in self._full:
                capture.tensors.append((i, "after", self._copies.copy((i, "after"), weights[i])))
        except Exception as exc:  # noqa: BLE001
            self._fail(exc)

    def _weights_before(self) -> list[torch.Tensor]:
        """A copy of every weight, on its device, for the update. The buffers
        are allocated once and refilled with one fused copy: 1x the parameters
        in memory, no allocation per iteration."""
        if self._before is None:
            self._before = [torch.empty_like(p, memory_format=torch.contiguous_format) for p in self._params]
        torch._foreach_copy_(self._before, [p.detach() for p in self._params])
        return self._before

    def _capture_grads(self, iteration: int) -> _Capture:
        capture = _Capture(iteration)
        grads = [p.grad for p in self._params]
        capture.grad_present = [g is not None for g in grads]
        present = [g for g in grads if g is not None]
        norms = _norms(present, self._device)
        if len(present) < len(grads):  # NaN where there is no gradient (no_grad says which)
            full = torch.full((len(grads),), math.nan, device=self._device)
            if present:
                full[torch.tensor([i for i, g in enumerate(grads) if g is not None], device=self._device)] = norms
            norms = full
        capture.grad_norms = norms
        if self._role == "writer":
            for i in self._full:
                if grads[i] is not None:
                    capture.tensors.append((i, "grad", self._copies.copy((i, "grad"), grads[i])))
        return capture

    # -- the end of an iteration ----------------------------------------------------
    def _record(self, index: int, loss: torch.Tensor | float | None) -> None:
        capture, self._capture = self._capture, None
        if capture is None or capture.iteration != index:
            # No optimizer hook ran: no optimizer watched, or the step was skipped.
            self._flush()
            capture = self._capture_grads(index)
            if self.optimizer is not None:
                capture.lrs = [float(group["lr"]) for group in self.optimizer.param_groups]
        step_skipped = None if self.optimizer is None else not capture.stepped
        def nan() -> torch.Tensor:
            return torch.full((len(self._params),), math.nan, device=self._device)

        weight_norms = capture.weight_norms
        if weight_norms is None:
            weight_norms = _norms(self._params, self._device) if self._role == "writer" else nan()
        update_norms = capture.update_norms if capture.update_norms is not None else nan()
        # columns in the run file's order, runfile.NORM_COLUMNS: grad, weight, update
        norms = torch.stack([capture.grad_norms, weight_norms, update_norms], dim=1)
        if isinstance(loss, torch.Tensor):
            loss_value = self._copies.copy("loss", loss.detach().float().reshape(()))
        else:
            loss_value = None if loss is None else float(loss)
        graph, creation_order, key_of = None, [], {}
        state, self._recorder_state = self._recorder_state, None
        relu, self._relu = self._relu, []
        self._end_forward_recorder()
        if self.level == "full" and self._role == "writer" and isinstance(loss, torch.Tensor) and loss.grad_fn is not None:
            graph, creation_order, key_of = self._graph(loss, state)
        relu_rows, relu_live = self._relu_rows(relu, graph, key_of)
        origin = self._search_nonfinite(index, loss, capture, graph, creation_order)
        self._pending = _Pending(
            iteration=index, loss=loss_value, norms=self._copies.copy("norms", norms), lrs=capture.lrs,
            no_grad=[n for n, ok in zip(self._names, capture.grad_present) if not ok], step_skipped=step_skipped,
            tensors=capture.tensors, graph=graph, creation_order=creation_order,
            output_shape=self._output_shape, wall_time=time.time(), relu=relu_rows, relu_live=relu_live, origin=origin,
        )
        self._output_shape = None
        if not self._defer:
            self._flush()

    def _graph(self, loss: torch.Tensor, state: tuple[dict, list] | None):
        """The loss's autograd graph, with modules from the forward recorder."""
        from gradviz.core.graph import autograd_graph, detach_graph

        module_of, created = state if state is not None else (None, [])
        graph = autograd_graph(loss, self.model, module_of=module_of or None)
        sources, self._sources = self._sources, None
        if sources is not None:
            from gradviz.core.source_lines import add_source_lines

            add_source_lines(graph, sources)
        fns = graph.graph["fn"]
        key_of = {id(fn): key for key, fn in fns.items()}
        forward_keys = [key_of[id(fn)] for fn in created if id(fn) in key_of]
        seen = set(forward_keys)
        # The loss's own ops (and a forward that was not traced) come after, in creation order.
        rest = [key for key, attrs in graph.nodes(data=True) if attrs.get("kind") == "op" and key not in seen]
        rest.sort(key=lambda key: fns[key]._sequence_nr())
        detach_graph(graph)
        return graph, forward_keys + rest, key_of

    def _relu_rows(self, relu, graph, key_of: dict[int, str]):
        """The forward's ReLUs that are in the stored graph, named, and a host copy of their live-unit counts."""
        if graph is None or not relu:
            return [], None
        from gradviz.core.diagnostics import relu_name

        kept = [(key_of[id(fn)], units, batch, live) for fn, units, batch, live in relu if id(fn) in key_of]
        if not kept:
            return [], None
        rows = [(key, relu_name(graph, key), units, batch) for key, units, batch, _ in kept]
        try:
            counts = torch.stack([live for *_, live in kept])
        except RuntimeError:  # a model split over devices
            counts = torch.stack([live.cpu() for *_, live in kept])
        return rows, self._copies.copy("relu", counts)

    def _search_nonfinite(self, index: int, loss, capture: _Capture, graph, creation_order: list[str]):
        """Where NaN/Inf started, when this is the run's first recorded iteration with a
        non-finite loss or gradient (searched once per run); None otherwise."""
        search = self._nan_search
        if search is None:
            return None
        if not search.armed:
            search.clear()
            return None
        if not search.needed(loss, capture.grad_norms, capture.grad_present):
            search.clear()
            return None
        # The forward ran with the weights from before this iteration's step, when one ran.
        weights_used = capture.before if capture.stepped and capture.before is not None else None
        try:
            return search.run(self.model, self._params, weights_used, index, loss, graph, creation_order, self._caller)
        except Exception as exc:  # noqa: BLE001 - a failed search must not stop the recording
            from gradviz.core.watch_nan import WatchedOrigin

            return WatchedOrigin(index, "", "", f"the search failed: {type(exc).__name__}: {exc}", found=False)

    def _flush(self) -> None:
        """Write the pending iteration (its host copies have landed by now)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        self._copies.ready()
        norms = pending.norms.double().numpy()
        loss = pending.loss
        if isinstance(loss, torch.Tensor):
            loss = float(loss)
        nonfinite = []
        if loss is not None and not math.isfinite(loss):
            nonfinite.append("loss")
        for name, (grad, weight, _) in zip(self._names, norms):
            no_grad = name in pending.no_grad
            if (not no_grad and not math.isfinite(grad)) or (self._role == "writer" and not math.isfinite(weight)):
                nonfinite.append(name)
        if self._role == "rank":
            self._writer.write_rank_stats(pending.iteration, self.rank, _sql_float(loss), np.ascontiguousarray(norms[:, 0]))
            return
        graph_row = None
        if pending.graph is not None:
            signature = graph_signature(pending.graph)
            if signature != self._graph_signature:
                self._graph_id = 0 if self._graph_id is None else self._graph_id + 1
                graph_row = (self._graph_id, pending.iteration, graph_to_json(pending.graph, pending.creation_order))
                self._graph_signature = signature
        row = {
            "iteration": pending.iteration,
            "loss": _sql_float(loss),
            "lrs": json.dumps(pending.lrs),
            "step_skipped": None if pending.step_skipped is None else int(pending.step_skipped),
            "graph_id": self._graph_id if pending.graph is not None else None,
            "norms": np.ascontiguousarray(norms, dtype="<f8").tobytes(),
            "no_grad": json.dumps(pending.no_grad),
            "nonfinite": json.dumps(nonfinite),
            "output_shape": json.dumps(list(pending.output_shape)) if pending.output_shape is not None else None,
            "wall_time": pending.wall_time,
        }
        rank_row = (self.rank, _sql_float(loss), np.ascontiguousarray(norms[:, 0])) if self._rank_stats else None
        relu = None
        if pending.relu:
            live = pending.relu_live.tolist()
            relu = json.dumps([{"key": key, "name": name, "units": units, "dead": units - int(alive), "batch": batch}
                               for (key, name, units, batch), alive in zip(pending.relu, live)])
        origin = pending.origin.to_json() if pending.origin is not None else None
        self._writer.write_iteration(row, pending.tensors, graph_row, rank_row, relu=relu, origin=origin)


def _sql_float(value: float | None) -> float | None:
    # SQLite stores NaN as NULL anyway; say so explicitly (readers check nonfinite).
    return None if value is None or math.isnan(value) else value


def watch(model: nn.Module, optimizer: torch.optim.Optimizer | None = None, path: str | os.PathLike | None = None, *,
          every: int = 1, params: str | Sequence[str] = "default", level: str = "full", ranks: str = "zero",
          overwrite: bool = False, defer_writes: bool | None = None, find_nonfinite: bool = True) -> Watch:
    """Record a training loop into a run file; use as ``with gradviz.watch(...) as run:`` and call
    ``run.step(loss)`` once per iteration, after ``optimizer.step()``.

    Args:
        model: the model being trained (a DDP/DataParallel wrapper is looked through).
        optimizer: its optimizer. Its step hooks measure the update
            (``after - before``) and the learning rates; without one there
            are no updates and ``step_skipped`` is None.
        path: the run file (``.gvrun``), created with its folder; default
            ``runs/run-<date>-<time>.gvrun``. It must not exist unless
            ``overwrite=True``.
        every: record iterations 0, N, 2N, ...
        params: whose whole weights, gradients and updates are stored
            (``"full"`` level): ``"default"`` (first and last parameterized
            modules, see :func:`default_params`), ``"all"``, or a list of
            names from ``model.named_parameters()``.
        level: ``"full"`` (norms, graph, selected tensors) or ``"light"`` (norms only).
        ranks: under torch.distributed, ``"zero"`` (rank 0 records) or
            ``"all"`` (every rank also writes its loss and gradient norms;
            then every rank must call :func:`watch`).
        overwrite: replace an existing file at ``path``.
        defer_writes: write each iteration at the next ``step`` so device
            copies overlap training; default: on for GPU models, off on the CPU.
        find_nonfinite: at the ``"full"`` level, search where NaN/Inf started
            in the first recorded iteration whose loss or gradients are
            non-finite (once per run; :mod:`gradviz.core.watch_nan`): the
            forward is re-run with the weights it used and a check on every
            op, then backward with the gradient your loss sent into the
            model's output. Costs one device sync per recorded iteration (to
            test the loss) on a GPU; references to the forward's inputs and
            output gradient are kept until ``run.step``. Dropout, autocast or
            inputs changed in place make the re-run differ from the training.

    Raises:
        WatchError: a model with no parameters, FSDP, an unknown parameter
            name or option, or a path that cannot be created.
    """
    return Watch(model, optimizer, path, every=every, params=params, level=level, ranks=ranks,
                 overwrite=overwrite, defer_writes=defer_writes, find_nonfinite=find_nonfinite)
