"""The installed Qt binding must not leak references to None.

PySide6 6.12.0 under Python 3.11 drops a reference to None on every call of a
C++ method returning void; after a few thousand paints the interpreter aborts
("none_dealloc") — in front of a class, with the work lost. pyproject pins
PySide6 below 6.12; this test fails if an installed version brings the leak back.
"""
import sys

import pytest


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on")
def test_void_calls_keep_none_alive():
    from PySide6.QtCore import QPointF

    point = QPointF()
    before = sys.getrefcount(None)
    for _ in range(1000):
        point.setX(1.0)
    assert sys.getrefcount(None) >= before - 10
