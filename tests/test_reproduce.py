"""`reproduce` on a tiny experiment: real MNIST, a few hundred images, one epoch."""
import json
import shutil

import pytest

from mfdv_engine.reproduction.experiments import Experiment, list_experiments
from mfdv_engine.reproduction.tables import reproduce
from mfdv_engine.resources import resources_dir
from mfdv_engine.project.store import Project

TINY = {
    "title": "Tiny: SimpleNet plain vs MFDV",
    "columns": [{"label": "Clean", "attack": "clean"}, {"label": "FGSM", "attack": "fgsm"}],
    "rows": [
        {"label": "plain", "preset": "mnist-lenet-plain", "set": ["model.name=simplenet"]},
        {"label": "mfdv", "preset": "mnist-lenet-mfdv", "set": ["model.name=simplenet"]},
    ],
    "scales": {"smoke": {"set": ["train.epochs=1", "data.limit_train=300", "data.limit_test=60"],
                         "eps": {"mnist": 0.1}, "protocol": {"n": 60, "mc_samples": 5, "eot_samples": 3, "reeval": 2},
                         "notes": "test scale"}},
}
PAPER = {"source": "made-up values for the test", "values": {"mfdv": {"FGSM": 93.4, "Clean": 99.1}, "plain": {"FGSM": 33.5}}}


@pytest.fixture
def resources(tmp_path, monkeypatch):
    res = tmp_path / "resources"
    shutil.copytree(resources_dir() / "presets", res / "presets")
    (res / "presets" / "experiments" / "tiny.json").write_text(json.dumps(TINY))
    (res / "presets" / "experiments" / "tiny.paper.json").write_text(json.dumps(PAPER))
    monkeypatch.setenv("MFDV_RESOURCES", str(res))
    return res


def test_every_shipped_experiment_validates_at_both_scales():
    names = list_experiments()
    for required in ("table1", "table2", "table3", "table4", "table8", "table9", "fig3", "eot"):
        assert required in names
    for name in names:
        exp = Experiment.load(name)
        assert exp.paper.get("source"), name  # the published values live beside the preset
        for scale in ("smoke", "paper"):
            for row in exp.rows:
                exp.run_config(row, scale)


def test_tiny_report_quotes_paper_next_to_ours_and_reuses_runs(resources, tmp_path, data_root):
    p = tmp_path / "p.mfdv.h5"
    log = []
    text = reproduce("tiny", scale="smoke", project_path=p, data_root=data_root, device="cpu",
                     report=tmp_path / "r.md", log=log.append)
    assert (tmp_path / "r.md").read_text() == text
    assert text.startswith("# Tiny: SimpleNet plain vs MFDV — smoke scale")
    assert "| row | column | paper | ours, paper protocol | ours, adaptive |" in text
    lines = {tuple(c.strip() for c in l.strip("|").split("|")[:2]): l for l in text.splitlines() if l.startswith("| ")}
    mfdv_fgsm = lines[("mfdv", "FGSM")]
    assert "| 93.4 |" in mfdv_fgsm and "EOT-3" in mfdv_fgsm and "MC-5" in mfdv_fgsm and "n=60" in mfdv_fgsm
    assert mfdv_fgsm.count("[") >= 2  # CI on both of ours
    assert "| 33.5 |" in lines[("plain", "FGSM")] and "deterministic" in lines[("plain", "FGSM")]
    assert "| 99.1 |" in lines[("mfdv", "Clean")]
    assert "made-up values for the test" in text
    runs = Project.open(p).runs()
    assert [r.status for r in runs] == ["finished", "finished"]
    # rerun: nothing is trained or attacked again
    log.clear()
    again = reproduce("tiny", scale="smoke", project_path=p, data_root=data_root, device="cpu", log=log.append)
    assert len(Project.open(p).runs()) == 2
    assert all(m.startswith("reusing") for m in log), log
    strip = lambda t: [l for l in t.splitlines() if not l.startswith("- date")]  # noqa: E731
    assert strip(again)[3:] == strip(text)[3:]


def test_a_scale_the_experiment_lacks_names_the_scales_it_has(tmp_path, capsys):
    from mfdv_engine.cli import main

    p = tmp_path / "r.mfdv.h5"
    assert main(["reproduce", "table1", "--scale", "cpu", "--project", str(p)]) == 2
    err = capsys.readouterr().err
    assert "has no scale 'cpu'" in err and "smoke or gpu or paper" in err and "Traceback" not in err
    assert not p.exists()


def _start(resources, p, data_root, epochs):
    import os
    import signal
    import subprocess
    import sys

    tiny = json.loads((resources / "presets" / "experiments" / "tiny.json").read_text())
    tiny["scales"]["smoke"]["set"] = [f"train.epochs={epochs}", "data.limit_train=3000", "data.limit_test=60"]
    (resources / "presets" / "experiments" / "tiny.json").write_text(json.dumps(tiny))
    env = dict(os.environ, MFDV_RESOURCES=str(resources))
    return subprocess.Popen([sys.executable, "-m", "mfdv_engine.cli", "reproduce", "tiny", "--scale", "smoke",
                             "--project", str(p), "--data-root", str(data_root), "--device", "cpu"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a suite started in the background (nohup … &) ignores SIGINT, and its children
                            # inherit that: the Ctrl-C case needs the default disposition back
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_epoch(proc, p, timeout=300):
    import time

    t0 = time.time()
    while time.time() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()
        try:
            runs = Project.open(p).runs()
        except Exception:  # the file is being created
            runs = []
        if runs and runs[0].epochs_done >= 1:
            return
        time.sleep(0.2)
    raise AssertionError("no epoch finished in time")


@pytest.mark.parametrize("how", ["kill", "ctrl-c"])
def test_a_study_stopped_mid_run_continues_where_it_stopped_and_trains_nothing_twice(resources, tmp_path, data_root,
                                                                                      how):
    """Issue 19: a kill -9 or a Ctrl-C in the middle of a run; the same command resumes that run
    from its last epoch checkpoint and trains the others once."""
    import signal

    p = tmp_path / "p.mfdv.h5"
    proc = _start(resources, p, data_root, epochs=12)   # (a margin: on a loaded machine the poll can lag epochs)
    _wait_for_epoch(proc, p)
    proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if how == "ctrl-c":
        assert proc.returncode == 130 and "the same command continues where it stopped" in err, err
        assert "Traceback" not in err
    first = Project.open(p).runs()
    assert len(first) == 1 and first[0].status == "interrupted" and 1 <= first[0].epochs_done < 12
    log = []
    reproduce("tiny", scale="smoke", project_path=p, data_root=data_root, device="cpu", log=log.append)
    assert any(m.startswith(f"resuming run {first[0].run_id}") for m in log), log
    runs = Project.open(p).runs()
    assert [r.run_id for r in runs] == ["r001", "r002"] and [r.status for r in runs] == ["finished", "finished"]
    assert runs[0].epochs_done == 12
    epochs = list(Project.open(p).curves("r001")["epoch"]["epoch"])
    assert epochs == list(range(1, 13))  # each epoch once: nothing trained twice


def test_a_row_whose_training_diverges_is_reported_and_the_table_goes_on(resources, tmp_path, data_root):
    """Table 9 at cpu scale: linear123 diverged at epoch 5 and the whole reproduction stopped with
    exit 2 before the last three rows and without a report. A divergence is a result."""
    tiny = json.loads((resources / "presets" / "experiments" / "tiny.json").read_text())
    tiny["rows"].insert(1, {"label": "runaway", "preset": "mnist-lenet-mfdv",
                            "set": ["model.name=simplenet", "defense.lambda1=1000"]})
    (resources / "presets" / "experiments" / "tiny.json").write_text(json.dumps(tiny))
    p, log = tmp_path / "p.mfdv.h5", []
    text = reproduce("tiny", scale="smoke", project_path=p, data_root=data_root, device="cpu", log=log.append)
    lines = [l for l in text.splitlines() if l.startswith("| runaway |")]
    assert len(lines) == 2 and all("| diverged | diverged |" in l and "training stopped" in l for l in lines)
    assert any(l.startswith("| mfdv | FGSM |") and "[" in l for l in text.splitlines())  # the row after it ran
    assert sorted(r.status for r in Project.open(p).runs()) == ["failed", "finished", "finished"]
    log.clear()
    again = reproduce("tiny", scale="smoke", project_path=p, data_root=data_root, device="cpu", log=log.append)
    assert not any(m.startswith("training") for m in log) and len(Project.open(p).runs()) == 3
    assert again.count("| diverged | diverged |") == 2


def test_the_cpu_scale_with_a_gpu_visible_says_gpu_is_faster_and_runs_as_asked(resources, tmp_path, data_root,
                                                                               monkeypatch):
    import torch

    tiny = json.loads((resources / "presets" / "experiments" / "tiny.json").read_text())
    tiny["scales"]["cpu"] = dict(tiny["scales"]["smoke"], notes="test cpu scale")
    tiny["scales"]["gpu"] = dict(tiny["scales"]["smoke"], notes="test gpu scale")
    (resources / "presets" / "experiments" / "tiny.json").write_text(json.dumps(tiny))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    log = []
    text = reproduce("tiny", scale="cpu", project_path=tmp_path / "p.mfdv.h5", data_root=data_root, device="cpu",
                     log=log.append)
    assert any("`--scale gpu` is the faster choice" in m and "running the cpu scale as asked" in m for m in log)
    assert "— cpu scale" in text.splitlines()[0]
