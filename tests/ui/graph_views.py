"""A GraphView as the graph-view tests use it: shown, exposed, with its animations off
(the tests wait on the view's states, never on an animation's time)."""
from gradviz.ui.graph_view import GraphView


def shown_graph_view(qtbot, size: tuple[int, int] = (1200, 800)) -> GraphView:
    widget = GraphView()
    widget.animations_enabled = False
    widget.canvas.animations_enabled = False
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget
