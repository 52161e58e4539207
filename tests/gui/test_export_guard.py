"""Issue 22: every export dialog of the studio pointed at the open project (or its lock) is refused
in one sentence, and the project stays byte for byte what it was."""
import hashlib

import pytest
from PySide6.QtWidgets import QFileDialog
from test_trash import add_run

from mfdv_engine.project.store import Project
from mfdv_studio.main_window import MainWindow



def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def win(qtbot, tmp_path):
    p = tmp_path / "p.mfdv.h5"
    proj = Project.open(p, create=True)
    add_run(proj, "alpha")
    w = MainWindow(p)
    w.confirm = lambda title, text: True
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.run_model.rowCount() == 1, timeout=30_000)
    yield w
    w.shutdown()


@pytest.mark.parametrize("target", ["project", "lock"])
def test_every_export_dialog_aimed_at_the_project_is_refused(qtbot, win, monkeypatch, target):
    p = win.project_path
    aim = p if target == "project" else p.with_name(p.name + ".lock")
    if target == "lock":
        aim.touch()
    before = _sha(p)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(aim), "")))
    win.compare._export_dialog("csv")
    assert "not written" in win.compare.details.toPlainText() and str(p.name) in win.compare.details.toPlainText()
    win.robustness._export_dialog()
    assert "not written" in win.robustness.protocol.text()
    win.training._export_png_dialog()
    assert "not written" in win.training.status.text()
    win.export_csv_dialog()   # File ▸ Export robustness rows: a reader job
    win.explorer.select_run("r001")
    win.export_curves_dialog()
    qtbot.waitUntil(lambda: len(win.errors) >= 2, timeout=30_000)
    assert all("HDF5" in e[1] or "lock" in e[1] for e in win.errors[:2]), win.errors
    assert _sha(p) == before
    assert Project.open(p).runs()[0].name == "alpha"
