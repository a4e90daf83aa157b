"""The autograd graph as an interactive diagram: :class:`GraphView`.

Modules: ``view`` (the widget and its public API), ``canvas`` (zoom, pan,
clicks), ``items`` (painting with level of detail), ``model`` (geometry and
visual state as numpy arrays), ``state`` (highlights kept in original node
keys), ``layout_job`` (collapse + box sizes + layout, off the GUI thread),
``transition`` (collapse/expand morphs), ``details``, ``minimap``,
``legend``, ``toolbar``, ``overlays``, ``search``, ``style``, ``export`` and
``animation`` (Export animation…: GIF and PNG frames of an iteration).
The collapse and folding logic is Qt-free: :mod:`gradviz.core.collapse`; so is
which frames an animation has: :mod:`gradviz.core.animation`.
"""
from .view import GraphView

__all__ = ["GraphView"]
