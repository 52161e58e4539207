"""Progress that tells the truth: the phase is named, the ETA only when a rate can be told."""
import pytest

from mfdv_studio import status as st
from mfdv_studio.jobs import Job


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def line(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMainWindow

    from mfdv_studio.worker import Worker

    clock = _Clock()
    monkeypatch.setattr(st.time, "monotonic", clock)
    win = QMainWindow()
    qtbot.addWidget(win)
    w = Worker("test-status", warm_up=False)  # never started: the line only reads busy()
    s = st.JobStatus(win.statusBar(), w)
    s.started(Job("train", "Train demo", lambda ctx: None))
    s.window_kept = win  # the status bar's widgets live as long as the window
    return s, clock


def test_eta_waits_for_a_rate_then_follows_it(line):
    s, clock = line
    s.progress("training, epoch 1 of 2", 0.0)
    assert s.eta_label.text() == ""
    clock.t += 1
    s.progress("training, epoch 1 of 2", 0.10)
    assert s.eta_label.text() == "", "no ETA from the first second"
    clock.t += 9  # 10 s for 20 % of the job: 40 s left
    s.progress("training, epoch 1 of 2", 0.20)
    assert s.eta_label.text() == "ETA 40 s"
    assert s.job_label.text() == "Train demo: training, epoch 1 of 2"


def test_unknown_length_goes_busy_and_end_says_no_eta(line):
    s, clock = line
    s.progress("training, epoch 1 of 1", 0.0)
    clock.t += 10
    s.progress("training, epoch 1 of 1", 1.0)
    assert s.eta_label.text() == "", "never 'ETA 0 s' while the job still runs"
    s.progress("evaluating epoch 1 of 1 on 850 test images (MC-15)", None)
    assert (s.progress_bar.minimum(), s.progress_bar.maximum()) == (0, 0)  # busy, not a frozen 97 %
    assert "evaluating epoch 1" in s.job_label.text() and s.eta_label.text() == ""


def test_a_resumed_run_rates_from_where_it_started(line):
    s, clock = line
    s.progress("training, epoch 6 of 10", 0.5)   # half done before this job began
    clock.t += 10
    s.progress("training, epoch 6 of 10", 0.6)   # 10 % in 10 s: 40 s left, not 6.7 s
    assert s.eta_label.text() == "ETA 40 s"
