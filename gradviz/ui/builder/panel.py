"""The builder dock's content: network header (preset, input shape) over the layer stack."""
from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from gradviz.ui.builder.controls import NetworkHeader
from gradviz.ui.builder.document import NetworkDocument
from gradviz.ui.builder.layer_stack import LayerStack


class BuilderPanel(QWidget):
    def __init__(self, document: NetworkDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("builderPanel")
        self.header = NetworkHeader(document)
        self.stack = LayerStack(document)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.header)
        layout.addWidget(self.stack, 1)
