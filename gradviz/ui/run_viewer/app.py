"""``gradviz view RUN``: the run viewer on its own, without the builder."""
from __future__ import annotations

import os
import sys

from gradviz.ui import settings


def main(path: str, argv: list[str] | None = None) -> int:
    """Show ``path`` in a :class:`RunWindow` until it is closed; returns the exit code."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(list(sys.argv if argv is None else argv))
    app.setOrganizationName(settings.ORGANISATION)
    app.setApplicationName(settings.APPLICATION)
    app.setApplicationDisplayName("gradviz")
    app.setDesktopFileName("gradviz")
    from gradviz.ui import theme
    from gradviz.ui.errors import install_excepthook
    from gradviz.ui.run_viewer.window import open_run_window

    theme.apply(app, settings.value(settings.THEME, theme.DEFAULT_THEME),
                theme.clamp_scale(settings.value(settings.FONT_SCALE, 1.0)))
    window = open_run_window(path)
    install_excepthook(lambda: window)
    code = app.exec()
    from gradviz.ui.worker import finish_or_abandon

    if not finish_or_abandon(grace_s=2.0):  # quitting always exits
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
