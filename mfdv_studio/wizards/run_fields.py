"""The New Training Run wizard's fields: config keys bound to line edits or drop-downs of the engine's choices."""
from __future__ import annotations

import json
from fractions import Fraction
from typing import Callable

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit, QWidget

from mfdv_engine.safetext import printable  # a duplicated run's config comes from a project file

from .common import err_label, field_box, set_field

#: (registry name, tooltip) pairs a drop-down offers
Choices = list[tuple[str, str]]


def registry_choices() -> dict[str, Choices]:
    """Every drop-down's choices, from the engine's registries and the values its config validation accepts."""
    from mfdv_engine.config import OPTIMIZERS, SCHEDULES
    from mfdv_engine.data.registry import AUGMENT_CHOICES, DATASETS
    from mfdv_engine.defenses import get_defense, list_defenses
    from mfdv_engine.models import list_models, model_entry
    from mfdv_engine.models.base import PLACEMENTS

    return {
        "data.name": [(n, DATASETS.get(n).description) for n in DATASETS.names()],
        "data.augment": [(a, "auto = the data set's own default" if a == "auto" else "") for a in AUGMENT_CHOICES],
        "model.name": [(n, model_entry(n).description) for n in list_models()],
        "model.stochastic": [(p, "positions counted back from the classifier; (…) = the regularised ones")
                             for p in PLACEMENTS],
        "defense": [(n, get_defense(n).description) for n in list_defenses()],
        "train.optimizer": [(o, "") for o in OPTIMIZERS],
        "train.schedule": [(s, "") for s in SCHEDULES],
        "train.device": [(d, "") for d in ("auto", "cpu", "cuda")],
    }


def combo(choices: Choices, editable: bool = False) -> QComboBox:
    box = QComboBox()
    box.setEditable(editable)
    for name, tip in choices:
        box.addItem(name, name)
        if tip:
            box.setItemData(box.count() - 1, tip, 3)  # Qt.ToolTipRole
    return box


class FieldForm(QWidget):
    """Fields bound to dotted config keys, each with its error label under it; every edit calls ``on_edit``."""

    def __init__(self, on_edit: Callable[[], None]) -> None:
        super().__init__()
        self.on_edit = on_edit
        self.form = QFormLayout(self)
        self.form.setRowWrapPolicy(QFormLayout.DontWrapRows)
        self.form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.fields: dict[str, tuple[QWidget, QLabel]] = {}

    def add(self, key: str, label: str, value, choices: Choices | None = None, editable: bool = False,
            notes: tuple[QLabel, ...] = ()) -> QWidget:
        """A line edit, or a drop-down of ``choices`` (``editable``: other text allowed too)."""
        w: QWidget = combo(choices, editable) if choices is not None else QLineEdit()
        if choices is None or value != "":  # (a drop-down built empty is filled by the wizard)
            set_field(w, fmt(value))
        err = err_label()
        self.form.addRow(label, field_box(w, err, *notes))
        self.fields[key] = (w, err)
        w.setObjectName(key)
        if isinstance(w, QComboBox):
            w.currentIndexChanged.connect(self.on_edit)
            if editable:
                w.editTextChanged.connect(self.on_edit)
        else:
            w.textChanged.connect(self.on_edit)
        return w

    def add_choice(self, key: str, label: str, value, options: tuple) -> QWidget:
        """A parameter that takes one of a few values (a defense's ``param_choices``): a check box for
        yes/no, a drop-down for words; a value outside them (a stranger's config) stays, with its error."""
        if set(options) == {True, False}:
            box = QCheckBox()
            set_field(box, fmt(value))
            err = err_label()
            self.form.addRow(label, field_box(box, err))
            self.fields[key] = (box, err)
            box.setObjectName(key)
            box.toggled.connect(self.on_edit)
            return box
        return self.add(key, label, value, [(printable(str(o)), "") for o in options])

    def clear(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields = {}


def fmt(v) -> str:
    """A value as a field shows it, parsed back to the same value: a budget that is a whole number of
    255ths as ``8/255`` rather than 0.03137254901960784 (the config reads fractions)."""
    if isinstance(v, str):
        return printable(v)  # (json.dumps below escapes control characters itself)
    from mfdv_engine.defaults import eps_text

    text = json.dumps(v)
    short = eps_text(v) if isinstance(v, float) and len(text) > 8 else ""
    return short if "/" in short and float(Fraction(short)) == v else text


def config_summary(d: dict) -> str:
    """A config as the Summary page reads it: one ``key: value`` line per setting under its section
    (``defense`` lists its parameters by name), text as typed (λ, σ as themselves, not escaped)."""
    lines = []
    for section, v in d.items():
        if not isinstance(v, dict):
            text = _text(v)
            lines.append(f"{section}: {text}" if "\n" not in text else f"{section}:\n    " + text.replace("\n", "\n    "))
            continue
        lines.append(f"{section}:")
        items = {**{k: x for k, x in v.items() if k != "params"}, **(v.get("params") or {})} if section == "defense" else v
        lines += [f"    {k}: {_text(x, budget=section == 'defense' and k in ('eps', 'alpha'))}" for k, x in items.items()]
    return "\n".join(lines)


def _text(v, budget: bool = False) -> str:
    """A value as typed; an adversarial budget also as k/255 where it is one (``0.0313… (8/255)``)."""
    from mfdv_engine.defaults import eps_text

    if isinstance(v, str):
        return printable(v, multiline=True)
    text = json.dumps(v, ensure_ascii=False)
    if budget and isinstance(v, float) and "/" in eps_text(v):
        text += f" ({eps_text(v)})"
    return text
