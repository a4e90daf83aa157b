"""Which recorded iteration of a run is on screen, or "Live" (follow the newest).

Qt-free on purpose: the rules of the history slider are plain data and are
tested without a window. The viewer owns one :class:`Timeline`, feeds it the
iteration numbers it reads from the run file, and redraws when a call says
the selection moved.

Rules:

* Live (the default) means "the newest recorded iteration, whatever it will
  be": new iterations move the selection along.
* Choosing an iteration (slider, keyboard) leaves Live; new iterations then
  arrive without moving the selection, so a user looking at iteration 5 keeps
  looking at iteration 5 while the training goes on.
* :meth:`Timeline.go_live` goes back to following.
"""
from __future__ import annotations

from typing import Iterable

__all__ = ["Timeline"]


class Timeline:
    """The recorded iterations (ascending) and the selection among them."""

    def __init__(self, iterations: Iterable[int] = ()):
        self._iterations: list[int] = []
        self._position: int | None = None  # index into _iterations while not live
        self.live = True
        self.extend(iterations)

    # -- facts ----------------------------------------------------------------------
    @property
    def iterations(self) -> list[int]:
        return list(self._iterations)

    def __len__(self) -> int:
        return len(self._iterations)

    @property
    def position(self) -> int | None:
        """Index of the selected iteration among the recorded ones (None: none recorded yet)."""
        if not self._iterations:
            return None
        return len(self._iterations) - 1 if self.live else self._position

    @property
    def selected(self) -> int | None:
        """The selected iteration number (None: none recorded yet)."""
        position = self.position
        return None if position is None else self._iterations[position]

    @property
    def newest(self) -> int | None:
        return self._iterations[-1] if self._iterations else None

    def describe(self) -> str:
        """One line for the label under the slider."""
        if not self._iterations:
            return "Live · no iteration recorded yet: waiting for the training to write one"
        first, last = self._iterations[0], self._iterations[-1]
        span = f"{len(self._iterations)} recorded ({first}–{last})" if first != last else f"1 recorded ({first})"
        if self.live:
            return f"Live · iteration {self.selected} (newest) · {span}: drag the slider back to look"
        return f"Iteration {self.selected} · {span} · Live follows the newest"

    # -- changes (each returns True when the selected iteration changed) --------------------
    def extend(self, iterations: Iterable[int]) -> bool:
        """Add newly recorded iterations (ascending, newer than the ones known;
        others are ignored). Live follows them; a chosen iteration stays."""
        before = self.selected
        newest = self.newest
        for iteration in iterations:
            if newest is None or iteration > newest:
                self._iterations.append(iteration)
                newest = iteration
        return self.selected != before

    def select_position(self, position: int) -> bool:
        """Choose the iteration at ``position`` (clamped); leaves Live."""
        if not self._iterations:
            return False
        before = self.selected
        self._position = max(0, min(int(position), len(self._iterations) - 1))
        self.live = False
        return self.selected != before

    def select_iteration(self, iteration: int) -> bool:
        """Choose iteration ``iteration`` (the nearest recorded one at or before it); leaves Live."""
        if not self._iterations:
            return False
        position = 0
        for i, value in enumerate(self._iterations):
            if value <= iteration:
                position = i
        return self.select_position(position)

    def go_live(self) -> bool:
        before = self.selected
        self.live = True
        self._position = None
        return self.selected != before
