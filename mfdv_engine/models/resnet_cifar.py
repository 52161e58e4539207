"""He et al. (2016) CIFAR ResNets with option-A (parameter-free) shortcuts."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Normalize
from .registry import BackboneParts, register_model
from .resnet import BasicBlock


class ShortcutA(nn.Module):
    """Stride-2 subsampling plus zero-padding of the new channels (no parameters)."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = planes - in_planes
        self.pad_lo = extra // 2
        self.pad_hi = extra - extra // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_lo, self.pad_hi))


class CifarResNetBody(nn.Module):
    def __init__(self, n: int, widths: tuple[int, int, int], in_channels: int, mean, std) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers: list[nn.Module] = []
        in_planes = widths[0]
        for i, planes in enumerate(widths):
            for b in range(n):
                stride = 2 if (i > 0 and b == 0) else 1
                layers.append(BasicBlock(in_planes, planes, stride, shortcut=ShortcutA))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.out_dim = in_planes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.flatten(self.pool(x))


def _make(depth: int, width: float, in_channels: int, mean, std) -> BackboneParts:
    assert (depth - 2) % 6 == 0
    n = (depth - 2) // 6
    widths = tuple(int(round(c * width)) for c in (16, 32, 64))
    body = CifarResNetBody(n, widths, in_channels, mean, std)  # type: ignore[arg-type]
    return BackboneParts(body, body.out_dim, ())


def _register(name: str, depth: int, width: float) -> None:
    label = f"{width:g}x-wide " if width != 1 else ""
    widths = "/".join(str(int(round(c * width))) for c in (16, 32, 64))

    @register_model(name, f"CIFAR ResNet-{depth} ({label}option-A shortcuts, {widths} channels)", 32)
    def builder(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
        return _make(depth, width, in_channels, mean, std)

    builder.__name__ = name.replace(".", "_")


for _name, _depth, _width in (
    ("resnet20", 20, 1.0),
    ("resnet32", 32, 1.0),
    ("resnet44", 44, 1.0),
    ("resnet56", 56, 1.0),
    ("resnet20_1.5x", 20, 1.5),
    ("resnet20_2x", 20, 2.0),
    ("resnet20_4x", 20, 4.0),
):
    _register(_name, _depth, _width)
