"""Gradient health: what is wrong with a training iteration, named and numbered.

:func:`diagnose` reads one :class:`~gradviz.core.session.IterationRecord` (the
session's, or one read back from a run file) and returns a
:class:`Diagnostics`: per-layer gradient norms by depth, update/weight ratios
per parameter, dead ReLU units, parameters without a gradient, gradients that
are exactly zero, and the :class:`Flag` list a person should look at. Every
flag names the parameters concerned and, where the record has its autograd
graph, the graph nodes (so a view can select them). ``record.diagnostics`` is
this, computed on first use.

:func:`diagnostics_over` summarises several records (a layer's norm over the
iterations, parameters that never got a gradient in any of them).

Definitions (each threshold is a named constant below, so the numbers a flag
quotes are the ones tested):

* **Layer and depth.** A layer is a parameter's module (``conv1`` for
  ``conv1.weight``; ``""`` for a parameter on the model itself); layers are in
  ``named_parameters()`` order, which is definition order, input side first.
  A layer's gradient norm is the L2 norm of all its parameters' gradients.
* **Vanishing / exploding.** ``ratio = norm(first layer) / norm(last layer)``
  over the layers with a finite, non-zero gradient. Below
  :data:`VANISHING_RATIO` the first layers learn far slower than the last
  (vanishing); above :data:`EXPLODING_RATIO` the reverse (exploding).
* **Update/weight ratio.** ``‖after − before‖ / ‖before‖`` per parameter
  (full records only: the light level keeps no weights). The rule of thumb is
  ~1e-3; :data:`UPDATE_RATIO_BAND` is that value one decade either way. Only
  ratios far outside it are flagged (:data:`UPDATE_RATIO_FLAG`), and only for
  weights (two or more dimensions): a fresh network on random data is often a
  little outside the band and is not sick, and a bias or a BatchNorm shift
  starting at zero has a huge ratio that means nothing.
* **Dead ReLU units.** A unit is one element of a ReLU's output without the
  batch dimension (a feature of a linear layer, a channel at one position of
  a convolution). It is dead when its output is zero for every sample of the
  batch. Read from the values autograd saved for backward (``ReluBackward0``
  keeps its result), so ``F.relu``, ``nn.ReLU`` and in-place ReLUs are all
  seen and the forward pass needs no hooks. Flagged at
  :data:`DEAD_UNITS_FLAG` of a ReLU's units: with a batch of one about half
  the units of a healthy network are zero for that one sample.
* **No gradient.** Parameters whose ``.grad`` stayed None (``no_grad``):
  ``frozen`` (``requires_grad=False``) or ``unused`` by the loss. A record
  that does not know which (``frozen`` is None: a run file) gets one flag
  naming both causes.
* **Zero gradient.** A parameter whose gradient is exactly 0 everywhere.

Pure Python + torch + networkx; no Qt. Importing it loads neither torch nor networkx.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:  # torch loads on first use: the app's Diagnostics dock imports this at start-up
    import networkx as nx
    import torch

__all__ = [
    "DEAD_UNITS_FLAG",
    "Diagnostics",
    "DiagnosticsTrend",
    "EXPLODING_RATIO",
    "FLAG_KINDS",
    "Flag",
    "LayerNorm",
    "ReluActivity",
    "UPDATE_RATIO_BAND",
    "UPDATE_RATIO_FLAG",
    "UPDATE_RATIO_TARGET",
    "VANISHING_RATIO",
    "diagnose",
    "diagnostics_over",
    "layer_of",
    "read_counts",
    "relu_activity",
    "relu_name",
    "relu_peak",
]

VANISHING_RATIO = 1e-3
EXPLODING_RATIO = 1e3
UPDATE_RATIO_TARGET = 1e-3
UPDATE_RATIO_BAND = (1e-4, 1e-2)
# Flag only far outside the band: below 1e-6 a parameter barely moves, above
# 1e-1 one step rewrites a tenth of it.
UPDATE_RATIO_FLAG = (1e-6, 1e-1)
DEAD_UNITS_FLAG = 0.9
RELU_LABEL = "ReluBackward0"
COUNT_NONZERO_LIMIT = 16384  # elements: above, bool().sum() counts faster (dead ReLU units)

# Flag kinds, in the order a view lists them.
VANISHING, EXPLODING, DEAD_UNITS, NO_GRADIENT, ZERO_GRADIENT, UPDATE_TOO_LARGE, UPDATE_TOO_SMALL = (
    "vanishing", "exploding", "dead_units", "no_gradient", "zero_gradient", "update_too_large", "update_too_small",
)
FLAG_KINDS = (VANISHING, EXPLODING, DEAD_UNITS, NO_GRADIENT, ZERO_GRADIENT, UPDATE_TOO_LARGE, UPDATE_TOO_SMALL)


@dataclass(frozen=True)
class Flag:
    """One problem: ``kind`` (one of :data:`FLAG_KINDS`), a sentence with the
    numbers, the parameters concerned and their graph node keys (empty when the
    record has no graph)."""

    kind: str
    message: str
    params: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerNorm:
    """A layer's gradient norm: ``layer`` (module name), its ``params``, ``norm``."""

    layer: str
    params: tuple[str, ...]
    norm: float


@dataclass(frozen=True)
class ReluActivity:
    """One ReLU call's output: ``key`` (its graph node), a readable ``name``,
    how many ``units`` (elements without the batch dimension), how many are
    ``dead`` (zero for every sample) and the ``batch`` size."""

    key: str
    name: str
    units: int
    dead: int
    batch: int

    @property
    def dead_fraction(self) -> float:
        return self.dead / self.units if self.units else 0.0


@dataclass
class Diagnostics:
    """Gradient health of one iteration; see the module docstring for every definition."""

    iteration: int
    layer_norms: list[LayerNorm] = field(default_factory=list)
    depth_ratio: float | None = None
    update_ratios: dict[str, float] = field(default_factory=dict)
    relu: list[ReluActivity] = field(default_factory=list)
    no_grad: list[str] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    zero_grads: list[str] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.flags

    def flags_of(self, kind: str) -> list[Flag]:
        return [flag for flag in self.flags if flag.kind == kind]

    def summary(self) -> str:
        """One line per flag, or that there is none."""
        if not self.flags:
            return f"iteration {self.iteration}: no gradient-health flags"
        return "\n".join(f"iteration {self.iteration}: {flag.message}" for flag in self.flags)


def layer_of(param: str) -> str:
    """``"conv1"`` for ``"conv1.weight"``; ``""`` for a parameter of the model itself."""
    return param.rpartition(".")[0]


# ---------------------------------------------------------------------------
# dead ReLU units, from the values autograd saved


def relu_activity(graph: nx.DiGraph) -> list[ReluActivity]:
    """Dead units of every ReLU in a *live* autograd graph (``graph.graph["fn"]``
    still holds the Nodes, i.e. before backward freed what they saved).

    Reads each ``ReluBackward0``'s saved result (:func:`relu_peak`); a result
    changed in place since (which autograd itself would refuse to use) is
    skipped. Empty for a detached graph.
    """
    fns = graph.graph.get("fn") or {}
    seen = []  # (key, units, batch, live-unit count as a 0-dim tensor)
    for key, attrs in graph.nodes(data=True):
        if attrs.get("label") != RELU_LABEL or key not in fns:
            continue
        peak = relu_peak(fns[key])
        if peak is not None:
            seen.append((key, *peak))
    live = read_counts([count for *_, count in seen])
    return [ReluActivity(key, relu_name(graph, key), units, units - alive, batch)
            for (key, units, batch, _), alive in zip(seen, live)]


def relu_peak(fn: Any) -> tuple[int, int, torch.Tensor] | None:
    """``(units, batch, live units as a 0-dim tensor on the device)`` of one
    ``ReluBackward0`` Node whose saved result is still alive; None otherwise.

    No device sync: the count stays a tensor (:func:`read_counts` reads many at
    once; :func:`gradviz.watch` copies it to the host without waiting).
    """
    import torch

    from gradviz.core.graph import held_by_hook

    if type(fn).__name__ != RELU_LABEL or held_by_hook(fn, "_saved_result"):
        return None  # (held by a hook: unpacking it would rerun a checkpointed forward)
    try:
        result = fn._saved_result
    except (RuntimeError, AttributeError):
        return None
    if not isinstance(result, torch.Tensor) or result.numel() == 0:
        return None
    with torch.no_grad():
        # A ReLU's output is >= 0: a unit is live where its largest value over the batch is > 0.
        if result.dim() < 2:
            batch, peak = 1, result
        else:  # a batch of one is its own peak (no reduction, no copy)
            batch, peak = result.shape[0], (result[0] if result.shape[0] == 1 else result.amax(dim=0))
        # peak >= 0: nonzero = live. count_nonzero is the fastest on small tensors but
        # slow on big ones (1.1 ms for 262k values, against 0.07 ms for bool().sum()).
        live = torch.count_nonzero(peak) if peak.numel() <= COUNT_NONZERO_LIMIT else peak.bool().sum()
        return peak.numel(), int(batch), live


def read_counts(counts: list[torch.Tensor]) -> list[int]:
    """The counts of :func:`relu_peak` as ints, read back together (one device sync)."""
    import torch

    if not counts:
        return []
    try:
        return [int(n) for n in torch.stack(counts).tolist()]
    except RuntimeError:  # a model split over devices: one read each
        return [int(count) for count in counts]


def relu_name(graph: nx.DiGraph, key: str) -> str:
    """``relu1`` (its module) or, for ``F.relu``, ``ReLU after conv1`` (the layer
    whose parameters feed the op before it)."""
    attrs = graph.nodes[key]
    module = attrs.get("module") or ""
    if module:
        return module
    for producer in graph.predecessors(key):
        for source in graph.predecessors(producer):
            source_attrs = graph.nodes[source]
            if source_attrs.get("kind") == "param":
                layer = layer_of(source_attrs["name"]) or source_attrs["name"]
                # nn.Sequential names its layers 0, 1, 2 …: "ReLU after 2" would read like a count
                return f"ReLU after {'layer ' if layer.isdigit() else ''}{layer}"
        producer_module = graph.nodes[producer].get("module")
        if producer_module:
            return f"ReLU after {producer_module}"
    return f"ReLU {key}"


# ---------------------------------------------------------------------------


def _param_nodes(graph: nx.DiGraph | None) -> dict[str, str]:
    if graph is None:
        return {}
    return {attrs["name"]: key for key, attrs in graph.nodes(data=True) if attrs.get("kind") == "param"}


def _layer_norms(grad_norms: Mapping[str, float]) -> list[LayerNorm]:
    layers: dict[str, list[str]] = {}
    for name in grad_norms:  # named_parameters() order: input side first
        layers.setdefault(layer_of(name), []).append(name)
    out = []
    for layer, names in layers.items():
        norm = math.sqrt(sum(grad_norms[n] ** 2 for n in names)) if all(math.isfinite(grad_norms[n]) for n in names) else math.nan
        out.append(LayerNorm(layer, tuple(names), norm))
    return out


def _update_ratios(before: Mapping[str, torch.Tensor], after: Mapping[str, torch.Tensor]) -> dict[str, float]:
    ratios = {}
    for name, old in before.items():
        new = after.get(name)
        if new is None or new.shape != old.shape or not old.is_floating_point():
            continue
        # float32 at least (a float16 norm overflows), no float64 copy of a big model
        old = old.float() if old.element_size() < 4 else old
        weight = float(old.norm())
        if weight == 0.0 or not math.isfinite(weight):
            continue
        ratios[name] = float((new.to(old.dtype) - old).norm()) / weight
    return ratios


def _names(names: Sequence[str], most: int = 4) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def diagnose(record: Any, *, frozen: Iterable[str] | None = None) -> Diagnostics:
    """The gradient health of ``record`` (an ``IterationRecord`` or anything with
    its fields: ``index``, ``grad_norms``, ``no_grad``, ``params_before``,
    ``params_after``, ``graph``, ``relu``, ``frozen``).

    ``frozen``: names of parameters with ``requires_grad=False`` (default: the
    record's ``frozen`` field; None: unknown); the other names in ``no_grad``
    are unused.
    """
    grad_norms: Mapping[str, float] = getattr(record, "grad_norms", None) or {}
    graph = getattr(record, "graph", None)
    param_node = _param_nodes(graph)

    def nodes_of(params: Iterable[str]) -> tuple[str, ...]:
        return tuple(param_node[p] for p in params if p in param_node)

    result = Diagnostics(iteration=int(getattr(record, "index", 0)))
    flags = result.flags

    # -- gradient norm by depth ---------------------------------------------------
    result.layer_norms = _layer_norms(grad_norms)
    usable = [ln for ln in result.layer_norms if math.isfinite(ln.norm) and ln.norm > 0.0]
    if len(usable) >= 2:
        first, last = usable[0], usable[-1]
        ratio = result.depth_ratio = first.norm / last.norm
        where = (f"first layer {first.layer or '(model)'} ‖grad‖ {first.norm:.3g}, "
                 f"last layer {last.layer or '(model)'} ‖grad‖ {last.norm:.3g}")
        params = first.params + last.params
        if ratio < VANISHING_RATIO:
            flags.append(Flag(VANISHING, f"Vanishing gradients: {where}, ratio {ratio:.2g} < {VANISHING_RATIO:g}",
                              params, nodes_of(params)))
        elif ratio > EXPLODING_RATIO:
            flags.append(Flag(EXPLODING, f"Exploding gradients: {where}, ratio {ratio:.2g} > {EXPLODING_RATIO:g}",
                              params, nodes_of(params)))

    # -- dead ReLU units ------------------------------------------------------------------
    result.relu = list(getattr(record, "relu", None) or [])
    for relu in result.relu:
        if relu.units and relu.dead_fraction >= DEAD_UNITS_FLAG:
            flags.append(Flag(
                DEAD_UNITS,
                f"Dead ReLU units: {relu.name}: {relu.dead} of {relu.units} units ({relu.dead_fraction:.0%}) "
                f"are zero for the whole batch of {relu.batch}",
                (), (relu.key,) if graph is not None and relu.key in graph else (),
            ))

    # -- parameters without a gradient ---------------------------------------------------------------
    no_grad = result.no_grad = list(getattr(record, "no_grad", None) or [])
    if frozen is None:
        frozen = getattr(record, "frozen", None)
    if frozen is None:  # the record cannot tell (a run file keeps no requires_grad)
        if no_grad:
            flags.append(Flag(NO_GRADIENT, f"No gradient (frozen, or not used by the loss): {_names(no_grad)}",
                              tuple(no_grad), nodes_of(no_grad)))
        frozen_set = None
    else:
        frozen_set = set(frozen)
        result.frozen = [n for n in no_grad if n in frozen_set]
        result.unused = [n for n in no_grad if n not in frozen_set]
    if result.unused:
        flags.append(Flag(NO_GRADIENT, f"No gradient (not used by the loss): {_names(result.unused)}",
                          tuple(result.unused), nodes_of(result.unused)))
    if result.frozen:
        flags.append(Flag(NO_GRADIENT, f"No gradient (frozen, requires_grad=False): {_names(result.frozen)}",
                          tuple(result.frozen), nodes_of(result.frozen)))

    # -- gradients exactly zero ---------------------------------------------------------------------
    result.zero_grads = [name for name, norm in grad_norms.items() if norm == 0.0]
    if result.zero_grads:
        flags.append(Flag(ZERO_GRADIENT, f"Gradient exactly zero: {_names(result.zero_grads)}",
                          tuple(result.zero_grads), nodes_of(result.zero_grads)))

    # -- update / weight ratio --------------------------------------------------------------------------
    # Parameters without a gradient are flagged above; their ratio is 0 by construction.
    result.update_ratios = {
        name: ratio for name, ratio in _update_ratios(getattr(record, "params_before", None) or {},
                                                      getattr(record, "params_after", None) or {}).items()
        if name in grad_norms
    }
    low, high = UPDATE_RATIO_FLAG
    before = getattr(record, "params_before", None) or {}
    # Weights only: a bias or norm scale starts at 0 or 1 and its ratio says little.
    weights = {n: r for n, r in result.update_ratios.items() if before[n].dim() >= 2}
    too_large = [n for n, r in weights.items() if r > high]
    too_small = [n for n, r in weights.items() if r < low and n not in result.zero_grads]
    if too_large:
        worst = max(too_large, key=result.update_ratios.get)
        flags.append(Flag(UPDATE_TOO_LARGE,
                          f"Updates too large (‖update‖/‖weight‖ > {high:g}, rule of thumb ~{UPDATE_RATIO_TARGET:g}): "
                          f"{_names(too_large)}; {worst} {result.update_ratios[worst]:.2g}",
                          tuple(too_large), nodes_of(too_large)))
    if too_small:
        worst = min(too_small, key=result.update_ratios.get)
        flags.append(Flag(UPDATE_TOO_SMALL,
                          f"Updates too small (‖update‖/‖weight‖ < {low:g}, rule of thumb ~{UPDATE_RATIO_TARGET:g}): "
                          f"{_names(too_small)}; {worst} {result.update_ratios[worst]:.2g}",
                          tuple(too_small), nodes_of(too_small)))
    return result


# ---------------------------------------------------------------------------
# over iterations


@dataclass
class DiagnosticsTrend:
    """Several iterations: ``iterations`` (their indices), ``layer_norms``
    (layer -> norm per iteration, NaN where a record had none), ``depth_ratios``
    (per iteration, None where undefined), ``never_grad`` (parameters without a
    gradient in every record) and ``flag_counts`` (kind -> iterations flagged)."""

    iterations: list[int] = field(default_factory=list)
    layer_norms: dict[str, list[float]] = field(default_factory=dict)
    depth_ratios: list[float | None] = field(default_factory=list)
    never_grad: list[str] = field(default_factory=list)
    flag_counts: dict[str, int] = field(default_factory=dict)


def diagnostics_over(records: Iterable[Any]) -> DiagnosticsTrend:
    """Summarise the diagnostics of ``records`` (oldest first)."""
    trend = DiagnosticsTrend()
    never: list[str] | None = None
    for record in records:
        diag = getattr(record, "diagnostics", None)
        if not isinstance(diag, Diagnostics):
            diag = diagnose(record)
        position = len(trend.iterations)
        trend.iterations.append(diag.iteration)
        trend.depth_ratios.append(diag.depth_ratio)
        for layer in diag.layer_norms:
            series = trend.layer_norms.setdefault(layer.layer, [math.nan] * position)
            series.append(layer.norm)
        for series in trend.layer_norms.values():
            series.extend([math.nan] * (position + 1 - len(series)))
        never = list(diag.no_grad) if never is None else [n for n in never if n in diag.no_grad]
        for kind in {flag.kind for flag in diag.flags}:
            trend.flag_counts[kind] = trend.flag_counts.get(kind, 0) + 1
    trend.never_grad = never or []
    return trend
