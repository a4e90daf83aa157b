"""The five phases of one training iteration as the tutorial's code, like a debugger.

Each phase is a row: a marker (✓ done, ▶ next, ● running), the phase name and
the PyTorch line it stands for. The row that runs is filled with the accent
colour; below the rows one sentence says what the phase does. On a projector
the class reads the code it is watching.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from gradviz.ui import theme
from gradviz.core.vocabulary import PHASES


# The tutorial's loop, line by line (the PyTorch "Neural Networks" tutorial).
CODE = {
    "zero_grad": "optimizer.zero_grad()",
    "forward": "out = net(input)",
    "loss": "loss = criterion(out, target)",
    "backward": "loss.backward()",
    "step": "optimizer.step()",
}
# manual_sgd is the tutorial's hand-written update; it zeroes through the net.
MANUAL_CODE = {
    "zero_grad": "net.zero_grad()",
    "step": "for f in net.parameters():\n    f.data.sub_(f.grad.data * learning_rate)",
}

EXPLAIN = {
    "zero_grad": "Clear every parameter's .grad — gradients add up, so last iteration's must go.",
    "forward": "Run the network on the input. Autograd records each operation: the graph is built now.",
    "loss": "Compare the output with the target: one number, the root of the graph.",
    "backward": "Walk the graph from the loss back to the parameters: each .grad receives ∂loss/∂w.",
    "step": "Update every parameter from its gradient. The graph was freed by backward.",
}
STEP_EXPLAIN = {
    "sgd": "Update every parameter: w ← w − lr·grad. The graph was freed by backward.",
    "manual_sgd": "Update every parameter by hand: w ← w − lr·grad. The graph was freed by backward.",
    "sgd_momentum": "Update with momentum: v ← 0.9·v + grad, w ← w − lr·v.",
    "adam": "Adam update: each weight moves by lr scaled by its running gradient statistics.",
}

# Text sizes relative to the app font (so zoom and lecture mode scale them).
NAME_SCALE, CODE_SCALE = 1.05, 1.12
MARKER_EM, NAME_EM = 1.3, 5.6

MARKERS = {"done": "✓", "next": "▶", "running": "●", "pending": " ", "viewing": "◆"}


def code_for(phase: str, optimizer: str = "sgd") -> str:
    """The PyTorch line(s) a phase stands for with ``optimizer``."""
    if optimizer == "manual_sgd" and phase in MANUAL_CODE:
        return MANUAL_CODE[phase]
    return CODE[phase]


class _PhaseRow(QFrame):
    def __init__(self, phase: str, parent=None):
        super().__init__(parent)
        self.phase = phase
        self.setObjectName(f"phaseRow_{phase}")
        self.state = "pending"
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(10)
        self.marker = QLabel(" ")
        self.marker.setProperty("role", "phaseMarker")
        self.marker.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name = QLabel(phase)
        self.name.setProperty("role", "phaseName")
        self.code = QLabel(CODE[phase])
        self.code.setObjectName(f"phaseCode_{phase}")
        self.code.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Fonts come from the row's stylesheet (``_row_style``) so that they
        # follow the app's zoom and lecture mode.
        layout.addWidget(self.marker)
        layout.addWidget(self.name)
        layout.addWidget(self.code, 1)


class PhaseIndicator(QWidget):
    """Shows which phase ran, runs and comes next (objectName ``phaseIndicator``)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("phaseIndicator")
        self._optimizer = "sgd"
        self._iteration = 0
        self._next: str | None = "zero_grad"
        self._running: str | None = None
        self._viewing: str | None = None  # time travel: the phase looked at
        self._styled: dict[str, str] = {}
        self._names_shown = True
        self._compact = False  # set_compact: only the current row
        self._sentence_shown = True  # set_sentence_shown: the sentence under the rows
        self._width_limit: int | None = None  # the most width the column gives the rows (None: any)
        self._code_scale = CODE_SCALE

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(3)
        header = QHBoxLayout()
        self.iteration_label = QLabel()
        self.iteration_label.setObjectName("iterationLabel")
        self.status_label = QLabel()
        self.status_label.setObjectName("phaseStatus")
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        header.addWidget(self.iteration_label)
        header.addStretch(1)
        header.addWidget(self.status_label)
        layout.addLayout(header)

        self.rows = {phase: _PhaseRow(phase, self) for phase in PHASES}
        for row in self.rows.values():
            layout.addWidget(row)
        self.explanation = QLabel()
        self.explanation.setObjectName("phaseExplanation")
        self.explanation.setWordWrap(True)
        self.explanation.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout.addSpacing(4)
        layout.addWidget(self.explanation)
        layout.addStretch(1)
        self._refresh()

    # -- API ------------------------------------------------------------------------
    def set_optimizer(self, name: str) -> None:
        """Show the step (and zero_grad) line for ``name`` (``manual_sgd``: the tutorial's loop)."""
        self._optimizer = name or "sgd"
        self._refresh()

    def set_state(self, iteration: int, next_phase: str | None, running: str | None = None) -> None:
        """Live: ``running`` is in the worker now; ``next_phase`` runs after it."""
        self._iteration, self._next, self._running, self._viewing = iteration, next_phase, running, None
        self._refresh()

    def show_history(self, iteration: int, phase: str) -> None:
        """Time travel: the iteration as it was right after ``phase``."""
        self._iteration, self._viewing, self._running = iteration, phase, None
        self._refresh()

    @property
    def iteration(self) -> int:
        """The iteration number shown."""
        return self._iteration

    @property
    def next_phase(self) -> str | None:
        """The phase shown as next (None: no network); the live state only."""
        return self._next

    @property
    def viewing(self) -> str | None:
        """The phase looked at in the history, None while live."""
        return self._viewing

    @property
    def running(self) -> str | None:
        return self._running

    def highlighted_phase(self) -> str | None:
        """The row drawn as current: running, looked at in history, or next."""
        return self._running or self._viewing or self._next

    def code_line(self, phase: str) -> str:
        return self.rows[phase].code.text()

    def row_state(self, phase: str) -> str:
        return self.rows[phase].state

    # -- drawing ----------------------------------------------------------------------
    def _states(self) -> dict[str, str]:
        if self._viewing is not None:
            upto = PHASES.index(self._viewing)
            return {p: ("viewing" if i == upto else "done" if i < upto else "pending") for i, p in enumerate(PHASES)}
        current = self._running or self._next
        index = PHASES.index(current) if current in PHASES else 0
        states = {}
        for i, phase in enumerate(PHASES):
            if i < index:
                states[phase] = "done"
            elif i == index:
                states[phase] = "running" if self._running else "next"
            else:
                states[phase] = "pending"
        return states

    def set_names_shown(self, shown: bool) -> None:
        """Show the phase names beside the code lines (lecture mode leaves them out:
        the step buttons above name the phases, and the graph gets the width)."""
        shown = bool(shown)
        for row in self.rows.values():
            row.name.setVisible(shown)
        if shown != self._names_shown:
            self._names_shown = shown
            self._refresh()  # the rows' minimum width with or without the names

    def set_compact(self, on: bool) -> None:
        """Show only the current phase's row (running, looked at, or next), for a
        short lecture screen: the step buttons above already show the five phases
        and which one is current, and the rows' height goes to the gradients."""
        on = bool(on)
        if on != self._compact:
            self._compact = on
            # Only which rows show: a full refresh here, in the middle of lecture
            # mode's restyle, set the old text size's widths as the column's minimum.
            self._show_current_rows()

    @property
    def compact(self) -> bool:
        return self._compact

    def set_sentence_shown(self, shown: bool) -> None:
        """Show the sentence explaining the current phase under the rows, or (lecture
        mode: the lecturer says it, the gradients get its height) as the current
        row's tooltip. Compact mode never shows it under the row."""
        shown = bool(shown)
        if shown != self._sentence_shown:
            self._sentence_shown = shown
            self._show_current_rows()

    @property
    def sentence_shown(self) -> bool:
        """Whether the sentence shows under the rows (not in compact mode, nor where
        :meth:`set_sentence_shown` put it in the current row's tooltip)."""
        return self._sentence_shown and not self._compact

    def rows_bottom(self, within: int | None = None) -> int:
        """The bottom of the last row shown, in the indicator's own coordinates
        (its size hint's height before it is laid out); with ``within``, of the
        last one that ends there or above (the header's bottom if none does)."""
        shown = [row for row in self.rows.values() if not row.isHidden()]
        if not shown or shown[-1].y() <= 0:  # not laid out yet (rows sit under the header): its own wish
            return self.sizeHint().height()
        bottoms = [row.geometry().bottom() + 1 for row in shown]
        if within is None:
            return bottoms[-1]
        return max([b for b in bottoms if b <= within], default=shown[0].y())

    def set_width_limit(self, pixels: int | None) -> None:
        """The widest the indicator may get (the column beside the graph). When the code
        at its size would be wider (lecture text at 200 % in a small window), the code
        text shrinks until the longest line fits, rather than be cut or scrolled."""
        pixels = None if pixels is None else max(1, int(pixels))
        if pixels != self._width_limit:
            self._width_limit = pixels
            self._refresh()

    @property
    def code_scale(self) -> float:
        """The code lines' size relative to the app font (CODE_SCALE unless shrunk to fit)."""
        return self._code_scale

    def apply_theme(self) -> None:
        """Colours and sizes from the current theme and zoom (after a change)."""
        self._styled.clear()
        self._refresh()

    def _refresh(self) -> None:
        c = theme.colours()
        pt = QApplication.font().pointSizeF()
        title_style = f"font-size: {pt * 1.3:.1f}pt; font-weight: 700;"
        if self.iteration_label.styleSheet() != title_style:
            self.iteration_label.setStyleSheet(title_style)
        codes = [code_for(p, self._optimizer) for p in PHASES]
        self._code_scale = _fitting_code_scale(codes, pt, self._names_shown, self._width_limit)
        states = self._states()
        for phase, row in self.rows.items():
            state = states[phase]
            row.state = state
            row.marker.setText(MARKERS[state])
            row.code.setText(code_for(phase, self._optimizer))
            row.setProperty("state", state)
            style = _row_style(row.objectName(), state, c, pt, self._code_scale)
            if self._styled.get(phase) != style:  # restyling is slow; rows change rarely
                self._styled[phase] = style
                row.setStyleSheet(style)
                row.ensurePolished()
                # A squeezed dock must not clip the code (underscores vanish first).
                row.setMinimumHeight(row.sizeHint().height())
        # Nor cut a line short. Measured with the stylesheet's fonts directly:
        # the labels only pick those up once shown, too late for the dock.
        self.setMinimumWidth(_needed_width(codes, pt, self._names_shown, self._code_scale))
        # Two lines of explanation always fit; the longest ones need two.
        self.explanation.setMinimumHeight(self.explanation.fontMetrics().lineSpacing() * 2 + 6)
        if self._viewing is not None:
            self.iteration_label.setText(f"Iteration {self._iteration}  (history)")
            self.status_label.setText(f"as it was after {self._viewing}")
            shown = self._viewing
        else:
            self.iteration_label.setText(f"Iteration {self._iteration}")
            if self._running:
                self.status_label.setText(f"running {self._running}…")
            elif self._next:
                self.status_label.setText(f"next: {self._next}")
            else:
                self.status_label.setText("no network")
            shown = self._running or self._next
        text = EXPLAIN.get(shown, "")
        if shown == "step":
            text = STEP_EXPLAIN.get(self._optimizer, text)
        self.explanation.setText(text)
        self._show_current_rows()

    def _show_current_rows(self) -> None:
        """Every row, or in compact mode the current one only; the sentence under
        them, or as the current row's tooltip (under one row it would be cut mid-line)."""
        current = self.highlighted_phase() or PHASES[0]
        in_tooltip = not self.sentence_shown
        for phase, row in self.rows.items():
            row.setHidden(self._compact and phase != current)
            row.setToolTip(self.explanation.text() if in_tooltip and phase == current else "")
        self.explanation.setHidden(in_tooltip)


def _mono_font(pt: float, code_scale: float = CODE_SCALE) -> QFont:
    font = QFont("DejaVu Sans Mono")
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setPointSizeF(pt * code_scale)
    return font


# Shrinking stops here: below it the code would be smaller than the text around it.
MIN_CODE_SCALE = 0.75


def _fitting_code_scale(code: list[str], pt: float, names_shown: bool, limit: int | None) -> float:
    """CODE_SCALE, or less when the rows would be wider than ``limit`` px."""
    scale = CODE_SCALE
    while limit is not None and scale > MIN_CODE_SCALE and _needed_width(code, pt, names_shown, scale) > limit:
        scale = max(MIN_CODE_SCALE, scale * 0.96)
    return scale


def _needed_width(code: list[str], pt: float, names_shown: bool = True, code_scale: float = CODE_SCALE) -> int:
    """Width of the widest row: marker, phase name (when shown) and the longest code line."""
    bold = QFont(QApplication.font())
    bold.setPointSizeF(pt * NAME_SCALE)
    bold.setBold(True)
    em = QFontMetrics(bold).horizontalAdvance("M")
    mono = QFontMetrics(_mono_font(pt, code_scale))
    longest = max(mono.horizontalAdvance(line) for text in code for line in text.splitlines())
    # marker + name (their min-widths in em), two gaps, row margins, border, widget margins, slack
    return round(em * (MARKER_EM + (NAME_EM if names_shown else 0)) + longest + 2 * 10 + 16 + 6 + 12 + 20)


def _row_style(name: str, state: str, c: dict, pt: float, code_scale: float = CODE_SCALE) -> str:
    # Projectors wash out pale tints: the running row is a solid accent fill
    # with white text, the next one gets a thick accent outline.
    selector = f"QFrame#{name}"
    fonts = (f"{selector} QLabel {{ font-size: {pt * NAME_SCALE:.1f}pt; font-weight: 700; }}"
             f"{selector} QLabel[role=\"phaseMarker\"] {{ min-width: {MARKER_EM}em; }}"
             f"{selector} QLabel[role=\"phaseName\"] {{ min-width: {NAME_EM}em; }}"
             f"{selector} QLabel#phaseCode_{name.removeprefix('phaseRow_')} {{"
             f" font-family: 'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace; font-size: {pt * code_scale:.1f}pt;"
             f" font-weight: 400; }}")
    return fonts + _row_colours(selector, state, c)


def _row_colours(selector: str, state: str, c: dict) -> str:
    if state == "running":
        return (f"{selector} {{ background: {c['accent']}; border: 2px solid {c['accent']}; border-radius: 6px; }}"
                f"{selector} QLabel {{ color: {c['accent_text']}; }}")
    if state in ("next", "viewing"):
        return (f"{selector} {{ background: {c['accent_soft']}; border: 3px solid {c['accent']}; border-radius: 6px; }}"
                f"{selector} QLabel {{ color: {c['text']}; }}")
    if state == "done":
        return (f"{selector} {{ background: transparent; border: 2px solid transparent; }}"
                f"{selector} QLabel {{ color: {c['ok']}; }}")
    return (f"{selector} {{ background: transparent; border: 2px solid transparent; }}"
            f"{selector} QLabel {{ color: {c['muted']}; }}")
