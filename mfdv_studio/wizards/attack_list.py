"""The attack wizard's checklist: every attack of the engine's registry (and the adaptive suite),
each with its own parameters editable under it; only values changed from the default are sent."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QLineEdit, QTreeWidget, QTreeWidgetItem

#: attack fields the wizard does not offer per attack: ε and EOT samples are the wizard's own fields,
#: the seed is the protocol's, ``version``/``pixels`` make the attack what its name says, the rest is batching
HIDDEN = {"name", "seed", "eps", "eot_samples", "eot_iter", "version", "pixels", "batch_size", "inf_batch"}


def attack_params(name: str) -> dict[str, Any]:
    """An attack's (or the adaptive suite's) editable parameters with their defaults."""
    from mfdv_engine.attacks.base import ATTACKS
    from mfdv_engine.evaluation.suite import SUITE, SuiteSpec

    if name == SUITE:
        return {f.name: f.default for f in dataclasses.fields(SuiteSpec) if f.name not in ("eps", "eot_samples")}
    cls, defaults = ATTACKS.get(name)
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in HIDDEN or f.name in cls._NOT_PARAMS or (f.name == "norm" and len(cls.norms) < 2):
            continue
        out[f.name] = defaults.get(f.name, f.default)
    return out


def param_choices(name: str, key: str, value: Any) -> tuple[str, ...] | None:
    """The fixed values a parameter takes (a yes/no, an attack's norms or losses), or None for free text."""
    from mfdv_engine.attacks.base import ATTACKS, NORMS
    from mfdv_engine.evaluation.suite import SUITE

    if isinstance(value, bool):
        return ("true", "false")
    if name == SUITE:
        return None
    cls = ATTACKS.get(name)[0]
    if key == "norm":
        return tuple(cls.norms or NORMS)
    return cls.choices.get(key)


class ChoiceEdit(QComboBox):
    """A drop-down that reads like the line edits beside it (``text``, ``setText``, ``textChanged``),
    so a yes/no or a norm cannot be mistyped."""

    textChanged = Signal(str)

    def __init__(self, choices: tuple[str, ...], value: str) -> None:
        super().__init__()
        self.addItems(list(choices))
        self.setText(value)
        self.currentTextChanged.connect(self.textChanged)

    def text(self) -> str:
        return self.currentText()

    def setText(self, text: str) -> None:
        i = self.findText(str(text).strip().lower() if self.findText("true") >= 0 else str(text).strip())
        if i >= 0:
            self.setCurrentIndex(i)


def describe(name: str) -> str:
    from mfdv_engine.attacks.base import ATTACKS
    from mfdv_engine.evaluation.suite import SUITE

    if name == SUITE:
        return "the adaptive suite: per-example worst case over its members (each member's row kept)"
    doc = (ATTACKS.get(name)[0].__doc__ or "").strip().replace("``", "")
    return " ".join(doc.split("\n\n")[0].split())


def first_sentence(text: str) -> str:
    """What fits beside an attack's name (the whole description is its tooltip)."""
    for sep in (". ", "; ", ": "):
        if len(text) > 110:
            text = text.split(sep)[0]
    return text.rstrip(".") + "."


def shown(v: Any) -> str:
    """A default as the user edits it: JSON (true, 0.8), a text as is, a list comma-separated, None empty."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (tuple, list)):
        return ",".join(map(str, v))
    return json.dumps(v)


class AttackList(QTreeWidget):
    """Checkable attacks, each parameter a line edit in the Value column under its attack."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        from mfdv_engine.attacks import list_attacks
        from mfdv_engine.evaluation.suite import SUITE

        self.setColumnCount(2)
        self.setHeaderLabels(["Attack / parameter", "Value"])
        self.setColumnWidth(0, 220)
        self.edits: dict[tuple[str, str], QLineEdit | ChoiceEdit] = {}
        self.defaults: dict[str, dict[str, Any]] = {}
        self.items: dict[str, QTreeWidgetItem] = {}
        for name in list_attacks() + [SUITE]:
            self._add(name)
        self.itemChanged.connect(self._item_changed)

    def _add(self, name: str) -> None:
        it = QTreeWidgetItem(self, [name, ""])
        it.setFlags(it.flags() | Qt.ItemIsUserCheckable)
        it.setCheckState(0, Qt.Unchecked)
        it.setToolTip(0, describe(name))
        self.items[name] = it
        self.defaults[name] = params = attack_params(name)
        it.setText(1, first_sentence(describe(name)) + ("" if params else " (no parameters)"))
        it.setToolTip(1, describe(name))
        it.setForeground(1, self.palette().placeholderText())
        for key, value in params.items():
            child = QTreeWidgetItem(it, [key, ""])
            choices = param_choices(name, key, value)
            edit: QLineEdit | ChoiceEdit
            if choices:
                edit = ChoiceEdit(choices, shown(value))
            else:
                edit = QLineEdit(shown(value))
                edit.setPlaceholderText("all members" if key == "members" else "auto" if value is None else "")
            edit.textChanged.connect(self.changed)
            self.setItemWidget(child, 1, edit)
            self.edits[(name, key)] = edit

    def _item_changed(self, it: QTreeWidgetItem, col: int) -> None:
        if it.parent() is None and col == 0:
            it.setExpanded(it.checkState(0) == Qt.Checked)  # a checked attack shows its parameters
            self.changed.emit()

    def checked(self) -> list[str]:
        return [n for n, it in self.items.items() if it.checkState(0) == Qt.Checked]

    def set_checked(self, names) -> None:
        for n, it in self.items.items():
            it.setCheckState(0, Qt.Checked if n in names else Qt.Unchecked)

    def param(self, attack: str, key: str) -> QLineEdit | ChoiceEdit:
        return self.edits[(attack, key)]

    def edited(self) -> dict[str, dict[str, str]]:
        """attack → {parameter: text} for the parameters changed from their defaults."""
        out: dict[str, dict[str, str]] = {}
        for (name, key), edit in self.edits.items():
            if edit.text().strip() != shown(self.defaults[name][key]):
                out.setdefault(name, {})[key] = edit.text().strip()
        return out

    def params(self) -> list[str]:
        """``ATTACK.KEY=VALUE`` for each checked attack's changed parameters (the CLI's --param)."""
        checked = set(self.checked())
        return [f"{name}.{key}={text}" for name, kv in self.edited().items() if name in checked
                for key, text in kv.items()]

    def restore(self, checked, edited: dict) -> None:
        """Back to remembered choices; names or keys the registry no longer has are skipped."""
        for name, kv in (edited or {}).items():
            for key, text in (kv if isinstance(kv, dict) else {}).items():
                if (name, key) in self.edits:
                    self.edits[(name, key)].setText(str(text))
        self.set_checked([n for n in checked or [] if n in self.items])
