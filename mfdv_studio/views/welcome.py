"""The first screen: what a project with no runs (or no project at all) shows instead of empty plots.

A first-time user should never face blank axes and have to guess that training
starts from Run ▸ New training run: this page says what the studio does and
offers the three ways in as buttons.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

INTRO = ("MFDV Studio trains stochastic networks (MFDV-SNN and the defenses it is compared with), "
         "attacks them with single-sample and EOT-averaged gradients, and keeps every number with its "
         "protocol in one project file.")
STEPS = ("1. Train a run: the demo run (LeNet with an MFDV noise layer on the demo digits) takes about a "
         "minute on a CPU.\n"
         "2. Attack it: Run ▸ New attack evaluation (Ctrl+Shift+A), or the buttons of the Robustness tab.\n"
         "3. Compare runs × attacks in the Compare tab; inspect examples in the Gallery.")


class WelcomeView(QWidget):
    """Buttons emit what the window does; :meth:`set_state` says which case this is."""

    demo_requested = Signal()
    new_run_requested = Signal()
    open_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.title = QLabel()
        self.title.setObjectName("welcomeTitle")
        self.title.setStyleSheet("font-size: 18pt; font-weight: 600;")
        self.body = QLabel(INTRO)
        self.steps = QLabel(STEPS)
        for lab in (self.title, self.body, self.steps):
            lab.setWordWrap(True)
            lab.setTextFormat(Qt.PlainText)  # the title quotes a file name
            lab.setMaximumWidth(720)
        self.demo = QPushButton("Train the demo run")
        self.new_run = QPushButton("New training run…")
        self.open = QPushButton("Open project…")
        self.demo.setDefault(True)
        self.demo.clicked.connect(self.demo_requested)
        self.new_run.clicked.connect(self.new_run_requested)
        self.open.clicked.connect(self.open_requested)
        buttons = QHBoxLayout()
        for b in (self.demo, self.new_run, self.open):
            b.setMinimumHeight(36)
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(48, 48, 48, 48)
        lay.addStretch(1)
        for w in (self.title, self.body, self.steps):
            lay.addWidget(w)
        lay.addSpacing(12)
        lay.addLayout(buttons)
        lay.addStretch(2)
        self.set_state(None)

    def set_state(self, project_name: str | None) -> None:
        """``project_name`` None: no project is open; else the open project has no runs yet."""
        has_project = project_name is not None
        self.title.setText(f"{project_name} has no runs yet" if has_project else "No project is open")
        self.demo.setEnabled(has_project)
        self.new_run.setEnabled(has_project)
        self.demo.setDefault(has_project)
        self.open.setDefault(not has_project)
