"""What both wizards share: pages whose Next/Finish follow validation, and the error label.

Every field is validated as typed by the engine itself
(``RunConfig.with_overrides([...]).validate()``, ``parse_attacks``,
``Protocol.validate``); the error sentence appears under the field.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWizardPage


class Page(QWizardPage):
    """A page whose completeness is a callable (so Next/Finish follow validation)."""

    check = None

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return bool(self.check()) if self.check is not None else super().isComplete()


def err_label() -> QLabel:
    lab = QLabel("")
    lab.setTextFormat(Qt.PlainText)  # error sentences quote values, some from a duplicated run's config
    lab.setStyleSheet("color: #b00020")
    lab.setWordWrap(True)
    return lab
