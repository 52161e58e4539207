"""``mfdv``: the paper's method, CE − λ1·Σ ln σ_i (+ λ2‖w‖² as weight decay).

λ2‖w‖² is applied by the optimiser as weight decay on every conv and linear
*weight* (``train.weight_decay`` = 2·λ2, PyTorch's convention); biases, batch
norm and σ get none. The −λ1 Σ ln σ term covers every stochastic layer whose
placement marks it regularised (all of them unless e.g. ``linear12(1)``).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..stochastic import SIGMA_FLOOR, StochasticLayer, stochastic_layers
from ..validate import WEIGHT_MAX
from ._common import check_number
from .base import Defense, register_defense


@dataclass
class MfdvParams:
    #: weight of −Σ ln σ. The paper gives no value; 0.02 keeps σ growing
    #: steadily on MNIST-LeNet and CIFAR ResNets at lr 0.01–0.1 (docs/mfdv.md).
    lambda1: float = 0.02

    def validate(self) -> None:
        check_number("mfdv", "lambda1", self.lambda1, lo=0, hi=WEIGHT_MAX)  # λ1 ≥ 0: it rewards larger σ


@register_defense
class MfdvDefense(Defense):
    name = "mfdv"
    description = "MFDV-SNN: learned per-feature Gaussian noise with the −λ1·Σ ln σ regulariser."
    Params = MfdvParams
    divergence_hint = (
        "λ1 (defense.lambda1) is probably too large for this weight decay and learning rate: "
        "σ grew without bound and drowned the features; lower λ1 (e.g. by 10×)"
    )

    def check_model(self, model_cfg: Any) -> None:
        if model_cfg.stochastic in ("", "none", "plain"):
            raise ConfigError(
                "defense 'mfdv' needs at least one stochastic layer: set model.stochastic=linear1 "
                "(or linear12, linear123, ...)"
            )

    def __init__(self) -> None:
        # the layer lists of each model, found once: walking modules() every step
        # is measurable next to a LeNet step
        self._layers: weakref.WeakKeyDictionary[nn.Module, list[StochasticLayer]] = weakref.WeakKeyDictionary()

    def layers(self, model: nn.Module) -> list[StochasticLayer]:
        found = self._layers.get(model)
        if found is None:
            found = self._layers[model] = stochastic_layers(model)
        return found

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: MfdvParams):
        logits = model(x)
        ce = F.cross_entropy(logits.float(), y)
        # −λ1 Σ ln σ over every regularised layer (same value as stochastic.mfdv_regulariser)
        logs = [torch.log(l.sigma).sum() for l in self.layers(model) if l.regularised]
        reg = -params.lambda1 * (torch.stack(logs).sum() if len(logs) > 1 else logs[0]) if logs else ce.new_zeros(())
        return ce + reg, {"ce": ce, "reg": reg, "logits": logits}

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        sigmas = [l.sigma for l in self.layers(model)]
        if sigmas:
            torch._foreach_clamp_min_(sigmas, SIGMA_FLOOR)
