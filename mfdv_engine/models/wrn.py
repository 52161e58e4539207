"""WideResNet (Zagoruyko & Komodakis) as used by the TRADES / Madry CIFAR code."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import Normalize
from .registry import BackboneParts, register_model


class WideBasicBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3-BN-ReLU-conv3x3, 1x1 conv shortcut on shape change."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, stride=1, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.equal_in_out = in_planes == out_planes
        self.conv_shortcut = (
            None
            if self.equal_in_out
            else nn.Conv2d(in_planes, out_planes, 1, stride=stride, padding=0, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        shortcut = x if self.equal_in_out else self.conv_shortcut(o)
        out = self.conv1(o)
        out = F.relu(self.bn2(out))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        return out + shortcut


class WideResNetBody(nn.Module):
    def __init__(self, depth: int, widen: int, in_channels: int, mean, std, drop_rate: float = 0.0) -> None:
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError("WideResNet depth must be 6n+4")
        n = (depth - 4) // 6
        ch = [16, 16 * widen, 32 * widen, 64 * widen]
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(in_channels, ch[0], 3, stride=1, padding=1, bias=False)
        blocks: list[nn.Module] = []
        for stage in range(3):
            for b in range(n):
                in_p = ch[stage] if b == 0 else ch[stage + 1]
                stride = (1 if stage == 0 else 2) if b == 0 else 1
                blocks.append(WideBasicBlock(in_p, ch[stage + 1], stride, drop_rate))
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(ch[3])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.out_dim = ch[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / k))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.normalize(x))
        x = self.blocks(x)
        x = F.relu(self.bn(x))
        return self.flatten(self.pool(x))


@register_model("wrn34_10", "WideResNet-34-10 (TRADES/Madry CIFAR variant)", 32)
def wrn34_10(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
    body = WideResNetBody(34, 10, in_channels, mean, std)
    return BackboneParts(body, body.out_dim, ())
