"""Divergence is caught in the first epoch with the right cause, a run that ends at chance is
failed, and a resumed checkpoint is checked before torch copies it into live objects.

The training runs are real MNIST through `mfdv train` (LeNet, a few thousand images)."""
import copy
import math

import pytest
import torch

from mfdv_engine.cli import main
from mfdv_engine.config import load_preset
from mfdv_engine.data import load_dataset
from mfdv_engine.errors import ProjectError, TrainingDiverged
from mfdv_engine.project.store import Project
from mfdv_engine.training import Trainer, at_chance, weight_norm


def train(tmp_path, data_root, capsys, *sets, preset="mnist-lenet-mfdv", limit=3000, epochs=2):
    """Exit code, the one error sentence ('' when none) and the stored run."""
    p = tmp_path / "p.mfdv.h5"
    args = ["train", "--preset", preset, "--limit-train", str(limit), "--epochs", str(epochs), "--project", str(p),
            "--data-root", str(data_root), "--device", "cpu", "--json"]
    code = main(args + [a for s in sets for a in ("--set", s)])
    errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("mfdv: error:")]
    assert len(errors) == (code != 0), errors
    (run,) = Project.open(p).runs()
    return code, errors[0].removeprefix("mfdv: error: ") if errors else "", run


# -- divergence within the first epoch, with its cause --------------------------------------------

def test_lambda1_runaway_stops_in_the_first_epoch_and_blames_lambda1(tmp_path, data_root, capsys):
    code, msg, run = train(tmp_path, data_root, capsys, "defense.lambda1=1.0")
    assert code == 2
    assert msg.startswith("training stopped at epoch 1, step ")
    assert "λ1 (defense.lambda1)" in msg and "mean σ ran from" in msg and "train.lr" not in msg
    assert run.status == "failed" and run.epochs_done == 0 and run.message == msg


def test_high_learning_rate_on_mfdv_blames_the_learning_rate_not_lambda1(tmp_path, data_root, capsys):
    code, msg, run = train(tmp_path, data_root, capsys, "train.lr=10")
    assert code == 2
    assert msg.startswith("training stopped at epoch 1, step ")
    assert "lower train.lr, now 10 (sgd)" in msg and "λ1" not in msg
    assert run.status == "failed" and run.epochs_done == 0


@pytest.mark.parametrize("preset, sets, says", [
    ("mnist-lenet-mfdv", ["train.optimizer=adam", "train.lr=10"], "lower train.lr, now 10 (adam)"),
    ("mnist-lenet-plain", ["train.lr=5"], "lower train.lr, now 5 (sgd)"),
])
def test_runs_that_used_to_finish_at_chance_fail_with_a_sentence(tmp_path, data_root, capsys, preset, sets, says):
    code, msg, run = train(tmp_path, data_root, capsys, *sets, preset=preset)
    assert code == 2 and msg.startswith("training stopped at epoch 1, step ") and says in msg
    assert run.status == "failed" and run.message == msg


def test_a_defense_with_its_own_noise_scales_names_its_hint_too(data_root):
    # SE-SNN's σ(h) is not MFDV's σ, so the trainer cannot tell it from the learning rate
    cfg = load_preset("mnist-lenet-se-snn").with_overrides(["defense.lam=50", "train.device=cpu", "train.epochs=1"])
    with pytest.raises(TrainingDiverged) as e:
        Trainer(cfg, load_dataset("mnist", data_root, limit_train=1600, limit_test=200)).fit()
    msg = str(e.value)
    assert msg.startswith("training stopped at epoch 1, step ") and "\n" not in msg
    assert "lower train.lr, now 0.05 (sgd)" in msg and "λ (defense.lam) is probably too large" in msg


# -- a run that ends at chance -----------------------------------------------------------------------

def test_a_run_that_ends_at_chance_is_failed_not_finished(tmp_path, data_root, capsys):
    # lr 1e-6: nothing explodes, nothing is learned; 3,200 images × 2 epochs = 100 steps, judged
    code, msg, run = train(tmp_path, data_root, capsys, "train.lr=1e-6", preset="mnist-lenet-plain", limit=3200)
    assert code == 2
    assert msg.startswith("training stopped after its last epoch (epoch 2, step 100): test accuracy ")
    assert "are at chance (10%)" in msg and "the model never learned: raise train.lr, now 1e-06" in msg
    assert run.status == "failed" and run.epochs_done == 1  # the chance-level last epoch is not kept


def test_a_run_shorter_than_100_steps_is_not_judged(tmp_path, data_root, capsys):
    code, msg, run = train(tmp_path, data_root, capsys, "train.lr=1e-6", preset="mnist-lenet-plain", epochs=1)
    assert (code, msg, run.status) == (0, "", "finished")  # 47 steps: too short to call


def test_chance_ceiling_for_many_and_few_classes():
    assert at_chance(10) == pytest.approx(0.145) and at_chance(2) == pytest.approx(0.525)
    assert at_chance(100) == pytest.approx(0.015)


@pytest.mark.parametrize("sets, epochs, sigma_growth", [([], 2, 1.5), (["defense.lambda1=0.05"], 3, 3.0)])
def test_healthy_mfdv_runs_finish_while_sigma_grows(tmp_path, data_root, capsys, sets, epochs, sigma_growth):
    # λ1 = 0.05 pushes mean σ past 3× its start (the cause threshold) without tripping anything
    code, msg, run = train(tmp_path, data_root, capsys, *sets, limit=3200, epochs=epochs)
    assert (code, msg, run.status, run.epochs_done) == (0, "", "finished", epochs)
    assert run.final["sigma_mean_end"] > sigma_growth * run.final["sigma_mean_start"]
    assert run.final["clean_acc"] > 0.7


# -- checkpoint checks on resume -----------------------------------------------------------------

@pytest.fixture
def trainer():
    cfg = load_preset("demo-lenet-mfdv").with_overrides(
        ["data.limit_train=64", "data.limit_test=32", "train.device=cpu", "train.epochs=2"])
    return Trainer(cfg, load_dataset("demo", limit_train=64, limit_test=32))


@pytest.fixture
def saved(trainer):
    trainer.train_epoch()  # momentum buffers and a stepped scheduler
    return copy.deepcopy(trainer.state_dict())


def test_a_sound_checkpoint_resumes(trainer, saved):
    fresh = Trainer(trainer.config, trainer.dataset)
    fresh.load_state_dict(copy.deepcopy(saved))
    assert fresh.epoch == 1 and fresh.scheduler.last_epoch == trainer.scheduler.last_epoch
    assert fresh.weight_start == trainer.weight_start
    for a, b in zip(fresh.model.parameters(), trainer.model.parameters()):
        assert torch.equal(a, b)


def test_a_checkpoint_from_before_weight_start_resumes(trainer, saved):
    del saved["weight_start"]
    fresh = Trainer(trainer.config, trainer.dataset)
    fresh.load_state_dict(saved)
    assert fresh.epoch == 1 and fresh.weight_start == pytest.approx(weight_norm(trainer.model))  # measured at resume


def _set(path, value):
    def edit(state):
        *parents, last = path
        for key in parents:
            state = state[key]
        state[last] = value
    return edit


def _third_group(state):
    groups = state["optimizer"]["param_groups"]
    groups.append(dict(groups[1]))


def _drop(path):
    def edit(state):
        *parents, last = path
        for key in parents:
            state = state[key]
        del state[last]
    return edit


CRAFTED = [
    (_set(("scheduler", "optimizer"), 1), "scheduler state has unexpected key 'optimizer'"),
    (_set(("scheduler", "x"), 1), "scheduler state has unexpected key 'x'"),
    (_set(("scheduler", "last_epoch"), "3"), "scheduler state has 'last_epoch' = '3'"),
    (_set(("scheduler", "last_epoch"), 3.5), "scheduler state has 'last_epoch' = 3.5"),
    (_set(("scheduler", "base_lrs"), [0.05]), "scheduler state has 'base_lrs' = [0.05]"),
    (_set(("scheduler", "base_lrs"), [float("inf"), 0.05]), "scheduler state has 'base_lrs'"),
    (_set(("scheduler", "lr_lambdas"), [{"__defaults__": (1,)}, {}]), "scheduler state has 'lr_lambdas'"),
    (_drop(("scheduler", "_step_count")), "scheduler state lacks the key '_step_count'"),
    (_drop(("optimizer", "param_groups")), "optimizer state has ['state'] where 'state' and 'param_groups'"),
    (_third_group, "optimizer has 3 parameter groups where this trainer has 2"),
    (_set(("optimizer", "param_groups", 0, "evil"), 1), "optimizer group 0 has unexpected key 'evil'"),
    (_set(("optimizer", "param_groups", 1, "lr"), "fast"), "optimizer group 1 has 'lr' = 'fast'"),
    (_set(("optimizer", "param_groups", 0, "params"), [0, 1, 2, 3, 99]), "lists other parameters"),
    (_set(("optimizer", "state", 99), {}), "names a parameter 99 this trainer lacks"),
    (_set(("optimizer", "state", 0, "momentum_buffer"), torch.zeros(3)), "optimizer state of parameter 0"),
    (_set(("model", "head.1.weight"), torch.zeros(10, 83)), "has shape (10, 83) where this config builds (10, 84)"),
    (_drop(("model", "head.1.bias")), "model lacks the tensor 'head.1.bias'"),
    (_set(("model", "extra"), torch.zeros(1)), "model has unexpected entry 'extra'"),
    (_set(("epoch",), "1"), "epoch count '1' is not a whole number"),
    (_set(("epoch",), True), "epoch count True"),
    (_set(("epoch",), 3), "epoch count 3 is not a whole number from 0 to the run's 2 epochs"),
    (_set(("sigma_start",), float("nan")), "sigma_start nan is not a finite number"),
    (_set(("rng", "torch"), torch.zeros(7, dtype=torch.uint8)), "'torch' random-number state"),
    (_drop(("scheduler",)), "the checkpoint lacks its 'scheduler' entry"),
]


@pytest.mark.parametrize("edit, says", CRAFTED)
def test_a_crafted_checkpoint_is_one_sentence_and_changes_nothing(trainer, saved, edit, says):
    model_before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    scheduler_before = dict(vars(trainer.scheduler))
    groups_before = copy.deepcopy(trainer.optimizer.state_dict()["param_groups"])
    rng_before = torch.get_rng_state()
    bad = copy.deepcopy(saved)
    edit(bad)
    with pytest.raises(ProjectError) as e:
        trainer.load_state_dict(bad)
    msg = str(e.value)
    assert says in msg and "the project file is damaged" in msg and "\n" not in msg, msg
    assert vars(trainer.scheduler) == scheduler_before and not hasattr(trainer.scheduler, "x")
    assert trainer.optimizer.state_dict()["param_groups"] == groups_before
    assert all(torch.equal(v, model_before[k]) for k, v in trainer.model.state_dict().items())
    assert trainer.epoch == 1 and math.isfinite(trainer.sigma_start)
    assert torch.equal(torch.get_rng_state(), rng_before)
