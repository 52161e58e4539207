"""Writes that respect the file system, a full disk, and concurrent processes.

Symlinks are written through, read-only files refused, devices and folders
refused; a write that fails at any step of a transaction leaves the project
readable, no temporaries behind and the run resumable; a real full tmpfs is
one sentence; creating a project races safely; a reader never fails a writer.
"""
import errno
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import mfdv_engine.project.fsio as fsio
import mfdv_engine.project.locking as locking
import mfdv_engine.project.store as store
from mfdv_engine.config import load_preset
from mfdv_engine.errors import StorageFull
from mfdv_engine.training.runs import train_run
from mfdv_engine.project.store import Project
from mfdv_engine.cli import main
from planting import run, sha

ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def temporaries(p: Path) -> list[Path]:
    live = p.parent / (p.name + ".live")
    found = list(p.parent.glob(p.name + ".tmp*"))
    return found + (list(live.glob("*tmp*")) if live.is_dir() else [])


def small_config(epochs=2):
    cfg = load_preset("mnist-lenet-mfdv")
    cfg.train.epochs = epochs
    cfg.data.limit_train = 2000
    cfg.data.limit_test = 500
    return cfg


# ------------------------------------------------------------ permissions, symlinks, devices

def test_read_only_project_reads_but_refuses_writes(base, tmp_path, capsys, data_root):
    p = tmp_path / "ro.mfdv.h5"
    shutil.copyfile(base, p)
    p.chmod(0o444)
    before = sha(p)
    code, out, err = run(capsys, "runs", "--project", p)
    assert code == 0 and "r002" in out
    code, out, err = run(capsys, "attack", "--project", p, "--run", "r002", "--attacks", "fgsm", "--limit", "4",
                         "--data-root", data_root)
    assert code == 2 and "read-only" in err and len(err.strip().splitlines()) == 1, err
    assert sha(p) == before and stat.S_IMODE(p.stat().st_mode) == 0o444
    assert not temporaries(p)


def test_symlinked_project_is_written_through(base, tmp_path, capsys, data_root):
    real = tmp_path / "real" / "p.mfdv.h5"
    real.parent.mkdir()
    shutil.copyfile(base, real)
    real.chmod(0o640)
    link = tmp_path / "link.mfdv.h5"
    link.symlink_to(real)
    code, out, err = run(capsys, "attack", "--project", link, "--run", "r002", "--attacks", "fgsm", "--limit", "4",
                         "--mc", "2", "--data-root", data_root)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert {r["attack"] for r in Project.open(real).eval_rows("r002")} == {"fgsm"}  # the target got the rows
    assert stat.S_IMODE(real.stat().st_mode) == 0o640  # and kept its permission bits
    assert not temporaries(real)


def test_csv_export_respects_the_file_system(base, tmp_path, capsys):
    p = tmp_path / "p.mfdv.h5"
    shutil.copyfile(base, p)
    folder = tmp_path / "out"
    folder.mkdir()
    code, _, err = run(capsys, "export", "--project", p, "--csv", folder)
    assert code == 2 and "is a folder" in err
    assert sorted(os.listdir(tmp_path)) == ["out", "p.mfdv.h5"]  # no <dir>.tmp left behind
    code, _, err = run(capsys, "export", "--project", p, "--csv", "/dev/null")  # a stream: written through
    assert code == 0 and Path("/dev/null").is_char_device()
    ro = tmp_path / "ro.csv"
    ro.write_text("keep\n")
    ro.chmod(0o444)
    code, _, err = run(capsys, "export", "--project", p, "--csv", ro)
    assert code == 2 and "read-only" in err and ro.read_text() == "keep\n"
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert run(capsys, "export", "--project", p, "--csv", link)[0] == 2  # not a CSV of ours: only when asked
    assert target.read_text() == "old\n"
    assert run(capsys, "export", "--project", p, "--csv", link, "--overwrite")[0] == 0
    assert link.is_symlink() and target.read_text().startswith("run_id,")
    code, out, err = run(capsys, "export", "--project", p, "--csv", "-")
    assert code == 0 and out.startswith("run_id,") and "standard output" in err
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


# ------------------------------------------------------------ fault injection

STEPS = {
    "copy": (fsio.shutil, "copyfile"),
    "fsync": (fsio, "fsync_path"),
    "replace": (fsio.os, "replace"),
    "verify": (store, "_verify"),
    "write-data": (store, "write_curves"),
}


def failing(monkeypatch, step, armed):
    owner, name = STEPS[step]
    real = getattr(owner, name)

    def fake(*a, **k):
        if armed.is_set():
            if step == "verify":
                raise store._write_error(Path(a[1]), ENOSPC, 1)
            raise ENOSPC
        return real(*a, **k)

    monkeypatch.setattr(owner, name, fake)


@pytest.mark.parametrize("step", sorted(STEPS))
def test_a_write_failing_at_any_step_loses_nothing_and_the_run_resumes(tmp_path, data_root, monkeypatch, step):
    p = tmp_path / "p.mfdv.h5"
    armed = threading.Event()
    failing(monkeypatch, step, armed)

    def on_event(kind, data):
        if kind == "epoch" and data["epoch"] == 2:
            armed.set()  # the end-of-epoch-2 checkpoint write fails, and so does marking the run

    with pytest.raises(StorageFull, match="disk .* is full"):
        train_run(p, small_config(), data_root=data_root, on_event=on_event)
    assert not temporaries(p)
    info = Project.open(p).run("r001")
    assert info.status == "interrupted" and info.epochs_done in (1, 2)  # 2: only the final merge failed
    armed.clear()
    if step != "write-data":  # a failed transaction leaves the project as it was
        proj = Project.open(p)
        before = sha(p)
        armed.set()
        with proj, pytest.raises(StorageFull):
            proj.add_eval_row("r001", {"key": "x"}, {"a": np.zeros(3)})
        armed.clear()
        assert sha(p) == before and not temporaries(p)
    summary = train_run(p, resume="r001", data_root=data_root)
    assert summary.status == "finished" and summary.epochs_done == 2
    assert not temporaries(p)


# ------------------------------------------------------------ a real full disk

@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 4 MiB tmpfs here ({r.stderr.strip() or 'mount failed'}); needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_is_a_sentence_and_the_run_resumes(tiny_disk, data_root, capsys):
    p = tiny_disk / "p.mfdv.h5"
    ballast = tiny_disk / "ballast"
    ballast.write_bytes(b"\0" * (fsio.free_bytes(tiny_disk) - (1200 << 10)))  # ~1.2 MiB left
    code, out, err = run(capsys, "train", "--preset", "mnist-lenet-mfdv", "--epochs", "2", "--limit-train", "2000",
                         "--project", p, "--data-root", data_root)
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("mfdv: error: the disk holding") and "is full" in last and "MiB" in last, err
    assert "Traceback" not in err and not temporaries(p)
    assert Project.open(p).runs()[0].status == "interrupted"
    ballast.unlink()
    code, out, err = run(capsys, "train", "--project", p, "--resume", "r001", "--data-root", data_root)
    assert code == 0, err
    assert Project.open(p).run("r001").status == "finished"


def test_a_disk_with_nothing_free_is_called_full_not_a_permission_problem(tiny_disk, base, data_root, capsys):
    """Issue 22.8: with 0 KB free the answer was "check the path and its permissions"."""
    p = tiny_disk / "p.mfdv.h5"
    shutil.copyfile(base, tiny_disk / "old.mfdv.h5")
    ballast = tiny_disk / "ballast"
    with open(ballast, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (64 << 10))
                f.flush()
        except OSError:
            pass
    for argv in (["train", "--preset", "mnist-lenet-mfdv", "--epochs", "1", "--limit-train", "500", "--project", p,
                  "--data-root", data_root],
                 ["export", "--project", tiny_disk / "old.mfdv.h5", "--csv", tiny_disk / "t.csv"]):
        code, out, err = run(capsys, *argv)
        assert code == 2, err
        last = err.strip().splitlines()[-1]
        assert "full" in last and "permission" not in last and "Traceback" not in err, err


# ------------------------------------------------------------ concurrency

def test_racing_creators_make_one_valid_project(tmp_path):
    p = tmp_path / "new.mfdv.h5"
    errors, barrier = [], threading.Barrier(8)

    def create():
        barrier.wait()
        try:
            Project.open(p, create=True)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and Project.open(p).runs() == [] and not temporaries(p)


def test_a_created_project_is_never_replaced_by_a_late_creator(tmp_path):
    p = tmp_path / "new.mfdv.h5"
    first = Project.open(p, create=True)
    with first:
        first.create_run({"name": "x"}, "kept")
    Project(p).create()  # a second process that saw no file a moment ago
    assert [r.name for r in Project.open(p).runs()] == ["kept"]


def test_a_reader_probe_never_fails_a_writer(tmp_path):
    p = tmp_path / "p.mfdv.h5"
    Project.open(p, create=True)
    stop = threading.Event()

    def probe():
        reader = Project.open(p)
        while not stop.is_set():
            reader.writer_alive()

    t = threading.Thread(target=probe)
    t.start()
    try:
        for _ in range(300):
            with Project.open(p):
                pass
    finally:
        stop.set()
        t.join()


def test_attack_on_a_busy_project_is_refused_before_loading(base, tmp_path, capsys, monkeypatch, data_root):
    import mfdv_engine.measure as measure

    p = tmp_path / "p.mfdv.h5"
    shutil.copyfile(base, p)
    monkeypatch.setattr(locking, "LOCK_RETRY_S", 0.1)
    monkeypatch.setattr(measure, "load_run", lambda *a, **k: pytest.fail("loaded the model of a busy project"))
    with Project.open(p):
        code, out, err = run(capsys, "attack", "--project", p, "--run", "r002", "--attacks", "fgsm",
                             "--data-root", data_root)
    assert code == 2 and "being written by another process" in err


def test_a_file_where_the_folder_should_be_is_named(tmp_path, capsys):
    """A project path under a file says that the file is not a folder, not that the folder is missing."""
    blocker = tmp_path / "results"
    blocker.write_text("notes")
    assert main(["train", "--preset", "mnist-lenet-mfdv", "--project", str(blocker / "sub" / "p.mfdv.h5")]) == 2
    err = capsys.readouterr().err
    assert f"{blocker} is a file, not a folder" in err and "Traceback" not in err
    assert blocker.read_text() == "notes"
