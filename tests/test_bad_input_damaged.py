"""Damaged project files: one sentence and exit 2 for the command that needs the
damaged part, while `mfdv runs` still lists the undamaged runs."""
import json

import h5py
import numpy as np
import pytest

from planting import planted, replace_tensor, run, sha


def _attr(path, key, value):
    return lambda f: f[path].attrs.__setitem__(key, value)


def _tensor(make):
    return lambda f: replace_tensor(f, make)


def _rows(text):
    def mutate(f):
        f["runs/r001"].require_group("robustness").attrs["rows"] = text
    return mutate


def _tree_dtype(f):
    tree = json.loads(f["runs/r001/checkpoint"].attrs["tree"])
    first = next(iter(tree["__dict__"]["model"]["__dict__"].values()))
    first["dtype"] = "load"  # torch.load, if looked up by name
    f["runs/r001/checkpoint"].attrs["tree"] = json.dumps(tree)


DEEP = "[" * 100_000 + "]" * 100_000

#: variant -> (mutation, the command that needs the damaged part, words its sentence holds)
RUN_RECORD = {
    "config-list": _attr("runs/r001", "config", "[1, 2]"),
    "config-deep": _attr("runs/r001", "config", DEEP),
    "config-opaque": _attr("runs/r001", "config", np.void(b"\x00\x01\x02")),
    "config-not-json": _attr("runs/r001", "config", "{not json"),
    "epochs-text": _attr("runs/r001", "epochs_done", "three"),
    "epochs-huge": _attr("runs/r001", "epochs_done", 2**40),
    "final-list": _attr("runs/r001", "final", "[1]"),
    "status-unknown": _attr("runs/r001", "status", "pwned"),
    "name-array": _attr("runs/r001", "name", np.arange(4)),
}
CHECKPOINT = {
    "tensor-opaque": _tensor(lambda g, n, sh, dt: g.create_dataset(n, data=np.void(b"abcd"))),
    "tensor-object": _tensor(lambda g, n, sh, dt: g.create_dataset(n, data=["a", "b"], dtype=h5py.string_dtype())),
    "tensor-reference": _tensor(lambda g, n, sh, dt: g.create_dataset(n, (2,), dtype=h5py.ref_dtype)),
    "tensor-2e42": _tensor(lambda g, n, sh, dt: g.create_dataset(n, (2**42,), "f4", chunks=(1024,), maxshape=(None,))),
    "tensor-wrong-shape": _tensor(lambda g, n, sh, dt: g.create_dataset(n, data=np.zeros((3, 3), dt))),
    "tensor-missing": _tensor(lambda g, n, sh, dt: None),
    "tree-not-json": _attr("runs/r001/checkpoint", "tree", "{]"),
    "tree-deep": _attr("runs/r001/checkpoint", "tree", DEEP),
    "tree-dtype-name": _tree_dtype,
    "checkpoint-dataset": lambda f: (f["runs/r001"].__delitem__("checkpoint"),
                                     f["runs/r001"].create_dataset("checkpoint", data=[1])),
}
ROWS = {
    "rows-not-json": _rows("{not json"),
    "rows-object": _rows('{"a": 1}'),
    "rows-not-rows": _rows("[1, 2, 3]"),
    "rows-deep": _rows(DEEP),
}


def one_sentence(code, err):
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("mfdv: error:") and "Traceback" not in err, err


def runs_still_lists_r002(capsys, p):
    code, out, err = run(capsys, "runs", "--project", p)
    assert code == 0, err
    assert any(line.startswith("r002") and "finished" in line for line in out.splitlines()), out


@pytest.mark.parametrize("variant", sorted(RUN_RECORD))
def test_damaged_run_record(base, tmp_path, capsys, variant, data_root):
    p = planted(base, tmp_path, RUN_RECORD[variant])
    before = sha(p)
    for argv in (["show", "--project", p, "--run", "r001"],
                 ["attack", "--project", p, "--run", "r001", "--attacks", "fgsm", "--limit", "4", "--data-root", data_root],
                 ["train", "--project", p, "--resume", "r001", "--data-root", data_root]):
        code, out, err = run(capsys, *argv)
        one_sentence(code, err)
        assert "damaged" in err
    runs_still_lists_r002(capsys, p)
    code, out, err = run(capsys, "runs", "--project", p)
    assert "damaged" in out.splitlines()[0]
    assert sha(p) == before


@pytest.mark.parametrize("variant", sorted(CHECKPOINT))
def test_damaged_checkpoint(base, tmp_path, capsys, variant, data_root):
    p = planted(base, tmp_path, CHECKPOINT[variant])
    before = sha(p)
    for argv in (["attack", "--project", p, "--run", "r001", "--attacks", "fgsm", "--limit", "4", "--data-root", data_root],
                 ["train", "--project", p, "--resume", "r001", "--data-root", data_root]):
        code, out, err = run(capsys, *argv)
        one_sentence(code, err)
        assert "r001" in err or "damaged" in err, err
    runs_still_lists_r002(capsys, p)
    assert sha(p) == before


@pytest.mark.parametrize("variant", sorted(ROWS))
def test_damaged_rows_are_refused_before_the_attack_runs(base, tmp_path, capsys, variant, data_root, monkeypatch):
    import mfdv_engine.evaluation.suite as suite

    def never(*a, **k):
        raise AssertionError("the attack ran on a project whose table cannot be stored")

    monkeypatch.setattr(suite, "evaluate_request", never)
    p = planted(base, tmp_path, ROWS[variant])
    before = sha(p)
    for argv in (["attack", "--project", p, "--run", "r001", "--attacks", "fgsm", "--limit", "4", "--data-root", data_root],
                 ["export", "--project", p, "--csv", tmp_path / "t.csv"]):
        code, out, err = run(capsys, *argv)
        one_sentence(code, err)
        assert "robustness" in err
    assert not (tmp_path / "t.csv").exists()
    runs_still_lists_r002(capsys, p)
    assert sha(p) == before


@pytest.mark.parametrize("variant", ["version-text", "version-huge", "format-opaque", "runs-missing", "runs-dataset",
                                     "runs-soft"])
def test_damaged_file_header_is_one_sentence(base, tmp_path, capsys, variant):
    def mutate(f):
        if variant == "version-text":
            f.attrs["version"] = "one"
        elif variant == "version-huge":
            f.attrs["version"] = 2**40
        elif variant == "format-opaque":
            f.attrs["format"] = np.void(b"\xff\xfe")
        else:
            f.move("runs", "old_runs")
            if variant == "runs-dataset":
                f.create_dataset("runs", data=[1])
            elif variant == "runs-soft":
                f["runs"] = h5py.SoftLink("/old_runs")

    p = planted(base, tmp_path, mutate)
    before = sha(p)
    for argv in (["runs", "--project", p], ["show", "--project", p, "--run", "r002"]):
        code, out, err = run(capsys, *argv)
        one_sentence(code, err)
    assert sha(p) == before


def test_stored_scheduler_state_never_reaches_dict_update(base, tmp_path, capsys, data_root):
    """A checkpoint whose scheduler state carries an extra key is refused before it is applied."""
    def mutate(f):
        g = f["runs/r001/checkpoint"]
        tree = json.loads(g.attrs["tree"])
        tree["__dict__"]["scheduler"]["__dict__"]["optimizer"] = "pwned"
        g.attrs["tree"] = json.dumps(tree)

    p = planted(base, tmp_path, mutate)
    before = sha(p)
    code, out, err = run(capsys, "train", "--project", p, "--resume", "r001", "--data-root", data_root)
    one_sentence(code, err)
    assert "scheduler" in err
    assert sha(p) == before
