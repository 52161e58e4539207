"""What the menus, the explorer and the views ask the window to do: dialogs, and the jobs they submit.

A mixin of :class:`~mfdv_studio.main_window.MainWindow` (which keeps the
wiring): every method here either asks the user something or submits a job —
write jobs (:mod:`.jobs`) to the engine worker, file copies and exports
(:mod:`.reads`) to the reader. None of them reads the project: what they need
to know about it comes from the last :class:`~mfdv_studio.reads.Snapshot`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from mfdv_engine.errors import MfdvError
from mfdv_engine.evaluation import Protocol
from mfdv_engine.safetext import printable

from . import jobs, preferences as prefs, reads, settings as st
from .worker import describe_error

SWEEP_VALUES = {"eps": [0, 2 / 255, 8 / 255, 32 / 255, 0.1, 0.2, 0.3], "steps": [1, 2, 5, 10, 20, 50],
                "eot": [1, 2, 5, 10, 20, 50, 100]}


class Commands:
    """Mixed into MainWindow; uses its ``worker``, ``reader``, ``snapshot``, ``settings``, ``show_error``."""

    # ---------------------------------------------------------------- file
    @Slot()
    def new_project_dialog(self) -> None:
        folder = self.project_path.parent if self.project_path is not None else st.data_dir()
        path, _ = QFileDialog.getSaveFileName(self, "New project", str(folder / "project.mfdv.h5"),
                                              "MFDV project (*.mfdv.h5)")
        if path:
            self.open_project(path if path.endswith(".h5") else path + ".mfdv.h5", create=True)

    @Slot()
    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(st.data_dir()), "MFDV project (*.mfdv.h5 *.h5)")
        if path:
            self.open_project(path, create=False)

    def save_as(self, path: str) -> bool:
        """Copy the project (on the reader) and open the copy; refused while a job may write it."""
        if self.worker.busy():
            self.show_error("Save As", "Wait for the running job to finish (or cancel it) before copying the project.", "")
            return False
        if self.project_path is None:
            return False
        self.reader.submit(reads.save_as_job(self.project_path, Path(path).expanduser().resolve()))
        return True

    @Slot()
    def save_as_dialog(self) -> None:
        if self.project_path is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", str(self.project_path), "MFDV project (*.mfdv.h5)")
        if path:
            self.save_as(path)

    @Slot()
    def export_csv_dialog(self) -> None:
        path = self.exports.ask(self, "Export robustness rows (all protocol fields)", "robustness.csv", "CSV (*.csv)")
        if path and self.project_path is not None:
            self.reader.submit(reads.export_job(self.project_path, path))

    @Slot()
    def preferences(self) -> None:
        d = prefs.PreferencesDialog(self.settings, self)
        if d.exec() == QDialog.Accepted:
            d.save()
            self.status.device_label.setText(prefs.apply(self.settings))

    def show_error(self, title: str, sentence: str, details: str = "") -> None:
        """One sentence; the traceback only under Details. Non-blocking (window-modal)."""
        self.errors.append((title, sentence, details))
        # sentences quote run names / ids from the project file: escaped, and never read as rich text
        box = QMessageBox(QMessageBox.Warning, printable(title), printable(sentence, multiline=True),
                          QMessageBox.Ok, self)
        box.setTextFormat(Qt.PlainText)
        if details:
            box.setDetailedText(printable(details, multiline=True))
        box.setAttribute(Qt.WA_DeleteOnClose)
        self.last_error_box = box
        box.open()

    def status_message(self, text: str, ms: int = 4000) -> None:
        """A line in the status bar (also what :mod:`.errors` says first)."""
        self.status.message(text, ms)

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this)."""
        return QMessageBox.question(self, title, text) == QMessageBox.Yes

    # ---------------------------------------------------------------- training
    def submit(self, job: jobs.Job) -> None:
        if self.project_path is None:  # (File ▸ Close project; the menus that need one are off meanwhile)
            self.show_error(job.title, "No project is open; open or create one first (File ▸ Open… or New project…).")
            return
        busy = self.worker.busy()  # asked before submitting: a job that starts at once is not "queued"
        self.worker.submit(job)
        if busy:
            self.status.message(f"queued behind the running job: {job.title}")

    def start_training(self, config, resume: str | None = None) -> None:
        if prefs.allow_downloads(self.settings) and config is not None:
            config = config.with_overrides(["data.download=true"])
        device = None if config is not None and config.train.device != "auto" else prefs.default_device(self.settings)
        self.submit(jobs.train_job(str(self.project_path), config, resume=resume,
                                   data_root=prefs.data_root(self.settings), device=device))

    @Slot()
    def train_demo(self) -> None:
        """The first screen's button: the demo preset (embedded data, offline, about a minute on a CPU)."""
        from mfdv_engine.config import load_preset
        self.start_training(load_preset("demo-lenet-mfdv"))

    @Slot()
    def new_training_run(self) -> None:
        from .wizards import NewRunWizard
        w = NewRunWizard(self, default_device=prefs.default_device(self.settings), settings=self.settings,
                         taken=self.snapshot.names().values())
        if w.exec() == QDialog.Accepted:
            self._start_from_wizard(w)

    def _start_from_wizard(self, w) -> None:
        try:
            cfg = w.config()
        except MfdvError as e:
            self.show_error("New training run", *describe_error(e))
            return
        self.start_training(cfg)

    @Slot(str)
    def duplicate_run(self, run_id: str) -> None:
        from mfdv_engine.config import RunConfig

        from .wizards import NewRunWizard
        entry = self.snapshot.entry(run_id)
        if entry is None:
            return
        w = NewRunWizard(self, default_device=prefs.default_device(self.settings), settings=self.settings,
                         taken=self.snapshot.names().values())
        # the copy's description is regenerated from its config and says whose copy it is
        w.load_config(RunConfig.from_dict(entry.info.config), name=f"{entry.info.name}-copy", copy_of=entry.info.name)
        if w.exec() == QDialog.Accepted:
            self._start_from_wizard(w)

    @Slot(str)
    def resume_run(self, run_id: str) -> None:
        self.submit(jobs.train_job(str(self.project_path), None, resume=run_id, data_root=prefs.data_root(self.settings),
                                   device=prefs.default_device(self.settings)))

    # ---------------------------------------------------------------- evaluation
    @Slot()
    def new_attack(self, preselect: list[str] | None = None) -> None:
        from .wizards import AttackWizard
        trained = [i for i in self.runs if i.epochs_done > 0]
        w = AttackWizard([(i.run_id, f"{i.name} ({i.run_id})") for i in trained], self,
                         preselect=preselect or self.selected_runs(), configs={i.run_id: i.config for i in trained},
                         settings=self.settings)
        if w.exec() == QDialog.Accepted:
            try:
                self.start_attack(**w.request())
            except MfdvError as e:
                self.show_error("New attack evaluation", *describe_error(e))

    def start_attack(self, runs: list[str], attacks: str, eps: float | None, proto: Protocol, device: str = "auto",
                     params=()) -> None:
        """Attack each run. The request is checked here, at once; the job itself is built on the
        worker, where its check of the run (its data set's default ε) may read the project."""
        from mfdv_engine.evaluation.suite import parse_attacks

        try:
            proto.validate()
            parse_attacks(attacks, eps=eps, params=list(params), eot=proto.eot_samples)
        except MfdvError as e:
            self.show_error("Attack", *describe_error(e))
            return
        path, root = str(self.project_path), prefs.data_root(self.settings)
        for rid in runs:
            def fn(ctx: jobs.JobContext, rid: str = rid) -> dict:
                return jobs.attack_job(path, rid, attacks, eps=eps, proto=proto, params=params, data_root=root,
                                       device=device).fn(ctx)
            self.submit(jobs.Job("attack", f"Attack {rid}: {attacks}", fn, {"run_id": rid}))

    def _target_run(self) -> str | None:
        ids = self.selected_runs() or [i.run_id for i in self.runs if i.epochs_done > 0][-1:]
        if not ids:
            self.show_error("No run", "Train a run first (Run ▸ New training run), then select it in the project list.", "")
            return None
        return ids[0]

    @Slot()
    def run_checklist(self) -> None:
        rid = self._target_run()
        if rid:
            self.submit(jobs.checklist_job(str(self.project_path), rid, proto=Protocol(n=200, eot_samples=10),
                                           data_root=prefs.data_root(self.settings),
                                           device=prefs.default_device(self.settings)))

    @Slot(str)
    def run_sweep(self, kind: str) -> None:
        rid = self._target_run()
        if rid:
            self.submit(jobs.sweep_job(str(self.project_path), rid, kind, proto=Protocol(n=200, eot_samples=10),
                                       values=SWEEP_VALUES[kind], data_root=prefs.data_root(self.settings),
                                       device=prefs.default_device(self.settings),
                                       loss=self.robustness.sweep_loss_choice()))

    @Slot(str)
    def compute_boundaries(self, run_id: str) -> None:
        self.submit(jobs.boundaries_job(str(self.project_path), run_id, data_root=prefs.data_root(self.settings),
                                        device=prefs.default_device(self.settings)))

    @Slot()
    def confirm_cancel(self) -> None:
        """The menu's and the status bar's Cancel: asks first (a cancelled job keeps what it stored)."""
        if self.worker.busy() and self.confirm("Cancel job", "Stop the running job? Finished epochs and rows are "
                                                "kept; an interrupted training run can be resumed."):
            self.cancel_job()

    @Slot()
    def cancel_job(self) -> None:
        if self.worker.busy():
            self.status.cancelling()
            self.worker.cancel()
