"""Step-through training in the GUI: one iteration, slowed down so a class can watch it.

Modules: ``controller`` (runs the session's phases in the worker thread),
``phase_indicator`` (the tutorial's five lines, the current one highlighted),
``animator`` (plays each phase on the graph view; what it shows is computed in
``graph_steps``), ``gradient_panel`` (weights, gradient, update as heatmaps;
layouts in ``tensor_images``), ``norms`` (gradient norms, loss, histograms),
``history`` (time travel), ``banner`` (NaN/Inf and error messages) and
``install`` (puts it all into the main window: ``install_training_ui``).
"""


def install_training_ui(window):
    """Add the training actions, docks and controller to ``window``; see ``install``."""
    from gradviz.ui.training.install import install_training_ui as install

    return install(window)


__all__ = ["install_training_ui"]
