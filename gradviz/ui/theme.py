"""Light, dark and high-contrast (lecture) themes, and font scaling.

A theme is a palette of named colours; ``apply`` turns it into a Qt palette,
an application font and one stylesheet. Sizes in the stylesheet are computed
from the font scale, so Ctrl +/− grows everything together (a projector at the
back of a lecture hall needs 1.5–2× the desktop size).

Widgets opt into styling by *role* (``widget.setProperty("role", "layerCard")``)
and state properties (``error``, ``selected``) rather than by class name, so
views stay free to change their classes.
"""
from __future__ import annotations

import weakref
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QWidget

# resources/ sits beside the package in a source checkout; an install without it
# still works: icons come back empty and actions show their text.
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICONS = RESOURCES / "icons"

THEMES = ("light", "dark", "lecture")
LABELS = {"light": "Light", "dark": "Dark", "lecture": "High contrast (lecture)"}
DEFAULT_THEME = "light"
BASE_POINT_SIZE = 10.0
# Lecture text at a 1000 px tall screen or taller. A smaller screen (a 720p
# projector) is projected as large, so each of its pixels is larger in the
# room: its lecture text is as large a share of the picture, so fewer pixels
# (lecture_scale_for), never below MIN_LECTURE_SCALE.
LECTURE_SCALE = 1.5
LECTURE_REFERENCE_HEIGHT = 1000
MIN_LECTURE_SCALE = 1.2
MIN_SCALE, MAX_SCALE = 0.7, 3.0
ZOOM_STEP = 1.12

_COLOURS = {
    "light": dict(
        window="#f3f4f7", base="#ffffff", alt="#f6f8fa", card="#ffffff", text="#1f2328", muted="#5a636e",
        border="#d3d9e0", accent="#2f6fde", accent_text="#ffffff", accent_soft="#e4edff", error="#c62828",
        error_bg="#fff0ef", ok="#1a7f37", chip="#eef1f5", nested="#f7f9fc", border_width=1,
    ),
    "dark": dict(
        window="#1d2026", base="#252930", alt="#2a2f37", card="#2a2f37", text="#e7e9ee", muted="#9aa4b2",
        border="#3e4550", accent="#5b9bff", accent_text="#0d1117", accent_soft="#22344f", error="#ff6b6b",
        error_bg="#3c2124", ok="#4ac26b", chip="#353b45", nested="#23272e", border_width=1,
    ),
    # Projectors wash out mid-greys and thin lines: pure black on white, strong
    # saturated accents, thicker borders.
    "lecture": dict(
        window="#ffffff", base="#ffffff", alt="#f2f2f2", card="#ffffff", text="#000000", muted="#262626",
        border="#000000", accent="#0039d6", accent_text="#ffffff", accent_soft="#dbe5ff", error="#d00000",
        error_bg="#ffe3e3", ok="#006b1f", chip="#e8e8e8", nested="#fafafa", border_width=2,
    ),
}

_current = {"name": DEFAULT_THEME, "scale": 1.0}


def colours(name: str | None = None) -> dict:
    """The named colours of a theme (the current one by default)."""
    return dict(_COLOURS.get(name or _current["name"], _COLOURS[DEFAULT_THEME]))


def current_theme() -> str:
    return _current["name"]


def current_scale() -> float:
    return _current["scale"]


def clamp_scale(scale: float) -> float:
    try:
        scale = float(scale)
    except (TypeError, ValueError):
        return 1.0
    return min(MAX_SCALE, max(MIN_SCALE, scale))


def lecture_scale_for(screen_height: int) -> float:
    """The lecture text scale for a screen (or full-screen window) ``screen_height`` px tall."""
    share = min(1.0, max(1, int(screen_height)) / LECTURE_REFERENCE_HEIGHT)
    return round(max(MIN_LECTURE_SCALE, LECTURE_SCALE * share), 3)


def apply(app: QApplication, name: str = DEFAULT_THEME, scale: float = 1.0) -> None:
    """Style the whole application: palette, font size and stylesheet.

    Re-applying what is already in force does nothing: setting a stylesheet
    re-polishes every widget of every window, which is not free.
    """
    if name not in _COLOURS:
        name = DEFAULT_THEME
    scale = clamp_scale(scale)
    if (_current.get("applied_to") is app and _current["name"] == name and _current["scale"] == scale
            and _current.get("styled_scale") == scale):
        return
    colours_changed = _current.get("applied_to") is not app or _current["name"] != name
    _current.update(name=name, scale=scale, applied_to=app)
    c = _COLOURS[name]
    if not _current.get("fusion"):
        # Fusion: the same look on every platform, and it honours palettes fully
        _current["fusion"] = True
        app.setStyle("Fusion")
    app.setPalette(_palette(c))
    font = QFont(app.font())
    font.setPointSizeF(BASE_POINT_SIZE * scale)
    app.setFont(font)
    app.setStyleSheet(stylesheet(name, scale))
    _current["styled_scale"] = scale
    if colours_changed:
        _refresh_icons()


def styled(app: QApplication) -> bool:
    """Whether :func:`apply` styled ``app`` (gradviz's own application, not a host's)."""
    return _current.get("applied_to") is app


def scale_fonts(app: QApplication, scale: float) -> None:
    """Set the text size only, keeping the stylesheet: a Ctrl +/− step's fast part.

    Re-applying the stylesheet re-polishes every widget (about a second with the
    whole window up on a busy 2-core machine); the font alone takes a few tens of
    ms. The paddings and the few role sizes the stylesheet sets follow with the
    next :func:`apply` (the window calls it once the zooming stops).
    """
    scale = clamp_scale(scale)
    if _current.get("applied_to") is not app:
        apply(app, _current["name"], scale)
        return
    _current["scale"] = scale
    font = QFont(app.font())
    font.setPointSizeF(BASE_POINT_SIZE * scale)
    app.setFont(font)


def is_fully_styled() -> bool:
    """False between :func:`scale_fonts` and the next :func:`apply`."""
    return _current.get("styled_scale") == _current["scale"]


def repolish(widget: QWidget) -> None:
    """Re-apply the stylesheet after a dynamic property (``error``, ``selected``) changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def _palette(c: dict) -> QPalette:
    palette = QPalette()
    role = QPalette.ColorRole
    for key, value in (
        (role.Window, c["window"]), (role.WindowText, c["text"]), (role.Base, c["base"]),
        (role.AlternateBase, c["alt"]), (role.Text, c["text"]), (role.Button, c["alt"]),
        (role.ButtonText, c["text"]), (role.Highlight, c["accent"]), (role.HighlightedText, c["accent_text"]),
        (role.ToolTipBase, c["base"]), (role.ToolTipText, c["text"]), (role.PlaceholderText, c["muted"]),
        (role.Link, c["accent"]), (role.BrightText, c["error"]),
    ):
        palette.setColor(key, QColor(value))
    disabled = QPalette.ColorGroup.Disabled
    for key in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(disabled, key, QColor(c["muted"]))
    return palette


def _icon_url(name: str) -> str:
    return (ICONS / f"{name}.svg").as_posix()


def stylesheet(name: str, scale: float) -> str:
    c = dict(_COLOURS.get(name, _COLOURS[DEFAULT_THEME]))
    pt = BASE_POINT_SIZE * scale
    px = lambda n: max(1, round(n * scale))  # noqa: E731 - spacing grows with the font
    bw = c["border_width"]
    return f"""
QMainWindow, QDockWidget {{ background: {c['window']}; }}
QWidget[role="dockTitle"] {{ background: {c['alt']}; border-bottom: {bw}px solid {c['border']}; }}
QLabel[role="dockTitleText"] {{ font-weight: 700; color: {c['text']}; padding: {px(3)}px 0; }}
QToolTip {{ color: {c['text']}; background: {c['base']}; border: 1px solid {c['border']}; padding: {px(4)}px; }}
QToolBar {{
    spacing: {px(4)}px; padding: {px(3)}px; border: none; border-bottom: {bw}px solid {c['border']};
    qproperty-iconSize: {px(20)}px {px(20)}px;
}}
/* A toolbar too narrow for its items: the button to the rest, a » in the 12 px
   Fusion keeps for it, where its own arrow drew as a 2 px dot (the settings it
   held, "Device", seemed gone). A Python style widening the 12 px slowed every
   layout by a quarter. */
QToolBarExtension {{ qproperty-icon: url({_icon_url('more')}); qproperty-iconSize: 12px 24px; }}
QToolButton[role="cardButton"] {{ qproperty-iconSize: {px(16)}px {px(16)}px; padding: {px(2)}px; }}
QToolBar QLabel {{ color: {c['muted']}; padding-left: {px(6)}px; }}
QStatusBar {{ border-top: {bw}px solid {c['border']}; }}
QStatusBar QLabel {{ padding: 0 {px(6)}px; }}
QLineEdit, QAbstractSpinBox, QComboBox {{
    padding: {px(2)}px {px(5)}px; border: {bw}px solid {c['border']}; border-radius: {px(4)}px;
    background: {c['base']}; min-height: {px(20)}px;
}}
QLineEdit:focus, QAbstractSpinBox:focus, QComboBox:focus {{ border: {max(bw, 2)}px solid {c['accent']}; }}
QLineEdit[error="true"], QAbstractSpinBox[error="true"] {{
    border: 2px solid {c['error']}; background: {c['error_bg']};
}}
QAbstractSpinBox {{ padding-right: {px(18)}px; }}
QAbstractSpinBox[arrows="false"] {{ padding-right: {px(5)}px; }}
QAbstractSpinBox[arrows="false"]::up-button, QAbstractSpinBox[arrows="false"]::down-button {{ width: 0px; border: none; background: transparent; }}
QAbstractSpinBox[arrows="false"]::up-arrow, QAbstractSpinBox[arrows="false"]::down-arrow {{ image: none; width: 0px; }}
QAbstractSpinBox::up-button {{
    subcontrol-origin: border; subcontrol-position: top right; width: {px(16)}px;
    border-left: 1px solid {c['border']}; border-top-right-radius: {px(4)}px; background: {c['alt']};
}}
QAbstractSpinBox::down-button {{
    subcontrol-origin: border; subcontrol-position: bottom right; width: {px(16)}px;
    border-left: 1px solid {c['border']}; border-bottom-right-radius: {px(4)}px; background: {c['alt']};
}}
QAbstractSpinBox::up-button:hover, QAbstractSpinBox::down-button:hover {{
    background: {c['accent_soft']};
}}
QAbstractSpinBox::up-arrow {{ image: url({_icon_url('arrow-up')}); width: {px(9)}px; height: {px(6)}px; }}
QAbstractSpinBox::down-arrow {{ image: url({_icon_url('arrow-down')}); width: {px(9)}px; height: {px(6)}px; }}
QComboBox {{ padding-right: {px(22)}px; }}
QComboBox::drop-down {{
    subcontrol-origin: padding; subcontrol-position: center right; width: {px(20)}px; border: none;
}}
QComboBox::down-arrow {{ image: url({_icon_url('arrow-down')}); width: {px(10)}px; height: {px(6)}px; }}
QComboBox QAbstractItemView {{ background: {c['base']}; border: 1px solid {c['border']}; selection-background-color: {c['accent']}; }}
QTreeWidget, QTableWidget, QPlainTextEdit {{ border: {bw}px solid {c['border']}; border-radius: {px(4)}px; background: {c['base']}; }}
QTreeWidget::item {{ padding: {px(3)}px 0; }}
QHeaderView::section {{
    background: {c['alt']}; color: {c['text']}; padding: {px(4)}px {px(6)}px; border: none;
    border-bottom: {bw}px solid {c['border']}; font-weight: 600;
}}
QPushButton {{
    padding: {px(4)}px {px(12)}px; border: {bw}px solid {c['border']}; border-radius: {px(4)}px; background: {c['alt']};
}}
QPushButton:hover, QToolButton:hover {{ border-color: {c['accent']}; }}
QPushButton:default {{ border: 2px solid {c['accent']}; }}
QToolButton {{ padding: {px(3)}px; border: 1px solid transparent; border-radius: {px(4)}px; }}
QToolButton:checked {{ background: {c['accent_soft']}; border-color: {c['accent']}; }}
QScrollArea {{ border: none; background: {c['window']}; }}
QWidget[role="stackBackground"] {{ background: {c['window']}; }}

/* --- builder ------------------------------------------------------------------------ */
QFrame[role="layerCard"] {{
    background: {c['card']}; border: {bw}px solid {c['border']}; border-radius: {px(8)}px;
}}
QFrame[role="layerCard"][selected="true"] {{ border: {max(2, bw + 1)}px solid {c['accent']}; }}
QFrame[role="layerCard"][error="true"] {{ border: {max(2, bw + 1)}px solid {c['error']}; background: {c['error_bg']}; }}
QFrame[role="nestedList"] {{
    background: {c['nested']}; border: none; border-left: {px(3)}px solid {c['accent']}; border-radius: 0;
}}
QLabel[role="cardTitle"] {{ font-size: {pt * 1.15:.1f}pt; font-weight: 700; color: {c['text']}; }}
QLabel[role="kindChip"] {{
    background: {c['chip']}; color: {c['text']}; border-radius: {px(4)}px; padding: {px(1)}px {px(6)}px;
}}
QLabel[role="shape"] {{ font-family: "DejaVu Sans Mono", "Menlo", "Consolas", monospace; font-weight: 600; color: {c['accent']}; }}
QLabel[role="derivation"] {{ font-family: "DejaVu Sans Mono", "Menlo", "Consolas", monospace; color: {c['muted']}; }}
QLabel[role="muted"] {{ color: {c['muted']}; }}
QLabel[role="paramLabel"] {{ color: {c['muted']}; }}
QLabel[role="errorText"] {{ color: {c['error']}; font-weight: 600; }}
QLabel[role="handle"] {{ color: {c['muted']}; font-size: {pt * 1.3:.1f}pt; }}
QLabel[role="emptyHint"] {{ color: {c['muted']}; font-size: {pt * 1.05:.1f}pt; padding: {px(18)}px; }}
QLabel[role="placeholderTitle"] {{ font-size: {pt * 1.6:.1f}pt; font-weight: 700; color: {c['text']}; }}
QLabel[role="placeholder"] {{ color: {c['muted']}; font-size: {pt * 1.1:.1f}pt; }}
QLabel[role="sectionTitle"] {{ font-weight: 700; color: {c['text']}; }}
QLabel[role="validity"][ok="true"] {{ color: {c['ok']}; font-weight: 600; }}
QLabel[role="validity"][ok="false"] {{ color: {c['error']}; font-weight: 600; }}
QFrame[role="dropIndicator"] {{ background: {c['accent']}; border: none; min-height: {px(3)}px; max-height: {px(3)}px; }}
QLabel[role="totals"] {{ font-weight: 600; }}
QLabel[role="totals"][ok="false"] {{ color: {c['error']}; }}
"""


# -- icons ---------------------------------------------------------------------------
# The SVGs draw with ``currentColor``; we render them in the theme's text colour so
# the same files work on light, dark and high-contrast backgrounds.

_bound: "weakref.WeakKeyDictionary[object, str]" = weakref.WeakKeyDictionary()


def icon(name: str, colour: str | None = None) -> QIcon:
    """The themed icon ``resources/icons/<name>.svg`` (empty icon if missing)."""
    path = ICONS / f"{name}.svg"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return QIcon()
    from PySide6.QtSvg import QSvgRenderer  # only needed once icons are drawn

    text = text.replace("currentColor", colour or colours()["text"])
    renderer = QSvgRenderer(QByteArray(text.encode()))
    result = QIcon()
    for size in (16, 24, 32, 48):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        result.addPixmap(pixmap)
    return result


def bind_icon(target, name: str) -> None:
    """Give ``target`` (an action or button) the icon, and redraw it when the theme changes."""
    _bound[target] = name
    target.setIcon(icon(name))


def _refresh_icons() -> None:
    cache: dict[str, QIcon] = {}
    for target, name in list(_bound.items()):
        try:
            target.setIcon(cache.setdefault(name, icon(name)))
        except RuntimeError:  # the Qt object is gone
            _bound.pop(target, None)
