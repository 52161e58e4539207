"""A defense says how to build its model from a backbone and how to compute its loss.

Every defense runs through the same Trainer, events, checkpoints and project
store; adding one is a subclass registered by name.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
from torch import nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..registry import Registry


@dataclass
class NoParams:
    def validate(self) -> None:
        pass


class Defense:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    #: what most likely went wrong when training diverges under this defense
    divergence_hint: ClassVar[str] = "the learning rate is probably too high for this model"

    def parse_params(self, raw: dict[str, Any]) -> Any:
        known = {f.name for f in fields(self.Params)}
        unknown = set(raw) - known
        if unknown:
            opts = ", ".join(sorted(known)) or "none"
            raise ConfigError(
                f"defense {self.name!r} has no parameter {sorted(unknown)[0]!r}; its parameters: {opts}"
            )
        try:
            params = self.Params(**raw)
        except TypeError as e:
            raise ConfigError(f"bad parameters for defense {self.name!r}: {e}") from None
        params.validate()
        return params

    def default_params(self) -> dict[str, Any]:
        return asdict(self.Params())

    def param_choices(self) -> dict[str, tuple]:
        """The parameters that take one of a few values: yes/no ones ``(True, False)``, and the
        words a Params class lists in ``CHOICES`` (what a form offers instead of free text)."""
        out: dict[str, tuple] = {k: (True, False) for k, v in self.default_params().items() if isinstance(v, bool)}
        out.update(getattr(self.Params, "CHOICES", {}))
        return out

    def normalise_placement(self, placement: str) -> str:
        """The stochastic placement this defense actually trains with."""
        return placement

    def check_model(self, model_cfg: Any) -> None:
        """Raise ConfigError where this defense makes no sense on this backbone."""

    def build_model(self, model_cfg: Any, dataset: Any, params: Any = None) -> nn.Module:
        """The model this defense trains; ``params`` (parsed) where its structure depends on them."""
        from ..models import create_model

        return create_model(
            model_cfg.name,
            num_classes=dataset.num_classes,
            in_channels=dataset.in_channels,
            stochastic=self.normalise_placement(model_cfg.stochastic),
            input_size=dataset.input_size,
            mean=dataset.mean,
            std=dataset.std,
        )

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Total loss and its parts (tensors, not synced to the host)."""
        logits = model(x)
        ce = F.cross_entropy(logits.float(), y)
        return ce, {"ce": ce, "reg": torch.zeros((), device=ce.device), "logits": logits}

    def after_step(self, model: nn.Module) -> None:
        """Called after every optimiser step (projections, clamps)."""


#: one instance per defense, filled by the modules ``defenses/__init__`` imports
DEFENSES: Registry[Defense] = Registry("defense")


def register_defense(cls: type[Defense]) -> type[Defense]:
    DEFENSES.add(cls.name, cls())
    return cls


def get_defense(name: str) -> Defense:
    return DEFENSES.get(name)


def list_defenses() -> list[str]:
    return DEFENSES.names()
