"""Issue 22: no output lands on a project, its lock, its live or temporary files, and no write replaces
a file the tool did not write unless asked to. Each case: exit 2 (or ProjectError in Python), one
sentence, and the project's and the target's sha256 unchanged."""
import os
import shutil
import subprocess
import sys

import pytest

import mfdv_engine as mfdv
from mfdv_engine.errors import ProjectError
from planting import run, sha


@pytest.fixture
def proj(base, tmp_path):
    p = tmp_path / "p.mfdv.h5"
    shutil.copyfile(base, p)
    return p


def _refused(capsys, argv, *files, says=""):
    before = {f: sha(f) for f in files}
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("mfdv: error: ") and "Traceback" not in err, err
    assert says in err, err
    assert {f: sha(f) for f in files} == before
    return err


@pytest.mark.parametrize("flag", ["--csv", "--curves"])
def test_an_export_aimed_at_the_project_is_refused(proj, capsys, flag):
    _refused(capsys, ["export", "--project", proj, flag, proj], proj, says="is an HDF5 file")
    assert mfdv.runs(proj)  # still a readable project


def test_an_export_through_a_link_or_a_second_name_of_the_project_is_refused(proj, tmp_path, capsys):
    link = tmp_path / "innocent.csv"
    link.symlink_to(proj)
    _refused(capsys, ["export", "--project", proj, "--csv", link], proj, says="which leads to")
    hard = tmp_path / "hard.csv"
    os.link(proj, hard)  # the same file under another name: judged by what it is
    _refused(capsys, ["export", "--project", proj, "--csv", hard, "--overwrite"], proj, says="HDF5")
    other = tmp_path / "other.mfdv.h5"
    shutil.copyfile(proj, other)  # any project, not only the one exported
    _refused(capsys, ["export", "--project", proj, "--csv", other, "--overwrite"], proj, other)


def test_an_export_onto_the_lock_is_refused_and_the_lock_keeps_working(proj, capsys):
    lock = proj.with_name(proj.name + ".lock")
    project = mfdv.open_project(proj)
    with project.writing():  # a training holds the lock
        assert lock.exists()
        _refused(capsys, ["export", "--project", proj, "--csv", lock], proj, lock, says="the lock of project")
        with pytest.raises(ProjectError, match="busy|locked|another"):
            with mfdv.open_project(proj).writing():
                pass


def test_live_files_and_temporaries_of_a_project_are_refused(proj, capsys):
    live = proj.with_name(proj.name + ".live")
    live.mkdir()
    (live / "r009.h5").write_bytes(b"")  # a live file being created: judged by its project
    _refused(capsys, ["export", "--project", proj, "--csv", live / "r009.h5", "--overwrite"], proj,
             says="a live file of project")
    tmp = proj.with_name(proj.name + ".tmp-1-abc")
    tmp.write_bytes(b"")
    _refused(capsys, ["export", "--project", proj, "--csv", tmp, "--overwrite"], proj, says="a temporary of project")


def test_the_python_api_refuses_with_its_one_error_type(proj):
    before = sha(proj)
    with pytest.raises(ProjectError, match="HDF5"):
        mfdv.export_csv(proj, proj)
    with pytest.raises(ProjectError, match="HDF5"):
        mfdv.export_curves(proj, None, proj, overwrite=True)
    assert sha(proj) == before


def test_a_file_the_tool_did_not_write_is_replaced_only_when_asked(proj, tmp_path, capsys):
    notes = tmp_path / "notes.csv"
    notes.write_text("my own notes\n")
    _refused(capsys, ["export", "--project", proj, "--csv", notes], proj, notes, says="--overwrite")
    code, _, _ = run(capsys, "export", "--project", proj, "--csv", notes, "--overwrite")
    assert code == 0 and notes.read_text().startswith("run_id,run_name")
    ours = tmp_path / "table.csv"
    for _ in range(2):  # our own earlier output: a rerun replaces it
        code, _, _ = run(capsys, "export", "--project", proj, "--csv", ours)
        assert code == 0
    ours.chmod(0o444)  # read-only: refused even with --overwrite
    _refused(capsys, ["export", "--project", proj, "--csv", ours, "--overwrite"], proj, ours, says="read-only")


def test_a_report_aimed_at_the_project_is_refused_before_the_study_runs(proj, tmp_path, capsys, data_root):
    err = _refused(capsys, ["reproduce", "table9", "--scale", "smoke", "--project", proj, "--report", proj,
                            "--data-root", data_root], proj, says="is an HDF5 file")
    assert "training" not in err
    ro = tmp_path / "old.md"
    ro.write_text("somebody's report\n")
    ro.chmod(0o444)
    _refused(capsys, ["reproduce", "table9", "--scale", "smoke", "--project", proj, "--report", ro, "--overwrite",
                      "--data-root", data_root], proj, ro, says="read-only")
    assert len(mfdv.runs(proj)) == 2  # nothing trained


def test_standard_output_by_name_is_a_stream_not_a_full_disk(proj):
    """`--csv /dev/stdout | cat` writes to the pipe (it said "the disk holding pipe:[N] is full")."""
    out = subprocess.run(f"{sys.executable} -m mfdv_engine.cli export --project {proj} --csv /dev/stdout | cat",
                         shell=True, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("run_id,run_name") and "full" not in out.stderr
    assert subprocess.run([sys.executable, "-m", "mfdv_engine.cli", "export", "--project", str(proj), "--csv",
                           "/dev/null"], capture_output=True).returncode == 0
