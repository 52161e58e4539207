"""The status bar's job line: what runs, how far it is (or that nobody knows), its ETA, Cancel, the device."""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from mfdv_engine.safetext import printable  # job titles quote run names

from .jobs import Job
from .worker import Worker

STEPS = 1000
#: no ETA before the job has run this long (a rate from the first batch is noise)
ETA_AFTER_S = 2.0


def _dur(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"


class JobStatus(QObject):
    """The widgets of the job line, added to ``bar``; its slots take the engine worker's signals."""

    def __init__(self, bar: QStatusBar, worker: Worker) -> None:
        super().__init__(bar)
        self.bar = bar
        self.worker = worker
        self.device_label = QLabel()
        self.job_label = QLabel("starting the engine (loading torch modules)…")
        self.job_label.setTextFormat(Qt.PlainText)  # job titles quote run names: never rich text
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, STEPS)
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setFormat("%p%")
        self.progress_bar.hide()  # a bar means a job runs: none yet
        self.eta_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_actions: list = []   # menu actions that follow the button
        bar.addWidget(self.job_label, 1)
        for w in (self.progress_bar, self.eta_label, self.cancel_button, self.device_label):
            bar.addPermanentWidget(w)
        self.title = ""
        self._anchor: tuple[float, float] | None = None   # (time, fraction) of the job's first report
        self._eta: tuple[float, float] | None = None      # (time of the report, seconds left then)
        self.countdown = QTimer(self)   # the ETA counts down between reports (an evaluation reports none)
        self.countdown.setInterval(1000)
        self.countdown.timeout.connect(self.tick)
        worker.started.connect(self.started, Qt.QueuedConnection)
        worker.progress.connect(self.progress, Qt.QueuedConnection)
        worker.finished.connect(self.finished, Qt.QueuedConnection)
        worker.ready.connect(self.ready, Qt.QueuedConnection)

    @Slot()
    def ready(self) -> None:
        """The engine's start-up imports are done."""
        if not self.worker.busy():
            self.job_label.setText("idle")

    @Slot(object)
    def started(self, job: Job) -> None:
        self.title = job.title
        self._anchor = None
        self.job_label.setText(printable(job.title))
        self.progress_bar.setRange(0, STEPS)
        self.progress_bar.setValue(0)
        self.progress_bar.show()
        self._set_eta(None)
        self.set_cancellable(True)

    @Slot(str, object)
    def progress(self, phase: str, fraction: float | None) -> None:
        """``fraction`` None: the job cannot tell, the bar goes busy instead of lying."""
        self.job_label.setText(printable(f"{self.title}: {phase}"))
        if fraction is None:
            self.progress_bar.setRange(0, 0)
            self._set_eta(None)
            return
        frac = max(0.0, min(1.0, fraction))
        self.progress_bar.setRange(0, STEPS)
        self.progress_bar.setValue(int(STEPS * frac))
        self._set_eta(self._eta_of(frac))

    def _set_eta(self, seconds: float | None) -> None:
        self._eta = None if seconds is None else (time.monotonic(), seconds)
        self.tick()
        if seconds is None:
            self.countdown.stop()
        elif not self.countdown.isActive():
            self.countdown.start()

    @Slot()
    def tick(self) -> None:
        """The ETA less the time since it was told; gone once it has run out (no "ETA 0 s" while it runs)."""
        left = None if self._eta is None else self._eta[1] - (time.monotonic() - self._eta[0])
        self.eta_label.setText(f"ETA {_dur(left)}" if left is not None and left >= 0.5 else "")

    def _eta_of(self, frac: float) -> float | None:
        """Seconds left at the rate seen since the first report (a resumed run starts part-way);
        None until the rate can be told: 2 s and 2 % of the job seen, or when the fraction went back."""
        now = time.monotonic()
        if self._anchor is None or frac < self._anchor[1]:
            self._anchor = (now, frac)
            return None
        t0, f0 = self._anchor
        if now - t0 < ETA_AFTER_S or frac - f0 < 0.02 or frac >= 1.0:
            return None
        return (now - t0) * (1 - frac) / (frac - f0)

    def done(self, text: str) -> None:
        """A job ended; the text says how and stays as the last job's outcome, while the bar goes
        (a bar left at 100 % after a quick delete reads as a job still on screen)."""
        self.job_label.setText(printable(text))
        self.progress_bar.hide()
        self._set_eta(None)

    @Slot(object)
    def finished(self, job: Job) -> None:
        self.set_cancellable(self.worker.busy())

    def set_cancellable(self, on: bool) -> None:
        """The Cancel button and whatever else cancels (Run ▸ Cancel job) only while a job runs."""
        for w in [self.cancel_button, *self.cancel_actions]:
            w.setEnabled(on)

    def cancelling(self) -> None:
        self.job_label.setText(printable(f"cancelling {self.title}…"))

    def message(self, text: str, ms: int = 4000) -> None:
        self.bar.showMessage(printable(text), ms)
