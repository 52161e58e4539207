"""CIFAR-variant ResNet-18/50 (kuangliu/pytorch-cifar: 3x3 stem, no max-pool)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Normalize
from .registry import BackboneParts, register_model


def projection_shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Module:
    """He et al.'s option B: a strided 1x1 convolution and batch norm."""
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False), nn.BatchNorm2d(out_planes))


def _shortcut(in_planes: int, out_planes: int, stride: int, make) -> nn.Module:
    return make(in_planes, out_planes, stride) if stride != 1 or in_planes != out_planes else nn.Identity()


class BasicBlock(nn.Module):
    """Two 3x3 convolutions; ``shortcut`` builds the downsampling path
    (:func:`projection_shortcut`, or the CIFAR ResNets' parameter-free option A)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut=projection_shortcut) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride, projection_shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNetBody(nn.Module):
    def __init__(self, block, num_blocks: list[int], in_channels: int, mean, std) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(block, 64, num_blocks[0], 1)
        self.layer2 = self._make_layer(block, 128, num_blocks[1], 2)
        self.layer3 = self._make_layer(block, 256, num_blocks[2], 2)
        self.layer4 = self._make_layer(block, 512, num_blocks[3], 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.out_dim = 512 * block.expansion

    def _make_layer(self, block, planes: int, n: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.flatten(self.pool(x))


@register_model("resnet18", "ResNet-18, CIFAR variant (3x3 stem, no max-pool, projection shortcuts)", 32)
def resnet18(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
    body = ResNetBody(BasicBlock, [2, 2, 2, 2], in_channels, mean, std)
    return BackboneParts(body, body.out_dim, ())


@register_model("resnet50", "ResNet-50, CIFAR variant (3x3 stem, no max-pool, bottleneck blocks)", 32)
def resnet50(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
    body = ResNetBody(Bottleneck, [3, 4, 6, 3], in_channels, mean, std)
    return BackboneParts(body, body.out_dim, ())
