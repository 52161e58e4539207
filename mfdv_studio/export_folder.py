"""Where the export dialogs open: the folder the user last exported to (kept in QSettings),
else the open project's folder — never the folder the studio happened to be started from."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QWidget

from . import settings as st

KEY = "export/last_folder"


class ExportFolder:
    """One per window, shared by every view that exports; ``project`` is the open project's path."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings
        self.project: Path | None = None

    @property
    def settings(self) -> QSettings:
        if self._settings is None:  # (a view made on its own, in a test or a script)
            self._settings = st.settings()
        return self._settings

    def folder(self) -> Path:
        """The last export's folder while it still exists, else the project's, else the home folder."""
        last = self.settings.value(KEY, "")
        if isinstance(last, str) and last and Path(last).is_dir():
            return Path(last)
        if self.project is not None and self.project.parent.is_dir():
            return self.project.parent
        return Path.home()

    def start(self, name: str) -> str:
        """What a save dialog starts with: ``name`` in :meth:`folder`."""
        return str(self.folder() / name)

    def remember(self, path: str) -> None:
        """The folder of a file the user chose to export to: the next dialog opens there."""
        folder = Path(path).expanduser().parent
        if folder.is_dir():
            self.settings.setValue(KEY, str(folder.resolve()))

    def ask(self, parent: QWidget, title: str, name: str, filt: str) -> str:
        """A save dialog in :meth:`folder`; the chosen path ("" when cancelled), remembered."""
        path, _ = QFileDialog.getSaveFileName(parent, title, self.start(name), filt)
        if path:
            self.remember(path)
        return path
