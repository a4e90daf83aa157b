"""GradientPanel: one parameter's weights, gradient, update and new weights as heatmaps.

Four pictures side by side, all from the iteration's record (the panel
computes nothing but the difference of two recorded tensors):

    weights before step │ gradient ∂L/∂w │ update (= −lr·grad for SGD) │ weights after step

Conv kernels are a grid of small images, biases a 1×N strip (see
``tensor_images``). Before and after share one colour scale so the change is
visible as a change of colour; gradient and update each have their own. All
scales are symmetric around zero with a diverging colour map (blue negative,
white zero, red positive) and a colour bar. Hovering names the element and its
value. When ``step`` runs the "after" picture morphs from before to after.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEasingCurve, QRectF, QSize, Qt, QVariantAnimation, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF
from PySide6.QtWidgets import (
    QGraphicsTextItem,
    QHBoxLayout,
    QFrame,
    QLabel,
    QScrollArea,
    QStyle,
    QStyleOptionComboBox,
    QVBoxLayout,
    QWidget,
)

from gradviz.ui import theme
from gradviz.ui.elided import ElidedComboBox, ElidedLabel
from gradviz.core.display import tensor_images
from gradviz.core.display.tensor_values import plotted_values
from gradviz.core.vocabulary import PHASES
from gradviz.ui.training.colour_scale import SCALE_TEXT, ScaleLabels, labelled_colour_bar, set_levels

PANELS = ("before", "grad", "update", "after")
TITLES = {
    "before": "weights before",
    "grad": "gradient ∂loss/∂w",
    "update": "update",
    "after": "weights after",
}
# What each colour bar measures, written under it.
UNITS = {"before": "weight w", "grad": "∂loss/∂w", "update": "Δw = after − before", "after": "weight w"}
# The arrangements the four pictures can take (rows, columns): the panel picks
# the one that draws a single weight largest in the room it has.
ARRANGEMENTS = ((1, 4), (2, 2), (4, 1))
# Conv kernels are drawn at least this large, one weight in px: smaller, a class sees
# a texture, not weights. When the panel has not the room (conv2 of LeNet, 2,400 weights
# a picture), the pictures keep this size and the panel scrolls up and down.
MIN_WEIGHT_PX = 8
PICTURE_PADDING = 0.02  # white space around a picture in its plot, a fraction of its size
SPACING = 10
# The "Show" choices: short, so that the closed combo shows them whole in a narrow column.
SHOW_ALL = "all four"
SHOW_ONLY = {"before": "weights before", "grad": "gradient", "update": "update", "after": "weights after"}
HOVER_NAMES = {"before": "weight before", "grad": "gradient", "update": "update", "after": "weight after"}
# Strong ends and a white middle survive a projector's washed-out colours.
DIVERGING = ["#08306b", "#2171b5", "#9ecae1", "#f7f7f7", "#fc9272", "#cb181d", "#67000d"]
MORPH_MS = 1400


def diverging_colormap() -> pg.ColorMap:
    return pg.ColorMap(np.linspace(0.0, 1.0, len(DIVERGING)), [QColor(c) for c in DIVERGING])


class GradientPanel(QWidget):
    """Heatmaps of one parameter (objectName ``gradientPanel``; combo ``paramCombo``).

    Call :meth:`show_record` with an iteration record and the last phase that
    ran in it. ``image(name)`` gives the array a picture shows (its final
    value, not a mid-morph frame), ``describe(name, row, col)`` its hover text.
    """

    morphFinished = Signal()
    paramChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("gradientPanel")
        self._record = None
        self._phase: str | None = None
        self._shapes: dict[str, tuple] = {}
        self._nonfinite: set[str] = set()
        self._images: dict[str, np.ndarray | None] = dict.fromkeys(PANELS)
        self._index: np.ndarray | None = None
        self._shape: tuple = ()
        self._speed = 1.0
        self._morph_from = self._morph_to = None
        self._presenting = False  # lecture mode: the pictures get the height (set_presenting)

        c = theme.colours()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        # Two rows: the parameter, then what is shown (the caption, or the hover
        # text while the mouse is over a weight) beside the choice of pictures. The
        # panel shares a column beside the graph at up to 200 % text in lecture
        # mode: text that does not fit is shortened with "…" and shown whole in its
        # tooltip, never cut at the panel's edge; the caption gives way first.
        top = self._top_row = QHBoxLayout()
        label = QLabel("Parameter")
        self.combo = ElidedComboBox()
        self.combo.setObjectName("paramCombo")
        self.combo.currentIndexChanged.connect(self._on_param_changed)
        label.setBuddy(self.combo)
        top.addWidget(label)
        top.addWidget(self.combo, 1)
        layout.addLayout(top)
        second = self._second_row = QHBoxLayout()
        self.caption = ElidedLabel()
        self.caption.setObjectName("gradientCaption")
        second.addWidget(self.caption, 1)
        # Hover text takes the caption's place while it shows: a row of its own
        # would take height from the pictures.
        self.hover_label = ElidedLabel(" ")
        self.hover_label.setObjectName("hoverLabel")
        second.addWidget(self.hover_label, 1)
        self.hover_label.hide()
        # One picture at a time, as large as the panel: big kernels (conv2) get
        # their weights drawn large enough to see one by one. Double-clicking a
        # picture does the same.
        self.show_combo = ElidedComboBox()
        self.show_combo.setObjectName("gradientShowCombo")
        self.show_combo.setToolTip("Show all four pictures, or one of them as large as the panel (double-click a picture)")
        self.show_combo.addItem(SHOW_ALL, None)
        for key in PANELS:
            self.show_combo.addItem(SHOW_ONLY[key], key)
        self.show_combo.currentIndexChanged.connect(self._on_focus_changed)
        show = self._show_label = QLabel("Show")
        show.setBuddy(self.show_combo)
        second.addSpacing(8)
        second.addWidget(show)
        second.addWidget(self.show_combo)  # as wide as its longest choice when the row has room
        layout.addLayout(second)

        self.nonfinite_label = QLabel()
        self.nonfinite_label.setObjectName("gradientNonfinite")
        self.nonfinite_label.hide()
        layout.addWidget(self.nonfinite_label)

        self.plots_widget = pg.GraphicsLayoutWidget()
        self.plots_widget.setObjectName("gradientPlots")
        self.plots_widget.setBackground(c["base"])
        self.plots_widget.ci.setSpacing(SPACING)
        self.plots_widget.ci.setContentsMargins(2, 2, 2, 2)
        # The pictures take what the column leaves (they re-arrange to fit): their
        # own minimum must not take the height the code above needs in lecture mode.
        # Conv kernels too many for MIN_WEIGHT_PX in that room get a taller picture
        # area, scrolled (see _plan).
        self.plots_widget.setMinimumHeight(40)
        self.plots_scroll = QScrollArea()
        self.plots_scroll.setObjectName("gradientPlotsScroll")
        self.plots_scroll.setWidgetResizable(True)
        self.plots_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.plots_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.plots_scroll.setWidget(self.plots_widget)
        self.plots_scroll.setMinimumHeight(40)
        layout.addWidget(self.plots_scroll, 1)
        self._content_height: int | None = None  # the scrolled picture area's height (None: fits the panel)


        cmap = diverging_colormap()
        self.plots: dict[str, pg.PlotItem] = {}
        self.items: dict[str, pg.ImageItem] = {}
        self.bars: dict[str, pg.ColorBarItem] = {}
        self.scales: dict[str, ScaleLabels] = {}
        # What a picture is waiting for ("at optimizer.step()") written inside it when
        # presenting: the title keeps one line, the pictures the height (set_presenting).
        self.notes: dict[str, QGraphicsTextItem] = {}
        self.arrangement = ARRANGEMENTS[0]
        self._focus: str | None = None  # the one picture shown alone, None: all four
        self._per_row: int | None = None  # filters side by side before the next band (tensor_images)
        for col, name in enumerate(PANELS):
            plot = self.plots_widget.addPlot(row=0, col=col)
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.setAspectLocked(True)
            plot.invertY(True)  # row 0 (first output channel) at the top, like the tensor prints
            item = pg.ImageItem(axisOrder="row-major")
            item.setColorMap(cmap)
            plot.addItem(item)
            bar, scale = labelled_colour_bar(plot, item, cmap)
            self.plots[name], self.items[name], self.bars[name], self.scales[name] = plot, item, bar, scale
            note = QGraphicsTextItem(plot.vb)
            note.setZValue(10)
            note.hide()
            self.notes[name] = note
            plot.vb.sigResized.connect(lambda _vb, key=name: self._place_note(key))
            self._set_title(name, "")
        self.plots_widget.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plots_widget.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.apply_theme()

        self._morph = QVariantAnimation(self)
        self._morph.setStartValue(0.0)
        self._morph.setEndValue(1.0)
        self._morph.setEasingCurve(QEasingCurve.Type.InOutCubic)
        self._morph.valueChanged.connect(self._morph_step)
        self._morph.finished.connect(self._morph_done)
        self._show_placeholder("No iteration yet: run zero_grad to start")

    def apply_theme(self) -> None:
        """Colours and text sizes from the current theme and zoom (after a change)."""
        c = theme.colours()
        pt = self.font().pointSizeF()
        self.plots_widget.setBackground(c["base"])
        font = QFont(self.font())
        font.setPointSizeF(pt * SCALE_TEXT)
        for key, bar in self.bars.items():
            axis = bar.getAxis("bottom")
            axis.setTextPen(c["text"])
            axis.setPen(c["text"])
            self.scales[key].set_style(font, c["text"], c["muted"])
        self.nonfinite_label.setStyleSheet(
            f"QLabel {{ color: white; background: {c['error']}; font-weight: 700; padding: 4px 8px; border-radius: 4px; }}"
        )
        self.hover_label.setStyleSheet(
            f"font-family: 'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace; font-size: {pt * 1.1:.1f}pt;"
        )
        self._fit_show_combo()  # its text's size changed
        if self._record is not None:
            self._redraw()
        else:
            for key in PANELS:
                self._set_title(key, "")
        self._mark_nonfinite()
        self._update_nonfinite_label()

    # -- parameters --------------------------------------------------------------------
    def set_parameters(self, shapes: list[tuple[str, tuple]]) -> None:
        """The parameters to choose from, ``[(name, shape), ...]`` in model order."""
        current = self.current_param()
        self._shapes = {name: tuple(shape) for name, shape in shapes}
        self.combo.blockSignals(True)
        self.combo.clear()
        for name, shape in shapes:
            self.combo.addItem(name, name)
            self.combo.setItemData(self.combo.count() - 1, f"{name}: shape {tuple(shape)}", Qt.ItemDataRole.ToolTipRole)
        index = self.combo.findData(current) if current else -1
        self.combo.setCurrentIndex(max(0, index))
        self.combo.blockSignals(False)
        self._mark_nonfinite()
        self._redraw()

    def current_param(self) -> str | None:
        return self.combo.currentData()

    def set_param(self, name: str) -> None:
        index = self.combo.findData(name)
        if index >= 0:
            self.combo.setCurrentIndex(index)

    @property
    def presenting(self) -> bool:
        """Whether the panel is in its lecture-mode form (see :meth:`set_presenting`)."""
        return self._presenting

    def set_presenting(self, on: bool) -> None:
        """Lecture mode's form: the pictures get the height a class needs to see
        single weights (conv1 of LeNet, all four pictures at MIN_WEIGHT_PX or more,
        unscrolled, in lecture mode's column). The choice of pictures moves up beside
        the parameter and the caption row steps aside (hover text stays in the
        tooltip); titles keep one line, a picture's note ("at optimizer.step()") is
        written inside it; the colour bars keep their numbers, their unit line goes
        (the title names the quantity). Lecture mode turns it on and off (training.install)."""
        on = bool(on)
        if on == self._presenting:
            return
        self._presenting = on
        source, target = (self._second_row, self._top_row) if on else (self._top_row, self._second_row)
        for widget in (self._show_label, self.show_combo):
            source.removeWidget(widget)
            target.addWidget(widget)
        # The parameter's name is what the class reads: the "Show" label gives it the
        # room (the combo's choices, "all four", "gradient", … and its tooltip say it).
        self._show_label.setVisible(not on)
        self._fit_show_combo()
        self.caption.setVisible(not on)
        self.hover_label.hide()
        if self._record is not None:
            self._redraw()
        else:
            for key in PANELS:
                self._set_title(key, "")

    def _fit_show_combo(self) -> None:
        """Presenting, the choice of pictures is as wide as its current choice: the
        parameter's name beside it gets the rest of the row."""
        combo = self.show_combo
        if not self._presenting:
            combo.setMaximumWidth(16777215)  # QWIDGETSIZE_MAX: as wide as the row gives
            return
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        text = QSize(combo.fontMetrics().horizontalAdvance(combo.currentText()) + 8, combo.fontMetrics().height())
        size = combo.style().sizeFromContents(QStyle.ContentsType.CT_ComboBox, option, text, combo)
        combo.setMaximumWidth(size.width())

    def set_speed(self, factor: float) -> None:
        self._speed = max(1e-3, float(factor))

    # -- records -------------------------------------------------------------------------
    def show_record(self, record, phase: str | None, *, animate: bool = False) -> None:
        """Show ``record`` as it was right after ``phase`` (None: nothing ran yet).
        ``animate`` morphs "after" from the old weights when ``phase`` is step."""
        self._record, self._phase = record, phase
        self._nonfinite = set(getattr(record, "nonfinite", None) or []) if record is not None else set()
        self._mark_nonfinite()
        self._redraw(animate=animate and phase == "step")

    def shown(self) -> tuple[object | None, str | None]:
        """``(record, phase)`` on screen; ``(None, None)`` while the caption says there is none."""
        return self._record, self._phase

    def clear(self, message: str = "No iteration yet: run zero_grad to start") -> None:
        self._record = self._phase = None
        self._nonfinite = set()
        self._mark_nonfinite()
        self._show_placeholder(message)

    def set_nonfinite(self, names) -> None:
        """Parameters holding NaN/Inf: red in the combo, a red banner when shown."""
        self._nonfinite = set(names)
        self._mark_nonfinite()
        self._update_nonfinite_label()

    @property
    def morphing(self) -> bool:
        return self._morph.state() == QVariantAnimation.State.Running

    def image(self, name: str) -> np.ndarray | None:
        """The 2-D array picture ``name`` shows once any morph ends (NaN in gaps)."""
        return self._images.get(name)

    @property
    def filters_per_row(self) -> int | None:
        """Conv filters side by side in the pictures now (None: not a kernel grid;
        see ``tensor_images.layout``): chosen to draw one weight largest."""
        return self._per_row

    def levels(self, name: str) -> tuple[float, float]:
        return tuple(self.items[name].getLevels())

    def describe(self, name: str, row: int, col: int) -> str | None:
        """Hover text for a pixel: ``gradient · conv1.weight[2, 0, 3, 1] = -0.0123``."""
        image, index = self._images.get(name), self._index
        if image is None or index is None or not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
            return None
        flat = int(index[row, col])
        if flat < 0:
            return None
        where = ", ".join(map(str, tensor_images.element_index(self._shape, flat)))
        value = image[row, col]
        return f"{HOVER_NAMES[name]} · {self.current_param()}[{where}] = {value:+.5g}"

    # -- drawing ---------------------------------------------------------------------------
    def _on_param_changed(self, _index: int) -> None:
        self._morph.stop()
        self._update_nonfinite_label()
        self._redraw()
        name = self.current_param()
        if name:
            self.paramChanged.emit(name)

    def _tensor(self, group: str, name: str):
        record = self._record
        values = getattr(record, group, None) or {}
        tensor = values.get(name)
        if tensor is None:
            return None
        return plotted_values(tensor)

    def _redraw(self, animate: bool = False) -> None:
        self._morph.stop()
        name, record, phase = self.current_param(), self._record, self._phase
        if record is None or phase is None or name is None:
            self._show_placeholder("No iteration yet: run zero_grad to start" if name else "No parameters")
            return
        if getattr(record, "record_level", "full") != "full":
            self._show_placeholder("Not recorded: this session keeps light records (loss and norms only)")
            return
        before = self._tensor("params_before", name)
        if before is None:
            self._show_placeholder(f"{name} was not recorded in this iteration")
            return
        done = PHASES.index(phase) if phase in PHASES else -1
        grad_note = ""
        grad = self._tensor("grads", name) if done >= PHASES.index("backward") else None
        if grad is None:
            # Before backward PyTorch's .grad is None (zero_grad sets it to None), as the
            # tutorial shows: say exactly that; the picture is drawn as zeros.
            grad_note = (f"{name}.grad is None (drawn as zeros)" if done < PHASES.index("backward")
                         else "no gradient (frozen or unused)")
            grad = np.zeros_like(before)
        after = self._tensor("params_after", name) if done >= PHASES.index("step") else None
        update = after - before if after is not None else None  # the recorded change, whatever the optimizer

        self._shape = tuple(before.shape)
        arrangement, per_row, content_height = self._plan(self._shape)
        self._per_row = per_row
        self._set_content_height(content_height)
        image_before, self._index = tensor_images.layout(before, per_row)
        images = {
            "before": image_before,
            "grad": tensor_images.layout(grad, per_row)[0],
            "update": tensor_images.layout(update, per_row)[0] if update is not None else None,
            "after": tensor_images.layout(after, per_row)[0] if after is not None else None,
        }
        self._images = images
        weights_limit = tensor_images.symmetric_limit(images["before"], images["after"])
        limits = {
            "before": weights_limit,
            "after": weights_limit,
            "grad": tensor_images.symmetric_limit(images["grad"]),
            "update": tensor_images.symmetric_limit(images["update"]),
        }
        optimizer = getattr(record, "optimizer_name", "sgd")
        update_title = "update −lr·grad" if optimizer in ("sgd", "manual_sgd") else "update (after − before)"
        notes = {
            "before": "",
            "grad": grad_note,
            "update": "" if update is not None else "at optimizer.step()",
            "after": "" if after is not None else "at optimizer.step()",
        }
        for key in PANELS:
            image = images[key]
            item = self.items[key]
            if image is None:
                item.clear()
            else:
                item.setImage(image, autoLevels=False)
            set_levels(self.bars[key], self.scales[key], -limits[key], limits[key], "" if self._presenting else UNITS[key])
            # A scale for nothing (no picture yet, or all zeros) would only
            # show a meaningless ±1e-12: hide it.
            self._show_scale(key, not notes[key] and tensor_images.largest_finite(image) is not None)
            self._set_title(key, notes[key], update_title if key == "update" else None)
            self.plots[key].autoRange(padding=PICTURE_PADDING)
        iteration = getattr(record, "index", "?")
        lr = getattr(record, "lr", None)
        self.caption.setText(
            f"{name} · shape {tuple(before.shape)} · iteration {iteration} · after {phase}"
            + (f" · lr {lr:g}" if lr is not None else "")
        )
        self._update_nonfinite_label()
        self._apply_arrangement(arrangement)
        if animate and after is not None:
            self._morph_from, self._morph_to = images["before"], images["after"]
            self.items["after"].setImage(images["before"], autoLevels=False)
            self._morph.setDuration(max(1, round(MORPH_MS / self._speed)))
            self._morph.start()

    def _morph_step(self, t) -> None:
        if self._morph_from is None:
            return
        t = float(t)
        self.items["after"].setImage(self._morph_from + t * (self._morph_to - self._morph_from), autoLevels=False)

    def _morph_done(self) -> None:
        if self._morph_to is not None:
            self.items["after"].setImage(self._morph_to, autoLevels=False)
        self._morph_from = self._morph_to = None
        self.morphFinished.emit()

    def finish_morph(self) -> None:
        """Jump to the end of a running morph."""
        if self.morphing:
            self._morph.stop()
            self._morph_done()

    def _show_placeholder(self, message: str) -> None:
        self._morph.stop()
        self._images = dict.fromkeys(PANELS)
        self._index = None
        for key in PANELS:
            self.items[key].clear()
            self._show_scale(key, False)
            self._set_title(key, "")
        self.caption.setText(message)
        self._set_content_height(None)
        self._update_nonfinite_label()

    def _show_scale(self, key: str, visible: bool) -> None:
        self.bars[key].setVisible(visible)
        self.scales[key].setVisible(visible)

    # -- arrangement: as large a weight as the panel allows ------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if self._images.get("before") is None:
            if self._focus is None:  # no pictures yet: still no title cut at the panel's edge
                self._apply_arrangement(self._fitting_arrangements()[0])
            return
        arrangement, per_row, content_height = self._plan(self._shape)
        if per_row != self._per_row:
            self._redraw()  # the filters wrap differently: new pictures
        else:
            self._set_content_height(content_height)
            if arrangement != self.arrangement:
                self._apply_arrangement(arrangement)

    @property
    def focus(self) -> str | None:
        """The picture shown alone (``"grad"``, …), or None while all four show."""
        return self._focus

    def set_focus(self, name: str | None) -> None:
        """Show only picture ``name`` as large as the panel allows (None: all four)."""
        if name is not None and name not in PANELS:
            raise ValueError(f"no picture {name!r}; choose one of {', '.join(PANELS)} or None")
        self.show_combo.setCurrentIndex(self.show_combo.findData(name))

    def _on_focus_changed(self, _index: int) -> None:
        self._focus = self.show_combo.currentData()
        self._fit_show_combo()
        self.arrangement = None  # rebuild the grid
        if self._images.get("before") is not None:
            self._redraw()
        else:
            self._apply_arrangement(ARRANGEMENTS[0] if self._focus is None else (1, 1))

    def _on_mouse_clicked(self, event) -> None:
        if not event.double():
            return
        if self._focus is not None:
            self.set_focus(None)
            return
        for key in PANELS:
            if self.plots[key].sceneBoundingRect().contains(event.scenePos()):
                self.set_focus(key)
                return

    def _shown_panels(self) -> tuple[str, ...]:
        return PANELS if self._focus is None else (self._focus,)

    def _room(self) -> tuple[float, float]:
        """The pictures' room: the visible part of the scrolled area, less a scroll
        bar's width always (so that one appearing does not change the choice)."""
        area = self.plots_scroll.contentsRect()  # inside the frame, a shown scroll bar included
        bar = self.plots_scroll.verticalScrollBar().sizeHint().width()
        return max(0.0, area.width() - bar), float(area.height())

    def _overhead(self) -> tuple[float, float]:
        """What each picture needs beside its weights: ``(width, height)`` in px
        (title, colour bar and its labels, margins)."""
        line = QFontMetricsF(self.font()).height()
        lines = 1 if self._presenting else 2  # the title's note, the colour bar's unit (set_presenting)
        title = line * lines * 1.3
        scale = 11 + 10 + line * SCALE_TEXT * lines + 4  # bar, its gap, the labels' lines
        return 12.0, title + scale + 8

    def _cell_size(self, arrangement: tuple[int, int]) -> tuple[float, float]:
        """Room for one picture in ``arrangement``: the plot area less what each picture
        needs around it (title, colour bar and its labels, margins)."""
        rows, cols = arrangement
        room_width, room_height = self._room()
        extra_width, extra_height = self._overhead()
        width = (room_width - 4 - SPACING * (cols - 1)) / cols - extra_width
        height = (room_height - 4 - SPACING * (rows - 1)) / rows - extra_height
        return max(0.0, width), max(0.0, height)

    def _fitting_arrangements(self) -> list[tuple[int, int]]:
        """The arrangements whose pictures are at least as wide as their titles: the
        layout would otherwise push the last columns out of the panel (clipped, in a
        narrow column). The last one (a column of four) when none is."""
        candidates = ARRANGEMENTS if self._focus is None else ((1, 1),)
        bold = QFont(self.font())
        bold.setBold(True)
        least = QFontMetricsF(bold).horizontalAdvance(max(TITLES.values(), key=len)) * 1.1
        # ... and than what its own layout needs (the colour bar's labels, margins).
        least = max([least, *(self.plots[k].effectiveSizeHint(Qt.SizeHint.MinimumSize).width() for k in PANELS)])
        return [a for a in candidates if self._cell_size(a)[0] + 12 >= least] or [candidates[-1]]

    def _choose(self, shape: tuple) -> tuple[tuple[int, int], int | None]:
        """The arrangement of the four pictures and the filters per row that draw
        one weight of a tensor of ``shape`` largest (see :meth:`_plan`)."""
        arrangement, per_row, _height = self._plan(shape)
        return arrangement, per_row

    def _plan(self, shape: tuple) -> tuple[tuple[int, int], int | None, int | None]:
        """``(arrangement, filters per row, scrolled height)``: the arrangement and
        wrapping that draw one weight largest in the panel; for conv kernels that
        would be drawn below MIN_WEIGHT_PX, the one that draws them at least that
        large in the panel's width with the least height, scrolled (the height of
        the picture area then; None: it fits the panel)."""
        best, best_pixels = (self.arrangement, None), -1.0
        for arrangement in self._fitting_arrangements():
            width, height = self._cell_size(arrangement)
            per_row = tensor_images.best_per_row(shape, width, height)
            rows, cols = tensor_images.image_shape(shape, per_row)
            pixels = round(min(width / cols, height / rows), 2)
            if pixels > best_pixels:
                best, best_pixels = (arrangement, per_row), pixels
        if best[1] is None or best_pixels >= MIN_WEIGHT_PX or self._room()[0] <= 0:
            return (*best, None)
        out = int(shape[0])
        tallest = None
        for arrangement in self._fitting_arrangements():
            width = self._cell_size(arrangement)[0] / (1 + 2 * PICTURE_PADDING) - 1
            # the most filters side by side that keep MIN_WEIGHT_PX: the shortest picture
            fitting = [n for n in range(out, 0, -1) if width / tensor_images.image_shape(shape, n)[1] >= MIN_WEIGHT_PX]
            per_row = fitting[0] if fitting else 1
            rows, cols = tensor_images.image_shape(shape, per_row)
            picture = rows * width / cols
            grid_rows = arrangement[0]
            total = grid_rows * (picture + self._overhead()[1]) + SPACING * (grid_rows - 1) + 4
            if tallest is None or total < tallest[2]:
                tallest = (arrangement, per_row, int(total) + 1)
        return tallest

    def _set_content_height(self, height: int | None) -> None:
        """The picture area as tall as ``height`` (scrolled), or as the panel (None)."""
        if height == self._content_height:
            return
        self._content_height = height
        self.plots_widget.setMinimumHeight(40 if height is None else height)
        if height is None:
            self.plots_scroll.verticalScrollBar().setValue(0)

    @property
    def scrolled(self) -> bool:
        """Whether the pictures are taller than the panel (conv kernels kept at MIN_WEIGHT_PX)."""
        return self._content_height is not None

    def _apply_arrangement(self, arrangement: tuple[int, int]) -> None:
        if arrangement != self.arrangement:
            self.arrangement = arrangement
            layout = self.plots_widget.ci
            for key in PANELS:
                if self.plots[key] in layout.items:
                    layout.removeItem(self.plots[key])
            cols = arrangement[1]
            shown = self._shown_panels()
            for i, key in enumerate(shown):
                layout.addItem(self.plots[key], row=i // cols, col=i % cols)
            for key in PANELS:
                self.plots[key].setVisible(key in shown)
            self._fit_drawing_to_view()
        for key in PANELS:
            if self._images.get(key) is not None:
                self.plots[key].autoRange(padding=PICTURE_PADDING)

    def _fit_drawing_to_view(self) -> None:
        """The pictures' layout as wide as the view again. The view sets it on a resize,
        never narrower than the layout's minimum then: resized while four pictures stood
        side by side, it kept their width after they were put one above the other (the
        resize that rearranged them), 28 px past the panel's edge, and the colour bars'
        right-hand numbers were cut ("+0.125" read "+0.1")."""
        view = self.plots_widget
        view.ci.setGeometry(QRectF(0, 0, view.width(), view.height()))

    def _set_title(self, key: str, note: str, title: str | None = None) -> None:
        c = theme.colours()
        size = self.font().pointSizeF() * 1.05
        self._set_note(key, note if self._presenting else "")
        if self._presenting:  # one line; the note is written inside the picture
            self.plots[key].setTitle(f"<b>{title or TITLES[key]}</b>", color=c["text"], size=f"{size:.0f}pt")
            return
        # Always two lines (the second may be blank) so the four pictures line up.
        text = f"<b>{title or TITLES[key]}</b><br><span style='font-size:{size * 0.8:.0f}pt; color:{c['muted']}'>{note or '&nbsp;'}</span>"
        self.plots[key].setTitle(text, color=c["text"], size=f"{size:.0f}pt")

    def _set_note(self, key: str, note: str) -> None:
        item = self.notes[key]
        item.setVisible(bool(note))
        if note:
            c = theme.colours()
            font = QFont(self.font())
            font.setPointSizeF(self.font().pointSizeF() * 0.9)
            item.setFont(font)
            item.setDefaultTextColor(QColor(c["muted"]))
            item.setHtml(f"<div align='center'>{note}</div>")
            self._place_note(key)

    def _place_note(self, key: str) -> None:
        """The note across the middle of its picture's room, wrapped to its width."""
        item, room = self.notes[key], self.plots[key].vb.rect()
        item.setTextWidth(max(10.0, room.width()))
        item.setPos(room.left(), room.top() + max(0.0, (room.height() - item.boundingRect().height()) / 2))

    def _mark_nonfinite(self) -> None:
        c = theme.colours()
        for i in range(self.combo.count()):
            name = self.combo.itemData(i)
            bad = name in self._nonfinite
            self.combo.setItemText(i, f"⚠ {name}" if bad else name)
            self.combo.setItemData(i, QColor(c["error"]) if bad else None, Qt.ItemDataRole.ForegroundRole)

    def _update_nonfinite_label(self) -> None:
        name = self.current_param()
        bad = name is not None and name in self._nonfinite
        self.nonfinite_label.setVisible(bad)
        if bad:
            self.nonfinite_label.setText(f"⚠ {name} holds NaN or Inf (drawn as holes)")
        c = theme.colours()
        self.plots_widget.setStyleSheet(f"border: 3px solid {c['error']};" if bad else "")

    def _on_mouse_moved(self, pos) -> None:
        for key in self._shown_panels():
            plot, item = self.plots[key], self.items[key]
            if self._images.get(key) is None or not plot.vb.sceneBoundingRect().contains(pos):
                continue
            point = item.mapFromScene(pos)
            text = self.describe(key, int(np.floor(point.y())), int(np.floor(point.x())))
            self._set_hover(text or " ")
            self.plots_widget.setToolTip(text or "")
            return
        self._set_hover(" ")

    def _set_hover(self, text: str) -> None:
        """While the mouse is over a weight its hover text takes the caption's row."""
        hovering = bool(text.strip())
        self.hover_label.setText(text)
        if self._presenting:  # no caption row: the tooltip says it
            return
        self.hover_label.setVisible(hovering)
        self.caption.setVisible(not hovering)
