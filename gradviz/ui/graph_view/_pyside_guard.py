"""Guard against a reference-count bug of some PySide6 builds on Python < 3.12.

PySide6 6.12's abi3 wheels return ``None`` from every void C++ method without
taking a new reference (fine on 3.12+, where None is immortal). On 3.11 each
call (``painter.setPen``, ``path.lineTo``, ...) steals one reference, and after
a few thousand calls Python aborts with "Fatal Python error: none_dealloc".
Painting a big graph makes tens of thousands of such calls per frame.

The guard detects the leak once and, only then, gives None a reference count
no program can exhaust, which is exactly what Python 3.12 does for it.
"""
from __future__ import annotations

import ctypes
import sys

_applied = False


def _void_calls_leak_none() -> bool:
    from PySide6.QtCore import QPointF

    point = QPointF()
    before = sys.getrefcount(None)
    for _ in range(64):
        point.setX(1.0)
    return sys.getrefcount(None) < before - 32


def ensure_none_is_safe() -> bool:
    """Apply the guard if this interpreter and PySide6 need it; True if applied."""
    global _applied
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _applied
    if _void_calls_leak_none():
        # ob_refcnt is the first field of every CPython object.
        ctypes.c_ssize_t.from_address(id(None)).value += 1 << 48
        _applied = True
    return _applied
