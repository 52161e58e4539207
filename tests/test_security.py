"""A project file from a stranger: pointers are refused, damage is one sentence.

Each test plants something into a copy of a real trained project (LeNet on
the real MNIST) and runs the command that would read it. The store must
refuse with one sentence, exit 2, leave the project's bytes unchanged, and
never copy bytes from outside the file into it.
"""
import shutil

import h5py
import numpy as np
import pytest

from mfdv_engine.cli import main
from planting import MARK, first_tensor, planted, replace_tensor, run, secret_file, sha


def assert_refused(capsys, p, data_root, words):
    """attack and resume of r001 both refuse in one sentence; nothing planted reaches the project."""
    before = sha(p)
    for argv in (["attack", "--project", p, "--run", "r001", "--attacks", "fgsm", "--limit", "8", "--mc", "2",
                  "--data-root", data_root],
                 ["train", "--project", p, "--resume", "r001", "--data-root", data_root]):
        code, out, err = run(capsys, *argv)
        assert code == 2, (argv[0], err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mfdv: error:"), err
        assert any(w in lines[0] for w in words), lines[0]
        assert "Traceback" not in err
    assert sha(p) == before
    for f in [p, *p.parent.glob("p.mfdv.h5*"), *(p.parent / "p.mfdv.h5.live").glob("*")]:
        if f.is_file():
            assert MARK not in f.read_bytes(), f
    code, out, _ = run(capsys, "runs", "--project", p)
    assert code == 0 and "r002" in out


def test_external_raw_storage_is_refused(base, tmp_path, capsys, data_root):
    def mutate(f):
        name, shape, dtype = first_tensor(f)
        s = secret_file(tmp_path, int(np.prod(shape)) * dtype.itemsize)
        replace_tensor(f, lambda g, n, sh, dt: g.create_dataset(n, sh, dt, external=[(str(s), 0, s.stat().st_size)]))

    assert_refused(capsys, planted(base, tmp_path, mutate), data_root, ["external file"])


def test_soft_link_is_refused(base, tmp_path, capsys, data_root):
    def mutate(f):
        name, shape, dtype = first_tensor(f)
        s = secret_file(tmp_path, int(np.prod(shape)) * dtype.itemsize)
        # (inside another run: an object at the file's root is refused on its own)
        f.create_dataset("runs/r002/stash", shape, dtype, external=[(str(s), 0, s.stat().st_size)])
        replace_tensor(f, lambda g, n, sh, dt: g.__setitem__(n, h5py.SoftLink("/runs/r002/stash")))

    assert_refused(capsys, planted(base, tmp_path, mutate), data_root, ["SoftLink"])


def _other_file(tmp_path, shape, dtype):
    other = tmp_path / "other.h5"
    n = int(np.prod(shape)) * dtype.itemsize
    raw = np.frombuffer((MARK * (n // len(MARK) + 1))[:n], dtype=dtype).reshape(shape)
    with h5py.File(other, "w") as o:
        o.create_dataset("x", data=raw)
    return other


def test_external_link_is_refused(base, tmp_path, capsys, data_root):
    def mutate(f):
        _, shape, dtype = first_tensor(f)
        other = _other_file(tmp_path, shape, dtype)
        replace_tensor(f, lambda g, n, sh, dt: g.__setitem__(n, h5py.ExternalLink(str(other), "/x")))

    assert_refused(capsys, planted(base, tmp_path, mutate), data_root, ["ExternalLink"])


def test_virtual_dataset_is_refused(base, tmp_path, capsys, data_root):
    def mutate(f):
        _, shape, dtype = first_tensor(f)
        other = _other_file(tmp_path, shape, dtype)
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(str(other), "x", shape=shape)
        replace_tensor(f, lambda g, n, sh, dt: g.create_virtual_dataset(n, layout))

    assert_refused(capsys, planted(base, tmp_path, mutate), data_root, ["virtual dataset"])


def test_a_pointer_in_the_live_file_is_never_merged(base, tmp_path, capsys):
    """A live file beside the project (a dead writer's) with external storage is ignored on recovery."""
    def mutate(f):
        f["runs/r001"].attrs["status"] = "running"

    p = planted(base, tmp_path, mutate)
    live = p.parent / "p.mfdv.h5.live"
    live.mkdir()
    s = secret_file(tmp_path, 4096)
    with h5py.File(live / "r001.h5", "w") as f:
        f.attrs.update(status="running", epochs_done=1, final="{}")
        f.create_dataset("checkpoint/t0", (1024,), "f4", external=[(str(s), 0, 4096)])
    from mfdv_engine.project.store import Project

    with Project.open(p) as proj:  # the writer's recovery merges what it can trust
        pass
    assert proj.run("r001").status == "interrupted"
    assert MARK not in p.read_bytes()
    assert proj.load_checkpoint("r001")["epoch"] == 1  # the project's own checkpoint was kept


@pytest.mark.parametrize("kind", ["soft", "dangling", "external", "dataset"])
def test_a_run_entry_that_is_not_a_group_is_listed_as_damaged(base, tmp_path, capsys, kind):
    def mutate(f):
        runs = f["runs"]
        del runs["r001"]
        if kind == "soft":
            runs["r001"] = h5py.SoftLink("/runs/r002")
        elif kind == "dangling":
            runs["r001"] = h5py.SoftLink("/nowhere")
        elif kind == "external":
            runs["r001"] = h5py.ExternalLink(str(tmp_path / "absent.h5"), "/runs/r001")
        else:
            runs.create_dataset("r001", data=np.arange(3))

    p = planted(base, tmp_path, mutate)
    before = sha(p)
    code, out, err = run(capsys, "runs", "--project", p)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "damaged" in lines[0] and "r002" in lines[1] and "finished" in lines[1]
    code, out, err = run(capsys, "show", "--project", p, "--run", "r001")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "r001" in err
    assert sha(p) == before


def test_escapes_in_a_run_name_are_printed_escaped(base, tmp_path, capsys):
    name = "evil\x1b[2J\x1b]0;pwned\x07\x1b]52;c;aGVsbG8=\x07\x9b31m"

    p = planted(base, tmp_path, lambda f: f["runs/r002"].attrs.__setitem__("name", name))
    for argv in (["runs", "--project", p], ["show", "--project", p, "--run", "r002"],
                 ["runs", "--project", p, "--json"], ["show", "--project", p, "--run", "nope\x1b[2J"]):
        code, out, err = run(capsys, *argv)
        for stream in (out, err):
            assert "\x1b" not in stream and "\x07" not in stream and "\x9b" not in stream
        if argv[0] == "runs" and "--json" not in argv:
            assert "evil\\x1b[2J" in out


def _marker_h5(tmp_path, shape, dtype):
    other = _other_file(tmp_path, shape, dtype)
    with h5py.File(other, "a") as o:
        o.create_group("g").create_dataset("label", data=np.frombuffer(MARK * 4, dtype=np.uint8))
    return other


@pytest.mark.parametrize("level", ["key", "gallery", "robustness"])
def test_a_gallery_behind_an_external_link_is_refused(base, tmp_path, capsys, data_root, level):
    """The studio reads galleries through the API: every level of the path is checked."""
    from mfdv_engine.errors import ProjectError
    from mfdv_engine.project.store import Project

    p = tmp_path / "p.mfdv.h5"
    shutil.copyfile(base, p)
    assert main(["attack", "--project", str(p), "--run", "r002", "--attacks", "fgsm", "--limit", "8", "--mc", "2",
                 "--data-root", str(data_root)]) == 0
    key = Project.open(p).eval_rows("r002")[0]["key"]
    _, shape, dtype = (None, (4,), np.dtype("uint8"))
    other = _marker_h5(tmp_path, shape, dtype)
    with h5py.File(p, "r+") as f:
        where = {"key": f"runs/r002/robustness/gallery/{key}", "gallery": "runs/r002/robustness/gallery",
                 "robustness": "runs/r002/robustness"}[level]
        del f[where]
        f[where] = h5py.ExternalLink(str(other), "/g")
    with pytest.raises(ProjectError, match="ExternalLink"):
        Project.open(p).gallery("r002", key)


def test_a_tensor_name_that_climbs_out_of_its_group_is_refused(base, tmp_path, capsys, data_root):
    """A tree naming /evil/t0 (a root-level external link) never reaches the other file."""
    def mutate(f):
        _, shape, dtype = first_tensor(f)
        other = _other_file(tmp_path, shape, dtype)
        f["runs/r001/checkpoint"].attrs["tree"] = f["runs/r001/checkpoint"].attrs["tree"].replace(
            '"__tensor__": "t0"', '"__tensor__": "/evil/x"', 1)
        f["evil"] = h5py.ExternalLink(str(other), "/")

    assert_refused(capsys, planted(base, tmp_path, mutate), data_root, ["not one the store writes"])


def test_a_tensor_path_inside_the_run_is_refused_too(base, tmp_path, capsys, data_root):
    def mutate(f):
        tree = f["runs/r001/checkpoint"].attrs["tree"]
        f["runs/r001/checkpoint"].attrs["tree"] = tree.replace('"__tensor__": "t0"', '"__tensor__": "../../r002/checkpoint/t0"', 1)

    assert_refused(capsys, planted(base, tmp_path, mutate), data_root, ["not one the store writes"])
