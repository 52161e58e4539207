"""The model zoo: importing this package registers every backbone."""
from __future__ import annotations

from . import densenet, googlenet, lenet, resnet, resnet_cifar, simplenet, vgg, wrn  # noqa: F401
from .base import Normalize, Placement, TrunkHeadModel
from .registry import BackboneParts, create_model, list_models, model_entry, register_model

__all__ = [
    "BackboneParts",
    "Normalize",
    "Placement",
    "TrunkHeadModel",
    "create_model",
    "list_models",
    "model_entry",
    "register_model",
]
