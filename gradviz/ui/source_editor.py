"""Open a user's source file at a line: ``$VISUAL``/``$EDITOR +line file`` when set, else the desktop's handler."""
from __future__ import annotations

import os
import shlex
import subprocess
from typing import Mapping

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices


def editor_command(file: str, line: int, env: Mapping[str, str] | None = None) -> list[str] | None:
    """``[editor…, "+line", file]`` from ``$VISUAL`` or ``$EDITOR``; None when neither is set."""
    env = os.environ if env is None else env
    editor = (env.get("VISUAL") or env.get("EDITOR") or "").strip()
    if not editor:
        return None
    return [*shlex.split(editor), f"+{int(line)}", file]


def open_in_editor(file: str, line: int) -> bool:
    """Open ``file`` at ``line``; True when something was started. Never raises."""
    command = editor_command(file, line)
    if command is not None:
        try:
            # Its own session: closing gradviz must not close the editor.
            subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL)
            return True
        except OSError:
            pass  # a wrong $EDITOR: fall back to the desktop
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(file)))
