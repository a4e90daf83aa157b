"""StepController: runs the phases of a core ``TrainingSession`` off the GUI thread.

One phase at a time goes to the worker pool (``gradviz.ui.worker.run_task``);
its ``PhaseResult`` comes back on the GUI thread as signals that the views
(animator, panels, phase indicator) listen to. Sequences of phases ("run the
rest of this iteration", continuous play) are a queue the controller works
through one phase at a time, so a pause takes effect at the next phase
boundary: a phase that is running in torch cannot be interrupted.

Between two phases of a sequence the controller waits for the *pacer* (the
graph animator) to finish its animation, so a class sees every phase at the
chosen speed instead of the animation lagging behind the training.

The controller holds no ML logic: it only decides *when* ``advance()`` runs.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from gradviz.ui.worker import run_task
from gradviz.core.vocabulary import PHASES


# Pause between two phases of a sequence at speed 1 when no animation paces it,
# so that the phase indicator can be read.
PHASE_GAP_MS = 350
MIN_SPEED, MAX_SPEED = 0.05, 10_000.0


class StepController(QObject):
    """Steps ``session`` phase by phase in the worker thread.

    Signals (all on the GUI thread):
        phaseStarted(phase, iteration): a phase was sent to the worker.
        phaseFinished(result): the core ``PhaseResult`` of a finished phase.
        iterationFinished(record): ``step`` finished; the complete record.
        nonfiniteFound(first, result): the phase found NaN/Inf; ``first`` is the
            session's ``first_nonfinite`` (where it first appeared).
        busyChanged(busy): a phase or a sequence of phases started/ended.
        playingChanged(playing)
        stateChanged(): the next phase or what may run changed (refresh actions).
        failed(message): a phase raised (e.g. the data does not fit the model).
        sessionChanged(session): another session (or None) is being stepped.
        resetDone(): ``reset()`` put the weights back to the start.
    """

    phaseStarted = Signal(str, int)
    phaseFinished = Signal(object)
    iterationFinished = Signal(object)
    nonfiniteFound = Signal(object, object)
    busyChanged = Signal(bool)
    playingChanged = Signal(bool)
    stateChanged = Signal()
    failed = Signal(str)
    sessionChanged = Signal(object)
    resetDone = Signal()

    def __init__(self, session=None, parent: QObject | None = None, *,
                 session_source: Callable[[], object] | None = None):
        super().__init__(parent)
        self._session = session
        # The window builds its session lazily (torch loads on first use); reading
        # it only when a step is asked for keeps start-up free of torch.
        self._session_source = session_source
        self._task = None
        self._running_phase: str | None = None
        self._queue: list[str] = []  # phases still to run in the current sequence
        self._sequence = False
        self._playing = False
        self._busy = False
        self._speed = 1.0
        self._pacer = None
        self._waiting_for_pacer = False
        self._reported_nonfinite = None
        self._gap = QTimer(self)
        self._gap.setSingleShot(True)
        self._gap.timeout.connect(self._run_next)
        self.last_error: str | None = None

    # -- session -------------------------------------------------------------------
    @property
    def session(self):
        """The session being stepped; asks ``session_source`` when none is set yet."""
        if self._session is None and self._session_source is not None:
            session = self._session_source()
            # Reading the source may rebuild the window's session, whose
            # sessionChanged already reached set_session: adopt only once.
            if session is not None and self._session is None:
                self._adopt(session)
        return self._session

    def set_session(self, session) -> None:
        """Step another session (the network or the settings changed). A running
        phase of the old one finishes in the background; its result is ignored."""
        if session is self._session:
            return
        self._stop_sequence()
        self._set_playing(False)
        self._adopt(session)
        self._update_busy()

    def sync_session(self) -> None:
        """Follow ``session_source`` now (before a command): the window's session
        is the truth, even when its change has not been announced yet."""
        if self._session_source is None or self._busy:
            return
        current = self._session_source()
        if current is not self._session:
            self.set_session(current)

    def _adopt(self, session) -> None:
        self._session = session
        self._reported_nonfinite = getattr(session, "first_nonfinite", None)
        self.sessionChanged.emit(session)
        self.stateChanged.emit()

    # -- state ----------------------------------------------------------------------
    @property
    def next_phase(self) -> str | None:
        """The phase that runs next, or None without a session."""
        session = self._session
        if session is None:
            return PHASES[0] if self._session_source is not None else None
        return session.next_phase

    @property
    def running_phase(self) -> str | None:
        return self._running_phase

    @property
    def busy(self) -> bool:
        """A phase is running or a sequence (run iteration, play) is in progress."""
        return self._busy

    @property
    def playing(self) -> bool:
        return self._playing

    def is_idle(self) -> bool:
        """Not busy and no animation still playing (tests wait for this)."""
        return not self._busy and not (self._pacer is not None and self._pacer.animating)

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, factor: float) -> None:
        """1 is the classroom pace; larger is faster (the pacer gets the same factor)."""
        self._speed = min(MAX_SPEED, max(MIN_SPEED, float(factor)))
        if self._pacer is not None:
            self._pacer.set_speed(self._speed)

    def set_pacer(self, pacer) -> None:
        """``pacer`` has ``animating``, ``set_speed(f)`` and a ``finished`` signal."""
        self._pacer = pacer
        pacer.set_speed(self._speed)
        pacer.finished.connect(self._on_pacer_finished)

    def can_run(self, phase: str | None = None) -> bool:
        """True when ``phase`` (default: the next one) may be started now."""
        if self._busy or self.next_phase is None:
            return False
        return phase is None or phase == self.next_phase

    # -- commands -------------------------------------------------------------------
    def run_phase(self, phase: str | None = None) -> bool:
        """Run exactly one phase; ``phase`` must be the next one. False when refused."""
        if not self.can_run(phase) or self.session is None:
            return False
        self._start_sequence([self._session.next_phase], sequence=False)
        return True

    def run_iteration(self) -> bool:
        """Run the rest of the current iteration (a whole one between iterations)."""
        if not self.can_run() or self.session is None:
            return False
        start = PHASES.index(self._session.next_phase)
        self._start_sequence(list(PHASES[start:]), sequence=True)
        return True

    def play(self) -> bool:
        """Run iterations continuously until :meth:`pause`."""
        if self._playing:
            return True
        if self._busy or self.session is None:
            return False
        self._set_playing(True)
        start = PHASES.index(self._session.next_phase)
        self._start_sequence(list(PHASES[start:]), sequence=True)
        return True

    def pause(self) -> None:
        """Stop playing; the running phase finishes, nothing new starts."""
        self._set_playing(False)
        self._stop_sequence()
        self._update_busy()

    def set_playing(self, playing: bool) -> None:
        self.play() if playing else self.pause()

    def abort_iteration(self) -> bool:
        """Drop a half-run iteration (after an error): zero_grad is next again."""
        if self._busy or self._session is None:
            return False
        self._session.abort_iteration()
        self.stateChanged.emit()
        return True

    def reset(self) -> bool:
        """Back to the starting weights (history cleared), in the worker thread."""
        if self._busy or self.session is None:
            return False
        session = self._session
        self._busy = True
        self.busyChanged.emit(True)

        def done(_result):
            self._task = None
            if session is self._session:
                self._reported_nonfinite = None
                self.resetDone.emit()
            self._update_busy()
            self.stateChanged.emit()

        def failed(exc, _details):
            self._task = None
            self._report_failure(f"Cannot reset: {exc}")

        self._task = run_task(lambda task: session.reset(), on_done=done, on_error=failed)
        return True

    # -- the queue ----------------------------------------------------------------------
    def _start_sequence(self, phases: list[str], *, sequence: bool) -> None:
        self._queue = phases
        self._sequence = sequence
        self.last_error = None
        self._update_busy(force=True)
        self._run_next()

    def _stop_sequence(self) -> None:
        self._queue = []
        self._sequence = False
        self._gap.stop()
        self._waiting_for_pacer = False

    def _run_next(self) -> None:
        self._waiting_for_pacer = False
        if self._task is not None:
            return  # one phase at a time; the finished one calls back here
        if not self._queue and self._playing:
            self._queue = list(PHASES)  # the next iteration
        if not self._queue:
            self._stop_sequence()
            self._update_busy()
            return
        session = self._session
        phase = self._queue.pop(0)
        if session is None or session.next_phase != phase:
            self._stop_sequence()  # e.g. the session was replaced
            self._update_busy()
            return
        self._running_phase = phase
        self.phaseStarted.emit(phase, session.iteration)
        self._task = run_task(
            lambda task: session.advance(),
            on_done=lambda result: self._phase_done(session, result),
            on_error=lambda exc, details: self._phase_failed(session, exc),
        )

    def _phase_done(self, session, result) -> None:
        self._task = None
        self._running_phase = None
        if session is not self._session:
            self._run_next()  # a stale result: whatever was asked of the new session goes on
            return
        self.phaseFinished.emit(result)
        if result.phase == PHASES[-1]:
            self.iterationFinished.emit(result.record)
        if result.nonfinite:
            first = session.first_nonfinite
            if first is not None and first != self._reported_nonfinite:
                # Stop where NaN/Inf appeared so the class can look at it; a
                # later play goes on (the values stay NaN, the banner says so).
                self._reported_nonfinite = first
                self._set_playing(False)
                self._stop_sequence()
            self.nonfiniteFound.emit(first, result)
        self.stateChanged.emit()
        if not self._queue and not self._playing:
            self._stop_sequence()
            self._update_busy()
            return
        self._continue_paced()

    def _phase_failed(self, session, exc: BaseException) -> None:
        self._task = None
        self._running_phase = None
        if session is not self._session:
            self._run_next()
            return
        self._report_failure(str(exc))

    def _report_failure(self, message: str) -> None:
        self.last_error = message
        self._set_playing(False)
        self._stop_sequence()
        self._update_busy()
        self.failed.emit(message)
        self.stateChanged.emit()

    def _continue_paced(self) -> None:
        if self._pacer is not None and self._pacer.animating:
            self._waiting_for_pacer = True  # _on_pacer_finished goes on
            return
        self._gap.start(max(0, round(PHASE_GAP_MS / self._speed)))

    def _on_pacer_finished(self) -> None:
        if self._waiting_for_pacer:
            self._waiting_for_pacer = False
            self._gap.start(max(0, round(PHASE_GAP_MS / self._speed)))

    # -- busy / playing ------------------------------------------------------------------
    def _update_busy(self, force: bool = False) -> None:
        busy = force or self._task is not None or bool(self._queue) or self._waiting_for_pacer or self._gap.isActive()
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)
            self.stateChanged.emit()

    def _set_playing(self, playing: bool) -> None:
        if playing != self._playing:
            self._playing = playing
            self.playingChanged.emit(playing)
            self.stateChanged.emit()
