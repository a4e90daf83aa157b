"""RunViewer: one run file on screen, replayed iteration by iteration, live.

What it shows for the selected iteration (history slider at the bottom):

* the autograd graph the run stored for it (a newer version when the
  structure changed), each parameter's edge weighted by its gradient norm,
  NaN/Inf flagged (:mod:`gradviz.core.display.run_graph_marks`);
* the norm bars, the loss curve over the run and a histogram over
  iterations (the training UI's :class:`NormsPanel`);
* gradient flow by depth (:class:`GradientFlowPlot`);
* weights before, gradient, update and weights after as heatmaps for the
  parameters recorded whole (the training UI's :class:`GradientPanel`);
* where NaN/Inf started, when the watcher searched it (``watch(...,
  find_nonfinite=True)``): a red line under the title naming the iteration,
  the op, its source line and the reason, with a button that goes to that
  iteration and selects the op in its graph (flagged red, the details panel
  says why, as Run → Find first NaN does in the main window).

Memory stays bounded by the model, not the run: every iteration is kept as a
*light* record (loss, norms, flags, graph; no tensors), and whole tensors are
read only for the iteration on screen (the last :data:`FULL_RECORDS_KEPT`
looked at stay cached). Opening reads the light records in the background
(a long run has many); after that a :class:`RunFileWatcher` says when the
training committed more, and :meth:`RunViewer.refresh` reads just those rows
on the GUI thread (the newest one whole only when Live shows it). The app
only ever holds a read-only connection and short read transactions, so the
training never waits for it.

Which iteration is selected, and whether the view follows the newest
("Live"), is :class:`~gradviz.core.display.run_timeline.Timeline`'s business.
A file that cannot be read shows its :class:`RunFileError` message in a red
line at the top; whatever was on screen stays.
"""
from __future__ import annotations

import os
from collections import OrderedDict

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QPushButton, QSlider, QSplitter, QStackedWidget, QVBoxLayout, QWidget,
)

from gradviz.ui import theme
from gradviz.ui.errors import summary_of
from gradviz.ui.run_viewer.file_watch import RunFileWatcher
from gradviz.ui.run_viewer.flow_plot import EARLIER_SHOWN, GradientFlowPlot
from gradviz.core.display.run_graph_marks import graph_marks
from gradviz.core.display.run_ranks import check_ranks
from gradviz.core.display.run_timeline import Timeline
from gradviz.ui.worker import run_task

__all__ = ["FULL_RECORDS_KEPT", "RunViewer"]

# Whole records (with the recorded tensors) kept after being looked at: going
# back and forth between a few iterations costs no reads; more would let a
# run of big tensors fill the memory.
FULL_RECORDS_KEPT = 8
# The graph pane's share of the window width: at least, and at most (the charts need the rest)
GRAPH_SHARE = (0.27, 0.45)
# What the charts keep beside it: the norm bars with their names and values, the
# loss curve and the flow plot side by side, none of them cut
CHARTS_LEAST_PX = 840


class RunViewer(QWidget):
    """objectNames: ``runViewer``; ``runTitle``, ``runStatus``, ``runError`` (top lines);
    ``runNanOrigin``, ``runNanOriginButton`` (where NaN/Inf started, when known);
    ``runGraphView`` (a GraphView), ``normsPanel``, ``gradientFlowPlot``, ``gradientPanel``;
    ``runSlider``, ``runLiveButton``, ``runHistoryLabel`` (history bar)."""

    opened = Signal(str)            # path: a run is open and its newest state on screen
    failed = Signal(str)            # the one-line reason a file could not be opened or read
    selectionChanged = Signal(object)  # the iteration on screen (None: none yet)
    iterationsAdded = Signal(int)   # how many new iterations a refresh found
    nanOriginFound = Signal(object)  # WatchedOrigin: where NaN/Inf started (the run holds one at most)

    def __init__(self, parent: QWidget | None = None, *, force_polling: bool = False):
        super().__init__(parent)
        self.setObjectName("runViewer")
        self.run = None
        self.records: list = []  # light records (no tensors) of every recorded iteration, oldest first
        self._full: OrderedDict = OrderedDict()  # iteration -> whole record, most recently used last
        self.timeline = Timeline()
        self.error = ""
        self._refresh_failed = False
        self._damaged_shown = False  # the error line names an iteration that could not be read
        self._force_polling = force_polling
        self._watcher: RunFileWatcher | None = None
        self._task = None
        self._graph_on_view = None
        self.marks = None  # GraphMarks on the graph now (graph_marks)
        self._norms_records = -1  # how many records the norms panel's curves were drawn from
        self._updating = False
        self._theme_timer = QTimer(self)
        self._theme_timer.setSingleShot(True)
        self._theme_timer.setInterval(0)
        self._theme_timer.timeout.connect(self.apply_theme)

        from gradviz.ui.graph_view import GraphView
        from gradviz.ui.training.gradient_panel import GradientPanel
        from gradviz.ui.training.norms import NormsPanel

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.title = QLabel("No run open: File → Open Run… (Ctrl+Shift+R)")
        self.title.setObjectName("runTitle")
        self.title.setProperty("role", "sectionTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = QLabel()
        self.status.setObjectName("runStatus")
        self.status.setProperty("role", "muted")
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.status)
        layout.addLayout(top)
        self.ranks_label = QLabel()
        self.ranks_label.setObjectName("runRanks")
        self.ranks_label.setToolTip("Each rank's own loss and gradient norms (watch(..., ranks=\"all\")): after the "
                                    "all-reduce they should agree; a rank that differs is named")
        self.ranks_label.hide()
        layout.addWidget(self.ranks_label)
        self.error_label = QLabel()
        self.error_label.setObjectName("runError")
        self.error_label.setProperty("role", "errorText")  # the theme's error colour
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.nan_origin = None  # WatchedOrigin: where NaN/Inf started, once a record says
        self._point_at_origin = False  # the next graph shown selects the origin's node
        self.nan_label = QLabel()
        self.nan_label.setObjectName("runNanOrigin")
        self.nan_label.setProperty("role", "errorText")
        self.nan_label.setWordWrap(True)
        self.nan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.nan_button = QPushButton("Go to it")
        self.nan_button.setObjectName("runNanOriginButton")
        self.nan_button.setToolTip("Show the iteration where NaN/Inf started and select the op in its graph "
                                   "(Ctrl+Shift+N)")
        self.nan_button.clicked.connect(lambda: self.show_nan_origin())
        self._nan_row = QWidget()
        self._nan_row.setObjectName("runNanOriginRow")
        nan_row = QHBoxLayout(self._nan_row)
        nan_row.setContentsMargins(0, 0, 0, 0)
        nan_row.addWidget(self.nan_label, 1)
        nan_row.addWidget(self.nan_button, 0, Qt.AlignmentFlag.AlignTop)
        self._nan_row.hide()
        layout.addWidget(self._nan_row)

        self.graph_view = GraphView()
        self.graph_view.setObjectName("runGraphView")
        # Beside the charts the node-details side panel would take half the graph's
        # width: it starts closed; the graph toolbar's Details toggle opens it.
        self.graph_view.toolbar.details_button.setChecked(False)
        self.graph_view.nodeClicked.connect(self._on_node_clicked)
        self.graph_view.ready.connect(self._share_width)  # a new drawing: the room its labels need
        self.no_graph = QLabel()
        self.no_graph.setObjectName("runNoGraph")
        self.no_graph.setProperty("role", "placeholder")
        self.no_graph.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_graph.setWordWrap(True)
        self.graph_stack = QStackedWidget()
        self.graph_stack.addWidget(self.no_graph)
        self.graph_stack.addWidget(self.graph_view)
        self.norms = NormsPanel()
        self.norms.set_histogram_shown(False)  # it needs every iteration's tensors; the viewer keeps a few
        self.flow = GradientFlowPlot()
        self.gradients = GradientPanel()

        # The graph runs top to bottom (loss at the bottom): it gets the full height
        # on the left, where its labels stay readable; the charts share the right.
        # Top right: norm bars, loss and gradient flow side by side (the three
        # small charts); below them the heatmaps, which need the width.
        upper = self._charts_row = QSplitter(Qt.Orientation.Horizontal)
        upper.setObjectName("runChartsRow")
        upper.addWidget(self.norms)
        upper.addWidget(self.flow)
        upper.setStretchFactor(0, 3)
        upper.setStretchFactor(1, 2)
        charts = QSplitter(Qt.Orientation.Vertical)
        charts.setObjectName("runChartsSplitter")
        charts.addWidget(upper)
        charts.addWidget(self.gradients)
        charts.setStretchFactor(0, 1)
        charts.setStretchFactor(1, 1)
        charts.setChildrenCollapsible(False)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("runSplitter")
        self.splitter.addWidget(self.graph_stack)
        self.splitter.addWidget(charts)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        layout.addWidget(self.splitter, 1)
        self._user_sized = False
        for splitter in (self.splitter, upper, charts):
            splitter.splitterMoved.connect(self._on_user_sized)

        bar = QHBoxLayout()
        history = QLabel("Iteration")
        history.setProperty("role", "sectionTitle")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("runSlider")
        self.slider.setRange(0, 0)
        self.slider.setPageStep(10)
        self.slider.setToolTip("Every recorded iteration of the run: drag to look at one (leaves Live)")
        self.slider.valueChanged.connect(self._on_slider)
        self.live_button = QPushButton("Live")
        self.live_button.setObjectName("runLiveButton")
        self.live_button.setCheckable(True)
        self.live_button.setChecked(True)
        self.live_button.setToolTip("Follow the newest iteration as the training writes it (Ctrl+L)")
        self.live_button.clicked.connect(lambda: self.go_live())
        bar.addWidget(history)
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.live_button)
        layout.addLayout(bar)
        self.history_label = QLabel()
        self.history_label.setObjectName("runHistoryLabel")
        self.history_label.setProperty("role", "muted")
        layout.addWidget(self.history_label)
        self._show_empty("Open a run file written by gradviz.watch")

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        # Theme, zoom and lecture mode restyle the app; the hand-coloured charts
        # follow once per change (the timer merges the burst of events).
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self._theme_timer.start()

    def apply_theme(self) -> None:
        for panel in (self.norms, self.flow, self.gradients):
            panel.apply_theme()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        # Splitters share only *extra* space by their stretch factors; the shares
        # the charts need are set outright, so every window size starts readable.
        # Once the user drags a handle, their sizes win.
        self._share_width()

    def _share_width(self) -> None:
        """The graph's pane as wide as its labels need at the text size (within
        GRAPH_SHARE of the window), the charts the rest; once the user drags a
        handle, their sizes win. At a fixed 27 % DigitsNet's labels were 9 px."""
        if self._user_sized:
            return
        width = max(1, self.width())
        least, most = (round(width * share) for share in GRAPH_SHARE)
        most = max(least, min(most, width - CHARTS_LEAST_PX))
        wanted = self.graph_view.width_for_text_size() if self.graph_stack.currentWidget() is self.graph_view else None
        graph = least if wanted is None else max(least, min(most, wanted))
        self.splitter.setSizes([graph, width - graph])
        row = width - graph
        self._charts_row.setSizes([row * 7 // 10, row * 3 // 10])

    # -- API -------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.run.path if self.run is not None else ""

    @property
    def loading(self) -> bool:
        return self._task is not None

    @property
    def watcher(self) -> RunFileWatcher | None:
        return self._watcher

    def open(self, path: str | os.PathLike) -> None:
        """Open ``path`` in the background; ``opened`` or ``failed`` says how it went.
        What was on screen stays until the new run is read."""
        path = os.fspath(path)
        if self._task is not None:
            self._task.cancel()
        self.status.setText(f"Reading {os.path.basename(path)}…")

        def work(task):
            from gradviz.core.runfile import open_run

            run = open_run(path)
            try:
                indices = run.indices()
                records = []
                for n, iteration in enumerate(indices):
                    if task.cancelled:
                        run.close()
                        return None
                    records.append(run.read(iteration, tensors=False))
                    if n % 50 == 0:
                        task.report(n / max(1, len(indices)), f"Reading iteration {iteration} of {indices[-1]}…")
                return run, records
            except BaseException:
                run.close()
                raise

        self._task = task = run_task(
            work,
            on_done=lambda result: self._opened(task, path, result),
            on_error=lambda exc, details: self._open_failed(task, path, exc),
            on_progress=lambda fraction, message: self.status.setText(message),
        )

    def refresh(self) -> int:
        """Read the iterations committed since the last look; returns how many came."""
        if self.run is None or self._task is not None:
            return 0
        from gradviz.core.runfile import RunFileError

        try:
            new = [self.run.read(i, tensors=False) for i in self.run.poll()]
        except RunFileError as exc:
            # What is on screen stays (it was read whole); it just may not be the end of the run.
            self._refresh_failed = True
            self._set_error(f"Cannot read new iterations: {exc}")
            self.status.setText("⚠ out of date: new iterations cannot be read")
            return 0
        if self._refresh_failed:
            self._refresh_failed = False
            self._set_error("")
            self._update_status()
        if not new:
            return 0
        self.records.extend(new)
        self._note_nan_origin(new)
        moved = self.timeline.extend(r.index for r in new)
        if moved:
            self._show_selected()
        else:
            # Looking at an older iteration: it stays; the curves and the slider grow.
            self.norms.set_records(self.records, selected=self._selected_record())
            self._norms_records = len(self.records)
            self._sync_slider()
        self._update_status()
        self.iterationsAdded.emit(len(new))
        return len(new)

    def select_iteration(self, iteration: int) -> None:
        """Show recorded iteration ``iteration`` (leaves Live)."""
        self.timeline.select_iteration(iteration)
        self._show_selected()

    def show_nan_origin(self) -> bool:
        """Go to the iteration where NaN/Inf started and select its op in the graph
        (flagged, centred, its reason in the details panel); False when none is known."""
        origin = self.nan_origin
        if origin is None or self.run is None:
            return False
        self._point_at_origin = True
        self.select_iteration(origin.iteration)
        return True

    def go_live(self) -> None:
        """Follow the newest iteration."""
        self.timeline.go_live()
        self._show_selected()

    @property
    def kept_whole(self) -> list[int]:
        """Iterations whose whole records (tensors included) are in memory, least recently shown first."""
        return list(self._full)

    def selected_record(self):
        """The record on screen (None: none yet)."""
        return self._selected_record()

    def close_run(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.deleteLater()
            self._watcher = None
        if self.run is not None:
            self.run.close()
            self.run = None

    # -- opening ---------------------------------------------------------------------------
    def _opened(self, task, path: str, result) -> None:
        if task is not self._task:
            if result is not None:
                result[0].close()  # a newer open replaced this one
            return
        self._task = None
        if result is None:
            return
        self.close_run()
        self.run, self.records = result
        self._norms_records = -1  # how many records the norms panel's curves were drawn from
        self._full.clear()
        self._refresh_failed = self._damaged_shown = False
        self.timeline = Timeline(self.run.indices())
        self._graph_on_view = None
        self._set_error("")
        self.nan_origin = None
        self._note_nan_origin(self.records)
        self.norms.set_parameters(list(self.run.param_names))
        self.gradients.set_parameters([(name, self.run.param_shapes[name]) for name in self.run.recorded_params])
        self._watcher = RunFileWatcher(self.run.path, self, force_polling=self._force_polling)
        self._watcher.changed.connect(self.refresh)
        meta = self.run.meta
        optimizer = meta.get("optimizer") or "no optimizer"
        self.title.setText(
            f"<b>{os.path.basename(self.run.path)}</b> · {meta.get('model', '?')} · {optimizer} · "
            f"level {self.run.level} · every {self.run.every}"
        )
        self.title.setToolTip(self.run.path)
        self._show_selected()
        # Iterations committed while the file was being read.
        self.refresh()
        self.opened.emit(self.run.path)

    def _open_failed(self, task, path: str, exc: BaseException) -> None:
        if task is not self._task:
            return
        self._task = None
        from gradviz.core.runfile import RunFileError

        message = str(exc) if isinstance(exc, RunFileError) else f"Cannot open {path}: {summary_of(exc)}"
        self._set_error(message)
        self._update_status()
        self.failed.emit(message)

    def _note_nan_origin(self, records) -> None:
        """The watcher searched once per run: the first record holding an origin is the one."""
        if self.nan_origin is None:
            self.nan_origin = next((r.nonfinite_origin for r in records
                                    if getattr(r, "nonfinite_origin", None) is not None), None)
        origin = self.nan_origin
        self._nan_row.setVisible(origin is not None)
        if origin is None:
            return
        self.nan_label.setText(f"⚠ {origin.describe()}")
        source = f"\n{origin.source}" if origin.source is not None else ""
        self.nan_label.setToolTip("\n".join(origin.details or [origin.reason]) + source)
        self.nan_button.setEnabled(True)
        self.nanOriginFound.emit(origin)

    def _set_error(self, message: str) -> None:
        self.error = message
        self.error_label.setText(f"✗ {message}" if message else "")
        self.error_label.setToolTip(message)
        self.error_label.setVisible(bool(message))

    # -- showing -----------------------------------------------------------------------------
    def _selected_record(self):
        iteration = self.timeline.selected
        if self.run is None or iteration is None:
            return None
        record = self._full.get(iteration)
        if record is None:
            record = self._full[iteration] = self.run.read(iteration)
            while len(self._full) > FULL_RECORDS_KEPT:
                self._full.popitem(last=False)
        self._full.move_to_end(iteration)
        return record

    def _show_empty(self, message: str) -> None:
        self.no_graph.setText(message)
        self.graph_stack.setCurrentWidget(self.no_graph)
        self.gradients.clear(message)
        self._sync_slider()

    def _show_selected(self) -> None:
        from gradviz.core.runfile import RunFileError

        try:
            record = self._selected_record()
        except RunFileError as exc:  # that iteration's rows are damaged: say so, keep the rest
            self._sync_slider()
            self._damaged_shown = True
            self._set_error(str(exc))
            return
        if self._damaged_shown:  # the message was about another iteration
            self._damaged_shown = False
            self._set_error("")
        self._sync_slider()
        if record is None:
            self.ranks_label.hide()
            self._update_status()
            self._show_empty("No iteration recorded yet: the training has not written one" if self.run is not None
                             else "Open a run file written by gradviz.watch")
            self.norms.set_records([], None)
            self._norms_records = 0
            self.flow.show_records([], None, [])
            self.selectionChanged.emit(None)
            return
        self._show_graph(record)
        self._update_status()
        self._show_ranks(record)
        if self._norms_records != len(self.records):
            self.norms.set_records(self.records, selected=record)
            self._norms_records = len(self.records)
        else:
            self.norms.set_selected(record)  # the curve is unchanged: only the bars and the marker move
        position = self.timeline.position or 0
        earlier = list(reversed(self.records[max(0, position - EARLIER_SHOWN):position]))
        self.flow.show_records(self.run.param_names, record, earlier)
        if self.run.recorded_params:
            self.gradients.show_record(record, "step")
        else:
            self.gradients.clear("No parameter was recorded whole in this run (watch(..., params=[...]) chooses them)")
        self.selectionChanged.emit(record.index)

    def _show_ranks(self, record) -> None:
        check = check_ranks(record)
        self.ranks_label.setVisible(check is not None)
        if check is None:
            return
        self.ranks_label.setText(check.describe())
        role = "muted" if check.agree else "errorText"
        if self.ranks_label.property("role") != role:
            self.ranks_label.setProperty("role", role)
            theme.repolish(self.ranks_label)

    def _show_graph(self, record) -> None:
        graph = record.graph
        if graph is None:
            self._graph_on_view = None
            self.no_graph.setText("No graph in this run: it was recorded at the light level (norms only);\n"
                                  "watch(..., level=\"full\") records the autograd graph")
            self.graph_stack.setCurrentWidget(self.no_graph)
            return
        self.graph_stack.setCurrentWidget(self.graph_view)
        view = self.graph_view
        origin_key = self._origin_key(record, graph)
        point, self._point_at_origin = self._point_at_origin and origin_key is not None, False
        if graph is not self._graph_on_view:
            # The run shares one graph object between the iterations of one structure:
            # a different object is a new version of the graph.
            if point:
                view.set_graph_with_problem(graph, origin_key)
                point = False
            else:
                view.set_graph(graph)
            self._graph_on_view = graph
        else:
            view.clear_highlights()
        marks = self.marks = graph_marks(graph, record)
        view.set_edge_weights(marks.edge_weights)
        view.set_gradient_stats(marks.stats)
        view.flag_nodes(marks.flagged + ([origin_key] if origin_key is not None else []))
        if point:
            view.show_problem(origin_key)

    def _origin_key(self, record, graph):
        """The origin's node when ``record`` is the iteration searched (its details panel
        then says why); the graph is shared with other iterations, which must not say so."""
        from gradviz.core.node_notes import ORIGIN_ATTR

        origin = self.nan_origin
        if origin is None:
            return None
        here = origin.iteration == record.index and origin.key in graph
        for key, attrs in graph.nodes(data=True):
            if ORIGIN_ATTR in attrs and not (here and key == origin.key):
                del attrs[ORIGIN_ATTR]
        if not here:
            return None
        lines = origin.details or [origin.reason]
        graph.nodes[origin.key][ORIGIN_ATTR] = "\n".join(lines)
        return origin.key

    def graph_version(self) -> tuple[int, int]:
        """``(version on screen, versions so far)`` of the graph's structure, counting from 1; (0, 0) without graphs."""
        versions: dict[int, int] = {}  # id(graph) -> version; the run shares one object per structure
        for record in self.records:
            if record.graph is not None:
                versions.setdefault(id(record.graph), len(versions) + 1)
        current = versions.get(id(self._graph_on_view), 0) if self._graph_on_view is not None else 0
        return current, len(versions)

    def _sync_slider(self) -> None:
        self._updating = True
        count = len(self.timeline)
        self.slider.setRange(0, max(0, count - 1))
        self.slider.setTickInterval(max(1, count // 20))
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow if count > 1 else QSlider.TickPosition.NoTicks)
        position = self.timeline.position
        self.slider.setValue(position if position is not None else 0)
        self.slider.setEnabled(count > 1)
        self._updating = False
        self.live_button.setChecked(self.timeline.live)
        self.history_label.setText(self.timeline.describe())

    def _on_user_sized(self, *_args) -> None:
        self._user_sized = True

    def _on_node_clicked(self, key) -> None:
        # A click on a parameter shows its heatmaps, when it was recorded whole.
        graph = self._graph_on_view
        name = graph.nodes[key].get("name") if graph is not None and key in graph else None
        if name and self.run is not None and name in self.run.recorded_params:
            self.gradients.set_param(name)

    def _on_slider(self, value: int) -> None:
        if self._updating:
            return
        self.timeline.select_position(value)
        self._show_selected()

    def _update_status(self) -> None:
        if self.run is None:
            self.status.setText("")
            return
        parts = []
        version, versions = self.graph_version()
        if versions > 1:
            parts.append(f"graph version {version} of {versions} (the structure changed)")
        if self._watcher is not None:
            parts.append("● watching for new iterations" + (" (every 1 s)" if self._watcher.polling else ""))
        self.status.setText(" · ".join(parts))
