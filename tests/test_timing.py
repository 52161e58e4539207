"""`mfdv timing`: one untimed warm-up epoch per defense, whatever --epochs says (real MNIST, LeNet)."""
import pytest

from mfdv_engine.config import load_preset
from mfdv_engine.errors import ConfigError
from mfdv_engine.training.timing import time_defenses
from mfdv_engine.training import Trainer

DEFENSES = ["none", "mfdv", "pgd-at"]


def test_one_timed_epoch_comes_after_an_uncounted_warm_up(data_root, monkeypatch):
    ran = []  # (defense, epoch number) of every epoch the real trainers ran
    real_epoch = Trainer.train_epoch

    def counting_epoch(self):
        res = real_epoch(self)
        ran.append((self.config.defense.name, res.epoch, res.row["epoch_time"]))
        return res

    monkeypatch.setattr(Trainer, "train_epoch", counting_epoch)
    heard = []
    res = time_defenses("mnist", "lenet", DEFENSES, base=load_preset("mnist-lenet-mfdv"), epochs=1,
                        data_root=data_root, limit_train=256, device="cpu",
                        on_epoch=lambda d, r, t: heard.append((d, r, t)))
    # every defense trained twice: epoch 1 (the warm-up round 0), then epoch 2 (timed round 1), interleaved
    assert [(d, e) for d, e, _ in ran] == [(d, 1) for d in DEFENSES] + [(d, 2) for d in DEFENSES]
    assert [(d, r) for d, r, _ in heard] == [(d, 0) for d in DEFENSES] + [(d, 1) for d in DEFENSES]
    assert res.epochs == 1
    for d in DEFENSES:
        warm = next(t for dd, e, t in ran if dd == d and e == 1)
        timed = next(t for dd, e, t in ran if dd == d and e == 2)
        assert res.times_s[d] == [timed]  # exactly one timed epoch: the second one
        assert res.warmup_s[d] == warm
    out = res.to_dict()
    assert set(out["warmup_s"]) == set(DEFENSES) and all(len(v) == 1 for v in out["times_s"].values())


def test_more_epochs_still_one_warm_up(data_root):
    heard = []
    res = time_defenses("mnist", "lenet", ["none", "mfdv"], base=load_preset("mnist-lenet-mfdv"), epochs=2,
                        data_root=data_root, limit_train=128, device="cpu",
                        on_epoch=lambda d, r, t: heard.append((d, r)))
    assert heard == [("none", 0), ("mfdv", 0), ("none", 1), ("mfdv", 1), ("none", 2), ("mfdv", 2)]
    assert {d: len(v) for d, v in res.times_s.items()} == {"none": 2, "mfdv": 2}


def test_zero_epochs_is_refused():
    with pytest.raises(ConfigError, match="--epochs must be at least 1"):
        time_defenses("mnist", "lenet", ["none"], base=load_preset("mnist-lenet-mfdv"), epochs=0)
