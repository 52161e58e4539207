"""The main window: wires the explorer, the views, the menus and the status bar to the two workers.

The window never opens the project file. Write jobs go to the engine worker;
what the views show comes from read jobs on the reader (:mod:`.reads`), whose
typed results land in :meth:`MainWindow.on_read`. What the dialogs and menu
actions do lives in :mod:`.commands`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QStackedWidget, QTabWidget

from mfdv_engine.events import RowStored, TrainingEvent
from mfdv_engine.safetext import printable  # every string from a file, before it becomes widget text
from mfdv_engine.project.store import RunInfo

from . import lockfile, preferences as prefs, reads, screenfit, settings as st
from .actions import StudioActions
from .commands import Commands
from .explorer import ExplorerPanel, ProjectExplorer, ProjectTreeModel
from .export_folder import ExportFolder
from .jobs import Job
from .project_commands import ProjectCommands
from .reads import CurvesFor
from .status import JobStatus
from .views.boundaries import BoundariesView
from .views.compare import CompareView
from .views.gallery import GalleryView
from .views.robustness import RobustnessView
from .views.training import TrainingView
from .views.welcome import WelcomeView
from .worker import Worker

#: what a failed read is called in its dialog (a gallery's or curves' failure is shown in place instead)
READ_TITLES = {"open": "Cannot open project", "snapshot": "Cannot read the project", "export": "Export CSV",
               "stored": "Show a stored result"}


class MainWindow(Commands, ProjectCommands, QMainWindow):
    def __init__(self, project_path: str | Path | None = None, *, settings=None) -> None:
        super().__init__()
        self.settings = settings or st.settings()
        self.project_path: Path | None = None
        self._opened_path: Path | None = None   # the last project the reader opened
        self.snapshot = reads.Snapshot(Path())
        self.live_run: str | None = None
        self._shown_run: str | None = None   # the stored run the Training tab shows
        self.last_error_box: QMessageBox | None = None
        self.errors: list[tuple[str, str, str]] = []
        self.results: list[tuple[str, dict]] = []
        self.trashed: list[tuple[Path, str]] = []   # what Edit ▸ Undo restores (.project_commands)
        self.exports = ExportFolder(self.settings)    # where every export dialog opens
        self._build_views()
        self._build_explorer()
        self.worker = Worker("mfdv-engine-worker")            # write jobs (.jobs)
        self.reader = Worker("mfdv-project-reader", warm_up=False)   # read jobs (.reads)
        self.status = JobStatus(self.statusBar(), self.worker)
        self.status.cancel_button.clicked.connect(self.confirm_cancel)
        self.job_label = self.status.job_label
        self.menus = StudioActions(self)
        self.menus.open_recent.connect(self.open_project)
        self.status.cancel_actions.append(self.menus.cancel)
        self.status.set_cancellable(False)
        self.menus.set_recent(st.recent_files(self.settings))
        self._start_workers()
        self.status.device_label.setText(prefs.apply(self.settings))
        screenfit.place(self, self.settings.value("geometry"))   # never larger than the screen
        if project_path is not None:
            self.open_project(project_path)

    # ---------------------------------------------------------------- wiring
    def _build_views(self) -> None:
        self.training = TrainingView()
        self.robustness = RobustnessView()
        self.gallery = GalleryView()
        self.boundaries = BoundariesView()
        self.compare = CompareView()
        for view in (self.training, self.robustness, self.compare):
            view.exports = self.exports
        self.tabs = QTabWidget()
        for view, name in ((self.training, "Training"), (self.robustness, "Robustness"), (self.compare, "Compare"),
                           (self.gallery, "Gallery"), (self.boundaries, "Decision boundaries")):
            self.tabs.addTab(view, name)
        self.welcome = WelcomeView()   # instead of empty plots while no project or no run is there
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.tabs)
        self.setCentralWidget(self.pages)
        self.welcome.demo_requested.connect(self.train_demo)
        self.welcome.new_run_requested.connect(self.new_training_run)
        self.welcome.open_requested.connect(self.open_project_dialog)
        self.robustness.attack_requested.connect(self.new_attack)
        self.robustness.checklist_requested.connect(self.run_checklist)
        self.robustness.sweep_requested.connect(self.run_sweep)
        self.boundaries.compute_requested.connect(self.compute_boundaries)
        self.training.curves_export_requested.connect(self.export_curves_dialog)

    def _build_explorer(self) -> None:
        self.run_model = ProjectTreeModel(self)
        self.explorer = e = ProjectExplorer(self.run_model)
        e.runs_selected.connect(self.request_curves)
        self.compare.attach(self)   # its cells to the gallery, the explorer's selection to its table
        e.resume_requested.connect(self.resume_run)
        e.attack_requested.connect(self.new_attack)
        e.duplicate_requested.connect(self.duplicate_run)
        e.delete_requested.connect(self.delete_run)
        e.annotate_requested.connect(self.annotate_run)
        e.row_activated.connect(self.show_row_examples)
        e.result_activated.connect(self.request_stored_result)
        dock = QDockWidget("Project", self)
        dock.setObjectName("explorer")
        self.explorer_panel = ExplorerPanel(e)   # the filter box and group-by choice above the tree
        dock.setWidget(self.explorer_panel)
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)
        self.resizeDocks([dock], [300], Qt.Horizontal)   # room for a run's name, status and accuracy
        self.explorer_dock = dock

    def _start_workers(self) -> None:
        """(The job line in the status bar takes started, progress, finished and ready itself.)"""
        self.worker.yielded.connect(self.on_yielded, Qt.QueuedConnection)
        self.worker.returned.connect(self.on_job_returned, Qt.QueuedConnection)
        self.worker.errored.connect(self.on_job_errored, Qt.QueuedConnection)
        self.reader.returned.connect(self.on_read, Qt.QueuedConnection)
        self.reader.errored.connect(self.on_read_failed, Qt.QueuedConnection)
        self.worker.start()
        self.reader.start()

    # ---------------------------------------------------------------- project (read on the reader)
    @Slot(str)
    def open_project(self, path, create: bool = True) -> None:
        """Open (or create) a project; jobs submitted from now on go to it."""
        self.project_path = self.exports.project = Path(path).expanduser().resolve()
        self.menus.set_project_open(True)
        self.update_undo()
        self.reader.submit(reads.open_job(self.project_path, create=create))

    @Slot()
    def refresh(self) -> None:
        """Ask the reader for a fresh snapshot (a newer request replaces a queued one)."""
        if self.project_path is not None:
            self.reader.submit(reads.snapshot_job(self.project_path), supersede=True)

    @property
    def runs(self) -> list[RunInfo]:
        return self.snapshot.infos()

    def selected_runs(self) -> list[str]:
        return self.explorer.selected_runs()

    @Slot(list)
    def request_curves(self, ids: list[str]) -> None:
        """One selected run: its curves as the main ones; several (or while one trains): compared, one colour each."""
        if self.project_path is None:
            return
        single = len(ids) == 1 and self.live_run is None
        ids = ids if single else [r for r in ids if r != self.live_run]
        self.reader.submit(reads.curves_job(self.project_path, ids, self.snapshot.names(),
                                            CurvesFor.SHOW if single else CurvesFor.OVERLAY), supersede=True)

    def _request_gallery(self, run_id: str, key: str) -> None:
        """The gallery's loader: the arrays come back through :meth:`on_read`."""
        if self.project_path is not None:
            self.reader.submit(reads.gallery_job(self.project_path, run_id, key), supersede=True)

    @Slot(str, str)
    def show_row_examples(self, run_id: str, key: str) -> None:
        self.gallery.select(run_id, key)
        self.tabs.setCurrentWidget(self.gallery)

    @Slot(str, str)
    def request_stored_result(self, run_id: str, name: str) -> None:
        if self.project_path is not None:
            self.reader.submit(reads.stored_result_job(self.project_path, run_id, name))

    @Slot(object, object)
    def on_read(self, job: Job, result: object) -> None:
        if self.project_path is None and not isinstance(result, reads.Exported):
            return  # read before the project was closed
        if isinstance(result, reads.Opened):
            self._opened(result.snapshot)
        elif isinstance(result, reads.Snapshot):
            self.show_snapshot(result)
        elif isinstance(result, reads.Curves):
            self._show_curves(result)
        elif isinstance(result, reads.GalleryArrays):
            self.gallery.show_gallery(result.run_id, result.key, result.arrays)
        elif isinstance(result, reads.StoredResult):
            self._show_stored(result, focus=job.meta.get("focus", True))
        elif isinstance(result, reads.Exported):
            self.status.message(f"wrote {result.n_rows} rows to {result.path}", 5000)

    @Slot(object, str, str)
    def on_read_failed(self, job: Job, sentence: str, details: str) -> None:
        if job.kind == "gallery":
            self.gallery.show_error(job.meta["run_id"], job.meta["key"], sentence)
        elif job.kind == "curves":
            self.status.message(sentence, 8000)
        else:
            if job.kind == "open":
                self.project_path = self.exports.project = self._opened_path
            self.show_error(READ_TITLES.get(job.kind, job.title), sentence, details)

    def _opened(self, snap: reads.Snapshot) -> None:
        self.project_path = self._opened_path = self.exports.project = snap.path
        self.setWindowTitle(printable(f"MFDV Studio — {snap.path.name}"))
        st.push_recent(self.settings, str(snap.path))
        self.menus.set_recent(st.recent_files(self.settings))
        self.show_snapshot(snap)
        self._show_last_work(snap)

    def show_snapshot(self, snap: reads.Snapshot) -> None:
        """Render a snapshot in the explorer, the table, the gallery lists and the boundary runs."""
        if snap.path != self.project_path:
            return  # read before another project was opened
        self.render_snapshot(snap)

    def render_snapshot(self, snap: reads.Snapshot) -> None:
        """(An empty snapshot empties the explorer, the table and the lists: File ▸ Close project.)"""
        self.snapshot = snap
        self._show_page()
        self.run_model.set_snapshot(snap)
        self.explorer.resizeColumnToContents(0)
        self.robustness.set_rows(snap.rows(), {i.run_id: i for i in snap.infos()})
        self.compare.set_snapshot(snap.infos(), snap.rows())
        self.gallery.set_source(self._request_gallery, snap.rows_by_run(), snap.names())
        self.boundaries.set_runs([(i.run_id, f"{i.name} ({i.run_id}, {i.config.get('data', {}).get('name', '?')})")
                                  for i in snap.infos() if i.epochs_done > 0])
        self._forget_gone_runs(snap)

    def _forget_gone_runs(self, snap: reads.Snapshot) -> None:
        """A deleted (or closed) run's curves and maps do not stay on screen under its name."""
        names = snap.names()
        if self._shown_run is not None and self._shown_run not in names and self.live_run is None:
            self._shown_run = None
            self.training.set_overlays({})
            self.training.show_curves({}, "no run shown: select one in the Project panel")
        if self.boundaries.result is not None and self.boundaries.result.get("run_id") not in names:
            self.boundaries.clear()

    def _show_page(self) -> None:
        """The welcome page while there is nothing to show, else the tabs."""
        empty = self.project_path is None or (not self.snapshot.infos() and self.live_run is None)
        self.welcome.set_state(None if self.project_path is None else printable(self.project_path.name))
        self.pages.setCurrentWidget(self.welcome if empty else self.tabs)

    def _show_curves(self, c: reads.Curves) -> None:
        if c.purpose is CurvesFor.LIVE:
            if self.live_run in c.runs:
                self.training.prepend_existing(c.runs[self.live_run])
        elif c.purpose is CurvesFor.SHOW and self.live_run is None and c.runs:
            rid, curves = next(iter(c.runs.items()))
            self.training.set_overlays({})
            self.training.show_curves(curves, f"{c.names.get(rid)} ({rid})")
            self._shown_run = rid
        else:  # every compared run drawn once: the live run stays as the main curves, a shown one is cleared
            if self.live_run is None:  # the shown run's main curves are cleared: it is shown no more
                self._shown_run = None
            self.training.set_overlays({r: {"name": c.names.get(r, r), "curves": cv} for r, cv in c.runs.items()
                                        if r != self.live_run}, keep_main=self.live_run is not None)

    def _show_stored(self, r: reads.StoredResult, focus: bool = True) -> None:
        view = self.boundaries if r.name == "boundaries" else self.robustness
        if r.name == "boundaries":
            self.boundaries.show_result(r.data)
        else:
            self.robustness.set_checklist(r.run_id, r.data.get("items", []))
        if focus:
            self.tabs.setCurrentWidget(view)

    def _show_last_work(self, snap: reads.Snapshot) -> None:
        """A reopened project shows where its user left off: the newest trained run selected (its
        curves in Training) and the newest stored checklist and boundaries in their tabs."""
        trained = [e for e in snap.entries if e.info.epochs_done > 0]
        if trained:
            self.explorer.select_run(trained[-1].info.run_id)
        for name in ("checklist", "boundaries"):
            last = next((e.info.run_id for e in reversed(snap.entries) if name in dict(e.results)), None)
            if last is not None:
                job = reads.stored_result_job(snap.path, last, name)
                job.meta["focus"] = False
                self.reader.submit(job)

    # ---------------------------------------------------------------- engine worker slots (GUI thread)
    @Slot(object)
    def on_yielded(self, event: object) -> None:
        if isinstance(event, RowStored):
            row = dict(event.row, run_id=event.run_id, run_name=self.snapshot.names().get(event.run_id, ""))
            self.robustness.add_row(row)
            if self.tabs.currentWidget() is self.training:
                self.tabs.setCurrentWidget(self.robustness)
        elif isinstance(event, TrainingEvent) and event.kind == "run":
            self._training_started(event.data)
        elif isinstance(event, TrainingEvent) and event.kind == "start":
            self.training.set_steps_per_epoch(int(event.data.get("steps_per_epoch") or 0))
        elif isinstance(event, TrainingEvent) and event.kind in ("step", "epoch"):
            self.training.add_event(event.kind, event.data)

    def _training_started(self, data: dict) -> None:
        self.live_run = rid = data["run_id"]
        self._show_page()
        self.run_model.set_live(rid)
        self.training.set_overlays({})
        self.training.start_live(rid, data.get("config", {}).get("name", ""))
        if data.get("epochs_done"):  # resumed: its stored curves go under the live points
            self.reader.submit(reads.curves_job(self.project_path, [rid], {}, CurvesFor.LIVE))
        self.tabs.setCurrentWidget(self.training)
        self.refresh()

    @Slot(object, object)
    def on_job_returned(self, job: Job, result: dict) -> None:
        self.results.append((job.title, result))
        status = result.get("status", "finished")
        if job.kind in ("train", "resume"):
            self._training_ended(result.get("run_id"), status, result.get("final"))
            acc = (result.get("final") or {}).get("clean_acc")
            self.training.finish_live(f"run {result.get('run_id')}: {status}" +
                                      (f", clean accuracy {acc:.2%}" if acc is not None else ""))
        elif job.kind == "checklist" and result["items"] is not None:  # (None: cancelled, the stored one stays)
            self.robustness.set_checklist(result["run_id"], result["items"])
            self.tabs.setCurrentWidget(self.robustness)
        elif job.kind == "boundaries":
            self.boundaries.show_result(result)
        elif job.kind in ("delete", "restore"):
            self.trash_job_returned(job, result)
        elif job.kind == "annotate":
            self.status.message(f"Stored the notes and tags of {result.get('run_id')}", 5000)
        self.status.done(f"{job.title}: {status}")
        self.refresh()

    @Slot(object, str, str)
    def on_job_errored(self, job: Job, sentence: str, details: str) -> None:
        if job.kind in ("train", "resume"):
            self._training_ended(None, "failed", None)
            self.training.finish_live(f"{job.title} failed: {sentence}")
        self.status.done(f"{job.title}: failed")
        self.refresh()
        self.show_error(job.title, sentence, details)

    def _training_ended(self, run_id: str | None, status: str, final: dict | None) -> None:
        """No run is live any more; the explorer shows the job's word at once (the snapshot follows)."""
        self.live_run = None
        self.run_model.set_live(None)
        if run_id:
            self.run_model.set_status(run_id, status, final)

    # ---------------------------------------------------------------- closing
    def closeEvent(self, e) -> None:  # noqa: N802 (Qt override)
        if self.worker.busy():
            if not self.confirm("Quit", printable(f"{self.status.title or 'A job'} is still running. Stop it and quit? "
                                                  "A training run stays resumable from its last finished epoch.")):
                e.ignore()
                return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.sync()
        self.shutdown()
        super().closeEvent(e)

    def shutdown(self) -> None:
        """Stop and join both workers (tests, app exit); then the project's lock file goes, unless
        another process holds it (a clean quit leaves no ``.lock`` beside the project)."""
        self.training.timer.stop()
        stopped = self.worker.stop()
        self.reader.stop()
        if stopped:
            lockfile.remove_if_free(self.project_path)
