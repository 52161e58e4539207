"""Deleting a run moves it to the project's trash; restore brings it back; nothing else sees it."""
import csv

import h5py
import pytest
import torch

import mfdv_engine as mfdv
from mfdv_engine.cli import main
from mfdv_engine.errors import ProjectError
from mfdv_engine.project.h5guard import check_tree
from mfdv_engine.project.store import Project

CONFIG = {"data": {"name": "mnist"}, "model": {"name": "lenet"}, "defense": {"name": "mfdv"}}


def add_run(proj: Project, name: str) -> str:
    """A finished run with a curve point, a checkpoint and one robustness row, written the store's way."""
    with proj:
        rid = proj.create_run(CONFIG, name)
        proj.write_live(rid, status="running", message="",
                        curves={"step": [{"step": 1, "epoch": 0, "loss": 2.0}, {"step": 2, "epoch": 0, "loss": 1.5}],
                                "epoch": [{"step": 2, "epoch": 1, "test_acc": 0.5}]},
                        checkpoint={"epoch": 1, "w": torch.ones(2)}, epochs_done=1, final={"clean_acc": 0.5})
        proj.merge_live(rid, "finished")
        proj.add_eval_row(rid, {"key": f"fgsm-{rid}", "attack": "fgsm", "robust_acc": 0.1})
    return rid


def valid(p) -> None:
    """The file opens as a project, every run lists intact and every object is one the store writes."""
    proj = Project.open(p)
    assert all(r.status != "damaged" for r in proj.runs())
    with h5py.File(p, "r") as f:
        check_tree(f)


@pytest.fixture
def project(tmp_path):
    p = tmp_path / "p.mfdv.h5"
    proj = Project.open(p, create=True)
    ids = [add_run(proj, "a"), add_run(proj, "b")]
    assert ids == ["r001", "r002"]
    return p


def test_delete_moves_to_the_trash_and_restore_brings_it_back(project):
    before = mfdv.show(project, "r001")
    mfdv.delete_run(project, "r001")
    valid(project)
    assert [r.run_id for r in mfdv.runs(project)] == ["r002"]
    (t,) = mfdv.trashed_runs(project)
    assert t.info.run_id == "r001" and t.info.name == "a" and t.trashed.startswith("20")
    with pytest.raises(ProjectError, match="no run 'r001'"):
        mfdv.show(project, "r001")

    mfdv.restore_run(project, "r001")
    valid(project)
    assert [r.run_id for r in mfdv.runs(project)] == ["r001", "r002"]
    assert mfdv.trashed_runs(project) == []
    after = mfdv.show(project, "r001")
    assert after.rows == before.rows and after.info == before.info  # the 'trashed' stamp went
    assert Project.open(project).curves("r001")["step"]["loss"].tolist() == [2.0, 1.5]
    assert Project.open(project).load_checkpoint("r001")["epoch"] == 1
    with h5py.File(project, "r") as f:
        assert "trash" not in f  # an empty trash leaves no group behind
        assert "trashed" not in f["runs/r001"].attrs


def test_rows_export_and_curves_ignore_the_trash(project, tmp_path):
    mfdv.delete_run(project, "r002")
    assert mfdv.export_csv(project, tmp_path / "rows.csv") == 1
    rows = list(csv.DictReader(open(tmp_path / "rows.csv")))
    assert [r["run_id"] for r in rows] == ["r001"]
    assert mfdv.export_curves(project, None, tmp_path / "curves.csv") == 3
    assert {r["run_id"] for r in csv.DictReader(open(tmp_path / "curves.csv"))} == {"r001"}
    with pytest.raises(ProjectError):
        Project.open(project).curves("r002")


def test_a_new_run_never_takes_a_trashed_id_and_a_clash_is_refused(project):
    mfdv.delete_run(project, "r002")
    assert add_run(Project.open(project), "c") == "r003"  # r002 stays free for its restore
    # a file where a run with the trashed id exists again (another tool, an older copy): refused, unchanged
    with h5py.File(project, "r+") as f:
        f.copy(f["runs/r001"], f["runs"], name="r002")
    with pytest.raises(ProjectError, match="cannot restore run 'r002'.*has a run with that id again"):
        mfdv.restore_run(project, "r002")
    assert [t.info.run_id for t in mfdv.trashed_runs(project)] == ["r002"]
    valid(project)
    with pytest.raises(ProjectError, match="no run 'r009' in the trash"):
        mfdv.restore_run(project, "r009")


def test_empty_trash_removes_for_good(project):
    mfdv.delete_run(project, "r001")
    mfdv.delete_run(project, "r002")
    assert [t.info.run_id for t in mfdv.trashed_runs(project)] == ["r001", "r002"]
    assert mfdv.empty_trash(project) == ["r001", "r002"]
    valid(project)
    assert mfdv.trashed_runs(project) == [] and mfdv.runs(project) == []
    assert mfdv.empty_trash(project) == []
    with pytest.raises(ProjectError, match="no run 'r001' in the trash"):
        mfdv.restore_run(project, "r001")


def test_a_run_training_now_cannot_be_deleted(tmp_path):
    proj = Project.open(tmp_path / "p.mfdv.h5", create=True)
    with proj:
        rid = proj.create_run(CONFIG, "live")
        with pytest.raises(ProjectError, match="training now"):
            proj.trash_run(rid)
        assert [r.run_id for r in proj.runs()] == [rid] and proj.trashed_runs() == []
        assert proj._live_path(rid).exists()


def test_a_trash_that_is_a_link_is_refused_not_followed(project):
    with h5py.File(project, "r+") as f:
        f["trash"] = h5py.SoftLink("/runs")
    with pytest.raises(ProjectError, match="SoftLink"):
        mfdv.trashed_runs(project)
    assert [r.run_id for r in mfdv.runs(project)] == ["r001", "r002"]  # the runs themselves read on


def test_export_curves_rows(project, tmp_path):
    out = tmp_path / "c.csv"
    assert mfdv.export_curves(project, ["r002"], out) == 3
    lines = list(csv.reader(open(out)))
    assert lines[0] == ["run_id", "kind", "step", "epoch", "loss", "test_acc"]
    assert lines[1:] == [["r002", "step", "1", "0", "2", ""], ["r002", "step", "2", "0", "1.5", ""],
                         ["r002", "epoch", "2", "1", "", "0.5"]]


def test_the_cli_deletes_lists_restores_and_empties(project, tmp_path, capsys):
    assert main(["delete", "--project", str(project), "--run", "r001"]) == 0
    assert "mfdv trash restore r001" in capsys.readouterr().out
    assert main(["trash", "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("r001  a") and "deleted 20" in out
    assert main(["trash", "restore", "--project", str(project)]) == 2
    assert "say which run" in capsys.readouterr().err
    assert main(["trash", "restore", "r001", "--project", str(project)]) == 0
    assert main(["trash", "list", "--project", str(project)]) == 0
    assert "the trash is empty" in capsys.readouterr().out
    assert main(["delete", "--project", str(project), "--run", "r002"]) == 0
    assert main(["trash", "empty", "--project", str(project)]) == 0
    assert "removed 1 run(s) for good: r002" in capsys.readouterr().out
    assert main(["export", "--project", str(project), "--curves", str(tmp_path / "c.csv")]) == 0
    assert len(list(csv.reader(open(tmp_path / "c.csv")))) == 4
    valid(project)


def test_restoring_a_path_inside_a_trashed_run_is_one_sentence(tmp_path):
    """Review: "r001/robustness" passed the check and ended in a KeyError traceback."""
    p = tmp_path / "p.mfdv.h5"
    proj = Project.open(p, create=True)
    rid = add_run(proj, "alpha")
    mfdv.delete_run(p, rid)
    with pytest.raises(ProjectError, match="no run"):
        mfdv.restore_run(p, f"{rid}/robustness")
    assert [t.info.run_id for t in mfdv.trashed_runs(p)] == [rid]
    mfdv.restore_run(p, rid)
    assert [i.run_id for i in mfdv.runs(p)] == [rid]


def _sha(p):
    import hashlib

    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("crafted", ["x" * 5000, ".."])
def test_a_run_id_that_could_not_come_back_is_not_moved(project, capsys, crafted):
    """Issue 22.7: a 5,000-character id was moved, then "File name too long", exit 2; '..' went in
    and never came back. Both are refused before anything moves."""
    with h5py.File(project, "r+") as f:
        h5py.h5o.link(f["runs/r002"].id, f["runs"].id, crafted.encode())
    before = _sha(project)
    assert main(["delete", "--project", str(project), "--run", crafted]) == 2
    err = capsys.readouterr().err
    assert "never gives" in err and err.count("\n") == 1 and "Traceback" not in err
    assert _sha(project) == before
    with h5py.File(project, "r+") as f:  # one that reached the trash some other way does not come out either
        h5py.h5o.link(f["runs/r001"].id, f.require_group("trash").id, crafted.encode())
    before = _sha(project)
    assert main(["trash", "--project", str(project), "restore", crafted]) == 2
    assert "never gives" in capsys.readouterr().err and _sha(project) == before


@pytest.mark.parametrize("damage", ["dataset", "softlink"])
def test_a_damaged_trash_blocks_nothing_that_empty_cannot_clear(project, capsys, damage):
    """Issue 22.7: a dataset or a soft link at /trash blocked every delete, restore and empty."""
    with h5py.File(project, "r+") as f:
        f["trash"] = h5py.SoftLink("/runs") if damage == "softlink" else [1, 2, 3]
    before = _sha(project)
    for argv in (["delete", "--project", str(project), "--run", "r001"],
                 ["trash", "--project", str(project), "restore", "r001"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "`mfdv trash empty` clears it" in err and err.count("\n") == 1, err
        assert _sha(project) == before
    assert main(["trash", "--project", str(project), "empty"]) == 0
    capsys.readouterr()
    with h5py.File(project, "r") as f:
        assert "trash" not in f and set(f["runs"]) == {"r001", "r002"}  # the link went, not what it pointed at
    assert main(["delete", "--project", str(project), "--run", "r001"]) == 0
    assert main(["trash", "--project", str(project), "restore", "r001"]) == 0
    valid(project)


def test_notes_and_tags_are_kept_listed_and_filtered(project, capsys):
    """Issue 21: runs carry notes and tags to group them; bad ones are one sentence and change nothing."""
    info = mfdv.annotate(project, "r001", notes="lr too high?\nretry with 0.01", tags="baseline, cifar")
    assert info.notes.startswith("lr too high") and info.tags == ["baseline", "cifar"]
    mfdv.annotate(project, "r002", tags=["cifar"])
    assert main(["runs", "--project", str(project), "--tag", "cifar", "--json"]) == 0
    import json as _json

    listed = _json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in listed] == ["r001", "r002"] and listed[0]["tags"] == ["baseline", "cifar"]
    assert main(["runs", "--project", str(project), "--tag", "baseline"]) == 0
    out = capsys.readouterr().out
    assert "r001" in out and "r002" not in out and "[baseline, cifar]" in out
    before = _sha(project)
    for bad in ({"tags": ["x" * 41]}, {"tags": [3]}, {"notes": 5}, {"tags": ["a,b"]}):
        with pytest.raises(mfdv.MfdvError):
            mfdv.annotate(project, "r001", **bad)
    assert main(["note", "--project", str(project), "--run", "r001"]) == 2
    assert "say what to set" in capsys.readouterr().err and _sha(project) == before
    assert main(["note", "--project", str(project), "--run", "r001", "--tags", ""]) == 0
    assert mfdv.runs(project)[0].tags == [] and mfdv.runs(project)[0].notes.endswith("0.01")  # notes kept
    mfdv.delete_run(project, "r001")
    mfdv.restore_run(project, "r001")
    assert mfdv.runs(project)[0].notes.endswith("0.01")  # notes travel with the run
