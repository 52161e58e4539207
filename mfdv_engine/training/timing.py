"""Training cost per defense (the paper's Table 8), measured interleaved.

Every defense trains on the same data, backbone and device; their epochs
alternate (none, mfdv, pgd-at, none, mfdv, ...) so that load on a shared
machine hits them alike. Before the timed rounds comes one untimed warm-up
round, whatever ``epochs`` says: every defense trains one full epoch through
the same Trainer (model, optimiser, data pipeline, device), so cuDNN
autotuning (for the full and the last, partial batch shape), first-touch
allocations and lazy initialisation are paid there and not by whichever
defense happens to run first. ``epochs`` counts the timed rounds only; the
warm-up epoch's time is kept in ``TimingResult.warmup_s`` for reference.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Callable


from ..config import RunConfig
from ..data import load_dataset
from ..errors import ConfigError
from ..devices import describe_device, resolve_device
from .trainer import Trainer


@dataclass
class TimingResult:
    dataset: str
    model: str
    device: str
    n_train: int
    batch_size: int
    epochs: int
    times_s: dict[str, list[float]] = field(default_factory=dict)
    #: the untimed warm-up epoch of each defense (round 0), never in ``times_s``
    warmup_s: dict[str, float] = field(default_factory=dict)

    @property
    def median_s(self) -> dict[str, float]:
        return {d: statistics.median(v) for d, v in self.times_s.items()}

    def ratio(self, num: str, den: str) -> float:
        """Median over rounds of the per-round ratio: each round's two epochs ran
        back to back, so slow drifts of a shared machine cancel within a pair."""
        pairs = [a / b for a, b in zip(self.times_s[num], self.times_s[den], strict=True)]
        return statistics.median(pairs)

    def ratios(self) -> dict[str, float]:
        m = self.times_s
        out = {}
        for d in m:
            if d != "none" and "none" in m:
                out[f"{d}/none"] = self.ratio(d, "none")
        if "pgd-at" in m and "mfdv" in m:
            out["pgd-at/mfdv"] = self.ratio("pgd-at", "mfdv")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "model": self.model, "device": self.device, "n_train": self.n_train,
                "batch_size": self.batch_size, "epochs": self.epochs, "times_s": self.times_s,
                "median_s": self.median_s, "ratios": self.ratios(), "warmup_s": self.warmup_s}


def time_defenses(dataset: str, model: str, defenses: list[str], *, base: RunConfig, epochs: int = 1,
                  data_root=None, limit_train: int | None = None, device: str = "auto",
                  on_epoch: Callable[[str, int, float], None] | None = None) -> TimingResult:
    """Round 0 is the untimed warm-up (one epoch per defense); rounds 1..``epochs``
    are timed. ``on_epoch(defense, round, seconds)`` hears every round, warm-up
    included."""
    if not defenses:
        raise ConfigError("--defenses needs at least one defense, e.g. none,mfdv,pgd-at")
    if epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {epochs}")
    dev = resolve_device(device)
    cfgs = {}
    for d in defenses:
        sets = [f"data.name={dataset}", f"model.name={model}", f"defense={d}", f"train.epochs={epochs + 1}"]
        if d not in ("none",):
            sets.append(f"model.stochastic={base.model.stochastic if base.model.stochastic != 'none' else 'linear1'}")
        cfgs[d] = base.with_overrides(sets).validate()
    ds = load_dataset(dataset, data_root, limit_train=limit_train, limit_test=100)
    trainers = {d: Trainer(c, ds, device=dev) for d, c in cfgs.items()}
    times: dict[str, list[float]] = {d: [] for d in defenses}
    warmup: dict[str, float] = {}
    for r in range(epochs + 1):  # round 0: warm-up, never timed
        for d, tr in trainers.items():
            t = tr.train_epoch().row["epoch_time"]
            if r == 0:
                warmup[d] = t
            else:
                times[d].append(t)
            if on_epoch:
                on_epoch(d, r, t)
    tc = cfgs[defenses[0]].train
    return TimingResult(dataset, model, describe_device(dev), len(ds.train), tc.batch_size, epochs, times, warmup)
