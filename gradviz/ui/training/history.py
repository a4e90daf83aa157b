"""HistoryBar: travel back to any kept iteration and phase.

A slider over the session's kept records (the right end is *live*: what the
session does now) and a phase selector. Moving either emits
``selectionChanged(record, phase)``; ``record`` None means live. The records
are the session's own (``session.history``): their graphs are detached, so
showing an old one costs no autograd memory.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)
from gradviz.core.vocabulary import PHASES



class HistoryBar(QWidget):
    """objectNames: ``historyBar``, ``historySlider``, ``phaseSelector``, ``liveButton``, ``historyLabel``,
    ``historyMemory``."""

    selectionChanged = Signal(object, str)  # record (None: live), phase

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("historyBar")
        self._records: list = []
        self._updating = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        row = QHBoxLayout()
        title = QLabel("History")
        title.setProperty("role", "sectionTitle")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("historySlider")
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.valueChanged.connect(self._on_changed)
        self.phase = QComboBox()
        self.phase.setObjectName("phaseSelector")
        self.phase.addItems(PHASES)
        self.phase.setCurrentText("step")
        self.phase.setToolTip("Show the iteration as it was right after this phase")
        self.phase.currentIndexChanged.connect(self._on_phase_changed)
        self.live = QPushButton("Live")
        self.live.setObjectName("liveButton")
        self.live.setCheckable(True)
        self.live.setChecked(True)
        self.live.setToolTip("Back to what the session does now")
        self.live.clicked.connect(lambda: self.go_live())
        row.addWidget(title)
        row.addWidget(self.slider, 1)
        row.addWidget(self.phase)
        row.addWidget(self.live)
        layout.addLayout(row)
        # What the kept records cost: "history 120 MB of 2.0 GB" (gradviz.core.history).
        # Under the slider, and the sentence below it wraps: beside the graph at
        # lecture text sizes, one long row would push the column past the window.
        self.memory = QLabel()
        self.memory.setObjectName("historyMemory")
        self.memory.setProperty("role", "muted")
        self.memory.hide()
        layout.addWidget(self.memory)
        self.label = QLabel()
        self.label.setObjectName("historyLabel")
        self.label.setProperty("role", "muted")
        self.label.setWordWrap(True)
        layout.addWidget(self.label)
        self._refresh_label()

    # -- API -----------------------------------------------------------------------------
    @property
    def is_live(self) -> bool:
        return self.slider.value() >= len(self._records)

    def selected(self) -> tuple[object | None, str]:
        """``(record, phase)``; record None when live."""
        if self.is_live:
            return None, self.phase.currentText()
        return self._records[self.slider.value()], self.phase.currentText()

    def set_records(self, records: list, memory=None) -> None:
        """The kept records, oldest first. Live stays live; a looked-at record stays selected.

        ``memory``: the session's ``History`` (its ``describe()`` and ``note``), shown beside the slider.
        """
        self._show_memory(memory)
        record, _ = self.selected()
        self._records = list(records)
        self._updating = True
        self.slider.setRange(0, len(self._records))
        if record is not None and record in self._records:
            self.slider.setValue(self._records.index(record))
        else:
            self.slider.setValue(len(self._records))
        self._updating = False
        self._sync_live()
        self._refresh_label()

    def show_iteration(self, index: int, phase: str = "step") -> bool:
        """Select the kept record of iteration ``index`` (False when it is not kept)."""
        for position, record in enumerate(self._records):
            if record.index == index:
                self._updating = True
                self.phase.setCurrentText(phase)
                self._updating = False
                self.slider.setValue(position)
                self._on_changed()
                return True
        return False

    def go_live(self) -> None:
        if self.slider.value() != len(self._records):
            self.slider.setValue(len(self._records))  # emits through _on_changed
        else:
            self._sync_live()
            self._refresh_label()
            self.selectionChanged.emit(None, self.phase.currentText())

    def set_navigation_enabled(self, enabled: bool) -> None:
        """While phases run the view is live; looking back waits for a pause."""
        for widget in (self.slider, self.phase):
            widget.setEnabled(enabled)

    # -- internals --------------------------------------------------------------------------
    def _show_memory(self, history) -> None:
        if history is None:
            self.memory.hide()
            return
        note = getattr(history, "note", "")
        self.memory.setText(history.describe() + (" · ⚠ partial records" if note else ""))
        self.memory.setToolTip(
            (note + "\n\n" if note else "")
            + "Old records are dropped to stay within this budget (a quarter of the RAM at most; "
            "set GRADVIZ_HISTORY_FRACTION to change the share)."
        )
        self.memory.show()

    def _on_phase_changed(self) -> None:
        if self._updating:
            return
        if self.is_live and self._records:
            # Choosing a phase while live means "show me the last iteration at that phase".
            self._updating = True
            self.slider.setValue(len(self._records) - 1)
            self._updating = False
        self._on_changed()

    def _on_changed(self, *_args) -> None:
        self._sync_live()
        self._refresh_label()
        if self._updating:
            return
        record, phase = self.selected()
        self.selectionChanged.emit(record, phase)

    def _sync_live(self) -> None:
        self.live.setChecked(self.is_live)

    def _refresh_label(self) -> None:
        if not self._records:
            self.label.setText("Live · finished iterations will be kept here")
            return
        first, last = self._records[0].index, self._records[-1].index
        kept = f"iteration {first}" if first == last else f"iterations {first}–{last}"
        if self.is_live:
            self.label.setText(f"Live · kept {kept}: drag the slider back to look")
        else:
            record = self._records[self.slider.value()]
            self.label.setText(f"Looking at iteration {record.index} after {self.phase.currentText()} · kept {kept}")
