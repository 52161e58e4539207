import json

import h5py
import pytest
import torch

from mfdv_engine.errors import ProjectError
from mfdv_engine.project.h5tree import read_tree, write_tree
from mfdv_engine.project.store import Project


def test_tree_round_trip_keeps_dtypes_and_int_keys(tmp_path):
    state = {
        "model": {"w": torch.randn(3, 4), "n": torch.tensor(5, dtype=torch.long)},
        "optimizer": {"state": {0: {"momentum_buffer": torch.ones(2)}}, "param_groups": [{"lr": 0.1, "params": [0]}]},
        "bf": torch.randn(3).to(torch.bfloat16),
        "epoch": 3,
        "pair": (1, "a"),
    }
    with h5py.File(tmp_path / "t.h5", "w") as f:
        write_tree(f.create_group("c"), state)
    with h5py.File(tmp_path / "t.h5", "r") as f:
        back = read_tree(f["c"])
    torch.testing.assert_close(back["model"]["w"], state["model"]["w"])
    assert back["model"]["n"].dtype == torch.long
    assert back["bf"].dtype == torch.bfloat16
    assert 0 in back["optimizer"]["state"]
    assert back["pair"] == (1, "a") and back["epoch"] == 3


def test_tree_is_json_not_pickle(tmp_path):
    with h5py.File(tmp_path / "t.h5", "w") as f:
        write_tree(f.create_group("c"), {"a": torch.zeros(1)})
    with h5py.File(tmp_path / "t.h5", "r") as f:
        json.loads(f["c"].attrs["tree"])  # plain JSON skeleton


def test_create_run_write_live_merge(tmp_path):
    p = tmp_path / "p.mfdv.h5"
    proj = Project.open(p, create=True)
    with proj:
        rid = proj.create_run({"name": "x"}, "x")
        proj.write_live(rid, status="running", message="", curves={"step": [{"step": 1, "loss": 2.0}], "epoch": []},
                        checkpoint={"epoch": 1, "w": torch.ones(2)}, epochs_done=1, final={"clean_acc": 0.5})
        # while running, readers see the live data
        assert proj.run(rid).epochs_done == 1
        proj.merge_live(rid, "finished")
    info = Project.open(p).run(rid)
    assert info.status == "finished" and info.final == {"clean_acc": 0.5} and info.ended
    assert Project.open(p).curves(rid)["step"]["loss"].tolist() == [2.0]
    assert Project.open(p).load_checkpoint(rid)["epoch"] == 1
    assert not (tmp_path / "p.mfdv.h5.live" / f"{rid}.h5").exists()


def test_stale_running_run_is_reported_and_recovered_as_interrupted(tmp_path):
    p = tmp_path / "p.mfdv.h5"
    proj = Project.open(p, create=True).acquire()
    rid = proj.create_run({}, "x")
    proj.write_live(rid, status="running", message="", curves={"step": [], "epoch": [{"epoch": 1}]},
                    checkpoint={"epoch": 1}, epochs_done=1)
    proj._lock_fd and __import__("os").close(proj._lock_fd)  # the writer "dies" without cleaning up
    proj._lock_fd = None
    reader = Project.open(p)
    assert reader.run(rid).status == "interrupted"
    with h5py.File(p, "r") as f:
        assert f["runs"][rid].attrs["status"] == "running"  # reading changes nothing
    with Project.open(p) as writer:  # the next writer makes it permanent, keeping the checkpoint
        assert writer.run(rid).status == "interrupted"
        assert writer.load_checkpoint(rid)["epoch"] == 1


def test_second_writer_is_refused(tmp_path):
    p = tmp_path / "p.mfdv.h5"
    with Project.open(p, create=True):
        with pytest.raises(ProjectError, match="being written by another process"):
            Project(p).acquire()


def test_failed_transaction_leaves_file_unchanged(tmp_path):
    p = tmp_path / "p.mfdv.h5"
    with Project.open(p, create=True) as proj:
        rid = proj.create_run({}, "x")
        before = p.read_bytes()
        with pytest.raises(RuntimeError):
            with proj.transaction() as f:
                del f["runs"][rid]
                raise RuntimeError("boom")
        assert p.read_bytes() == before
        assert proj.run(rid)


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file at all", None])
def test_bad_project_files_give_one_sentence(tmp_path, content):
    p = tmp_path / "bad.mfdv.h5"
    if content is None:  # a real project, truncated
        Project.open(p, create=True)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3])
    else:
        p.write_bytes(content)
    with pytest.raises(ProjectError) as e:
        Project.open(p)
    assert "\n" not in str(e.value) and str(p) in str(e.value)


def test_foreign_hdf5_and_missing_folder(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(ProjectError, match="not an MFDV project"):
        Project.open(tmp_path / "other.h5")
    with pytest.raises(ProjectError, match="does not exist"):
        Project.open(tmp_path / "nope" / "p.mfdv.h5", create=True)


def test_unknown_run_names_existing_ones(tmp_path):
    p = tmp_path / "p.mfdv.h5"
    with Project.open(p, create=True) as proj:
        proj.create_run({}, "x")
    with pytest.raises(ProjectError, match="r001"):
        Project.open(p).run("r999")
