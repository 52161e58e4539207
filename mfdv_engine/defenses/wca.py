"""``wca``: Weight-Covariance Alignment SNN (Eustratiadis, Gouk, Li & Hospedales, ICML 2021).

At the placement's positions (``linear1`` by default) the MFDV layer is
replaced by anisotropic Gaussian noise with a learned lower-triangular factor
L (Σ = L Lᵀ):

    z = h + L ε,   ε ~ N(0, I_D) per example.

The loss aligns the noise covariance with the weights W (out×D) of the next
linear layer (the classifier for ``linear1``):

    CE − λ · Σ_layers ln tr(W Σ Wᵀ) = CE − λ · Σ ln ‖W L‖_F².

No adversarial training. L starts as ``init_scale``·I and gets no weight decay.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..stochastic import StochasticLayer
from ..validate import SCALE_MAX, WEIGHT_MAX
from ._common import check_number, no_decay
from .base import Defense, register_defense
from .se_snn import placement_with_noise


class AnisotropicNoise(nn.Module):
    def __init__(self, dim: int, init_scale: float = 0.5) -> None:
        super().__init__()
        self.dim = dim
        self.L = nn.Parameter(torch.eye(dim) * float(init_scale))
        no_decay(self, "L")
        self.register_buffer("tril_mask", torch.ones(dim, dim).tril(), persistent=False)
        self.noise_enabled = True
        #: the linear layer that reads this layer's output (set at build time)
        self.next_linear: list[nn.Linear] = []  # a list so it is not registered twice

    def factor(self) -> torch.Tensor:
        return self.L * self.tril_mask

    def covariance(self) -> torch.Tensor:
        Lf = self.factor()
        return Lf @ Lf.T

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.noise_enabled:
            return h
        eps = torch.randn_like(h)  # (B, D): per example
        return h + eps @ self.factor().to(h.dtype).T

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def trace_term(layer: AnisotropicNoise) -> torch.Tensor:
    """tr(W Σ Wᵀ) = ‖W L‖_F² for the next linear layer's weight W."""
    W = layer.next_linear[0].weight.float()
    return (W @ layer.factor().float()).pow(2).sum()


def wca_regulariser(model: nn.Module, lam: float) -> torch.Tensor:
    terms = [torch.log(trace_term(m)) for m in model.modules() if isinstance(m, AnisotropicNoise)]
    if not terms:
        return torch.zeros(())
    return -lam * torch.stack(terms).sum()


@dataclass
class WcaParams:
    #: weight λ of −ln tr(W Σ Wᵀ)
    lam: float = 0.01
    #: L starts as init_scale · I
    init_scale: float = 0.5

    def validate(self) -> None:
        check_number("wca", "lam", self.lam, lo=0, hi=WEIGHT_MAX)
        check_number("wca", "init_scale", self.init_scale, lo=0, lo_open=True, hi=SCALE_MAX)


def add_wca(model: nn.Module, init_scale: float) -> int:
    head = model.head
    if not isinstance(head, nn.Sequential):
        raise ConfigError("defense 'wca' needs a sequential head")
    n = 0
    mods = list(head)
    for i, m in enumerate(mods):
        if isinstance(m, StochasticLayer):
            nxt = next((q for q in mods[i + 1:] if isinstance(q, nn.Linear)), None)
            if nxt is None:
                raise ConfigError("defense 'wca' needs a linear layer after each stochastic layer")
            layer = AnisotropicNoise(m.dim, init_scale)
            layer.next_linear.append(nxt)
            head[i] = layer
            n += 1
    return n


@register_defense
class WcaDefense(Defense):
    name = "wca"
    description = "WCA-SNN: anisotropic Gaussian noise h + Lε aligned with the next layer's weights (−λ ln tr WΣWᵀ)."
    Params = WcaParams
    divergence_hint = "λ (defense.lam) is probably too large: the noise covariance grew without bound; lower it"

    placement = "linear1-at-least"

    def add_noise(self, model: nn.Module, dataset: Any, p: WcaParams) -> None:
        if not add_wca(model, p.init_scale):
            raise ConfigError("defense 'wca' found no stochastic layer to replace; set model.stochastic=linear1")

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: WcaParams):
        logits = model(x)
        ce = F.cross_entropy(logits.float(), y)
        reg = wca_regulariser(model, params.lam).to(ce.device)
        return ce + reg, {"ce": ce, "reg": reg, "logits": logits}
