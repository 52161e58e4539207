"""Every model is ``trunk`` (deterministic) + ``head`` (from the first stochastic layer on).

A backbone supplies a *body* (input in [0, 1] → flat feature vector of size
``feature_dim``) and the widths of its own hidden linear layers before the
classifier. ``build_trunk_head`` then places stochastic layers at the
positions the placement names, counting back from the classifier as the
paper's Table 9 does: ``linear1`` is the input of the classifier (the
penultimate features), ``linear2`` the input of the linear layer before it,
and so on. A backbone with fewer linear layers than a placement needs gets
hidden ``Linear(D, D) + ReLU`` layers in front of its classifier (documented in
docs/models.md); the plain backbone keeps exactly its published shape.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..stochastic import StochasticLayer


class Normalize(nn.Module):
    """Per-channel standardisation inside the model, so attacks work in [0, 1]."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


#: the placements offered as choices (the paper's); :meth:`Placement.parse` accepts any ``linear…`` like them
PLACEMENTS = ("none", "linear1", "linear12", "linear123", "linear12(1)")


@dataclass(frozen=True)
class Placement:
    """Where stochastic layers go (positions counted back from the classifier)
    and which of them the −λ1 Σ ln σ term covers."""

    positions: tuple[int, ...] = ()
    regularised: tuple[int, ...] = ()

    @property
    def depth(self) -> int:
        return max(self.positions, default=0)

    @classmethod
    def parse(cls, text: str | None) -> "Placement":
        """``none`` | ``linear1`` | ``linear12`` | ``linear123`` | ``linear13`` | ``linear12(1)`` ..."""
        if text is None or text in ("", "none", "plain"):
            return cls()
        m = re.fullmatch(r"linear([1-9]+)(?:\(([1-9]+)\))?", text)
        if not m:
            raise ConfigError(
                f"unknown stochastic placement {text!r}: use 'none', or 'linear' followed by "
                "layer positions counted back from the classifier, e.g. 'linear1', 'linear12', "
                "'linear123', optionally with the regularised ones in brackets, e.g. 'linear12(1)'"
            )
        positions = tuple(sorted({int(c) for c in m.group(1)}))
        regularised = tuple(sorted({int(c) for c in m.group(2)})) if m.group(2) else positions
        if not set(regularised) <= set(positions):
            raise ConfigError(
                f"placement {text!r} regularises layers {regularised} that carry no noise; "
                f"choose among {positions}"
            )
        return cls(positions, regularised)

    def __str__(self) -> str:
        if not self.positions:
            return "none"
        s = "linear" + "".join(map(str, self.positions))
        if self.regularised != self.positions:
            s += "(" + "".join(map(str, self.regularised)) + ")"
        return s


class TrunkHeadModel(nn.Module):
    """``forward(x) = head(trunk(x))``; ``trunk`` holds no noise, ``head`` all of it."""

    #: True for defenses whose noise lives inside the trunk (PNI, RSE, ...):
    #: Monte-Carlo and EOT must then run full passes.
    noise_in_trunk: bool = False

    def __init__(self, trunk: nn.Module, head: nn.Module, *, feature_dim: int, placement: Placement) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.feature_dim = feature_dim
        self.placement = placement

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def build_trunk_head(
    body: nn.Module,
    feature_dim: int,
    hidden: list[int],
    num_classes: int,
    placement: Placement,
    *,
    dropout: float = 0.0,
) -> TrunkHeadModel:
    """Assemble ``body → [Linear → ReLU]* → classifier`` and split it at the first noise.

    ``hidden`` are the widths of the backbone's own hidden linear layers; the
    input of layer j (0-based, classifier last) is position ``len(hidden)+1-j``.
    """
    hidden = list(hidden)
    n_needed = placement.depth - 1 - len(hidden)
    if n_needed > 0:
        last = hidden[-1] if hidden else feature_dim
        hidden = hidden + [last] * n_needed
    dims = [feature_dim] + hidden  # input width of each linear layer, classifier last
    n_lin = len(dims)
    # Build the sequence of (position, modules) so we can cut at the first noise.
    stages: list[tuple[int, list[nn.Module]]] = []
    for j in range(n_lin):
        position = n_lin - j  # classifier input is position 1
        mods: list[nn.Module] = []
        if position in placement.positions:
            mods.append(StochasticLayer(dims[j], regularised=position in placement.regularised))
        if dropout and j == n_lin - 1:
            mods.append(nn.Dropout(dropout))
        out = dims[j + 1] if j + 1 < n_lin else num_classes
        mods.append(nn.Linear(dims[j], out))
        if j + 1 < n_lin:
            mods.append(nn.ReLU(inplace=False))
        stages.append((position, mods))
    trunk_mods: list[nn.Module] = [body]
    head_mods: list[nn.Module] = []
    in_head = False
    first_noise_dim = feature_dim
    for j, (position, mods) in enumerate(stages):
        if not in_head and position in placement.positions:
            in_head = True
            first_noise_dim = dims[j]
        (head_mods if in_head else trunk_mods).extend(mods)
    if not in_head:  # plain model: the head is just the classifier
        head_mods = trunk_mods[-1:]
        trunk_mods = trunk_mods[:-1]
        first_noise_dim = dims[-1]
    return TrunkHeadModel(
        nn.Sequential(*trunk_mods),
        nn.Sequential(*head_mods),
        feature_dim=first_noise_dim,
        placement=placement,
    )
