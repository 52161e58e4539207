"""Issue 21, item 8: a run's notes and tags in the Project panel (edited through ``mfdv.annotate`` on the
engine worker), and the runs filtered by tag or hyper-parameter and grouped by tag, defense, model or data set."""
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

import mfdv_engine as mfdv
from mfdv_engine.project.store import Project, RunInfo
from mfdv_studio import annotate_dialog
from mfdv_studio.explorer import RUN_ID_ROLE
from mfdv_studio.main_window import MainWindow
from mfdv_studio.runfilter import group_of, matches

from .conftest import wait_results

RUNS = (("mfdv-a", "mnist", "mfdv", 0.1, ["baseline"]), ("mfdv-b", "mnist", "mfdv", 0.02, ["sweep", "cifar"]),
        ("plain", "svhn", "none", None, []))


def _add(proj: Project, name: str, data: str, defense: str, lambda1) -> str:
    params = {} if lambda1 is None else {"lambda1": lambda1}
    cfg = {"data": {"name": data}, "model": {"name": "lenet"}, "defense": {"name": defense, "params": params},
           "train": {"lr": 0.05}}
    with proj:
        rid = proj.create_run(cfg, name)
        proj.write_live(rid, status="running", message="", curves={"step": [{"step": 1, "epoch": 0, "loss": 2.0}]},
                        checkpoint={"epoch": 1, "w": torch.ones(2)}, epochs_done=1, final={"clean_acc": 0.5})
        proj.merge_live(rid, "finished")
    return rid


@pytest.fixture
def win(qtbot, tmp_path):
    p = tmp_path / "p.mfdv.h5"
    proj = Project.open(p, create=True)
    for name, data, defense, lam, tags in RUNS:
        rid = _add(proj, name, data, defense, lam)
        if tags:
            mfdv.annotate(p, rid, tags=tags)
    w = MainWindow(p)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.run_model.rowCount() == 3, timeout=30_000)
    yield w
    w.shutdown()


def _listed(win) -> list[str]:
    return [idx.data(RUN_ID_ROLE) for idx in win.run_model.run_indexes()]


def test_tags_show_and_notes_and_tags_are_edited_through_a_job(qtbot, win, monkeypatch):
    assert win.run_model.index(1, 0).data() == "mfdv-b (r002)\ntags: sweep, cifar"   # under the name: no width taken
    assert win.run_model.index(2, 0).data() == "plain (r003)"

    def fill(self):
        self.tags_edit.setText("baseline, lr=high ,  baseline")
        self.notes_edit.setPlainText("σ grew too fast; try λ1 = 0.01")
        return QDialog.Accepted

    monkeypatch.setattr(annotate_dialog.AnnotateDialog, "exec", fill)
    win.explorer.select_run("r003")
    win.menus.annotate.trigger()   # Edit ▸ Notes and tags of the selected run… (also the context menu's)
    wait_results(qtbot, win, 1)
    assert not win.errors
    qtbot.waitUntil(lambda: win.run_model.index(2, 0).data().endswith("\ntags: baseline, lr=high"), timeout=30_000)
    info = next(i for i in mfdv.runs(win.project_path) if i.run_id == "r003")
    assert info.notes == "σ grew too fast; try λ1 = 0.01" and info.tags == ["baseline", "lr=high"]
    assert "σ grew too fast" in win.run_model.index(2, 0).data(Qt.ToolTipRole)


def test_the_dialog_refuses_what_the_engine_would(qtbot):
    d = annotate_dialog.AnnotateDialog("a (r001)", "", [], ["baseline"])
    qtbot.addWidget(d)
    d.tags_edit.setText("x" * 60)
    assert d.error.text() and not d.buttons.button(d.buttons.StandardButton.Ok).isEnabled()
    d.tags_edit.setText("ok, fine")
    assert d.error.text() == "" and d.tags() == ["ok", "fine"]


def test_filter_by_tag_and_hyper_parameter_and_esc_clears_it(qtbot, win):
    box = win.explorer_panel.filter
    for query, want in (("tag:baseline", ["r001"]), ("#sweep", ["r002"]), ("defense=mfdv", ["r001", "r002"]),
                        ("lambda1=0.1", ["r001"]), ("defense.lambda1=0.02", ["r002"]), ("dataset=svhn", ["r003"]),
                        ("lr=0.05 defense!=mfdv", ["r003"]), ("lambda1>0.05", ["r001"]), ("plain", ["r003"]),
                        ("tag=cifar", ["r002"]), ("nothing-like-it", [])):
        box.setText(query)
        assert _listed(win) == want, query
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=5000)
    qtbot.keyClick(box, Qt.Key_Escape)
    assert box.text() == "" and _listed(win) == ["r001", "r002", "r003"]


def test_group_by_defense_tag_and_data_set(qtbot, win):
    group = win.explorer_panel.group
    group.setCurrentIndex(group.findData("defense"))
    m = win.run_model
    assert [m.index(g, 0).data() for g in range(m.rowCount())] == ["mfdv (2 runs)", "none (1 run)"]
    mfdv_group = m.index(0, 0)
    assert [m.index(i, 0, mfdv_group).data(RUN_ID_ROLE) for i in range(m.rowCount(mfdv_group))] == ["r001", "r002"]
    win.explorer.selectionModel().select(mfdv_group, win.explorer.selectionModel().SelectionFlag.ClearAndSelect
                                         | win.explorer.selectionModel().SelectionFlag.Rows)
    assert win.selected_runs() == ["r001", "r002"]   # a group's row stands for its runs
    win.explorer.select_run("r003")
    assert win.selected_runs() == ["r003"]
    group.setCurrentIndex(group.findData("tag"))
    assert [m.index(g, 0).data() for g in range(m.rowCount())] == ["(no tags) (1 run)", "baseline (1 run)",
                                                                   "cifar, sweep (1 run)"]
    assert win.selected_runs() == ["r003"], "the selection stays across a regrouping"
    win.explorer_panel.filter.setText("lenet")   # filter and group together
    group.setCurrentIndex(group.findData("dataset"))
    assert [m.index(g, 0).data() for g in range(m.rowCount())] == ["mnist (2 runs)", "svhn (1 run)"]


def test_filter_terms_on_a_run_record():
    info = RunInfo("r001", "cifar-mfdv", "finished", "", "", "", {"data": {"name": "cifar10", "limit_train": None},
                   "defense": {"name": "mfdv", "params": {"lambda1": 0.1}}, "train": {"amp": True}}, 1, {},
                   notes="the best so far", tags=["Paper"])
    assert matches(info, "") and matches(info, "tag:paper") and matches(info, "best")
    assert matches(info, "lambda1=0.10") and matches(info, "limit_train=null") and matches(info, "amp=yes")
    assert not matches(info, "lambda1=0.2") and not matches(info, "unknown_key=1")
    assert group_of(info, "dataset") == "cifar10" and group_of(info, "tag") == "Paper" and group_of(info, "none") is None


def test_the_grouped_model_passes_the_model_tester(qtbot, win):
    from PySide6.QtTest import QAbstractItemModelTester

    m = win.run_model
    tester = QAbstractItemModelTester(m, QAbstractItemModelTester.FailureReportingMode.Fatal)
    for query, by in (("", "defense"), ("mfdv", "tag"), ("", "model"), ("", "none")):
        win.explorer_panel.filter.setText(query)
        win.explorer_panel.group.setCurrentIndex(win.explorer_panel.group.findData(by))
        m.set_snapshot(win.snapshot)   # the same snapshot again: updated in place
        m.set_status("r001", "interrupted")
        if by != "none":
            first = m.index(0, 0)
            assert m.parent(m.index(0, 0, first)) == first
    del tester
