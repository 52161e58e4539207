"""The Trainer: one loop for every defense, with events, checkpoints, resume and cancel.

Host synchronisation happens at each of the first ``WATCH_STEPS`` steps of a
run, then only every ``train.log_every`` steps (at least 25 points an epoch; and at epoch ends): losses and
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

from ..config import RunConfig
from ..data import Dataset, iterate_batches
from ..defenses import get_defense
from ..devices import bf16_autocast_ok, resolve_device
from ..errors import Cancelled, ConfigError
from ..stochastic import is_stochastic, mc_predict, sigma_stats
from ..validate import sub_seed
from .checkpoint_checks import check_state, damaged_checkpoint
from .health import WATCH_STEPS, HealthChecks
from .params import decayed_norm, param_groups, weight_norm

if TYPE_CHECKING:
    from .distributed import DistContext

EventSink = Callable[[str, dict[str, Any]], None]


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


class Trainer(HealthChecks):
    """Trains ``config`` on ``dataset``. Call :meth:`fit`; it returns when the
    epochs are done, raises :class:`Cancelled` within one step of
    :meth:`cancel`, or :class:`TrainingDiverged` on non-finite / runaway values."""

    def __init__(self, config: RunConfig, dataset: Dataset, *, device: torch.device | str | None = None,
                 on_event: EventSink | None = None, cancel_event: threading.Event | None = None,
                 dist: "DistContext | None" = None) -> None:
        """``dist`` (from :func:`mfdv_engine.training.distributed.init_from_env`) makes this one
        rank of a data-parallel job; see :mod:`mfdv_engine.training.distributed`."""
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
        self.dataset = dataset.with_augment(config.data.augment).to(self.device)  # the run's data.augment wins
        self.model = self.defense.build_model(config.model, dataset, self.params).to(self.device)
        self.cuda = self.device.type == "cuda"
        # channels_last and bf16 autocast pay on CUDA and on a CPU with native bf16 (docs/performance.md)
        self.channels_last = self.tc.channels_last and self.dataset.train.x.dim() == 4
        self.amp = self.tc.amp and bf16_autocast_ok(self.device)
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
        #: training seconds of the finished epochs (kept across a resume): the curves' wall-time axis
        self.train_seconds = 0.0
        #: steps between two curve points: train.log_every, but at least 25 points an epoch (a short
        #: epoch of a small data set would otherwise draw a curve of three points)
        self.log_every = max(1, min(self.tc.log_every, self.steps_per_epoch // 25))
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

    @property
    def precision(self) -> str:
        """How the steps ran, for the run's record: a bf16 model is a different experiment."""
        parts = ["bf16 autocast" if self.amp else "fp32"] + (["channels_last"] if self.channels_last else [])
        return ", ".join(parts)

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
            "train_seconds": self.train_seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`. Every part is checked against the live objects
        first (torch's loaders copy what they are given into them: ``LRScheduler`` by
        ``__dict__.update``), so a damaged or crafted checkpoint is a ProjectError
        and leaves this trainer untouched."""
        check_state(self, state)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as e:
            last = str(e).strip().splitlines()[-1].strip()
            raise damaged_checkpoint(f"the checkpoint's model does not fit this config ({last})") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = state["epoch"]
        self.sigma_start = float(state.get("sigma_start", self.sigma_start))
        self.train_seconds = float(state.get("train_seconds", 0.0))  # (checkpoints before it: counted from the resume)
        # checkpoints older than weight_start: measured now, so ratios count from the resume
        self.weight_start = float(state.get("weight_start", weight_norm(self.model)))
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"].cpu())
        if "generator" in rng:
            self.generator.set_state(rng["generator"].cpu())
        if self.cuda and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)

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
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

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
            if step_in_epoch % self.log_every == 0 or step_in_epoch == self.steps_per_epoch:
                if self.dist is not None and self.dist.any_flag(self.cancel_event.is_set()):
                    raise Cancelled()  # all ranks stop together, at a log point
                self._log_step(epoch, step_in_epoch, win, t0)
                win = _Window.zeros(self.device)
        if self.cuda:
            torch.cuda.synchronize(self.device)
        train_time = time.perf_counter() - t0
        self.train_seconds += train_time
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
            "time": self.train_seconds + time.perf_counter() - t0,  # since training began, not since the epoch
        }
        row.update(_flatten_sigma(sig))
        self._check_health(row, sig, epoch, step_in_epoch)
        self.on_event("step", row)

    def _epoch_row(self, epoch: int, total: _Window, train_time: float) -> dict[str, float]:
        total = self._reduce(total)
        # said before it starts: on a large test set this takes a while and no step reports meanwhile
        self.on_event("evaluating", {"epoch": epoch, "n": len(self.dataset.test), "mc_samples": self.prediction_samples})
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
            "time": self.train_seconds,
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


def _step_window(loss: torch.Tensor, parts: dict[str, torch.Tensor], y: torch.Tensor,
                 scale: float | None) -> _Window:
    """One step's sums, still on the device (``scale``: this rank's share, see ``_batches``)."""
    with torch.no_grad():
        ce, reg = parts["ce"].detach().float(), parts["reg"].detach().float()
        if scale is not None:
            ce, reg = ce * scale, reg * scale
        correct = (parts["logits"].argmax(1) == y).sum()
        return _Window(loss.detach().float(), ce, reg, correct, y.numel(), 1)


