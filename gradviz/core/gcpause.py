"""Pause Python's cyclic garbage collector around big, cycle-free allocations.

Graph extraction, backward tracing and layout allocate a few containers per
autograd Node; every so many allocations the collector runs a full pass over
every live object (torch's included), which cost a third to 40% of their time
on 10^4–10^5-node graphs. None of that work creates garbage cycles, so pausing
is safe.

The pause is process-wide and these run on worker threads as well as the GUI
thread, so it is counted: the collector is re-enabled only when the last
overlapping pause ends, and only if it was enabled before the first began.
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused():
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
