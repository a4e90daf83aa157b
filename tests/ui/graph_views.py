"""A GraphView as the graph-view tests use it: shown, exposed, with its animations off
(the tests wait on the view's states, never on an animation's time)."""
from gradviz.ui.graph_view import GraphView


def shown_graph_view(qtbot, size: tuple[int, int] = (1200, 800), *, animations: bool = False) -> GraphView:
    """``animations=True``: as a user has it (tests of what the animations leave behind)."""
    widget = GraphView()
    widget.animations_enabled = animations
    widget.canvas.animations_enabled = animations
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget
