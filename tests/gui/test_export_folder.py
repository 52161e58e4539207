"""Issue 21, item 1: every export dialog opens in the folder last exported to (kept in QSettings),
at first the project's folder — never the folder the studio was started from."""
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog
from test_trash import add_run

from mfdv_engine.project.store import Project
from mfdv_studio.export_folder import KEY
from mfdv_studio.main_window import MainWindow


@pytest.fixture
def win(qtbot, tmp_path):
    p = tmp_path / "proj" / "p.mfdv.h5"
    p.parent.mkdir()
    add_run(Project.open(p, create=True), "alpha")
    w = MainWindow(p)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.run_model.rowCount() == 1, timeout=30_000)
    yield w
    w.shutdown()


def _dialogs(win):
    """Each export dialog of the studio, as its button or menu item opens it."""
    return {"compare csv": lambda: win.compare._export_dialog("csv"), "robustness csv": win.robustness._export_dialog,
            "plots png": win.training._export_png_dialog, "plots svg": win.training._export_svg_dialog,
            "rows csv": win.export_csv_dialog, "curves csv": win.export_curves_dialog}


def test_export_dialogs_open_in_the_project_folder_then_in_the_last_one_used(qtbot, win, tmp_path, monkeypatch):
    asked: list[str] = []
    answer = {"path": ""}

    def fake(parent, title, start, filt):
        asked.append(start)
        return answer["path"], ""

    monkeypatch.chdir(tmp_path)   # (the folder the studio was started from: never offered)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake))
    for name, open_dialog in _dialogs(win).items():
        open_dialog()   # cancelled
        assert Path(asked[-1]).parent == win.project_path.parent, (name, asked[-1])
    out = tmp_path / "figures"
    out.mkdir()
    answer["path"] = str(out / "curves.png")
    win.training._export_png_dialog()
    assert (out / "curves.png").is_file()
    assert win.settings.value(KEY) == str(out)
    answer["path"] = ""
    for name, open_dialog in _dialogs(win).items():
        open_dialog()
        assert Path(asked[-1]).parent == out, (name, asked[-1])
    # the default file name stays each dialog's own
    assert {Path(a).name for a in asked[-6:]} == {"robustness-matrix.csv", "robustness.csv", "curves.png",
                                                  "curves.svg", "curves.csv"}


def test_a_remembered_folder_that_is_gone_falls_back_to_the_project_folder(qtbot, win, tmp_path, monkeypatch):
    win.settings.setValue(KEY, str(tmp_path / "deleted-since"))
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda p, t, start, f: asked.append(start) or ("", "")))
    win.robustness._export_dialog()
    assert Path(asked[0]).parent == win.project_path.parent
