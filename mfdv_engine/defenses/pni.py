"""``pni``: Parametric Noise Injection (He, Rakin & Fan, CVPR 2019), trained with PGD-AT.

Every ``nn.Conv2d`` of the trunk is wrapped by :class:`PNIConv2d`, which keeps
the conv's weights and adds learned-scale Gaussian noise:

* ``target=activation`` (default, the paper's PNI-A): y = conv(x) + α·η,
  η ~ N(0, std(conv(x))²) drawn per example and element;
* ``target=weight`` (the paper's PNI-W): y_b = conv_{w + α·η_b}(x_b),
  η_b ~ N(0, std(w)²) drawn per example b (one grouped convolution).

std(·) is detached as in the authors' code. α is ``layerwise`` (one scalar),
``channelwise`` (per output channel) or ``elementwise`` (per weight / per
activation element), initialised to ``init_alpha`` (0.25 in the paper) and
excluded from weight decay (the paper notes decay drives α to 0). The loss is
the paper's mix w_c·CE(x) + w_a·CE(x_adv) with w_c = ``clean_weight``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from typing import Any

import torch
from torch import nn

from ..validate import SCALE_MAX
from ._common import (AdvTrainParams, adversarial_ce, check_choice, check_number, conv2d_per_example,
                      no_decay, output_shapes, replace_modules, require_conv)
from .base import Defense, register_defense


class PNIConv2d(nn.Module):
    def __init__(self, conv: nn.Conv2d, *, target: str, mode: str, init_alpha: float,
                 out_shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.conv = conv
        self.target = target
        self.mode = mode
        self.noise_enabled = True
        O = conv.out_channels
        if mode == "layerwise":
            shape: tuple[int, ...] = (1,)
        elif mode == "channelwise":
            shape = (O,)
        elif target == "weight":
            shape = tuple(conv.weight.shape)
        else:
            assert out_shape is not None
            shape = tuple(out_shape)
        self.alpha = nn.Parameter(torch.full(shape, float(init_alpha), device=conv.weight.device))
        no_decay(self, "alpha")

    def _alpha_view(self, ndim: int) -> torch.Tensor:
        if self.mode == "channelwise":
            return self.alpha.view(-1, *([1] * (ndim - 1)))
        return self.alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.noise_enabled:
            return self.conv(x)
        if self.target == "activation":
            out = self.conv(x)
            std = out.detach().flatten(1).float().std(dim=1).to(out.dtype).view(-1, 1, 1, 1)
            noise = torch.randn_like(out) * std  # (B, C, H, W): per example
            return out + self._alpha_view(3).to(out.dtype) * noise
        w = self.conv.weight
        B = x.shape[0]
        std = w.detach().float().std().to(w.dtype)
        noise = torch.randn((B,) + tuple(w.shape), device=w.device, dtype=w.dtype) * std
        wb = w.unsqueeze(0) + self._alpha_view(4) * noise
        return conv2d_per_example(x, wb.to(x.dtype), self.conv.bias, self.conv)

    def extra_repr(self) -> str:
        return f"target={self.target}, mode={self.mode}"


@dataclass
class PniParams(AdvTrainParams):
    #: "activation" (PNI-A, per-example, the default) or "weight" (PNI-W, per-example grouped conv)
    target: str = "activation"
    #: "layerwise" | "channelwise" | "elementwise" scale α
    mode: str = "layerwise"
    init_alpha: float = 0.25
    #: PNI's loss weights w_c = w_a = 0.5 (clean and adversarial CE)
    clean_weight: float = 0.5

    _defense_name = "pni"
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        **AdvTrainParams.CHOICES, "target": ("activation", "weight"), "mode": ("layerwise", "channelwise", "elementwise")}

    def validate(self) -> None:
        super().validate()
        check_choice("pni", "target", self.target, self.CHOICES["target"])
        check_choice("pni", "mode", self.mode, self.CHOICES["mode"])
        check_number("pni", "init_alpha", self.init_alpha, lo=0, hi=SCALE_MAX)


def add_pni(model: nn.Module, dataset: Any, *, target: str, mode: str, init_alpha: float) -> list[str]:
    is_conv = lambda n, m: isinstance(m, nn.Conv2d)  # noqa: E731
    names = [f"trunk.{n}" for n, m in model.trunk.named_modules() if is_conv(n, m)]
    shapes = output_shapes(model, names, dataset) if (target == "activation" and mode == "elementwise") else {}
    return replace_modules(model.trunk, is_conv, lambda n, m: PNIConv2d(
        m, target=target, mode=mode, init_alpha=init_alpha, out_shape=shapes.get(f"trunk.{n}")))


@register_defense
class PniDefense(Defense):
    name = "pni"
    description = "Parametric Noise Injection (learned-scale Gaussian noise at every conv), trained with PGD-AT."
    Params = PniParams
    divergence_hint = "the learning rate is probably too high for adversarial training; try lowering it"

    placement, needs_conv, noise_in_trunk = "none", True, True

    def add_noise(self, model: nn.Module, dataset: Any, p: PniParams) -> None:
        add_pni(model, dataset, target=p.target, mode=p.mode, init_alpha=p.init_alpha)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: PniParams):
        ce, logits = adversarial_ce(model, x, y, params)
        return ce, {"ce": ce, "reg": torch.zeros((), device=ce.device), "logits": logits}
