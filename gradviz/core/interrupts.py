"""Stopping the user's code: what gradviz must let through when it catches everything else.

gradviz runs code it did not write (a model's ``__init__``, ``forward``, hooks) and
turns whatever that code raises into a gradviz error, ``sys.exit()`` included: the
user's code must not end the app. Two things are not the code failing but someone
stopping it, and go on up: Ctrl+C (KeyboardInterrupt), and the app's Stop button,
which raises a :class:`UserCodeInterrupted` in the thread running the code.
"""
from __future__ import annotations

__all__ = ["UserCodeInterrupted", "is_stop_request"]


class UserCodeInterrupted(BaseException):
    """Raised inside the thread running the user's code to stop it. A BaseException,
    like KeyboardInterrupt, so the user's own ``except Exception:`` cannot swallow it."""


def is_stop_request(exc: BaseException) -> bool:
    """Whether ``exc`` is someone stopping the code (Ctrl+C, Stop), not the code failing."""
    return isinstance(exc, (KeyboardInterrupt, UserCodeInterrupted))
