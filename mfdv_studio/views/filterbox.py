"""A filter field: Esc clears what it holds (and only then, so Esc still reaches a dialog when it is empty)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLineEdit


class FilterBox(QLineEdit):
    def __init__(self, placeholder: str = "", parent=None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setClearButtonEnabled(True)

    def event(self, e) -> bool:
        """Take Esc while there is text to clear: no shortcut or dialog gets it first."""
        if e.type() == QEvent.ShortcutOverride and e.key() == Qt.Key_Escape and self.text():
            e.accept()
            return True
        return super().event(e)

    def keyPressEvent(self, e) -> None:  # noqa: N802 (Qt override)
        if e.key() == Qt.Key_Escape and self.text():
            self.clear()
            e.accept()
            return
        super().keyPressEvent(e)
