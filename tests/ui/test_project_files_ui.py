"""Project files from the window: save/open round trip, corrupt files, unsaved-changes
prompts, recent files, Python export, and crash recovery."""
import pytest
from PySide6.QtWidgets import QComboBox

from gradviz.core.codegen import to_python
from gradviz.core.project import load_project
from gradviz.ui import errors, settings
from gradviz.ui.builder import recovery


@pytest.fixture
def make_window(qtbot):
    from gradviz.ui import MainWindow

    def make():
        win = MainWindow()
        qtbot.addWidget(win)
        return win

    return make


@pytest.fixture
def window(make_window):
    return make_window()


class Answers:
    """Scripted answers for the window's prompts; records what was asked."""

    def __init__(self, window, save="discard", recover=False, path=None):
        self.asked = []
        prompts = window.prompts
        prompts.ask_save_changes = lambda name: self.asked.append(("save?", name)) or save
        prompts.ask_recover = lambda description: self.asked.append(("recover?", description)) or recover
        prompts.save_path = lambda suggested: self.asked.append(("save path", suggested)) or path
        prompts.open_path = lambda: self.asked.append(("open path",)) or path
        prompts.export_path = lambda suggested: self.asked.append(("export path", suggested)) or path


def test_save_and_reopen_round_trip(window, make_window, tmp_path):
    window.load_preset("lenet")
    window.findChild(QComboBox, "lossCombo").setCurrentIndex(2)  # cross_entropy
    window.findChild(object, "lrSpin").setValue(0.05)
    path = tmp_path / "lenet.gvz.json"
    assert window.save_project_as(path)
    assert window.windowTitle() == "gradviz — lenet.gvz.json"
    assert not window.document.is_modified
    project = load_project(path)
    assert project.spec.layers == window.spec.layers and project.spec.input_shape == (1, 1, 32, 32)
    assert project.extra == {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.05, "device": "cpu", "data": None}
    assert str(path.resolve()) == settings.recent_files()[0]

    other = make_window()
    assert other.open_project(path)
    assert other.spec.to_dict() == window.spec.to_dict()
    assert other.document.settings == window.document.settings
    assert other.findChild(QComboBox, "lossCombo").currentData() == "cross_entropy"
    assert other.windowTitle() == "gradviz — lenet.gvz.json" and not other.document.undo_stack.canUndo()

    window.stack.select("relu1")
    window.actions["actionDeleteLayer"].trigger()
    assert window.windowTitle().endswith("*")
    window.actions["actionSave"].trigger()  # Save writes to the same file, no dialog
    assert len(load_project(path).spec.layers) == 11 and not window.windowTitle().endswith("*")


def test_corrupt_file_leaves_current_work_untouched(window, tmp_path):
    window.load_preset("lenet")
    window.stack.card("fc1").findChild(object, "param_out_features").setValue(100)
    before = (window.spec.to_json(), window.document.undo_stack.count(), window.document.is_modified, window.windowTitle())
    for name, text, reason in (
        ("broken.gvz.json", '{"format": "gradviz-project", "version": 1, "spec": {', "not valid JSON"),
        ("empty.gvz.json", "", "empty"),
        ("other.gvz.json", '{"hello": 1}', "not a gradviz project"),
    ):
        path = tmp_path / name
        path.write_text(text)
        assert window.open_project(path) is False
        dialog = errors.last_dialog()
        assert dialog is not None and reason in dialog.summary() and name in dialog.summary()
        dialog.close()
        assert (window.spec.to_json(), window.document.undo_stack.count(), window.document.is_modified, window.windowTitle()) == before
    assert window.open_project(tmp_path / "missing.gvz.json") is False
    assert "no such file" in errors.last_dialog().summary()
    errors.last_dialog().close()


def test_unsaved_changes_prompt_on_new_open_and_close(window, tmp_path):
    window.load_preset("mlp")
    answers = Answers(window, save="cancel")
    window.actions["actionNew"].trigger()
    assert answers.asked == [("save?", "untitled")] and len(window.spec.layers) == 5
    window.actions["actionOpen"].trigger()
    assert len(answers.asked) == 2 and len(window.spec.layers) == 5  # cancelled before the file dialog
    assert window.close() is False and window.isVisible() is not None  # close refused
    answers = Answers(window, save="save", path=str(tmp_path / "mine.gvz.json"))
    window.actions["actionNew"].trigger()  # save first (asks where), then start empty
    assert [a[0] for a in answers.asked] == ["save?", "save path"]
    assert len(load_project(tmp_path / "mine.gvz.json").spec.layers) == 5
    assert window.spec.layers == [] and window.windowTitle() == "gradviz — untitled"
    window.load_preset("lenet")
    Answers(window, save="discard")
    window.actions["actionNew"].trigger()
    assert window.spec.layers == []


def test_export_python(window, tmp_path):
    window.load_preset("lenet")
    target = tmp_path / "net.py"
    Answers(window, path=str(target))
    window.actions["actionExportPython"].trigger()
    assert target.read_text() == to_python(window.spec)
    window.stack.card("fc1").findChild(object, "param_in_features").setValue(256)
    assert not window.actions["actionExportPython"].isEnabled()
    assert window.export_python(tmp_path / "broken.py") is False
    assert not (tmp_path / "broken.py").exists()
    errors.last_dialog().close()


def test_autosave_writes_recovery_only_for_unsaved_work(window, tmp_path):
    saver = window.autosaver
    assert saver.path.parent == settings.config_dir()
    assert saver.autosave() is False and not saver.path.exists()  # nothing to save
    window.load_preset("lenet")
    assert saver.autosave() is True and saver.path.exists()
    assert saver.autosave() is False  # unchanged since: not rewritten
    assert load_project(saver.path).spec.layers == window.spec.layers
    window.save_project_as(tmp_path / "saved.gvz.json")
    assert not saver.path.exists()  # a clean save removes it
    window.stack.select("conv1")
    window.actions["actionDeleteLayer"].trigger()
    assert saver.autosave() and saver.path.exists()
    window.actions["actionUndo"].trigger()  # back to the saved state: nothing unsaved
    saver.autosave()
    assert not saver.path.exists()
    assert saver.timer.isActive() and saver.timer.interval() <= 5000


def test_recovery_offered_after_a_crash(make_window, tmp_path):
    crashed = make_window()
    crashed.load_preset("resnet_tiny")
    crashed.findChild(object, "lrSpin").setValue(0.2)
    crashed.autosave_now()
    leftover = crashed.autosaver.path
    # A crash: the process ends without closeEvent, so the file is no longer anyone's.
    crashed.autosaver.timer.stop()
    recovery._live.discard(leftover)
    assert leftover.exists()

    declined = make_window()
    answers = Answers(declined, recover=False)
    copy = leftover.read_bytes()
    assert declined.offer_recovery() is False
    assert answers.asked[0][0] == "recover?" and "Unsaved work" in answers.asked[0][1]
    assert not leftover.exists() and declined.spec.layers == []

    leftover.write_bytes(copy)
    restored = make_window()
    Answers(restored, recover=True)
    assert restored.offer_recovery() is True
    assert restored.spec.to_dict() == crashed.spec.to_dict()
    assert restored.document.settings["lr"] == pytest.approx(0.2)
    assert restored.document.is_modified and restored.windowTitle() == "gradviz — untitled*"
    assert not leftover.exists()
    assert make_window().offer_recovery() is False  # offered once


def test_clean_exit_removes_the_recovery_file(window):
    window.load_preset("mlp")
    window.autosave_now()
    path = window.autosaver.path
    assert path.exists()
    Answers(window, save="discard")
    assert window.close()
    assert not path.exists()


def test_examples_open_as_untitled_copies(window):
    menu = window.menus["examples"]
    names = [action.text() for action in menu.actions()]
    assert "lenet" in names and "resnet_tiny" in names
    next(a for a in menu.actions() if a.text() == "lenet").trigger()
    assert window.spec.layers == __import__("gradviz").presets.load("lenet").layers
    assert window.files.path is None and window.windowTitle() == "gradviz — untitled"
