import threading

import pytest
import torch

from mfdv_engine.config import load_preset
from mfdv_engine.data import load_dataset
from mfdv_engine.errors import TrainingDiverged
from mfdv_engine.training.runs import train_run
from mfdv_engine.project.store import Project
from mfdv_engine.training import Trainer, param_groups


def demo_cfg(**sets):
    extra = [f"{k}={v}" for k, v in sets.items()]
    return load_preset("demo-lenet-mfdv").with_overrides(["data.limit_train=1024", "data.limit_test=256", "train.device=cpu"] + extra)


def test_weight_decay_groups_exclude_sigma_biases_and_norms():
    cfg = load_preset("cifar10-resnet20-mfdv").validate()
    from mfdv_engine.models import create_model
    from mfdv_engine.stochastic import stochastic_layers

    model = create_model("resnet20", 10, 3, stochastic="linear1")
    decay, no_decay = param_groups(model, cfg.train.weight_decay)
    sigma = stochastic_layers(model)[0].sigma
    assert any(p is sigma for p in no_decay["params"])
    assert not any(p is sigma for p in decay["params"])
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert decay["weight_decay"] == cfg.train.weight_decay and no_decay["weight_decay"] == 0


def test_events_curves_and_sigma_growth(tmp_path):
    events = []
    summary = train_run(tmp_path / "p.mfdv.h5", demo_cfg(**{"train.epochs": 2}),
                        on_event=lambda k, d: events.append((k, d)))
    kinds = [k for k, _ in events]
    assert kinds[0] == "run" and kinds[-1] == "finished" and kinds.count("epoch") == 2
    steps = [d for k, d in events if k == "step"]
    assert len(steps) >= 2
    for key in ("loss", "ce", "reg", "train_acc", "lr", "time", "sigma_mean", "sigma_min[head.0]", "sigma_max[head.0]"):
        assert key in steps[0], key
    for d in steps:  # loss = CE + regulariser
        assert d["loss"] == pytest.approx(d["ce"] + d["reg"], rel=1e-4, abs=1e-5)
    assert summary.status == "finished" and summary.epochs_done == 2
    assert summary.final["sigma_mean_end"] > summary.final["sigma_mean_start"]
    curves = Project.open(tmp_path / "p.mfdv.h5").curves(summary.run_id)
    assert len(curves["epoch"]["test_acc"]) == 2 and len(curves["step"]["loss"]) == len(steps)


def test_a_plain_run_has_no_sigma_at_either_end(tmp_path):
    """No learned σ: both ends are None (a 0.0 start read as 'σ started at zero')."""
    summary = train_run(tmp_path / "p.mfdv.h5", demo_cfg(**{"train.epochs": 1, "defense": "none",
                                                             "model.stochastic": "none", "data.limit_train": 256}))
    assert summary.final["sigma_mean_start"] is None and summary.final["sigma_mean_end"] is None


def test_cancel_stops_within_one_step_and_resume_finishes(tmp_path):
    cancel = threading.Event()
    steps_after_cancel = []

    def on_event(kind, d):
        if kind == "epoch" and d["epoch"] == 1:
            cancel.set()
        elif kind == "step" and cancel.is_set():
            steps_after_cancel.append(d)

    p = tmp_path / "p.mfdv.h5"
    cfg = demo_cfg(**{"train.epochs": 2, "train.log_every": 1})
    s = train_run(p, cfg, on_event=on_event, cancel_event=cancel)
    assert s.status == "interrupted" and s.epochs_done == 1
    assert steps_after_cancel == []  # stopped before the next step
    assert Project.open(p).run(s.run_id).status == "interrupted"
    s2 = train_run(p, resume=s.run_id)
    assert s2.status == "finished" and s2.epochs_done == 2
    epochs = Project.open(p).curves(s.run_id)["epoch"]["epoch"].tolist()
    assert epochs == [1.0, 2.0]


def test_resume_reproduces_uninterrupted_run(tmp_path):
    cfg = demo_cfg(**{"train.epochs": 2})
    full = train_run(tmp_path / "a.mfdv.h5", cfg)
    cancel = threading.Event()
    part = train_run(tmp_path / "b.mfdv.h5", cfg, cancel_event=cancel,
                     on_event=lambda k, d: cancel.set() if k == "epoch" else None)
    assert part.status == "interrupted"
    done = train_run(tmp_path / "b.mfdv.h5", resume=part.run_id)
    a = Project.open(tmp_path / "a.mfdv.h5").load_checkpoint(full.run_id)["model"]
    b = Project.open(tmp_path / "b.mfdv.h5").load_checkpoint(done.run_id)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)


def test_runaway_sigma_is_stopped_with_a_sentence(tmp_path):
    cfg = demo_cfg(**{"defense.lambda1": 1.0, "train.epochs": 2, "data.limit_train": 4340})
    with pytest.raises(TrainingDiverged, match="λ1") as e:
        train_run(tmp_path / "p.mfdv.h5", cfg)
    assert "\n" not in str(e.value)
    info = Project.open(tmp_path / "p.mfdv.h5").runs()[0]
    assert info.status == "failed" and "λ1" in info.message


def test_trainer_used_directly_without_a_project():
    ds = load_dataset("moons")
    cfg = load_preset("demo-lenet-mfdv").with_overrides(
        ["data.name=moons", "model.name=mlp", "train.epochs=3", "train.batch_size=64", "train.device=cpu"])
    tr = Trainer(cfg, ds)
    res = tr.fit()
    assert res[-1].row["test_acc"] > 0.8


def test_curves_have_at_least_25_points_an_epoch_and_a_time_that_keeps_counting(tmp_path, data_root):
    """Issue 21: a 1-epoch run drew 3 points, and the curves' time restarted every epoch."""
    from mfdv_engine.config import load_preset
    from mfdv_engine.project.store import Project
    from mfdv_engine.training.runs import train_run

    cfg = load_preset("mnist-lenet-mfdv").with_overrides(["train.device=cpu", "train.epochs=2",
                                                          "data.limit_train=1600", "train.batch_size=32"])
    p = tmp_path / "p.mfdv.h5"
    train_run(p, cfg, data_root=data_root)
    steps = Project.open(p).curves("r001")["step"]
    per_epoch = [int((steps["epoch"] == e).sum()) for e in (1, 2)]
    assert min(per_epoch) >= 25, per_epoch  # 50 steps an epoch, log_every 20 would give 3
    t = steps["time"]
    assert (t[1:] > t[:-1]).all()  # one clock for the whole run
    epochs = Project.open(p).curves("r001")["epoch"]
    assert epochs["time"][-1] >= t.max() * 0.99 and epochs["time"][0] < t.max()
