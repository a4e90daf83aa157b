"""Replay runs recorded with :func:`gradviz.watch`, live while they are written.

Modules: ``timeline`` (which iteration is selected, or Live; Qt-free),
``flow`` (layer gradient norms by depth; Qt-free), ``graph_marks`` (what the
graph shows for a recorded iteration; Qt-free), ``ranks`` (do a distributed
run's ranks agree; Qt-free), ``file_watch`` (notice that
the run file grew), ``flow_plot`` (the gradient-flow chart), ``viewer`` (the
:class:`RunViewer` widget), ``window`` (:class:`RunWindow`, File → Open Run…)
and ``app`` (``gradviz view RUN``).
"""


def install_open_run(window):
    """Add File → Open Run… (Ctrl+Shift+R) to the main window; see ``window``."""
    from gradviz.ui.run_viewer.window import install_open_run as install

    return install(window)


__all__ = ["install_open_run"]
