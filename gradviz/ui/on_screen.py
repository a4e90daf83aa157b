"""Dialogs that stay on the screen: at lecture text sizes on a 720p projector a
dialog as tall as its content ran past the screen's bottom, its buttons with it."""
from __future__ import annotations

from PySide6.QtWidgets import QApplication, QWidget

SCREEN_SHARE = 0.9  # the most of the screen's height a dialog takes; its content scrolls


def screen_room(widget: QWidget) -> int:
    """The most height ``widget`` should take on its screen (px)."""
    screen = widget.screen() or QApplication.primaryScreen()
    return round(screen.availableGeometry().height() * SCREEN_SHARE)


def screen_width_room(widget: QWidget) -> int:
    """The most width the top-level ``widget`` should take on its screen (px, its
    window frame left out once shown)."""
    screen = widget.screen() or QApplication.primaryScreen()
    return screen.availableGeometry().width() - (widget.frameGeometry().width() - widget.width())


def width_in_lines(widget: QWidget, lines: float) -> int:
    """``lines`` times the height of a line of ``widget``'s text, at most the screen's
    room: a dialog as wide for its text at 200 % as at 100 %, kept on the screen."""
    return min(round(lines * widget.fontMetrics().height()), screen_width_room(widget))


def keep_on_screen(widget: QWidget) -> None:
    """Move the top-level ``widget`` (frame included) inside its screen's available
    area, as little as possible: Qt centres a dialog over its window, and a tall
    one there reached past the screen's edge."""
    screen = widget.screen() or QApplication.primaryScreen()
    room = screen.availableGeometry()
    frame = widget.frameGeometry()
    frame.moveTop(max(room.top(), min(frame.top(), room.bottom() + 1 - frame.height())))
    frame.moveLeft(max(room.left(), min(frame.left(), room.right() + 1 - frame.width())))
    if frame.topLeft() != widget.frameGeometry().topLeft():
        widget.move(frame.topLeft())
