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


def test_the_bar_shows_only_while_a_job_runs_and_the_outcome_stays(line):
    s, clock = line
    assert not s.progress_bar.isHidden()
    s.progress("training, epoch 2 of 2", 1.0)
    s.done("Restore r001: finished")
    assert s.progress_bar.isHidden() and s.job_label.text() == "Restore r001: finished"
    s.started(Job("delete", "Delete r002", lambda ctx: None))
    assert not s.progress_bar.isHidden() and s.progress_bar.value() == 0


def test_a_resumed_run_rates_from_where_it_started(line):
    s, clock = line
    s.progress("training, epoch 6 of 10", 0.5)   # half done before this job began
    clock.t += 10
    s.progress("training, epoch 6 of 10", 0.6)   # 10 % in 10 s: 40 s left, not 6.7 s
    assert s.eta_label.text() == "ETA 40 s"


def test_the_eta_counts_down_between_reports_and_goes_when_it_ran_out(line):
    s, clock = line
    s.progress("training, epoch 1 of 2", 0.0)
    clock.t += 10
    s.progress("evaluating epoch 1 of 2 on 10000 test images (MC-15)", 0.5)   # no report during the evaluation
    assert s.eta_label.text() == "ETA 10 s"
    clock.t += 4
    s.tick()   # the status bar's one-second timer
    assert s.eta_label.text() == "ETA 6 s"
    clock.t += 7
    s.tick()
    assert s.eta_label.text() == "", "never 'ETA 0 s' (or a negative one) while the job still runs"


def _train_events(bar, clock, *, epochs, spe, step_s, eval_s, n=10_000, batch=100):
    """Feed a TrainProgress what a training job hears; the fraction after each event, with its event."""
    out = []
    bar.on_run({"epochs": epochs, "config": {"train": {"batch_size": batch}, "data": {}}})
    bar.on_start({"steps_per_epoch": spe})
    for e in range(1, epochs + 1):
        for s in range(1, spe + 1):
            clock.t += step_s
            out.append(("step", bar.on_step({"step": (e - 1) * spe + s, "epoch": e})))
        out.append(("evaluating", bar.on_evaluating({"epoch": e, "n": n, "mc_samples": 15})))
        clock.t += eval_s
        out.append(("epoch", bar.on_epoch({"epoch": e})))
    return out


def test_training_bar_weighs_each_evaluation_in_and_never_stands_at_100_early():
    from mfdv_studio.progress import TrainProgress

    clock = _Clock()
    bar = TrainProgress(clock)
    # 3 epochs of 50 steps at 0.1 s (5 s each) and a 5 s evaluation each: the evaluation is half of each epoch
    out = _train_events(bar, clock, epochs=3, spe=50, step_s=0.1, eval_s=5.0)
    fracs = [f for _, f in out]
    assert fracs == sorted(fracs), "the bar only grows"
    assert all(f < 1.0 for _, f in out[:-1]) and out[-1][1] == 1.0
    evals = [f for kind, f in out if kind == "evaluating"]
    assert evals[0] < 0.999, "the first evaluation (a prior from the test set's size) is still ahead"
    # from the second epoch on, the measured evaluation weighs as much as the epoch's training
    assert evals[1] == pytest.approx(0.5, abs=0.02) and evals[2] == pytest.approx(5 / 6, abs=0.02)


def test_a_resumed_run_starts_where_its_epochs_left_off():
    from mfdv_studio.progress import TrainProgress

    bar = TrainProgress(_Clock())
    bar.on_run({"epochs": 4, "epochs_done": 2, "config": {"train": {"batch_size": 10}, "data": {"limit_test": 100}}})
    bar.on_start({"steps_per_epoch": 10})
    assert bar.on_step({"step": 21, "epoch": 3}) == pytest.approx(0.5, abs=0.05)


def test_an_attack_job_is_one_bar_over_its_attacks_and_its_suite():
    from mfdv_engine.evaluation.suite import parse_attacks
    from mfdv_studio.progress import Stages, attack_stages, likely_stochastic

    specs, suite_over = parse_attacks("fgsm,pgd10,adaptive", eps=0.3, params=[], eot=4)
    stages = attack_stages(specs, suite_over, 0.3, 4, stochastic=True)
    assert [p for p, _ in stages] == ["attack ", "adaptive suite "]
    assert stages[1][1] > stages[0][1], "the suite (EOT-APGD, EOT-Square, …) outweighs FGSM and PGD-10"
    bar = Stages(stages)
    assert bar("decoding the test images", 0.5) is None   # before the first stage: length unknown
    seen = [bar("attack 1 of 4: fgsm (single-sample)", 0.0), bar("attack 4 of 4: pgd10 (EOT-4)", 1.0),
            bar("adaptive suite 1/7: pgd10 (single-sample)", 0.0), bar("adaptive suite 7/7: eot-square", 0.5),
            bar("storing the suite's row", None), bar("adaptive suite 7/7: eot-square", 1.0)]
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    assert seen[1] == seen[2] == pytest.approx(stages[0][1] / (stages[0][1] + stages[1][1]))
    assert seen[4] == seen[3], "a phase of unknown length keeps the fraction reached"
    assert not likely_stochastic({"defense": {"name": "none"}, "model": {"stochastic": "linear1"}})
    assert likely_stochastic({"defense": {"name": "pgd-at"}, "model": {"stochastic": "linear1"}})
    assert likely_stochastic({"defense": {"name": "pni"}, "model": {"stochastic": "none"}})
