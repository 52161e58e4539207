"""New Training Run and New Attack Evaluation wizards.

Every field is validated as typed by the engine itself
(``RunConfig.with_overrides([...]).validate()``, ``parse_attack_list``,
``Protocol.validate``); the error sentence appears under the field.
"""
from __future__ import annotations

import json

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QComboBox, QFormLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QSpinBox, QVBoxLayout, QWidget, QWizard, QWizardPage)

from mfdv_engine.config import RunConfig, list_presets, load_preset
from mfdv_engine.errors import MfdvError
from mfdv_engine.safetext import printable  # a duplicated run's config and the run names come from a project file


class _Page(QWizardPage):
    """A page whose completeness is a callable (so Next/Finish follow validation)."""

    check = None

    def isComplete(self) -> bool:  # noqa: N802 (Qt override)
        return bool(self.check()) if self.check is not None else super().isComplete()


def _err_label() -> QLabel:
    lab = QLabel("")
    lab.setTextFormat(Qt.PlainText)  # error sentences quote values, some from a duplicated run's config
    lab.setStyleSheet("color: #b00020")
    lab.setWordWrap(True)
    return lab


class _FieldForm(QWidget):
    """Line edits bound to dotted config keys; each validated on edit."""

    def __init__(self, wizard: "NewRunWizard") -> None:
        super().__init__()
        self.wizard = wizard
        self.form = QFormLayout(self)
        self.fields: dict[str, tuple[QLineEdit, QLabel]] = {}

    def add(self, key: str, label: str, value) -> QLineEdit:
        edit = QLineEdit(_fmt(value))
        err = _err_label()
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

        # page 1: preset + dataset
        p1 = _Page()
        p1.setTitle("Start from a preset and choose the data set")
        f1 = QFormLayout(p1)
        self.preset_box = QComboBox()
        self.preset_box.addItem("(none — defaults)", "")
        for name in list_presets():
            self.preset_box.addItem(name, name)
        self.preset_box.setCurrentIndex(max(0, self.preset_box.findData("demo-lenet-mfdv")))
        self.preset_box.currentIndexChanged.connect(self._preset_changed)
        self.preset_desc = QLabel("")
        self.preset_desc.setTextFormat(Qt.PlainText)
        self.preset_desc.setWordWrap(True)
        f1.addRow("Preset", self.preset_box)
        f1.addRow("", self.preset_desc)
        self.data_form = _FieldForm(self)
        f1.addRow(self.data_form)

        # page 2: backbone
        p2 = _Page()
        p2.setTitle("Backbone and where the stochastic layer goes")
        l2 = QVBoxLayout(p2)
        self.model_form = _FieldForm(self)
        l2.addWidget(self.model_form)

        # page 3: defense
        p3 = _Page()
        p3.setTitle("Defense and its parameters")
        l3 = QVBoxLayout(p3)
        from mfdv_engine.defenses import list_defenses
        self.defense_box = QComboBox()
        self.defense_box.addItems(list_defenses())
        self.defense_box.currentIndexChanged.connect(self._defense_changed)
        l3.addWidget(self.defense_box)
        self.defense_form = _FieldForm(self)
        l3.addWidget(self.defense_form)
        l3.addStretch(1)

        # page 4: training
        p4 = _Page()
        p4.setTitle("Training")
        l4 = QVBoxLayout(p4)
        self.train_form = _FieldForm(self)
        l4.addWidget(self.train_form)
        self.default_device = default_device

        # page 5: summary
        p5 = _Page()
        p5.setTitle("Summary")
        l5 = QVBoxLayout(p5)
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary_err = _err_label()
        l5.addWidget(self.summary)
        l5.addWidget(self.summary_err)

        self.pages = [p1, p2, p3, p4, p5]
        for p in self.pages:
            p.check = self._page_complete_fn(p)
            self.addPage(p)
        self.currentIdChanged.connect(self._page_changed)
        self._preset_changed()

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


class AttackWizard(QWizard):
    """Runs → attacks and ε → MC / EOT / n → summary."""

    def __init__(self, runs: list[tuple[str, str]], parent=None, preselect: list[str] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle("New attack evaluation")
        p1 = _Page()
        p1.setTitle("Which runs to attack")
        l1 = QVBoxLayout(p1)
        self.run_list = QListWidget()
        for rid, label in runs:
            it = QListWidgetItem(printable(label))
            it.setData(Qt.UserRole, rid)
            it.setFlags(it.flags() | Qt.ItemIsUserCheckable)
            it.setCheckState(Qt.Checked if (rid in preselect or (not preselect and len(runs) == 1)) else Qt.Unchecked)
            self.run_list.addItem(it)
        self.run_list.itemChanged.connect(self.revalidate)
        l1.addWidget(self.run_list)

        p2 = _Page()
        p2.setTitle("Attacks and budget")
        f2 = QFormLayout(p2)
        self.attacks = QLineEdit("fgsm,pgd10")
        self.attacks.setToolTip("comma-separated: fgsm, pgd10, pgd100, cw, pixel1, autoattack, autoattack-rand, square, "
                                "eot-pgd, eot-apgd-ce, eot-square, transfer-sigma0; adaptive = the adaptive suite "
                                "(per-example worst case over its members)")
        self.eps = QLineEdit("")
        self.eps.setPlaceholderText("the data set's default: 0.3 for MNIST-like, 8/255 for CIFAR-like")
        self.attack_err = _err_label()
        f2.addRow("Attacks", self.attacks)
        f2.addRow("ε", self.eps)
        f2.addRow("", self.attack_err)
        self.attacks.textChanged.connect(self.revalidate)
        self.eps.textChanged.connect(self.revalidate)

        p3 = _Page()
        p3.setTitle("Protocol")
        f3 = QFormLayout(p3)
        self.mc = self._spin(15, 1, 1000)
        self.eot = self._spin(20, 1, 1000)
        self.n = self._spin(1000, 1, 100000)
        self.reeval = self._spin(3, 1, 100)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        f3.addRow("MC draws per prediction", self.mc)
        f3.addRow("EOT draws per gradient", self.eot)
        f3.addRow("test examples n", self.n)
        f3.addRow("re-evaluations", self.reeval)
        f3.addRow("device", self.device)

        p4 = _Page()
        p4.setTitle("Summary")
        l4 = QVBoxLayout(p4)
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.PlainText)
        self.summary.setWordWrap(True)
        l4.addWidget(self.summary)
        self.pages = [p1, p2, p3, p4]
        p1.check = lambda: bool(self.selected_runs())
        p2.check = lambda: not self.attack_err.text()
        for p in self.pages:
            self.addPage(p)
        self.currentIdChanged.connect(self.revalidate)
        self.revalidate()

    def _spin(self, v: int, lo: int, hi: int) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setValue(v)
        s.valueChanged.connect(self.revalidate)
        return s

    def selected_runs(self) -> list[str]:
        return [self.run_list.item(i).data(Qt.UserRole) for i in range(self.run_list.count())
                if self.run_list.item(i).checkState() == Qt.Checked]

    def eps_value(self) -> float | None:
        from mfdv_engine.config import parse_value
        from mfdv_engine.errors import ConfigError

        t = self.eps.text().strip()
        if not t:
            return None
        v = parse_value(t)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ConfigError(f"ε must be a number in [0, 1] such as 8/255 or 0.3, got {t!r}")
        return float(v)

    def protocol(self):
        from mfdv_engine.evaluation import Protocol

        return Protocol(n=self.n.value(), mc_samples=self.mc.value(), eot_samples=self.eot.value(),
                        reeval=self.reeval.value()).validate()

    def request(self) -> dict:
        """Everything the attack jobs need (validated by the engine)."""
        from mfdv_engine.suite import parse_attacks

        eps = self.eps_value()
        parse_attacks(self.attacks.text(), eps=eps, eot=self.eot.value())
        return {"runs": self.selected_runs(), "attacks": self.attacks.text(), "eps": eps,
                "proto": self.protocol(), "device": self.device.currentText()}

    @Slot()
    def revalidate(self, *_) -> None:
        try:
            from mfdv_engine.suite import parse_attacks

            specs, suite_over = parse_attacks(self.attacks.text(), eps=self.eps_value(), eot=self.eot.value())
            self.attack_err.setText("")
            p = self.protocol()
            lines = [f"runs: {', '.join(self.selected_runs()) or '(none)'}"]
            lines += [f"• {s.name} ({s.norm}, ε={s.eps:.4g})" for s in specs]
            if suite_over is not None:
                lines.append("• adaptive suite: per-example worst case over PGD-10/100, EOT-APGD (CE, C&W), "
                             "AutoAttack rand, EOT-Square and two transfer attacks (each member's row kept)")
            lines.append(f"prediction MC-{p.mc_samples}, EOT-{p.eot_samples} gradients on stochastic models "
                         f"(single-sample rows too), n={p.n}, success re-judged on {p.reeval} draws")
            self.summary.setText(printable("\n".join(lines), multiline=True))
        except MfdvError as e:
            self.attack_err.setText(printable(e))
        for p in getattr(self, "pages", []):
            p.completeChanged.emit()
