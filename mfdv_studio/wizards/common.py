"""What both wizards share: pages whose Next/Finish follow validation, scrolling page bodies,
a field with its error under it, and the last choices kept in QSettings.

Every field is validated as typed by the engine itself
(``RunConfig.with_overrides([...]).validate()``, ``parse_attacks``,
``Protocol.validate``); the error sentence appears under the field, word-wrapped,
and the page grows (and scrolls) rather than clip it.
"""
from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFrame, QLabel, QLineEdit, QPlainTextEdit, QScrollArea, QVBoxLayout, QWidget,
                               QWizardPage)

#: both wizards open this large (Qt's default, ~500×360, clipped the protocol page and hid errors)
WIZARD_SIZE = (900, 640)


class Page(QWizardPage):
    """A page whose completeness is a callable (so Next/Finish follow validation)."""

    check = None

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return bool(self.check()) if self.check is not None else super().isComplete()


def scroll_page(title: str) -> tuple[Page, QWidget]:
    """A page whose body scrolls: a long error under a field makes the body taller, never clipped."""
    page = Page()
    page.setTitle(title)
    body = QWidget()
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # wrap, never scroll sideways
    area.setWidget(body)
    lay = QVBoxLayout(page)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(area)
    return page, body


def err_label() -> QLabel:
    lab = QLabel("")
    lab.setTextFormat(Qt.PlainText)  # error sentences quote values, some from a duplicated run's config
    lab.setStyleSheet("color: #b00020")
    lab.setWordWrap(True)
    lab.setVisible(False)
    return lab


def note_label(color: str = "#8a5a00") -> QLabel:
    """A word-wrapped note (not an error) under a field; hidden while empty."""
    lab = err_label()
    lab.setStyleSheet(f"color: {color}")
    return lab


def set_text(label: QLabel, text: str) -> None:
    """Show ``text`` (already printable) under a field; an empty one takes no room."""
    label.setText(text)
    label.setVisible(bool(text))


def field_box(widget: QWidget, *labels: QLabel) -> QWidget:
    """``widget`` with its error / note labels under it, as one form row's field."""
    box = QWidget()
    v = QVBoxLayout(box)
    v.setContentsMargins(0, 0, 0, 0)
    v.setSpacing(2)
    v.addWidget(widget)
    for lab in labels:
        v.addWidget(lab)
    return box


def field_text(w: QWidget) -> str:
    """What a field holds as text: a combo's item data (its registry name), a check box's true/false,
    or its typed text."""
    if isinstance(w, QCheckBox):
        return "true" if w.isChecked() else "false"
    if isinstance(w, QComboBox):
        if w.isEditable():
            return w.currentText()
        data = w.currentData()
        return str(data) if data is not None else w.currentText()
    if isinstance(w, QPlainTextEdit):
        return w.toPlainText()
    if isinstance(w, QLineEdit):
        return w.text()
    raise TypeError(f"not a field: {type(w).__name__}")


def set_field(w: QWidget, text: str) -> None:
    """Put ``text`` (printable) in a field; a combo picks the item whose data is ``text``."""
    if isinstance(w, QCheckBox):
        w.setChecked(text.strip().lower() in ("true", "1", "yes"))
    elif isinstance(w, QComboBox):
        i = w.findData(text)
        if i < 0 and w.isEditable():
            w.setEditText(text)
            return
        if i < 0:
            w.addItem(text, text)  # an unknown value (a stranger's config) stays visible, and its error too
            i = w.count() - 1
        w.setCurrentIndex(i)
    elif isinstance(w, QPlainTextEdit):
        w.setPlainText(text)
    else:
        w.setText(text)


def recall(settings: QSettings | None, key: str) -> dict[str, Any]:
    """The wizard's last choices (a JSON object); {} when none, or unreadable."""
    if settings is None:
        return {}
    try:
        d = json.loads(str(settings.value(f"wizards/{key}", "{}")))
    except (TypeError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def remember(settings: QSettings | None, key: str, choices: dict[str, Any]) -> None:
    if settings is not None:
        settings.setValue(f"wizards/{key}", json.dumps(choices))
        settings.sync()
