"""ElidedLabel and ElidedComboBox: text that does not fit is shortened with "…", never
cut, and the whole text is in the tooltip (only then)."""
from gradviz.ui.elided import ElidedComboBox, ElidedLabel

LONG = "conv1.weight · shape (6, 1, 5, 5) · iteration 3 · after step · lr 0.01"


def test_label_keeps_its_text_and_elides_with_a_tooltip_only_when_narrow(qtbot):
    label = ElidedLabel(LONG)
    qtbot.addWidget(label)
    label.resize(label.fontMetrics().horizontalAdvance(LONG) + 20, 30)
    label.show()
    assert label.text() == LONG and not label.is_elided() and label.toolTip() == ""
    label.resize(80, 30)
    qtbot.waitUntil(label.is_elided, timeout=2000)
    assert label.text() == LONG and label.toolTip() == LONG
    label.setText("short")
    assert not label.is_elided() and label.toolTip() == ""
    label.setToolTip("the caller's own")  # a tooltip set by the caller is kept
    label.setText(LONG)
    assert label.toolTip() == "the caller's own"
    assert label.minimumSizeHint().width() < 80  # never widens its column


def test_combo_elides_its_face_and_names_the_whole_choice_in_its_tooltip(qtbot):
    combo = ElidedComboBox()
    qtbot.addWidget(combo)
    combo.setToolTip("Which parameter")
    combo.addItems(["w", "encoder.layers.0.self_attn.in_proj_weight"])
    combo.resize(combo.sizeHint())
    combo.show()
    assert combo.sizeHint().width() > combo.fontMetrics().horizontalAdvance(combo.itemText(1))  # room for the longest
    narrow = combo.fontMetrics().horizontalAdvance("encoder.layers")  # in this font: tests before may zoom the app
    combo.resize(narrow, combo.height())
    combo.setCurrentIndex(1)
    qtbot.waitUntil(combo.is_elided, timeout=2000)
    assert combo.toolTip() == "encoder.layers.0.self_attn.in_proj_weight\nWhich parameter"
    combo.setCurrentIndex(0)
    assert not combo.is_elided() and combo.toolTip() == "Which parameter"
    # it may shrink far below its longest text (in this font: tests before may zoom the app)
    assert combo.minimumSizeHint().width() < combo.fontMetrics().horizontalAdvance(combo.itemText(1)) / 2
