"""The main window: project explorer, views, menus, status bar; talks to the engine only through the worker."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QItemSelectionModel, QPoint, Qt, Slot
from PySide6.QtGui import QAction, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDockWidget,
                               QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMainWindow, QMenu,
                               QMessageBox, QProgressBar, QPushButton, QSpinBox, QTabWidget, QTreeView, QWidget)

from mfdv_engine.errors import MfdvError
from mfdv_engine.evaluation import Protocol, Row
from mfdv_engine.safetext import printable  # every string from a file, before it becomes widget text
from mfdv_engine.store import Project

from . import jobs, settings as st
from .views.boundaries import BoundariesView
from .views.gallery import GalleryView
from .views.robustness import RobustnessView
from .views.training import TrainingView
from .worker import EngineWorker, describe_error

STATUS_COLORS = {"running": "#1f77b4", "finished": "#2ca02c", "interrupted": "#ff7f0e", "failed": "#d62728"}
ROW_FIELDS = set(Row.__dataclass_fields__)


def protocol_of(d: dict) -> str:
    """The engine's own protocol sentence for a stored row."""
    try:
        return Row(**{k: v for k, v in d.items() if k in ROW_FIELDS}).protocol_line()
    except TypeError:
        return d.get("key", "")


class PreferencesDialog(QDialog):
    def __init__(self, s, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.s = s
        f = QFormLayout(self)
        self.data_root = QLineEdit(st.pref(s, "data_root", ""))
        self.data_root.setPlaceholderText("default: the user data folder (datasets/)")
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.data_root, 1)
        row.addWidget(browse)
        host = QWidget()
        host.setLayout(row)
        self.downloads = QCheckBox("allow downloading data sets (needs internet)")
        self.downloads.setChecked(st.pref(s, "allow_downloads", False))
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(st.pref(s, "device", "auto"))
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("PyTorch default")
        self.threads.setValue(st.pref(s, "threads", 0))
        f.addRow("Data folder", host)
        f.addRow("", self.downloads)
        f.addRow("Default device", self.device)
        f.addRow("CPU threads", self.threads)
        bb = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        f.addRow(bb)

    @Slot()
    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Data folder", self.data_root.text())
        if d:
            self.data_root.setText(d)

    def save(self) -> None:
        self.s.setValue("prefs/data_root", self.data_root.text().strip())
        self.s.setValue("prefs/allow_downloads", self.downloads.isChecked())
        self.s.setValue("prefs/device", self.device.currentText())
        self.s.setValue("prefs/threads", self.threads.value())


class MainWindow(QMainWindow):
    def __init__(self, project_path: str | Path | None = None, *, settings=None) -> None:
        super().__init__()
        self.settings = settings or st.settings()
        self.project_path: Path | None = None
        self.runs: list = []
        self.last_error_box: QMessageBox | None = None
        self.errors: list[tuple[str, str, str]] = []
        self.results: list[tuple[str, dict]] = []
        self._job_t0 = 0.0
        self._job_title = ""
        self._live_run: str | None = None

        # the one engine worker
        self.worker = EngineWorker()
        self.worker.progress.connect(self.on_progress, Qt.QueuedConnection)
        self.worker.event.connect(self.on_event, Qt.QueuedConnection)
        self.worker.job_started.connect(self.on_job_started, Qt.QueuedConnection)
        self.worker.job_finished.connect(self.on_job_finished, Qt.QueuedConnection)
        self.worker.job_failed.connect(self.on_job_failed, Qt.QueuedConnection)
        self.worker.ready.connect(self.on_engine_ready, Qt.QueuedConnection)
        self.worker.start()

        # views
        self.training = TrainingView()
        self.robustness = RobustnessView()
        self.gallery = GalleryView()
        self.boundaries = BoundariesView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.training, "Training")
        self.tabs.addTab(self.robustness, "Robustness")
        self.tabs.addTab(self.gallery, "Gallery")
        self.tabs.addTab(self.boundaries, "Decision boundaries")
        self.setCentralWidget(self.tabs)
        self.robustness.attack_requested.connect(self.new_attack)
        self.robustness.checklist_requested.connect(self.run_checklist)
        self.robustness.sweep_requested.connect(self.run_sweep)
        self.boundaries.compute_requested.connect(self.compute_boundaries)

        # explorer
        self.run_model = QStandardItemModel(0, 3, self)
        self.run_model.setHorizontalHeaderLabels(["run", "status", "clean acc"])
        self.explorer = QTreeView()
        self.explorer.setModel(self.run_model)
        self.explorer.setRootIsDecorated(False)
        self.explorer.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.explorer.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.explorer.setContextMenuPolicy(Qt.CustomContextMenu)
        self.explorer.customContextMenuRequested.connect(self._explorer_menu)
        self.explorer.selectionModel().selectionChanged.connect(self._selection_changed)
        dock = QDockWidget("Project", self)
        dock.setObjectName("explorer")
        dock.setWidget(self.explorer)
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)

        # status bar
        self.device_label = QLabel()
        self.job_label = QLabel("starting the engine (loading torch modules)…")
        self.job_label.setTextFormat(Qt.PlainText)  # job titles quote run names: never rich text
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setFormat("%p%")
        self.eta_label = QLabel("")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_job)
        sb = self.statusBar()
        sb.addWidget(self.job_label, 1)
        sb.addPermanentWidget(self.progress_bar)
        sb.addPermanentWidget(self.eta_label)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.device_label)

        self._build_menus()
        self._apply_prefs()
        geo = self.settings.value("geometry")
        if isinstance(geo, (QByteArray, bytes)):
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 820)
        if project_path is not None:
            self.open_project(project_path)

    # ---------------------------------------------------------------- menus
    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self._act(m, "&New project…", self.new_project_dialog, "Ctrl+N")
        self._act(m, "&Open…", self.open_project_dialog, "Ctrl+O")
        self.recent_menu = m.addMenu("Open &Recent")
        self._act(m, "Save &As…", self.save_as_dialog, "Ctrl+Shift+S")
        self._act(m, "&Export CSV…", self.export_csv_dialog, "Ctrl+E")
        m.addSeparator()
        self._act(m, "&Preferences…", self.preferences)
        self._act(m, "&Quit", self.close, "Ctrl+Q")
        r = self.menuBar().addMenu("&Run")
        self._act(r, "New &training run…", self.new_training_run, "Ctrl+T")
        self._act(r, "New &attack evaluation…", self.new_attack, "Ctrl+A")
        self._act(r, "Obfuscation &checklist", self.run_checklist)
        self._act(r, "&Cancel job", self.cancel_job, "Esc")
        self._update_recent_menu()

    def _act(self, menu: QMenu, text: str, slot, shortcut: str | None = None) -> QAction:
        a = QAction(text, self)
        if shortcut:
            a.setShortcut(shortcut)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in st.recent_files(self.settings):
            a = QAction(printable(p), self)
            a.setData(p)
            a.triggered.connect(self._open_recent)
            self.recent_menu.addAction(a)
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    @Slot()
    def _open_recent(self) -> None:
        a = self.sender()
        if isinstance(a, QAction):
            self.open_project(a.data())

    # ---------------------------------------------------------------- preferences
    def _apply_prefs(self) -> None:
        threads = st.pref(self.settings, "threads", 0)
        if threads:
            import torch
            torch.set_num_threads(threads)
        from mfdv_engine.training import describe_device, resolve_device
        try:
            self.device_label.setText(describe_device(resolve_device(self.default_device())))
        except MfdvError as e:
            self.device_label.setText(printable(e))

    def default_device(self) -> str:
        return st.pref(self.settings, "device", "auto")

    def data_root(self) -> str | None:
        return st.pref(self.settings, "data_root", "") or None

    @Slot()
    def preferences(self) -> None:
        d = PreferencesDialog(self.settings, self)
        if d.exec() == QDialog.Accepted:
            d.save()
            self._apply_prefs()

    # ---------------------------------------------------------------- project
    def open_project(self, path, create: bool = True) -> bool:
        try:
            p = Path(path).expanduser().resolve()
            p.parent.mkdir(parents=True, exist_ok=True) if create and not p.exists() else None
            Project.open(p, create=create)
        except (MfdvError, OSError) as e:
            self.show_error("Cannot open project", *describe_error(e))
            return False
        self.project_path = p
        self.setWindowTitle(printable(f"MFDV Studio — {p.name}"))
        st.push_recent(self.settings, str(p))
        self._update_recent_menu()
        self.refresh()
        return True

    def project(self) -> Project:
        return Project.open(self.project_path)

    @Slot()
    def refresh(self) -> None:
        """Reload runs, rows and galleries from the project file (reading needs no lock)."""
        if self.project_path is None:
            return
        try:
            proj = self.project()
            self.runs = proj.runs()
            rows, by_run = [], {}
            for info in self.runs:
                rr = []
                for r in proj.eval_rows(info.run_id):
                    r = dict(r, run_id=info.run_id, run_name=info.name, protocol=protocol_of(r))
                    rr.append(r)
                by_run[info.run_id] = rr
                rows += rr
        except MfdvError as e:
            self.show_error("Cannot read the project", *describe_error(e))
            return
        selected = set(self.selected_runs())
        self.run_model.removeRows(0, self.run_model.rowCount())
        for info in self.runs:
            status = "running" if info.run_id == self._live_run else info.status
            name = QStandardItem(printable(f"{info.name} ({info.run_id})"))
            name.setData(info.run_id, Qt.UserRole)
            name.setToolTip(printable(info.message or info.status, multiline=True))
            s = QStandardItem(printable(status))
            s.setForeground(_brush(STATUS_COLORS.get(status, "#000")))
            acc = info.final.get("clean_acc")
            a = QStandardItem("" if acc is None else f"{acc:.2%}")
            a.setToolTip(printable(info.final.get("clean_acc_protocol", "")))
            for it in (name, s, a):
                it.setEditable(False)
            self.run_model.appendRow([name, s, a])
        for i in range(self.run_model.rowCount()):
            if self.run_model.item(i, 0).data(Qt.UserRole) in selected:
                self.explorer.selectionModel().select(  # (the enum is not reachable through the instance in PySide6)
                    self.run_model.index(i, 0), QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
        self.explorer.resizeColumnToContents(0)
        self.robustness.set_rows(rows)
        names = {i.run_id: i.name for i in self.runs}
        self.gallery.set_source(self._load_gallery, by_run, names)
        self.boundaries.set_runs([(i.run_id, f"{i.name} ({i.run_id}, {i.config['data']['name']})")
                                  for i in self.runs if i.epochs_done > 0])

    def _load_gallery(self, run_id: str, key: str):
        return self.project().gallery(run_id, key)

    def selected_runs(self) -> list[str]:
        out = []
        for idx in self.explorer.selectionModel().selectedRows(0):
            out.append(self.run_model.item(idx.row(), 0).data(Qt.UserRole))
        return out

    @Slot()
    def _selection_changed(self, *_) -> None:
        ids = self.selected_runs()
        if self.project_path is None:
            return
        names = {i.run_id: i.name for i in self.runs}
        proj = self.project()
        try:
            if len(ids) == 1 and ids[0] != self._live_run and not self.worker.busy():
                self.training.set_overlays({})
                self.training.show_curves(proj.curves(ids[0]), f"{names.get(ids[0])} ({ids[0]})")
            else:
                self.training.set_overlays({r: {"name": names.get(r, r), "curves": proj.curves(r)}
                                            for r in ids if r != self._live_run})
        except MfdvError:
            pass

    @Slot(QPoint)
    def _explorer_menu(self, pos) -> None:
        idx = self.explorer.indexAt(pos)
        if not idx.isValid():
            return
        rid = self.run_model.item(idx.row(), 0).data(Qt.UserRole)
        info = next((i for i in self.runs if i.run_id == rid), None)
        m = QMenu(self)
        a_res = m.addAction("Resume")
        a_res.setEnabled(info is not None and info.status in ("interrupted", "failed"))
        a_att = m.addAction("Attack…")
        a_dup = m.addAction("Duplicate config…")
        m.addSeparator()
        a_del = m.addAction("Delete…")
        chosen = m.exec(self.explorer.viewport().mapToGlobal(pos))
        if chosen is a_res:
            self.resume_run(rid)
        elif chosen is a_att:
            self.new_attack(preselect=[rid])
        elif chosen is a_dup:
            self.duplicate_run(rid)
        elif chosen is a_del:
            self.delete_run(rid)

    # ---------------------------------------------------------------- file actions
    @Slot()
    def new_project_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New project", str(st.data_dir() / "project.mfdv.h5"),
                                              "MFDV project (*.mfdv.h5)")
        if path:
            if not path.endswith(".h5"):
                path += ".mfdv.h5"
            self.open_project(path, create=True)

    @Slot()
    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(st.data_dir()), "MFDV project (*.mfdv.h5 *.h5)")
        if path:
            self.open_project(path, create=False)

    def save_as(self, path: str) -> bool:
        if self.worker.busy():
            self.show_error("Save As", "Wait for the running job to finish (or cancel it) before copying the project.", "")
            return False
        try:
            shutil.copyfile(self.project_path, path)
        except OSError as e:
            self.show_error("Save As", f"Could not copy the project to {path}: {e.strerror}.", "")
            return False
        return self.open_project(path, create=False)

    @Slot()
    def save_as_dialog(self) -> None:
        if self.project_path is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", str(self.project_path), "MFDV project (*.mfdv.h5)")
        if path:
            self.save_as(path)

    @Slot()
    def export_csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export robustness rows (all protocol fields)", "robustness.csv",
                                              "CSV (*.csv)")
        if path:
            from mfdv_engine.export import export_csv
            try:
                n = export_csv(self.project(), path)
                self.statusBar().showMessage(printable(f"wrote {n} rows to {path}"), 5000)
            except MfdvError as e:
                self.show_error("Export CSV", *describe_error(e))

    # ---------------------------------------------------------------- jobs
    def submit(self, job: jobs.Job) -> None:
        self.worker.submit(job)
        if self.worker.pending() > 1 or self.worker.current is not None:
            self.statusBar().showMessage(printable(f"queued: {job.title}"), 4000)

    def start_training(self, config, resume: str | None = None) -> None:
        if st.pref(self.settings, "allow_downloads", False) and config is not None:
            config = config.with_overrides(["data.download=true"])
        self.submit(jobs.train_job(str(self.project_path), config, resume=resume, data_root=self.data_root(),
                                   device=None if config is not None and config.train.device != "auto"
                                   else self.default_device()))

    @Slot()
    def new_training_run(self) -> None:
        from .wizards import NewRunWizard
        w = NewRunWizard(self, default_device=self.default_device())
        if w.exec() == QDialog.Accepted:
            self._start_from_wizard(w)

    def _start_from_wizard(self, w) -> None:
        try:
            cfg = w.config()
        except MfdvError as e:
            self.show_error("New training run", *describe_error(e))
            return
        self.start_training(cfg)

    def duplicate_run(self, run_id: str) -> None:
        from mfdv_engine.config import RunConfig
        from .wizards import NewRunWizard
        info = next(i for i in self.runs if i.run_id == run_id)
        w = NewRunWizard(self, default_device=self.default_device())
        w.load_config(RunConfig.from_dict(info.config), name=f"{info.name}-copy")
        if w.exec() == QDialog.Accepted:
            self._start_from_wizard(w)

    def resume_run(self, run_id: str) -> None:
        self.submit(jobs.train_job(str(self.project_path), None, resume=run_id, data_root=self.data_root(),
                                   device=self.default_device()))

    def confirm(self, title: str, text: str) -> bool:
        """Ask yes/no (tests replace this)."""
        return QMessageBox.question(self, title, text) == QMessageBox.Yes

    def delete_run(self, run_id: str) -> None:
        if run_id == self._live_run:
            self.show_error("Delete run", "This run is training now; cancel it before deleting it.", "")
            return
        if self.confirm("Delete run", printable(f"Delete run {run_id} with its curves, checkpoint and tables? "
                                                "This cannot be undone.")):
            self.submit(jobs.delete_job(str(self.project_path), run_id))

    @Slot()
    def new_attack(self, preselect: list[str] | None = None) -> None:
        from .wizards import AttackWizard
        runs = [(i.run_id, f"{i.name} ({i.run_id})") for i in self.runs if i.epochs_done > 0]
        w = AttackWizard(runs, self, preselect=preselect or self.selected_runs())
        if w.exec() == QDialog.Accepted:
            try:
                self.start_attack(**w.request())
            except MfdvError as e:
                self.show_error("New attack evaluation", *describe_error(e))

    def start_attack(self, runs: list[str], attacks: str, eps: float | None, proto: Protocol, device: str = "auto",
                     params=()) -> None:
        try:
            for rid in runs:
                self.submit(jobs.attack_job(str(self.project_path), rid, attacks, eps=eps, proto=proto, params=params,
                                            data_root=self.data_root(), device=device))
        except MfdvError as e:
            self.show_error("Attack", *describe_error(e))

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
                                           data_root=self.data_root(), device=self.default_device()))

    @Slot(str)
    def run_sweep(self, kind: str) -> None:
        rid = self._target_run()
        if rid:
            values = {"eps": [0, 2 / 255, 8 / 255, 32 / 255, 0.1, 0.2, 0.3], "steps": [1, 2, 5, 10, 20, 50],
                      "eot": [1, 2, 5, 10, 20, 50, 100]}[kind]
            self.submit(jobs.sweep_job(str(self.project_path), rid, kind, proto=Protocol(n=200, eot_samples=10),
                                       values=values, data_root=self.data_root(), device=self.default_device(),
                                       loss=self.robustness.sweep_loss_choice()))

    @Slot(str)
    def compute_boundaries(self, run_id: str) -> None:
        self.submit(jobs.boundaries_job(str(self.project_path), run_id, data_root=self.data_root(),
                                        device=self.default_device()))

    @Slot()
    def cancel_job(self) -> None:
        if self.worker.busy():
            self.job_label.setText(printable(f"cancelling {self._job_title}…"))
            self.worker.cancel()

    # ---------------------------------------------------------------- worker slots (GUI thread)
    @Slot()
    def on_engine_ready(self) -> None:
        if not self.worker.busy():
            self.job_label.setText("idle")

    @Slot(str)
    def on_job_started(self, title: str) -> None:
        self._job_t0 = time.monotonic()
        self._job_title = title
        self.job_label.setText(printable(title))
        self.progress_bar.setValue(0)
        self.eta_label.setText("")
        self.cancel_button.setEnabled(True)

    @Slot(str, float)
    def on_progress(self, what: str, frac: float) -> None:
        self.progress_bar.setValue(int(1000 * max(0.0, min(1.0, frac))))
        self.job_label.setText(printable(f"{self._job_title}: {what}"))
        el = time.monotonic() - self._job_t0
        if frac > 0.01:
            self.eta_label.setText(f"ETA {_dur(el * (1 - frac) / frac)}")

    @Slot(str, object)
    def on_event(self, kind: str, data: dict) -> None:
        if kind == "run":
            self._live_run = data["run_id"]
            self.training.set_overlays({})
            self.training.start_live(data["run_id"], data.get("config", {}).get("name", ""))
            if data.get("epochs_done"):
                try:
                    self.training.load_existing(self.project().curves(data["run_id"]))
                except MfdvError:
                    pass
            self.tabs.setCurrentWidget(self.training)
            self.refresh()
        elif kind in ("step", "epoch"):
            self.training.add_event(kind, data)
        elif kind == "row":
            info = next((i for i in self.runs if i.run_id == data.get("run_id")), None)
            self.robustness.add_row(dict(data, run_name=info.name if info else ""))
            if self.tabs.currentWidget() is self.training:
                self.tabs.setCurrentWidget(self.robustness)

    @Slot(str, object)
    def on_job_finished(self, title: str, result: dict) -> None:
        self.results.append((title, result))
        kind = result.get("job")
        status = result.get("status", "finished")
        if kind in ("train", "resume"):
            self._live_run = None
            acc = (result.get("final") or {}).get("clean_acc")
            self.training.finish_live(f"run {result.get('run_id')}: {status}" +
                                      (f", clean accuracy {acc:.2%}" if acc is not None else ""))
        elif kind == "checklist":
            self.robustness.set_checklist(result["run_id"], result["items"])
            self.tabs.setCurrentWidget(self.robustness)
        elif kind == "boundaries":
            self.boundaries.show_result(result)
        self._job_done(f"{title}: {status}")
        if kind != "boundaries":
            self.refresh()

    @Slot(str, str, str)
    def on_job_failed(self, title: str, sentence: str, details: str) -> None:
        self._live_run = None
        self._job_done(f"{title}: failed")
        self.training.finish_live(f"{title} failed: {sentence}")
        self.refresh()
        self.show_error(title, sentence, details)

    def _job_done(self, text: str) -> None:
        self.job_label.setText(printable(text))
        self.progress_bar.setValue(1000 if "finished" in text else self.progress_bar.value())
        self.eta_label.setText("")
        self.cancel_button.setEnabled(self.worker.busy())

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

    # ---------------------------------------------------------------- closing
    def closeEvent(self, e) -> None:
        if self.worker.busy():
            if not self.confirm("Quit", printable(f"{self._job_title or 'A job'} is still running. Stop it and quit? "
                                                  "A training run stays resumable from its last finished epoch.")):
                e.ignore()
                return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.sync()
        self.training.timer.stop()
        self.worker.stop()
        super().closeEvent(e)

    def shutdown(self) -> None:
        """Stop and join the worker (tests, app exit)."""
        self.training.timer.stop()
        self.worker.stop()


def _brush(color: str):
    from PySide6.QtGui import QBrush, QColor
    return QBrush(QColor(color))


def _dur(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}:{s % 60:02d}" if s >= 60 else f"{s} s"
