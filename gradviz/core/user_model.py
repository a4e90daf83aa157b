"""Open a model someone wrote as a ``TrainingSession``: the one path shared by
File → Open Model, ``gradviz open-model`` and the tests.

:func:`open_user_model` loads the file (:mod:`gradviz.core.user_model_loader`), makes the
session over the user's module with their example inputs, and builds the
autograd graph of one forward + loss (nothing trained yet) so that a bug in
their ``forward`` or a loss that does not fit the output surfaces here, with
their own traceback lines, rather than on the first step.

Everything raised is a :class:`~gradviz.core.user_model_loader.ModelLoadError`: one
message the user can act on, plus ``user_traceback`` when their code failed.

No Qt here: the GUI runs this in a worker thread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import networkx as nx
import torch

from gradviz.core.user_model_loader import LoadedModel, ModelLoadError, load_user_model, user_traceback

__all__ = ["UserModelRequest", "OpenedUserModel", "ParameterCounts", "open_user_model", "parameter_counts"]

Progress = Callable[[float, str], Any]


@dataclass
class UserModelRequest:
    """Everything the Open Model dialog (or the command line) asks for.

    Inputs come from ``input_expression`` if given, else ``input_shapes`` +
    ``dtype`` (``"1, 3, 32, 32; 1, 10"``: one shape per ``forward`` argument),
    else the file's ``example_inputs()`` hook.
    """

    path: str | Path
    name: str | None = None  # class or factory; None: the last nn.Module class in the file
    args: str = ""  # literal constructor arguments, e.g. "n_layers=4, d_model=64"
    weights: str | Path | None = None  # a state_dict file, read with weights_only=True
    input_shapes: str = ""
    dtype: str = "float32"
    input_expression: str = ""
    loss: str = "mse"
    optimizer: str = "sgd"
    lr: float = 0.01
    seed: int = 0
    device: str = "cpu"
    record: str = "full"

    @property
    def display_name(self) -> str:
        return self.name or Path(self.path).name


@dataclass
class OpenedUserModel:
    """A user's model, opened: the loader's result, its session, and the graph of one forward + loss."""

    loaded: LoadedModel
    session: Any  # gradviz.core.session.TrainingSession (imported lazily: torch is slow to import)
    graph: nx.DiGraph
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.loaded.name

    def parameter_status(self) -> dict[str, str]:
        """``{name: "trainable" | "frozen" | "no gradient"}``, from the latest backward;
        before the first one, from the opening graph: a parameter that requires
        grad but is no node of it cannot get a gradient."""
        session = self.session
        status = session.parameter_status()
        if any("backward" in r.phase_times for r in (session.current, *session.history) if r is not None):
            return status
        in_graph = {a.get("name") for _, a in self.graph.nodes(data=True) if a.get("kind") == "param"}
        return {n: ("no gradient" if s == "trainable" and n not in in_graph else s) for n, s in status.items()}


@dataclass(frozen=True)
class ParameterCounts:
    """How many parameters a model has and which of them train."""

    values: int  # scalar parameters (tied tensors counted once)
    tensors: int
    trainable: int  # tensors, by status
    frozen: int
    no_grad: int  # require grad but got none (unused by forward)

    def describe(self) -> str:
        return (
            f"{self.values:,} parameters in {self.tensors} tensors: {self.trainable} trainable, "
            f"{self.frozen} frozen, {self.no_grad} without gradient"
        )


def parameter_counts(session, status: dict[str, str] | None = None) -> ParameterCounts:
    """Counts for the session's model; ``status`` as from ``parameter_status`` (default: the session's latest)."""
    status = session.parameter_status() if status is None else status
    values = sum(p.numel() for p in session.model.parameters())  # parameters() yields a tied tensor once
    tally = {kind: sum(1 for s in status.values() if s == kind) for kind in ("trainable", "frozen", "no gradient")}
    return ParameterCounts(values, len(status), tally["trainable"], tally["frozen"], tally["no gradient"])


def open_user_model(request: UserModelRequest, progress: Progress | None = None) -> OpenedUserModel:
    """Load ``request``'s model, make its session and its first graph (see the module docstring)."""
    from gradviz.core.session import TrainingError, TrainingSession

    report = progress or (lambda fraction, message: None)
    path = Path(request.path)
    if not isinstance(request.seed, int) or not -(2**63) <= request.seed < 2**64:
        raise ModelLoadError(f"seed {request.seed!r} must be an integer below 2**64 (torch.manual_seed takes 64 bits)", path=path)
    report(0.0, f"running {path.name}")
    # The user's model initialises its weights from the global generator: seed it
    # for reproducible runs, and leave the caller's random state as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(request.seed)
        loaded = load_user_model(
            path,
            name=request.name or None,
            args=request.args or "",
            weights=request.weights or None,
            input_shapes=request.input_shapes or None,
            dtype=request.dtype or "float32",
            input_expression=request.input_expression or None,
        )
    if not loaded.example_inputs:
        raise ModelLoadError(
            f"{path.name}: no example inputs. Give the input shape(s) and dtype, or an expression that "
            "builds them, or define example_inputs() in the file",
            path=path,
        )
    report(0.35, "setting up training")
    try:
        session = TrainingSession(
            loaded.module, inputs=loaded.example_inputs, loss=request.loss, optimizer=request.optimizer,
            lr=request.lr, device=request.device, seed=request.seed, record=request.record,
        )
    except (ValueError, TypeError, RuntimeError) as exc:  # a wrong loss name, a device, an output with no float tensor
        raise ModelLoadError(f"{loaded.name}: {exc}", path=path, user_traceback=_their_lines(exc, loaded)) from None
    report(0.5, "building the autograd graph (one forward pass and the loss)")
    try:
        graph = session.preview_graph()
    except Exception as exc:  # noqa: BLE001 - their train-mode forward may raise anything
        if isinstance(exc, TrainingError):
            message = str(exc)
        else:
            message = f"the forward pass or the loss failed: {type(exc).__name__}: {exc}"
        raise ModelLoadError(f"{loaded.name}: {message}", path=path, user_traceback=_their_lines(exc, loaded)) from None
    notes = list(loaded.notes)
    if session.output_description:
        notes.append(
            f"{loaded.name} returns a {session.output_description}; the loss uses {session.loss_output}, "
            "its first floating-point tensor"
        )
    if session.loss_name in ("cross_entropy", "nll") and len(session.output_shape) > 2:
        rows = math.prod(session.output_shape[:-1])
        notes.append(
            f"{session.loss_name}: classes on the last dimension; the output {session.output_shape} is flattened "
            f"to ({rows}, {session.output_shape[-1]}) with {rows} random class targets"
        )
    report(1.0, "opened")
    return OpenedUserModel(loaded=loaded, session=session, graph=graph, notes=notes)


def _their_lines(exc: BaseException, loaded: LoadedModel) -> str:
    """The user's traceback lines for an error a session raised (the cause is the original exception)."""
    if loaded.kind != "python":
        return ""
    original = exc.__cause__ or exc  # TrainingError chains what actually went wrong
    text = user_traceback(original, loaded.path)
    return text if text.startswith("Traceback") else ""
