"""The main window as the parts that extend it see it.

The training UI (``gradviz.ui.training.install``), the model opener
(``gradviz.ui.user_model.opener``) and the Open Model dialog add actions, menus and docks
to the window and follow its session. This Protocol is everything they may use; the
window (:class:`gradviz.ui.main_window.MainWindow`) provides it, and a test checks
that it does. Anything not listed here is the window's own business.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:  # typing only: importing the widgets here would cost start-up time
    from PySide6.QtCore import SignalInstance
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QDockWidget, QLabel, QMenu, QProgressBar, QStackedWidget, QToolBar, QWidget

    from gradviz.ui.active_session import ActiveSession
    from gradviz.ui.builder.document import NetworkDocument
    from gradviz.ui.builder.session_link import SessionLink
    from gradviz.ui.graph_view import GraphView
    from gradviz.ui.training.install import TrainingUI

__all__ = ["WindowHost", "HOST_MEMBERS"]


@runtime_checkable
class WindowHost(Protocol):
    # -- what the window holds -------------------------------------------------------------------
    actions: dict[str, "QAction"]          # by objectName, e.g. "actionShowGraph"
    menus: dict[str, "QMenu"]              # "file", "view", "run", "panels", …
    panels: dict[str, "QDockWidget"]       # by objectName, every dock made with add_panel
    document: "NetworkDocument"            # the builder's network
    session_link: "SessionLink"            # the builder network's training session, or why there is none
    active_session: "ActiveSession"        # the session every panel shows (builder or opened model)
    central: "QStackedWidget"              # the graph view and its placeholder
    progress: "QProgressBar"               # the status bar's busy indicator
    network_status: "QLabel"               # the status bar's "valid / invalid" note
    palette_dock: "QDockWidget"
    builder_dock: "QDockWidget"
    summary_dock: "QDockWidget"
    training_toolbar: "QToolBar"
    training_ui: "TrainingUI"              # step-through training (installed before the panels that follow it)

    # -- signals ---------------------------------------------------------------------------------
    sessionChanged: "SignalInstance"          # (session or None)
    networkValidityChanged: "SignalInstance"  # (valid, reason)
    graphViewCreated: "SignalInstance"        # (GraphView), once, when it is first made
    stageModeChanged: "SignalInstance"        # (on): see stage_mode

    # -- what the window does --------------------------------------------------------------------
    @property
    def session(self): ...

    @property
    def graph_view(self) -> "GraphView": ...  # made on first use

    @property
    def has_graph_view(self) -> bool: ...  # whether it was made yet (asking does not make it)

    @property
    def lecture_mode(self) -> bool: ...  # F11's presenter layout is on

    @property
    def stage_mode(self) -> bool: ...  # lecture mode on a short screen, builder aside: only what a class reads

    def add_panel(self, widget: "QWidget", title: str, object_name: str, area=..., *,
                  hide_in_lecture: bool = False) -> "QDockWidget": ...

    def add_default_layout_step(self, step: Callable[[], None]) -> None: ...

    def add_message_bar(self, bar: "QWidget") -> None: ...

    def add_lecture_layout_step(self, step: Callable[[], None]) -> None: ...

    def show_message(self, text: str, timeout_ms: int = 6000) -> None: ...

    def validity(self) -> tuple[bool, str]: ...

    def update_title(self) -> None: ...

    def update_validity(self) -> None: ...


# The names above, for the test that the window really has every one of them.
HOST_MEMBERS = tuple(sorted(
    {*WindowHost.__annotations__}
    | {name for name, value in vars(WindowHost).items() if callable(value) or isinstance(value, property)}
    - {name for name in vars(Protocol)} - {"__init__", "__subclasshook__", "_is_protocol", "__class_getitem__"}
))
