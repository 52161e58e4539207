"""``l2p``: Learn2Perturb (Jeddi, Shafiee, Karg, Scharfenberger & Wong, CVPR 2020).

A perturbation-injection module follows every residual block (every module
whose class is a ``*Block`` / ``*Bottleneck`` / ``Inception``), or every conv
layer on backbones without blocks (LeNet, VGG): x ↦ x + θ ⊙ ε with a learned
per-element noise map θ of the feature map's shape (C×H×W, found with a dummy
forward) and ε ~ N(0, I) drawn per example. The loss is

    CE(f(x̃), y) − γ(t) · Σ_θ √θ,   γ(t) = τ / √t,

t the 1-based epoch, x̃ the PGD batch after ``warmup_epochs`` clean epochs.
The regulariser rewards noise growth with a weight that decays harmonically
with the epoch number. Updates alternate (the paper's alternating
back-propagation): even steps update the network weights with θ frozen, odd
steps update θ with the weights frozen. θ ≥ ``theta_floor`` is enforced after
each step; θ gets no weight decay.

The step and example counters live in model buffers (``l2p_seen``,
``l2p_step``), so the schedule survives checkpoint/resume.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..validate import EPOCHS_MAX, SCALE_MAX, WEIGHT_MAX
from ._common import (AdvTrainParams, adversarial_ce, check_bool, check_number, is_block,
                      no_decay, output_shapes, replace_modules, require_conv)
from .base import Defense, register_defense

THETA_FLOOR = 1e-3


class L2PNoise(nn.Module):
    def __init__(self, shape: tuple[int, ...], init_theta: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.full(shape, float(init_theta)))
        no_decay(self, "theta")
        self.noise_enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.noise_enabled:
            return x
        return x + self.theta.to(x.dtype) * torch.randn_like(x)  # (B, C, H, W): per example

    def extra_repr(self) -> str:
        return f"shape={tuple(self.theta.shape)}"


def l2p_gamma(epoch: int, tau: float) -> float:
    """Regulariser weight γ(t) = τ / √t for the 1-based epoch t."""
    if epoch < 1:
        raise ValueError(f"epochs count from 1, got {epoch}")
    return tau / math.sqrt(epoch)


def l2p_regulariser(model: nn.Module, gamma: float) -> torch.Tensor:
    thetas = [m.theta for m in model.modules() if isinstance(m, L2PNoise)]
    if not thetas:
        return torch.zeros(())
    return -gamma * torch.stack([t.float().clamp_min(THETA_FLOOR).sqrt().sum() for t in thetas]).sum()


def noise_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [m.theta for m in model.modules() if isinstance(m, L2PNoise)]


class _After(nn.Sequential):
    """``module`` followed by its perturbation-injection module."""


def add_l2p(model: nn.Module, dataset: Any, init_theta: float) -> list[str]:
    trunk = model.trunk
    blocks = [n for n, m in trunk.named_modules() if n and is_block(m)]
    if blocks:
        top = [n for n in blocks if not any(n.startswith(b + ".") for b in blocks if b != n)]
        pick = lambda n, m: n in top  # noqa: E731
    else:
        pick = lambda n, m: isinstance(m, nn.Conv2d)  # noqa: E731
    names = [n for n, m in trunk.named_modules() if n and pick(n, m)]
    shapes = output_shapes(model, [f"trunk.{n}" for n in names], dataset)
    return replace_modules(trunk, pick, lambda n, m: _After(m, L2PNoise(shapes[f"trunk.{n}"], init_theta)))


@dataclass
class L2pParams(AdvTrainParams):
    #: τ of γ(t) = τ/√t
    tau: float = 1e-4
    init_theta: float = 0.1
    #: clean epochs before PGD-AT starts
    warmup_epochs: int = 0
    #: alternate weight / noise updates step by step (False: update both every step)
    alternate: bool = True

    _defense_name = "l2p"

    def validate(self) -> None:
        super().validate()
        check_number("l2p", "tau", self.tau, lo=0, hi=WEIGHT_MAX)
        check_number("l2p", "init_theta", self.init_theta, lo=THETA_FLOOR, hi=SCALE_MAX)
        check_number("l2p", "warmup_epochs", self.warmup_epochs, lo=0, hi=EPOCHS_MAX, integer=True)
        check_bool("l2p", "alternate", self.alternate)


@register_defense
class L2pDefense(Defense):
    name = "l2p"
    description = "Learn2Perturb: learned per-element noise maps after every block, alternating updates, PGD-AT."
    Params = L2pParams
    divergence_hint = "τ (defense.tau) or the learning rate is probably too large: the noise maps grew without bound"

    placement, needs_conv, noise_in_trunk = "none", True, True

    def add_noise(self, model: nn.Module, dataset: Any, p: L2pParams) -> None:
        add_l2p(model, dataset, p.init_theta)
        model.register_buffer("l2p_seen", torch.zeros((), dtype=torch.long))
        model.register_buffer("l2p_step", torch.zeros((), dtype=torch.long))
        model.l2p_n_train = max(len(dataset.train), 1)

    @staticmethod
    def epoch_of(model: nn.Module) -> int:
        """The 1-based epoch the next training step belongs to."""
        return int(model.l2p_seen.item()) // model.l2p_n_train + 1

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: L2pParams):
        epoch = self.epoch_of(model)
        step = int(model.l2p_step.item())
        if model.training:
            model.l2p_seen += x.shape[0]
            model.l2p_step += 1
            if params.alternate:
                noise_ids = {id(t) for t in noise_parameters(model)}
                update_noise = step % 2 == 1
                frozen = [q for q in model.parameters() if q.requires_grad and ((id(q) in noise_ids) != update_noise)]
                for q in frozen:
                    q.requires_grad_(False)
                model._l2p_frozen = frozen
        ce, logits = adversarial_ce(model, x, y, params, adversarial=epoch > params.warmup_epochs)
        reg = l2p_regulariser(model, l2p_gamma(epoch, params.tau)).to(ce.device)
        return ce + reg, {"ce": ce, "reg": reg, "logits": logits}

    def after_step(self, model: nn.Module) -> None:
        for q in getattr(model, "_l2p_frozen", ()):
            q.requires_grad_(True)
        model._l2p_frozen = []
        with torch.no_grad():
            for t in noise_parameters(model):
                t.clamp_(min=THETA_FLOOR)
