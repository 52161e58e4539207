"""The main workflow, scripted as a user drives it (issue 14's check): a new run from the wizard's
drop-downs → live curves → the attack wizard with EOT → the comparison matrix → the gallery's sweep
slider → the checklist → close and reopen the project → everything still there → the matrix's CSV
equals what the view shows."""
import csv
import io

from PySide6.QtCore import QObject, Qt, Slot

from mfdv_engine.evaluation.rows import Protocol
from mfdv_studio import jobs

from .conftest import wait_results


def pick(combo, value):
    i = combo.findData(value)
    assert i >= 0, value
    combo.setCurrentIndex(i)


def wizard_run(win, defense: str):
    """The New Training Run wizard, driven by its drop-downs (demo digits, offline, one short epoch)."""
    from mfdv_studio.wizards import NewRunWizard

    w = NewRunWizard(win, default_device="cpu", settings=win.settings)
    pick(w.data_form.fields["data.name"][0], "demo")
    pick(w.defense_box, defense)
    w.set_value("train.epochs", "1")
    w.set_value("data.limit_test", "200")
    assert not any(w.errors.values()), w.errors
    return w


def settled(qtbot, win, jobs_done: int) -> None:
    wait_results(qtbot, win, jobs_done, timeout=300_000)
    assert not win.errors, win.errors[-1][:2]
    qtbot.waitUntil(lambda: not win.worker.busy() and not win.reader.busy(), timeout=30_000)
    qtbot.wait(50)  # the last snapshot's signal is delivered
    qtbot.waitUntil(lambda: not win.reader.busy(), timeout=30_000)


class Bar(QObject):
    """What the status bar was told, job by job: (phase, fraction) lists (issue 21: one bar per job)."""

    def __init__(self, worker) -> None:
        super().__init__()
        self.jobs: list[list[tuple[str, float | None]]] = []
        worker.started.connect(self.started, Qt.QueuedConnection)
        worker.progress.connect(self.progress, Qt.QueuedConnection)

    @Slot(object)
    def started(self, job) -> None:
        self.jobs.append([])

    @Slot(str, object)
    def progress(self, phase: str, fraction) -> None:
        self.jobs[-1].append((phase, fraction))

    def check_one_bar(self, job: int) -> list[float]:
        """The job's fractions only grow, and stand below 100 % until its last report."""
        fracs = [f for _, f in self.jobs[job] if f is not None]
        assert fracs and fracs == sorted(fracs), self.jobs[job]
        assert all(f < 1.0 for f in fracs[:-1]), self.jobs[job]
        return fracs


def matrix_state(win):
    header, cells = win.compare.contents()
    return header, cells


def test_the_main_workflow_survives_close_and_reopen(qtbot, window, tmp_path):
    win = window
    bar = Bar(win.worker)
    assert win.pages.currentWidget() is win.welcome
    # 1. a run from the wizard; its curves come in live
    win._start_from_wizard(wizard_run(win, "mfdv"))
    qtbot.waitUntil(lambda: win.live_run is not None and win.training.buffer.points >= 2, timeout=120_000)
    assert win.pages.currentWidget() is win.tabs and win.tabs.currentWidget() is win.training
    settled(qtbot, win, 1)
    bar.check_one_bar(0)
    evaluating = [f for phase, f in bar.jobs[0] if phase.startswith("evaluating")]
    assert evaluating and all(f is not None and f < 1.0 for f in evaluating), "never 100 % while it evaluates"
    assert "(live)" not in win.training.main_name
    win._start_from_wizard(wizard_run(win, "none"))   # a baseline to compare with
    settled(qtbot, win, 2)
    qtbot.waitUntil(lambda: win.training.sigma_note.shown, timeout=10_000)   # a plain run's σ plot says it has none
    ids = [i.run_id for i in win.runs]
    assert len(ids) == 2

    # 2. the attack wizard: PGD-10 with single-sample and EOT-4 gradients on both runs
    from mfdv_studio.wizards import AttackWizard

    aw = AttackWizard([(i.run_id, i.name) for i in win.runs], win, preselect=ids,
                      configs={i.run_id: i.config for i in win.runs}, settings=win.settings)
    aw.attack_list.set_checked(["pgd10"])
    pick(aw.mode, "both")
    aw.eot.setValue(4)
    aw.n.setValue(48)
    win.start_attack(**dict(aw.request(), device="cpu"))
    settled(qtbot, win, 4)
    for job in (2, 3):   # each attack job: one bar over its rows
        bar.check_one_bar(job)

    # 3. the comparison matrix: one line per run, PGD-10 single-sample and EOT, numbers from the rows
    win.tabs.setCurrentWidget(win.compare)
    header, cells = matrix_state(win)
    assert len(cells) == 2
    stored = {(r["run_id"], r["gradient"]): r for r in win.snapshot.rows()}
    mfdv_id = next(i.run_id for i in win.runs if i.config["defense"]["name"] == "mfdv")
    eot_row = stored[(mfdv_id, "EOT-4")]
    line = next(c for c in cells if any(mfdv_id in x for x in c))
    assert any(x.startswith(f"{100 * eot_row['robust_acc']:.1f}%") for x in line), (line, eot_row["robust_acc"])

    # 4. an ε sweep of the MFDV run; the gallery's slider walks its points
    win.submit(jobs.sweep_job(str(win.project_path), mfdv_id, "eps", values=[0.05, 0.1, 0.2], device="cpu",
                              proto=Protocol(n=32, mc_samples=2, eot_samples=2, seed=0)))
    settled(qtbot, win, 5)
    sweep = sorted((r for r in win.snapshot.rows() if r.get("params", {}).get("sweep")
                    and r["gradient"] == "single-sample"), key=lambda r: r["eps"])
    assert len(sweep) == 3
    assert all(r["key"] not in {x["key"] for x in win.robustness.model.rows()} for r in sweep), "not in the table"
    win.show_row_examples(mfdv_id, sweep[0]["key"])
    slider = win.gallery.sweep
    qtbot.waitUntil(lambda: slider.isVisible() and slider.slider.maximum() == 2, timeout=30_000)
    slider.slider.setValue(2)
    qtbot.waitUntil(lambda: win.gallery.key_box.currentData() == sweep[2]["key"] and bool(win.gallery.items),
                    timeout=30_000)

    # 5. the checklist of the MFDV run
    win.submit(jobs.checklist_job(str(win.project_path), mfdv_id, device="cpu", square_queries=20,
                                  proto=Protocol(n=32, mc_samples=2, eot_samples=2, seed=0)))
    settled(qtbot, win, 6)
    n_items = win.robustness.checklist.topLevelItemCount()
    assert n_items > 1
    before = matrix_state(win)
    table_before = len(win.robustness.model.rows())

    # 6. close and reopen: everything is still there
    path = win.project_path
    assert win.close_project()
    assert win.project_path is None and win.pages.currentWidget() is win.welcome
    assert win.run_model.rowCount() == 0 and matrix_state(win)[1] == []
    win.open_project(path)
    qtbot.waitUntil(lambda: len(win.snapshot.infos()) == 2, timeout=30_000)
    qtbot.waitUntil(lambda: win.robustness.checklist.topLevelItemCount() == n_items, timeout=30_000)
    assert win.pages.currentWidget() is win.tabs
    assert matrix_state(win) == before
    assert len(win.robustness.model.rows()) == table_before
    qtbot.waitUntil(lambda: win.training.buffer.points > 0, timeout=30_000)   # the newest run's stored curves
    win.show_row_examples(mfdv_id, sweep[1]["key"])
    qtbot.waitUntil(lambda: slider.isVisible() and slider.slider.value() == 1, timeout=30_000)

    # 7. the matrix's CSV is what the view shows
    out = tmp_path / "matrix.csv"
    win.compare.export(out, "csv")
    header, cells = matrix_state(win)
    for ln in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))):  # tidy: a number per cell
        line = next(c for c in cells if c[1] == ln["run_id"])
        assert line[header.index(ln["column"])].startswith(f"{float(ln['robust_acc']):.1%}")
