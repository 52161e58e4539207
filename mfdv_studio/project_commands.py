"""Project basics the window offers: delete with undo, close the project, export training curves.

A mixin of :class:`~mfdv_studio.main_window.MainWindow`, like
:class:`~mfdv_studio.commands.Commands`. Delete asks nothing, as desktop apps
do: the engine moves the run to the project's trash and Edit ▸ Undo (Ctrl+Z)
brings it back; both are write jobs on the engine worker. Closing the project
empties every view; the curves export is a read job on the reader.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QDialog

from mfdv_engine.safetext import printable  # run ids and job titles come from the project file

from . import jobs, lockfile, reads
from .annotate_dialog import AnnotateDialog


class ProjectCommands:
    """Mixed into MainWindow; uses its ``worker``, ``reader``, ``menus``, ``status`` and views.
    ``trashed`` holds (project, run id) of the runs this window deleted, newest last: what Undo restores."""

    trashed: list[tuple[Path, str]]

    # ---------------------------------------------------------------- delete and undo
    @Slot(str)
    def delete_run(self, run_id: str) -> None:
        if self.project_path is None:
            return
        if run_id == self.live_run:
            self.show_error("Delete run", "This run is training now; cancel it before deleting it.", "")
            return
        self.submit(jobs.delete_job(str(self.project_path), run_id))

    @Slot()
    def delete_selected_runs(self) -> None:
        """Edit ▸ Move selected runs to the trash (Delete in the Project panel), as the context menu's Delete."""
        ids = self.selected_runs()
        if not ids:
            self.status.message("Select a run in the Project panel first", 5000)
        for rid in ids:
            self.delete_run(rid)

    @Slot()
    def undo(self) -> None:
        """Restore the run this window deleted last in the open project."""
        mine = [i for i, (path, _) in enumerate(self.trashed) if path == self.project_path]
        if not mine:
            return
        _, run_id = self.trashed.pop(mine[-1])
        self.update_undo()
        self.submit(jobs.restore_job(str(self.project_path), run_id))

    def update_undo(self) -> None:
        """Undo names what it restores, and is off when this project has nothing to restore."""
        mine = [rid for path, rid in self.trashed if path == self.project_path]
        self.menus.undo.setEnabled(bool(mine))
        self.menus.undo.setText(printable(f"&Undo delete {mine[-1]}") if mine else "&Undo")

    def trash_job_returned(self, job: jobs.Job, result: dict) -> None:
        """A delete or restore finished: remember it for Undo, and say so in the status bar."""
        rid = result.get("run_id", "")
        if job.kind == "delete":
            self.trashed.append((Path(job.meta["project"]), rid))  # (another project may be open by now)
            self.update_undo()
            self.status.message(f"Moved run {rid} to the trash — Undo: Ctrl+Z (Edit ▸ Undo)", 15000)
        else:
            self.explorer.select_after_refresh([rid])   # back where it was, and selected, as Undo is expected to
            self.status.message(f"Restored run {rid}", 5000)

    # ---------------------------------------------------------------- notes and tags
    @Slot()
    def annotate_selected_run(self) -> None:
        ids = self.selected_runs()
        if not ids:
            self.status.message("Select a run in the Project panel first", 5000)
            return
        self.annotate_run(ids[0])

    @Slot(str)
    def annotate_run(self, run_id: str) -> None:
        """Edit a run's notes and tags in a dialog; stored by a job on the engine worker."""
        entry = self.snapshot.entry(run_id)
        if entry is None or self.project_path is None:
            return
        known = sorted({t for i in self.snapshot.infos() for t in i.tags})
        d = AnnotateDialog(f"{entry.info.name} ({run_id})", entry.info.notes, list(entry.info.tags), known, self)
        if d.exec() == QDialog.Accepted:
            self.submit(jobs.annotate_job(str(self.project_path), run_id, notes=d.notes(), tags=d.tags()))

    # ---------------------------------------------------------------- close
    @Slot()
    def close_project(self) -> bool:
        """Drop the project from the window; refused (offering to cancel) while a job writes to it."""
        if self.project_path is None:
            return True
        if self.worker.busy():
            title = self.status.title or "A job"
            if self.confirm("Close project", printable(f"{title} is still writing to this project. Stop it now? "
                                                       "Close the project again once it has stopped; a training "
                                                       "run stays resumable from its last finished epoch.")):
                self.cancel_job()
            return False
        lockfile.remove_if_free(self.project_path)   # (no job of ours writes it now; another process's lock stays)
        self.project_path = self._opened_path = self.exports.project = None
        self.live_run = None
        self.snapshot = reads.Snapshot(Path())
        self.render_snapshot(self.snapshot)
        self.training.set_overlays({})
        self.training.show_curves({}, "no project open")
        self.robustness.checklist_pane.clear()
        self.gallery.legend.setText("")
        self.boundaries.graphics.clear()
        self.boundaries.result = None
        self.setWindowTitle("MFDV Studio")
        self.menus.set_project_open(False)
        self.update_undo()
        self.status.message("Closed the project; File ▸ Open… or New project… opens another", 5000)
        return True

    # ---------------------------------------------------------------- export
    @Slot()
    def export_curves_dialog(self) -> None:
        """The selected runs' stored curves (every run when none is selected) as CSV."""
        if self.project_path is None:
            return
        ids = self.selected_runs()
        which = ", ".join(ids) if ids else "every run"
        path = self.exports.ask(self, printable(f"Export training curves of {which}"), "curves.csv", "CSV (*.csv)")
        if path:
            self.export_curves(path, ids or None)

    def export_curves(self, path: str, run_ids: list[str] | None) -> None:
        """Write on the reader; its ``Exported`` result says how many lines in the status bar."""
        if self.project_path is not None:
            self.reader.submit(reads.curves_export_job(self.project_path, run_ids, path))
