"""The New Attack Evaluation wizard: runs → attacks (a checklist with their parameters) and ε →
gradients, MC and n → summary. The last choices come back from QSettings."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtWidgets import (QComboBox, QFormLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QSpinBox,
                               QVBoxLayout, QWizard)

from mfdv_engine.defaults import EPS_RULE, default_eps_for, eps_text
from mfdv_engine.errors import MfdvError
from mfdv_engine.safetext import printable  # the run names and configs come from a project file

from .. import settings as st
from .attack_list import AttackList
from .common import WIZARD_SIZE, Page, err_label, field_box, note_label, recall, remember, scroll_page, set_text

MEMORY = "attack"
#: gradient modes: (key, label); the rows each gives follow the engine's one rule (rows.modes_for)
MODES = [("both", "both: single-sample and EOT-averaged rows"), ("single", "single-sample gradients only"),
         ("eot", "EOT-averaged gradients only")]


class AttackWizard(QWizard):
    """Runs → attacks and ε → gradients / MC / n → summary.

    ``configs``: each run's config (run id → dict), for its data set's default ε and test-set size."""

    def __init__(self, runs: list[tuple[str, str]], parent=None, preselect: list[str] = (),
                 configs: dict[str, dict] | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New attack evaluation")
        self.resize(*WIZARD_SIZE)  # the pages, their errors and the attack list fit without clipping
        self.configs = configs or {}
        self.settings = settings if settings is not None else st.settings()
        self.pages = [self._runs_page(runs, preselect), self._attack_page(), self._protocol_page(),
                      self._summary_page()]
        p1, p2, p3 = self.pages[:3]
        p1.check = lambda: bool(self.selected_runs())
        p2.check = lambda: not self.attack_err.text() and not self.eps_err.text()
        p3.check = lambda: not self.proto_err.text()
        for p in self.pages:
            self.addPage(p)
        self._restore()
        self.currentIdChanged.connect(self.revalidate)
        self.attack_list.changed.connect(self.revalidate)
        self.mode.currentIndexChanged.connect(self.revalidate)
        self.revalidate()

    # ---------------------------------------------------------------- pages
    def _runs_page(self, runs: list[tuple[str, str]], preselect) -> Page:
        p = Page()
        p.setTitle("Which runs to attack")
        self.run_list = QListWidget()
        for rid, label in runs:
            it = QListWidgetItem(printable(label))
            it.setData(Qt.UserRole, rid)
            it.setFlags(it.flags() | Qt.ItemIsUserCheckable)
            it.setCheckState(Qt.Checked if (rid in preselect or (not preselect and len(runs) == 1)) else Qt.Unchecked)
            self.run_list.addItem(it)
        self.run_list.itemChanged.connect(self.revalidate)
        QVBoxLayout(p).addWidget(self.run_list)
        return p

    def _attack_page(self) -> Page:
        p, body = scroll_page("Attacks, their parameters and ε")
        lay = QVBoxLayout(body)
        f = QFormLayout()
        self.eps = QLineEdit("")
        self.eps_err = err_label()
        f.addRow("ε (empty = the data set's default)", field_box(self.eps, self.eps_err))
        lay.addLayout(f)
        hint = QLabel("Check the attacks to run; a checked attack shows its parameters (edit a value to change it).")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        self.attack_list = AttackList()
        self.attack_list.setMinimumHeight(260)
        self.attack_err = err_label()
        lay.addWidget(self.attack_list, 1)
        lay.addWidget(self.attack_err)
        self.eps.textChanged.connect(self.revalidate)
        return p

    def _protocol_page(self) -> Page:
        p, body = scroll_page("Gradients and protocol")
        f = QFormLayout(body)
        self.mode = QComboBox()
        for key, label in MODES:
            self.mode.addItem(label, key)
        self.mc = self._spin(15, 1, 10_000)
        self.eot = self._spin(20, 2, 100_000)
        self.n = self._spin(1000, 1, 100_000)
        self.n_note = note_label()
        self.reeval = self._spin(3, 1, 100)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.proto_err = err_label()
        f.addRow("Gradients on stochastic models", self.mode)
        f.addRow("EOT draws per gradient (S)", self.eot)
        f.addRow("MC draws per prediction", self.mc)
        f.addRow("test examples n", field_box(self.n, self.n_note))
        f.addRow("re-evaluations", self.reeval)
        f.addRow("device", self.device)
        f.addRow("", self.proto_err)
        return p

    def _summary_page(self) -> Page:
        p, body = scroll_page("Summary")
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.PlainText)
        self.summary.setWordWrap(True)
        self.summary.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        QVBoxLayout(body).addWidget(self.summary)
        return p

    def _spin(self, v: int, lo: int, hi: int) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setValue(v)
        s.valueChanged.connect(self.revalidate)
        return s

    # ---------------------------------------------------------------- memory
    def _restore(self) -> None:
        d = recall(self.settings, MEMORY)
        self.attack_list.restore(d.get("checked", ["fgsm", "pgd10"]), d.get("edited", {}))
        self.eps.setText(str(d.get("eps", "")))
        self.mode.setCurrentIndex(max(0, self.mode.findData(d.get("mode", "both"))))
        for spin, key in ((self.eot, "eot"), (self.mc, "mc"), (self.n, "n"), (self.reeval, "reeval")):
            if isinstance(d.get(key), int):
                spin.setValue(d[key])
        self.device.setCurrentIndex(max(0, self.device.findText(str(d.get("device", "auto")))))

    def accept(self) -> None:
        """Finish: the choices are remembered for the next time the wizard opens."""
        remember(self.settings, MEMORY, {
            "checked": self.attack_list.checked(), "edited": self.attack_list.edited(), "eps": self.eps.text(),
            "mode": self.mode.currentData(), "eot": self.eot.value(), "mc": self.mc.value(), "n": self.n.value(),
            "reeval": self.reeval.value(), "device": self.device.currentText()})
        super().accept()

    # ---------------------------------------------------------------- the request
    def selected_runs(self) -> list[str]:
        return [self.run_list.item(i).data(Qt.UserRole) for i in range(self.run_list.count())
                if self.run_list.item(i).checkState() == Qt.Checked]

    def _datasets(self) -> list[str]:
        """The selected runs' data sets (those whose config is known), sorted."""
        names = set()
        for r in self.selected_runs():
            cfg = self.configs.get(r)
            data = cfg.get("data") if isinstance(cfg, dict) else None
            names.add(data.get("name") if isinstance(data, dict) else None)
        return sorted(n for n in names if isinstance(n, str))

    def eps_value(self) -> float | None:
        from mfdv_engine.defaults import parse_eps

        return parse_eps(self.eps.text(), "ε")

    def protocol(self):
        from mfdv_engine.evaluation import Protocol

        eot = 1 if self.mode.currentData() == "single" else self.eot.value()
        return Protocol(n=self.n.value(), mc_samples=self.mc.value(), eot_samples=eot,
                        reeval=self.reeval.value()).validate()

    def params(self) -> list[str]:
        """The checked attacks' changed parameters, plus, for EOT-only gradients, ``eot_samples=S`` on
        each attack that averages over S draws only when asked to (then it gives its EOT row alone)."""
        from mfdv_engine.attacks.base import ATTACKS

        out = self.attack_list.params()
        if self.mode.currentData() == "eot":
            for name in self.attack_list.checked():
                cls, defaults = ATTACKS.get(name) if name in ATTACKS else (None, {})
                if cls is not None and cls.supports_eot and defaults.get("eot_samples", 1) == 1:
                    out.append(f"{name}.eot_samples={self.eot.value()}")
        return out

    def request(self) -> dict:
        """Everything the attack jobs need (validated by the engine)."""
        from mfdv_engine.evaluation.suite import parse_attacks

        eps, proto, params = self.eps_value(), self.protocol(), self.params()
        attacks = ",".join(self.attack_list.checked())
        parse_attacks(attacks, eps=eps, params=params, eot=proto.eot_samples)
        return {"runs": self.selected_runs(), "attacks": attacks, "eps": eps, "proto": proto,
                "device": self.device.currentText(), "params": params}

    # ---------------------------------------------------------------- validation
    @Slot()
    def revalidate(self, *_) -> None:
        self._eps_placeholder()
        self._n_note()
        self.eot.setEnabled(self.mode.currentData() != "single")
        try:
            self.protocol()
            set_text(self.proto_err, "")
        except MfdvError as e:
            set_text(self.proto_err, printable(e))
        try:
            eps = self.eps_value()
            set_text(self.eps_err, "")
        except MfdvError as e:
            set_text(self.eps_err, printable(e))
            eps = None
        self._check_attacks(eps)
        for p in getattr(self, "pages", []):
            p.completeChanged.emit()

    def _check_attacks(self, eps: float | None) -> None:
        from mfdv_engine.evaluation.suite import parse_attacks

        if not self.attack_list.checked():
            set_text(self.attack_err, "Check at least one attack.")
            self.summary.setText("")
            return
        names = self._datasets()
        if eps is None and len(names) == 1:  # what the job will use: the one rule's default for that data set
            eps = default_eps_for(names[0])
        try:
            proto = self.protocol()
            specs, suite_over = parse_attacks(",".join(self.attack_list.checked()), eps=eps, params=self.params(),
                                              eot=proto.eot_samples)
        except MfdvError as e:
            set_text(self.attack_err, printable(e))
            return
        set_text(self.attack_err, "")
        self.summary.setText(printable(self._summary(specs, suite_over, proto, eps), multiline=True))

    def _summary(self, specs, suite_over, proto, eps) -> str:
        from mfdv_engine.evaluation.rows import modes_for, row_gradient

        datasets = ", ".join(self._datasets())
        lines = [f"runs: {', '.join(self.selected_runs()) or '(none)'}" + (f" ({datasets})" if datasets else ""),
                 "ε: " + ("each run's data-set default" if eps is None else eps_text(eps)
                          + (" (the data set's default)" if not self.eps.text().strip() else ""))]
        for s in specs:
            rows = ", ".join(row_gradient(s, m, True) for m in modes_for(s, True, proto.eot_samples))
            budget = eps_text(s.eps) if s.norm == "Linf" else f"{s.eps:.4g}"
            lines.append(f"• {s.name} ({s.norm}, ε={budget if eps is not None or s.norm != 'Linf' else 'per run'}); "
                         f"rows on a stochastic model: {rows}")
        if suite_over is not None:
            lines.append("• adaptive suite: per-example worst case over PGD-10/100, EOT-APGD (CE, C&W), "
                         f"AutoAttack rand, EOT-Square and two transfer attacks, EOT-{proto.eot_samples} "
                         "(each member's row kept)")
        lines.append(f"prediction MC-{proto.mc_samples}, n={proto.n}, success re-judged on {proto.reeval} draws; "
                     "a deterministic model gets one single-pass row per attack")
        return "\n".join(lines + ([self.n_note.text()] if self.n_note.text() else []))

    def _eps_placeholder(self) -> None:
        """The selected runs' default ε, from the engine's one rule (EPS_RULE when no config is known)."""
        names = self._datasets()
        if len(names) == 1:
            text = f"default for {names[0]}: {eps_text(default_eps_for(names[0]))}"
        elif names:
            text = "default per run: " + ", ".join(f"{n} {eps_text(default_eps_for(n))}" for n in names)
        else:
            text = EPS_RULE
        self.eps.setPlaceholderText(printable(text))

    def _n_note(self) -> None:
        """Say so before it runs where n is more than a selected run's test set holds (it is clamped)."""
        from mfdv_engine.data.registry import known_test_size
        from mfdv_engine.evaluation.rows import clamp_message

        notes = []
        for name in self._datasets():
            size = known_test_size(name)
            msg = clamp_message(self.n.value(), size) if size is not None else None
            if msg:
                notes.append(f"{name}: {msg}")
        set_text(self.n_note, printable("; ".join(notes)))
