"""``se-snn``: Simple and Effective Stochastic Neural Networks (Yu, Liu, Zhang & Tao, AAAI 2021).

At the placement's positions (``linear1`` by default: the classifier's input)
the MFDV layer is replaced by an input-dependent Gaussian layer

    z = f_μ(h) + σ(h) ⊙ ε,   σ(h) = softplus(f_σ(h)),   ε ~ N(0, I) per example,

with f_μ, f_σ linear maps D→D (f_μ starts as the identity, f_σ's bias at
softplus⁻¹(``init_sigma``), its weights small). The loss adds an entropy
reward (the entropy of N(μ, diag σ²) is Σ ln σ + const):

    CE − λ · mean_b Σ_i ln σ_i(h_b).

The noise stays in the head (``noise_in_trunk`` False), so Monte-Carlo
prediction reuses one trunk pass.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..stochastic import StochasticLayer
from ..validate import SCALE_MAX, WEIGHT_MAX
from ._common import check_number, replace_modules
from .base import Defense, register_defense

SIGMA_MIN = 1e-6


class InputDependentNoise(nn.Module):
    def __init__(self, dim: int, init_sigma: float = 0.5) -> None:
        super().__init__()
        self.dim = dim
        self.f_mu = nn.Linear(dim, dim)
        self.f_sigma = nn.Linear(dim, dim)
        with torch.no_grad():
            self.f_mu.weight.copy_(torch.eye(dim))
            self.f_mu.bias.zero_()
            self.f_sigma.weight.normal_(0.0, 0.01)
            self.f_sigma.bias.fill_(math.log(math.expm1(init_sigma)))  # softplus⁻¹
        self.noise_enabled = True
        self.last_entropy: torch.Tensor | None = None

    def sigma(self, h: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.f_sigma(h)).clamp_min(SIGMA_MIN)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        mu = self.f_mu(h)
        sigma = self.sigma(h)
        # mean over the batch of Σ_i ln σ_i(h_b): the entropy reward of the last forward
        self.last_entropy = torch.log(sigma.float()).sum(dim=-1).mean()
        if not self.noise_enabled:
            return mu
        return mu + sigma * torch.randn_like(mu)  # (B, D): per example

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def entropy_regulariser(model: nn.Module, lam: float) -> torch.Tensor:
    terms = [m.last_entropy for m in model.modules() if isinstance(m, InputDependentNoise) and m.last_entropy is not None]
    if not terms:
        return torch.zeros(())
    return -lam * torch.stack(terms).sum()


@dataclass
class SeSnnParams:
    #: weight λ of the entropy reward
    lam: float = 0.01
    init_sigma: float = 0.5

    def validate(self) -> None:
        check_number("se-snn", "lam", self.lam, lo=0, hi=WEIGHT_MAX)
        check_number("se-snn", "init_sigma", self.init_sigma, lo=0, lo_open=True, hi=SCALE_MAX)


def placement_with_noise(placement: str) -> str:
    return "linear1" if placement in ("", "none", "plain") else placement


@register_defense
class SeSnnDefense(Defense):
    name = "se-snn"
    description = "SE-SNN: input-dependent Gaussian noise z = f_μ(h) + softplus(f_σ(h))·ε with an entropy reward."
    Params = SeSnnParams
    divergence_hint = "λ (defense.lam) is probably too large: σ(h) grew without bound; lower it"

    placement = "linear1-at-least"

    def add_noise(self, model: nn.Module, dataset: Any, p: SeSnnParams) -> None:
        done = replace_modules(model.head, lambda n, m: isinstance(m, StochasticLayer),
                               lambda n, m: InputDependentNoise(m.dim, p.init_sigma))
        if not done:
            raise ConfigError("defense 'se-snn' found no stochastic layer to replace; set model.stochastic=linear1")

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: SeSnnParams):
        logits = model(x)
        ce = F.cross_entropy(logits.float(), y)
        reg = entropy_regulariser(model, params.lam).to(ce.device)
        return ce + reg, {"ce": ce, "reg": reg, "logits": logits}
