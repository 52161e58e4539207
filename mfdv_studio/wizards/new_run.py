"""The New Training Run wizard: preset, name and data set → backbone and placement → defense and its
parameters → training → summary. Choices are drop-downs of the engine's registries; the last
choices come back from QSettings; name and description follow the config unless typed."""
from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QSettings, Slot
from PySide6.QtWidgets import QComboBox, QFormLayout, QPlainTextEdit, QVBoxLayout, QWizard

from mfdv_engine.config import RunConfig, auto_description, auto_name, list_presets, load_preset
from mfdv_engine.errors import MfdvError
from mfdv_engine.safetext import printable  # a duplicated run's config comes from a project file

from .. import settings as st
from .common import (WIZARD_SIZE, Page, err_label, field_text, note_label, recall, remember, scroll_page, set_field,
                     set_text)
from .run_fields import FieldForm, combo, config_summary, fmt, registry_choices

MEMORY = "new_run"
DEFAULT_PRESET = "demo-lenet-mfdv"
#: the example limits, which a preset's change keeps where the user typed them
LIMITS = {"data.limit_train": "Training examples (null = all)", "data.limit_test": "Test examples (null = all)"}
#: the fields whose change makes an untyped name and description follow
IDENTITY = ("data.name", "model.name", "model.stochastic")


class NewRunWizard(QWizard):
    """Preset → dataset → backbone → defense and its parameters → training → summary."""

    def __init__(self, parent=None, default_device: str = "auto", settings: QSettings | None = None,
                 taken: Iterable[str] = ()) -> None:
        super().__init__(parent)
        self.taken = set(taken)   # the project's run names: a name the wizard proposes is never one of them
        self.setWindowTitle("New training run")
        self.resize(*WIZARD_SIZE)  # its pages and their errors fit without clipping
        self.settings = settings if settings is not None else st.settings()
        self.choices = registry_choices()
        self.base = RunConfig()
        self.errors: dict[str, str] = {}
        self.default_device = default_device
        self.copy_of = ""  # the run a duplicate was made from (its description says so)
        self.typed = {"name": False, "description": False}  # typed by the user: no longer follows the config
        self.typed_limits: dict[str, str] = {}   # example limits the user typed: a new preset keeps them
        self._filling = False
        self._ident: tuple[str, ...] = ()
        self.pages = [self._data_page(), self._model_page(), self._defense_page(), self._train_page(),
                      self._summary_page()]
        for p in self.pages:
            p.check = self._page_complete_fn(p)
            self.addPage(p)
        self.currentIdChanged.connect(self._page_changed)
        if not self._restore():
            self._preset_changed()

    # ---------------------------------------------------------------- pages
    def _data_page(self) -> Page:
        p, body = scroll_page("Start from a preset, name the run and choose the data set")
        self.preset_box = QComboBox()
        self.preset_box.addItem("(none — defaults)", "")
        for name in list_presets():
            self.preset_box.addItem(name, name)
        self.preset_box.setCurrentIndex(max(0, self.preset_box.findData(DEFAULT_PRESET)))
        self.preset_box.currentIndexChanged.connect(self._preset_changed)
        self.data_form = FieldForm(self.revalidate)
        self.data_form.form.addRow("Preset", self.preset_box)
        name = self.data_form.add("name", "Run name", "")
        name.textChanged.connect(lambda t: self._user_typed("name", t))
        self.description = QPlainTextEdit()
        self.description.setObjectName("description")
        self.description.setFixedHeight(self.description.fontMetrics().lineSpacing() * 4 + 12)
        self.description.textChanged.connect(lambda: self._user_typed("description", self.description.toPlainText()))
        self.data_form.form.addRow("Description", self.description)
        c = self.choices
        self.data_form.add("data.name", "Data set", "", c["data.name"])
        self.data_form.add("data.augment", "Training augmentation", "", c["data.augment"])
        for key, label in LIMITS.items():
            w = self.data_form.add(key, label, None)
            w.textChanged.connect(lambda t, k=key: self._limit_typed(k, t))
        self.limits_note = note_label()
        self.data_form.form.addRow("", self.limits_note)
        lay = QVBoxLayout(body)
        lay.addWidget(self.data_form)
        lay.addStretch(1)
        return p

    def _model_page(self) -> Page:
        p, body = scroll_page("Backbone and where the stochastic layer goes")
        self.model_form = FieldForm(self.revalidate)
        self.model_form.add("model.name", "Backbone", "", self.choices["model.name"])
        self.placement_note = note_label()
        self.model_form.add("model.stochastic", "Stochastic layer placement", "", self.choices["model.stochastic"],
                            editable=True, notes=(self.placement_note,))
        lay = QVBoxLayout(body)
        lay.addWidget(self.model_form)
        lay.addStretch(1)
        return p

    def _defense_page(self) -> Page:
        p, body = scroll_page("Defense and its parameters")
        lay = QVBoxLayout(body)
        self.defense_box = combo(self.choices["defense"])
        self.defense_box.currentIndexChanged.connect(self._defense_changed)
        top = QFormLayout()
        top.addRow("Defense", self.defense_box)
        lay.addLayout(top)
        self.defense_form = FieldForm(self.revalidate)
        lay.addWidget(self.defense_form)
        lay.addStretch(1)
        return p

    def _train_page(self) -> Page:
        p, body = scroll_page("Training")
        self.train_form = t = FieldForm(self.revalidate)
        for key, label in (("epochs", "Epochs"), ("batch_size", "Batch size"), ("lr", "Learning rate")):
            t.add(f"train.{key}", label, None)
        t.add("train.optimizer", "Optimizer", "", self.choices["train.optimizer"])
        t.add("train.schedule", "LR schedule", "", self.choices["train.schedule"])
        t.add("train.seed", "Seed", None)
        t.add("train.device", "Device", "", self.choices["train.device"], editable=True)
        lay = QVBoxLayout(body)
        lay.addWidget(t)
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

    # ---------------------------------------------------------------- filling
    @Slot()
    def _preset_changed(self) -> None:
        """The preset's values in every field, but the example limits the user typed stay (and it says so)."""
        name = self.preset_box.currentData()
        self.copy_of = ""
        kept = dict(self.typed_limits)
        self._fill(load_preset(name) if name else RunConfig())
        self.typed = {"name": False, "description": False}
        for key, text in kept.items():
            set_field(self.data_form.fields[key][0], text)
        set_text(self.limits_note, printable(
            "kept the example limits you typed (" + ", ".join(f"{k.split('.')[-1]}={v}" for k, v in kept.items())
            + "); type null for all the examples") if kept else "")

    def _limit_typed(self, key: str, text: str) -> None:
        if not self._filling:
            text = text.strip()
            if text and text != "null":
                self.typed_limits[key] = text
            else:
                self.typed_limits.pop(key, None)

    def load_config(self, cfg: RunConfig, name: str | None = None, copy_of: str | None = None) -> None:
        """Prefill every page from an existing config (duplicate a run). Its description is
        regenerated from the config (a copied one would describe a run that no longer matches)."""
        cfg = RunConfig.from_dict(cfg.to_dict())
        self.copy_of = copy_of or ""
        cfg.description = self._auto_description(cfg)
        if name:
            cfg.name = name
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentIndex(0)
        self.preset_box.blockSignals(False)
        self._fill(cfg)
        self.typed = {"name": bool(name), "description": False}

    def _fill(self, c: RunConfig) -> None:
        self.base = c
        self._filling = True
        try:
            for form in (self.data_form, self.model_form, self.train_form):
                for key, (w, _) in form.fields.items():
                    set_field(w, fmt(_value(c, key)))
            set_field(self.data_form.fields["name"][0], printable(unique_name(c.name, self.taken)))
            if c.train.device == "auto":
                set_field(self.train_form.fields["train.device"][0], self.default_device)
            self.description.setPlainText(printable(c.description, multiline=True))
            set_field(self.defense_box, printable(c.defense.name))
            self._defense_changed(keep=c.defense.params)
        finally:
            self._filling = False
        self._ident = self._identity()
        self.revalidate()

    @Slot()
    def _defense_changed(self, *_, keep: dict | None = None) -> None:
        from mfdv_engine.defenses import get_defense

        name = field_text(self.defense_box)
        try:
            params = dict(get_defense(name).default_params())
            choices = get_defense(name).param_choices()
        except MfdvError:
            params, choices = {}, {}  # an unknown defense (a stranger's config): its error shows on the summary
        if keep and name == self.base.defense.name:
            params.update(keep)
        self.defense_form.clear()
        for k, v in params.items():   # (a key of a duplicated run's config: printable)
            if k in choices:   # yes/no: a check box; a few words: a drop-down
                self.defense_form.add_choice(f"defense.{k}", printable(k), v, tuple(choices[k]))
            else:
                self.defense_form.add(f"defense.{k}", printable(k), v)
        self.revalidate()

    def _restore(self) -> bool:
        """The last accepted choices (QSettings), if any could be read back."""
        d = recall(self.settings, MEMORY)
        try:
            cfg = RunConfig.from_dict(d["config"])
        except (KeyError, TypeError, MfdvError):
            return False
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentIndex(max(0, self.preset_box.findData(d.get("preset", ""))))
        self.preset_box.blockSignals(False)
        self._fill(cfg)
        typed = d.get("typed") if isinstance(d.get("typed"), dict) else {}
        self.typed = {k: bool(typed.get(k)) for k in self.typed}
        return True

    def accept(self) -> None:
        """Finish: the choices are remembered for the next time the wizard opens."""
        try:
            cfg = self.config()
            remember(self.settings, MEMORY, {"preset": self.preset_box.currentData() or "", "config": cfg.to_dict(),
                                             "typed": self.typed})
        except MfdvError:
            pass  # nothing valid to remember (the caller reports the error)
        super().accept()

    # ---------------------------------------------------------------- name and description
    def _user_typed(self, key: str, text: str) -> None:
        if not self._filling:
            self.typed[key] = bool(text.strip())  # cleared: follows the config again

    def _identity(self) -> tuple[str, ...]:
        fields = {**self.data_form.fields, **self.model_form.fields}
        return tuple(field_text(fields[k][0]) for k in IDENTITY) + (field_text(self.defense_box),)

    def _auto_description(self, cfg: RunConfig) -> str:
        return auto_description(cfg) + (f" Copy of {self.copy_of}." if self.copy_of else "")

    def _follow_config(self) -> None:
        """Regenerate an untyped name and description once data set, backbone, placement or defense changed."""
        ident = self._identity()
        if ident == self._ident:
            return
        try:
            cfg = self.base.with_overrides([a for a in self.assignments() if a.split("=", 1)[0] not in self.errors])
        except MfdvError:
            return
        self._ident = ident
        self._filling = True
        try:
            if not self.typed["name"]:
                set_field(self.data_form.fields["name"][0], printable(unique_name(auto_name(cfg), self.taken)))
            if not self.typed["description"]:
                self.description.setPlainText(printable(self._auto_description(cfg), multiline=True))
        finally:
            self._filling = False

    # ---------------------------------------------------------------- config + validation
    def _forms(self) -> tuple[FieldForm, ...]:
        return self.data_form, self.model_form, self.defense_form, self.train_form

    def assignments(self) -> list[str]:
        out = [f"defense={field_text(self.defense_box)}"]
        for form in self._forms():
            out += [f"{key}={field_text(w)}" for key, (w, _) in form.fields.items() if key != "name"]
        return out

    def config(self) -> RunConfig:
        """The validated config (raises the engine's ConfigError with one sentence)."""
        cfg = self.base.with_overrides(self.assignments())
        cfg.name = field_text(self.data_form.fields["name"][0])
        cfg.description = self.description.toPlainText()
        return cfg.validate()

    def set_value(self, key: str, text: str) -> None:
        if key == "description":
            self.description.setPlainText(text)
            return
        for form in self._forms():
            if key in form.fields:
                set_field(form.fields[key][0], text)
                return
        if key == "defense":
            set_field(self.defense_box, text)
            return
        raise KeyError(key)

    def set_preset(self, name: str) -> None:
        i = self.preset_box.findData(name)
        if i == self.preset_box.currentIndex():
            self._preset_changed()  # the same preset again: its values back
        self.preset_box.setCurrentIndex(i)

    @Slot()
    def revalidate(self, *_) -> None:
        if self._filling:
            return
        self.errors = {}
        defense = [f"defense={field_text(self.defense_box)}"]
        for form in self._forms():
            for key, (w, err) in form.fields.items():
                if key == "name":
                    continue
                try:
                    one = [f"{key}={field_text(w)}"]
                    # the preset itself might not fit another defense; only this field's message counts
                    self.base.with_overrides(defense + one if key.startswith("defense.") else one).validate()
                    set_text(err, "")
                except Exception as e:  # noqa: BLE001 (every failure is this field's sentence)
                    self.errors[key] = str(e)
                    set_text(err, printable(e))
        self._follow_config()
        self._placement_note()
        try:
            self.summary.setPlainText(config_summary(self.config().to_dict()))
            set_text(self.summary_err, "")
        except Exception as e:  # noqa: BLE001
            self.errors["__all__"] = str(e)
            set_text(self.summary_err, printable(e))
        for p in self.pages:
            p.completeChanged.emit()

    def _placement_note(self) -> None:
        """Say so where the chosen defense trains with another placement than the one chosen."""
        from mfdv_engine.defenses.base import DEFENSES

        name, placement = field_text(self.defense_box), field_text(self.model_form.fields["model.stochastic"][0])
        actual = DEFENSES.get(name).normalise_placement(placement) if name in DEFENSES else placement
        set_text(self.placement_note, "" if actual == placement else
                 printable(f"defense {name} trains with placement {actual!r} (it places its own noise)"))

    @Slot(int)
    def _page_changed(self, _id: int) -> None:
        self.revalidate()


def _value(c: RunConfig, key: str):
    """The config's value at a dotted key (``train.lr``)."""
    v = c
    for part in key.split("."):
        v = getattr(v, part)
    return v


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``… when a run of the project already has it (two runs
    called alike cannot be told apart in the tables and legends)."""
    k, out = 2, name
    while out in taken:
        out, k = f"{name}-{k}", k + 1
    return out
