"""The offer to stop users' code that runs too long: "net.py is still running — Stop".

Users' model code runs on threads of its own (``run_task(..., user_code=...)``
in :mod:`gradviz.ui.worker`). When one of them is still running
``offer_ms`` after it started, :class:`StopOffer` (objectName
``userCodeStop``, in the status bar) says so and offers Stop. Stop raises
:class:`~gradviz.ui.worker.Interrupted` in that thread: a pure-Python loop ends
at once. Code stuck inside C (a sleep, a lock, one enormous kernel) cannot be
interrupted from outside; after ``grace_ms`` the offer says so and that quitting
ends it (quitting always exits, see ``gradviz.app``).
"""
from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from gradviz.ui.worker import Task, user_code_events

STOP_OFFER_MS = 3000  # users' code running longer than this gets a Stop button
STOP_GRACE_MS = 2000  # after Stop: how long until "cannot be stopped" is said


class StopOffer(QFrame):
    """objectName ``userCodeStop``: a label (``userCodeStopLabel``) and Stop (``userCodeStopButton``)."""

    def __init__(self, parent: QWidget | None = None, *, offer_ms: int = STOP_OFFER_MS, grace_ms: int = STOP_GRACE_MS):
        super().__init__(parent)
        self.setObjectName("userCodeStop")
        self.offer_ms = offer_ms
        self.grace_ms = grace_ms
        self.tasks: list[Task] = []  # running user-code tasks, oldest first
        self._stopping: set[Task] = set()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self.label = QLabel()
        self.label.setObjectName("userCodeStopLabel")
        self.button = QPushButton("Stop")
        self.button.setObjectName("userCodeStopButton")
        self.button.setToolTip("Interrupt your model's code (it gets an Interrupted exception)")
        self.button.clicked.connect(self.stop)
        layout.addWidget(self.label)
        layout.addWidget(self.button)
        self.hide()
        user_code_events.started.connect(self.watch)

    # -- watching -------------------------------------------------------------------------------
    @Slot(object)
    def watch(self, task: Task) -> None:
        """Offer Stop if ``task`` still runs after ``offer_ms`` (GUI thread)."""
        if task.finished.is_set():
            return
        self.tasks.append(task)
        task.signals.released.connect(self._refresh)
        QTimer.singleShot(self.offer_ms, self, self._refresh)

    def _due(self) -> list[Task]:
        return [t for t in self.tasks if t.started_at is not None and not t.finished.is_set()]

    @Slot()
    def _refresh(self) -> None:
        self.tasks = [t for t in self.tasks if not t.finished.is_set()]
        self._stopping &= set(self.tasks)
        now = time.monotonic()
        due = [t for t in self._due() if (now - t.started_at) * 1000 >= self.offer_ms]
        if not due:
            self.hide()
            return
        stuck = [t for t in due if t in self._stopping]
        if stuck and len(stuck) == len(due):
            self.label.setText(
                f"{_what(stuck[0])} could not be stopped: it is stuck outside Python (in C code, a sleep or a lock). "
                "Quit gradviz to end it."
            )
            self.button.setEnabled(False)
        else:
            self.label.setText(f"{_what(due[0])} is still running —")
            self.button.setEnabled(True)
        self.show()

    # -- stopping ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Interrupt every user-code task that runs now."""
        for task in self._due():
            task.interrupt()
            self._stopping.add(task)
        self.label.setText("Stopping…")
        self.button.setEnabled(False)
        QTimer.singleShot(self.grace_ms, self, self._refresh)


def _what(task: Task) -> str:
    text = task.description or "your model's code"
    return text[:1].upper() + text[1:]


def install_stop_offer(window, **options) -> StopOffer:
    """The window's stop offer, in its status bar (made once)."""
    offer = getattr(window, "stop_offer", None)
    if offer is None:
        offer = window.stop_offer = StopOffer(window, **options)
        window.statusBar().addPermanentWidget(offer)
        offer.hide()
    return offer
