"""ActiveSession: the one owner of "the session the user is looking at".

That is the opened model's session while a model from a file is shown (File →
Open Model), else the builder's (``SessionLink``: the network and settings
being built). Views never ask which: they listen to this object.

Signals (all on the GUI thread):
    sessionChanged(session): another session (or None) is the active one.
        Every panel shows the new session's state from here on.
    phaseDone(result), iterationRecorded(record), resetDone(),
    settingsChanged(key, value), graphInvalidated(reason): the active
        session's core events (``TrainingSession.events``), re-emitted here.
        ``graphInvalidated`` also fires on ``sessionChanged``: a graph drawn
        for the previous session is not this one's.

The core session emits on whatever thread runs it (a worker, for training
phases); those events cross to the GUI thread through a queued Qt signal.
Events emitted on the GUI thread itself (a setting changed there) are
re-emitted at once, so the panels agree with the session as soon as the call
returns. Events of a session that is no longer active are dropped on arrival.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QThread, Signal


class ActiveSession(QObject):
    sessionChanged = Signal(object)
    phaseDone = Signal(object)
    iterationRecorded = Signal(object)
    resetDone = Signal()
    settingsChanged = Signal(str, object)
    graphInvalidated = Signal(str)
    _arrived = Signal(object, object)  # (session, core Event), from any thread

    def __init__(self, builder_link, parent: QObject | None = None):
        """``builder_link`` has ``session`` and a ``sessionChanged`` signal (``SessionLink``)."""
        super().__init__(parent)
        self._builder = builder_link
        self._opened = None
        self._watched = None  # the session whose events we relay (the one last announced)
        self._alive = True
        self._arrived.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        builder_link.sessionChanged.connect(self._on_builder_session)
        self.destroyed.connect(self._on_destroyed)

    # -- state -------------------------------------------------------------------------
    @property
    def session(self):
        """The opened model's session while one is shown, else the builder's (None without a valid network)."""
        if self._opened is not None:
            return self._opened
        return self._builder.session  # may rebuild a stale one, which announces itself

    @property
    def opened(self):
        """The opened model's session, or None while the builder's network is in use."""
        return self._opened

    def set_opened(self, session) -> None:
        """Show ``session`` (a model opened from a file); None: back to the builder's."""
        self._opened = session
        self._switch(session if session is not None else self._builder.session)

    # -- relaying -------------------------------------------------------------------------
    def _on_builder_session(self, session) -> None:
        if self._opened is None:  # while a model is open, builder rebuilds stay in the background
            self._switch(session)

    def _switch(self, session) -> None:
        if session is self._watched:
            return
        previous, self._watched = self._watched, session
        if previous is not None:
            previous.events.disconnect(self._on_core_event)
        if session is not None:
            session.events.connect(self._on_core_event)
        self.sessionChanged.emit(session)
        self.graphInvalidated.emit("another network is active" if session is not None else "there is no valid network")

    def _on_core_event(self, event) -> None:
        """Any thread: hand the event to the GUI thread."""
        if not self._alive:
            return
        try:
            if QThread.currentThread() == self.thread():
                self._deliver(event.source, event)
            else:
                self._arrived.emit(event.source, event)
        except RuntimeError:  # the window (and this object) went away meanwhile
            pass

    def _deliver(self, session, event) -> None:
        if session is not self._watched:
            return  # a replaced session's late event
        kind = event.type
        if kind == "phase_done":
            self.phaseDone.emit(event.result)
        elif kind == "iteration_recorded":
            self.iterationRecorded.emit(event.record)
        elif kind == "reset":
            self.resetDone.emit()
        elif kind == "settings_changed":
            self.settingsChanged.emit(event.key, event.value)
        elif kind == "graph_invalidated":
            self.graphInvalidated.emit(event.reason)

    def _on_destroyed(self, *_args) -> None:
        self._alive = False
        if self._watched is not None:
            self._watched.events.disconnect(self._on_core_event)
