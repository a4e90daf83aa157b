"""gradviz.core: the model of everything gradviz shows. Pure Python + torch + networkx.

Never import Qt (PySide6, pyqtgraph) from here: the core must be usable from a
script, a notebook or the CLI without a display.
"""
