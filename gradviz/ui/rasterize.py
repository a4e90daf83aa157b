"""SVG text -> PNG file with Qt, offscreen. Used by PNG export (``gradviz export -f png``).

Drawing the pixels is quick; encoding them was not (Qt's PNG writer takes
~1.7 s for a 1254×12488 graph): :func:`save_png` encodes with Pillow at a
fast zlib level, 2-3× quicker for files about as small.

Rendering text needs a Qt application object (fonts). Outside the GUI none
exists, so one is created; on Linux without a display it runs on Qt's
``offscreen`` platform, which makes the CLI work over SSH and in CI. It is a
full ``QApplication``, not a ``QGuiApplication``: a process can hold only one,
and any widget created later (the GUI, tests) aborts under a bare QGuiApplication.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["MAX_SIDE", "save_png", "svg_to_png"]

# zlib level for PNGs: 1 is the fastest; graph pictures (flat colours) shrink
# about as well as at the default 6.
PNG_COMPRESS_LEVEL = 1

# Qt's raster images stop at 32767 px a side and a huge graph would need
# gigabytes; beyond this the picture is scaled down to fit.
MAX_SIDE = 16384


def _ensure_gui_application():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if headless:
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication(["gradviz"])
    return app


def svg_to_png(svg: str, path: str | os.PathLike, *, scale: float = 1.0, max_side: int = MAX_SIDE) -> Path:
    """Render ``svg`` (text) at ``scale`` (1.0 = one px per SVG unit) to a PNG at ``path``.

    The image is shrunk to at most ``max_side`` px on its longer side. Raises
    ``ValueError`` for SVG Qt cannot parse and ``OSError`` if the file cannot
    be written.
    """
    from PySide6.QtCore import QByteArray, QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _ensure_gui_application()
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    if not renderer.isValid():
        raise ValueError("the SVG could not be parsed for PNG export")
    size = renderer.defaultSize()
    width, height = max(1, size.width()) * scale, max(1, size.height()) * scale
    shrink = min(1.0, max_side / max(width, height))
    width, height = max(1, round(width * shrink)), max(1, round(height * shrink))

    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.white)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        renderer.render(painter, QRectF(0, 0, width, height))
    finally:
        painter.end()
    return save_png(image, path)


def save_png(image, path: str | os.PathLike) -> Path:
    """Write a ``QImage`` as PNG, quickly (Pillow, zlib level :data:`PNG_COMPRESS_LEVEL`); OSError if it cannot."""
    from PIL import Image
    from PySide6.QtGui import QImage

    path = Path(path)
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    picture = Image.frombuffer("RGB", (rgb.width(), rgb.height()), bytes(rgb.constBits()), "raw", "RGB",
                               rgb.bytesPerLine(), 1)
    try:
        picture.save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    except (OSError, ValueError) as exc:
        raise OSError(f"cannot write PNG file {path}: {exc}") from exc
    return path
