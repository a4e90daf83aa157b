"""After a forward pass (or the loss) raised: the graph up to the op that failed.

A debugger's "why did my forward crash?": the session re-runs forward + loss on the
same batch with recording (:meth:`gradviz.TrainingSession.crash_report`, off the GUI
thread), and the graph view shows what was built, the failing op red and selected, its
error and source line in the details panel. The error message itself is shown by the
caller as before; this adds the picture.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from gradviz.ui.worker import run_task

if TYPE_CHECKING:
    from gradviz.ui.host import WindowHost

__all__ = ["show_crash", "show_partial_graph"]


def show_crash(window: "WindowHost", crash) -> None:
    """Show ``crash`` (a :class:`~gradviz.core.partial_graph.ForwardCrash`): the graph up
    to the failed op, that op red and selected, its error in the details panel."""
    view = window.graph_view
    view.set_graph_with_problem(crash.graph, crash.failed_key)
    window.central.setCurrentWidget(view)
    window.show_message(f"The forward pass failed: {crash.describe()}", 0)


def show_partial_graph(window: "WindowHost", session) -> None:
    """Build ``session``'s graph up to its failing op and show it (nothing if it runs now)."""

    def work(_task):
        return session.crash_report()

    def done(crash) -> None:
        if crash is not None and session is window.active_session.session:  # else: runs now, or another network
            show_crash(window, crash)

    run_task(work, on_done=done, on_error=lambda exc, details: None)  # a diagnosis never adds an error
