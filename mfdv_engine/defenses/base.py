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
    #: where its noise goes, whatever model.stochastic says: "as-given", "none" (the plain backbone:
    #: the defense puts its own noise elsewhere) or "linear1-at-least" (it replaces the MFDV layers)
    placement: ClassVar[str] = "as-given"
    #: it injects noise at convolutions, so a backbone without any is refused
    needs_conv: ClassVar[bool] = False
    #: its noise lives in the trunk, so Monte-Carlo prediction and EOT run full passes
    noise_in_trunk: ClassVar[bool] = False

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
        """The stochastic placement this defense actually trains with (see :attr:`placement`)."""
        if self.placement == "none":
            return "none"
        if self.placement == "linear1-at-least":
            return "linear1" if placement in ("", "none", "plain") else placement
        return placement

    def check_model(self, model_cfg: Any) -> None:
        """Raise ConfigError where this defense makes no sense on this backbone."""
        if self.needs_conv:
            from ._common import require_conv

            require_conv(self.name, model_cfg.name)

    def build_model(self, model_cfg: Any, dataset: Any, params: Any = None) -> nn.Module:
        """The backbone in the defense's placement, then :meth:`add_noise` with the parsed ``params``
        (defaults where None), marked ``noise_in_trunk`` where the defense says so."""
        from ..models import create_model

        model = create_model(
            model_cfg.name,
            num_classes=dataset.num_classes,
            in_channels=dataset.in_channels,
            stochastic=self.normalise_placement(model_cfg.stochastic),
            input_size=dataset.input_size,
            mean=dataset.mean,
            std=dataset.std,
        )
        self.add_noise(model, dataset, params if params is not None else self.Params())
        if self.noise_in_trunk:
            model.noise_in_trunk = True
        return model

    def add_noise(self, model: nn.Module, dataset: Any, params: Any) -> None:
        """Where a defense changes the backbone (noise modules, Bayesian layers); none by default."""

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
