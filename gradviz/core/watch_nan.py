"""Where NaN/Inf starts in a watched training loop: :func:`gradviz.watch` searches once per run.

A run file holds neither the model nor the batch, so the watcher searches
while it still has both: in ``run.step(loss)`` of the first recorded iteration
whose loss or gradients are non-finite (:class:`FirstNanSearch`).

What it keeps, at the ``"full"`` level only, for the recorded iteration in
progress (references, no copies): the arguments of the model's forward, and,
through a hook on each floating-point output tensor that requires grad, the
gradient the user's ``loss.backward()`` sent into the model's output.

The search (:func:`gradviz.core.nan_origin.find_first_nonfinite`) re-runs the
forward with the weights that forward used (put back for the search; the
post-step weights are restored exactly afterwards), with a check on every op.
Its loss is synthetic: ``Σ (output_i * captured_grad_i).sum()``, whose backward
sends exactly the user's output gradient into the model, so the backward
search is exact for the model whatever the user's loss code was. Then:

* parameters already non-finite: a ``"parameter"`` origin (an earlier
  optimizer step, a learning rate too large);
* an op inside the model made NaN/Inf: that op (``"forward"``);
* the model's inputs already hold NaN/Inf: ``"input"``;
* the model's output is finite but the user's loss is not: ``"loss"``,
  pointing at the stored graph's loss op. Its source line: the node's own
  when the loss was made inside the forward (recorded then); else the line
  of the loop that last assigned the tensor passed to ``run.step`` (source
  lines are recorded during the forward only: keeping the recording mode on
  past it could pop a mode the user's code pushed);
* the output gradient the user's loss sent back is non-finite while the
  loss is finite: ``"backward"``, in the loss's backward;
* else the first autograd Node that produced a non-finite gradient from
  finite ones (``"backward"``).

The re-run's graph has its own node keys; an origin is linked to the stored
graph's node by position among the op nodes in creation order, when the
labels agree (else it is described in words only). Parameters link by name.

Limits (said in the result when nothing is found): the re-run is a new
forward, so dropout (the random state differs), autocast (the re-run is in
full precision) or inputs changed in place after the forward can make it
differ from what the training computed.

No Qt here.
"""
from __future__ import annotations

import ast
import json
import linecache
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Hashable, Sequence

import networkx as nx
import torch
from torch import nn

from gradviz.core.model_io import floating_tensors
from gradviz.core.nan_origin import (BACKWARD, FORWARD, PARAMETER, NonFiniteReport, TensorStats, all_values_finite,
                                     find_first_nonfinite, param_key)
from gradviz.core.node_notes import SourceLine, source_of

__all__ = ["INPUT", "LOSS", "FirstNanSearch", "WatchedOrigin", "assigned_line", "loss_key"]

# Phases beyond nan_origin's (forward, backward, parameter): what only a watched loop can tell apart.
LOSS, INPUT = "loss", "input"


@dataclass
class WatchedOrigin:
    """Where NaN/Inf started in a watched run, as stored in its run file.

    ``iteration``: the recorded iteration searched. ``found``: False when the
    re-run stayed finite (``reason`` says why that can happen). ``phase``:
    ``"forward"``, ``"backward"``, ``"parameter"``, ``"loss"`` or ``"input"``;
    ``op``: the op, Node label or parameter name; ``source``: the user's line;
    ``details``: the reason, then the statistics of the tensors concerned;
    ``key``/``label``: its node in the stored graph of that iteration (None
    when it could not be linked).
    """

    iteration: int
    phase: str
    op: str
    reason: str
    found: bool = True
    source: SourceLine | None = None
    details: list[str] = field(default_factory=list)
    key: str | None = None
    label: str | None = None

    def describe(self) -> str:
        """``First NaN/Inf: iteration 7 — log at model.py:12 — log of a value ≤ 0 …``."""
        if not self.found:
            return f"First NaN/Inf: iteration {self.iteration} — not found: {self.reason}"
        where = f" at {self.source.location}" if self.source is not None else ""
        return f"First NaN/Inf: iteration {self.iteration} — {self.phase} {self.op}{where} — {self.reason}"

    def to_json(self) -> str:
        data = asdict(self)
        data["source"] = self.source.as_dict() if self.source is not None else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "WatchedOrigin":
        try:
            data = json.loads(text)
            source = data.get("source")
            return cls(
                iteration=int(data["iteration"]), phase=str(data["phase"]), op=str(data["op"]),
                reason=str(data["reason"]), found=bool(data.get("found", True)),
                source=SourceLine.from_dict(source) if source else None,
                details=[str(line) for line in data.get("details", [])],
                key=None if data.get("key") is None else str(data["key"]),
                label=None if data.get("label") is None else str(data["label"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"unreadable NaN/Inf origin: {exc}") from None


def loss_key(graph: nx.DiGraph) -> str | None:
    """The op that made the loss: the op node feeding the graph's first output."""
    for root in graph.graph.get("roots", ()):
        if root not in graph:
            continue
        if graph.nodes[root].get("kind") == "op":
            return root
        ops = [p for p in graph.predecessors(root) if graph.nodes[p].get("kind") == "op"]
        if ops:
            return ops[0]
    return None


class FirstNanSearch:
    """The watcher's side of the search: keeps what it needs of the recorded
    iteration in progress and runs the search once per run.

    ``done`` once it searched; ``busy`` while it runs (the watcher's hooks then
    ignore the re-run's forward).
    """

    def __init__(self):
        self.done = False
        self.busy = False
        self._call: tuple[tuple, dict] | None = None
        self._grads: list[torch.Tensor | None] = []
        self._mask: tuple[tuple[bool, ...], torch.Tensor] | None = None  # which gradient norms exist

    @property
    def armed(self) -> bool:
        """A forward of this iteration was seen and no search ran yet."""
        return not self.done and self._call is not None

    def clear(self) -> None:
        self._call, self._grads = None, []

    def forward_starts(self, args: tuple, kwargs: dict | None) -> None:
        if self.done or self.busy:
            return
        self._call = (tuple(args), dict(kwargs or {}))
        self._grads = []

    def forward_ends(self, output: Any) -> None:
        """A hook on each floating output: keeps the gradient the user's backward sends in."""
        if self._call is None or self.busy:
            return
        outputs = [t for _, t in floating_tensors(output)]
        self._grads = [None] * len(outputs)
        for i, tensor in enumerate(outputs):
            if tensor.requires_grad:
                tensor.register_hook(self._keeper(i))

    def _keeper(self, i: int):
        grads = self._grads

        def keep(grad: torch.Tensor) -> None:
            if i < len(grads):
                grads[i] = grad  # a reference: autograd made it for this backward anyway
        return keep

    def needed(self, loss: Any, grad_norms: torch.Tensor | None, grad_present: Sequence[bool]) -> bool:
        """Whether the loss or a gradient norm is non-finite: a few small ops and one
        device sync (norms are NaN where a parameter has no gradient: left out)."""
        values = []
        if isinstance(loss, torch.Tensor):
            values.append(loss.detach().float().reshape(-1))
        elif loss is not None and not math.isfinite(float(loss)):
            return True
        if grad_norms is not None and any(grad_present):
            if all(grad_present):
                values.append(grad_norms.float())
            else:
                present = tuple(grad_present)
                if self._mask is None or self._mask[0] != present or self._mask[1].device != grad_norms.device:
                    self._mask = (present, torch.tensor(present, device=grad_norms.device))
                values.append(grad_norms[self._mask[1]].float())
        if not values:
            return False
        device = values[0].device
        return not bool(torch.isfinite(torch.cat([v.to(device) for v in values])).all())

    def run(self, model: nn.Module, params: list[torch.Tensor], weights_used: list[torch.Tensor] | None,
            iteration: int, loss: Any, graph: nx.DiGraph | None, creation_order: list[str],
            caller: Any = None) -> WatchedOrigin:
        """Search now (once): ``weights_used`` are the weights the forward ran
        with (None: the current ones); they are put in for the search and the
        current weights restored exactly afterwards. ``caller``: the frame that
        called ``run.step`` (where the loss line is looked for)."""
        call, grads = self._call, list(self._grads)
        self.done, self.busy = True, True
        self.clear()
        try:
            if call is None:
                return WatchedOrigin(iteration, "", "", "the model's forward was not seen in this iteration", found=False)
            after = None
            if weights_used is not None:
                with torch.no_grad():
                    after = [p.detach().clone() for p in params]
                    torch._foreach_copy_([p.detach() for p in params], list(weights_used))
            # find_first_nonfinite puts the CPU random state back; a GPU's too, so the
            # re-run's dropout does not shift the training's random numbers.
            devices = sorted({p.device.index or 0 for p in params if p.device.type == "cuda"})
            try:
                with torch.random.fork_rng(devices=devices):
                    return _search(model, call, grads, iteration, loss, graph, creation_order, caller)
            finally:
                if after is not None:
                    with torch.no_grad():
                        torch._foreach_copy_([p.detach() for p in params], after)
        finally:
            self.busy = False


def _search(model: nn.Module, call: tuple[tuple, dict], grads: list[torch.Tensor | None], iteration: int,
            loss: Any, graph: nx.DiGraph | None, creation_order: list[str], caller: Any = None) -> WatchedOrigin:
    args, kwargs = call
    grads_finite = all_values_finite([g for g in grads if g is not None])
    rerun: dict[str, list[torch.Tensor]] = {}

    def synthetic_loss(output: Any) -> torch.Tensor:
        outputs = [t for _, t in floating_tensors(output)]
        rerun["outputs"] = outputs
        terms = [(o * g).sum() for o, g in zip(outputs, grads)
                 if grads_finite and g is not None and o.requires_grad and g.shape == o.shape]
        if not terms:  # the gradient search would not mean anything: the forward check still does
            terms = [o.sum() for o in outputs if o.requires_grad] or [o.sum() for o in outputs]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    report = find_first_nonfinite(model, args, synthetic_loss, kwargs=kwargs)
    outputs = [o.detach() for o in rerun.get("outputs", [])]
    user_loss = float(loss.detach().float().reshape(-1)[0]) if isinstance(loss, torch.Tensor) and loss.numel() else (
        float(loss) if loss is not None else math.nan)

    def linked(key: Hashable | None) -> tuple[str | None, str | None]:
        return _link(report, key, graph, creation_order)

    if report.parameters:
        first = report.first
        key = param_key(graph, first.op)
        return WatchedOrigin(iteration, PARAMETER, first.op, first.reason, key=key,
                             label=graph.nodes[key].get("label") if key is not None else None,
                             details=[first.reason])
    if report.error and not report.forward:
        return WatchedOrigin(iteration, "", "", f"the re-run forward raised: {report.error}", found=False)
    if outputs and not all_values_finite(outputs):
        if report.forward is not None:
            origin = report.forward
            key, label = linked(origin.key)
            return WatchedOrigin(iteration, FORWARD, origin.op, origin.reason, source=origin.source,
                                 details=origin.details(where=False), key=key, label=label)
        inputs = [t for _, t in floating_tensors((args, kwargs))]
        if not all_values_finite(inputs):
            stats = [TensorStats.of(t).describe() for t in inputs if not all_values_finite([t])]
            return WatchedOrigin(iteration, INPUT, "input", "the model's inputs already hold NaN/Inf: the data is "
                                 "bad before the model sees it", details=[f"  input: {s}" for s in stats])
    output_text = "; ".join(TensorStats.of(o).describe() for o in outputs) or "no floating output"
    key = loss_key(graph) if graph is not None else None
    attrs = graph.nodes[key] if key is not None else {}
    loss_source, where = source_of(attrs), []
    if loss_source is None and caller is not None:
        loss_source = assigned_line(caller, loss)
        if loss_source is not None:
            where = [f"  the loss was last assigned at {loss_source} (the op's own line is not recorded: "
                     "it ran outside the model's forward)"]
    if not math.isfinite(user_loss):
        reason = (f"the model's output is finite ({output_text}); the loss your code computed from it is not "
                  f"(loss {user_loss})")
        return WatchedOrigin(iteration, LOSS, attrs.get("label", "loss"), reason, source=loss_source,
                             details=[reason, *where], key=key, label=attrs.get("label"))
    if not grads_finite:
        stats = "; ".join(TensorStats.of(g).describe() for g in grads if g is not None)
        reason = (f"in your loss's backward: the gradient it sent into the model's output holds NaN/Inf ({stats}) "
                  f"while the loss ({user_loss:.6g}) and the output are finite")
        return WatchedOrigin(iteration, BACKWARD, attrs.get("label", "loss"), reason, source=loss_source,
                             details=[reason, *where], key=key, label=attrs.get("label"))
    if report.backward is not None:
        origin = report.backward
        key, label = linked(origin.key)
        return WatchedOrigin(iteration, BACKWARD, origin.op, origin.reason, source=origin.source,
                             details=origin.details(where=False), key=key, label=label)
    return WatchedOrigin(iteration, "", "", "the re-run of this iteration's forward and backward stayed finite: "
                         "dropout or other randomness, autocast, or inputs changed in place can make a re-run differ; "
                         "or the gradients went bad after backward (clipping, a gradient hook)", found=False)


def assigned_line(frame: Any, value: Any) -> SourceLine | None:
    """The line of ``frame``'s function that last assigned a variable now holding
    ``value``, before the line running now (``loss = criterion(out, y)`` for the
    ``loss`` passed to ``run.step``); None when no variable holds it or the
    source cannot be read."""
    names = {name for name, held in frame.f_locals.items() if held is value}
    if not names:
        return None
    code = frame.f_code
    try:
        tree = ast.parse("".join(linecache.getlines(code.co_filename)))
    except (SyntaxError, ValueError):
        return None
    last = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
            targets = [node.target]
        else:
            continue
        if not code.co_firstlineno <= node.lineno < frame.f_lineno:
            continue
        if any(isinstance(n, ast.Name) and n.id in names for target in targets for n in ast.walk(target)):
            last = max(last, node.lineno)
    return SourceLine.read(code.co_filename, last, code.co_name) if last else None


def _link(report: NonFiniteReport, key: Hashable | None, graph: nx.DiGraph | None,
          creation_order: list[str]) -> tuple[str | None, str | None]:
    """The stored graph's node for the re-run's ``key``: the op at the same position
    in creation order, when its label agrees; else ``(None, None)``."""
    if key is None or graph is None or report.graph is None or key not in report.creation_order:
        return None, None
    position = report.creation_order.index(key)
    if position >= len(creation_order):
        return None, None
    stored = creation_order[position]
    label = report.graph.nodes[key].get("label")
    if stored in graph and graph.nodes[stored].get("label") == label:
        return stored, label
    return None, None
