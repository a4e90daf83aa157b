"""gradviz.ui: PySide6 + pyqtgraph views over gradviz.core. No ML logic lives here."""


def __getattr__(name):
    if name == "MainWindow":
        from gradviz.ui.main_window import MainWindow

        return MainWindow
    raise AttributeError(name)
