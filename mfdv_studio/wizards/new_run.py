"""The New Training Run wizard: preset → data set → backbone → defense and its parameters → training → summary."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget, QWizard

from mfdv_engine.config import RunConfig, list_presets, load_preset
from mfdv_engine.errors import MfdvError
from mfdv_engine.safetext import printable  # a duplicated run's config comes from a project file

from .common import Page, err_label


class _FieldForm(QWidget):
    """Line edits bound to dotted config keys; each validated on edit."""

    def __init__(self, wizard: "NewRunWizard") -> None:
        super().__init__()
        self.wizard = wizard
        self.form = QFormLayout(self)
        self.fields: dict[str, tuple[QLineEdit, QLabel]] = {}

    def add(self, key: str, label: str, value) -> QLineEdit:
        edit = QLineEdit(_fmt(value))
        err = err_label()
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(edit)
        v.addWidget(err)
        self.form.addRow(label, box)
        self.fields[key] = (edit, err)
        edit.setObjectName(key)
        edit.textChanged.connect(self.wizard.revalidate)
        return edit

    def clear(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields = {}


def _fmt(v) -> str:
    if isinstance(v, str):
        return printable(v)  # (json.dumps below escapes control characters itself)
    return json.dumps(v)


class NewRunWizard(QWizard):
    """Preset → dataset → backbone → defense and its parameters → training → summary."""

    def __init__(self, parent=None, default_device: str = "auto") -> None:
        super().__init__(parent)
        self.setWindowTitle("New training run")
        self.base = load_preset("demo-lenet-mfdv") if "demo-lenet-mfdv" in list_presets() else RunConfig()
        self.errors: dict[str, str] = {}
        self.default_device = default_device
        self.pages = [self._data_page(), self._form_page("Backbone and where the stochastic layer goes", "model_form"),
                      self._defense_page(), self._form_page("Training", "train_form"), self._summary_page()]
        for p in self.pages:
            p.check = self._page_complete_fn(p)
            self.addPage(p)
        self.currentIdChanged.connect(self._page_changed)
        self._preset_changed()

    # ---------------------------------------------------------------- pages
    def _data_page(self) -> Page:
        p = Page()
        p.setTitle("Start from a preset and choose the data set")
        f = QFormLayout(p)
        self.preset_box = QComboBox()
        self.preset_box.addItem("(none — defaults)", "")
        for name in list_presets():
            self.preset_box.addItem(name, name)
        self.preset_box.setCurrentIndex(max(0, self.preset_box.findData("demo-lenet-mfdv")))
        self.preset_box.currentIndexChanged.connect(self._preset_changed)
        self.preset_desc = QLabel("")
        self.preset_desc.setTextFormat(Qt.PlainText)
        self.preset_desc.setWordWrap(True)
        f.addRow("Preset", self.preset_box)
        f.addRow("", self.preset_desc)
        self.data_form = _FieldForm(self)
        f.addRow(self.data_form)
        return p

    def _form_page(self, title: str, attr: str) -> Page:
        """A page holding one field form (kept as ``self.<attr>``)."""
        p = Page()
        p.setTitle(title)
        form = _FieldForm(self)
        setattr(self, attr, form)
        QVBoxLayout(p).addWidget(form)
        return p

    def _defense_page(self) -> Page:
        from mfdv_engine.defenses import list_defenses

        p = Page()
        p.setTitle("Defense and its parameters")
        lay = QVBoxLayout(p)
        self.defense_box = QComboBox()
        self.defense_box.addItems(list_defenses())
        self.defense_box.currentIndexChanged.connect(self._defense_changed)
        lay.addWidget(self.defense_box)
        self.defense_form = _FieldForm(self)
        lay.addWidget(self.defense_form)
        lay.addStretch(1)
        return p

    def _summary_page(self) -> Page:
        p = Page()
        p.setTitle("Summary")
        lay = QVBoxLayout(p)
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary_err = err_label()
        lay.addWidget(self.summary)
        lay.addWidget(self.summary_err)
        return p

    # ---------------------------------------------------------------- building forms
    def _page_complete_fn(self, page):
        def complete() -> bool:
            forms = {self.pages[0]: [self.data_form], self.pages[1]: [self.model_form],
                     self.pages[2]: [self.defense_form], self.pages[3]: [self.train_form],
                     self.pages[4]: [self.data_form, self.model_form, self.defense_form, self.train_form]}[page]
            keys = {k for f in forms for k in f.fields}
            if page is self.pages[4] and self.errors.get("__all__"):
                return False
            return not any(self.errors.get(k) for k in keys)
        return complete

    @Slot()
    def _preset_changed(self) -> None:
        name = self.preset_box.currentData()
        self._fill(load_preset(name) if name else RunConfig())

    def load_config(self, cfg: RunConfig, name: str | None = None) -> None:
        """Prefill every page from an existing config (duplicate a run)."""
        cfg = RunConfig.from_dict(cfg.to_dict())
        if name:
            cfg.name = name
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentIndex(0)
        self.preset_box.blockSignals(False)
        self._fill(cfg)

    def _fill(self, c: RunConfig) -> None:
        self.base = c
        self.preset_desc.setText(printable(c.description, multiline=True))
        self.data_form.clear()
        self.data_form.add("name", "Run name", c.name)
        self.data_form.add("data.name", "Data set", c.data.name)
        self.data_form.add("data.limit_train", "Training examples (null = all)", c.data.limit_train)
        self.data_form.add("data.limit_test", "Test examples (null = all)", c.data.limit_test)
        self.model_form.clear()
        self.model_form.add("model.name", "Backbone", c.model.name)
        self.model_form.add("model.stochastic", "Stochastic layer placement", c.model.stochastic)
        self.defense_box.blockSignals(True)
        self.defense_box.setCurrentText(c.defense.name)
        self.defense_box.blockSignals(False)
        self._defense_changed(keep=c.defense.params)
        self.train_form.clear()
        for key, label in (("epochs", "Epochs"), ("batch_size", "Batch size"), ("lr", "Learning rate"),
                           ("optimizer", "Optimizer"), ("schedule", "Schedule"), ("seed", "Seed")):
            self.train_form.add(f"train.{key}", label, getattr(c.train, key))
        self.train_form.add("train.device", "Device (auto, cpu, cuda)",
                            c.train.device if c.train.device != "auto" else self.default_device)
        self.revalidate()

    @Slot()
    def _defense_changed(self, *_, keep: dict | None = None) -> None:
        from mfdv_engine.defenses import get_defense

        name = self.defense_box.currentText()
        params = dict(get_defense(name).default_params())
        if keep and name == self.base.defense.name:
            params.update(keep)
        self.defense_form.clear()
        for k, v in params.items():
            self.defense_form.add(f"defense.{k}", k, v)
        self.revalidate()

    # ---------------------------------------------------------------- config + validation
    def assignments(self) -> list[str]:
        out = [f"defense={self.defense_box.currentText()}"]
        for form in (self.data_form, self.model_form, self.defense_form, self.train_form):
            for key, (edit, _) in form.fields.items():
                out.append(f"{key}={edit.text()}")
        return out

    def config(self) -> RunConfig:
        """The validated config (raises the engine's ConfigError with one sentence)."""
        return self.base.with_overrides(self.assignments()).validate()

    def set_value(self, key: str, text: str) -> None:
        for form in (self.data_form, self.model_form, self.defense_form, self.train_form):
            if key in form.fields:
                form.fields[key][0].setText(text)
                return
        raise KeyError(key)

    def set_preset(self, name: str) -> None:
        self.preset_box.setCurrentIndex(self.preset_box.findData(name))

    @Slot()
    def revalidate(self) -> None:
        self.errors = {}
        base = [f"defense={self.defense_box.currentText()}"]
        for form in (self.data_form, self.model_form, self.defense_form, self.train_form):
            for key, (edit, err) in form.fields.items():
                try:
                    self.base.with_overrides(base + [f"{key}={edit.text()}"] if key.startswith("defense.")
                                             else [f"{key}={edit.text()}"]).validate()
                    err.setText("")
                except MfdvError as e:
                    # the preset itself might not fit another defense; only this field's message counts
                    self.errors[key] = str(e)
                    err.setText(printable(e))
                except Exception as e:  # noqa: BLE001
                    self.errors[key] = str(e)
                    err.setText(printable(e))
        try:
            cfg = self.config()
            self.summary.setPlainText(json.dumps(cfg.to_dict(), indent=2))
            self.summary_err.setText("")
        except Exception as e:  # noqa: BLE001
            self.errors["__all__"] = str(e)
            self.summary_err.setText(printable(e))
        for p in self.pages:
            p.completeChanged.emit()

    @Slot(int)
    def _page_changed(self, _id: int) -> None:
        self.revalidate()
