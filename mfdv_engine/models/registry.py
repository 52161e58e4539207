"""A timm-style model registry: ``create_model(name, num_classes, in_channels, stochastic=...)``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from ..errors import ConfigError
from ..registry import Registry
from .base import Placement, TrunkHeadModel, build_trunk_head


@dataclass(frozen=True)
class BackboneParts:
    """What a backbone builder returns: the body and its own hidden linear widths."""

    body: nn.Module
    feature_dim: int
    hidden: tuple[int, ...] = ()


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., BackboneParts]
    description: str
    default_input_size: int = 32


#: backbones by name, filled by the modules ``models/__init__`` imports
MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, description: str, default_input_size: int = 32):
    return MODELS.decorator(name, lambda fn: ModelEntry(name, fn, description, default_input_size))


def list_models() -> list[str]:
    return MODELS.names()


def model_entry(name: str) -> ModelEntry:
    return MODELS.get(name)


def create_model(
    name: str,
    num_classes: int = 10,
    in_channels: int = 3,
    stochastic: str | Placement | None = "none",
    *,
    input_size: int | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> TrunkHeadModel:
    """Build backbone ``name`` for inputs in [0, 1] with normalisation inside.

    ``stochastic`` is a placement string (``none``, ``linear1``, ``linear12``,
    ``linear12(1)``, ...) or a :class:`Placement`.
    """
    entry = model_entry(name)
    if num_classes < 2:
        raise ConfigError(f"num_classes must be at least 2, got {num_classes}")
    if in_channels < 1:
        raise ConfigError(f"in_channels must be at least 1, got {in_channels}")
    placement = stochastic if isinstance(stochastic, Placement) else Placement.parse(stochastic)
    size = input_size or entry.default_input_size
    mean = mean or (0.5,) * in_channels
    std = std or (0.5,) * in_channels
    if len(mean) != in_channels or len(std) != in_channels:
        raise ConfigError(f"mean/std need {in_channels} values (one per input channel)")
    parts = entry.builder(in_channels=in_channels, input_size=size, mean=mean, std=std)
    model = build_trunk_head(parts.body, parts.feature_dim, list(parts.hidden), num_classes, placement)
    model.model_name = name
    return model
