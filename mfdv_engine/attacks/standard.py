"""The built-in attacks (paper §4.2) and their registry entries."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torchattacks
from torch import nn

from ..defaults import cw_lr
from ..errors import ConfigError
from .base import AttackSpec, check_int, check_range, register_attack
from .eot import LOSSES, ExpectationModel, eot_loss_and_grad


def _predict(model: nn.Module, x: torch.Tensor, eot_samples: int) -> torch.Tensor:
    with torch.no_grad():
        if eot_samples > 1:
            return ExpectationModel(model, eot_samples)(x).argmax(1)
        return model(x).argmax(1)


# --------------------------------------------------------------------------
# FGSM / PGD
# --------------------------------------------------------------------------
def pgd_eot(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    random_start: bool,
    eot_samples: int,
    loss: str = "ce",
) -> torch.Tensor:
    """Linf PGD with the head-only EOT gradient; the step rule of torchattacks.PGD
    (ascent along sign(grad), projection onto the eps ball, clamp to [0, 1]).
    ``loss`` "cw" ascends the unclamped margin max_{j≠y} z_j − z_y instead of CE."""
    x = x.detach()
    x_adv = x.clone()
    if random_start:
        x_adv = torch.clamp(x_adv + torch.empty_like(x_adv).uniform_(-eps, eps), 0, 1).detach()
    for _ in range(steps):
        _, grad = eot_loss_and_grad(model, x_adv, y, eot_samples, loss=loss, kappa=math.inf)
        x_adv = x_adv.detach() + alpha * grad.sign()
        delta = torch.clamp(x_adv - x, min=-eps, max=eps)
        x_adv = torch.clamp(x + delta, min=0, max=1).detach()
    return x_adv


@register_attack("fgsm", eps=8 / 255)
@dataclass(frozen=True)
class FGSMAttack(AttackSpec):
    """Fast gradient sign method (torchattacks.FGSM; own EOT step for eot_samples > 1)."""

    supports_eot = True

    def validate(self) -> None:
        super().validate()
        if self.norm != "Linf":
            raise ConfigError(f"attack {self.name!r}: norm {self.norm!r} is unsupported; FGSM is an Linf attack")

    def _run(self, model, x, y, eot_samples):
        if eot_samples == 1:
            return torchattacks.FGSM(model, eps=self.eps)(x, y)
        return pgd_eot(model, x, y, eps=self.eps, alpha=self.eps, steps=1, random_start=False, eot_samples=eot_samples)


@register_attack("pgd", steps=10)
@register_attack("pgd10", steps=10)
@register_attack("pgd100", steps=100)
@register_attack("eot-pgd", steps=10, eot_samples=20)
@dataclass(frozen=True)
class PGDAttack(AttackSpec):
    """Linf PGD. ``alpha`` None means eps/steps (pgd10: eps/10, pgd100: eps/100).
    ``restarts`` > 1 reruns from new random starts and keeps, per example, the
    first adversarial that fools the model. ``loss``: "ce" (cross-entropy;
    torchattacks.PGD for single-sample gradients) or "cw" (the C&W margin
    max_{j≠y} z_j − z_y, not clamped, so it keeps pushing past the boundary;
    our head-only loop for single-sample and EOT alike)."""

    steps: int = 10
    alpha: float | None = None
    random_start: bool = True
    restarts: int = 1
    loss: str = "ce"

    supports_eot = True
    choices = {"loss": LOSSES}

    def validate(self) -> None:
        super().validate()
        if self.norm != "Linf":
            raise ConfigError(f"attack {self.name!r}: norm {self.norm!r} is unsupported; PGD here is an Linf attack")
        check_int(self.name, "steps", self.steps, 1)
        check_int(self.name, "restarts", self.restarts, 1)
        if self.alpha is not None:
            check_range(self.name, "alpha", self.alpha, 0.0, 1.0)
        if not isinstance(self.random_start, bool):
            raise ConfigError(f"attack {self.name!r}: random_start {self.random_start!r} must be true or false")

    @property
    def step_size(self) -> float:
        return self.eps / self.steps if self.alpha is None else float(self.alpha)

    def _resolved(self) -> dict:
        return {"alpha": self.step_size}

    def _run(self, model, x, y, eot_samples):
        best = x.clone()
        todo = torch.ones(len(x), dtype=torch.bool, device=x.device)
        for r in range(self.restarts):
            idx = todo.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            xs, ys = x[idx], y[idx]
            if eot_samples == 1 and self.loss == "ce":
                atk = torchattacks.PGD(model, eps=self.eps, alpha=self.step_size, steps=self.steps, random_start=self.random_start)
                adv = atk(xs, ys)
            else:
                adv = pgd_eot(model, xs, ys, eps=self.eps, alpha=self.step_size, steps=self.steps,
                              random_start=self.random_start, eot_samples=eot_samples, loss=self.loss)
            best[idx] = adv
            if self.restarts > 1:
                fooled = _predict(model, adv, eot_samples) != ys
                todo[idx[fooled]] = False
        return best


# --------------------------------------------------------------------------
# Carlini & Wagner L2 with a per-example binary search over c
# --------------------------------------------------------------------------
class PerExampleCW(torchattacks.CW):
    """torchattacks.CW (its optimisation loop unchanged) with a per-example c.

    torchattacks computes ``cost = L2 + self.c * f(outputs, labels).sum()``;
    with a vector c we set ``self.c = 1`` and let ``f`` return ``c_i·f_i``, so
    the cost is ``L2 + Σ c_i f_i``. When all c_i are equal the scalar path of
    torchattacks is used.

    Two fixes to torchattacks 3.5:

    * it maps pixels of exactly 0 or 1 to w = ±inf in tanh space, where the
      gradient is zero, so they can never move (most MNIST pixels are 0 or 1:
      C&W then barely perturbs a digit). Carlini & Wagner's reference code
      scales into the open interval first (× 0.999999); so do we.
    * its margin masks the true class by *multiplying* with zero and takes
      the max, so when every other logit is negative the "best other" is the
      0 it wrote and the margin is 0 with no gradient. Log-probabilities (the
      EOT :class:`ExpectationModel`'s outputs) are always negative: C&W with
      EOT never moved. The margin here masks with −inf.
    """

    #: Carlini & Wagner's reference ``arctanh(x * 0.999999)`` (nn_robust_attacks, l2_attack.py)
    TANH_SHRINK = 0.999999

    def inverse_tanh_space(self, x):
        return torch.atanh((x * 2 - 1) * self.TANH_SHRINK)

    def margin(self, outputs, labels):
        """max_{j≠y} Z_j − Z_y clamped at −κ (untargeted; targeted: the other way round)."""
        is_label = torch.nn.functional.one_hot(labels, outputs.shape[1]).bool()
        other = outputs.masked_fill(is_label, float("-inf")).amax(1)
        real = outputs.gather(1, labels[:, None]).squeeze(1)
        return torch.clamp(other - real if self.targeted else real - other, min=-self.kappa)

    def __init__(self, model, c, kappa=0.0, steps=50, lr=0.01):
        super().__init__(model, c=1.0, kappa=kappa, steps=steps, lr=lr)
        c = torch.as_tensor(c, dtype=torch.float32)
        if c.dim() == 0 or bool((c == c.flatten()[0]).all()):
            self.c = float(c.flatten()[0])
            self._cvec = None
        else:
            self.c = 1.0
            self._cvec = c

    def f(self, outputs, labels):
        v = self.margin(outputs, labels)
        if self._cvec is None:
            return v
        return v * self._cvec.to(v.device, v.dtype)


@register_attack("cw")
@dataclass(frozen=True)
class CWAttack(AttackSpec):
    """C&W L2 (paper: lr 5e-4, 1000 steps, initial c 1e-3, 9 binary-search steps).

    A minimal-perturbation attack: ``eps`` 0 means unbounded; with eps > 0 an
    adversarial whose L2 exceeds eps is discarded (the clean input is returned).
    ``lr`` None picks the learning rate per data set (:mod:`mfdv_engine.defaults`:
    the paper's 5e-4 for CIFAR-like inputs, 0.01 for MNIST-like ones, where 5e-4
    cannot move the saturated pixels and would report a plain model as robust).
    """

    norm: str = "L2"
    eps: float = 0.0
    c: float = 1e-3
    kappa: float = 0.0
    steps: int = 1000
    lr: float | None = None
    binary_search_steps: int = 9

    supports_eot = True

    def validate(self) -> None:
        super().validate()
        if self.norm != "L2":
            raise ConfigError(f"attack {self.name!r}: norm {self.norm!r} is unsupported; C&W is an L2 attack")
        check_range(self.name, "c", self.c, 1e-12, 1e10)
        check_range(self.name, "kappa", self.kappa, 0.0, 1000.0)  # a logit margin
        if self.lr is not None:
            check_range(self.name, "lr", self.lr, 1e-12, 10.0)
        check_int(self.name, "steps", self.steps, 1)
        check_int(self.name, "binary_search_steps", self.binary_search_steps, 1)

    def for_inputs(self, shape) -> "CWAttack":
        return self if self.lr is not None else dataclasses.replace(self, lr=cw_lr(shape))

    def _run(self, model, x, y, eot_samples):
        if self.lr is None:
            return self.for_inputs(x.shape)._run(model, x, y, eot_samples)
        target = ExpectationModel(model, eot_samples) if eot_samples > 1 else model
        n = len(x)
        c = torch.full((n,), float(self.c), device=x.device)
        lower = torch.zeros(n, device=x.device)
        upper = torch.full((n,), 1e10, device=x.device)
        best = x.clone()
        best_l2 = torch.full((n,), math.inf, device=x.device)
        c_tried = 0.0
        for _ in range(self.binary_search_steps):
            c_tried = max(c_tried, float(c.max()))
            atk = PerExampleCW(target, c, kappa=self.kappa, steps=self.steps, lr=self.lr)
            adv = atk(x, y)
            # torchattacks keeps the clean input unless some step misclassified it.
            diff = (adv - x).flatten(1)
            success = diff.abs().amax(1) > 0
            l2 = diff.norm(dim=1)
            improve = success & (l2 < best_l2)
            best[improve] = adv[improve]
            best_l2 = torch.where(improve, l2, best_l2)
            upper = torch.where(success, torch.minimum(upper, c), upper)
            lower = torch.where(success, lower, torch.maximum(lower, c))
            c = torch.where(
                success | (upper < 1e10), (lower + upper) / 2, c * 10
            )
        if not bool(torch.isfinite(best_l2).all()):
            # unbounded C&W fools any input it optimises far enough: a miss is an optimiser failure.
            # No per-batch count in the text: rows keep each distinct message once.
            self.last_messages.append(
                f"C&W found no adversarial example for some inputs (c tried up to {c_tried:.3g}); "
                f"unbounded C&W should fool every input, so the optimisation did not converge: raise cw.lr "
                f"(the paper's 5e-4 cannot move MNIST's saturated pixels in {self.steps} steps; 0.01 can) "
                f"or cw.steps before reading these rows as robustness"
            )
        if self.eps > 0:
            too_far = best_l2 > self.eps
            best[too_far] = x[too_far]
        return best


# --------------------------------------------------------------------------
# n-pixel attacks (differential evolution)
# --------------------------------------------------------------------------
class BatchedOnePixel(torchattacks.OnePixel):
    """torchattacks.OnePixel with a vectorised ``_perturb``.

    torchattacks already scores the whole DE population of one image in one
    forward (split into ``inf_batch`` chunks), but builds that batch with a
    Python loop of population × pixels × channels single-element tensor writes
    — the bottleneck for a population of 400. Here the batch is written with
    one advanced-indexing assignment, and ``inf_batch`` defaults to the whole
    population so each DE generation is one forward pass. Positions are
    truncated to int exactly like torchattacks (and clamped into the image, as
    DE may sample the upper bound itself).
    """

    def _perturb(self, image, delta):
        delta = torch.as_tensor(np.asarray(delta, dtype=np.float64), device=image.device)
        if delta.dim() < 2:
            delta = delta[None]
        m = delta.shape[0]
        _, c, h, w = image.shape
        info = delta.view(m, self.pixels, 2 + c)
        rows = info[..., 0].long().clamp_(0, h - 1)  # trunc like int()
        cols = info[..., 1].long().clamp_(0, w - 1)
        vals = info[..., 2:].to(image.dtype)  # (m, pixels, c)
        adv = image.detach().expand(m, c, h, w).clone()
        bi = torch.arange(m, device=image.device)[:, None].expand(m, self.pixels)
        adv = adv.permute(0, 2, 3, 1)  # (m, h, w, c) view
        adv[bi, rows, cols] = vals  # later pixels overwrite earlier, as in the loop
        return adv.permute(0, 3, 1, 2).contiguous()


@register_attack("pixel1", pixels=1, eps=1.0)
@register_attack("pixel2", pixels=2, eps=2.0)
@register_attack("pixel3", pixels=3, eps=3.0)
@register_attack("pixel5", pixels=5, eps=5.0)
@dataclass(frozen=True)
class PixelAttack(AttackSpec):
    """n-pixel attack (torchattacks.OnePixel, batched).

    ``popsize`` is the paper's DE *population* (400). torchattacks passes
    ``int(popsize / D)`` (D = pixels·(2+channels) variables) to its scipy-style
    DE, which multiplies by D again, so the effective population is
    ``max(5, D·int(popsize/D))`` ≈ popsize (MNIST 1 pixel: 399; CIFAR: 400).
    ``eps`` is the L0 budget and must equal ``pixels``.
    """

    norm: str = "L0"
    eps: float = 1.0
    pixels: int = 1
    steps: int = 75
    popsize: int = 400
    inf_batch: int = 4096

    supports_eot = True

    def validate(self) -> None:
        super().validate()
        check_int(self.name, "pixels", self.pixels, 1)
        check_int(self.name, "steps", self.steps, 1)
        check_int(self.name, "popsize", self.popsize, 1)
        check_int(self.name, "inf_batch", self.inf_batch, 1)
        if self.norm != "L0" or float(self.eps) != float(self.pixels):
            raise ConfigError(
                f"attack {self.name!r}: eps {self.eps} must equal pixels={self.pixels} with norm L0 (got {self.norm})"
            )

    def _resolved(self) -> dict:
        return {"population": "max(5, D*int(popsize/D)), D = pixels*(2+channels)"}

    def _run(self, model, x, y, eot_samples):
        target = ExpectationModel(model, eot_samples) if eot_samples > 1 else model
        atk = BatchedOnePixel(target, pixels=self.pixels, steps=self.steps, popsize=self.popsize, inf_batch=self.inf_batch)
        return atk(x, y)
