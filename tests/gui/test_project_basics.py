"""Delete → Undo, File ▸ Close project, and the training curves' CSV, driven through the window."""
import csv

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QFileDialog, QPushButton
from test_trash import add_run

from mfdv_engine.project.store import Project
from mfdv_studio import jobs
from mfdv_studio.main_window import MainWindow

from .conftest import wait_results


@pytest.fixture
def win(qtbot, tmp_path):
    """A window on a project with two finished runs (r001 with a robustness row each)."""
    p = tmp_path / "p.mfdv.h5"
    proj = Project.open(p, create=True)
    add_run(proj, "alpha")
    add_run(proj, "beta")
    w = MainWindow(p)
    w.confirm = lambda title, text: True
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.run_model.rowCount() == 2, timeout=30_000)
    yield w
    w.shutdown()


def test_delete_then_undo_restores_the_run_in_the_explorer(qtbot, win):
    asked = []
    win.confirm = lambda title, text: asked.append(title) or False  # a delete asks nothing
    assert not win.menus.undo.isEnabled()
    win.explorer.select_run("r001")   # its curves are on the Training tab
    qtbot.waitUntil(lambda: "r001" in win.training.status.text(), timeout=30_000)
    win.explorer.delete_requested.emit("r001")  # the context menu's Delete
    wait_results(qtbot, win, 1)
    qtbot.waitUntil(lambda: win.run_model.rowCount() == 1, timeout=30_000)
    assert "r001" not in win.training.status.text(), "a deleted run's curves do not stay under its name"
    assert not win.errors and not asked
    assert list(win.snapshot.names()) == ["r002"]
    assert "Moved run r001 to the trash" in win.statusBar().currentMessage()
    assert win.menus.undo.isEnabled() and win.menus.undo.text() == "&Undo delete r001"
    assert [t.info.run_id for t in Project.open(win.project_path).trashed_runs()] == ["r001"]

    win.menus.undo.trigger()  # Edit ▸ Undo (Ctrl+Z)
    assert not win.menus.undo.isEnabled()
    wait_results(qtbot, win, 2)
    qtbot.waitUntil(lambda: win.run_model.rowCount() == 2, timeout=30_000)
    assert not win.errors
    assert list(win.snapshot.names()) == ["r001", "r002"] and win.snapshot.names()["r001"] == "alpha"
    assert len(win.snapshot.entry("r001").rows) == 1  # its robustness row came back with it
    assert Project.open(win.project_path).trashed_runs() == []
    assert "Restored run r001" in win.statusBar().currentMessage()
    qtbot.waitUntil(lambda: win.selected_runs() == ["r001"], timeout=30_000)   # Undo reselects what it restored


def test_a_run_training_now_is_not_deleted(qtbot, win):
    win.live_run = "r002"
    win.delete_run("r002")
    assert win.errors and "training now" in win.errors[-1][1]
    assert not win.worker.busy() and win.results == []


def test_ctrl_z_in_a_text_field_undoes_its_typing_elsewhere_the_delete(qtbot, win):
    win.delete_run("r001")
    wait_results(qtbot, win, 1)
    qtbot.waitUntil(lambda: win.run_model.rowCount() == 1, timeout=30_000)
    win.activateWindow()
    win.tabs.setCurrentWidget(win.robustness)
    box = win.robustness.filter
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=5000)
    qtbot.keyClicks(box, "pgd")
    qtbot.keyClick(box, Qt.Key_Z, Qt.ControlModifier)
    assert box.text() == ""                          # the field's own undo
    assert win.trashed and not win.worker.busy()     # and no restore was submitted
    win.explorer.setFocus()
    qtbot.waitUntil(win.explorer.hasFocus, timeout=5000)
    qtbot.keyClick(win.explorer, Qt.Key_Z, Qt.ControlModifier)  # anywhere else: Edit ▸ Undo
    wait_results(qtbot, win, 2)
    qtbot.waitUntil(lambda: win.run_model.rowCount() == 2, timeout=30_000)
    assert not win.trashed and not win.errors


def test_close_project_empties_the_window_and_another_opens(qtbot, win, tmp_path):
    win.explorer.selectAll()
    qtbot.waitUntil(lambda: bool(win.training.overlays) or win.training.buffer.points > 0, timeout=30_000)
    assert win.robustness.model.rowCount() == 2 and win.gallery.run_box.count() == 2

    assert win.menus.close_project.shortcut().toString() == "Ctrl+W"
    win.menus.close_project.trigger()
    assert win.project_path is None and win.windowTitle() == "MFDV Studio"
    assert win.run_model.rowCount() == 0 and win.robustness.model.rowCount() == 0
    assert win.gallery.run_box.count() == 0 and win.boundaries.run_box.count() == 0
    assert win.training.buffer.points == 0 and win.training.overlays == {}
    assert not win.menus.new_run.isEnabled() and not win.menus.export_curves.isEnabled()
    win.refresh()
    win.request_curves(["r001"])
    win.submit(jobs.delete_job("r001", "r001"))  # e.g. a view's button: refused in one sentence
    assert "No project is open" in win.errors[-1][1] and not win.worker.busy()

    other = tmp_path / "other.mfdv.h5"
    add_run(Project.open(other, create=True), "gamma")
    win.open_project(str(other))
    qtbot.waitUntil(lambda: win.run_model.rowCount() == 1, timeout=30_000)
    assert win.windowTitle() == "MFDV Studio — other.mfdv.h5" and win.snapshot.names() == {"r001": "gamma"}
    assert win.menus.new_run.isEnabled()


def test_close_is_refused_while_a_job_writes(qtbot, win, monkeypatch):
    asked, cancelled = [], []
    monkeypatch.setattr(win.worker, "busy", lambda: True)
    monkeypatch.setattr(win, "cancel_job", lambda: cancelled.append(1))
    win.confirm = lambda title, text: asked.append(text) or False
    assert win.close_project() is False
    assert "still writing to this project" in asked[0] and cancelled == []
    win.confirm = lambda title, text: True
    assert win.close_project() is False and cancelled == [1]  # stopped, and the project stays open
    assert win.project_path is not None and win.run_model.rowCount() == 2


def test_export_training_curves_writes_the_stored_points(qtbot, win, tmp_path, monkeypatch):
    out = tmp_path / "curves.csv"
    win.export_curves(str(out), ["r001", "r002"])  # File ▸ Export training curves… with both runs
    qtbot.waitUntil(out.exists, timeout=30_000)
    lines = list(csv.reader(open(out)))
    assert lines[0] == ["run_id", "kind", "step", "epoch", "loss", "test_acc"]
    stored = Project.open(win.project_path).curves("r002")
    want = [["r002", "step", "1", "0", "2", ""], ["r002", "step", "2", "0", "1.5", ""],
            ["r002", "epoch", "2", "1", "", "0.5"]]
    assert stored["step"]["loss"].tolist() == [2.0, 1.5] and lines[4:] == want
    assert [row[0] for row in lines[1:]] == ["r001"] * 3 + ["r002"] * 3

    # the Training view's button: the selected run only
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    win.explorer.selectionModel().select(win.run_model.index(1, 0), flags)
    assert win.selected_runs() == ["r002"]
    one = tmp_path / "one.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(one), ""))
    (button,) = [b for b in win.training.findChildren(QPushButton) if b.text() == "Export CSV…"]
    button.click()
    qtbot.waitUntil(one.exists, timeout=30_000)
    assert list(csv.reader(open(one)))[1:] == want
    qtbot.waitUntil(lambda: "wrote 3 rows" in win.statusBar().currentMessage(), timeout=10_000)


def test_the_delete_key_in_the_project_panel_trashes_the_selected_runs(qtbot, win):
    """As docs/studio.md says: Delete moves the selected runs to the trash (Edit ▸ Undo brings each back);
    in a text field the key still deletes text."""
    assert win.menus.trash.shortcut().toString() == "Del"
    win.explorer_panel.filter.setFocus()
    qtbot.waitUntil(win.explorer_panel.filter.hasFocus, timeout=5000)
    qtbot.keyClicks(win.explorer_panel.filter, "x")
    qtbot.keyClick(win.explorer_panel.filter, Qt.Key_Home)
    qtbot.keyClick(win.explorer_panel.filter, Qt.Key_Delete)
    assert win.explorer_panel.filter.text() == "" and not win.worker.busy() and win.results == []
    win.explorer.select_runs(["r001", "r002"])
    win.explorer.setFocus()
    qtbot.waitUntil(win.explorer.hasFocus, timeout=5000)
    qtbot.keyClick(win.explorer, Qt.Key_Delete)
    wait_results(qtbot, win, 2)
    qtbot.waitUntil(lambda: win.run_model.rowCount() == 0, timeout=30_000)
    assert not win.errors and sorted(rid for _, rid in win.trashed) == ["r001", "r002"]
    win.menus.undo.trigger()
    wait_results(qtbot, win, 3)
    qtbot.waitUntil(lambda: win.run_model.rowCount() == 1, timeout=30_000)


def test_a_clean_quit_leaves_no_lock_file_but_another_writers_lock_stays(qtbot, win):
    import fcntl
    import os

    lock = win.project_path.with_name(win.project_path.name + ".lock")
    win.delete_run("r001")   # a write: the engine leaves <project>.lock behind
    wait_results(qtbot, win, 1)
    assert lock.exists()
    fd = os.open(lock, os.O_RDWR)   # another process (`mfdv train`) writing now: its lock is not ours to remove
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        win.shutdown()
        assert lock.exists()
    finally:
        os.close(fd)
    win.close()   # the clean quit: File ▸ Quit
    assert not lock.exists()
    assert Project.open(win.project_path).runs()[0].run_id == "r002"


def test_a_project_in_a_missing_folder_is_refused_not_created(qtbot, win, tmp_path, capsys):
    from mfdv_studio.app import main

    missing = tmp_path / "missing-folder" / "new.mfdv.h5"
    assert main([str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"mfdv-studio: error: the folder {missing.parent} for project new.mfdv.h5 does not "
                           "exist; create it first or choose another path")
    win.open_project(missing)   # File ▸ New project… with a typed path: the same sentence in a dialog
    qtbot.waitUntil(lambda: bool(win.errors), timeout=30_000)
    assert "does not exist; create it first" in win.errors[-1][1] and not missing.parent.exists()
    assert win.project_path.name == "p.mfdv.h5"
