"""Events: how a core object tells its listeners that something happened.

Core objects (no Qt here) own an :class:`EmitterGroup` of named
:class:`EventEmitter` s, e.g. ``session.events.phase_done``; views subscribe
with ``connect(callback)`` and get one :class:`Event` argument. It is the
pattern of napari's evented models (``napari/utils/events``), kept tiny::

    session.events.iteration_recorded.connect(lambda event: print(event.record.loss))

Threading: an emitter calls its callbacks synchronously, on the thread that
emits (a training phase runs in a worker thread, so its events arrive there).
A GUI must hand them over to its own thread itself (a Qt queued signal, see
``gradviz.ui.active_session``). Callbacks must be quick and must not call
back into the emitter's owner while it is busy (the session emits while it
still holds its phase lock).

A callback that raises does not stop the others, nor the emitter's owner: its
exception goes to ``sys.excepthook`` (which the app reports), because an
observer must never break the thing it observes.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Event", "EventEmitter", "EmitterGroup"]


@dataclass(frozen=True)
class Event:
    """What a callback receives: ``type`` (the emitter's name), ``source`` (the
    object that emitted) and keyword values (``event.record``, ``event.key``…)."""

    type: str
    source: Any = None
    values: dict = field(default_factory=dict)

    def __getattr__(self, name: str):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(f"{self.type} event has no {name!r}") from None


Callback = Callable[[Event], None]


class EventEmitter:
    """One kind of event. ``connect(callback)`` / ``disconnect(callback)`` /
    ``emit(**values)``; connecting a callback twice calls it once."""

    def __init__(self, source: Any = None, type: str = "event"):  # noqa: A002 - napari's name
        self.source = source
        self.type = type
        self._callbacks: list[Callback] = []
        self._lock = threading.Lock()  # connect on the GUI thread while a worker emits

    def connect(self, callback: Callback) -> Callback:
        """Call ``callback(event)`` on every emit; returns it (usable as a decorator)."""
        with self._lock:
            if callback not in self._callbacks:
                self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callback | None = None) -> None:
        """Stop calling ``callback`` (all callbacks when None); unknown ones are ignored."""
        with self._lock:
            if callback is None:
                self._callbacks.clear()
            elif callback in self._callbacks:
                self._callbacks.remove(callback)

    @property
    def callbacks(self) -> tuple[Callback, ...]:
        with self._lock:
            return tuple(self._callbacks)

    def emit(self, **values) -> Event:
        event = Event(self.type, self.source, values)
        for callback in self.callbacks:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - see the module docstring
                sys.excepthook(*sys.exc_info())
        return event


class EmitterGroup:
    """Named emitters as attributes: ``EmitterGroup(source, "reset", "phase_done")``
    gives ``group.reset`` and ``group.phase_done``. ``connect(callback)`` on the
    group subscribes to all of them (``event.type`` says which)."""

    def __init__(self, source: Any, *names: str):
        self.source = source
        self._emitters: dict[str, EventEmitter] = {}
        for name in names:
            emitter = EventEmitter(source, name)
            self._emitters[name] = emitter
            setattr(self, name, emitter)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._emitters)

    def __getitem__(self, name: str) -> EventEmitter:
        return self._emitters[name]

    def connect(self, callback: Callback) -> Callback:
        for emitter in self._emitters.values():
            emitter.connect(callback)
        return callback

    def disconnect(self, callback: Callback | None = None) -> None:
        for emitter in self._emitters.values():
            emitter.disconnect(callback)
