"""CIFAR DenseNet-121 (kuangliu/pytorch-cifar), growth rate 32."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Normalize
from .registry import BackboneParts, register_model


class DenseBottleneck(nn.Module):
    def __init__(self, in_planes: int, growth: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class Transition(nn.Module):
    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNetBody(nn.Module):
    def __init__(self, nblocks: list[int], growth: int, reduction: float, in_channels: int, mean, std) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        planes = 2 * growth
        self.conv1 = nn.Conv2d(in_channels, planes, 3, padding=1, bias=False)
        stages: list[nn.Module] = []
        for i, n in enumerate(nblocks):
            blocks = []
            for _ in range(n):
                blocks.append(DenseBottleneck(planes, growth))
                planes += growth
            stages.append(nn.Sequential(*blocks))
            if i < len(nblocks) - 1:
                out_planes = int(math.floor(planes * reduction))
                stages.append(Transition(planes, out_planes))
                planes = out_planes
        self.features = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(planes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.out_dim = planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.conv1(self.normalize(x)))
        x = F.relu(self.bn(x))
        return self.flatten(self.pool(x))


@register_model("densenet121", "DenseNet-121, CIFAR variant (growth 32, kuangliu/pytorch-cifar)", 32)
def densenet121(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
    body = DenseNetBody([6, 12, 24, 16], 32, 0.5, in_channels, mean, std)
    return BackboneParts(body, body.out_dim, ())
