"""Start the desktop app: ``python main.py [project.gvz.json]`` or ``gradviz``.

The window appears before torch is imported: nothing on the way to ``show()``
needs it (shape inference is pure Python), and torch then loads in the
background while the user looks at the window.
"""
from __future__ import annotations

import os
import sys

from gradviz.ui import settings


def configure_application(app) -> None:
    """Names for settings and the desktop. No display name: Qt appends it to every
    window title ("gradviz — untitled — gradviz"); the window says it once itself."""
    app.setOrganizationName(settings.ORGANISATION)
    app.setApplicationName(settings.APPLICATION)
    app.setDesktopFileName("gradviz")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv)
    configure_application(app)

    from gradviz.ui.errors import install_excepthook

    from gradviz.ui.main_window import MainWindow

    from gradviz.core.project import remove_stale_temp_files

    remove_stale_temp_files(settings.config_dir())  # left by autosaves killed mid-write
    window = MainWindow()
    install_excepthook(lambda: window, on_error=window.autosave_now)
    window.show()
    project = next((arg for arg in argv[1:] if not arg.startswith("-")), None)

    def after_show() -> None:
        window.start()
        if project:
            window.open_project(project)

    QTimer.singleShot(0, after_show)
    code = app.exec()
    # The window has closed (work saved or deliberately discarded). Users' code
    # stuck where no exception reaches it (in C, or in a pool thread) would keep
    # the process alive forever: quitting must always exit.
    from gradviz.ui.worker import finish_or_abandon

    if not finish_or_abandon(grace_s=2.0):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
