"""Keeps a core ``TrainingSession`` in step with the document.

``session`` is None while there is no valid network (or the session module is
not installed); otherwise a session built from the current spec and training
settings. Edits mark it stale and a short debounce rebuilds it, so several
quick edits build one session; reading ``session`` while stale rebuilds
immediately, so callers never see an outdated one. A change of a setting the
running session can take as it is (``LIVE_SETTINGS``: the learning rate) is
handed to that session instead: no rebuild, and its training history stays.

torch loads on the first build: the app warms it up in the background first.
"""
from __future__ import annotations

import importlib
import json

from PySide6.QtCore import QObject, QTimer, Signal

from gradviz.ui.builder.document import NetworkDocument

DEBOUNCE_MS = 400
# Settings a built session takes from its next iteration on (TrainingSession.set_lr):
# changing one keeps the session and its history.
LIVE_SETTINGS = {"lr": lambda session, value: session.set_lr(float(value))}


def training_session_class():
    """``gradviz.TrainingSession``, or None while ``gradviz.core.session`` does not exist."""
    try:
        module = importlib.import_module("gradviz.core.session")
    except ModuleNotFoundError as exc:
        if exc.name in ("gradviz.core.session",):
            return None
        raise
    return getattr(module, "TrainingSession", None)


class SessionLink(QObject):
    sessionChanged = Signal(object)  # the new session, or None

    def __init__(self, document: NetworkDocument, parent: QObject | None = None, debounce_ms: int = DEBOUNCE_MS):
        super().__init__(parent)
        self.document = document
        self._session = None
        self._stale = True
        self._built_from: str | None = None  # the document (less the live settings) the session was built from
        self.problem = "No network yet"  # why session is None, for the status bar
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self.rebuild)
        document.changed.connect(self._on_document_changed)

    @property
    def session(self):
        if self._stale:
            self.rebuild()
        return self._session

    def _on_document_changed(self) -> None:
        if self._session is not None and not self._stale and self._built_from == self._rebuild_key():
            for key, apply in LIVE_SETTINGS.items():
                if key in self.document.settings:
                    apply(self._session, self.document.settings[key])
            return
        self._mark_stale()

    def _rebuild_key(self) -> str:
        """What a session is built from, less what it takes live."""
        settings = {k: v for k, v in self.document.settings.items() if k not in LIVE_SETTINGS}
        return json.dumps({"spec": self.document.spec.to_dict(), "settings": settings}, sort_keys=True)

    def _mark_stale(self) -> None:
        self._stale = True
        self.timer.start()

    def rebuild(self) -> None:
        self.timer.stop()
        self._stale = False
        previous = self._session
        self._built_from = self._rebuild_key()
        self._session, self.problem = self._build()
        if self._session is not previous:
            self.sessionChanged.emit(self._session)

    def _build(self):
        document = self.document
        if not document.spec.layers:
            return None, "Add layers (or pick a preset) first"
        if not document.analysis.valid:
            return None, f"The network is invalid: {document.analysis.error}"
        try:
            factory = training_session_class()
        except Exception as exc:  # noqa: BLE001 - a broken session module must not break the builder
            return None, f"Training sessions failed to load: {type(exc).__name__}: {exc}"
        if factory is None:
            return None, "Training sessions are not available in this version"
        settings = document.settings
        kwargs = dict(loss=settings["loss"], optimizer=settings["optimizer"], lr=float(settings["lr"]), device=settings["device"])
        if settings.get("data") is not None:
            kwargs["data"] = settings["data"]
        try:
            return factory(document.spec.copy(), **kwargs), ""
        except Exception as exc:  # noqa: BLE001 - e.g. a device that is not available: say so, keep running
            return None, f"Cannot set up training: {type(exc).__name__}: {exc}"
