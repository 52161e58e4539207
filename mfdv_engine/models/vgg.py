"""CIFAR VGG-16 with batch norm (kuangliu/pytorch-cifar)."""
from __future__ import annotations

from torch import nn

from .base import Normalize
from .registry import BackboneParts, register_model

_CFG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


@register_model("vgg16", "VGG-16 with batch norm, CIFAR variant (512-d features, single classifier)", 32)
def vgg16(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
    layers: list[nn.Module] = [Normalize(mean, std)]
    c = in_channels
    for v in _CFG16:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
            c = v
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return BackboneParts(nn.Sequential(*layers), 512, ())
