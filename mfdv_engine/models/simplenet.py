"""The paper's shallow model (Table 9: two conv + three linear layers) and a toy MLP."""
from __future__ import annotations

from torch import nn

from .base import Normalize
from .lenet import flat_dim
from .registry import BackboneParts, register_model


@register_model(
    "simplenet",
    "shallow CNN: conv 32@3x3, conv 64@3x3, linear 256-128-classes",
    default_input_size=28,
)
def simplenet(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
    body = nn.Sequential(
        Normalize(mean, std),
        nn.Conv2d(in_channels, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    return BackboneParts(body, flat_dim(body, in_channels, input_size), (256, 128))


@register_model(
    "mlp",
    "MLP for flat feature vectors (e.g. 2-D toy data): in_channels features, linear 64-64-classes",
    default_input_size=1,
)
def mlp(*, in_channels: int, input_size: int, mean: tuple, std: tuple) -> BackboneParts:
    # Input is (B, in_channels) features; no per-channel image normalisation.
    return BackboneParts(nn.Flatten(), in_channels, (64, 64))
