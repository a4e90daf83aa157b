"""Hostile project files in the window: a failed open changes nothing (issue 14, item 2),
and a huge project opens without building every card at once (item 13)."""
import pytest

from gradviz.core.limits import MAX_NESTING_DEPTH
from gradviz.ui import errors
from tests.test_limits import nested_project_text


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    yield win
    win.autosaver.stop()


def _state(window):
    document = window.document
    return (
        window.spec.to_json(), document.settings, document.undo_stack.count(), document.undo_stack.index(),
        document.is_modified, window.files.path, window.windowTitle(),
    )


def test_failed_open_of_a_deeply_nested_file_keeps_unsaved_work(window, tmp_path):
    saved = tmp_path / "lenet.gvz.json"
    window.load_preset("lenet")
    assert window.save_project_as(saved)
    window.stack.card("fc1").findChild(object, "param_out_features").setValue(100)  # unsaved edit
    assert window.document.is_modified
    assert window.autosaver.autosave() and window.autosaver.path.exists()
    before = _state(window)

    deep = tmp_path / "deep.gvz.json"
    deep.write_text(nested_project_text(250))
    assert window.open_project(deep) is False
    dialog = errors.last_dialog()
    assert dialog is not None and "deep.gvz.json" in dialog.summary() and str(MAX_NESTING_DEPTH) in dialog.summary()
    dialog.close()

    assert _state(window) == before  # spec, settings, undo history, modified flag, file, title
    assert window.document.undo_stack.canUndo()
    window.autosaver.autosave()
    assert window.autosaver.path.exists()  # the recovery file of the unsaved edit is kept
    asked = []
    window.prompts.ask_save_changes = lambda name: asked.append(name) or "cancel"
    assert window.files.confirm_discard() is False and asked == ["lenet.gvz.json"]  # Quit still asks


def test_document_reset_is_all_or_nothing(window, monkeypatch):
    """Whatever fails while preparing the new document, the old one stays exactly as it was."""
    from gradviz.core.presets import load as preset
    from gradviz.ui.builder import document as document_module

    window.load_preset("lenet")
    window.stack.card("fc1").findChild(object, "param_out_features").setValue(100)
    before = _state(window)

    def broken(spec):
        raise RuntimeError("analysis failed")

    monkeypatch.setattr(document_module, "analyse", broken)
    with pytest.raises(RuntimeError):
        window.document.reset(preset("mlp"))
    assert _state(window) == before


def test_a_1000_layer_project_opens_without_building_every_card_at_once(window, qtbot, tmp_path):
    from PySide6.QtCore import QTimer

    from gradviz.core.project import save_project
    from gradviz.core.spec import LayerSpec, NetworkSpec
    from gradviz.ui.builder.layer_stack import CARD_CHUNK, FIRST_CARDS

    layers = [LayerSpec("Linear", f"fc{i}", {"in_features": 4, "out_features": 4}) if i % 2 == 0 else LayerSpec("ReLU", f"relu{i}")
              for i in range(1000)]
    path = tmp_path / "huge.gvz.json"
    save_project(path, NetworkSpec(layers, (1, 4)))
    stack = window.stack
    assert window.open_project(path)
    assert len(stack.cards) <= FIRST_CARDS  # the first cards only, before the event loop runs again
    assert not stack.complete and stack.top_list.progress.isVisibleTo(stack.top_list)
    assert len(window.spec.layers) == 1000  # the document is complete; only its cards come later

    ticks = []  # the event loop keeps turning between chunks: a timer posted now fires before they end
    QTimer.singleShot(0, lambda: ticks.append(len(stack.cards)))
    qtbot.waitUntil(lambda: bool(ticks), timeout=20_000)
    assert ticks[0] < 1000 and not stack.complete

    assert stack.card("fc998") is not None  # a far card is built when asked for
    stack.select("relu997")
    assert stack.selected_name == "relu997" and stack.card("relu997").property("selected") is True

    qtbot.waitUntil(lambda: stack.complete, timeout=120_000)
    assert len(stack.cards) == 1000 and [c.layer_name for c in stack.top_list.cards] == [layer.name for layer in layers]
    assert not stack.top_list.progress.isVisibleTo(stack.top_list)
    assert stack.selected_name == "relu997"
    assert CARD_CHUNK < 1000
