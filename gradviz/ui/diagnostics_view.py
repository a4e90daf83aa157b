"""The Diagnostics panel: gradient health of the iteration on screen.

Three parts, all drawn from ``record.diagnostics``
(:mod:`gradviz.core.diagnostics`, which defines every number and threshold):

* the flags, one line each with its numbers (``diagnosticsFlags``); clicking
  one emits ``nodesRequested(keys)``, which the window turns into a selection
  in the graph: the first node, the next one on the next click of that flag;
* the gradient norm by depth, one point per layer, input side left, on a log
  scale (``normByDepthPlot``); the earlier kept iterations are drawn faintly
  behind the current one, so a norm that shrinks over time shows;
* the update/weight ratio per parameter, log scale, with the ~1e-3 rule of
  thumb as a shaded band (``updateRatioPlot``); red outside the band, a red
  ▼ at the bottom for a parameter the step did not change at all.

:func:`install_diagnostics` puts it in the main window as the dock
``diagnosticsDock`` and keeps it on the window's active session: each recorded
iteration redraws it, and so does looking back with the history slider; another
network (any change that builds a new session)
marks it out of date (``diagnosticsStatus`` says so) until the next iteration;
a reset clears it.
"""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetrics
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QSplitter, QVBoxLayout, QWidget

from gradviz.core import diagnostics as dg
from gradviz.ui import theme
from gradviz.ui.panel_shape import stacks
from gradviz.ui.plot_axes import DecadeAxis
from gradviz.ui.plot_titles import set_fitting_title

__all__ = ["DiagnosticsPanel", "describe_selection", "install_diagnostics", "select_nodes"]

EARLIER_ITERATIONS = 5  # faint lines behind the current one in the norm-by-depth plot
FLAG_ROLE = Qt.ItemDataRole.UserRole
DEPTH_TITLE = "‖grad‖ per layer (input → output)"
RATIO_TITLE = f"‖update‖/‖weight‖ (band: ~{dg.UPDATE_RATIO_TARGET:g})"
# each title and its shorter form for a narrow plot (longest first: set_fitting_title)
DEPTH_TITLES = [DEPTH_TITLE, "‖grad‖ per layer"]
RATIO_TITLES = [RATIO_TITLE, "‖update‖/‖weight‖"]


def _log10(value: float) -> float | None:
    return math.log10(value) if value > 0 and math.isfinite(value) else None


def _thinned(labels: list[str], width_px: int, metrics: QFontMetrics) -> list[tuple[int, str]]:
    """Every k-th label, k as small as lets them stand side by side in ``width_px`` without overlapping."""
    if not labels:
        return []
    widest = max(metrics.horizontalAdvance(label) for label in labels) + 12
    step = max(1, math.ceil(widest * len(labels) / max(width_px, 1)))
    # Centred in each stride: a label at the very first position would stick out of the axis and Qt drops it.
    return [(i, label) for i, label in enumerate(labels) if i % step == step // 2]


class DiagnosticsPanel(QWidget):
    """objectName ``diagnosticsPanel``; children ``diagnosticsStatus``,
    ``diagnosticsFlags``, ``normByDepthPlot``, ``updateRatioPlot``."""

    nodesRequested = Signal(list)  # graph node keys of the clicked flag

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("diagnosticsPanel")
        self._record = None
        self._earlier: list = []
        self._drawn = None  # the record last drawn (drawing waits until the panel is visible)
        self._stale = ""
        self._labels: dict[str, list[str]] = {}  # plot -> its bottom-axis names, one per x position
        self._turns: tuple = (None, 0)  # (flag clicked last, how many times in a row)
        # plot -> (titles longest first, theme colour): the one that fits is shown
        self._titles = {"normByDepthPlot": (DEPTH_TITLES, "text"), "updateRatioPlot": (RATIO_TITLES, "text")}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.status = QLabel()
        self.status.setObjectName("diagnosticsStatus")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        # Flags and the two plots side by side in a wide dock, stacked in a tall one
        # (the column beside the graph: side by side they were cut at its edge).
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        layout.addWidget(splitter, 1)
        self.flags = QListWidget()
        self.flags.setObjectName("diagnosticsFlags")
        self.flags.setWordWrap(True)
        self.flags.setToolTip("Gradient-health flags of this iteration; click one to select its nodes in the graph")
        self.flags.itemClicked.connect(self._on_flag_clicked)
        self.flags.itemActivated.connect(self._on_flag_clicked)
        splitter.addWidget(self.flags)

        c = theme.colours()
        self.plot_widgets = {}
        for name in ("normByDepthPlot", "updateRatioPlot"):
            widget = pg.PlotWidget(background=c["base"], axisItems={"left": DecadeAxis("left")})  # log10 values
            widget.setObjectName(name)
            widget.setMinimumWidth(140)
            self.plot_widgets[name] = widget
            splitter.addWidget(widget)
        self._set_stretch()
        self.flags.setSpacing(2)

        self.depth_plot = self.plot_widgets["normByDepthPlot"].getPlotItem()
        self.ratio_plot = self.plot_widgets["updateRatioPlot"].getPlotItem()
        for plot in (self.depth_plot, self.ratio_plot):
            plot.getViewBox().sigResized.connect(self._place_labels)  # a moved splitter or dock re-thins the names
            plot.setMouseEnabled(False, False)
            plot.hideButtons()
            plot.showGrid(x=False, y=True, alpha=0.25)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)
        low, high = dg.UPDATE_RATIO_BAND
        self.band = pg.LinearRegionItem((math.log10(low), math.log10(high)), orientation="horizontal", movable=False)
        self.band.setZValue(-10)
        self.band.setToolTip(f"Rule of thumb: ‖update‖/‖weight‖ ≈ {dg.UPDATE_RATIO_TARGET:g} (band {low:g}…{high:g})")
        self.ratio_plot.addItem(self.band)
        self.target_line = pg.InfiniteLine(math.log10(dg.UPDATE_RATIO_TARGET), angle=0, movable=False)
        self.ratio_plot.addItem(self.target_line)
        self._theme_timer = QTimer(self)
        self._theme_timer.setSingleShot(True)
        self._theme_timer.setInterval(0)
        self._theme_timer.timeout.connect(self.apply_theme)
        self.apply_theme()
        self.show_message("No iteration recorded yet: run one (F8) to see the gradient health.")

    # -- state ------------------------------------------------------------------------------------
    @property
    def record(self):
        """The record shown (None when there is none)."""
        return self._record

    @property
    def stale(self) -> bool:
        return bool(self._stale)

    def diagnostics(self) -> dg.Diagnostics | None:
        return self._record.diagnostics if self._record is not None else None

    def show_record(self, record, earlier=()) -> None:
        """Show ``record``'s diagnostics; ``earlier`` records (oldest first) add faint lines."""
        self._record = record
        self._earlier = [r for r in earlier if r is not record][-EARLIER_ITERATIONS:]
        self._stale = ""
        self._drawn = None
        if self.isVisible():
            self._draw()
        else:
            self._set_status(f"Iteration {record.index}")

    def set_stale(self, reason: str) -> None:
        """What is shown no longer matches the session (``reason``); it stays, marked."""
        if self._record is None:
            return
        self._stale = reason
        self._set_status(f"Out of date ({reason}) — run an iteration (F8) to refresh")

    def show_message(self, text: str) -> None:
        """No record: clear everything and say why."""
        self._record, self._earlier, self._drawn, self._stale = None, [], None, ""
        self.flags.clear()
        for plot in (self.depth_plot, self.ratio_plot):
            for item in list(plot.listDataItems()):
                plot.removeItem(item)
        self._set_status(text)

    def flag_messages(self) -> list[str]:
        return [self.flags.item(i).text() for i in range(self.flags.count())]

    @property
    def stacked(self) -> bool:
        """Whether the flags and plots stand one above the other (a tall dock)."""
        return self.splitter.orientation() == Qt.Orientation.Vertical

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        QTimer.singleShot(0, self, self._fit_titles)  # once the plots have their new widths (while self lives)
        size = event.size()
        stacked = stacks(size.width(), size.height(), self.stacked)
        if stacked != self.stacked:
            self.splitter.setOrientation(Qt.Orientation.Vertical if stacked else Qt.Orientation.Horizontal)
            self._set_stretch()
            total = self.splitter.height() if stacked else self.splitter.width()
            self.splitter.setSizes([round(total * s / sum(self._stretch())) for s in self._stretch()])

    def _stretch(self) -> tuple[int, int, int]:
        # Side by side the flags' sentences need the most width; stacked, a few
        # lines of flags above two plots that need height.
        return (2, 3, 3) if self.stacked else (4, 3, 3)

    def _set_stretch(self) -> None:
        for index, stretch in enumerate(self._stretch()):
            self.splitter.setStretchFactor(index, stretch)

    # -- drawing --------------------------------------------------------------------------------------
    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        # Theme, zoom and lecture mode restyle the app; the plots' hand-set colours follow
        # once per burst of such events.
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._theme_timer.start()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._record is not None and self._drawn is not self._record:
            self._draw()

    def apply_theme(self) -> None:
        c = theme.colours()
        for widget in self.plot_widgets.values():
            widget.setBackground(c["base"])
        self._fit_titles()
        for plot in (self.depth_plot, self.ratio_plot):
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(c["text"])
                plot.getAxis(axis).setPen(c["muted"])
        band = QColor(c["accent"])
        band.setAlpha(40)
        self.band.setBrush(QBrush(band))
        for line in self.band.lines:
            line.setPen(pg.mkPen(None))
        self.target_line.setPen(pg.mkPen(c["accent"], width=1, style=Qt.PenStyle.DashLine))
        if self._record is not None:
            self._drawn = None
            if self.isVisible():
                self._draw()

    def _set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setToolTip(text)

    def _draw(self) -> None:
        record = self._drawn = self._record
        diag = record.diagnostics
        count = len(diag.flags)
        ratio = f" · first/last layer ‖grad‖ ratio {diag.depth_ratio:.3g}" if diag.depth_ratio is not None else ""
        self._set_status(f"Iteration {record.index} · {count} flag{'s' if count != 1 else ''}{ratio}"
                         if not self._stale else f"Out of date ({self._stale})")
        self._fill_flags(diag)
        self._draw_depth(diag)
        self._draw_ratios(diag, getattr(record, "record_level", "full"))

    def _fill_flags(self, diag: dg.Diagnostics) -> None:
        c = theme.colours()
        self.flags.clear()
        for flag in diag.flags:
            item = QListWidgetItem(f"⚠ {flag.message}")
            item.setData(FLAG_ROLE, flag)
            # Body text on a tinted row: red text on white is hard to read at small sizes.
            tint = QColor(c["error"])
            tint.setAlpha(36)
            item.setBackground(tint)
            item.setForeground(QColor(c["text"]))
            where = f"{len(flag.nodes)} graph node(s)" if flag.nodes else "no graph nodes (light record or no graph)"
            item.setToolTip(f"{flag.message}\nClick to select: {where}")
            self.flags.addItem(item)
        if not diag.flags:
            item = QListWidgetItem("✓ No problems found: gradients reach every layer, no dead ReLUs, "
                                   "no missing or zero gradients, updates in range.")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.flags.addItem(item)

    def _draw_depth(self, diag: dg.Diagnostics) -> None:
        plot = self.depth_plot
        for item in list(plot.listDataItems()):
            plot.removeItem(item)
        c = theme.colours()
        layers = [ln.layer or "(model)" for ln in diag.layer_norms]
        drawn: list[float] = []
        for age, earlier in enumerate(self._earlier):
            by_layer = {ln.layer or "(model)": _log10(ln.norm) for ln in earlier.diagnostics.layer_norms}
            points = [(i, by_layer.get(name)) for i, name in enumerate(layers)]
            points = [(x, y) for x, y in points if y is not None]
            if points:
                colour = QColor(c["muted"])
                colour.setAlpha(60 + 120 * (age + 1) // (len(self._earlier) + 1))
                plot.plot([p[0] for p in points], [p[1] for p in points], pen=pg.mkPen(colour, width=1))
                drawn += [p[1] for p in points]
        points = [(i, _log10(ln.norm)) for i, ln in enumerate(diag.layer_norms)]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            plot.plot([p[0] for p in points], [p[1] for p in points], pen=pg.mkPen(c["accent"], width=3),
                      symbol="o", symbolSize=8, symbolBrush=c["accent"], symbolPen=None)
            drawn += [p[1] for p in points]
        self._labels["normByDepthPlot"] = layers
        self._place_labels()
        if layers:
            self._set_title("normByDepthPlot", DEPTH_TITLES)
        else:  # e.g. gradviz.inspect(loss) without backward=True
            self._set_title("normByDepthPlot", ["‖grad‖ per layer: none (no backward ran)", "no backward ran"], "muted")
        if drawn:  # whole decades at both ends (the axis labels as many as fit)
            low, high = math.floor(min(drawn)), math.ceil(max(drawn))
            plot.setYRange(low, high if high > low else low + 1, padding=0.05)
        if layers:
            plot.setXRange(-0.5, len(layers) - 0.5, padding=0)

    def _draw_ratios(self, diag: dg.Diagnostics, level: str) -> None:
        plot = self.ratio_plot
        for item in list(plot.listDataItems()):
            plot.removeItem(item)
        c = theme.colours()
        names = list(diag.update_ratios)
        values = [_log10(diag.update_ratios[n]) for n in names]
        inside, outside, unchanged = [], [], []
        low, high = (math.log10(v) for v in dg.UPDATE_RATIO_BAND)
        shown = [v for v in values if v is not None] + [low - 1, high + 1]
        floor = math.floor(min(shown))
        for i, v in enumerate(values):
            if v is None:  # no change at all (an update below the weight's float precision): at the floor, ▼
                unchanged.append((i, floor))
            else:
                (inside if low <= v <= high else outside).append((i, v))
        for points, colour, symbol in ((inside, c["accent"], "o"), (outside, c["error"], "o"),
                                       (unchanged, c["error"], "t")):
            if points:
                plot.plot([p[0] for p in points], [p[1] for p in points], pen=None, symbol=symbol, symbolSize=8,
                          symbolBrush=colour, symbolPen=None)
        shown.append(floor)
        self._labels["updateRatioPlot"] = names
        self._place_labels()
        plot.setYRange(min(shown), max(shown), padding=0.05)
        if names:
            plot.setXRange(-0.5, len(names) - 0.5, padding=0)
            self._set_title("updateRatioPlot", RATIO_TITLES)
        else:
            why = "light records keep no weights" if level == "light" else "no step recorded"
            self._set_title("updateRatioPlot", [f"‖update‖ / ‖weight‖: none ({why})", why], "muted")

    def _set_title(self, name: str, candidates: list[str], colour: str = "text") -> None:
        """The plot's title: the first of ``candidates`` that fits its width (see _fit_titles)."""
        self._titles[name] = (candidates, colour)
        self._fit_titles()

    def _fit_titles(self) -> None:
        c = theme.colours()
        for name, (candidates, colour) in self._titles.items():
            set_fitting_title(self.plot_widgets[name].getPlotItem(), candidates, self.font(), c[colour])

    def _place_labels(self) -> None:
        """Bottom-axis names, thinned to what the plot's width can show without overlap;
        titles shortened to what it can show (cut, they lost their ends)."""
        self._fit_titles()
        for name, labels in self._labels.items():
            widget = self.plot_widgets[name]
            axis = widget.getPlotItem().getAxis("bottom")
            width = widget.getPlotItem().getViewBox().width() or widget.width()
            axis.setTicks([_thinned(labels, int(width), QFontMetrics(axis.font() if hasattr(axis, "font") else self.font()))])

    # -- interaction ----------------------------------------------------------------------------------------
    def _on_flag_clicked(self, item: QListWidgetItem) -> None:
        flag = item.data(FLAG_ROLE)
        if not isinstance(flag, dg.Flag):
            return
        # The graph selects one node at a time: clicking the same flag again moves on to its next node.
        turn = self._turns[1] + 1 if self._turns[0] is flag else 0
        self._turns = (flag, turn)
        keys = list(flag.nodes)
        if keys:
            turn %= len(keys)
            keys = keys[turn:] + keys[:turn]
        self.nodesRequested.emit(keys)

    def click_flag(self, row: int) -> None:
        """What a click on the flag in ``row`` does (for keyboard users and tests)."""
        self.flags.setCurrentRow(row)
        self._on_flag_clicked(self.flags.item(row))


def select_nodes(view, keys: list[str]) -> int:
    """Select the first of ``keys`` the GraphView has, centred, with its details
    (a parameter also shows its path to the loss). No highlight colours: those
    belong to the training animation. Returns how many of ``keys`` the view has."""
    graph = view.graph() if view is not None else None
    present = [k for k in keys if graph is not None and k in graph]
    if present:
        view.select_node(present[0], center=True)
    return len(present)


def describe_selection(view, keys: list, shown: int) -> str:
    """The status line after :func:`select_nodes`: which node, and that there are more."""
    attrs = view.graph().nodes[keys[0]]
    name = attrs.get("name") or attrs.get("label", keys[0])
    more = f" — click the flag again for the next of {shown}" if shown > 1 else ""
    return f"Selected {name}{more}"


def install_diagnostics(window) -> DiagnosticsPanel:
    """Add the Diagnostics dock (``diagnosticsDock``) to the main window and keep it on its active session."""
    panel = DiagnosticsPanel()
    dock = window.add_panel(panel, "Diagnostics", "diagnosticsDock", Qt.DockWidgetArea.BottomDockWidgetArea,
                            hide_in_lecture=True)
    active = window.active_session

    def history_of(session) -> list:
        return list(session.history) if session is not None else []

    def on_recorded(record) -> None:
        panel.show_record(record, history_of(active.session))

    def on_session(session) -> None:
        # Another session: the network (or what changes it: loss, optimizer, data) changed.
        # A changed loss alone (graphInvalidated) leaves what the last iteration did true.
        records = history_of(session)
        if records:
            panel.show_record(records[-1], records[:-1])
        else:
            panel.set_stale("the network changed" if session is not None else "there is no valid network")

    def on_nodes(keys: list) -> None:
        if not keys:
            window.show_message("This flag has no graph nodes to select")
            return
        if not window.has_graph_view or window.graph_view.graph() is None:
            window.show_message("No graph on screen yet: run an iteration or press F5")
            return
        view = window.graph_view
        shown = select_nodes(view, keys)
        if not shown:
            window.show_message("Those nodes are not in the graph on screen: run an iteration or press F5")
        else:
            window.show_message(describe_selection(view, [k for k in keys if k in view.graph()], shown))

    def on_history(record, _phase: str) -> None:
        """The history slider: a kept iteration looked back at, or live again (None)."""
        records = history_of(active.session)
        if record is None:
            if records:
                panel.show_record(records[-1], records[:-1])
        elif getattr(record, "complete", False):
            earlier = records[:records.index(record)] if record in records else []
            panel.show_record(record, earlier)

    window.training_ui.history.selectionChanged.connect(on_history)
    active.iterationRecorded.connect(on_recorded)
    active.sessionChanged.connect(on_session)
    active.resetDone.connect(lambda: panel.show_message("Weights reset: run an iteration (F8) to see the gradient health."))
    panel.nodesRequested.connect(on_nodes)

    def default_place() -> None:
        gradients = window.panels.get("gradientDock")
        dock.setFloating(False)
        if gradients is not None:
            window.tabifyDockWidget(gradients, dock)
            gradients.raise_()
        dock.show()

    window.add_default_layout_step(default_place)
    default_place()
    window.diagnostics_panel = panel
    return panel
