"""The network builder, driven the way a user drives it: presets, editors, palette,
drag and drop, undo. Runs offscreen (tests/conftest.py)."""
import json

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent, QGuiApplication
from PySide6.QtWidgets import QComboBox, QLineEdit

from gradviz.core import presets
from gradviz.core.layers import GROUPS, layer_kinds
from gradviz.core.spec import LayerSpec, NetworkSpec
from gradviz.core import edits
from gradviz.core import text_values
from gradviz.ui.builder.layer_card import PATH_MIME
from gradviz.ui.builder.palette import KIND_MIME
from gradviz.ui.validated_field import ValidatedField


@pytest.fixture
def window(qtbot):
    from gradviz.ui import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    return win


def pick_preset(window, name):
    combo = window.findChild(QComboBox, "presetCombo")
    combo.setCurrentIndex(combo.findData(name))


def names(window):
    return [layer.name for _, layer in window.spec.walk()]


def type_text(qtbot, field, text):
    """Replace a field's text by typing, without committing it."""
    field.lineEdit().clear()
    qtbot.keyClicks(field, text)


def type_and_enter(qtbot, field, text):
    type_text(qtbot, field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)


# -- presets, errors, undo ---------------------------------------------------------------

def test_lenet_from_preset_combo_then_fc1_error_undo_redo(window):
    combo = window.findChild(QComboBox, "presetCombo")
    assert [combo.itemData(i) for i in range(1, combo.count())] == presets.names()
    pick_preset(window, "lenet")
    assert window.spec.layers == presets.load("lenet").layers
    assert window.findChild(object, "layerCard_conv1") is not None
    conv1 = window.stack.card("conv1")
    assert conv1.shape_label.text() == "→ (1, 6, 28, 28)"
    assert "(32 − 5 + 2·0)/1 + 1 = 28" in conv1.derivation_label.text()
    assert window.actions["actionShowGraph"].isEnabled()

    editor = window.stack.card("fc1").findChild(ValidatedField, "param_in_features")
    editor.setValue(256)
    fc1 = window.stack.card("fc1")
    assert fc1.has_error and fc1.property("error") is True
    message = fc1.error_text()
    assert "fc1" in message and "400" in message and "256" in message
    assert fc1.error_label.isVisible()
    assert not any(window.stack.card(n).has_error for n in names(window) if n != "fc1")
    assert window.stack.card("fc3").shape_label.text() == "→ ?"  # after the error: unknown
    assert not window.actions["actionShowGraph"].isEnabled()
    assert "fc1" in window.network_status.text()
    assert window.session is None

    window.actions["actionUndo"].trigger()
    assert window.spec.find("fc1").params["in_features"] == 400
    assert not window.stack.card("fc1").has_error
    assert window.stack.card("fc1").findChild(ValidatedField, "param_in_features").value() == 400
    assert window.actions["actionShowGraph"].isEnabled()

    window.actions["actionRedo"].trigger()
    assert window.spec.find("fc1").params["in_features"] == 256
    assert window.stack.card("fc1").has_error

    window.actions["actionUndo"].trigger()
    window.actions["actionUndo"].trigger()  # the preset load itself is undoable
    assert window.spec.layers == []


def test_typing_a_value_is_one_undo_step(window, qtbot):
    window.load_preset("lenet")
    depth = window.document.undo_stack.count()
    editor = window.stack.card("fc1").findChild(ValidatedField, "param_in_features")
    editor.setFocus()
    type_text(qtbot, editor, "256")
    assert window.spec.find("fc1").params["in_features"] == 400  # typing alone applies nothing
    assert window.document.undo_stack.count() == depth
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert window.spec.find("fc1").params["in_features"] == 256
    assert window.document.undo_stack.count() == depth + 1
    qtbot.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # reaches the document, not the field
    assert window.spec.find("fc1").params["in_features"] == 400
    assert editor.value() == 400


def test_input_shape_edit_applies_on_enter_and_validated(window, qtbot):
    window.load_preset("lenet")
    edit = window.findChild(ValidatedField, "inputShapeEdit")
    assert edit.text() == "1, 1, 32, 32"
    type_and_enter(qtbot, edit, "1, 3, 32, 32")
    assert window.spec.input_shape == (1, 3, 32, 32)
    assert window.stack.card("conv1").has_error and "3" in window.stack.card("conv1").error_text()
    depth = window.document.undo_stack.count()
    type_and_enter(qtbot, edit, "1, x")
    assert edit.property("error") is True and "'x'" in edit.toolTip() and "'x'" in edit.problem_label.text()
    assert window.spec.input_shape == (1, 3, 32, 32)  # unreadable text changes nothing
    assert window.document.undo_stack.count() == depth
    edit.editingFinished.emit()  # leaving the field: the text stays, still red, until fixed
    assert edit.text() == "1, x" and edit.property("error") is True
    qtbot.keyClick(edit, Qt.Key.Key_Escape)  # Esc shows the shape in force again
    assert edit.text() == "1, 3, 32, 32" and not edit.property("error")


# -- palette ---------------------------------------------------------------------------------

def test_palette_has_every_kind_grouped_with_help(window):
    palette = window.findChild(object, "layerPalette")
    assert palette.kinds() == list(layer_kinds())
    tree = palette.tree
    groups = [tree.topLevelItem(i).text(0).lower() for i in range(tree.topLevelItemCount())]
    assert groups == [g for g in GROUPS]
    for name, kind in layer_kinds().items():
        assert kind.help in palette.item_for(name).toolTip(0)
    palette.filter_edit.setText("pool")
    visible = [k for k in palette.kinds() if not palette.item_for(k).isHidden()]
    assert visible == ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


def test_double_click_adds_after_selection_with_fitting_params(window):
    window.load_preset("lenet")
    window.stack.select("flatten")
    palette = window.palette
    palette.tree.itemActivated.emit(palette.item_for("Linear"), 0)
    new = window.spec.layers[7]
    assert new.kind == "Linear" and new.name == "fc4"  # fc1..fc3 taken
    # inserted between layers: takes the incoming 400 features and keeps them
    assert new.params == {"in_features": 400, "out_features": 400}
    assert window.document.analysis.valid
    assert window.stack.selected_name == "fc4"
    window.stack.select(None)
    palette.tree.itemActivated.emit(palette.item_for("Linear"), 0)  # no selection: append
    assert window.spec.layers[-1].params == {"in_features": 10}


def test_new_conv_takes_incoming_channels():
    spec = presets.load("lenet")
    layer = edits.new_layer(spec, "Conv2d", (), 3)  # after pool1: (1, 6, 14, 14)
    assert layer.params["in_channels"] == 6 and layer.name == "conv3"
    assert edits.new_layer(spec, "BatchNorm2d", (), 1).params == {"num_features": 6}
    assert edits.new_layer(NetworkSpec([], (4, 2)), "Linear").params == {"in_features": 2}


def test_drop_from_palette_inserts_at_drop_position(window, qtbot):
    window.load_preset("mlp")
    top = window.stack.top_list
    target = window.stack.card("fc2")
    mime = QMimeData()
    mime.setData(KIND_MIME, b"ReLU")
    y = target.geometry().top() + 2  # upper half of fc2: insert before it
    event = QDropEvent(QPointF(20, y), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    top.dropEvent(event)
    qtbot.waitUntil(lambda: len(window.spec.layers) == 6, timeout=2000)
    assert [layer.name for layer in window.spec.layers][:4] == ["fc1", "tanh1", "relu1", "fc2"]


def test_drag_card_to_new_position(window, qtbot):
    window.load_preset("mlp")
    top = window.stack.top_list
    mime = QMimeData()
    mime.setData(PATH_MIME, json.dumps([0]).encode())  # fc1 …
    y = window.stack.card("fc3").geometry().bottom() + 5  # … dropped below the last card
    event = QDropEvent(QPointF(20, y), Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    top.dropEvent(event)
    qtbot.waitUntil(lambda: window.spec.layers[-1].name == "fc1", timeout=2000)
    assert [layer.name for layer in window.spec.layers] == ["tanh1", "fc2", "tanh2", "fc3", "fc1"]


# -- layer operations -------------------------------------------------------------------------

def test_remove_reorder_duplicate(window):
    window.load_preset("mlp")
    stack, act = window.stack, window.actions
    stack.select("tanh1")
    assert act["actionDeleteLayer"].isEnabled()
    assert act["actionDeleteLayer"].shortcut().toString() == "Del"
    act["actionDeleteLayer"].trigger()
    assert names(window) == ["fc1", "fc2", "tanh2", "fc3"]
    assert stack.selected_name == "fc2"  # the next one, so Del Del keeps going

    act["actionMoveLayerUp"].trigger()
    assert names(window) == ["fc2", "fc1", "tanh2", "fc3"]
    act["actionMoveLayerUp"].trigger()  # already first: no change, a message instead
    assert names(window) == ["fc2", "fc1", "tanh2", "fc3"]
    act["actionMoveLayerDown"].trigger()
    assert names(window) == ["fc1", "fc2", "tanh2", "fc3"]
    assert act["actionMoveLayerDown"].shortcut().toString() == "Alt+Down"

    stack.select("fc2")
    act["actionDuplicateLayer"].trigger()
    assert names(window) == ["fc1", "fc2", "fc4", "tanh2", "fc3"]
    assert window.spec.find("fc4").params == window.spec.find("fc2").params
    assert stack.selected_name == "fc4"
    stack.card("fc4").findChild(object, "deleteButton").click()
    assert names(window) == ["fc1", "fc2", "tanh2", "fc3"]

    for _ in range(5):  # delete, up, down, duplicate, delete (the refused move recorded nothing)
        act["actionUndo"].trigger()
    assert names(window) == ["fc1", "tanh1", "fc2", "tanh2", "fc3"]


def test_inline_rename_validates(window, qtbot):
    window.load_preset("mlp")
    fc2 = window.stack.card("fc2")
    fc2.begin_rename()
    edit = fc2.findChild(QLineEdit, "renameEdit")
    for bad, reason in (("1st", "not a valid layer name"), ("fc1", "already exists"), ("class", "not a valid")):
        edit.setText("")
        qtbot.keyClicks(edit, bad)
        assert edit.property("error") is True
        assert reason in fc2.error_text()
        assert fc2.commit_rename() is False
    assert names(window)[2] == "fc2"
    edit.setText("")
    qtbot.keyClicks(edit, "hidden")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert names(window) == ["fc1", "tanh1", "hidden", "tanh2", "fc3"]
    assert window.findChild(object, "layerCard_hidden") is window.stack.card("hidden")
    assert window.stack.selected_name == "hidden"
    window.actions["actionUndo"].trigger()
    assert names(window)[2] == "fc2"


def test_residual_holds_nested_stack(window, qtbot):
    window.load_preset("lenet")
    window.stack.select("relu1")
    window.stack.add_layer("Residual")
    assert window.spec.layers[2].kind == "Residual" and window.spec.layers[2].name == "block1"
    block = window.stack.card("block1")
    assert block.inner_list is not None and block.inner_list.objectName() == "nestedList_block1"
    assert "Add inside" in [a.text() for a in block.build_context_menu().actions()]
    # add inside (context menu path): keeps the shape, as a residual branch must
    window.stack.add_layer("Conv2d", (2,), None)
    inner = window.spec.layers[2].layers
    assert [layer.kind for layer in inner] == ["Conv2d"]
    assert inner[0].params == {"in_channels": 6, "out_channels": 6, "kernel_size": 3, "padding": 1}
    assert window.document.analysis.valid
    # drop into the nested list
    mime = QMimeData()
    mime.setData(KIND_MIME, b"ReLU")
    nested = window.stack.card("block1").inner_list
    nested.dropEvent(QDropEvent(QPointF(20, 1000), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: len(window.spec.layers[2].layers) == 2, timeout=2000)
    assert window.spec.layers[2].layers[1].kind == "ReLU"
    assert window.stack.card(window.spec.layers[2].layers[1].name) is not None
    # an inner error marks the inner card
    conv = window.spec.layers[2].layers[0].name
    window.stack.card(conv).findChild(ValidatedField, "param_out_channels").setValue(8)
    assert window.stack.card("block1").has_error  # x + f(x) shape mismatch is the block's error
    assert "block1" in window.stack.card("block1").error_text()
    # moving a block into itself is refused with a message, not an exception
    window.stack.move_layer((2,), (2,), 0)
    assert window.spec.layers[2].kind == "Residual"


def test_param_editors_from_declarations(window, qtbot):
    window.load_preset("lenet")
    conv1 = window.stack.card("conv1")
    kernel = conv1.findChild(ValidatedField, "param_kernel_size")
    type_and_enter(qtbot, kernel, "3, 5")
    assert window.spec.find("conv1").params["kernel_size"] == (3, 5)
    assert "H: (32 − 3 + 2·0)/1 + 1 = 30; W: (32 − 5 + 2·0)/1 + 1 = 28" in conv1.derivation_label.text()
    type_and_enter(qtbot, kernel, "3, a")
    assert kernel.property("error") is True and "'a' is not a whole number" in conv1.error_text()
    assert window.spec.find("conv1").params["kernel_size"] == (3, 5)
    kernel.editingFinished.emit()
    assert kernel.text() == "3, a" and conv1.has_error  # invalid text stays until fixed
    type_and_enter(qtbot, kernel, "3,5")
    assert kernel.text() == "3, 5" and not conv1.has_error

    stride = window.stack.card("pool1").findChild(ValidatedField, "param_stride")  # optional: empty means None
    assert stride.text() == "" and stride.lineEdit().placeholderText() == "default"
    type_and_enter(qtbot, stride, "1")
    assert window.spec.find("pool1").params["stride"] == 1
    type_and_enter(qtbot, stride, "")
    assert window.spec.find("pool1").params["stride"] is None

    bias = conv1.findChild(object, "param_bias")
    bias.setChecked(False)
    assert window.spec.find("conv1").params["bias"] is False
    in_channels = conv1.findChild(ValidatedField, "param_in_channels")
    type_and_enter(qtbot, in_channels, "0")  # below the declared minimum: refused, not clamped to 1
    assert in_channels.text() == "0" and "minimum 1" in conv1.error_text()
    assert window.spec.find("conv1").params["in_channels"] == 1
    qtbot.keyClick(in_channels, Qt.Key.Key_Escape)

    window.stack.select("relu4")
    window.stack.add_layer("Dropout")
    p = window.stack.card("dropout1").findChild(ValidatedField, "param_p")
    depth = window.document.undo_stack.count()
    type_and_enter(qtbot, p, "1.5")  # parsable but out of range: the core's range message, on the card
    assert window.stack.card("dropout1").has_error and "maximum" in window.stack.card("dropout1").error_text()
    assert "p" not in window.spec.find("dropout1").params and window.document.undo_stack.count() == depth


def test_text_values():
    assert text_values.parse_size("5", "k") == 5
    assert text_values.parse_size("2, 3", "k") == (2, 3)
    assert text_values.parse_size("(2,3)", "k") == (2, 3)
    assert text_values.parse_size("", "k", optional=True) is None
    assert text_values.parse_shape("10", "s") == (10,)
    assert text_values.parse_float("1e-5", "eps") == 1e-5
    assert text_values.parse_input_shape("1, 1, 32, 32") == (1, 1, 32, 32)
    for bad in ("", "1", "0, 3", "a, b"):
        with pytest.raises(ValueError, match="input shape"):
            text_values.parse_input_shape(bad)
    with pytest.raises(ValueError, match="finite"):
        text_values.parse_float("inf", "lr")


def test_edits_are_pure_and_index_like_a_drop_indicator():
    spec = presets.load("mlp")
    moved = edits.move_layer(spec, (0,), (), 2)  # drop fc1 between tanh1 and fc2
    assert [l.name for l in moved.layers] == ["tanh1", "fc1", "fc2", "tanh2", "fc3"]
    assert [l.name for l in spec.layers][0] == "fc1"  # untouched
    block = NetworkSpec([LayerSpec("Residual", "b", {}, [LayerSpec("ReLU", "r")])], (1, 4))
    copy, path = edits.duplicate_layer(block, (0,))
    assert [name for name in (l.name for _, l in copy.walk())] == ["b", "r", "b2", "r2"] and path == (1,)


# -- training controls and summary -------------------------------------------------------------

def test_training_controls_are_undoable_settings(window):
    loss = window.findChild(QComboBox, "lossCombo")
    optimizer = window.findChild(QComboBox, "optimizerCombo")
    device = window.findChild(QComboBox, "deviceCombo")
    lr = window.findChild(object, "lrSpin")
    assert [loss.itemData(i) for i in range(loss.count())] == ["mse", "l1", "cross_entropy", "nll"]
    assert [optimizer.itemData(i) for i in range(optimizer.count())] == ["sgd", "sgd_momentum", "adam", "manual_sgd"]
    assert device.itemData(0) == "cpu" and lr.value() == pytest.approx(0.01)
    loss.setCurrentIndex(loss.findData("cross_entropy"))
    optimizer.setCurrentIndex(optimizer.findData("adam"))
    lr.stepBy(1)
    assert lr.value() == pytest.approx(0.02)
    lr.stepBy(-2)
    assert lr.value() == pytest.approx(0.005)
    assert window.document.settings | {} == {"loss": "cross_entropy", "optimizer": "adam", "lr": pytest.approx(0.005), "device": "cpu", "data": None}
    window.actions["actionUndo"].trigger()  # the lr steps merged into one
    assert window.document.settings["lr"] == pytest.approx(0.01) and lr.value() == pytest.approx(0.01)
    window.actions["actionUndo"].trigger()
    assert optimizer.currentData() == "sgd"


def test_summary_panel_table_totals_and_copy(window, qtbot):
    window.load_preset("lenet")
    panel = window.findChild(object, "summaryPanel")
    assert panel.isVisible()
    view = window.summary
    assert view.table.rowCount() == 13  # input + 12 layers
    assert view.table.item(1, 0).text() == "conv1" and view.table.item(1, 2).text() == "(1, 6, 28, 28)"
    assert "61,706 parameters" in view.totals.text()
    view.copy()
    text = QGuiApplication.clipboard().text()
    assert "fc1" in text and "16·5·5 = 400" in text and "61,706" in text
    window.load_preset("resnet_tiny")
    assert any(view.table.item(r, 0).text().strip().startswith("↳ block1_conv1") for r in range(view.table.rowCount()))


def test_keyboard_walks_the_stack(window, qtbot):
    window.load_preset("resnet_tiny")
    window.stack.select("relu1")
    card = window.stack.card("relu1")
    card.setFocus()
    qtbot.keyClick(card, Qt.Key.Key_Down)
    assert window.stack.selected_name == "block2"
    qtbot.keyClick(window.stack.card("block2"), Qt.Key.Key_Down)
    assert window.stack.selected_name == "block2_conv1"  # into the block, in reading order
    window.stack.select_neighbour(-2)
    assert window.stack.selected_name == "relu1"
    qtbot.keyClick(window.stack.card("relu1"), Qt.Key.Key_Return)  # Enter renames
    assert window.stack.card("relu1").rename_edit is not None
