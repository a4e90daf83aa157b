"""Keeps a core ``TrainingSession`` in step with the document.

``session`` is None while there is no valid network (or the session module is
not installed); otherwise a session built from the current spec and training
settings. Edits mark it stale and a short debounce rebuilds it, so typing
256 into a field builds one session, not three; reading ``session`` while stale
rebuilds immediately, so callers never see an outdated one.

Settings that do not invalidate what was trained (:data:`KEPT_SETTINGS`: the
learning rate) are applied to the existing session instead, so its history
stays; any other change (layers, input shape, loss, optimizer, device, data)
builds a new session from the starting weights.

torch loads on the first build: the app warms it up in the background first.
"""
from __future__ import annotations


from PySide6.QtCore import QObject, QTimer, Signal

from gradviz.ui.builder.document import NetworkDocument

DEBOUNCE_MS = 400
# Settings a session takes while it keeps its weights and history (setter per key).
KEPT_SETTINGS = {"lr": "set_lr"}


def training_session_class():
    """``gradviz.TrainingSession``: imported when first needed, since it imports torch
    (the window shows before that; ``MainWindow.warm_up`` calls this off the GUI thread)."""
    from gradviz.core.session import TrainingSession

    return TrainingSession


class SessionLink(QObject):
    sessionChanged = Signal(object)  # the new session, or None

    def __init__(self, document: NetworkDocument, parent: QObject | None = None, debounce_ms: int = DEBOUNCE_MS):
        super().__init__(parent)
        self.document = document
        self._session = None
        self._built_from = None  # what _session was built from, without KEPT_SETTINGS
        self._stale = True
        self.problem = "No network yet"  # why session is None, for the status bar
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self.rebuild)
        document.changed.connect(self._mark_stale)

    @property
    def session(self):
        if self._stale:
            self.rebuild()
        return self._session

    def _mark_stale(self) -> None:
        self._stale = True
        self.timer.start()

    def rebuild(self) -> None:
        self.timer.stop()
        self._stale = False
        previous = self._session
        if previous is not None and self._build_key() == self._built_from and self._apply_kept_settings(previous):
            return
        self._session, self.problem = self._build()
        self._built_from = self._build_key() if self._session is not None else None
        if self._session is not previous:
            self.sessionChanged.emit(self._session)

    def _build_key(self):
        settings = {k: v for k, v in self.document.settings.items() if k not in KEPT_SETTINGS}
        return self.document.spec.to_dict(), settings

    def _apply_kept_settings(self, session) -> bool:
        """Give ``session`` the document's kept settings; False when one does not take (then rebuild)."""
        try:
            for key, setter in KEPT_SETTINGS.items():
                value = self.document.settings[key]
                current = getattr(session, key)
                if value != current:
                    getattr(session, setter)(float(value))
        except (KeyError, ValueError, TypeError, AttributeError):
            return False
        return True

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
        settings = document.settings
        kwargs = dict(loss=settings["loss"], optimizer=settings["optimizer"], lr=float(settings["lr"]), device=settings["device"])
        if settings.get("data") is not None:
            kwargs["data"] = settings["data"]
        try:
            return factory(document.spec.copy(), **kwargs), ""
        except Exception as exc:  # noqa: BLE001 - e.g. a device that is not available: say so, keep running
            return None, f"Cannot set up training: {type(exc).__name__}: {exc}"
