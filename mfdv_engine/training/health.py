"""Divergence caught in the first steps, with its likely cause named.

A mixin of :class:`~mfdv_engine.training.trainer.Trainer`: the checks read the
trainer's step rows, σ statistics, weight norm and config.
"""
from __future__ import annotations

import math

import torch

from ..defenses.base import Defense
from ..errors import TrainingDiverged
from ..stochastic import sigma_stats
from .params import weight_norm

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


class HealthChecks:
    """Divergence checks of a trainer (see the thresholds above)."""

    def _watch(self, epoch: int, step_in_epoch: int, one) -> None:
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


def at_chance(num_classes: int) -> float:
    """The highest accuracy that still counts as chance: ``CHANCE`` × 1/C, capped at
    ``CHANCE_REACH`` of the way from 1/C to 100 % (10 classes: 14.5 %; 2 classes: 52.5 %)."""
    chance = 1.0 / num_classes
    return min(CHANCE * chance, chance + CHANCE_REACH * (1.0 - chance))


def _ratio(now: float, start: float, floor: float = 1e-12) -> float:
    """How many times its start a quantity is; a non-finite value counts as infinitely far."""
    r = now / max(start, floor)
    return r if math.isfinite(r) else math.inf


def _mean_sigma(sig: dict[str, tuple[float, float, float]]) -> float:
    return sum(s[0] for s in sig.values()) / len(sig)


# -- checkpoint checks (Trainer.load_state_dict) ------------------------------------------
