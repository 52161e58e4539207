"""The Trainer: one loop for every defense, with events, checkpoints, resume and cancel.

Host synchronisation happens at each of the first ``WATCH_STEPS`` steps of a
run, then only every ``train.log_every`` steps (and at epoch ends): losses and
accuracies accumulate on the device in between. Those are the points where
divergence is detected (:meth:`Trainer._check_health`, :meth:`Trainer._check_end`).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn

from .config import RunConfig
from .data import Dataset, iterate_batches
from .defenses import get_defense
from .defenses.base import Defense
from .errors import Cancelled, ConfigError, ProjectError, TrainingDiverged
from .stochastic import is_stochastic, mc_predict, sigma_stats
from .validate import parse_device, sub_seed

if TYPE_CHECKING:
    from .distributed import DistContext

EventSink = Callable[[str, dict[str, Any]], None]

# Divergence thresholds (Trainer._check_health, Trainer._check_end). Measured on MNIST
# LeNet, 3,000 images, lr 0.05, 3 epochs: healthy MFDV runs (λ1 ≤ 0.1) keep every batch's
# cross-entropy under 15, the weight norm under 1.6× its start and mean σ under 7× (λ1 = 0.4
# with seeds 1 and 2: σ 12×, batch cross-entropy under 13, 93 % test accuracy). Runs that
# never recover (λ1 ≥ 0.2 or lr ≥ 0.5 with seed 0, Adam at lr ≥ 0.1) pass a batch
# cross-entropy of 25 within 20 steps, mostly within 5.
#: the first steps of a run are checked one by one (a host sync each): a blow-up takes a
#: few steps, and by the first logged row σ and the weights may both be inf, hiding the cause
WATCH_STEPS = 50
#: a cross-entropy above this many times ln C (what a uniform guess scores) has exploded
CE_BLOWUP = 10.0
#: σ or the weight norm beyond this many times its start ran away (names the likely cause)
RUNAWAY = 3.0
#: mean σ beyond this many times its start with training accuracy at chance: the noise drowned the features
SIGMA_DROWN = 10.0
#: an accuracy at most this many times chance (1/C), and at most this far (5 %) from chance
#: towards 100 % (which matters for few classes: 2 classes' 1.5× chance is 75 %), counts as chance
CHANCE = 1.5
CHANCE_REACH = 0.05
#: the chance rules apply from this global step: shorter runs may not have learned yet
JUDGED_AFTER = 100


def resolve_device(name: str) -> torch.device:
    """The torch device for ``auto``/``cpu``/``cuda``/``cuda:N``; a malformed name or a
    GPU that is not there is a ConfigError here, before any run is created."""
    if parse_device(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r} names GPU {dev.index}, but only {torch.cuda.device_count()} GPU(s) "
                          f"are visible (numbered from 0); use cuda:0 … cuda:{torch.cuda.device_count() - 1} or cuda")
    return dev


def describe_device(dev: torch.device) -> str:
    """The device as reports and benchmarks name it (timings mean little without it)."""
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return f"cpu ({cpu_name()}, {torch.get_num_threads()} threads)"


def cpu_name() -> str:
    import platform
    from pathlib import Path

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay (the paper's λ2‖w‖², λ2 = weight_decay/2) on conv and linear
    weights only. Biases, batch norm, and every parameter a module lists in
    ``_no_weight_decay_params`` (MFDV's σ, PNI's α, L2P's θ, Adv-BNN's log σ,
    WCA's factor) get none."""
    skip = no_decay_ids(model)
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 and id(p) not in skip else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "name": "weights"},
        {"params": no_decay, "weight_decay": 0.0, "name": "biases, norms and noise scales"},
    ]


def no_decay_ids(model: nn.Module) -> set[int]:
    return {id(getattr(m, name)) for m in model.modules() for name in getattr(m, "_no_weight_decay_params", ())}


def decayed_norm(model: nn.Module) -> torch.Tensor:
    skip = no_decay_ids(model)
    terms = [p.detach().float().pow(2).sum() for p in model.parameters() if p.ndim >= 2 and id(p) not in skip]
    return torch.stack(terms).sum() if terms else torch.zeros(())


def weight_norm(model: nn.Module) -> float:
    """‖w‖ over the weight-decayed weights: λ1 never moves it, a too-high learning rate does."""
    return math.sqrt(decayed_norm(model).item())


@dataclass
class EpochResult:
    epoch: int
    row: dict[str, float]


@dataclass
class _Window:
    """Device-side sums between two log points (no host sync per step)."""

    loss: torch.Tensor
    ce: torch.Tensor
    reg: torch.Tensor
    correct: torch.Tensor
    seen: int = 0
    steps: int = 0

    @classmethod
    def zeros(cls, device: torch.device) -> "_Window":
        z = lambda: torch.zeros((), device=device)  # noqa: E731
        return cls(z(), z(), z(), z())

    def add(self, other: "_Window") -> None:
        """In place, on the device (``other`` is one step's window)."""
        self.loss += other.loss
        self.ce += other.ce
        self.reg += other.reg
        self.correct += other.correct
        self.seen += other.seen
        self.steps += other.steps


class Trainer:
    """Trains ``config`` on ``dataset``. Call :meth:`fit`; it returns when the
    epochs are done, raises :class:`Cancelled` within one step of
    :meth:`cancel`, or :class:`TrainingDiverged` on non-finite / runaway values."""

    def __init__(self, config: RunConfig, dataset: Dataset, *, device: torch.device | str | None = None,
                 on_event: EventSink | None = None, cancel_event: threading.Event | None = None,
                 dist: "DistContext | None" = None) -> None:
        """``dist`` (from :func:`mfdv_engine.distributed.init_from_env`) makes this one
        rank of a data-parallel job; see :mod:`mfdv_engine.distributed`."""
        config.validate()
        self.dist = dist if dist is not None and dist.world_size > 1 else None
        self.config = config
        self.tc = config.train
        self.device = torch.device(device) if device is not None else resolve_device(self.tc.device)
        self.defense = get_defense(config.defense.name)
        self.params = self.defense.parse_params(config.defense.params)
        self.on_event = on_event or (lambda kind, data: None)
        self.cancel_event = cancel_event or threading.Event()
        torch.manual_seed(self.tc.seed)
        self.dataset = dataset.to(self.device)
        self.model = self.defense.build_model(config.model, dataset, self.params).to(self.device)
        self.cuda = self.device.type == "cuda"
        self.channels_last = self.cuda and self.tc.channels_last and self.dataset.train.x.dim() == 4
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        #: what the defense's loss calls: the DDP wrapper when distributed, else ``model``
        self.train_model: nn.Module = self.model
        if self.dist is not None:
            from .distributed import wrap_model

            if self.tc.batch_size % self.dist.world_size:
                raise ConfigError(f"train.batch_size={self.tc.batch_size} (the global batch) must be divisible by "
                                  f"the number of processes ({self.dist.world_size})")
            self.train_model = wrap_model(self.model, self.dist)
            if self.dist.rank > 0:  # independent noise draws per rank (rank 0 keeps the single-process stream)
                torch.manual_seed(sub_seed(self.tc.seed, self.dist.rank))
        self.optimizer = self._build_optimizer()
        self.steps_per_epoch = math.ceil(len(self.dataset.train) / self.tc.batch_size)
        if self.dist is not None:
            from .distributed import steps_per_epoch

            self.steps_per_epoch = steps_per_epoch(len(self.dataset.train), self.tc.batch_size, self.dist.world_size)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        gen_device = self.device if self.cuda else torch.device("cpu")
        self.generator = torch.Generator(device=gen_device).manual_seed(self.tc.seed)
        self.epoch = 0  # epochs completed
        self.sigma_start = self._sigma_mean()
        self.weight_start = weight_norm(self.model)

    # -- set-up -----------------------------------------------------------
    def _build_optimizer(self) -> torch.optim.Optimizer:
        groups = param_groups(self.model, self.tc.weight_decay)
        if self.tc.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=self.tc.lr, momentum=self.tc.momentum, nesterov=self.tc.momentum > 0)
        return torch.optim.Adam(groups, lr=self.tc.lr)

    def _lr_factor(self, step: int) -> float:
        total = self.tc.epochs * self.steps_per_epoch
        t = min(step / max(total, 1), 1.0)
        if self.tc.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * t))
        if self.tc.schedule == "multistep":
            return self.tc.gamma ** sum(t >= m for m in self.tc.milestones)
        return 1.0

    def cancel(self) -> None:
        self.cancel_event.set()

    # -- checkpoints ------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state(), "generator": self.generator.get_state()}
        if self.cuda:
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "epoch": self.epoch,
            "model": {k: v for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng,
            "sigma_start": self.sigma_start,
            "weight_start": self.weight_start,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`. Every part is checked against the live objects
        first (torch's loaders copy what they are given into them: ``LRScheduler`` by
        ``__dict__.update``), so a damaged or crafted checkpoint is a ProjectError
        and leaves this trainer untouched."""
        self._check_state(state)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as e:
            last = str(e).strip().splitlines()[-1].strip()
            raise _damaged(f"the checkpoint's model does not fit this config ({last})") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = state["epoch"]
        self.sigma_start = float(state.get("sigma_start", self.sigma_start))
        # checkpoints older than weight_start: measured now, so ratios count from the resume
        self.weight_start = float(state.get("weight_start", weight_norm(self.model)))
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"].cpu())
        if "generator" in rng:
            self.generator.set_state(rng["generator"].cpu())
        if self.cuda and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)

    def _check_state(self, state: Any) -> None:
        """Raise ProjectError, naming the first part of ``state`` this trainer cannot take."""
        if not isinstance(state, dict):
            raise _damaged("the checkpoint is not a table")
        for key in ("model", "optimizer", "scheduler", "epoch"):
            if key not in state:
                raise _damaged(f"the checkpoint lacks its {key!r} entry")
        epoch = state["epoch"]
        if type(epoch) is not int or not 0 <= epoch <= self.tc.epochs:
            raise _damaged(f"the checkpoint's epoch count {_shown(epoch)} is not a whole number "
                           f"from 0 to the run's {self.tc.epochs} epochs")
        for key in ("sigma_start", "weight_start"):
            if key in state and not _same_kind(state[key], 0.0):
                raise _damaged(f"the checkpoint's {key} {_shown(state[key])} is not a finite number")
        _check_model_state(state["model"], self.model)
        _check_optimizer_state(state["optimizer"], self.optimizer)
        _check_plain("the checkpoint's scheduler state", state["scheduler"], self.scheduler.state_dict())
        self._check_rng(state.get("rng", {}))

    def _check_rng(self, rng: Any) -> None:
        live = {"torch": torch.get_rng_state(), "generator": self.generator.get_state()}
        if self.cuda:
            live["cuda"] = torch.cuda.get_rng_state(self.device)
        if not isinstance(rng, dict):
            raise _damaged("the checkpoint's random-number state is not a table")
        for key, value in rng.items():
            if key not in ("torch", "generator", "cuda"):
                raise _damaged(f"the checkpoint's random-number state has unexpected key {_shown(key)}")
            if key in live and not (isinstance(value, torch.Tensor) and value.dtype == torch.uint8
                                    and value.shape == live[key].shape):
                raise _damaged(f"the checkpoint's {key!r} random-number state is not the byte string torch saves")

    # -- the loop ---------------------------------------------------------
    def fit(self, on_epoch_end: Callable[["Trainer", EpochResult], None] | None = None) -> list[EpochResult]:
        """Train the remaining epochs. The last one is judged (:meth:`_check_end`) before
        ``on_epoch_end`` sees it, so a run that ends at chance keeps no checkpoint of that
        epoch; callers of :meth:`train_epoch` alone (timing) are not judged."""
        results = []
        while self.epoch < self.tc.epochs:
            res = self.train_epoch()
            results.append(res)
            self._check_end(res.epoch, res.row)
            if on_epoch_end is not None:
                on_epoch_end(self, res)
        return results

    def _autocast(self):
        if self.cuda and self.tc.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    def train_epoch(self) -> EpochResult:
        epoch = self.epoch + 1
        self.train_model.train()
        t0 = time.perf_counter()
        win = _Window.zeros(self.device)
        total = _Window.zeros(self.device)
        step_in_epoch = 0
        for x, y, scale in self._batches():
            if self.dist is None and self.cancel_event.is_set():
                raise Cancelled()
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                loss, parts = self.defense.loss(self.train_model, x, y, self.params)
            if scale is not None:
                # DDP averages gradients over ranks: weigh this rank's mean by its share of the global batch
                loss = loss * scale
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.defense.after_step(self.train_model)
            step_in_epoch += 1
            one = _step_window(loss, parts, y, scale)
            win.add(one)
            total.add(one)
            if (epoch - 1) * self.steps_per_epoch + step_in_epoch <= WATCH_STEPS:
                self._watch(epoch, step_in_epoch, one)
            if step_in_epoch % self.tc.log_every == 0 or step_in_epoch == self.steps_per_epoch:
                if self.dist is not None and self.dist.any_flag(self.cancel_event.is_set()):
                    raise Cancelled()  # all ranks stop together, at a log point
                self._log_step(epoch, step_in_epoch, win, t0)
                win = _Window.zeros(self.device)
        if self.cuda:
            torch.cuda.synchronize(self.device)
        train_time = time.perf_counter() - t0
        self.epoch = epoch
        row = self._epoch_row(epoch, total, train_time)
        self.on_event("epoch", row)
        return EpochResult(epoch, row)

    def _batches(self):
        """``(x, y, loss_scale)``: the whole batch (scale None), or this rank's shard of it."""
        if self.dist is None:
            for x, y in iterate_batches(self.dataset.train, self.tc.batch_size, shuffle=True,
                                        augment=self.dataset.augment, device=self.device, generator=self.generator):
                yield x, y, None
            return
        from .distributed import iterate_shard

        w = self.dist.world_size
        for x, y, n_global in iterate_shard(self.dataset.train, self.tc.batch_size, self.dist, shuffle=True,
                                            augment=self.dataset.augment, device=self.device, generator=self.generator):
            yield x, y, y.shape[0] * w / n_global

    def _reduce(self, win: _Window) -> _Window:
        """Sum a window over ranks (losses come pre-scaled so sum / world = global-batch mean)."""
        if self.dist is None:
            return win
        w = self.dist.world_size
        t = torch.stack([win.loss, win.ce, win.reg, win.correct.float(),
                         torch.tensor(float(win.seen), device=self.device)])
        self.dist.all_reduce_sum(t)
        return _Window(t[0] / w, t[1] / w, t[2] / w, t[3], int(round(t[4].item())), win.steps)

    def _log_step(self, epoch: int, step_in_epoch: int, win: _Window, t0: float) -> None:
        win = self._reduce(win)
        loss = win.loss.item() / win.steps
        acc = win.correct.item() / max(win.seen, 1)
        sig = sigma_stats(self.model)
        row: dict[str, float] = {
            "step": (epoch - 1) * self.steps_per_epoch + step_in_epoch,
            "epoch": epoch,
            "loss": loss,
            "ce": win.ce.item() / win.steps,
            "reg": win.reg.item() / win.steps,
            "train_acc": acc,
            "lr": self.optimizer.param_groups[0]["lr"],
            "time": time.perf_counter() - t0,
        }
        row.update(_flatten_sigma(sig))
        self._check_health(row, sig, epoch, step_in_epoch)
        self.on_event("step", row)

    def _watch(self, epoch: int, step_in_epoch: int, one: _Window) -> None:
        """Health check of one step of the first ``WATCH_STEPS`` (see that constant's note)."""
        one = self._reduce(one)
        loss, ce, reg, correct = torch.stack([one.loss, one.ce, one.reg, one.correct.float()]).tolist()
        row = {"step": (epoch - 1) * self.steps_per_epoch + step_in_epoch, "loss": loss, "ce": ce, "reg": reg,
               "train_acc": correct / max(one.seen, 1)}
        self._check_health(row, sigma_stats(self.model), epoch, step_in_epoch)

    def _check_health(self, row: dict[str, float], sig: dict, epoch: int, step: int) -> None:
        """Stop a run that left its sane range, with one sentence saying where, what and why.

        Checked at every step of the first ``WATCH_STEPS`` (50), then at every logged
        row (window means). A run stops when (1) the loss, cross-entropy, regulariser
        or a σ is not finite; (2) the cross-entropy exceeds ``CE_BLOWUP`` (10) × ln C,
        C classes (a uniform guess scores ln C); or (3) from global step ``JUDGED_AFTER``
        (100), training accuracy is at chance (:func:`at_chance`) while mean σ is over
        ``SIGMA_DROWN`` (10) × its start. The cause comes from :meth:`_cause`.
        """
        what = self._health_problem(row, sig)
        if what is not None:
            raise TrainingDiverged(f"training stopped at epoch {epoch}, step {step}: {what}; {self._cause(sig)}")

    def _health_problem(self, row: dict[str, float], sig: dict) -> str | None:
        names = {"loss": "loss", "ce": "cross-entropy", "reg": "regulariser"}
        bad = [f"{names[k]} became non-finite ({row[k]})" for k in names if not math.isfinite(row[k])]
        bad += [f"σ of {name} became non-finite" for name, s in sig.items() if not all(map(math.isfinite, s))]
        if bad:
            return f"the {bad[0]}"
        uniform = math.log(self.dataset.num_classes)
        if row["ce"] > CE_BLOWUP * uniform:
            return (f"the cross-entropy reached {row['ce']:.3g}, over {CE_BLOWUP:g}× the {uniform:.2f} "
                    f"of a uniform guess")
        if (sig and row["step"] >= JUDGED_AFTER and row["train_acc"] <= at_chance(self.dataset.num_classes)
                and _ratio(_mean_sigma(sig), self.sigma_start, 1e-3) > SIGMA_DROWN):
            return f"training accuracy fell to chance ({row['train_acc']:.1%})"
        return None

    def _cause(self, sig: dict, *, ended: bool = False) -> str:
        """The likely cause, from what ran further from its start: λ1 (the defense's own
        hint) pushes only σ; the learning rate moves the weights too, and them further.
        σ is blamed when it ran beyond ``RUNAWAY`` (3) × its start and further than the
        weight norm; else the learning rate when the weights ran beyond it or σ stayed.
        A defense without MFDV σ has its noise scales unmeasured here, so its own hint
        is named as well; a run that ended at chance with nothing run away learned too little."""
        w = _ratio(weight_norm(self.model), self.weight_start)
        lr = f"train.lr, now {self.tc.lr:g} ({self.tc.optimizer})"
        hint = self.defense.divergence_hint
        if sig:
            mean = _mean_sigma(sig)
            s = _ratio(mean, self.sigma_start, 1e-3)
            if s > RUNAWAY and s > w:
                return (f"mean σ ran from {self.sigma_start:.3g} to {mean:.3g} while the weight norm "
                        f"moved {w:.3g}×, so {hint}")
        grew = f"the weight norm moved {w:.3g}×" + (f" and mean σ {s:.3g}×" if sig else "")
        if ended and not w > RUNAWAY:
            return f"{grew}, so the model never learned: raise {lr} or train for more epochs"
        if sig or hint == Defense.divergence_hint or hint.startswith("the learning rate"):
            return f"{grew}, so the learning rate is probably too high: lower {lr}"
        return f"{grew}, so the learning rate is probably too high (lower {lr}) or {hint}"

    def _check_end(self, epoch: int, row: dict[str, float]) -> None:
        """A run whose last epoch leaves both its test accuracy and its training accuracy
        at chance (:func:`at_chance`) is a failure, not a result. Runs shorter than
        ``JUDGED_AFTER`` (100) steps are not judged: a healthy MFDV LeNet on 3,000 images
        is still at 14 % training accuracy after its first 47 steps. Either accuracy alone
        may sit at chance in a healthy run (adversarial training accuracy, a slow start)."""
        steps = epoch * self.steps_per_epoch
        chance = 1.0 / self.dataset.num_classes
        if epoch < self.tc.epochs or steps < JUDGED_AFTER:
            return
        if max(row["test_acc"], row["train_acc"]) <= at_chance(self.dataset.num_classes):
            raise TrainingDiverged(
                f"training stopped after its last epoch (epoch {epoch}, step {steps}): test accuracy "
                f"{row['test_acc']:.1%} and training accuracy {row['train_acc']:.1%} are at chance ({chance:.0%}); "
                f"{self._cause(sigma_stats(self.model), ended=True)}")

    def _epoch_row(self, epoch: int, total: _Window, train_time: float) -> dict[str, float]:
        total = self._reduce(total)
        test_acc = self.evaluate(self.dataset.test, self.prediction_samples)
        row: dict[str, float] = {
            "epoch": epoch,
            "step": epoch * self.steps_per_epoch,
            "loss": total.loss.item() / max(total.steps, 1),
            "ce": total.ce.item() / max(total.steps, 1),
            "reg": total.reg.item() / max(total.steps, 1),
            "wd": 0.5 * self.tc.weight_decay * decayed_norm(self.model).item(),
            "train_acc": total.correct.item() / max(total.seen, 1),
            "test_acc": test_acc,
            "lr": self.optimizer.param_groups[0]["lr"],
            "epoch_time": train_time,
        }
        row.update(_flatten_sigma(sigma_stats(self.model)))
        return row

    @property
    def prediction_samples(self) -> int:
        """MC draws per clean prediction: the config's for a stochastic model, 1 for a
        deterministic one (more passes of a deterministic model would repeat one answer)."""
        return self.tc.eval_mc_samples if is_stochastic(self.model) else 1

    @torch.no_grad()
    def evaluate(self, split, mc_samples: int, batch_size: int = 1000) -> float:
        """Clean accuracy of the Monte-Carlo averaged prediction (noise on)."""
        self.model.eval()
        correct = torch.zeros((), device=self.device)
        n = len(split)
        if self.dist is not None:  # each rank scores test[r::world]; the counts are summed
            from .distributed import shard_split

            split = shard_split(split, self.dist)
        for x, y in iterate_batches(split, batch_size, shuffle=False, device=self.device):
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                probs = mc_predict(self.model, x, mc_samples)
            correct += (probs.argmax(1) == y).sum()
        if self.dist is not None:
            self.dist.all_reduce_sum(correct)
        self.model.train()
        return correct.item() / max(n, 1)

    def _sigma_mean(self) -> float:
        sig = sigma_stats(self.model)
        return sum(s[0] for s in sig.values()) / len(sig) if sig else 0.0


def _flatten_sigma(sig: dict[str, tuple[float, float, float]]) -> dict[str, float]:
    out = {}
    for name, (mean, lo, hi) in sig.items():
        # no '/' in keys: they become HDF5 dataset names
        out[f"sigma_mean[{name}]"] = mean
        out[f"sigma_min[{name}]"] = lo
        out[f"sigma_max[{name}]"] = hi
    if sig:
        out["sigma_mean"] = sum(s[0] for s in sig.values()) / len(sig)
    return out


def at_chance(num_classes: int) -> float:
    """The highest accuracy that still counts as chance: ``CHANCE`` × 1/C, capped at
    ``CHANCE_REACH`` of the way from 1/C to 100 % (10 classes: 14.5 %; 2 classes: 52.5 %)."""
    chance = 1.0 / num_classes
    return min(CHANCE * chance, chance + CHANCE_REACH * (1.0 - chance))


def _step_window(loss: torch.Tensor, parts: dict[str, torch.Tensor], y: torch.Tensor,
                 scale: float | None) -> _Window:
    """One step's sums, still on the device (``scale``: this rank's share, see ``_batches``)."""
    with torch.no_grad():
        ce, reg = parts["ce"].detach().float(), parts["reg"].detach().float()
        if scale is not None:
            ce, reg = ce * scale, reg * scale
        correct = (parts["logits"].argmax(1) == y).sum()
        return _Window(loss.detach().float(), ce, reg, correct, y.numel(), 1)


def _ratio(now: float, start: float, floor: float = 1e-12) -> float:
    """How many times its start a quantity is; a non-finite value counts as infinitely far."""
    r = now / max(start, floor)
    return r if math.isfinite(r) else math.inf


def _mean_sigma(sig: dict[str, tuple[float, float, float]]) -> float:
    return sum(s[0] for s in sig.values()) / len(sig)


# -- checkpoint checks (Trainer.load_state_dict) ------------------------------------------

def _damaged(what: str) -> ProjectError:
    return ProjectError(f"{what}; the project file is damaged — start a new run instead of resuming this one")


def _shown(value: Any) -> str:
    """A stored value in a message: short, whatever a crafted file put there."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _same_kind(stored: Any, live: Any) -> bool:
    """Whether ``stored`` may replace ``live``: the same plain kind (bool, whole or finite
    number, None, text, a tensor of the same shape), lists and tables element by element."""
    if isinstance(live, bool) or live is None or isinstance(live, str):
        return type(stored) is type(live)
    if isinstance(live, int):
        return type(stored) is int
    if isinstance(live, float):
        return isinstance(stored, (int, float)) and not isinstance(stored, bool) and math.isfinite(stored)
    if isinstance(live, torch.Tensor):
        return isinstance(stored, torch.Tensor) and stored.shape == live.shape
    if isinstance(live, (list, tuple)):
        return (isinstance(stored, (list, tuple)) and len(stored) == len(live)
                and all(_same_kind(s, v) for s, v in zip(stored, live)))
    if isinstance(live, dict):
        return (isinstance(stored, dict) and set(stored) == set(live)
                and all(_same_kind(stored[k], v) for k, v in live.items()))
    return False


def _check_plain(what: str, stored: Any, live: dict[str, Any]) -> None:
    """``stored`` must have exactly ``live``'s keys, each value of the same kind (see
    :func:`_same_kind`): torch's loaders copy these values into live objects."""
    if not isinstance(stored, dict):
        raise _damaged(f"{what} is not a table")
    extra = [k for k in stored if k not in live]
    if extra:
        raise _damaged(f"{what} has unexpected key {_shown(extra[0])}")
    missing = [k for k in live if k not in stored]
    if missing:
        raise _damaged(f"{what} lacks the key {missing[0]!r}")
    for key, value in live.items():
        if not _same_kind(stored[key], value):
            raise _damaged(f"{what} has {key!r} = {_shown(stored[key])} where this trainer holds {_shown(value)}")


def _check_model_state(stored: Any, model: nn.Module) -> None:
    """The model's entries, by name and shape (``load_state_dict`` would raise a RuntimeError)."""
    live = model.state_dict()
    if not isinstance(stored, dict):
        raise _damaged("the checkpoint's model is not a table of tensors")
    extra = [k for k in stored if k not in live]
    if extra:
        raise _damaged(f"the checkpoint's model has unexpected entry {_shown(extra[0])}")
    for key, value in live.items():
        got = stored.get(key)
        if not isinstance(got, torch.Tensor):
            raise _damaged(f"the checkpoint's model lacks the tensor {key!r}")
        if got.shape != value.shape:
            raise _damaged(f"the checkpoint's model entry {key!r} has shape {tuple(got.shape)} "
                           f"where this config builds {tuple(value.shape)}")


def _check_optimizer_state(stored: Any, optimizer: torch.optim.Optimizer) -> None:
    """Its two parts, the groups' keys and kinds, and a per-parameter state that fits its parameter."""
    live = optimizer.state_dict()
    if not isinstance(stored, dict) or set(stored) != {"state", "param_groups"}:
        keys = sorted(map(str, stored)) if isinstance(stored, dict) else type(stored).__name__
        raise _damaged(f"the checkpoint's optimizer state has {_shown(keys)} where 'state' and 'param_groups' belong")
    groups = stored["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(live["param_groups"]):
        n = len(groups) if isinstance(groups, list) else _shown(groups)
        raise _damaged(f"the checkpoint's optimizer has {n} parameter groups where this trainer has "
                       f"{len(live['param_groups'])}")
    for i, (group, live_group) in enumerate(zip(groups, live["param_groups"])):
        _check_plain(f"the checkpoint's optimizer group {i}", group, live_group)
        if group["params"] != live_group["params"]:
            raise _damaged(f"the checkpoint's optimizer group {i} lists other parameters than this trainer's")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if not isinstance(stored["state"], dict):
        raise _damaged("the checkpoint's optimizer state is not a table")
    for index, entry in stored["state"].items():
        if type(index) is not int or not 0 <= index < len(params) or not isinstance(entry, dict):
            raise _damaged(f"the checkpoint's optimizer state names a parameter {_shown(index)} this trainer lacks")
        for key, value in entry.items():
            fits = (isinstance(value, torch.Tensor) and (value.ndim == 0 or value.shape == params[index].shape)) \
                or value is None or _same_kind(value, 0.0)
            if type(key) is not str or not fits:
                raise _damaged(f"the checkpoint's optimizer state of parameter {index} has {_shown(key)} = "
                               f"{_shown(value)}, which does not fit that parameter")
