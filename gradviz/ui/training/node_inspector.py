"""The node inspector: what one autograd node received, computed and sent on.

For the active node of the backward replay (or a node clicked after backward)
it shows, from the record's per-node gradients (:mod:`gradviz.core.explain`):

* the node's forward value;
* "gradient in": ∂L/∂(its output), drawn by size (:class:`TensorView`):
  numbers up to :data:`NUMBERS_MAX` elements, a heatmap up to
  :data:`HEATMAP_MAX` elements, else a histogram with statistics;
* the rule in words and formulas, and the rule with the node's real numbers;
* "gradient out": ∂L/∂(each input), each with a link to the node it went to
  (``nodeRequested(key)``: the window selects and centres that node);
* for ``AccumulateGrad``: the parameter's ``.grad`` before and after this
  accumulation (a tied weight accumulates twice; a skipped ``zero_grad``
  leaves the last iteration's gradient in "before").

Unknown ops show their recorded gradients and say there is no explanation
yet. Before backward only forward values are known: from the forward phase on
(``record.node_values``, or ``record.forward_values`` put on the graph shown
while the forward builds up, see :func:`gradviz.core.node_grads.forward_node_values`),
so stepping through the forward (F6) shows each op's output as it appears.
No ML here: everything comes from the core's explanation of the record.
"""
from __future__ import annotations

import html
import math

import numpy as np
from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from gradviz.core.display import tensor_images
from gradviz.core.display.tensor_values import plotted_values

# gradviz.core.explain and node_grads import torch: imported when first used, so the
# window shows before torch has loaded.

# A gradient of up to 6×6 is written out number by number; up to 64×64 drawn
# as a heatmap (one cell per element); larger ones as a histogram + statistics.
NUMBERS_MAX = 36
HEATMAP_MAX = 64 * 64
HEATMAP_PX = 240  # the heatmap's longer side on screen (a 4×4 grid of 10×10 images: 5 px a value)
HEATMAP_MAX_PX = 320
HEATMAP_STRIP_PX = 40  # the least a heatmap's shorter side gets on screen
NO_RECORD = "Run backward to see what each node received and sent on"
NOT_RECORDED = ("Node gradients were not recorded in this iteration (the inspector was closed); "
                "they are from the next iteration on")
NOT_RUN = "The engine did not run this node in backward (nothing needed its gradient)"
FORWARD_ONLY = "Forward value only: the gradients arrive when backward runs"
BEFORE_FORWARD = "The forward pass of this iteration has not run yet: each node's value shows as it builds up"
FORWARD_NOT_RECORDED = ("Values were not recorded in this forward pass (the inspector was closed); "
                        "they are from the next iteration on")
NO_VALUE_YET = ("No value for this node yet: the loss phase computes the loss's nodes; an op run inside "
                "another (a Linear's transpose) has none of its own")


def _label(text: str = "", name: str = "", *, rich: bool = False, mono: bool = False) -> QLabel:
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if mono:
        label.setStyleSheet("font-family: 'DejaVu Sans Mono', monospace;")
    return label


def _section(title: str) -> QLabel:
    label = QLabel(title)
    label.setProperty("role", "sectionTitle")
    label.setStyleSheet("font-weight: 700; margin-top: 6px;")
    return label


def view_kind(value) -> str:
    """How a kept tensor is drawn: ``"numbers"``, ``"heatmap"`` or ``"histogram"``
    (``"none"`` for None, ``"empty"`` for a tensor with no values, e.g. a (0, 3) batch slice)."""
    from gradviz.core.node_grads import TensorSummary

    if value is None:
        return "none"
    if isinstance(value, TensorSummary):
        return "histogram"
    if value.numel() == 0:
        return "empty"
    if value.numel() <= NUMBERS_MAX and not _too_wide_for_numbers(tuple(value.shape)):
        return "numbers"
    if value.numel() <= HEATMAP_MAX and value.is_floating_point():
        return "heatmap"
    return "histogram"


NUMBERS_PER_ROW = 6  # a vector of up to NUMBERS_MAX numbers wraps after this many


def _is_vector(shape: tuple) -> bool:
    """One dimension, or several of which only the last is longer than 1: a (1, 10)
    output is a row of ten numbers, wrapped like a vector."""
    return len(shape) >= 1 and all(size == 1 for size in shape[:-1])


def _too_wide_for_numbers(shape: tuple) -> bool:
    """A matrix of several rows, each longer than NUMBERS_PER_ROW: its rows cannot
    wrap without reading as other rows (a heatmap shows it instead); ten numbers
    side by side ran past the inspector's edge in lecture mode."""
    if len(shape) < 2 or _is_vector(shape):
        return False
    return shape[0] > 1 and math.prod(shape[1:]) > NUMBERS_PER_ROW


def _matrix(value) -> np.ndarray:
    """A tensor as rows × columns: a scalar 1×1, a vector (or a (1, n) row) one row
    (its :class:`NumberGrid` wraps it to the panel), more dimensions first by the rest.
    Complex values stay complex (as float64 only their real part would be shown)."""
    cpu = value.detach().to("cpu")
    array = cpu.resolve_conj().numpy() if cpu.is_complex() else plotted_values(cpu)
    if array.ndim == 0:
        return array.reshape(1, 1)
    if _is_vector(array.shape):
        return array.reshape(1, -1)
    return array.reshape(array.shape[0], -1)


HEATMAP_ROOM = (HEATMAP_MAX_PX, HEATMAP_PX * 3 // 2)  # (w, h) the small images of a heatmap wrap to fill


def _wrapped(array: np.ndarray) -> tuple[np.ndarray, int | None]:
    """``(array, per_row)`` for :func:`tensor_images.layout`: a 4-D tensor with fewer
    rows of images than columns' worth of them is turned so its longer dimension
    runs across (one sample's 16 channels were a 16-image column, 1.5 px a value),
    and its images wrap into the rows that draw a value largest."""
    if array.ndim == 4 and array.shape[0] < array.shape[1]:
        array = array.transpose(1, 0, 2, 3)  # an activation (batch, channels, h, w): the channels across
    return array, tensor_images.best_per_row(array.shape, *HEATMAP_ROOM)


def _diverging(array: np.ndarray, gaps: np.ndarray | None = None) -> QImage:
    """Blue (negative) – white – red (positive), symmetric about zero; NaN/Inf black, ``gaps`` grey."""
    finite = np.isfinite(array)
    top = float(np.abs(array[finite]).max()) if finite.any() else 1.0
    t = np.clip(np.where(finite, array, 0.0) / (top or 1.0), -1.0, 1.0)
    rgb = np.empty(array.shape + (3,), dtype=np.uint8)
    pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
    rgb[..., 0] = (255 - 255 * neg * 0.85).astype(np.uint8)
    rgb[..., 1] = (255 - 255 * (pos + neg) * 0.75).astype(np.uint8)
    rgb[..., 2] = (255 - 255 * pos * 0.85).astype(np.uint8)
    rgb[~finite] = 0
    if gaps is not None:
        rgb[gaps] = 200
    rgb = np.ascontiguousarray(rgb)
    h, w = array.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _histogram_pixmap(counts, width: int = 220, height: int = 70) -> QPixmap:
    pixmap = QPixmap(width, height)
    pixmap.fill(QColor("#ffffff"))
    painter = QPainter(pixmap)
    top = max(max(counts), 1)
    bar = width / len(counts)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#2563eb"))
    for i, count in enumerate(counts):
        h = (height - 2) * count / top
        painter.drawRect(QRectF(i * bar + 0.5, height - h, max(bar - 1.0, 1.0), h))
    painter.setPen(QColor("#9ca3af"))
    painter.drawLine(0, height - 1, width, height - 1)
    painter.end()
    return pixmap


class NumberGrid(QWidget):
    """Numbers right-aligned in columns. A matrix keeps its columns; a vector shows as
    many to a row as fit the width, at most ``columns`` (NUMBERS_PER_ROW): six numbers
    side by side in lecture text ran past the inspector's edge, behind a scroll bar.
    ``columns`` is the count in use; ``on_columns(n)`` hears when it changes."""

    H_GAP, V_GAP = 12, 1

    def __init__(self, numbers: list[str], columns: int, *, reflow: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self._most = max(1, columns)
        self._reflow = reflow
        self.columns = self._most
        self.on_columns = None
        self._cells = []
        for text in numbers:
            cell = _label(text, mono=True)
            cell.setParent(self)
            cell.setWordWrap(False)
            cell.setAlignment(Qt.AlignmentFlag.AlignRight)
            self._cells.append(cell)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def _cell(self) -> QSize:
        hints = [cell.sizeHint() for cell in self._cells] or [QSize(0, 0)]
        return QSize(max(h.width() for h in hints), max(h.height() for h in hints))

    def columns_for(self, width: int) -> int:
        if not self._reflow:
            return self._most
        cell = self._cell().width()
        return max(1, min(self._most, (width + self.H_GAP) // max(1, cell + self.H_GAP)))

    def _size_for(self, columns: int) -> QSize:
        cell = self._cell()
        rows = max(1, -(-len(self._cells) // columns))
        return QSize(columns * cell.width() + (columns - 1) * self.H_GAP, rows * cell.height() + (rows - 1) * self.V_GAP)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return self._reflow

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        return self._size_for(self.columns_for(width)).height()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return self._size_for(self._most)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        # A vector may narrow to one number a row; its height then comes from
        # heightForWidth (a minimum as tall as one number a row would hold it there).
        return self._cell() if self._reflow else self.sizeHint()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._place()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override: the text size changed
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self.updateGeometry()
            self._place()

    def _place(self) -> None:
        columns = self.columns_for(self.width())
        cell = self._cell()
        for i, label in enumerate(self._cells):
            row, column = divmod(i, columns)
            label.setGeometry(column * (cell.width() + self.H_GAP), row * (cell.height() + self.V_GAP),
                              cell.width(), cell.height())
        if columns != self.columns:
            self.columns = columns
            self.updateGeometry()
            if self.on_columns is not None:
                self.on_columns(columns)


class TensorView(QWidget):
    """One kept tensor, drawn by size: numbers, a heatmap, or a histogram with statistics."""

    def __init__(self, value, name: str = "", parent: QWidget | None = None):
        from gradviz.core.explain import format_number, format_tensor
        from gradviz.core.node_grads import HISTOGRAM_BINS, TensorSummary, summarise

        super().__init__(parent)
        if name:
            self.setObjectName(name)
        self.kind = view_kind(value)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        if self.kind == "none":
            layout.addWidget(_label("— (no gradient)"))
            return
        shape = tuple(value.shape)
        if self.kind == "empty":
            layout.addWidget(_label(f"— (no values: shape {shape})"))
            return
        if self.kind == "numbers":
            matrix = _matrix(value)
            vector = _is_vector(shape)
            numbers = [format_number(n) for n in matrix.reshape(-1).tolist()]
            note = _label("")
            self.grid = NumberGrid(numbers, min(matrix.shape[1], NUMBERS_PER_ROW) if vector else matrix.shape[1],
                                   reflow=vector)
            layout.addWidget(self.grid)
            if vector and len(numbers) > 1:
                # how many to a row follows the panel's width: say so, as the rows change
                def say(columns: int) -> None:
                    shown = columns < len(numbers)
                    note.setText(f"shape {shape}, shown {columns} to a row" if shown else "")
                    note.setVisible(shown)
                self.grid.on_columns = say
                say(self.grid.columns)
                layout.addWidget(note)
            elif len(shape) > 2:
                note.setText(f"shape {shape}, shown {matrix.shape[1]} to a row")
                layout.addWidget(note)
            return
        if self.kind == "heatmap":
            # the gradient panel's layout: conv kernels as a grid of small images, one column per filter
            matrix, index = tensor_images.layout(*_wrapped(plotted_values(value)))
            image = _diverging(matrix, index < 0)
            # square cells, the longer side near HEATMAP_PX (at most HEATMAP_MAX_PX);
            # a thin strip (a (1, 120) activation, one row of kernels) gets cells
            # stretched across it to HEATMAP_STRIP_PX: at 2 px a value it was a
            # 2 px line that read as a rendering fault
            rows, cols = matrix.shape
            longer, shorter = max(rows, cols), min(rows, cols)
            scale = max(1, min(HEATMAP_MAX_PX // longer, max(HEATMAP_PX // longer, HEATMAP_STRIP_PX // shorter)))
            picture = QLabel()
            picture.setObjectName(f"{name}Heatmap" if name else "")
            width, height = cols * scale, rows * scale
            if rows < cols:
                height = max(height, HEATMAP_STRIP_PX)
            elif cols < rows:
                width = max(width, HEATMAP_STRIP_PX)
            picture.setPixmap(QPixmap.fromImage(image).scaled(width, height))
            picture.setToolTip("Blue negative, red positive, white zero (scaled to the largest |value|)")
            layout.addWidget(picture)
            layout.addWidget(_label(format_tensor(summarise(value))))
            return
        summary = value if isinstance(value, TensorSummary) else summarise(value)
        picture = QLabel()
        picture.setPixmap(_histogram_pixmap(summary.histogram or (0,) * HISTOGRAM_BINS))
        sampled = "" if summary.histogram_sample is None else (
            f", counting an evenly spread sample of {summary.histogram_sample:,} of its {summary.numel:,} values")
        picture.setToolTip(f"{HISTOGRAM_BINS} equal bins from min to max{sampled}")
        layout.addWidget(picture)
        layout.addWidget(_label(format_tensor(summary)))


class NodeInspector(QWidget):
    """The inspector's content (objectName ``nodeInspector``); see the module docstring.

    ``show_node(record, key)`` shows one node of a record; ``clear(message)``
    says why nothing is shown. ``nodeRequested(key)``: a "gradient out" link
    was clicked. ``shown_key`` and ``explanation`` say what is shown.
    """

    nodeRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("nodeInspector")
        self.shown_key: str | None = None
        self.explanation = None  # the shown node's gradviz.core.explain.NodeExplanation
        self.title = _label("", "nodeInspectorTitle")
        self.title.setStyleSheet("font-size: 115%; font-weight: 700;")
        self.status = _label(NO_RECORD, "nodeInspectorStatus")
        self._body = QWidget()
        self._body_layout = QVBoxLayout(self._body)
        self._body_layout.setContentsMargins(0, 0, 0, 0)
        content = QWidget()
        column = QVBoxLayout(content)
        column.addWidget(self.title)
        column.addWidget(self.status)
        column.addWidget(self._body)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setObjectName("nodeInspectorScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(scroll)
        self.title.hide()

    # -- what is shown ----------------------------------------------------------------
    def clear(self, message: str = NO_RECORD) -> None:
        self.shown_key, self.explanation = None, None
        self._reset_body()
        self.title.hide()
        self.status.setText(message)
        self.status.show()

    def _reset_body(self) -> None:
        while self._body_layout.count():
            item = self._body_layout.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.hide()
                widget.setParent(None)  # gone from findChild at once, not only once deleted
                widget.deleteLater()

    def _add(self, widget: QWidget) -> QWidget:
        self._body_layout.addWidget(widget)
        return widget

    def sections(self) -> list[str]:
        """The section titles shown now, in order."""
        return [self._body_layout.itemAt(i).widget().text() for i in range(self._body_layout.count())
                if isinstance(self._body_layout.itemAt(i).widget(), QLabel)
                and self._body_layout.itemAt(i).widget().property("role") == "sectionTitle"]

    def show_node(self, record, key: str, graph=None, creation_order=None) -> None:
        """Show node ``key`` of ``record`` (an IterationRecord, or anything with
        ``graph``, ``node_gradients`` and optionally ``node_values``).

        ``graph``: the graph on screen, used while ``record`` has none of its
        own yet (between forward and loss: the forward's values are put on its
        keys, ``creation_order`` its op keys in creation order)."""
        own = getattr(record, "graph", None) if record is not None else None
        if own is not None:
            graph = own
        if record is None or graph is None or key not in graph:
            self.clear(NO_RECORD)
            return
        if own is None:
            self._show_forward(record, key, graph, creation_order)
            return
        self._reset_body()
        self.shown_key, self.explanation = key, None
        attrs = graph.nodes[key]
        self.title.setText(_title(key, attrs))
        self.title.show()
        gradients = getattr(record, "node_gradients", None) or {}
        if key in gradients:
            from gradviz.core.explain import explain_node

            self.status.hide()
            self.explanation = explain_node(record, key)
            self._show_explanation(self.explanation, graph, record)
            return
        value = (getattr(record, "node_values", None) or {}).get(key)
        if gradients:
            self.status.setText(NOT_RUN)
        elif value is not None:
            self.status.setText(FORWARD_ONLY)
        elif getattr(record, "backward_order", None):
            self.status.setText(NOT_RECORDED)
        else:
            self.status.setText(NO_RECORD)
        self.status.show()
        if value is not None:
            self._add(_section("value (forward)"))
            self._add(TensorView(value, "inspectorValue"))

    def _show_forward(self, record, key: str, graph, creation_order) -> None:
        """Between forward and loss: the node's output value, or why there is none."""
        from gradviz.core.node_grads import forward_node_values

        self._reset_body()
        self.shown_key, self.explanation = key, None
        self.title.setText(_title(key, graph.nodes[key]))
        self.title.show()
        values = forward_node_values(record, graph, creation_order)
        value = values.get(key)
        if value is not None:
            self.status.setText(FORWARD_ONLY)
        elif getattr(record, "output_shape", None) is None:
            self.status.setText(BEFORE_FORWARD)
        elif not values:
            self.status.setText(FORWARD_NOT_RECORDED)
        else:
            self.status.setText(NO_VALUE_YET)
        self.status.show()
        if value is not None:
            self._add(_section("value (forward)" if graph.nodes[key].get("kind") != "param" else "parameter value"))
            self._add(TensorView(value, "inspectorValue"))

    def _show_explanation(self, e, graph, record) -> None:
        from gradviz.core.explain import gradient_sources

        if e.value is not None:
            self._add(_section("value (forward)" if not e.label == "AccumulateGrad" else "parameter value"))
            self._add(TensorView(e.value, "inspectorValue"))
        self._add(_section("gradient in  ∂L/∂(output)"))
        for i, received in enumerate(e.received or [None]):
            self._add(TensorView(received, f"inspectorGradientIn{i}"))
        sources = gradient_sources(record, e.key)
        if len(sources) > 1:  # a value used twice (tied weights): autograd adds the uses' gradients
            self._add(_section(f"… the sum of {len(sources)} uses"))
            for n, (consumer, slot, gradient) in enumerate(sources):
                self._add(self._link(f"from {n + 1}:", consumer, graph, f"inspectorSourceLink{n}"))
                self._add(TensorView(gradient, f"inspectorSource{n}"))
        if e.label == "AccumulateGrad":
            self._add(_section(".grad before this accumulation"))
            if e.grad_before is None:
                self._add(_label("None (zero_grad cleared it, or this is the first use)", "inspectorGradBeforeNone"))
            else:
                self._add(TensorView(e.grad_before, "inspectorGradBefore"))
            self._add(_section(".grad after  (= before + gradient in)"))
            self._add(TensorView(e.grad_after, "inspectorGradAfter"))
        self._add(_section("rule"))
        if e.forward:
            self._add(_label(f"forward: {e.forward}", mono=True))
        self._add(_label(e.words, "inspectorRuleWords"))
        for formula in e.formulas:
            self._add(_label(formula, mono=True))
        if e.with_values:
            self._add(_section("with this node's numbers"))
            for line in e.with_values:
                self._add(_label(line, mono=True))
        if e.produced:
            self._add(_section("gradient out  ∂L/∂(each input)"))
        for slot, (produced, target) in enumerate(zip(e.produced, e.produced_to)):
            if target is None and produced is None:
                continue
            if target is None:
                link = _label(f"[{slot}] → nowhere (this input needs no gradient)")
            else:
                link = self._link(f"[{slot}] →", target, graph, f"inspectorGradientOutLink{slot}")
            self._add(link)
            self._add(TensorView(produced, f"inspectorGradientOut{slot}"))

    def _link(self, prefix: str, target: str, graph, name: str) -> QLabel:
        """``prefix`` and a link to node ``target``: clicking it asks for that node (``nodeRequested``)."""
        text = html.escape(_short_title(target, graph.nodes[target]))
        link = _label(f'{html.escape(prefix)} <a href="{html.escape(target)}">{text}</a>', name, rich=True)
        link.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse
                                     | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        link.setToolTip(f"Select {target} in the graph")
        link.linkActivated.connect(self.nodeRequested.emit)
        return link

    def link_targets(self) -> list[str]:
        """The node keys the "gradient out" links point to, in slot order."""
        return [t for t in (self.explanation.produced_to if self.explanation else []) if t is not None]


def _short_title(key: str, attrs) -> str:
    name = attrs.get("name")
    label = attrs.get("label", "")
    return f"{key} {name}" if name else f"{key} {label}"


def _title(key: str, attrs) -> str:
    module = attrs.get("module")
    text = _short_title(key, attrs)
    if attrs.get("kind") == "param":
        text += f"  (AccumulateGrad, shape {tuple(attrs.get('shape', ()))})"
    elif module:
        text += f"  [{module}]"
    return text

