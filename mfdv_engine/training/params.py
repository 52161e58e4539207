"""Which parameters get weight decay, and the norm of those that do."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


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
