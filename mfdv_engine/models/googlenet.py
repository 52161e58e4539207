"""CIFAR GoogLeNet (kuangliu/pytorch-cifar)."""
from __future__ import annotations

import torch
from torch import nn

from .base import Normalize
from .registry import BackboneParts, register_model


def _cbr(i: int, o: int, k: int) -> list[nn.Module]:
    return [nn.Conv2d(i, o, k, padding=k // 2), nn.BatchNorm2d(o), nn.ReLU()]


class Inception(nn.Module):
    def __init__(self, in_planes: int, n1x1: int, n3x3red: int, n3x3: int, n5x5red: int, n5x5: int, pool_planes: int) -> None:
        super().__init__()
        self.b1 = nn.Sequential(*_cbr(in_planes, n1x1, 1))
        self.b2 = nn.Sequential(*_cbr(in_planes, n3x3red, 1), *_cbr(n3x3red, n3x3, 3))
        # kuangliu's "5x5" branch is two stacked 3x3 convolutions.
        self.b3 = nn.Sequential(*_cbr(in_planes, n5x5red, 1), *_cbr(n5x5red, n5x5, 3), *_cbr(n5x5, n5x5, 3))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *_cbr(in_planes, pool_planes, 1))
        self.out_planes = n1x1 + n3x3 + n5x5 + pool_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


@register_model("googlenet", "GoogLeNet, CIFAR variant (kuangliu/pytorch-cifar)", 32)
def googlenet(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
    body = nn.Sequential(
        Normalize(mean, std),
        *_cbr(in_channels, 192, 3),
        Inception(192, 64, 96, 128, 16, 32, 32),
        Inception(256, 128, 128, 192, 32, 96, 64),
        nn.MaxPool2d(3, stride=2, padding=1),
        Inception(480, 192, 96, 208, 16, 48, 64),
        Inception(512, 160, 112, 224, 24, 64, 64),
        Inception(512, 128, 128, 256, 24, 64, 64),
        Inception(512, 112, 144, 288, 32, 64, 64),
        Inception(528, 256, 160, 320, 32, 128, 128),
        nn.MaxPool2d(3, stride=2, padding=1),
        Inception(832, 256, 160, 320, 32, 128, 128),
        Inception(832, 384, 192, 384, 48, 128, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    return BackboneParts(body, 1024, ())
