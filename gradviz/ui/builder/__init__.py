"""The network builder: palette, layer stack of editable cards, controls, undo,
project files and autosave. ``BuilderPanel`` is the stack with its header; the
main window assembles the rest."""
from gradviz.ui.builder.document import NetworkDocument
from gradviz.ui.builder.layer_stack import LayerStack
from gradviz.ui.builder.palette import LayerPalette
from gradviz.ui.builder.panel import BuilderPanel

__all__ = ["BuilderPanel", "LayerPalette", "LayerStack", "NetworkDocument"]
