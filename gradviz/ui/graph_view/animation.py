"""Export animation…: one iteration's forward build-up and backward replay as an
animated GIF and numbered PNG frames, for lecture slides.

Which frames there are is decided by :mod:`gradviz.core.animation` (Qt-free);
this module draws them and writes the files:

* :class:`FrameRenderer` draws a frame from its own copy of the shown graph
  (a scene of its own), so exporting never disturbs the view on screen.
* :func:`export_animation` does it all at once (scripts, tests).
* :class:`AnimationExport` does it for the GUI: frames are drawn a few at a
  time between events (QGraphicsScene lives on the GUI thread), the GIF and
  PNGs are encoded in a worker thread, with progress and cancel.
* :class:`AnimationDialog` (objectName ``exportAnimationDialog``) asks for the
  size, frame time, outputs and (with an iteration record) the parameter whose
  before→after update closes the animation, and states how many frames there will be.

The iteration record (``view.record_source()``, set by the window) gives the
real creation and backward order and the weights before and after the step;
without one the orders come from the graph (:mod:`gradviz.core.animation`).

Files: the GIF at the chosen path (``name.gif``); the frames beside it in
``name-frames/frame-001.png``, ``frame-002.png``, …
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetricsF, QImage, QPainter
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QProgressDialog, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

import numpy as np

from gradviz.core.animation import MORPH, Frame, animation_frames, frame_summary, morph_frames, weights_at
from gradviz.core.atomic_files import replaced_atomically
from gradviz.core.display.tensor_values import plotted_values
from gradviz.ui.on_screen import keep_on_screen, screen_width_room, width_in_lines

from . import style
from .items import GraphItem
from .model import ROLE_ACTIVE, ROLE_VISITED, SceneModel

__all__ = ["AnimationDialog", "AnimationExport", "AnimationSettings", "FrameRenderer", "export_animation",
           "frame_paths", "frames_for_view"]

CAPTION_HEIGHT = 34  # px: the strip at the top naming the phase and op
MARGIN = 16
FRAMES_PER_TICK = 4  # frames drawn between GUI events


@dataclass
class AnimationSettings:
    """What to write: ``path`` (the GIF; frames go beside it), picture ``size``, ``frame_ms`` per frame."""

    path: Path
    size: tuple[int, int] = (1280, 720)
    frame_ms: int = 400
    gif: bool = True
    png_frames: bool = True
    morph_parameter: str = ""  # a parameter name: its update closes the animation (needs a record)
    morph_steps: int = 12


def frame_paths(path: Path, count: int) -> list[Path]:
    """``name-frames/frame-001.png`` … for the GIF ``name.gif``."""
    path = Path(path)
    folder = path.with_name(f"{path.stem}-frames")
    return [folder / f"frame-{i:03d}.png" for i in range(1, count + 1)]


def _orders(graph, record) -> tuple[list | None, list | None]:
    """The record's creation and backward orders when they are about this graph, else None (derive them)."""
    if record is None:
        return None, None
    ops = {k for k, kind in graph.nodes(data="kind") if kind == "op"}
    creation = list(getattr(record, "creation_order", None) or []) or None
    backward = [k for k in (getattr(record, "backward_order", None) or []) if k in ops] or None
    if creation is not None and not ops <= set(creation):
        creation = None
    if backward is not None and set(backward) != ops:
        backward = None
    return creation, backward


def morph_parameters(record) -> list[str]:
    """The parameters whose before/after weights ``record`` holds (full-level records)."""
    before = getattr(record, "params_before", None) or {}
    after = getattr(record, "params_after", None) or {}
    return [name for name in before if name in after]


def frames_for_view(view, *, record=None, settings: AnimationSettings | None = None) -> list[Frame]:
    """The frames of the graph as ``view`` draws it (collapsed boxes included), plus the
    weight update of ``settings.morph_parameter`` when ``record`` holds it."""
    layout = view.scene_layout()
    if layout is None or view.graph() is None:
        return []
    creation, backward = _orders(view.graph(), record)
    frames = animation_frames(view.graph(), creation_order=creation, backward=backward, shown=layout.collapsed.shown)
    if settings is not None and settings.morph_parameter and settings.morph_parameter in morph_parameters(record):
        frames += morph_frames(settings.morph_parameter, settings.morph_steps)
    return frames


class FrameRenderer:
    """Draws frames of one laid-out graph at a fixed picture size."""

    def __init__(self, layout, fonts, size: tuple[int, int], record=None):
        from PySide6.QtWidgets import QGraphicsScene

        self.record = record
        self.size = (max(64, int(size[0])), max(64, int(size[1])))
        self.model = SceneModel.from_layout(layout)
        self.item = GraphItem(fonts)
        self.scene = QGraphicsScene()
        self.scene.addItem(self.item)
        self.item.set_model(self.model)
        left, top, right, bottom = self.model.bounds(margin=MARGIN)
        self.source = QRectF(left, top, right - left, bottom - top)
        self.caption_font = QFont(fonts.bold)
        self.caption_font.setPixelSize(18)

    def _target(self) -> QRectF:
        """The graph's place under the caption: as large as fits, centred (same in every frame)."""
        width, height = self.size
        room_h = height - CAPTION_HEIGHT
        scale = min(width / max(self.source.width(), 1.0), room_h / max(self.source.height(), 1.0))
        w, h = self.source.width() * scale, self.source.height() * scale
        return QRectF((width - w) / 2, CAPTION_HEIGHT + (room_h - h) / 2, w, h)

    def render(self, frame: Frame) -> QImage:
        if frame.phase == MORPH:
            return self._render_morph(frame)
        m = self.model
        index = m.index
        if frame.shown_nodes is None:
            m.hidden[:] = False
        else:
            m.hidden[:] = True
            for key in frame.shown_nodes:
                if key in index:
                    m.hidden[index[key]] = False
        m.alpha[:] = 1.0
        m.role[:] = 0
        for keys, code in ((frame.visited, ROLE_VISITED), (frame.active, ROLE_ACTIVE)):
            for key in keys:
                if key in index:
                    m.role[index[key]] = code
        self.item.visibility_version += 1
        m.touch_state()
        width, height = self.size
        image = QImage(width, height, QImage.Format_RGB32)
        image.fill(style.color(style.BACKGROUND))
        painter = QPainter(image)
        painter.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        painter.setPen(style.color("#1f2937"))
        draw_fitting(painter, QRectF(12, 0, width - 24, CAPTION_HEIGHT), Qt.AlignVCenter | Qt.AlignLeft,
                     frame.caption, self.caption_font)
        self.scene.render(painter, self._target(), self.source, Qt.KeepAspectRatio)
        painter.end()
        return image


    def _render_morph(self, frame: Frame) -> QImage:
        """Two heatmaps: the weights part-way through the update, and the change so far
        (its own colour scale: an update is small next to the weights)."""
        before = _as_grid(self.record.params_before[frame.parameter])
        after = _as_grid(self.record.params_after[frame.parameter])
        now = weights_at(before, after, frame.t)
        width, height = self.size
        image = QImage(width, height, QImage.Format_RGB32)
        image.fill(style.color(style.BACKGROUND))
        painter = QPainter(image)
        painter.setRenderHint(QPainter.TextAntialiasing)
        painter.setPen(style.color("#1f2937"))
        draw_fitting(painter, QRectF(12, 0, width - 24, CAPTION_HEIGHT), Qt.AlignVCenter | Qt.AlignLeft,
                     frame.caption, self.caption_font)
        weight_scale = float(max(np.nanmax(np.abs(before), initial=0), np.nanmax(np.abs(after), initial=0))) or 1.0
        change_scale = float(np.nanmax(np.abs(after - before), initial=0)) or 1.0
        panels = ((now, weight_scale, f"weights (|w| ≤ {weight_scale:.3g})"),
                  (now - before, change_scale, f"change so far (|Δw| ≤ {change_scale:.3g})"))
        panel_w = (width - 3 * MARGIN) / 2
        for i, (values, scale, title) in enumerate(panels):
            left = MARGIN + i * (panel_w + MARGIN)
            draw_fitting(painter, QRectF(left, CAPTION_HEIGHT, panel_w, 28), Qt.AlignCenter, title, self.caption_font)
            room = QRectF(left, CAPTION_HEIGHT + 30, panel_w, height - CAPTION_HEIGHT - 30 - MARGIN)
            heat = _heatmap(values / scale)
            k = min(room.width() / heat.width(), room.height() / heat.height())
            w, h = heat.width() * k, heat.height() * k
            painter.drawImage(QRectF(left + (panel_w - w) / 2, room.top() + (room.height() - h) / 2, w, h), heat)
        painter.end()
        return image


MIN_TEXT_PX = 10  # a frame's text shrinks to fit its width down to this, then loses its end


def fitted_text(text: str, font: QFont, width: float) -> tuple[QFont, str]:
    """``(font, text)`` that fit ``width`` px: the font made smaller (not below
    MIN_TEXT_PX), then the text shortened with "…". At 320 × 240 the frame titles ran
    past the frame ("backward 12/19 · MkldnnRnnLayerI") and the weight-update titles
    into each other."""
    fitted = QFont(font)
    px = fitted.pixelSize() if fitted.pixelSize() > 0 else round(fitted.pointSizeF() * 96 / 72)
    fitted.setPixelSize(px)
    metrics = QFontMetricsF(fitted)
    while metrics.horizontalAdvance(text) > width and px > MIN_TEXT_PX:
        px -= 1
        fitted.setPixelSize(px)
        metrics = QFontMetricsF(fitted)
    if metrics.horizontalAdvance(text) > width:
        text = metrics.elidedText(text, Qt.ElideRight, width)
    return fitted, text


def draw_fitting(painter: QPainter, rect: QRectF, flags, text: str, font: QFont) -> tuple[QFont, str]:
    """``painter.drawText`` of ``text`` made to fit ``rect``'s width (:func:`fitted_text`);
    returns the font and the text drawn."""
    fitted, shown = fitted_text(text, font, rect.width())
    painter.setFont(fitted)
    painter.drawText(rect, flags, shown)
    return fitted, shown


def _as_grid(tensor) -> np.ndarray:
    """A parameter as a 2-D array: conv kernels side by side (out·kh rows, in·kw columns)."""
    values = plotted_values(tensor)
    if values.ndim == 0:
        return values.reshape(1, 1)
    if values.ndim == 1:
        return values.reshape(1, -1)
    if values.ndim == 4:  # conv kernels as tiles in a near-square grid, a blank line between them
        out, inp, kh, kw = values.shape
        tiles = values.reshape(out * inp, kh, kw)
        columns = max(1, math.ceil(math.sqrt(len(tiles))))
        rows = math.ceil(len(tiles) / columns)
        grid = np.full((rows * (kh + 1) - 1, columns * (kw + 1) - 1), np.nan)
        for i, tile in enumerate(tiles):
            r, c = divmod(i, columns)
            grid[r * (kh + 1): r * (kh + 1) + kh, c * (kw + 1): c * (kw + 1) + kw] = tile
        return grid
    return values.reshape(values.shape[0], -1)


def _heatmap(values: np.ndarray) -> QImage:
    """Values in [-1, 1] as blue (negative) – white – red (positive), one pixel per weight."""
    gap = np.isnan(values)[..., None]  # between conv kernels
    v = np.clip(np.nan_to_num(values), -1.0, 1.0)[..., None]
    white = np.array([255.0, 255.0, 255.0])
    blue, red = np.array([37.0, 99.0, 235.0]), np.array([220.0, 38.0, 38.0])
    rgb = np.where(v < 0, white + (-v) * (blue - white), white + v * (red - white))
    rgb = np.where(gap, np.array([226.0, 232.0, 240.0]), rgb).astype(np.uint8)
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format_RGB888).copy()


def _to_pil(image: QImage):
    from PIL import Image

    rgb = image.convertToFormat(QImage.Format_RGB888)
    return Image.frombuffer("RGB", (rgb.width(), rgb.height()), bytes(rgb.constBits()), "raw", "RGB",
                            rgb.bytesPerLine(), 1).copy()


def write_files(pictures, settings: AnimationSettings, cancelled: Callable[[], bool] = lambda: False,
                progress: Callable[[float], None] = lambda f: None) -> list[Path]:
    """Write PIL ``pictures`` as the GIF and/or PNG frames of ``settings`` (any thread); the paths written."""
    written = []
    if settings.png_frames:
        paths = frame_paths(settings.path, len(pictures))
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        for i, (picture, target) in enumerate(zip(pictures, paths)):
            if cancelled():
                return written
            with replaced_atomically(target) as tmp:
                picture.save(tmp, format="PNG", compress_level=1)
            written.append(target)
            progress(0.5 * (i + 1) / len(pictures))
    if settings.gif and pictures and not cancelled():
        from PIL import Image

        # one palette for all frames: the graph's colours do not change between frames
        palette = pictures[-1].quantize(colors=255, method=Image.Quantize.MEDIANCUT)
        frames = [p.quantize(palette=palette, dither=Image.Dither.NONE) for p in pictures]
        with replaced_atomically(settings.path) as tmp:
            frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                           duration=settings.frame_ms, loop=0, optimize=False, disposal=1)
        written.insert(0, Path(settings.path))
    progress(1.0)
    return written


def export_animation(view, settings: AnimationSettings, *, record=None) -> list[Path]:
    """Draw every frame of ``view``'s graph and write the files (blocking; scripts and tests).

    ``record``: the iteration's record (orders, weights before/after the step)."""
    frames = frames_for_view(view, record=record, settings=settings)
    if not frames:
        raise ValueError("there is no graph to animate yet: show the graph first")
    renderer = FrameRenderer(view.scene_layout(), view.fonts, settings.size, record)
    pictures = [_to_pil(renderer.render(frame)) for frame in frames]
    return write_files(pictures, settings)


class AnimationExport(QObject):
    """The GUI's export: frames drawn in small batches between events, files written in a worker.

    Signals: ``progress(float, str)``, ``finished(list)`` (paths written),
    ``failed(str)``, ``cancelled()``.
    """

    progress = Signal(float, str)
    finished = Signal(list)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, view, settings: AnimationSettings, *, record=None, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.frames = frames_for_view(view, record=record, settings=settings)
        self.renderer = FrameRenderer(view.scene_layout(), view.fonts, settings.size, record) if self.frames else None
        self.pictures = []
        self._stopped = False
        self._task = None
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._draw_some)

    def start(self) -> None:
        if not self.frames:
            self.failed.emit("there is no graph to animate yet: show the graph first")
            return
        self._timer.start()

    def cancel(self) -> None:
        self._stopped = True
        self._timer.stop()
        if self._task is not None:
            self._task.cancel()
        self.cancelled.emit()

    @property
    def running(self) -> bool:
        return self._timer.isActive() or self._task is not None

    def _draw_some(self) -> None:
        if self._stopped:
            return
        for _ in range(FRAMES_PER_TICK):
            if len(self.pictures) == len(self.frames):
                break
            self.pictures.append(_to_pil(self.renderer.render(self.frames[len(self.pictures)])))
        done = len(self.pictures)
        self.progress.emit(0.6 * done / len(self.frames), f"drawing frame {done} of {len(self.frames)}")
        if done == len(self.frames):
            self._timer.stop()
            self._write()

    def _write(self) -> None:
        from gradviz.ui.worker import run_task

        pictures, settings = self.pictures, self.settings

        def job(task):  # worker thread: PIL only
            return write_files(pictures, settings, cancelled=lambda: task.cancelled,
                               progress=lambda f: task.report(f, "writing files"))

        self._task = run_task(job, on_done=self._done, on_error=self._error,
                              on_progress=lambda f, m: self.progress.emit(0.6 + 0.4 * f, m))

    def _done(self, written) -> None:
        self._task = None
        if not self._stopped:
            self.finished.emit([str(p) for p in written])

    def _error(self, exc, details) -> None:
        self._task = None
        if not self._stopped:
            self.failed.emit(f"{type(exc).__name__}: {exc}")


WIDTH_LINES = 32  # the dialog's width in lines of its text: the path and the frame count whole at 100 %


class AnimationDialog(QDialog):
    """Asks what to export and runs it with a progress dialog (objectName ``exportAnimationDialog``)."""

    def __init__(self, view, *, record=None, parent=None):
        super().__init__(parent or view)
        self.setObjectName("exportAnimationDialog")
        self.setWindowTitle("Export animation")
        self.view = view
        self.record = record
        self.export: AnimationExport | None = None
        self.written: list[str] = []
        frames = frames_for_view(view, record=record)

        self.summary = QLabel("")
        self.summary.setObjectName("animationFrameCount")
        self.summary.setWordWrap(True)
        self.path_edit = QLineEdit(str(Path.cwd() / "graph-animation.gif"))
        self.path_edit.setObjectName("animationPath")
        browse = QPushButton("Browse…")
        browse.setObjectName("animationBrowse")
        browse.clicked.connect(self._browse)
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.width_spin = self._spin("animationWidth", 160, 3840, 1280, " px")
        self.height_spin = self._spin("animationHeight", 120, 2160, 720, " px")
        self.frame_ms = self._spin("animationFrameMs", 40, 5000, 400, " ms")
        self.frame_ms.setToolTip("How long each frame shows in the GIF")
        self.gif_check = QCheckBox("Animated GIF")
        self.gif_check.setObjectName("animationGif")
        self.gif_check.setChecked(True)
        self.png_check = QCheckBox("Numbered PNG frames")
        self.png_check.setToolTip("One PNG per frame, numbered, in a folder beside the GIF")
        self.png_check.setObjectName("animationPngFrames")
        self.png_check.setChecked(True)
        self.morph_combo = QComboBox()
        self.morph_combo.setObjectName("animationMorphParameter")
        self.morph_combo.addItem("none", "")
        for name in morph_parameters(record):
            self.morph_combo.addItem(name, name)
        self.morph_combo.setEnabled(self.morph_combo.count() > 1)
        self.morph_combo.setToolTip("End with this parameter's weights changing from before the optimizer step to after"
                                    if self.morph_combo.count() > 1 else
                                    "Run an iteration (full recording) to have weights before and after a step")
        self.morph_steps = self._spin("animationMorphSteps", 2, 60, 12, " frames")
        for widget in (self.morph_combo, self.morph_steps):
            signal = widget.currentIndexChanged if widget is self.morph_combo else widget.valueChanged
            signal.connect(self._update_summary)

        form = QFormLayout()
        # Narrow (200 % text on a small screen): each label above its field rather than the row cut.
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("File", path_row)
        form.addRow("Width", self.width_spin)
        form.addRow("Height", self.height_spin)
        form.addRow("Frame time", self.frame_ms)
        form.addRow("", self.gif_check)
        form.addRow("", self.png_check)
        form.addRow("Weight update of", self.morph_combo)
        form.addRow("Update frames", self.morph_steps)
        buttons = QDialogButtonBox(QDialogButtonBox.Cancel)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.AcceptRole)
        self.export_button.setObjectName("animationExportButton")
        self.export_button.setEnabled(bool(frames))
        buttons.accepted.connect(self.start)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        intro = QLabel("This iteration's forward build-up, then its backward replay, as drawn now "
                       "(collapsed modules are one frame each).")
        intro.setWordWrap(True)  # one line was 1,630 px wide at 200 %: the dialog ran off a 720p screen
        layout.addWidget(intro)
        layout.addWidget(self.summary)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._update_summary()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        # As wide for its text at 200 % as at 100 %, at most the screen's width (the
        # wrapped text grows taller instead: the height follows the width), and on it.
        width = min(max(self.sizeHint().width(), width_in_lines(self, WIDTH_LINES)), screen_width_room(self))
        layout = self.layout()
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else self.sizeHint().height()
        self.resize(width, max(height, layout.totalMinimumSize().height()))
        keep_on_screen(self)

    def _update_summary(self, *_):
        frames = frames_for_view(self.view, record=self.record, settings=self.settings())
        self.summary.setText(frame_summary(frames) if frames else "Show the graph first: there is nothing to animate.")
    def _spin(self, name: str, low: int, high: int, value: int, suffix: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setObjectName(name)
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setSuffix(suffix)
        return spin

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export animation", self.path_edit.text(), "GIF animation (*.gif)")
        if path:
            self.path_edit.setText(path if path.lower().endswith(".gif") else path + ".gif")

    def settings(self) -> AnimationSettings:
        return AnimationSettings(Path(self.path_edit.text()).expanduser(), (self.width_spin.value(), self.height_spin.value()),
                                 self.frame_ms.value(), self.gif_check.isChecked(), self.png_check.isChecked(),
                                 self.morph_combo.currentData() or "", self.morph_steps.value())

    def start(self) -> None:
        """Export with the chosen settings, with a progress dialog that can cancel."""
        settings = self.settings()
        problem = None
        if not (settings.gif or settings.png_frames):
            problem = "Choose the GIF, the PNG frames or both."
        elif not self.path_edit.text().strip() or settings.path.suffix.lower() != ".gif":
            problem = "Choose a file ending in .gif (the PNG frames go in a folder beside it)."
        elif not settings.path.parent.is_dir():
            problem = f"The folder {settings.path.parent} does not exist: choose another place."
        if problem:
            QMessageBox.warning(self, "Export animation", problem)
            return
        self.export = AnimationExport(self.view, settings, record=self.record, parent=self)
        progress = self.progress_dialog = QProgressDialog("Drawing frames…", "Cancel", 0, 1000, self)
        progress.setObjectName("animationProgress")
        progress.setWindowTitle("Export animation")
        progress.setMinimumDuration(300)
        progress.canceled.connect(self.export.cancel)
        self.export.progress.connect(lambda f, m: (progress.setValue(int(f * 1000)), progress.setLabelText(m)))
        self.export.finished.connect(self._finished)
        self.export.failed.connect(self._failed)
        self.export_button.setEnabled(False)
        self.export.start()

    def _finished(self, written: list) -> None:
        self.written = written
        self.progress_dialog.reset()
        self.accept()

    def _failed(self, message: str) -> None:
        self.progress_dialog.reset()
        self.export_button.setEnabled(True)
        QMessageBox.warning(self, "Export animation failed", f"Could not export the animation:\n{message}")
