"""The New Attack Evaluation wizard: runs → attacks and ε → MC / EOT / n → summary."""
from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QComboBox, QFormLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QSpinBox,
                               QVBoxLayout, QWizard)

from mfdv_engine.defaults import EPS_RULE
from mfdv_engine.errors import MfdvError
from mfdv_engine.safetext import printable  # the run names come from a project file

from .common import Page, err_label


class AttackWizard(QWizard):
    """Runs → attacks and ε → MC / EOT / n → summary."""

    def __init__(self, runs: list[tuple[str, str]], parent=None, preselect: list[str] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle("New attack evaluation")
        self.pages = [self._runs_page(runs, preselect), self._attack_page(), self._protocol_page(),
                      self._summary_page()]
        p1, p2 = self.pages[:2]
        p1.check = lambda: bool(self.selected_runs())
        p2.check = lambda: not self.attack_err.text()
        for p in self.pages:
            self.addPage(p)
        self.currentIdChanged.connect(self.revalidate)
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
        p = Page()
        p.setTitle("Attacks and budget")
        f = QFormLayout(p)
        self.attacks = QLineEdit("fgsm,pgd10")
        self.attacks.setToolTip("comma-separated: fgsm, pgd10, pgd100, cw, pixel1, autoattack, autoattack-rand, square, "
                                "eot-pgd, eot-apgd-ce, eot-square, transfer-sigma0; adaptive = the adaptive suite "
                                "(per-example worst case over its members)")
        self.eps = QLineEdit("")
        self.eps.setPlaceholderText(EPS_RULE)  # the engine's one rule, as the CLI's --eps help says it
        self.attack_err = err_label()
        f.addRow("Attacks", self.attacks)
        f.addRow("ε", self.eps)
        f.addRow("", self.attack_err)
        self.attacks.textChanged.connect(self.revalidate)
        self.eps.textChanged.connect(self.revalidate)
        return p

    def _protocol_page(self) -> Page:
        p = Page()
        p.setTitle("Protocol")
        f = QFormLayout(p)
        self.mc = self._spin(15, 1, 1000)
        self.eot = self._spin(20, 1, 1000)
        self.n = self._spin(1000, 1, 100000)
        self.reeval = self._spin(3, 1, 100)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        f.addRow("MC draws per prediction", self.mc)
        f.addRow("EOT draws per gradient", self.eot)
        f.addRow("test examples n", self.n)
        f.addRow("re-evaluations", self.reeval)
        f.addRow("device", self.device)
        return p

    def _summary_page(self) -> Page:
        p = Page()
        p.setTitle("Summary")
        self.summary = QLabel("")
        self.summary.setTextFormat(Qt.PlainText)
        self.summary.setWordWrap(True)
        QVBoxLayout(p).addWidget(self.summary)
        return p

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
        from mfdv_engine.defaults import parse_eps

        return parse_eps(self.eps.text(), "ε")

    def protocol(self):
        from mfdv_engine.evaluation import Protocol

        return Protocol(n=self.n.value(), mc_samples=self.mc.value(), eot_samples=self.eot.value(),
                        reeval=self.reeval.value()).validate()

    def request(self) -> dict:
        """Everything the attack jobs need (validated by the engine)."""
        from mfdv_engine.evaluation.suite import parse_attacks

        eps = self.eps_value()
        parse_attacks(self.attacks.text(), eps=eps, eot=self.eot.value())
        return {"runs": self.selected_runs(), "attacks": self.attacks.text(), "eps": eps,
                "proto": self.protocol(), "device": self.device.currentText()}

    @Slot()
    def revalidate(self, *_) -> None:
        try:
            from mfdv_engine.evaluation.suite import parse_attacks

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
