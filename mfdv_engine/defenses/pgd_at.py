"""``pgd-at``: Madry et al. (2018) PGD adversarial training, or Wong et al.
(2020) fast FGSM-RS training (``variant=fgsm-rs``).

The loss is CE(f(x_adv), y) with x_adv = PGD_{eps, alpha, steps}(x) in the L∞
ball around x, inputs in [0, 1]. The placement is used as given, so
``model.stochastic=linear1`` trains AT on a model carrying MFDV layers (their
σ then gets no −ln σ reward, only the cross-entropy's pull; use it for
ablations); the presets use ``none``, the plain backbone.
"""
from __future__ import annotations


import torch
from torch import nn

from ..stochastic import project_sigmas
from ._common import AdvTrainParams, adversarial_ce
from .base import Defense, register_defense


@register_defense
class PgdAtDefense(Defense):
    name = "pgd-at"
    description = "Madry PGD adversarial training (or Wong et al. fast FGSM-RS): CE on the adversarial batch."
    Params = AdvTrainParams
    divergence_hint = "the learning rate is probably too high for adversarial training; try lowering it"

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: AdvTrainParams):
        ce, logits = adversarial_ce(model, x, y, params)
        return ce, {"ce": ce, "reg": torch.zeros((), device=ce.device), "logits": logits}

    def after_step(self, model: nn.Module) -> None:
        project_sigmas(model)
