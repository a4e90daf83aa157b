"""Do the ranks of a distributed run agree? (Qt-free)

Under DDP every rank's gradients are all-reduced, so with ``watch(...,
ranks="all")`` each rank's recorded gradient norms should match rank 0's to
rounding. A rank whose norms differ (a rank that skipped an all-reduce, got
other data or hit NaN) is what this points out, for the iteration on screen.
"""
from __future__ import annotations

import math

__all__ = ["AGREE_TOLERANCE", "RankCheck", "check_ranks"]

# Relative difference up to which norms count as equal: the all-reduce sums in
# a different order on each rank, which changes the last bits of float32 sums.
AGREE_TOLERANCE = 1e-4


class RankCheck:
    """``ranks``: the ranks that wrote their own numbers; ``worst``: ``(rank,
    parameter, relative difference from rank 0)`` of the largest difference,
    None when nothing can be compared; ``agree``: no difference above
    :data:`AGREE_TOLERANCE` (a NaN/Inf on one rank only is a difference)."""

    def __init__(self, ranks: list[int], losses: dict, worst: tuple[int, str, float] | None):
        self.ranks, self.losses, self.worst = ranks, losses, worst

    @property
    def agree(self) -> bool:
        return self.worst is None or self.worst[2] <= AGREE_TOLERANCE

    def describe(self) -> str:
        losses = ", ".join(f"{rank}: {_number(self.losses.get(rank))}" for rank in self.ranks)
        text = f"Ranks {', '.join(map(str, self.ranks))} · loss {losses}"
        if self.worst is None:
            return text
        rank, name, difference = self.worst
        if self.agree:
            return f"{text} · gradient norms agree across ranks"
        amount = "NaN/Inf on one rank only" if math.isinf(difference) else f"differs by {difference:.1%}"
        return f"{text} · ⚠ rank {rank}: ‖grad‖ of {name} {amount} from rank 0's"


def check_ranks(record) -> RankCheck | None:
    """The ranks' agreement in ``record`` (a run file's record); None when the
    run has no per-rank numbers (``ranks="all"`` was not used)."""
    per_rank = getattr(record, "rank_grad_norms", None) or {}
    if not per_rank:
        return None
    ranks = sorted(per_rank)
    reference = per_rank.get(0) or record.grad_norms or {}
    worst = None
    for rank in ranks:
        if rank == 0:
            continue
        for name, norm in per_rank[rank].items():
            base = reference.get(name)
            if base is None:
                continue
            difference = _relative(norm, base)
            if worst is None or difference > worst[2]:
                worst = (rank, name, difference)
    return RankCheck(ranks, dict(getattr(record, "rank_losses", {}) or {}), worst)


def _relative(value: float, reference: float) -> float:
    if not (math.isfinite(value) and math.isfinite(reference)):
        return 0.0 if (math.isnan(value) and math.isnan(reference)) or value == reference else math.inf
    scale = max(abs(value), abs(reference))
    return abs(value - reference) / scale if scale else 0.0


def _number(value) -> str:
    return "—" if value is None else f"{value:.4g}"
