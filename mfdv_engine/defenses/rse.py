"""``rse``: Random Self-Ensemble (Liu, Cheng, Zhang & Hsieh, ECCV 2018).

A fixed-σ Gaussian noise layer x ↦ x + σ·ε (ε ~ N(0, I) per example) goes in
front of every ``nn.Conv2d`` of the trunk: σ = ``sigma_init`` before the
first conv, ``sigma_inner`` before the others. The noise stays on at test
time and the prediction is the Monte-Carlo average of the softmax (what the
workbench's evaluation does). The loss is plain CE on noisy forwards; nothing
about the noise is learned. Our models normalise inside the body, before the
first conv, so the first noise layer acts on normalised inputs as in the
original code.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import SCALE_MAX
from ._common import check_number, replace_modules, require_conv
from .base import Defense, register_defense


class RSENoise(nn.Module):
    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = float(sigma)
        self.noise_enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.noise_enabled or self.sigma == 0:
            return x
        return x + self.sigma * torch.randn_like(x)  # per example

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


@dataclass
class RseParams:
    sigma_init: float = 0.2
    sigma_inner: float = 0.1

    def validate(self) -> None:
        check_number("rse", "sigma_init", self.sigma_init, lo=0, hi=SCALE_MAX)
        check_number("rse", "sigma_inner", self.sigma_inner, lo=0, hi=SCALE_MAX)


def add_rse(model: nn.Module, sigma_init: float, sigma_inner: float) -> list[str]:
    first = [True]

    def make(_n: str, conv: nn.Module) -> nn.Module:
        s = sigma_init if first[0] else sigma_inner
        first[0] = False
        return nn.Sequential(RSENoise(s), conv)

    return replace_modules(model.trunk, lambda n, m: isinstance(m, nn.Conv2d), make)


@register_defense
class RseDefense(Defense):
    name = "rse"
    description = "Random Self-Ensemble: fixed Gaussian noise before every conv, on at test time, MC-averaged."
    Params = RseParams

    placement, needs_conv, noise_in_trunk = "none", True, True

    def add_noise(self, model: nn.Module, dataset: Any, p: RseParams) -> None:
        add_rse(model, p.sigma_init, p.sigma_inner)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: RseParams):
        logits = model(x)
        ce = F.cross_entropy(logits.float(), y)
        return ce, {"ce": ce, "reg": torch.zeros((), device=ce.device), "logits": logits}
