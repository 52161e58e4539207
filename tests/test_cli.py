"""The `mfdv` command end to end, on the real MNIST in ../shared/datasets."""
import json
import signal
import subprocess
import sys
import time

import h5py
import pytest

MFDV = [sys.executable, "-m", "mfdv_engine.cli"]


def mfdv(*args, check=True, timeout=600):
    r = subprocess.run(MFDV + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"mfdv {' '.join(map(str, args))} exited {r.returncode}:\n{r.stderr[-3000:]}")
    return r


@pytest.mark.parametrize("preset", ["mnist-lenet-mfdv", "mnist-lenet-plain"])
def test_one_mnist_epoch_reaches_97_percent(tmp_path, data_root, preset):
    p = tmp_path / "p.mfdv.h5"
    r = mfdv("train", "--preset", preset, "--epochs", 1, "--project", p, "--data-root", data_root, "--json")
    out = json.loads(r.stdout)
    f = out["final"]
    assert out["status"] == "finished"
    assert f["clean_acc"] >= 0.97, f
    how, short = ("15 noise draws", "MC-15") if preset.endswith("mfdv") else ("single pass (deterministic", "single pass")
    assert how in f["clean_acc_protocol"] and "n=10000" in f["clean_acc_protocol"]
    if preset.endswith("mfdv"):
        assert f["sigma_mean_end"] > f["sigma_mean_start"]
    runs = json.loads(mfdv("runs", "--project", p, "--json").stdout)
    assert [r["status"] for r in runs] == ["finished"]
    listed = mfdv("runs", "--project", p).stdout
    assert f"clean {f['clean_acc']:.2%} ({short}, n=10000)" in listed  # an accuracy never without its protocol
    shown = json.loads(mfdv("show", "--project", p, "--run", out["run_id"], "--json").stdout)
    assert shown["config"]["model"]["name"] == "lenet" and shown["final"]["clean_acc"] == f["clean_acc"]


def test_kill_9_leaves_readable_project_and_resume_finishes(tmp_path, data_root):
    p = tmp_path / "p.mfdv.h5"
    live = tmp_path / "p.mfdv.h5.live"
    proc = subprocess.Popen(MFDV + ["train", "--preset", "mnist-lenet-mfdv", "--epochs", "15", "--limit-train", "2000",
                                    "--set", "data.limit_test=500", "--project", str(p), "--data-root", str(data_root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        # wait until at least one epoch checkpoint is on disk, then kill mid-epoch
        while time.time() < deadline:
            runs = list(live.glob("*.h5")) if live.exists() else []
            if runs:
                with h5py.File(runs[0], "r") as f:
                    if int(f.attrs.get("epochs_done", 0)) >= 2:
                        break
            time.sleep(0.2)
        else:
            pytest.fail("training never wrote an epoch checkpoint")
        time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with h5py.File(p, "r") as f:  # opens
        assert "runs" in f
    runs = json.loads(mfdv("runs", "--project", p, "--json").stdout)
    assert runs[0]["status"] == "interrupted" and runs[0]["epochs_done"] >= 2
    rid = runs[0]["run_id"]
    r = mfdv("train", "--resume", rid, "--project", p, "--data-root", data_root, "--json")
    out = json.loads(r.stdout)
    assert out["status"] == "finished" and out["epochs_done"] == 15
    epochs = [e for e in json.loads(mfdv("runs", "--project", p, "--json").stdout)]
    assert epochs[0]["status"] == "finished"


def _bad(*args):
    r = mfdv(*args, check=False)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_bad_input_gets_one_sentence_and_exit_2(tmp_path, data_root):
    p = tmp_path / "p.mfdv.h5"
    assert "unknown preset" in _bad("train", "--preset", "nope", "--project", p)
    assert "unknown model" in _bad("train", "--preset", "mnist-lenet-mfdv", "--set", "model.name=zzz", "--project", p)
    assert "unknown dataset" in _bad("train", "--preset", "mnist-lenet-mfdv", "--set", "data.name=zzz", "--project", p).lower()
    assert "lambda1" in _bad("train", "--preset", "mnist-lenet-mfdv", "--set", "defense.lambda1=-1", "--project", p)
    msg = _bad("train", "--preset", "mnist-lenet-mfdv", "--project", p, "--data-root", tmp_path / "empty")
    assert "empty" in msg and "MNIST" in msg
    assert "does not exist" in _bad("train", "--preset", "mnist-lenet-mfdv", "--project", tmp_path / "no" / "p.mfdv.h5",
                                    "--data-root", data_root)
    assert not p.exists()  # nothing above touched the project
    junk = tmp_path / "junk.mfdv.h5"
    junk.write_bytes(b"hello")
    assert "not a readable project file" in _bad("runs", "--project", junk)
    assert "not a readable project file" in _bad("train", "--preset", "mnist-lenet-mfdv", "--project", junk,
                                                  "--data-root", data_root)
    assert junk.read_bytes() == b"hello"
    assert "does not exist" in _bad("runs", "--project", tmp_path / "missing.mfdv.h5")
