"""Numbers mode, micrograd's ``draw_dot``: each node shows its value and gradient on the node.

For a network whose tensors are all tiny (presets ``neuron`` and ``tiny_mlp``,
or any model with at most :data:`NUMBERS_MAX_ELEMENTS` numbers per parameter,
input and output), every node of the graph gets a tag with

    data 0.881
    grad −0.5

``data`` is the node's forward value, ``grad`` the gradient it received,
∂L/∂(that value). The values are known from the forward phase on: each node
shows its ``data`` as the forward build-up reveals it (node by node with
Step node, F6); the gradients fill in node by node as the backward replay
reaches each node. ``View → Numbers on nodes``
(``actionNumbersMode``) turns the tags off and on.

The lecturer types the input and the target (:class:`NumbersPanel`, two
:class:`ValidatedField`): a valid value is used from the next iteration on
(``GivenData``); invalid text stays, marked, with its reason, and the values in
force stay in force.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from gradviz.core.text_values import parse_float_list
from gradviz.ui.validated_field import ValidatedField

# gradviz.core.data, explain and node_grads import torch: imported where used, so
# the window shows before torch has loaded.

# A tensor of up to this many numbers fits on a node's tag (tiny_mlp's 3×2 weight).
NUMBERS_MAX_ELEMENTS = 6
# Significant digits on the tags: readable from the back of a lecture hall.
TAG_DIGITS = 3
UNKNOWN = "—"
# Tensors of up to this many numbers show data and grad side by side in one row
# (short boxes: the graph fits a lecture screen bigger); bigger ones in two rows.
ONE_ROW_ELEMENTS = 2
# A parameter's third line: its value after the optimizer step ("—" until then). Its
# "data" is the value the forward used; after the step, with no third line, a learner
# read the old weight as the current one.
AFTER_STEP = "after step"


def is_tiny(session) -> bool:
    """True when every parameter, the input and the output have at most NUMBERS_MAX_ELEMENTS numbers."""
    if session is None or getattr(session, "record_level", "full") != "full":
        return False
    try:
        shapes = [tuple(p.shape) for p in session.model.parameters()]
        shapes += [tuple(session.input_shape), tuple(session.output_shape)]
    except (AttributeError, TypeError):
        return False
    return bool(shapes) and all(math.prod(shape) <= NUMBERS_MAX_ELEMENTS for shape in shapes)


# Numbers stay within a fixed width whatever their size (``0.0123``, ``−1.2e−5``,
# ``1e−12``), so the room a tag gets from its tensor's size holds every value it
# can show. These samples are the widest of each form; the room uses the widest.
WIDEST_SAMPLES = (-0.0888888, -0.00888888, -88.8888, -888.888, -8.88888e-8, -8.88888e-38, -8.88888e8, -8.88888e37,
                  float("-inf"), float("nan"))


def tag_number(value: float, digits: int = TAG_DIGITS) -> str:
    """``value`` with ``digits`` significant digits (one fewer from 0.001 to 0.01,
    ``0.0053``), at most ``digits`` + 4 characters: plain from 0.001 up to where
    it would need an exponent, else ``1.2e−5``."""
    from gradviz.core.explain import MINUS

    if math.isnan(value) or math.isinf(value) or value == 0:
        return ("0" if value == 0 else str(value)).replace("-", MINUS)
    plain = f"{value:.{digits}g}"
    if abs(value) >= 0.01 and "e" not in plain:
        return plain.replace("-", MINUS)
    if 0.001 <= abs(value) < 0.01:  # 0.0053: as wide as 0.0123
        return f"{value:.{digits + 1}f}".replace("-", MINUS)
    mantissa, _, exponent = f"{value:.{max(digits - 2, 0)}e}".partition("e")
    if abs(int(exponent)) >= 10:  # one more character in the exponent, one fewer in the mantissa
        mantissa, _, exponent = f"{value:.0e}".partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}".replace("-", MINUS)


def _digits_for(count: int) -> int:
    # a row of several numbers gets one digit less, so its tag stays about as wide as its node
    return TAG_DIGITS if count <= 2 else TAG_DIGITS - 1


def _numbers_text(texts: list[str]) -> str:
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def tag_text(value) -> str:
    """A kept tensor on a tag: ``0.881``, ``[0.1, −0.2, 0.3]`` (row after row), ``—`` when unknown."""
    from gradviz.core.node_grads import TensorSummary

    if value is None or isinstance(value, TensorSummary) or value.numel() > NUMBERS_MAX_ELEMENTS:
        return UNKNOWN
    numbers = [float(v) for v in value.detach().reshape(-1).tolist()]
    digits = _digits_for(len(numbers))
    return _numbers_text([tag_number(v, digits) for v in numbers])


def widest_tag_text(count: int | None, measure) -> str:
    """The widest text :func:`tag_text` can give for a tensor of ``count`` numbers
    (None: unknown, room for one), by ``measure(text)`` (its width on screen)."""
    if count is not None and count > NUMBERS_MAX_ELEMENTS:
        return UNKNOWN
    count = 1 if count is None else max(count, 1)
    digits = _digits_for(count)
    widest = max((tag_number(v, digits) for v in WIDEST_SAMPLES), key=measure)
    return _numbers_text([widest] * count)


def _element_count(attrs) -> int | None:
    """How many numbers a node's value has: from its ``shape`` (parameters,
    inputs, outputs) or ``output_shape`` (ops of a preview graph); None: unknown."""
    shape = attrs.get("shape") if attrs.get("kind") != "op" else attrs.get("output_shape")
    return None if shape is None else math.prod(tuple(shape))


def tag_room(graph, measure) -> dict[str, tuple[str, ...]]:
    """``{key: (widest data line, widest grad line)}`` for every node of ``graph``:
    the room numbers mode plans for the tags before any value exists (see
    ``GraphView.set_node_badge_room``). A value and its gradient have the same
    shape, so one count sizes both lines; up to ONE_ROW_ELEMENTS numbers they
    share one row (``data 0.881 | grad −0.293``), else one row each. A parameter
    has a row more: its value after the step (:data:`AFTER_STEP`). Tags only hold tensors of at most
    NUMBERS_MAX_ELEMENTS numbers; bigger ones get room for ``—``."""
    from gradviz.ui.graph_view.tags import TAG_JOIN

    room = {}
    for key, attrs in graph.nodes(data=True):
        count = _element_count(attrs)
        text = widest_tag_text(count, measure)
        if count is not None and count <= ONE_ROW_ELEMENTS:  # draw_dot's record: data | grad
            room[key] = (f"data {text}{TAG_JOIN}grad {text}",)
        else:
            room[key] = (f"data {text}", f"grad {text}")
        if attrs.get("kind") == "param":
            room[key] += (f"{AFTER_STEP} {text}",)
    return room


def node_tags(record, visited=None, *, graph=None, creation_order=None, shown=None) -> dict[str, list[str]]:
    """``{key: ["data …", "grad …"]}`` for the nodes of ``record``'s graph.

    ``visited``: the keys backward has reached so far (the replay): only they
    show their gradient; None: every node backward ran. ``graph`` (with its op
    keys in ``creation_order``): the graph on screen, used while ``record`` has
    none of its own (after the forward, before the loss). ``shown``: only these
    keys get a tag (the nodes the forward build-up has revealed so far).
    """
    from gradviz.core.explain import node_numbers
    from gradviz.core.node_grads import forward_node_values

    own = getattr(record, "graph", None) if record is not None else None
    graph = own if own is not None else graph
    if record is None or graph is None:
        return {}
    values = forward_node_values(record, graph, creation_order)
    gradients = getattr(record, "node_gradients", None) or {}
    grads = {}
    if gradients:
        for key, numbers in node_numbers(record).items():
            if numbers.data is not None:
                values[key] = numbers.data
            if visited is None or key in visited:
                grads[key] = numbers.grad
    tags = {}
    for key in graph.nodes:
        if shown is not None and key not in shown:
            continue
        data = values.get(key)
        grad = grads.get(key)
        if data is None and grad is None:
            continue
        lines = [f"data {tag_text(data)}", f"grad {tag_text(grad)}"]
        attrs = graph.nodes[key]
        if attrs.get("kind") == "param":
            after = (getattr(record, "params_after", None) or {}).get(attrs.get("name"))
            lines.append(f"{AFTER_STEP} {tag_text(after)}")
        tags[key] = lines
    return tags


class NumbersPanel(QWidget):
    """The input and target a lecturer types (objectName ``numbersPanel``).

    ``valuesCommitted(inputs, targets)``: both fields hold valid values and one
    was committed.
    """

    valuesCommitted = Signal(tuple, tuple)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("numbersPanel")
        self._counts = (2, 1)
        self.input_field = ValidatedField("numbersInputField", self._parse_input, (2.0, 0.0))
        self.input_field.setToolTip("The input x the next iteration uses, e.g. 2, 0 (Enter applies)")
        self.target_field = ValidatedField("numbersTargetField", self._parse_target, (1.0,))
        self.target_field.setToolTip("The target the loss compares the output with (Enter applies)")
        self.note = QLabel("Used from the next iteration on")
        self.note.setObjectName("numbersPanelNote")
        self.note.setWordWrap(True)
        form = QFormLayout()
        form.addRow("input x", self.input_field)
        form.addRow("", self.input_field.problem_label)
        form.addRow("target", self.target_field)
        form.addRow("", self.target_field.problem_label)
        title = QLabel("Numbers mode: input and target")
        title.setStyleSheet("font-weight: 700;")
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 6, 4, 4)
        column.addWidget(title)
        column.addLayout(form)
        column.addWidget(self.note)
        for field in (self.input_field, self.target_field):
            field.valueCommitted.connect(self._committed)

    def _parse_input(self, text: str):
        return parse_float_list(text, "input x", self._counts[0])

    def _parse_target(self, text: str):
        return parse_float_list(text, "target", self._counts[1])

    def set_values(self, inputs, targets) -> None:
        """Show the values in force (their counts become the counts the fields accept)."""
        self._counts = (len(inputs), len(targets))
        self.input_field.set_value(tuple(float(v) for v in inputs))
        self.target_field.set_value(tuple(float(v) for v in targets))

    def _committed(self, _value) -> None:
        if not self.input_field.problem and not self.target_field.problem:
            self.valuesCommitted.emit(tuple(self.input_field.value()), tuple(self.target_field.value()))


class NumbersMode(QObject):
    """Keeps the graph's tags and the typed values in step with the session and the replay.

    ``view_source()`` returns the GraphView (or None), ``animator`` is the
    training's GraphAnimator. :meth:`refresh` redraws the tags from what the
    animator shows; ``active`` says whether tags are shown for this session.
    """

    def __init__(self, animator, view_source, show_message=None, parent: QObject | None = None):
        super().__init__(parent)
        self.animator = animator
        self._view_source = view_source
        self._show_message = show_message or (lambda text: None)
        self.session = None
        self.enabled = True
        self.panel = NumbersPanel()
        self.panel.hide()
        self.panel.valuesCommitted.connect(self.apply_values)
        self._typed: tuple | None = None  # (inputs, targets) the lecturer typed, kept across rebuilt sessions
        animator.nodeActivated.connect(lambda _phase, _key: self.refresh())
        animator.finished.connect(self.refresh)
        animator.stateShown.connect(self.refresh)  # e.g. the forward's values once the graph to show them on came

    @property
    def active(self) -> bool:
        return self.enabled and is_tiny(self.session)

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        self.refresh()

    def set_session(self, session) -> None:
        self.session = session
        tiny = is_tiny(session)
        self.panel.setVisible(tiny)
        if tiny:
            self._show_values_in_force(session)
        self.refresh()

    def _show_values_in_force(self, session) -> None:
        from gradviz.core.data import VALUES, DataError, GivenData

        if self._typed is not None and self._fits(session, *self._typed):
            self._use(session, *self._typed)
        data = session.data
        if isinstance(data, GivenData) and data.targets is not None:
            inputs, targets = data.inputs, data.targets
        else:
            try:
                inputs, targets = data.batch(session.input_shape, session.output_shape, VALUES)
            except (DataError, ValueError, TypeError, RuntimeError):
                return
        self.panel.set_values(inputs.reshape(-1).tolist(), targets.reshape(-1).tolist())

    @staticmethod
    def _fits(session, inputs, targets) -> bool:
        return (len(inputs) == math.prod(session.input_shape) and len(targets) == math.prod(session.output_shape))

    def _use(self, session, inputs, targets) -> None:
        from gradviz.core.data import GivenData

        session.data = GivenData(list(inputs), list(targets), seed=getattr(session, "seed", 0))

    def apply_values(self, inputs: tuple, targets: tuple) -> None:
        """Use ``inputs`` and ``targets`` from the next iteration on."""
        self._typed = (tuple(inputs), tuple(targets))
        session = self.session
        if session is None or not self._fits(session, inputs, targets):
            return
        from gradviz.core.explain import MINUS, format_number

        self._use(session, inputs, targets)
        x = ", ".join(format_number(v) for v in inputs)
        t = ", ".join(format_number(v) for v in targets)
        when = "from the next iteration on" if getattr(session, "in_iteration", False) else "from the next forward pass on"
        self._show_message(f"Input ({x}), target ({t}): used {when}".replace("-", MINUS))

    def refresh(self) -> None:
        view = self._view_source()
        if view is None:
            return
        # the boxes get room for the tags as soon as numbers mode is on, before
        # any value exists, so nodes keep their place while the numbers fill in
        view.set_node_badge_room(tag_room if self.active else None)
        if not self.active:
            if view.node_badges():
                view.set_node_badges({})
            return
        animator = self.animator
        record = animator.record
        phase = animator.running_phase
        visited = set(animator.visited) if phase == "backward" else None
        shown = set(animator.revealed) if phase == "forward" else None  # the build-up so far
        view.set_node_badges(node_tags(record, visited, graph=animator.graph, creation_order=animator.graph_order,
                                       shown=shown))
