"""LeNet-5 for MNIST-sized inputs."""
from __future__ import annotations

import torch
from torch import nn

from .base import Normalize
from .registry import BackboneParts, register_model


def flat_dim(body: nn.Module, in_channels: int, input_size: int) -> int:
    was_training = body.training
    body.eval()
    with torch.no_grad():
        out = body(torch.zeros(1, in_channels, input_size, input_size))
    body.train(was_training)
    return int(out.shape[1])


@register_model("lenet", "LeNet-5 (conv 6@5x5, conv 16@5x5, linear 120-84-classes)", default_input_size=28)
def lenet(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
    body = nn.Sequential(
        Normalize(mean, std),
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    return BackboneParts(body, flat_dim(body, in_channels, input_size), (120, 84))
