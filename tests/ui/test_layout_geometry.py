"""The graph is the stage: window geometry in the default and the lecture layouts at
1600×1000 and 1280×720 (the graph's share of the width, nothing cut off by the window
edge), LeNet's node labels at fit, the F11 round trip, the shortcut list, the title."""
import pytest
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QAction, QFontMetricsF
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QToolBar, QToolButton

from gradviz.ui import settings, theme
from gradviz.ui.presentation import LECTURE_SHORT_SCREEN

SIZES = [(1600, 1000), (1280, 720)]
MIN_LABEL_PX = 12.0


def _forget_remembered_layout():
    store = settings.settings()
    for key in (settings.WINDOW_STATE, settings.WINDOW_GEOMETRY, settings.FONT_SCALE, settings.THEME,
                "ui/lectureScale"):
        store.remove(key)


@pytest.fixture
def make_window(qtbot):
    from gradviz.ui import MainWindow

    made = []

    def make(width, height):
        _forget_remembered_layout()
        win = MainWindow()
        qtbot.addWidget(win)
        win.resize(width, height)
        win.show()
        qtbot.waitUntil(lambda: not win._default_sizes_pending, timeout=5000)
        QApplication.processEvents()
        made.append(win)
        return win

    yield make
    from gradviz.ui.worker import wait_for_idle

    for win in made:
        if win.lecture_mode:
            win.set_lecture_mode(False)
    wait_for_idle(20_000)


def _rect_in(widget, window) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def clipped(win) -> list[str]:
    """Visible toolbar controls and dock title bars not wholly inside the window."""
    inside = win.rect()
    out = []
    for bar in win.findChildren(QToolBar):
        if not bar.isVisible() or bar.window() is not win:
            continue
        bar_rect = _rect_in(bar, win)
        widgets = [(a.text() or a.objectName(), bar.widgetForAction(a)) for a in bar.actions()]
        widgets.append(("overflow", bar.findChild(QToolButton, "qt_toolbar_ext_button")))
        for name, widget in widgets:
            if widget is None or not widget.isVisible():
                continue
            rect = _rect_in(widget, win)
            if not (inside.contains(rect) and bar_rect.contains(rect)):
                out.append(f"{bar.objectName()}: {name} at {rect.getRect()}")
    for dock in win.findChildren(QDockWidget):
        if dock.isVisible() and not dock.isFloating() and not dock.visibleRegion().isEmpty():
            rect = _rect_in(dock.titleBarWidget(), win)
            if not inside.contains(rect):
                out.append(f"{dock.objectName()} title at {rect.getRect()}")
    return out


def body_text_px(widget) -> float:
    font = QApplication.font()
    return font.pointSizeF() * widget.logicalDpiY() / 72.0


def show_lenet_graph(win, qtbot):
    win.load_preset("lenet")
    win.actions["actionShowGraph"].trigger()
    qtbot.waitUntil(lambda: win.has_graph_view and win.graph_view.shown_graph() is not None
                    and win.graph_view.is_ready(), timeout=30_000)
    QApplication.processEvents()
    return win.graph_view


def graph_share(win) -> float:
    return win.centralWidget().width() / win.width()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_default_layout_gives_the_graph_the_stage(make_window, size):
    win = make_window(*size)
    assert graph_share(win) >= 0.5, win.centralWidget().width()
    assert win.centralWidget().height() >= 0.75 * win.height()  # no bottom dock under the graph
    assert clipped(win) == []
    # every panel stays reachable: listed in View → Panels, none closed
    listed = set(win.menus["panels"].actions())
    for dock in win.panels.values():
        assert dock.toggleViewAction() in listed and not dock.isHidden(), dock.objectName()
    assert win.actions["actionResetLayout"].objectName() == "actionResetLayout"
    assert win.actions["actionResetLayout"] in win.menus["view"].actions()


def stray_tab_bars(win) -> list:
    """Dock tab bars shown where no dock is: over the graph pane, or naming no tab group
    the window has. A group dissolved by moving its docks one by one left its bar
    ("Node inspector | Diagnostics") standing on the graph pane, on every fresh window."""
    from PySide6.QtWidgets import QTabBar

    central = _rect_in(win.centralWidget(), win)
    groups = []
    for dock in win.findChildren(QDockWidget):
        if dock.isVisible() and not dock.isFloating():
            groups.append({dock.windowTitle(), *(d.windowTitle() for d in win.tabifiedDockWidgets(dock))})
    out = []
    for bar in win.findChildren(QTabBar):
        if bar.parent() is not win or not bar.isVisible():
            continue
        rect, titles = _rect_in(bar, win), {bar.tabText(i) for i in range(bar.count())}
        if not rect.intersects(win.rect()):
            continue  # where Qt parks the bars it keeps for later: off the window, unseen
        if rect.intersects(central) or titles not in groups:
            out.append((rect.getRect(), sorted(titles)))
    return out


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_tab_bar_is_left_standing_where_no_dock_is(make_window, qtbot, size):
    def settled():  # the layout settles on the next passes of the event loop
        try:
            qtbot.waitUntil(lambda: stray_tab_bars(win) == [], timeout=3000)
        finally:
            assert stray_tab_bars(win) == []

    win = make_window(*size)
    settled()
    win.actions["actionResetLayout"].trigger()
    qtbot.waitUntil(lambda: not win._default_sizes_pending, timeout=5000)
    settled()
    win.set_lecture_mode(True)
    settled()
    win.set_lecture_mode(False)
    settled()

@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_lenet_labels_are_readable_and_whole_at_fit(make_window, qtbot, size):
    win = make_window(*size)
    view = show_lenet_graph(win, qtbot)
    label_px = view.label_pixel_size()
    assert label_px >= MIN_LABEL_PX
    assert label_px >= body_text_px(view) - 0.01  # never smaller than the window's own text
    # every box (so every label in it) inside the pane, and each label inside its box
    canvas = view.canvas
    pane = QRectF(canvas.viewport().rect())
    graph = view.shown_graph()
    assert len(graph) == 27
    for key in graph:
        box = view.node_rect(key)
        on_screen = QRectF(canvas.mapFromScene(box.topLeft()), canvas.mapFromScene(box.bottomRight()))
        assert pane.contains(on_screen), (key, on_screen, pane)
    assert labels_wider_than_boxes(view) == []


# resnet_tiny's 40 nodes stand in 23 rows (conv, batch norm, ReLU, twice per block, plus the
# skip's add): at the body text size they need ~700 px of height; the 1280×720 default
# layout's graph pane has ~530, so its labels fit at ~9 px there (lecture mode, or
# Collapse depth 1, reads it). Strict: it fails the day the layout does better.
_TOO_TALL = pytest.mark.xfail(strict=True, reason="23 rows of boxes need ~700 px; the pane at 1280×720 has ~530")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("preset", ["lenet3x3", "cifar_seq", "mlp", "resnet_tiny", "neuron", "tiny_mlp"])
def test_every_small_preset_is_readable_at_fit(make_window, qtbot, size, preset, request):
    """Every preset (all under ~60 autograd nodes) after Show graph, fitted: labels at least
    MIN_LABEL_PX and the window's body text, each inside its box. The ops' chain stays
    straight with its parameters beside it (a chain drifting sideways at every conv made
    cifar_seq width-bound at 12 px)."""
    if preset == "resnet_tiny" and size == (1280, 720):
        request.applymarker(_TOO_TALL)
    win = make_window(*size)
    win.load_preset(preset)
    win.actions["actionShowGraph"].trigger()
    qtbot.waitUntil(lambda: win.has_graph_view and win.graph_view.shown_graph() is not None
                    and win.graph_view.is_ready(), timeout=30_000)
    view = win.graph_view
    view.fit_to_window(animate=False)
    label = view.label_pixel_size()
    assert label >= MIN_LABEL_PX and label >= body_text_px(view) - 0.01, (preset, label, body_text_px(view))
    assert labels_wider_than_boxes(view) == []


def labels_wider_than_boxes(view) -> list:
    """Node labels (in the view's current fonts) wider than their boxes."""
    from gradviz.ui.graph_view.style import NAME_SHAPE, split_name_shape

    bold, label = QFontMetricsF(view.fonts.bold), QFontMetricsF(view.fonts.label)
    out = []
    for key in view.shown_graph():
        box = view.node_rect(key)
        for text, style in view._layout.lines[key]:
            if style == NAME_SHAPE:
                name, shape = split_name_shape(text)
                width = bold.horizontalAdvance(name) + label.horizontalAdvance(shape)
            else:
                width = QFontMetricsF(view.fonts.for_style(style)).horizontalAdvance(text)
            if width > box.width():
                out.append((key, text, round(width), round(box.width())))
    return out


def _enter_lecture(win, qtbot, size, scale):
    win.set_lecture_mode(True)
    win.showNormal()  # the offscreen "screen" is small: stand in for a projector of this size
    win.resize(*size)
    steps = 0
    while win.font_scale < scale - 0.05 and steps < 12:
        win.actions["actionZoomIn"].trigger()
        steps += 1
    while win.font_scale > scale + 0.05 and steps < 24:
        win.actions["actionZoomOut"].trigger()
        steps += 1
    qtbot.waitUntil(lambda: win.width() == size[0] and theme.is_fully_styled(), timeout=5000)
    for _ in range(3):
        QApplication.processEvents()


@pytest.mark.parametrize("scale", [1.0, 1.6, 2.0], ids=lambda s: f"{round(s * 100)}pct")
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_lecture_layout_is_a_presenter_layout(make_window, qtbot, size, scale):
    win = make_window(*size)
    _enter_lecture(win, qtbot, size, scale)
    ui = win.training_ui
    assert win.lecture_mode and theme.current_theme() == "lecture"
    assert win.builder_dock.isHidden() and win.palette_dock.isHidden()
    for dock in (ui.training_dock, ui.gradient_dock):  # the phase strip with the code, the gradients
        assert not dock.isHidden() and not dock.visibleRegion().isEmpty(), dock.objectName()
    assert graph_share(win) >= 0.5
    assert win.width() == size[0]  # no panel pushed the window past the screen
    assert clipped(win) == []
    # one key brings the builder back, and puts it away again
    win.actions["actionShowBuilder"].trigger()
    assert not win.builder_dock.isHidden() and not win.palette_dock.isHidden()
    assert win.actions["actionShowBuilder"].isChecked()
    win.actions["actionShowBuilder"].trigger()
    assert win.builder_dock.isHidden() and not win.actions["actionShowBuilder"].isChecked()


def text_cut_in_the_right_column(win) -> list[str]:
    """Visible labels and combo boxes of the lecture column (training code, gradients)
    that do not show their whole text: wider than the widget, or cut sideways by a
    scroll area or the window, or cut at the top or bottom. Eliding counts as whole
    when the tooltip carries the whole text; a word-wrapped label must be tall
    enough for its lines."""
    from PySide6.QtGui import QTextDocument
    from PySide6.QtWidgets import QComboBox, QLabel, QStyle, QStyleOptionComboBox

    ui = win.training_ui
    out = []
    for dock in (ui.training_dock, ui.gradient_dock):
        for widget in [*dock.findChildren(QLabel), *dock.findChildren(QComboBox)]:
            if not widget.isVisible() or widget.visibleRegion().isEmpty():
                continue
            name = widget.objectName() or type(widget).__name__
            seen = widget.visibleRegion().boundingRect()
            if seen.height() < widget.height():  # a sliver of a line at a scroll area's edge
                out.append(f"{name} cut at the top or bottom ({seen.height()} of {widget.height()} px seen)")
            if isinstance(widget, QComboBox):
                text = widget.currentText()
                option = QStyleOptionComboBox()
                widget.initStyleOption(option)
                have = widget.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                                     QStyle.SubControl.SC_ComboBoxEditField, widget).width()
            else:
                text = widget.text()
                if widget.textFormat() != Qt.TextFormat.PlainText and "<" in text:
                    doc = QTextDocument()
                    doc.setHtml(text)
                    text = doc.toPlainText()
                if not text.strip():
                    continue
                if widget.wordWrap():
                    if widget.heightForWidth(widget.width()) > widget.height():
                        out.append(f"{name}: {text!r} needs {widget.heightForWidth(widget.width())} px of height")
                    continue
                have = widget.contentsRect().width()
            need = widget.fontMetrics().horizontalAdvance(text.splitlines()[0] if text else "")
            elided_with_tip = text in widget.toolTip().split("\n")
            if need > have + 1 and not elided_with_tip:
                out.append(f"{name}: {text!r} needs {need} px, has {have}")
            if seen.width() < widget.width() and not elided_with_tip:
                out.append(f"{name}: {text!r} cut sideways ({seen.width()} of {widget.width()} px seen)")
    return out


def run_lenet_iteration(win, qtbot):
    show_lenet_graph(win, qtbot)
    ui = win.training_ui
    ui.set_speed(1000)  # the phases' animations at full speed: what is tested is the state after them
    win.actions["actionRunIteration"].trigger()
    qtbot.waitUntil(lambda: ui.history.slider.maximum() >= 1 and not ui.controller.busy, timeout=30_000)
    ui.skip_animation()
    qtbot.waitUntil(lambda: ui.gradients.image("after") is not None, timeout=10_000)


@pytest.mark.parametrize("scale", [None, 1.0, 1.6, 2.0], ids=lambda s: "lecture_size" if s is None else f"{round(s * 100)}pct")
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_lecture_column_shows_every_text_whole(make_window, qtbot, size, scale):
    """None: the lecture text size for the screen's height (what F11 on such a projector gives)."""
    scale = theme.lecture_scale_for(size[1]) if scale is None else scale
    win = make_window(*size)
    run_lenet_iteration(win, qtbot)
    _enter_lecture(win, qtbot, size, scale)
    qtbot.waitUntil(lambda: win.graph_view.is_ready(), timeout=10_000)
    for _ in range(3):
        QApplication.processEvents()
    assert text_cut_in_the_right_column(win) == []
    # the code lines shown are on screen, not scrolled away (at the default lecture size):
    # all five, or on a short screen the current one (the step buttons above show all five)
    ui = win.training_ui
    shown = [phase for phase, row in ui.indicator.rows.items() if not row.isHidden()]
    short = size[1] < LECTURE_SHORT_SCREEN
    assert shown == ([ui.indicator.highlighted_phase()] if short else list(ui.indicator.rows)), shown
    if scale <= 1.6:
        viewport = ui.training_panel.viewport()
        for phase in shown:
            row = ui.indicator.rows[phase]
            rect = QRect(row.mapTo(viewport, QPoint(0, 0)), row.size())
            assert viewport.rect().contains(rect), (phase, rect, viewport.rect())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_lecture_code_column_follows_its_rows_whatever_changes_them(make_window, qtbot, size):
    """The code column was fitted to its rows on theme events only. A restyle landing
    after that fit (the full suite on a loaded machine) changed the rows and left the
    current one cut by a pixel. Any change of the rows' size (here: a taller minimum, no
    theme event) fits the column again."""
    win = make_window(*size)
    run_lenet_iteration(win, qtbot)
    _enter_lecture(win, qtbot, size, theme.lecture_scale_for(size[1]))
    ui = win.training_ui
    viewport = ui.training_panel.viewport()

    def rows_whole_or_out_of_sight() -> bool:
        """No row partly shown (the column ends at the last whole row; more scroll), the current one whole."""
        area = viewport.rect()
        for phase, row in ui.indicator.rows.items():
            if row.isHidden():
                continue
            rect = QRect(row.mapTo(viewport, QPoint(0, 0)), row.size())
            if area.intersects(rect) and not area.contains(rect):
                return False
            if phase == ui.indicator.highlighted_phase() and not area.contains(rect):
                return False
        return True

    qtbot.waitUntil(rows_whole_or_out_of_sight, timeout=5_000)
    current = ui.indicator.rows[ui.indicator.highlighted_phase()]
    height = current.height()
    for row in ui.indicator.rows.values():  # taller rows, and no theme event
        row.setMinimumHeight(height + 12)
    qtbot.waitUntil(lambda: current.height() >= height + 12, timeout=5_000)
    qtbot.waitUntil(rows_whole_or_out_of_sight, timeout=5_000)


def test_zoom_scales_the_graph_text_too(make_window, qtbot):
    win = make_window(1600, 1000)
    view = show_lenet_graph(win, qtbot)
    _enter_lecture(win, qtbot, (1600, 1000), theme.LECTURE_SCALE)
    qtbot.waitUntil(view.is_ready, timeout=10_000)
    before = view.label_pixel_size()
    assert before >= MIN_LABEL_PX
    win.actions["actionZoomIn"].trigger()
    qtbot.waitUntil(lambda: view.is_ready() and view.label_pixel_size() > before * 1.05, timeout=10_000)
    assert view.label_pixel_size() == pytest.approx(before * theme.ZOOM_STEP, rel=0.05)
    # once the window's restyle follows the steps (it sets the graph's font twice),
    # the boxes are the new text's size, not the size of an older step
    win.actions["actionZoomIn"].trigger()
    qtbot.waitUntil(lambda: theme.is_fully_styled() and view.is_ready(), timeout=10_000)
    for _ in range(3):
        QApplication.processEvents()
    qtbot.waitUntil(view.is_ready, timeout=10_000)
    assert labels_wider_than_boxes(view) == []


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_lecture_graph_labels_against_the_lecture_text(make_window, qtbot, size):
    """In lecture mode at its own text size (reset: Ctrl+0), LeNet's node labels at fit
    are at least the lecture body text, at 1600×1000 and at 1280×720 (a smaller
    projector: smaller lecture text, theme.lecture_scale_for; the graph's toolbar row
    steps aside and its legend floats in a free corner, covering no box or edge)."""
    win = make_window(*size)
    view = show_lenet_graph(win, qtbot)
    win.set_lecture_mode(True)
    win.showNormal()  # the offscreen "screen" is small: stand in for a projector of this size
    win.resize(*size)
    win.actions["actionZoomReset"].trigger()
    assert win.font_scale == theme.lecture_scale_for(size[1])
    qtbot.waitUntil(lambda: theme.is_fully_styled() and view.is_ready(), timeout=10_000)
    for _ in range(3):
        QApplication.processEvents()
    qtbot.waitUntil(view.is_ready, timeout=10_000)
    view.fit_to_window(animate=False)
    assert win.toolbar.isHidden() and win.training_toolbar.isHidden()  # stepped aside with the builder
    label, body = view.label_pixel_size(), body_text_px(view)
    assert label >= body, (label, body)
    assert labels_wider_than_boxes(view) == []
    short = size[1] < LECTURE_SHORT_SCREEN
    assert view.stage_mode == short and view.toolbar.isHidden() == short
    if short:
        assert view.legend.floating and view.legend.isVisible()  # LeNet leaves a corner free
        assert legend_covers(view) == []
    win.actions["actionShowBuilder"].trigger()  # Ctrl+B brings the toolbars back with the builder
    assert not win.toolbar.isHidden() and not win.training_toolbar.isHidden()
    assert not view.stage_mode and view.toolbar.isVisible() and not view.legend.floating
    assert view.legend.isVisible()  # a strip below the drawing again


def legend_covers(view) -> list:
    """Node boxes and edges (their bounding boxes) under the legend, where it floats
    over the drawing (canvas viewport px)."""
    canvas, legend, model = view.canvas, view.legend, view.item.model
    rect = QRectF(legend.geometry()).translated(QPointF(canvas.viewport().mapFrom(legend.parentWidget(), QPoint(0, 0))))
    out = []
    for key in view.shown_graph():
        box = canvas.mapFromScene(view.node_rect(key)).boundingRect()
        if QRectF(box).intersects(rect):
            out.append(key)
    for i in range(len(model.src)):
        corners = canvas.mapFromScene(QRectF(QPointF(model.ex0[i], model.ey0[i]), QPointF(model.ex1[i], model.ey1[i])))
        if QRectF(corners.boundingRect()).intersects(rect):
            out.append(("edge", int(model.src[i]), int(model.dst[i])))
    return out


def _layout_snapshot(win):
    docks = {
        name: (dock.isHidden(), dock.isFloating(), win.dockWidgetArea(dock), dock.geometry().getRect()
               if not dock.visibleRegion().isEmpty() else None)
        for name, dock in win.panels.items()
    }
    return {"docks": docks, "geometry": win.geometry().getRect(), "scale": win.font_scale, "theme": win.theme_name,
            "full_screen": win.isFullScreen(), "central": win.centralWidget().geometry().getRect()}


def test_leaving_lecture_mode_restores_the_layout_exactly(make_window, qtbot):
    win = make_window(1600, 1000)
    ui = win.training_ui
    # a layout of the user's own: gradients at the bottom, summary closed, bigger text
    win.removeDockWidget(ui.gradient_dock)
    win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, ui.gradient_dock)
    ui.gradient_dock.show()
    win.summary_dock.close()
    win.actions["actionZoomIn"].trigger()
    qtbot.waitUntil(theme.is_fully_styled, timeout=5000)  # the zoom's restyle follows its steps
    win.resizeDocks([win.builder_dock], [380], Qt.Orientation.Horizontal)
    for _ in range(3):
        QApplication.processEvents()
    before = _layout_snapshot(win)

    win.actions["actionLectureMode"].trigger()
    for _ in range(3):
        QApplication.processEvents()
    assert win.isFullScreen() and win.builder_dock.isHidden()
    win.actions["actionZoomIn"].trigger()  # the lecture's own text size does not leak out
    win.actions["actionLectureMode"].trigger()
    for _ in range(3):
        QApplication.processEvents()
    # the panels' minimum sizes follow the text size a moment later; then all matches
    try:
        qtbot.waitUntil(lambda: _layout_snapshot(win) == before, timeout=3000)
    except Exception:
        assert _layout_snapshot(win) == before  # shows what differs
        raise


def test_a_layout_saved_by_an_older_version_does_not_override_the_new_default(qtbot):
    from gradviz.ui import MainWindow

    _forget_remembered_layout()
    old = MainWindow()
    qtbot.addWidget(old)
    old.removeDockWidget(old.training_ui.gradient_dock)
    old.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, old.training_ui.gradient_dock)
    settings.set_value(settings.WINDOW_STATE, old.saveState(settings.LAYOUT_VERSION - 1))
    win = MainWindow()
    qtbot.addWidget(win)
    assert win.dockWidgetArea(win.training_ui.gradient_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    _forget_remembered_layout()


def test_a_layout_saved_by_this_version_is_restored(qtbot):
    from gradviz.ui import MainWindow

    _forget_remembered_layout()
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    first.removeDockWidget(first.training_ui.gradient_dock)
    first.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, first.training_ui.gradient_dock)
    first.training_ui.gradient_dock.show()
    first._save_layout()  # what closing the window does
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.dockWidgetArea(again.training_ui.gradient_dock) == Qt.DockWidgetArea.BottomDockWidgetArea
    _forget_remembered_layout()


def test_shortcut_list_names_every_action_that_has_a_shortcut(make_window):
    win = make_window(1280, 720)
    win.actions["actionShortcuts"].trigger()
    box = win.findChild(object, "shortcutsDialog")
    assert box is not None and win.has_graph_view
    listed = {(name, keys) for name, keys in win.shortcut_rows()}
    from PySide6.QtGui import QKeySequence

    with_keys = [a for a in win.findChildren(QAction) if any(not s.isEmpty() for s in a.shortcuts())]
    assert len(with_keys) >= 30
    for action in with_keys:
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty())
        assert any(k == keys for _, k in listed), (action.objectName(), keys)
        assert keys.split(", ")[0] in box.text(), action.objectName()
    for keys in ("Ctrl+F", "Ctrl+E", "Ctrl+B", "F11", "F5"):
        assert any(keys in k.split(", ") for _, k in listed), keys
    box.close()


@pytest.mark.parametrize("scale", [1.0, 2.0], ids=["100pct", "200pct"])
def test_the_shortcut_list_stays_on_the_screen_and_scrolls(make_window, qtbot, scale):
    """35 rows at lecture text sizes are taller than a 720p screen: the list scrolls,
    the dialog and its Close button stay on the screen (as a message box it ran
    off the bottom, its button with it)."""
    from PySide6.QtWidgets import QDialogButtonBox

    win = make_window(1280, 720)
    if scale != 1.0:
        _enter_lecture(win, qtbot, (1280, 720), scale)
    win.actions["actionShortcuts"].trigger()
    box = win.findChild(object, "shortcutsDialog")
    qtbot.waitUntil(lambda: box.isVisible(), timeout=5000)
    room = win.screen().availableGeometry()
    assert room.contains(box.frameGeometry()), (box.frameGeometry(), room)
    close = box.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Close)
    assert close.isVisible() and box.rect().contains(close.geometry().translated(close.parentWidget().pos()))
    bar = box.scroll.verticalScrollBar()
    assert (bar.maximum() > 0) == (box.table.sizeHint().height() > box.scroll.viewport().height())
    if scale == 2.0:
        assert bar.maximum() > 0  # every row is there to scroll to, none cut away
    assert "F11" in box.text() and "Ctrl+F" in box.text()
    close.click()
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=5000)


def test_export_graph_is_in_the_file_menu(make_window):
    win = make_window(1280, 720)
    file_menu = win.menus["file"]
    stand_in = [a for a in file_menu.actions() if a.objectName() == "actionExportGraphPending"]
    assert stand_in and not stand_in[0].isEnabled()  # before the graph view exists
    view = win.graph_view
    assert view.export_action in file_menu.actions()
    assert view.export_action.shortcut().toString() == "Ctrl+E"
    assert not [a for a in file_menu.actions() if a.objectName() == "actionExportGraphPending"]


def test_window_title_says_gradviz_once(make_window):
    from gradviz.app import configure_application

    calls = []

    class App:
        def __getattr__(self, name):
            return lambda *args: calls.append(name)

    configure_application(App())
    # Qt appends an application display name to every window title
    assert "setApplicationDisplayName" not in calls and "setApplicationName" in calls
    win = make_window(1280, 720)
    assert win.windowTitle() == "gradviz — untitled"
    win.load_preset("lenet")
    assert win.windowTitle().count("gradviz") == 1


def _scene_rect_in(panel, scene_rect, viewport) -> QRectF:
    """A scene rect of the gradient pictures in the scroll area's viewport's pixels."""
    local = panel.plots_widget.mapFromScene(scene_rect).boundingRect()
    return QRectF(local).translated(QPointF(panel.plots_widget.mapTo(viewport, QPoint(0, 0))))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_lecture_gradients_show_conv1_whole_without_scrolling(make_window, qtbot, size):
    """What a class wants to see: in lecture mode at 1600×1000 and at 1280×720, after a
    LeNet iteration, conv1.weight's four pictures (weights before, gradient, update,
    weights after) are all on screen at once, unscrolled, at MIN_WEIGHT_PX or more a
    weight, each with its title and colour-bar numbers, none overlapping another (at
    1280×720 the code column shows the current line only: PhaseIndicator.set_compact).
    Leaving lecture mode brings the panel's caption row back."""
    from gradviz.ui.training.gradient_panel import MIN_WEIGHT_PX, PANELS

    win = make_window(*size)
    run_lenet_iteration(win, qtbot)
    _enter_lecture(win, qtbot, size, theme.lecture_scale_for(size[1]))
    win.actions["actionZoomReset"].trigger()  # the lecture text size for this height
    qtbot.waitUntil(lambda: theme.is_fully_styled() and win.graph_view.is_ready(), timeout=10_000)
    panel = win.training_ui.gradients
    assert panel.presenting and panel.current_param() == "conv1.weight"
    viewport = panel.plots_scroll.viewport()

    def pictures():
        out = {}
        for key in PANELS:
            item = panel.items[key]
            rect = _scene_rect_in(panel, item.mapToScene(item.boundingRect()), viewport)
            rows, cols = item.image.shape
            out[key] = (rect, min(rect.width() / cols, rect.height() / rows))
        return out

    def all_seen():
        room = QRectF(viewport.rect())
        return not panel.scrolled and all(room.contains(r) and px >= MIN_WEIGHT_PX for r, px in pictures().values())

    for _ in range(3):
        QApplication.processEvents()
    try:
        qtbot.waitUntil(all_seen, timeout=5000)
    except Exception:
        raise AssertionError((panel.scrolled, viewport.size(), pictures())) from None
    assert panel.plots_scroll.verticalScrollBar().maximum() == 0
    room = QRectF(viewport.rect())
    boxes = []  # every picture, title and colour-bar label: inside the view, none overlapping
    for key in PANELS:
        plot = panel.plots[key]
        title = _scene_rect_in(panel, plot.titleLabel.item.sceneBoundingRect(), viewport)
        bar = _scene_rect_in(panel, panel.bars[key].sceneBoundingRect(), viewport)
        labels = [(text, _scene_rect_in(panel, rect, viewport)) for text, rect in panel.scales[key].label_rects()]
        assert panel.bars[key].isVisible() and [t for t, _ in labels], key
        boxes += [(f"{key} picture", pictures()[key][0]), (f"{key} title", title), (f"{key} bar", bar)]
        boxes += [(f"{key} {text}", rect) for text, rect in labels]
    for name, rect in boxes:
        assert room.contains(rect.adjusted(1, 1, -1, -1)), (name, rect, room)
    overlaps = [(a, b) for i, (a, ra) in enumerate(boxes) for b, rb in boxes[i + 1:]
                if ra.adjusted(1, 1, -1, -1).intersects(rb.adjusted(1, 1, -1, -1))]
    assert overlaps == []
    win.set_lecture_mode(False)
    qtbot.waitUntil(lambda: not panel.presenting, timeout=5000)
    assert panel.caption.isVisibleTo(panel)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_lecture_mode_on_a_short_screen_gives_the_menu_bar_height_to_the_graph(make_window, qtbot, size):
    """A 720p projector: the menu bar steps aside with the builder (its height goes to
    the graph; Ctrl+B brings both back); a 1000 px screen keeps it. Leaving lecture
    mode brings it back."""
    from gradviz.ui.presentation import LECTURE_SHORT_SCREEN

    win = make_window(*size)
    _enter_lecture(win, qtbot, size, theme.lecture_scale_for(size[1]))
    short = size[1] < LECTURE_SHORT_SCREEN
    assert win.menuBar().isHidden() == short
    if short:  # nothing but the phase toolbar and the status bar takes the graph's height
        taken = win.height() - win.centralWidget().height() - win.statusBar().height()
        step_bar = max(b.height() for b in win.findChildren(QToolBar) if b.isVisible() and b.window() is win
                       and b.parent() is win)
        assert taken <= step_bar + 8, (taken, step_bar)
    win.actions["actionShowBuilder"].trigger()
    assert not win.menuBar().isHidden()
    win.actions["actionShowBuilder"].trigger()
    assert win.menuBar().isHidden() == short
    win.actions["actionLectureMode"].trigger()  # F11: leave
    assert not win.lecture_mode and not win.menuBar().isHidden()


def test_a_short_lecture_screen_shows_the_current_code_line_only(make_window, qtbot):
    """On a 720p projector (stage mode) the code column keeps one row: the phase that
    runs or comes next, following the phases as they run, its sentence as the row's
    tooltip. Ctrl+B (the builder back, stage mode off) shows all five rows (the
    sentence stays a tooltip: lecture mode), leaving lecture mode the sentence too;
    a 1000 px screen never hides rows."""
    win = make_window(1280, 720)
    show_lenet_graph(win, qtbot)
    ui = win.training_ui
    indicator = ui.indicator
    changes = []
    win.stageModeChanged.connect(changes.append)
    _enter_lecture(win, qtbot, (1280, 720), theme.lecture_scale_for(720))
    assert win.stage_mode and changes == [True] and indicator.compact

    def shown():
        return [phase for phase, row in indicator.rows.items() if not row.isHidden()]

    assert shown() == ["zero_grad"] and indicator.explanation.isHidden()
    assert indicator.rows["zero_grad"].toolTip() == indicator.explanation.text() != ""
    ui.set_speed(1000)
    for done, following in (("zero_grad", "forward"), ("forward", "loss")):
        win.actions["actionNextPhase"].trigger()
        qtbot.waitUntil(lambda: indicator.next_phase == following and not ui.controller.busy, timeout=30_000)
        assert shown() == [following], (done, shown())
    win.actions["actionShowBuilder"].trigger()  # Ctrl+B: the builder back, the full list too
    assert not win.stage_mode and changes == [True, False]
    assert shown() == list(indicator.rows) and indicator.explanation.isHidden()
    assert indicator.rows["loss"].toolTip() == indicator.explanation.text() != ""
    win.actions["actionShowBuilder"].trigger()
    assert win.stage_mode and shown() == ["loss"]
    win.actions["actionLectureMode"].trigger()  # F11: leave
    assert not win.stage_mode and not indicator.compact and shown() == list(indicator.rows)
    qtbot.waitUntil(lambda: not indicator.explanation.isHidden(), timeout=5000)
    assert all(row.toolTip() == "" for row in indicator.rows.values())


def test_a_toolbar_caption_never_stays_behind_without_its_control(make_window, qtbot):
    """On a narrow toolbar (1280×720: the training settings' "Device"; lecture mode
    there: the step toolbar's "Speed") a caption and its control move into the
    overflow menu together; a roomy one shows both."""
    win = make_window(1280, 720)
    qtbot.waitUntil(lambda: win.training_toolbar.isVisible(), timeout=5000)
    QApplication.processEvents()
    captions = [label for label in win.training_toolbar.findChildren(QLabel) if label.buddy() is not None]
    assert len(captions) >= 5
    assert [c.text() for c in captions if c.isVisible() != c.buddy().isVisible()] == []
    # and the button to the overflow menu can be seen: Fusion's arrow drew a 2 px dot
    hidden = [c.text() for c in captions if not c.isVisible()]
    extension = win.training_toolbar.findChild(QToolButton, "qt_toolbar_ext_button")
    assert hidden and extension.isVisible()
    assert win.training_toolbar.rect().contains(extension.geometry())
    image = extension.grab().toImage()
    inked = sum(1 for x in range(image.width()) for y in range(image.height())
                if image.pixelColor(x, y).lightness() < 200)
    assert inked >= 8, inked  # the dot: 4 px; the » 10
    for size, lecture in (((1280, 720), True), ((1600, 1000), False)):
        win = make_window(*size)
        if lecture:
            _enter_lecture(win, qtbot, size, theme.lecture_scale_for(size[1]))
        ui = win.training_ui
        [title] = [label for label in win.findChildren(QLabel) if label.buddy() is ui.speed_slider]
        qtbot.waitUntil(lambda: ui.toolbar.isVisible(), timeout=5000)
        QApplication.processEvents()
        shown = [w.isVisible() for w in (title, ui.speed_slider, ui.speed_label)]
        assert title.text() == "Speed" and shown in ([True] * 3, [False] * 3), (size, shown)
        assert shown == [not lecture] * 3, (size, shown)


def test_a_tall_lecture_screen_keeps_every_code_line(make_window, qtbot):
    win = make_window(1600, 1000)
    _enter_lecture(win, qtbot, (1600, 1000), theme.lecture_scale_for(1000))
    assert win.lecture_mode and not win.stage_mode
    indicator = win.training_ui.indicator
    assert all(not row.isHidden() for row in indicator.rows.values())
    # the sentence under the rows is the current row's tooltip: the gradients get its height
    qtbot.waitUntil(lambda: indicator.explanation.isHidden(), timeout=5000)
    assert indicator.rows[indicator.highlighted_phase()].toolTip() == indicator.explanation.text() != ""


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_message_pushes_the_graph_down_instead_of_covering_it(make_window, qtbot, size):
    """The NaN/Inf banner lay over the top of the graph pane: it hid the graph's
    toolbar (search, Fit, collapse) and its top rows until closed."""
    win = make_window(*size)
    view = show_lenet_graph(win, qtbot)
    banner = win.training_ui.banner
    before = _rect_in(view, win)
    banner.show_message("NaN/Inf first appeared in iteration 3, backward: fc1.weight · play paused. "
                        "Lower the learning rate and reset the weights to go on.")
    qtbot.waitUntil(lambda: _rect_in(view, win).top() > before.top(), timeout=5000)
    shown = _rect_in(banner, win)
    assert not shown.intersects(_rect_in(view, win))
    assert shown.left() >= before.left() - 1 and shown.right() <= before.right() + 1  # over the graph's column
    banner.close_button.click()
    qtbot.waitUntil(lambda: _rect_in(view, win) == before, timeout=5000)
