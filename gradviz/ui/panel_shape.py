"""Which way a panel's parts stand: side by side in a wide dock (the bottom of
the window), stacked in a tall one (the column beside the graph)."""
from __future__ import annotations

STACK_ABOVE = 0.9  # height / width over which side-by-side parts stack
UNSTACK_BELOW = 0.6  # ... and under which stacked ones stand side by side again


def stacks(width: int, height: int, stacked: bool) -> bool:
    """Whether a panel of ``width`` × ``height`` px stacks its parts, given whether
    it does now: the two thresholds are apart so that a resize near one does not
    flip the parts back and forth."""
    ratio = height / max(1, width)
    return ratio > UNSTACK_BELOW if stacked else ratio > STACK_ABOVE
